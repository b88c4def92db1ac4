/**
 * The runner's overhead: the reference trainer run bare, then under the runner (bundled, as in the
 * container: task record in DynamoDB Local, checkpoints and outputs to S3 on fauxqs), alternating,
 * and the median wall times compared. Target: under 1 % of wall time.
 * Usage: npm run bench:runner [-- --runs 3 --epochs 20 --model mlp]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { bundleRunner } from '../containers/runner/build.ts';
import { startEmulators } from '../lib/local/emulators.ts';
import { pythonWithTorch } from '../lib/local/host-probes.ts';
import { createResources } from '../lib/local/resources.ts';
import { synthTemplate } from '../lib/local/synth.ts';
import { localNames, resourcesOfType } from '../lib/local/template.ts';
import { REPO_ROOT } from '../lib/repo.ts';
import { benchOptions } from './args.ts';

const { runs, epochs, model } = benchOptions({ runs: 3, epochs: 20, model: 'mlp' });

const emulators = await startEmulators();
const { endpoint } = emulators;
Object.assign(process.env, {
  AWS_ENDPOINT_URL: endpoint,
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'local',
  AWS_SECRET_ACCESS_KEY: 'local',
});
const template = synthTemplate();
const names = localNames(template, 'us-east-1', endpoint, 'bench');
await createResources(template, names, endpoint);
const table = names.names[resourcesOfType(template, 'AWS::DynamoDB::Table')[0]?.[0] ?? ''] ?? '';
const bucket =
  names.names[
    resourcesOfType(template, 'AWS::S3::Bucket').find(([id]) => id.includes('Artifacts'))?.[0] ?? ''
  ] ?? '';

const { DynamoTaskRepository } = await import('../lambdas/clients/dynamodb-tasks.ts');
const { newTaskRecord } = await import('../lambdas/domain/tasks.ts');
const { mustGet } = await import('../lambdas/domain/task-repository.ts');
const { dynamodb } = await import('../lambdas/clients/dynamodb.ts');
const store = new DynamoTaskRepository(dynamodb, table);
const scratch = mkdtempSync(path.join(tmpdir(), 'trainstack-bench-'));
const runner = await bundleRunner(path.join(scratch, 'runner.mjs'));
const python = await pythonWithTorch();
const trainer = `${python} ${path.join(REPO_ROOT, 'containers', 'trainer', 'train.py')}`;

function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'ignore', 'inherit'] });
    child.once('close', (code) =>
      code === 0
        ? resolve(Number(process.hrtime.bigint() - started) / 1e9)
        : reject(new Error(`${cmd} exited ${code}`)),
    );
  });
}

async function readyTask(): Promise<string> {
  const spec = {
    type: 'training',
    params: { epochs, batchSize: 64, learningRate: 0.001, model, checkpointEvery: 1 },
    priority: 5,
    timeoutSeconds: 3600,
    maxRetries: 0,
    gpus: 0,
  } as const;
  const { task } = await store.create(newTaskRecord(spec, 'bench', new Date()));
  const taskId = task.taskId;
  const now = new Date().toISOString();
  const t = await mustGet(store, taskId);
  const started = await store.transition(t, { from: 'QUEUED', to: 'STARTING', activeCap: 1000 });
  await store.recordAttemptStart(started.task, { attempt: 1, startedAt: now }, { startedAt: now });
  return taskId;
}

const bare: number[] = [];
const wrapped: number[] = [];
for (let i = 0; i < runs; i++) {
  const dir = mkdtempSync(path.join(scratch, 'run-'));
  const common = {
    ...process.env,
    TRAINSTACK_EPOCHS: String(epochs),
    TRAINSTACK_BATCH_SIZE: '64',
    TRAINSTACK_LEARNING_RATE: '0.001',
    TRAINSTACK_MODEL: model,
    TRAINSTACK_CHECKPOINT_EVERY: '1',
  };
  bare.push(
    await timed('sh', ['-c', trainer], {
      ...common,
      TRAINSTACK_OUTPUT_DIR: path.join(dir, 'bare-out'),
      TRAINSTACK_CHECKPOINT_DIR: path.join(dir, 'bare-ckpt'),
    }),
  );
  const taskId = await readyTask();
  wrapped.push(
    await timed(process.execPath, [runner], {
      ...process.env,
      TRAINSTACK_TASK_ID: taskId,
      TRAINSTACK_ATTEMPT: '1',
      TRAINSTACK_TABLE: table,
      TRAINSTACK_BUCKET: bucket,
      TRAINSTACK_DEFAULT_COMMAND: trainer,
      TRAINSTACK_OUTPUT_DIR: path.join(dir, 'out'),
      TRAINSTACK_CHECKPOINT_DIR: path.join(dir, 'ckpt'),
    }),
  );
  const t = await mustGet(store, taskId);
  if (t.progress !== 100) throw new Error(`the runner did not record progress 100 (got ${t.progress})`);
  console.log(
    `run ${i + 1}: bare ${bare.at(-1)?.toFixed(2)} s, under the runner ${wrapped.at(-1)?.toFixed(2)} s`,
  );
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const b = median(bare);
const w = median(wrapped);
console.log(`\ntrainer: model=${model} epochs=${epochs} (${python}), ${runs} runs each, alternating`);
console.log(`median wall: bare ${b.toFixed(2)} s, under the runner ${w.toFixed(2)} s`);
console.log(
  `overhead: ${(w - b).toFixed(2)} s = ${(((w - b) / b) * 100).toFixed(2)} % of wall time (target < 1 %)`,
);

await emulators.stop();
rmSync(scratch, { recursive: true, force: true });
