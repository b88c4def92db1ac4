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
import { sampleGpus } from '../containers/runner/src/usage.ts';
import type { TaskRecord } from '../lambdas/domain/model.ts';
import { TaskStore, type TransitionRequest } from '../lambdas/domain/store.ts';

const arg = (n: string, d: string) => {
  const i = process.argv.indexOf(`--${n}`);
  return i > 0 ? (process.argv[i + 1] ?? d) : d;
};
const epochs = Number(arg('epochs', '5'));
const model = arg('model', 'mlp-large');
const batch = Number(arg('batch', '4096'));
const trainer = path.resolve(arg('trainer', 'containers/trainer/train.py'));
const python = arg('python', 'python3');

/** The task record in memory: the runner's reads and writes, without DynamoDB. */
class MemoryStore extends TaskStore {
  progressWrites = 0;
  constructor(private task: TaskRecord) {
    super({ send: async () => ({}) } as never, 'memory');
  }
  override async mustGet(): Promise<TaskRecord> {
    return structuredClone(this.task);
  }
  override async transition(task: TaskRecord, req: TransitionRequest) {
    const attempts = [...task.attempts];
    if (req.endAttempt) attempts[req.endAttempt.index] = req.endAttempt.attempt;
    this.task = { ...task, ...req.set, status: req.to, attempts };
    return { applied: true, task: this.task };
  }
  override async updateProgress(_id: string, _attempt: number, patch: object) {
    this.progressWrites++;
    this.task = { ...this.task, ...patch };
    return true;
  }
  get record() {
    return this.task;
  }
}
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

const now = new Date().toISOString();
const store = new MemoryStore({
  taskId: 'gpu-check',
  type: 'training',
  owner: 'bench',
  spec: {
    type: 'training',
    params: { epochs, batchSize: batch, learningRate: 0.0005, model, checkpointEvery: epochs },
    priority: 5,
    timeoutSeconds: 3600,
    maxRetries: 0,
    gpus: 1,
  },
  status: 'STARTING',
  priority: 5,
  progress: 0,
  attempts: [{ attempt: 1, startedAt: now }],
  retryCount: 0,
  createdAt: now,
});
const out = new PassThrough();
out.pipe(process.stdout);
const t0 = process.hrtime.bigint();
const result = await runTask(
  { store, s3: memoryS3, out, err: out, log: (m) => console.error(`[runner] ${m}`) },
  {
    taskId: 'gpu-check',
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
  `runner exit ${result.exitCode}; progress writes ${store.progressWrites}; record progress ${store.record.progress}`,
);
console.log(`resource usage seen by the runner: ${JSON.stringify(result.usage)}`);
