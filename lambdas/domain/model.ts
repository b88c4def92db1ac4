/**
 * The task model: statuses, types, the spec a task is submitted with (its schema is task-spec.ts) and
 * the stored record. Pure: no AWS imports.
 */
import type * as z from 'zod/mini';
import { parseSecretRef, SECRET_REF } from './secret-ref.ts';
import { QUEUE_EXPIRED, type Status, type TaskType } from './status.ts';
import type { submitSchema } from './task-spec.ts';

export {
  ACTIVE,
  QUEUE_EXPIRED,
  STATUSES,
  type Status,
  TASK_TYPES,
  type TaskType,
  TERMINAL,
} from './status.ts';

/**
 * A secret the runner reads when an attempt starts and hands the workload as an environment variable:
 * `ssm:<parameter name>` (SecureString decrypted) or `secretsmanager:<name or ARN>`, with `#<key>` to
 * take one key of a JSON secret. The record keeps the reference only, never the value.
 */
export { parseSecretRef, SECRET_REF };

/** A container image reference as Docker parses one (distribution/reference's grammar, simplified). */
export const IMAGE_REFERENCE =
  /^(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::\d+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;

/** The submit schema, loaded when a route first takes a task (see task-spec.ts). */
export const loadSubmitSchema = async () => (await import('./task-spec.ts')).submitSchema;

export type SubmitInput = z.input<typeof submitSchema>;
export type TaskSpec = z.output<typeof submitSchema>;

export interface Attempt {
  attempt: number;
  startedAt: string;
  endedAt?: string;
  exitCode?: number;
  /** workload | infrastructure | timeout | stopped | stall */
  outcome?: string;
  reason?: string;
  ecsTaskArn?: string;
  logStream?: string;
}

export interface ResourceUsage {
  cpuSeconds?: number;
  peakMemoryMiB?: number;
  gpuUtilizationPct?: number;
  gpuMemoryMiB?: number;
  gpuSeconds?: number;
}

export interface TaskRecord {
  taskId: string;
  type: TaskType;
  name?: string;
  owner: string;
  spec: TaskSpec;
  status: Status;
  statusReason?: string;
  priority: number;
  progress: number;
  metrics?: Record<string, number>;
  attempts: Attempt[];
  /** Workload failures so far; infrastructure failures do not count. */
  retryCount: number;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  durationSeconds?: number;
  resultLocation?: string;
  resourceUsage?: ResourceUsage;
  estimatedCostUsd?: number;
  idempotencyKey?: string;
  /** the registered model an inference task calls (resolved from its params.model at submit) */
  modelId?: string;
  /** the other registered models a mixed-model batch file calls (its params.models, resolved at submit) */
  otherModelIds?: string[];
  /**
   * Why an attempt ended, as its runner or workload said it (a dataset that is not there, an agent
   * that found no answer): the workflow puts it in the task's reason.
   */
  runnerNote?: { attempt: number; text: string };
  /** the batch it was submitted in (POST /v1/tasks/batch) */
  batchId?: string;
  /** a single-input inference task's answer (at most 8 KiB; every answer is in results.jsonl) */
  output?: string;
  /**
   * In views only, for inference tasks: their requests as a provider's batch object counts them
   * (`metrics`, updated as lines are answered, at most a second apart), and the task's status in
   * OpenAI's batch vocabulary.
   */
  requestCounts?: { total: number; completed: number; failed: number };
  batchStatus?: BatchStatus;
  executionArn?: string;
  /** Times the task was dispatched: each run is one workflow execution, named `<taskId>-<run>`. */
  runs?: number;
  dispatchedAt?: string;
  updatedAt?: string;
}

/** Fill the defaults that depend on the type (gpus: 1 for training, 0 otherwise). */
export function withDefaults(spec: TaskSpec): TaskSpec {
  return { ...spec, gpus: spec.gpus ?? (spec.type === 'training' ? 1 : 0) };
}

/** How an env value shows in a view: env values are write-only (users put tokens there). */
export const HIDDEN = '***';

/** OpenAI's batch object statuses (the ones a task can be in). */
export type BatchStatus =
  | 'validating'
  | 'in_progress'
  | 'finalizing'
  | 'completed'
  | 'failed'
  | 'expired'
  | 'cancelled';

/** An inference task's status as OpenAI names a batch's: answered lines being written out is finalizing. */
export function batchStatusOf(t: Pick<TaskRecord, 'status' | 'progress' | 'statusReason'>): BatchStatus {
  switch (t.status) {
    case 'QUEUED':
    case 'STARTING':
      return 'validating';
    case 'RUNNING':
    case 'RETRYING':
      return t.progress >= 100 ? 'finalizing' : 'in_progress';
    case 'SUCCEEDED':
      return 'completed';
    case 'CANCELLED':
      return 'cancelled';
    case 'FAILED':
      return t.statusReason?.startsWith(QUEUE_EXPIRED) ? 'expired' : 'failed';
  }
}

/** Keep only what a caller may see: no internal index attributes, env names without their values. */
export function publicView(task: TaskRecord): TaskRecord {
  const {
    taskId,
    type,
    name,
    owner,
    spec,
    status,
    statusReason,
    priority,
    progress,
    metrics,
    attempts,
    retryCount,
    createdAt,
    startedAt,
    finishedAt,
    durationSeconds,
    resultLocation,
    resourceUsage,
    estimatedCostUsd,
    modelId,
    otherModelIds,
    batchId,
    output,
  } = task;
  return {
    taskId,
    type,
    name,
    owner,
    spec: spec.env
      ? { ...spec, env: Object.fromEntries(Object.keys(spec.env).map((k) => [k, HIDDEN])) }
      : spec,
    status,
    statusReason,
    priority,
    progress,
    metrics,
    attempts,
    retryCount,
    createdAt,
    startedAt,
    finishedAt,
    durationSeconds,
    resultLocation,
    resourceUsage,
    estimatedCostUsd,
    ...(modelId ? { modelId } : {}),
    ...(otherModelIds?.length ? { otherModelIds } : {}),
    ...(batchId ? { batchId } : {}),
    ...(output !== undefined ? { output } : {}),
    ...(type === 'inference'
      ? {
          ...(metrics?.requests !== undefined
            ? {
                requestCounts: {
                  total: metrics.requests,
                  completed: metrics.succeeded ?? 0,
                  failed: metrics.failed ?? 0,
                },
              }
            : {}),
          batchStatus: batchStatusOf(task),
        }
      : {}),
  };
}
