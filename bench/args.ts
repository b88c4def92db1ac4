/**
 * A benchmark's options: `--name value` for each key of its defaults, parsed by node:util's parseArgs.
 * An unknown option, or a number option whose value is not a number of at least 0, stops the run with
 * a message naming it (a typo never runs the default workload under the figures you meant).
 */
import { parseArgs } from 'node:util';

export function benchOptions<T extends Record<string, number | string>>(defaults: T): T {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      options: Object.fromEntries(Object.keys(defaults).map((k) => [k, { type: 'string' as const }])),
    }));
  } catch (e) {
    const names = Object.keys(defaults).map((k) => `--${k}`);
    console.error(`${(e as Error).message}\noptions: ${names.join(', ')}`);
    process.exit(2);
  }
  const out: Record<string, number | string> = { ...defaults };
  for (const [k, v] of Object.entries(values)) {
    if (typeof v !== 'string') continue;
    if (typeof defaults[k] === 'number') {
      const n = Number(v);
      if (v.trim() === '' || !Number.isFinite(n) || n < 0) {
        console.error(`--${k} must be a number of at least 0, got ${JSON.stringify(v)}`);
        process.exit(2);
      }
      out[k] = n;
    } else out[k] = v;
  }
  return out as T;
}
