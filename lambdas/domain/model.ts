/**
 * The task model: statuses, types, the submit schema (zod) and the stored record.
 * Pure: no AWS imports. The same schemas validate requests and feed the OpenAPI document.
 */
import * as z from 'zod';
import { parseSecretRef, SECRET_REF } from './secret-ref.ts';

import { QUEUE_EXPIRED, type Status, type TaskType } from './status.ts';

export {
  ACTIVE,
  QUEUE_EXPIRED,
  STATUSES,
  type Status,
  TASK_TYPES,
  type TaskType,
  TERMINAL,
} from './status.ts';

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'env names are letters, digits and _');
const envMap = z
  .record(envName, z.string().max(4096))
  .refine((m) => Object.keys(m).length <= 50, 'at most 50 env entries')
  .refine((m) => JSON.stringify(m).length <= 16_384, 'env is at most 16 KiB in all');

/**
 * A secret the runner reads when an attempt starts and hands the workload as an environment variable:
 * `ssm:<parameter name>` (SecureString decrypted) or `secretsmanager:<name or ARN>`, with `#<key>` to
 * take one key of a JSON secret. The record keeps the reference only, never the value.
 */
export { parseSecretRef, SECRET_REF };

const secretsMap = z
  .record(
    envName,
    z
      .string()
      .regex(SECRET_REF, 'a reference: ssm:<parameter name> or secretsmanager:<name or ARN>[#<json key>]'),
  )
  .refine((m) => Object.keys(m).length <= 50, 'at most 50 secrets');

const tags = z
  .record(z.string().min(1).max(128), z.string().max(256))
  .refine((m) => Object.keys(m).length <= 50, 'at most 50 tags');

/** Where data comes from: an S3 object or a web URL. */
const dataUri = z
  .string()
  .max(2048)
  .regex(
    /^(s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\/.+|https?:\/\/[^\s/]+\/\S*)$/,
    's3://<bucket>/<key> or an http(s):// URL',
  );

/** A container image reference as Docker parses one (distribution/reference's grammar, simplified). */
export const IMAGE_REFERENCE =
  /^(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::\d+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;

const imageReference = z
  .string()
  .max(1024)
  .regex(
    IMAGE_REFERENCE,
    'an image reference: [registry[:port]/]repository[:tag][@sha256:digest], repository in lower case',
  );

const common = {
  name: z.string().trim().min(1).max(256).optional(),
  priority: z.number().int().min(1).max(10).default(5),
  gpus: z.number().int().min(0).max(8).optional(),
  cpu: z.number().int().min(128).max(196_608).optional(),
  memoryMiB: z.number().int().min(128).max(2_000_000).optional(),
  timeoutSeconds: z.number().int().min(60).max(604_800).default(3600),
  maxRetries: z.number().int().min(0).max(10).default(3),
  maxQueueWaitSeconds: z.number().int().min(60).max(604_800).optional(),
  stallSeconds: z.number().int().min(10).max(86_400).optional(),
  env: envMap.optional(),
  /** environment variables whose values the runner reads from a secret store at start */
  secrets: secretsMap.optional(),
  tags: tags.optional(),
  /**
   * The image the task runs in, with the runner around its command (deployed: any registry the
   * instances reach; ECR of this account, public registries, or a private one with imageCredentials)
   */
  image: imageReference.optional(),
  /** A Secrets Manager secret (name under the stack's secrets prefix, or ARN) with {"username","password"} for a private registry */
  imageCredentials: z
    .string()
    .regex(/^[\w/+=.@:-]{1,2048}$/, 'a Secrets Manager secret name or ARN')
    .optional(),
  /**
   * An IAM role the workload works as (its AWS SDK finds the credentials through the runner, which
   * assumes the role and refreshes them); only roles the stack allows (CDK context workloadRoleArns).
   */
  /**
   * Only one task of yours with this key is queued or running at a time (a model's name, so it is
   * never trained twice at once): another submit with it is a 409 naming the task that holds it
   */
  lockKey: z
    .string()
    .regex(/^[\w.:/@-]{1,256}$/, '1-256 of letters, digits and _ . : / @ -')
    .optional(),
  roleArn: z
    .string()
    .regex(
      /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/,
      'an IAM role ARN (arn:aws:iam::<account>:role/<name>)',
    )
    .optional(),
  command: z.array(z.string().max(8192)).min(1).max(256).optional(),
  /**
   * Data the workload needs: s3:// or http(s):// URIs, downloaded into TRAINSTACK_INPUT_DIR before it
   * starts (S3 with the task's roleArn, else from this stack's bucket under datasets/)
   */
  inputs: z.array(dataUri).min(1).max(50).optional(),
};

export const trainingParams = z
  .object({
    epochs: z.number().int().min(1).max(100_000),
    batchSize: z.number().int().min(1).max(65_536),
    learningRate: z.number().gt(0).lte(10),
    /** a CSV or Parquet file (s3:// or http(s)://): features and a label column; none: generated data */
    dataset: dataUri.optional(),
    /** the dataset's label column @default its last column */
    labelColumn: z.string().min(1).max(256).optional(),
    /** the reference image's trainers: PyTorch MLP, or scikit-learn @default torch-mlp */
    trainer: z.enum(['torch-mlp', 'sklearn']).optional(),
    /** sklearn: a linear model or gradient-boosted trees @default linear */
    algorithm: z.enum(['linear', 'gbt']).optional(),
    model: z.string().max(256).optional(),
    checkpointEvery: z.number().int().min(1).max(100_000).optional(),
  })
  .strict();

export const trajectoryParams = z
  .object({
    /** the runtime: seed 003's task types (a plug-in runtime's id goes in `runtime`) */
    taskType: z.enum(['reasoning', 'code', 'web']),
    description: z.string().min(1).max(20_000),
    /** the registered model the agent calls (id or name, GET /v1/models) */
    model: z.string().min(1).max(128).optional(),
    /** the tools offered, exactly (python_executor, browser, fetch, search, plug-in tools); default: the runtime's */
    expectedTools: z.array(z.string().min(1).max(128)).max(50).default([]),
    /** the most actions (tool calls and the final answer) @default 10 */
    maxSteps: z.number().int().min(1).max(1000).default(10),
    /** a plug-in runtime of the agent image, in place of taskType's */
    runtime: z
      .string()
      .regex(/^[\w.-]{1,64}$/, 'a runtime id (letters, digits, _ . -)')
      .optional(),
    /** your own id for this task, carried by its trajectory (a tasks.jsonl line's task_id) */
    taskId: z.string().min(1).max(256).optional(),
    /** let code run by python_executor reach the network @default false */
    allowNetwork: z.boolean().optional(),
    /** python_executor's time limit per run, seconds @default 30 */
    toolTimeoutSeconds: z.number().int().min(1).max(3600).optional(),
    temperature: z.number().min(0).max(2).optional(),
    maxTokens: z.number().int().min(1).max(1_000_000).optional(),
  })
  .strict();

const inferenceInput = z.union([z.string().max(200_000), z.record(z.string(), z.unknown())]);

export const inferenceParams = z
  .object({
    /** the registered model's id or name (GET /v1/models) */
    model: z.string().min(1).max(128),
    /**
     * A provider batch file whose lines name several models: the other registered models (ids or
     * names) its lines may name. The task holds one worker of each (of its `maxWorkers`) while it runs;
     * a line naming none of them, or no model, goes to `model`.
     */
    models: z.array(z.string().min(1).max(128)).min(1).max(16).optional(),
    kind: z.enum(['text-generation', 'translation', 'summarization', 'embedding', 'custom']),
    /** one input: text, or an object (`{"text": ...}`, or for `custom` a whole chat request with `messages`) */
    input: inferenceInput.optional(),
    /** many inputs, answered in order (one line each in results.jsonl) */
    inputs: z.array(inferenceInput).min(1).max(1000).optional(),
    /**
     * Large jobs: an `s3://bucket/key` JSONL file of inputs (one per line, up to 100,000), read with
     * the task's `roleArn`, which must be allowed to read it
     */
    inputsUri: z
      .string()
      .regex(/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\/.+$/, 's3://<bucket>/<key> of a JSONL file')
      .max(2048)
      .optional(),
    /** translation: the language to translate into @default English */
    targetLanguage: z.string().min(1).max(64).optional(),
    /** requests in flight at once, within this task @default 4 */
    concurrency: z.number().int().min(1).max(64).optional(),
    /** override the model's defaults */
    maxTokens: z.number().int().min(1).max(1_000_000).optional(),
    temperature: z.number().min(0).max(2).optional(),
    /** the share of inputs that may fail (after retries) with the task still succeeding @default 0 for one input, 0.05 for many */
    errorBudget: z.number().min(0).max(1).optional(),
  })
  .strict();

export const containerParams = z.object({}).strict();

export const submitSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('training'), params: trainingParams, ...common }).strict(),
  z.object({ type: z.literal('trajectory'), params: trajectoryParams, ...common }).strict(),
  z.object({ type: z.literal('inference'), params: inferenceParams, ...common }).strict(),
  z
    .object({
      type: z.literal('container'),
      params: containerParams.default({}),
      ...common,
      image: imageReference,
    })
    .strict(),
]);
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
