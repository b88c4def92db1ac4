/**
 * The control plane under load, on the local cloud: no-op container tasks (`command: ["true"]`)
 * submitted one at a time, by many clients at once, and in batches; then drained at the cap. Prints
 * the figures of issue 14's table (submit throughput and latency, GET latency while tasks run, drain
 * rate, submit to start with a free slot), CPU seconds per task by process, the process tree's peak
 * RSS, and per task: Step Functions state transitions, Lambda invocations and DynamoDB requests.
 * Usage: npm run bench:pipeline -- --tasks 500 --clients 32 --cap 32
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import * as path from 'node:path';
import { startLocalCloud } from '../lib/local/cloud.ts';
import { benchOptions } from './args.ts';
import { cpuSeconds, machineCpuSeconds, pct, processTree as tree } from './proc.ts';

const { tasks: N, clients: C, cap: CAP } = benchOptions({ tasks: 500, clients: 32, cap: 32 });

const ms = (x: number) => `${x.toFixed(0)} ms`;

const dataDir = mkdtempSync(path.join(tmpdir(), 'trainstack-pipeline-'));
const cloud = await startLocalCloud({
  apiPort: 0,
  awsPort: 0,
  dataDir,
  context: { maxConcurrentTasks: CAP, maxQueueDepth: 100_000 },
  functionLogLevel: 'ERROR',
  dockerImage: false,
});
let peakRss = 0;
let peakAt = '';
const sampler = setInterval(() => {
  const rss = tree().reduce((n, r) => n + r.rss, 0);
  if (rss > peakRss) {
    peakRss = rss;
    peakAt = phase;
  }
}, 500);
let phase = 'start';

const task = { type: 'container', image: 'busybox', command: ['true'] };
async function post(body: unknown, p = '/v1/tasks', type = 'application/json') {
  const t = performance.now();
  const r = await fetch(new URL(p, cloud.apiUrl), {
    method: 'POST',
    headers: { 'content-type': type },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const json = (await r.json()) as { taskId?: string; accepted?: { taskId: string }[] };
  if (r.status >= 300) throw new Error(`POST ${p}: ${r.status} ${JSON.stringify(json)}`);
  return { ms: performance.now() - t, json };
}
async function get(id: string) {
  const t = performance.now();
  const r = await fetch(new URL(`/v1/tasks/${id}`, cloud.apiUrl));
  const json = (await r.json()) as { status: string; createdAt: string; attempts: { startedAt: string }[] };
  return { ms: performance.now() - t, json };
}
/** `count` jobs on `clients` workers */
async function pool<T>(count: number, clients: number, job: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (let i = next++; i < count; i = next++) out[i] = await job(i);
    }),
  );
  return out;
}

const cpu0 = { self: cpuSeconds(process.pid), machine: machineCpuSeconds() };
const long0 = new Map(tree().map((r) => [r.pid, cpuSeconds(r.pid)]));

// 1. one client, nothing running: tasks of an offline model wait in the queue, so nothing starts
phase = 'single client';
await post(
  { name: 'bench-offline', type: 'local', baseUrl: 'http://127.0.0.1:9/v1', model: 'm', status: 'offline' },
  '/v1/models',
);
const single: number[] = [];
const held: string[] = [];
for (let i = 0; i < 30; i++) {
  const r = await post({ type: 'inference', params: { model: 'bench-offline', kind: 'custom', input: 'x' } });
  single.push(r.ms);
  held.push(String(r.json.taskId));
}
for (const id of held) await post({}, `/v1/tasks/${id}/cancel`);
const ids: string[] = [];
// 2. N tasks from C clients at once
phase = 'concurrent submit';
const t2 = performance.now();
const submitted = await pool(N, C, async () => {
  const r = await post(task);
  ids.push(String(r.json.taskId));
  return r.ms;
});
const submitSeconds = (performance.now() - t2) / 1000;
// 3. N more in batches of 500 lines
phase = 'batch submit';
const t3 = performance.now();
for (let i = 0; i < N; i += 500) {
  const lines = Array.from({ length: Math.min(500, N - i) }, () => JSON.stringify(task)).join('\n');
  const r = await post(lines, '/v1/tasks/batch', 'application/x-ndjson');
  ids.push(...(r.json.accepted ?? []).map((a) => a.taskId));
}
const batchSeconds = (performance.now() - t3) / 1000;
// 4. GETs from C clients while the tasks run, then the drain
phase = 'drain';
const gets = await pool(C * 20, C, async (i) => (await get(ids[(i * 7919) % ids.length] ?? '')).ms);
const drainStart = performance.now();
const pending = new Set(ids);
while (pending.size) {
  await pool(Math.min(pending.size, 200), 8, async () => {
    const id = pending.values().next().value as string;
    pending.delete(id);
    const t = (await get(id)).json;
    if (!['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(t.status)) pending.add(id);
  });
  if (pending.size) await new Promise((r) => setTimeout(r, 500));
}
const drainSeconds = (performance.now() - drainStart) / 1000;
const total = ids.length + 0;
const failed = (
  await pool(ids.length, 16, async (i) => (await get(ids[i] ?? '')).json.status !== 'SUCCEEDED')
).filter(Boolean).length;
// 5. submit -> RUNNING with a free slot
phase = 'free slot';
const toRunning: number[] = [];
for (let i = 0; i < 15; i++) {
  const t = performance.now();
  const r = await post({ ...task, command: ['sleep', '1'] });
  for (;;) {
    const s = (await get(String(r.json.taskId))).json.status;
    if (s === 'RUNNING' || s === 'SUCCEEDED') break;
    await new Promise((res) => setTimeout(res, 10));
  }
  toRunning.push(performance.now() - t);
}
// 6. what one task costs, counted in a quiet phase on a second local cloud whose endpoint sees every
// AWS request (countRequests): M tasks submitted one by one, their end watched through GET /v1/stats
// alone (whose own function call and read are taken off the counts)
phase = 'counting';
const cpuEnd = { self: cpuSeconds(process.pid), machine: machineCpuSeconds() };
const byCommEnd = new Map<string, number>();
for (const r of tree())
  if (r.pid !== process.pid)
    byCommEnd.set(r.comm, (byCommEnd.get(r.comm) ?? 0) + cpuSeconds(r.pid) - (long0.get(r.pid) ?? 0));
await cloud.stop();
const counting = await startLocalCloud({
  apiPort: 0,
  awsPort: 0,
  dataDir: path.join(dataDir, 'counting'),
  context: { maxConcurrentTasks: CAP, maxQueueDepth: 100_000 },
  functionLogLevel: 'ERROR',
  dockerImage: false,
  countRequests: true,
});
const M = 50;
const snapshot = () => ({
  transitions: counting.sfn.stateTransitions,
  invocations: { ...counting.lambdas.invocations() },
  requests: new Map(counting.requests),
});
const countedBefore = async () => {
  const r = await fetch(new URL('/v1/stats', counting.apiUrl));
  return ((await r.json()) as { byStatus: Record<string, number> }).byStatus.SUCCEEDED ?? 0;
};
const doneBefore = await countedBefore();
const c0 = snapshot();
for (let i = 0; i < M; i++)
  await fetch(new URL('/v1/tasks', counting.apiUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(task),
  });
let polls = 0;
for (;;) {
  polls++;
  if ((await countedBefore()) >= doneBefore + M) break;
  await new Promise((r) => setTimeout(r, 500));
}
const c1 = snapshot();
const apiName = Object.keys(c1.invocations).find((n) => /api/i.test(n) && !/events/i.test(n)) ?? '';
const perTask = {
  transitions: (c1.transitions - c0.transitions) / M,
  invocations: Object.fromEntries(
    Object.entries(c1.invocations).map(([n, v]) => [
      n.replace(/^trainstack-/, ''),
      (v - (c0.invocations[n] ?? 0) - (n === apiName ? polls : 0)) / M,
    ]),
  ),
  dynamodb: Object.fromEntries(
    [...c1.requests]
      .filter(([k]) => k.startsWith('dynamodb:'))
      .map(([k, v]) => [
        k.slice(9),
        (v - (c0.requests.get(k) ?? 0) - (k === 'dynamodb:GetItem' ? polls : 0)) / M,
      ])
      .filter(([, v]) => Number(v) > 0),
  ),
};
await counting.stop();
if (!Object.keys(perTask.dynamodb).length)
  throw new Error(
    'the counting cloud saw no DynamoDB request: countRequests did not route them through its endpoint',
  );
clearInterval(sampler);
const tasksRun = total + 15;

// CPU by process, up to the end of phase 5: the local cloud (API, dispatcher and workflow functions,
// Step Functions, ECS, in this process), DynamoDB Local (java) and the others still alive; the runners
// (gone) are the rest of the machine's
const selfCpu = cpuEnd.self - cpu0.self;
const byComm = byCommEnd;
const machine = cpuEnd.machine - cpu0.machine;
const alive = [...byComm.values()].reduce((a, b) => a + b, 0);
console.log(
  `machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}); ${new Date().toISOString().slice(0, 10)}`,
);
console.log(
  `tasks: ${N} single + ${N} in batches (+ 30 + 15), ${C} clients, cap ${CAP}; ${failed} not SUCCEEDED`,
);
console.log(
  `POST, one client, nothing running (an offline model's tasks): p50 ${ms(pct(single, 50))}, p90 ${ms(pct(single, 90))}`,
);
console.log(
  `submit ${N}, ${C} clients: ${(N / submitSeconds).toFixed(0)} tasks/s; POST p50 ${ms(pct(submitted, 50))}, p99 ${ms(pct(submitted, 99))}`,
);
console.log(`batch submit ${N} (500 a request): ${(N / batchSeconds).toFixed(0)} tasks/s`);
console.log(`GET a task, ${C} clients, while tasks run: p50 ${ms(pct(gets, 50))}, p99 ${ms(pct(gets, 99))}`);
console.log(
  `drain ${total} no-op tasks at cap ${CAP}: ${(total / drainSeconds).toFixed(1)} tasks/s (${drainSeconds.toFixed(0)} s)`,
);
console.log(`submit -> RUNNING with a free slot: median ${ms(pct(toRunning, 50))}`);
console.log(`peak RSS of the process tree: ${(peakRss / 1024).toFixed(0)} MiB (during ${peakAt})`);
console.log(
  `CPU seconds per task: local cloud (API, functions, Step Functions, ECS) ${(selfCpu / tasksRun).toFixed(3)}, ` +
    [...byComm]
      .filter(([, v]) => v > 0.5)
      .map(([k, v]) => `${k} ${(v / tasksRun).toFixed(3)}`)
      .join(', ') +
    `, runners and the rest ${((machine - selfCpu - alive) / tasksRun).toFixed(3)}`,
);
const fmt = (o: Record<string, number>) =>
  Object.entries(o)
    .filter(([, v]) => v > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v.toFixed(1)}`)
    .join(', ');
const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
console.log(
  `per task (${M} counted alone, every request through the endpoint): ${perTask.transitions.toFixed(1)} state transitions, ` +
    `${sum(perTask.invocations).toFixed(1)} Lambda invocations (${fmt(perTask.invocations)}), ` +
    `${sum(perTask.dynamodb).toFixed(1)} DynamoDB requests (${fmt(perTask.dynamodb)})`,
);
rmSync(dataDir, { recursive: true, force: true });
