/**
 * The local cloud's own costs: how long it takes to start, and the CPU its process spends per no-op
 * task with the functions and runners reaching DynamoDB Local directly (the default) and through the
 * one endpoint (`countRequests`), in alternating runs so that the machine's drift hits both alike.
 * Usage: npm run bench:local [-- --boots 3 --runs 3 --tasks 60 --cap 8]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import * as path from 'node:path';
import { startLocalCloud } from '../lib/local/cloud.ts';
import { benchOptions } from './args.ts';

const args = benchOptions({ boots: 3, runs: 3, tasks: 60, cap: 8 });
const N = args.tasks;
const base = { apiPort: 0, awsPort: 0, functionLogLevel: 'ERROR', dockerImage: false } as const;
console.log(
  `machine: ${availableParallelism()} cores (${cpus()[0]?.model.trim()}); ${new Date().toISOString().slice(0, 10)}`,
);

const boots: number[] = [];
for (let i = 0; i < args.boots; i++) {
  const t = performance.now();
  const cloud = await startLocalCloud(base);
  boots.push(performance.now() - t);
  await cloud.stop();
}
console.log(`start-up (ready to answer): ${boots.map((b) => `${(b / 1000).toFixed(1)} s`).join(', ')}`);

/** N no-op tasks submitted at once and drained; the local cloud process's CPU seconds per task. */
async function drain(countRequests: boolean): Promise<{ cpu: number; seconds: number }> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'trainstack-local-bench-'));
  const cloud = await startLocalCloud({
    ...base,
    dataDir,
    context: { maxConcurrentTasks: args.cap },
    countRequests,
  });
  const t = performance.now();
  const c0 = process.cpuUsage();
  await Promise.all(
    Array.from({ length: N }, async () => {
      const r = await fetch(new URL('/v1/tasks', cloud.apiUrl), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'container', image: 'busybox', command: ['true'] }),
      });
      if (r.status !== 202) throw new Error(`POST: ${r.status} ${await r.text()}`);
    }),
  );
  for (;;) {
    const r = await fetch(new URL('/v1/stats', cloud.apiUrl));
    const s = (await r.json()) as { byStatus: Record<string, number> };
    if ((s.byStatus.SUCCEEDED ?? 0) + (s.byStatus.FAILED ?? 0) >= N) {
      if (s.byStatus.FAILED) throw new Error(`${s.byStatus.FAILED} no-op tasks failed`);
      break;
    }
    await new Promise((res) => setTimeout(res, 500));
  }
  const c = process.cpuUsage(c0);
  const seconds = (performance.now() - t) / 1000;
  await cloud.stop();
  rmSync(dataDir, { recursive: true, force: true });
  return { cpu: (c.user + c.system) / 1e6 / N, seconds };
}

const results: Record<'direct' | 'endpoint', { cpu: number; seconds: number }[]> = {
  direct: [],
  endpoint: [],
};
for (let i = 0; i < args.runs; i++) {
  results.direct.push(await drain(false));
  results.endpoint.push(await drain(true));
}
for (const [k, rs] of Object.entries(results))
  console.log(
    `${N} no-op tasks at cap ${args.cap}, DynamoDB ${k === 'direct' ? 'reached directly' : 'through the endpoint'}: ` +
      `local cloud CPU ${rs.map((r) => r.cpu.toFixed(3)).join(', ')} s per task; ` +
      `drained in ${rs.map((r) => r.seconds.toFixed(1)).join(', ')} s`,
  );
process.exit(0);
