/** The seed 000/001 API and seed 003 task lines, mapped onto trainstack's task model. */
import type { Status, TaskRecord, TaskSpec } from './model.ts';

export type SeedStatus = 'pending' | 'running' | 'success' | 'failed' | 'cancelled';

export function toSeedStatus(s: Status): SeedStatus {
  switch (s) {
    case 'QUEUED':
    case 'RETRYING':
      return 'pending';
    case 'STARTING':
    case 'RUNNING':
      return 'running';
    case 'SUCCEEDED':
      return 'success';
    case 'FAILED':
      return 'failed';
    case 'CANCELLED':
      return 'cancelled';
  }
}

const SEED_TO_STATUSES: Record<SeedStatus, Status[]> = {
  pending: ['QUEUED', 'RETRYING'],
  running: ['STARTING', 'RUNNING'],
  success: ['SUCCEEDED'],
  failed: ['FAILED'],
  cancelled: ['CANCELLED'],
};

export function fromSeedStatus(s: SeedStatus): Status[] {
  return SEED_TO_STATUSES[s];
}

export function seedTrainToSpec(b: {
  epochs: number;
  batch_size: number;
  learning_rate: number;
  gpu: boolean;
  gpu_ids?: string | undefined;
  max_retries: number;
}): TaskSpec {
  const gpus = b.gpu ? (b.gpu_ids ? b.gpu_ids.split(',').length : 1) : 0;
  return {
    type: 'training',
    params: { epochs: b.epochs, batchSize: b.batch_size, learningRate: b.learning_rate },
    priority: 5,
    gpus,
    timeoutSeconds: 3600,
    maxRetries: b.max_retries,
  };
}

export function toSeedTask(t: TaskRecord) {
  const p = t.spec.type === 'training' ? t.spec.params : undefined;
  const last = t.attempts.at(-1);
  return {
    task_id: t.taskId,
    status: toSeedStatus(t.status),
    epochs: p?.epochs ?? null,
    batch_size: p?.batchSize ?? null,
    learning_rate: p?.learningRate ?? null,
    gpu: (t.spec.gpus ?? 0) > 0,
    error: t.status === 'FAILED' || t.status === 'CANCELLED' ? (t.statusReason ?? null) : null,
    container_id: last?.ecsTaskArn ?? null,
    log_file: last?.logStream ?? null,
    created_at: t.createdAt,
    started_at: t.startedAt ?? null,
    completed_at: t.finishedAt ?? null,
    retry_count: t.retryCount,
    progress: t.progress,
  };
}

export function seedTrajectoryToSpec(l: {
  task_id: string;
  task_type: 'reasoning' | 'code' | 'web';
  description: string;
  expected_tools: string[];
  max_steps: number;
  timeout?: number | undefined;
  priority?: number | undefined;
}): TaskSpec {
  return {
    type: 'trajectory',
    name: l.task_id,
    params: {
      taskType: l.task_type,
      description: l.description,
      expectedTools: l.expected_tools,
      maxSteps: l.max_steps,
    },
    priority: l.priority ?? 5,
    timeoutSeconds: Math.max(60, l.timeout ?? 3600),
    maxRetries: 3,
  };
}
