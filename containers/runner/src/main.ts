/** Entry point of the runner container: configuration from the environment only. */
import { S3Client } from '@aws-sdk/client-s3';
import { dynamodb } from '../../../lambdas/clients/dynamodb.ts';
import { EXIT_RUNNER_ERROR } from '../../../lambdas/domain/classify.ts';
import { TaskStore } from '../../../lambdas/domain/store.ts';
import { type RunnerConfig, runTask } from './runner.ts';

function need(name: string): string {
  const v = process.env[name];
  if (!v) {
    process.stderr.write(`[trainstack-runner] environment variable ${name} is not set\n`);
    process.exit(2);
  }
  return v;
}

const log = (msg: string) => process.stderr.write(`[trainstack-runner] ${msg}\n`);

/** The ECS task ARN and log stream, from the task metadata endpoint (v4) the ECS agent provides. */
async function ecsMetadata(): Promise<{ ecsTaskArn?: string; logStream?: string }> {
  const uri = process.env.ECS_CONTAINER_METADATA_URI_V4;
  if (!uri) return {};
  try {
    const r = await fetch(`${uri}/task`, { signal: AbortSignal.timeout(2000) });
    const m = (await r.json()) as { TaskARN?: string; LogStream?: string };
    const id = m.TaskARN?.split('/').pop();
    const prefix = process.env.TRAINSTACK_LOG_STREAM_PREFIX;
    return {
      ...(m.TaskARN ? { ecsTaskArn: m.TaskARN } : {}),
      ...(m.LogStream ? { logStream: m.LogStream } : prefix && id ? { logStream: `${prefix}/${id}` } : {}),
    };
  } catch {
    return {};
  }
}

const stop = new AbortController();
process.on('SIGTERM', () => stop.abort());
process.on('SIGINT', () => stop.abort());

const meta = await ecsMetadata();
const config: RunnerConfig = {
  taskId: need('TRAINSTACK_TASK_ID'),
  attempt: Number(need('TRAINSTACK_ATTEMPT')),
  bucket: need('TRAINSTACK_BUCKET'),
  outputDir: process.env.TRAINSTACK_OUTPUT_DIR ?? '/work/output',
  checkpointDir: process.env.TRAINSTACK_CHECKPOINT_DIR ?? '/work/checkpoints',
  ...(process.env.TRAINSTACK_DEFAULT_COMMAND
    ? { defaultCommand: process.env.TRAINSTACK_DEFAULT_COMMAND }
    : {}),
  progressIntervalMs: Number(process.env.TRAINSTACK_PROGRESS_INTERVAL_MS ?? 1000),
  checkpointIntervalMs: Number(process.env.TRAINSTACK_CHECKPOINT_INTERVAL_MS ?? 15_000),
  stopGraceSeconds: Number(process.env.TRAINSTACK_STOP_GRACE_SECONDS ?? 20),
  gpu: process.env.CUDA_VISIBLE_DEVICES !== '',
  ...meta,
};
const store = new TaskStore(dynamodb, need('TRAINSTACK_TABLE'));
const s3 = new S3Client({ forcePathStyle: Boolean(process.env.AWS_ENDPOINT_URL) });

try {
  const result = await runTask(
    { store, s3, out: process.stdout, err: process.stderr, log },
    config,
    process.env,
    stop.signal,
  );
  process.exitCode = result.exitCode;
} catch (e) {
  log(`runner failed: ${(e as Error).stack ?? String(e)}`);
  process.exitCode = EXIT_RUNNER_ERROR;
}
