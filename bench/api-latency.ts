/**
 * Where one API request's time goes, with nothing else running. First the API handler called in
 * this process against the emulators, each AWS call it makes timed; then the same requests through
 * the local cloud (its HTTP server, Lambda host and worker thread). The gap between the two is the
 * local cloud's; the first is what the handler and its round trips cost. Last, the same GET while
 * tasks keep every core busy, with the tasks at the local cloud's CPU priority and at its default (lower).
 * Usage: npm run bench:api [-- --requests 100]
 */
import { mkdtempSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import * as path from 'node:path';
import { DEFAULT_TASK_NICE, type LocalCloudOptions, startLocalCloud } from '../lib/local/cloud.ts';
import { startEmulators } from '../lib/local/emulators.ts';
import { caller } from '../test/support/api.ts';
import { testStack } from '../test/support/stack.ts';
import { benchOptions } from './args.ts';
import { pct } from './proc.ts';

const { requests: N } = benchOptions({ requests: 100 });
const WARM = 20;
const line = (label: string, xs: number[]) =>
  console.log(`${label}: p50 ${pct(xs, 50).toFixed(1)} ms, p90 ${pct(xs, 90).toFixed(1)} ms`);
async function timed(f: () => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < WARM; i++) await f();
  const xs: number[] = [];
  for (let i = 0; i < N; i++) {
    const t = performance.now();
    await f();
    xs.push(performance.now() - t);
  }
  return xs;
}
const container = { type: 'container', image: 'busybox', command: ['true'] };

console.log(
  `machine: ${availableParallelism()} cores (${cpus()[0]?.model.trim()}); ${new Date().toISOString().slice(0, 10)}`,
);

// 1. the handler in this process, its AWS calls timed
{
  const emulators = await startEmulators();
  await testStack(emulators.endpoint, { maxQueueDepth: 1_000_000 });
  const { route } = await import('../lambdas/handlers/api.ts');
  const { dynamodb } = await import('../lambdas/clients/dynamodb.ts');
  const { sqs } = await import('../lambdas/clients/sqs.ts');
  const calls = new Map<string, number[]>();
  for (const client of [dynamodb, sqs] as { middlewareStack: typeof sqs.middlewareStack }[])
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const t = performance.now();
        try {
          return await next(args);
        } finally {
          const k = String(context.commandName).replace(/Command$/, '');
          calls.set(k, [...(calls.get(k) ?? []), performance.now() - t]);
        }
      },
      { step: 'initialize', name: 'benchTimer' },
    );
  const api = caller(route);
  const post = async () => {
    const r = await api<{ taskId: string }>('POST', '/v1/tasks', container);
    if (r.status !== 202) throw new Error(`POST: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.taskId;
  };
  const id = await post();
  for (const [label, f] of [
    ['POST /v1/tasks', post],
    [`GET /v1/tasks/{id}`, () => api('GET', `/v1/tasks/${id}`)],
    ['GET /v1/stats', () => api('GET', '/v1/stats')],
  ] as const) {
    calls.clear();
    line(`handler in process, ${label}`, await timed(f));
    const per = [...calls]
      .map(([k, v]) => {
        const each = v.length / (N + WARM);
        const mean = v.reduce((a, b) => a + b, 0) / v.length;
        return `${k} ${Number.isInteger(each) ? each : each.toFixed(1)}× ${mean.toFixed(1)} ms`;
      })
      .join(', ');
    console.log(`  its AWS calls (count per request, mean): ${per}`);
  }
  await emulators.stop();
}

/** A local cloud for the benchmark, and a JSON call to its API. */
async function benchCloud(options: Partial<LocalCloudOptions>) {
  const cloud = await startLocalCloud({
    apiPort: 0,
    awsPort: 0,
    dataDir: mkdtempSync(path.join(tmpdir(), 'trainstack-api-bench-')),
    functionLogLevel: 'ERROR',
    dockerImage: false,
    ...options,
  });
  const call = async (method: string, p: string, body?: unknown) => {
    const r = await fetch(new URL(p, cloud.apiUrl), {
      method,
      ...(body ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}),
    });
    return r.json() as Promise<{ taskId?: string; status?: string }>;
  };
  return { cloud, call };
}

// 2. the same through the local cloud
{
  const { cloud, call } = await benchCloud({ context: { maxQueueDepth: 1_000_000 } });
  // tasks of an offline model: queued, never started, so nothing else runs
  await call('POST', '/v1/models', {
    name: 'offline',
    type: 'local',
    baseUrl: 'http://127.0.0.1:9/v1',
    model: 'm',
    status: 'offline',
  });
  const waiting = { type: 'inference', params: { model: 'offline', kind: 'custom', input: 'x' } };
  const { taskId } = await call('POST', '/v1/tasks', waiting);
  line(
    'local cloud, GET /health (DescribeTable and GetQueueAttributes)',
    await timed(() => call('GET', '/health')),
  );
  line('local cloud, GET /v1/tasks/{id}', await timed(() => call('GET', `/v1/tasks/${taskId}`)));
  line('local cloud, GET /v1/stats', await timed(() => call('GET', '/v1/stats')));
  line(
    'local cloud, POST /v1/tasks (each wakes the dispatcher, which looks past the waiting tasks)',
    await timed(() => call('POST', '/v1/tasks', waiting)),
  );
  await cloud.stop();
}

// 3. GETs while tasks keep every core busy (a spinning shell each, two per core), the tasks at the
// local cloud's priority and below it (its default)
for (const taskNice of [0, DEFAULT_TASK_NICE]) {
  const cap = 2 * availableParallelism();
  const { cloud, call } = await benchCloud({
    stopGraceSeconds: 1,
    context: { maxConcurrentTasks: cap },
    taskNice,
  });
  const spin = { type: 'container', image: 'busybox', command: ['sh', '-c', 'while :; do :; done'] };
  const ids = await Promise.all(
    Array.from({ length: cap }, async () => String((await call('POST', '/v1/tasks', spin)).taskId)),
  );
  for (;;) {
    const states = await Promise.all(ids.map(async (id) => (await call('GET', `/v1/tasks/${id}`)).status));
    if (states.every((s) => s === 'RUNNING')) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  line(
    `local cloud, GET /v1/tasks/{id} while ${cap} tasks spin on ${availableParallelism()} cores, tasks' niceness +${taskNice}`,
    await timed(() => call('GET', `/v1/tasks/${ids[0]}`)),
  );
  await Promise.all(ids.map((id) => call('POST', `/v1/tasks/${id}/cancel`)));
  await cloud.stop();
}
process.exit(0);
