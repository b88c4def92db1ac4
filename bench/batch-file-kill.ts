/**
 * An OpenAI Batch file of N lines (default 20,000) as one inference task on the local cloud, against
 * a scripted OpenAI-compatible server, with the runner SIGKILLed K times (default 2) midway. Checks
 * that the output holds every custom_id exactly once and that the server saw no more repeated
 * requests than were in flight at the kills; prints the throughput, the repeats and the attempts.
 * Usage:
 *   npm run bench:batch-file [-- --lines 20000 --kills 2 --concurrency 32]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { startLocalCloud } from '../lib/local/cloud.ts';
import { startOpenAiServer } from '../test/support/openai-server.ts';
import { benchOptions } from './args.ts';

const { lines: N, kills, concurrency } = benchOptions({ lines: 20_000, kills: 2, concurrency: 32 });

const llm = await startOpenAiServer();
llm.script.set('bench-batch', { delayMs: 5 });
const dataDir = mkdtempSync(path.join(tmpdir(), 'trainstack-bench-batch-'));
const cloud = await startLocalCloud({
  log: (msg, fields) => {
    if (process.env.BENCH_VERBOSE) process.stderr.write(`${msg} ${fields ? JSON.stringify(fields) : ''}\n`);
  },
  apiPort: 0,
  awsPort: 0,
  dataDir,
  context: { workloadRoleArns: ['arn:aws:iam::000000000000:role/*'] },
  tickMs: 200,
  waitOverrideMs: 100,
  functionLogLevel: 'ERROR',
  progressIntervalMs: 500,
});
const api = async <T>(method: string, p: string, body?: unknown) => {
  const r = await fetch(`${cloud.apiUrl}${p}`, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return (await r.json()) as T;
};
type Task = {
  taskId: string;
  status: string;
  statusReason?: string;
  metrics?: Record<string, number>;
  attempts: { attempt: number; ecsTaskArn?: string; outcome?: string }[];
};
const s3 = new S3Client({ ...cloud.clientConfig, forcePathStyle: true });
try {
  await api('POST', '/v1/models', {
    name: 'bench-batch',
    type: 'local',
    baseUrl: llm.baseUrl,
    model: 'bench-batch',
    maxWorkers: concurrency,
  });
  const lines = Array.from({ length: N }, (_, i) =>
    JSON.stringify({
      custom_id: `req-${i}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: 'bench-batch', messages: [{ role: 'user', content: `line ${i}` }] },
    }),
  );
  await s3.send(
    new PutObjectCommand({
      Bucket: cloud.bucketName,
      Key: 'bench/batch.jsonl',
      Body: `${lines.join('\n')}\n`,
    }),
  );
  const t0 = Date.now();
  const task = await api<Task>('POST', '/v1/tasks', {
    type: 'inference',
    name: 'bench-batch-file',
    params: {
      model: 'bench-batch',
      kind: 'custom',
      inputsUri: `s3://${cloud.bucketName}/bench/batch.jsonl`,
      concurrency,
    },
    roleArn: 'arn:aws:iam::000000000000:role/bench-reader',
    timeoutSeconds: 3600,
  });
  const get = () => api<Task>('GET', `/v1/tasks/${task.taskId}`);
  const sent = () => llm.requests.filter((r) => r.body.model === 'bench-batch').length;
  const inFlightAtKill: number[] = [];
  for (let k = 1; k <= kills; k++) {
    // kill when the server has seen k/(kills+1) of the lines
    const target = Math.floor((N * k) / (kills + 1));
    for (;;) {
      const t = await get();
      const arn = t.attempts.at(-1)?.ecsTaskArn;
      const pid = arn ? cloud.ecs.runnerPid(arn) : undefined;
      if (pid && sent() >= target) {
        process.kill(pid, 'SIGKILL');
        inFlightAtKill.push(concurrency);
        process.stderr.write(`killed the runner of attempt ${t.attempts.length} at ${sent()} requests\n`);
        // the next attempt starts
        for (;;) {
          const n = await get();
          if (n.attempts.length > t.attempts.length && n.attempts.at(-1)?.ecsTaskArn) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        break;
      }
      if (['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(t.status)) throw new Error(`ended before kill ${k}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  let done: Task;
  for (;;) {
    done = await get();
    if (['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(done.status)) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const seconds = (Date.now() - t0) / 1000;
  const out = await s3.send(
    new GetObjectCommand({ Bucket: cloud.bucketName, Key: `tasks/${task.taskId}/output.jsonl` }),
  );
  const ids = ((await out.Body?.transformToString()) ?? '')
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { custom_id: string }).custom_id);
  const unique = new Set(ids).size;
  const repeats = sent() - N;
  const bound = inFlightAtKill.reduce((a, b) => a + b, 0);
  const ok = done.status === 'SUCCEEDED' && ids.length === N && unique === N && repeats <= bound;
  console.log(
    JSON.stringify(
      {
        lines: N,
        kills,
        concurrency,
        status: done.status,
        attempts: done.attempts.map((a) => a.outcome ?? 'succeeded'),
        outputLines: ids.length,
        uniqueIds: unique,
        requestsSeen: sent(),
        repeatedRequests: repeats,
        allowedRepeats: bound,
        seconds: Math.round(seconds * 10) / 10,
        linesPerSecond: Math.round(N / seconds),
        ok,
      },
      null,
      2,
    ),
  );
  if (!ok) process.exitCode = 1;
} finally {
  await cloud.stop();
  await llm.close();
  rmSync(dataDir, { recursive: true, force: true });
}
