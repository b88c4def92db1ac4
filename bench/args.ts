/**
 * A benchmark's options: `--name value` for each key of its defaults, parsed by node:util's parseArgs.
 * An unknown option, or a number option whose value is not a number of at least 0, stops the run with
 * a message naming it (a typo never runs the default workload under the figures you meant).
 */
import { parseArgs } from 'node:util';

/** The options in `args`, over their defaults; throws naming what is wrong. */
export function parseBenchOptions<T extends Record<string, number | string>>(defaults: T, args: string[]): T {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args,
      options: Object.fromEntries(Object.keys(defaults).map((k) => [k, { type: 'string' as const }])),
    }));
  } catch (e) {
    const names = Object.keys(defaults).map((k) => `--${k}`);
    throw new Error(`${(e as Error).message.split('. ')[0]} (options: ${names.join(', ')})`);
  }
  const out: Record<string, number | string> = { ...defaults };
  for (const [k, v] of Object.entries(values)) {
    if (typeof v !== 'string') continue;
    if (typeof defaults[k] === 'number') {
      const n = Number(v);
      if (v.trim() === '' || !Number.isFinite(n) || n < 0)
        throw new Error(`--${k} must be a number of at least 0, got ${JSON.stringify(v)}`);
      out[k] = n;
    } else out[k] = v;
  }
  return out as T;
}

/** This process's options (its command line after the script); exits 2 naming what is wrong. */
export function benchOptions<T extends Record<string, number | string>>(defaults: T): T {
  try {
    return parseBenchOptions(defaults, process.argv.slice(2));
  } catch (e) {
    console.error((e as Error).message);
    process.exit(2);
  }
}
