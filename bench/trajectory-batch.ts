/**
 * Seed 003 at its size: a tasks.jsonl of N code lines (default 1,000) sent into one batch on the
 * local cloud, each run by the agent runtime against a scripted OpenAI-compatible server (it answers
 * with a python_executor call, then with what the tool printed), until the batch is done; then every
 * trajectory is downloaded and checked (one per line, under the line's task_id, with the right answer).
 * Prints the submit rate, the drain rate and the check. Usage:
 *   npm run bench:trajectories [-- --lines 1000 --cap 8 --chunk 500]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Trajectory } from '../containers/agent/src/types.ts';
import { startLocalCloud } from '../lib/local/cloud.ts';
import { observations, startOpenAiServer } from '../test/support/openai-server.ts';
import { benchOptions } from './args.ts';

const { lines: N, cap, chunk } = benchOptions({ lines: 1000, cap: availableParallelism() * 4, chunk: 500 });

const llm = await startOpenAiServer();
llm.script.set('bench-llm', {
  delayMs: 5,
  agent: (messages) => {
    const seen = observations(messages);
    if (seen.length) return { content: `answer: ${seen.at(-1)}` };
    const n = /(\d+)/.exec(String(messages.find((m) => m.role === 'user')?.content))?.[1];
    return {
      calls: [{ name: 'python_executor', arguments: JSON.stringify({ code: `print(${n} * ${n})` }) }],
    };
  },
});
const dataDir = mkdtempSync(path.join(tmpdir(), 'trainstack-bench-traj-'));
const cloud = await startLocalCloud({
  log: (msg, fields) => {
    if (process.env.BENCH_VERBOSE) process.stderr.write(`${msg} ${fields ? JSON.stringify(fields) : ''}\n`);
  },
  apiPort: 0,
  awsPort: 0,
  dataDir,
  context: { maxConcurrentTasks: cap },
  tickMs: 200,
  functionLogLevel: 'ERROR',
  progressIntervalMs: 1000,
});
const api = async (method: string, p: string, body?: string, type = 'application/json') => {
  const r = await fetch(`${cloud.apiUrl}${p}`, {
    method,
    headers: body ? { 'content-type': type } : {},
    ...(body ? { body } : {}),
  });
  return { status: r.status, headers: r.headers, text: await r.text() };
};
try {
  await api(
    'POST',
    '/v1/models',
    JSON.stringify({
      name: 'bench-llm',
      type: 'local',
      baseUrl: llm.baseUrl,
      model: 'bench-llm',
      maxWorkers: cap,
    }),
  );
  const lines = Array.from({ length: N }, (_, i) =>
    JSON.stringify({
      task_id: `square-${i}`,
      task_type: 'code',
      description: `square ${i}`,
      expected_tools: ['python_executor'],
      max_steps: 4,
      timeout: 600,
    }),
  );
  const t0 = Date.now();
  let batchId = '';
  for (let i = 0; i < N; i += chunk) {
    const q = `?model=bench-llm${batchId ? `&batchId=${batchId}` : ''}`;
    const r = await api(
      'POST',
      `/v1/tasks/batch${q}`,
      lines.slice(i, i + chunk).join('\n'),
      'application/x-ndjson',
    );
    if (r.status !== 202) throw new Error(`batch: ${r.status} ${r.text.slice(0, 300)}`);
    batchId ||= (JSON.parse(r.text) as { batchId: string }).batchId;
  }
  const submitted = Date.now();
  let view: { done: boolean; finished: number; byStatus: Record<string, number> } | undefined;
  let last = 0;
  for (;;) {
    view = JSON.parse((await api('GET', `/v1/batches/${batchId}`)).text) as typeof view;
    if (view?.done) break;
    if (Date.now() - last > 30_000) {
      last = Date.now();
      process.stderr.write(
        `${view?.finished}/${N} finished after ${Math.round((Date.now() - submitted) / 1000)} s\n`,
      );
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  const drained = Date.now();
  const trajectories: Trajectory[] = [];
  let cursor: string | null = null;
  do {
    const r = await api(
      'GET',
      `/v1/batches/${batchId}/trajectories?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
    for (const l of r.text.split('\n').filter(Boolean)) trajectories.push(JSON.parse(l) as Trajectory);
    cursor = r.headers.get('x-next-cursor');
  } while (cursor);
  const ids = new Set(trajectories.map((t) => t.task_id));
  const right = trajectories.filter((t) => {
    const n = Number(t.task_id.split('-')[1]);
    return t.success && t.steps[0]?.observation === String(n * n) && t.final_result === `answer: ${n * n}`;
  }).length;
  console.log(
    `machine: ${availableParallelism()} cores; cap ${cap}; ${new Date().toISOString().slice(0, 10)}`,
  );
  console.log(
    `submit: ${N} lines in ${((submitted - t0) / 1000).toFixed(1)} s (${(N / ((submitted - t0) / 1000)).toFixed(0)} lines/s, ${chunk} per request)`,
  );
  console.log(
    `drain: ${((drained - submitted) / 1000).toFixed(1)} s (${(N / ((drained - submitted) / 1000)).toFixed(2)} tasks/s)`,
  );
  console.log(`batch: ${JSON.stringify(view?.byStatus)}`);
  console.log(
    `trajectories: ${trajectories.length} downloaded, ${ids.size} distinct task_ids, ${right} with the right answer`,
  );
  if (trajectories.length !== N || ids.size !== N || right !== N) process.exitCode = 1;
} finally {
  await cloud.stop();
  await llm.close();
  rmSync(dataDir, { recursive: true, force: true });
}
