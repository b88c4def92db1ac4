/**
 * Lambda bundles: builds each handler the way the stack does (ESM, minified, fully bundled) and
 * prints its size and its cold module load time (median of fresh Node processes importing it).
 * Usage: npm run bench:bundles [-- --runs 7]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { build } from 'esbuild';
import { LAMBDAS_DIR, lambdaBuildOptions } from '../lib/function.ts';
import { benchOptions } from './args.ts';

const { runs } = benchOptions({ runs: 7 });
const out = mkdtempSync(path.join(tmpdir(), 'trainstack-bundles-'));
const handlers = readdirSync(path.join(LAMBDAS_DIR, 'handlers')).filter((f) => f.endsWith('.ts'));
const env = {
  ...process.env,
  AWS_REGION: 'us-east-1',
  TABLE_NAME: 't',
  QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/000000000000/q',
  STATE_MACHINE_ARN: 'arn:aws:states:us-east-1:000000000000:stateMachine:s',
  BUCKET_NAME: 'b',
  LOG_GROUP_NAME: 'g',
  CLUSTER_ARN: 'arn:aws:ecs:us-east-1:000000000000:cluster/c',
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const rows: string[][] = [['handler', 'bundle KB', 'cold load ms (median)', 'min', 'max']];
for (const h of handlers) {
  const name = h.replace(/\.ts$/, '');
  const outfile = path.join(out, name, 'index.mjs');
  await build({ ...lambdaBuildOptions(name), outfile });
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const ms = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const t=performance.now();await import(${JSON.stringify(outfile)});console.log(performance.now()-t)`,
      ],
      { env, encoding: 'utf8' },
    );
    times.push(Number(ms.trim()));
  }
  rows.push([
    name,
    (statSync(outfile).size / 1024).toFixed(0),
    median(times).toFixed(1),
    Math.min(...times).toFixed(1),
    Math.max(...times).toFixed(1),
  ]);
}
const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  '));
console.log(
  `\nNode ${process.version}, ${runs} fresh processes per handler, ESM minified full bundles (as deployed).`,
);
