/**
 * A long drain on the local cloud: N no-op container tasks (`command: ["true"]`) submitted in batches,
 * then run at the cap, with the memory of every part of the process tree sampled as they go: the local
 * cloud's own process (its RSS and V8 heap), DynamoDB Local's JVM and the runners alive. A line every
 * `--every` tasks shows whether what the local cloud keeps grows with the tasks it has run; the end
 * prints the peaks and the heap after a full garbage collection.
 * Usage: npm run bench:drain -- --tasks 10000 --cap 32 [--every 1000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import * as path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { startLocalCloud } from '../lib/local/cloud.ts';
import { benchOptions } from './args.ts';
import { processTree, pssKiB } from './proc.ts';

const { tasks: N, cap: CAP, every: EVERY } = benchOptions({ tasks: 10_000, cap: 32, every: 1000 });
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const MiB = (kib: number) => `${(kib / 1024).toFixed(0)} MiB`;

const dataDir = mkdtempSync(path.join(tmpdir(), 'trainstack-drain-'));
const cloud = await startLocalCloud({
  apiPort: 0,
  awsPort: 0,
  dataDir,
  context: { maxConcurrentTasks: CAP, maxQueueDepth: N + 1000 },
  functionLogLevel: 'ERROR',
  dockerImage: false,
});

/**
 * RSS in KiB by part: this process (the local cloud), DynamoDB Local (java), the runners, the rest;
 * and the tree's summed RSS and PSS (see `pssKiB`: the Node binary's pages, shared by every runner,
 * counted once).
 */
/** the largest RSS seen of each other command */
const restBy = new Map<string, number>();
function sample() {
  const parts = { cloud: 0, java: 0, runners: 0, runnerCount: 0, rest: 0, total: 0, pss: 0 };
  for (const p of processTree()) {
    parts.total += p.rss;
    parts.pss += pssKiB(p.pid);
    if (p.pid === process.pid) parts.cloud += p.rss;
    else if (p.comm === 'java') parts.java += p.rss;
    else if (p.comm === 'node' || p.comm.startsWith('MainThread')) {
      parts.runners += p.rss;
      parts.runnerCount++;
    } else {
      parts.rest += p.rss;
      restBy.set(p.comm, Math.max(restBy.get(p.comm) ?? 0, p.rss));
    }
  }
  return { ...parts, heap: process.memoryUsage().heapUsed / 1024 };
}
const peak = { cloud: 0, java: 0, runners: 0, runnerCount: 0, rest: 0, total: 0, pss: 0, heap: 0 };
const sampler = setInterval(() => {
  const s = sample();
  for (const k of Object.keys(peak) as (keyof typeof peak)[]) peak[k] = Math.max(peak[k], s[k]);
}, 1000);

console.log(
  `machine: ${availableParallelism()} cores (${cpus()[0]?.model.trim()}); ${new Date().toISOString().slice(0, 10)}`,
);
gc(); // the idle heap after a full GC, as the end's is
const idle = sample();
console.log(
  `idle: tree RSS ${MiB(idle.total)}, PSS ${MiB(idle.pss)} (local cloud ${MiB(idle.cloud)}, heap ${MiB(idle.heap)}; java ${MiB(idle.java)})`,
);

const task = JSON.stringify({ type: 'container', image: 'busybox', command: ['true'] });
const t0 = performance.now();
for (let i = 0; i < N; i += 500) {
  const body = Array.from({ length: Math.min(500, N - i) }, () => task).join('\n');
  const r = await fetch(new URL('/v1/tasks/batch', cloud.apiUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson' },
    body,
  });
  if (r.status !== 202) throw new Error(`POST /v1/tasks/batch: ${r.status} ${await r.text()}`);
}
console.log(`submitted ${N} in ${((performance.now() - t0) / 1000).toFixed(0)} s`);

const counts = async () => {
  const r = await fetch(new URL('/v1/stats', cloud.apiUrl));
  const s = ((await r.json()) as { byStatus: Record<string, number> }).byStatus;
  return { ok: s.SUCCEEDED ?? 0, ended: (s.SUCCEEDED ?? 0) + (s.FAILED ?? 0) + (s.CANCELLED ?? 0) };
};
const t1 = performance.now();
let next = EVERY;
for (;;) {
  const c = await counts();
  while (c.ended >= next || c.ended >= N) {
    const s = sample();
    const secs = (performance.now() - t1) / 1000;
    console.log(
      `${String(c.ended).padStart(6)} ended (${(c.ended / secs).toFixed(1)} tasks/s): tree RSS ${MiB(s.total)}, PSS ${MiB(s.pss)}; ` +
        `local cloud ${MiB(s.cloud)}, heap ${MiB(s.heap)}; java ${MiB(s.java)}; ${s.runnerCount} runners ${MiB(s.runners)}`,
    );
    if (c.ended >= N) break;
    next += EVERY;
  }
  if (c.ended >= N) {
    const drained = (performance.now() - t1) / 1000;
    clearInterval(sampler);
    gc();
    const after = sample();
    console.log(
      `drained ${N} (${c.ok} SUCCEEDED) at cap ${CAP} in ${drained.toFixed(0)} s: ${(N / drained).toFixed(1)} tasks/s`,
    );
    console.log(
      `peak: tree RSS ${MiB(peak.total)}, PSS ${MiB(peak.pss)}; local cloud ${MiB(peak.cloud)} (heap ${MiB(peak.heap)}); java ${MiB(peak.java)}; ` +
        `runners ${MiB(peak.runners)} (${peak.runnerCount} at most at once); the rest ${MiB(peak.rest)} (largest: ${[...restBy].map(([c, k]) => `${c} ${MiB(k)}`).join(', ')})`,
    );
    console.log(
      `after the drain and a full GC: local cloud ${MiB(after.cloud)}, heap ${MiB(after.heap)} ` +
        `(${(((after.heap - idle.heap) * 1024) / N).toFixed(0)} bytes of heap per task run)`,
    );
    if (c.ok < N) process.exitCode = 1;
    break;
  }
  await new Promise((r) => setTimeout(r, 2000));
}
await cloud.stop();
rmSync(dataDir, { recursive: true, force: true });
