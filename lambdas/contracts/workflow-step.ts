/**
 * The contract between the state machine (`lib/workflow.ts`) and the workflow-step function: the
 * payload each Task state sends, where the state machine keeps each result, and the result fields its
 * Choice, Wait and RunTask states read. Plain values and types (no zod): the CDK construct, the handler
 * and the local cloud import it, and a test checks the synthesized definition against it.
 */

export const STEP = { start: 'start', failed: 'failed', succeeded: 'succeeded' } as const;
export type StepAction = (typeof STEP)[keyof typeof STEP];

/** What Step Functions reports when a state fails (the `Catch` result). */
export interface StepError {
  Error?: string;
  Cause?: unknown;
}

/**
 * Every step names the execution that calls it (`$$.Execution.Name`, `<taskId>-<run>`): a step of an
 * execution that is no longer the task's current run (the reconciler ended it, the task was retried
 * and runs again) changes nothing.
 */
interface StepOf {
  taskId: string;
  execution?: string;
}
export type StepEvent =
  | ({ action: typeof STEP.start } & StepOf)
  | ({ action: typeof STEP.failed; error?: StepError } & StepOf)
  | ({ action: typeof STEP.succeeded } & StepOf);

/** The `start` step's answer, kept at `$.ctx`: whether to run, and the attempt's size and timeout. */
export interface AttemptContext {
  proceed: boolean;
  taskId: string;
  attempt?: number;
  timeoutSeconds?: number;
  gpus?: number;
  cpu?: number;
  memoryMiB?: number;
  /** what runs the attempt: the runner image, or the agent image (trajectory tasks with no command) */
  runtime?: 'runner' | 'agent';
  /** the task definition of the task's own image (registered on demand), in place of the stack's */
  taskDefinition?: string;
  reason?: string;
}

/** The `failed` and `succeeded` steps' answer, kept at `$.decision`: another attempt after a wait, or done. */
export interface Decision {
  action: 'retry' | 'done';
  waitSeconds: number;
  status: string;
  reason?: string;
}

/**
 * The error the state machine reports in place of RunTask when the deployment has no compute (the
 * LocalStack target): the attempt cannot run anywhere, so the task fails at once with the cause.
 */
export const NO_COMPUTE_ERROR = 'Trainstack.NoCompute';

/** Where the execution's state keeps each value. */
export const PATH = {
  taskId: '$.taskId',
  /** the context object's execution name */
  execution: '$$.Execution.Name',
  ctx: '$.ctx',
  decision: '$.decision',
  error: '$.error',
} as const;

const CONTEXT_FIELDS = {
  proceed: 1,
  taskId: 1,
  attempt: 1,
  timeoutSeconds: 1,
  gpus: 1,
  cpu: 1,
  memoryMiB: 1,
  runtime: 1,
  taskDefinition: 1,
  reason: 1,
} satisfies Record<keyof AttemptContext, 1>;
const DECISION_FIELDS = { action: 1, waitSeconds: 1, status: 1, reason: 1 } satisfies Record<
  keyof Decision,
  1
>;
export const CONTEXT_KEYS = Object.keys(CONTEXT_FIELDS) as (keyof AttemptContext)[];
export const DECISION_KEYS = Object.keys(DECISION_FIELDS) as (keyof Decision)[];

/** `$.ctx.<field>`, typed by the result the state machine reads. */
export const ctxPath = (field: keyof AttemptContext) => `${PATH.ctx}.${field}`;
/** `$.decision.<field>` */
export const decisionPath = (field: keyof Decision) => `${PATH.decision}.${field}`;
