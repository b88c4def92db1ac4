/**
 * GPU check (for a machine with an NVIDIA GPU): the reference trainer bare, then under the runner,
 * printing the device, samples/s, the GPU utilisation and memory the runner sampled, GPU-seconds and
 * the runner's overhead. The task record and S3 are in memory here, so it needs only Python with
 * PyTorch, nvidia-smi and this file bundled (see README, "GPU check").
 * Usage: node gpu-check.mjs [--epochs 5] [--model mlp-large] [--batch 4096]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { runTask } from '../containers/runner/src/runner.ts';
import { localSecretSource } from '../containers/runner/src/secrets.ts';
import { sampleGpus } from '../containers/runner/src/usage.ts';
import { MemoryTaskRepository } from '../lambdas/clients/memory-tasks.ts';
import { mustGet } from '../lambdas/domain/task-repository.ts';
import { newTaskRecord } from '../lambdas/domain/tasks.ts';
import { benchOptions } from './args.ts';

const o = benchOptions({
  epochs: 5,
  model: 'mlp-large',
  batch: 4096,
  trainer: 'containers/trainer/train.py',
  python: 'python3',
});
const { epochs, model, batch, python } = o;
const trainer = path.resolve(o.trainer);

const memoryS3 = { send: async () => ({ Contents: [] }) } as unknown as S3Client;

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const t = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { env, stdio: ['ignore', 'inherit', 'inherit'] });
    c.once('close', (code) =>
      code === 0 ? resolve(Number(process.hrtime.bigint() - t) / 1e9) : reject(new Error(`exit ${code}`)),
    );
  });
}

const gpus = await sampleGpus();
console.log(`nvidia-smi: ${gpus ? `${gpus.length} GPU(s)` : 'not found (CPU only)'}`);
const dir = mkdtempSync(path.join(tmpdir(), 'gpu-check-'));
const env = {
  ...process.env,
  TRAINSTACK_EPOCHS: String(epochs),
  TRAINSTACK_BATCH_SIZE: String(batch),
  TRAINSTACK_LEARNING_RATE: '0.0005',
  TRAINSTACK_MODEL: model,
  TRAINSTACK_CHECKPOINT_EVERY: String(epochs),
};
const bareSeconds = await run(python, [trainer], {
  ...env,
  TRAINSTACK_OUTPUT_DIR: path.join(dir, 'bare'),
  TRAINSTACK_CHECKPOINT_DIR: path.join(dir, 'bare-ckpt'),
});
const bareMetrics = JSON.parse(readFileSync(path.join(dir, 'bare', 'metrics.json'), 'utf8')) as Record<
  string,
  unknown
>;

// the task record in memory (the same repository contract as DynamoDB), dispatched and at attempt 1
const store = new MemoryTaskRepository();
const { task: queued } = await store.create(
  newTaskRecord(
    {
      type: 'training',
      params: { epochs, batchSize: batch, learningRate: 0.0005, model, checkpointEvery: epochs },
      priority: 5,
      timeoutSeconds: 3600,
      maxRetries: 0,
      gpus: 1,
    },
    'bench',
    new Date(),
  ),
);
const taskId = queued.taskId;
const { task: starting } = await store.transition(queued, { from: 'QUEUED', to: 'STARTING', activeCap: 1 });
const now = new Date().toISOString();
await store.recordAttemptStart(starting, { attempt: 1, startedAt: now }, { startedAt: now });
const out = new PassThrough();
out.pipe(process.stdout);
const t0 = process.hrtime.bigint();
const result = await runTask(
  {
    store,
    s3: memoryS3,
    secrets: localSecretSource(undefined, {}),
    out,
    err: out,
    log: (m) => console.error(`[runner] ${m}`),
  },
  {
    taskId,
    attempt: 1,
    bucket: 'memory',
    outputDir: path.join(dir, 'out'),
    checkpointDir: path.join(dir, 'ckpt'),
    defaultCommand: `${python} ${trainer}`,
    progressIntervalMs: 1000,
    checkpointIntervalMs: 15_000,
    stopGraceSeconds: 20,
    gpu: true,
  },
  env,
  new AbortController().signal,
);
const wrappedSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
const m = JSON.parse(readFileSync(path.join(dir, 'out', 'metrics.json'), 'utf8')) as Record<string, unknown>;
console.log('\n=== GPU check ===');
console.log(`device: ${m.device} (${m.device_name}), model ${model}, batch ${batch}, ${epochs} epochs`);
console.log(`samples/s: bare ${bareMetrics.samples_per_sec}, under the runner ${m.samples_per_sec}`);
console.log(
  `wall: bare ${bareSeconds.toFixed(2)} s, under the runner ${wrappedSeconds.toFixed(2)} s, overhead ${(((wrappedSeconds - bareSeconds) / bareSeconds) * 100).toFixed(2)} %`,
);
console.log(
  `runner exit ${result.exitCode}; progress writes ${store.writes.progress}; record progress ${(await mustGet(store, taskId)).progress}`,
);
console.log(`resource usage seen by the runner: ${JSON.stringify(result.usage)}`);
