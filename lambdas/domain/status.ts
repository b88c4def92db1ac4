/** Statuses and task types as plain values (no zod), for modules that must stay small. */
export const STATUSES = [
  'QUEUED',
  'STARTING',
  'RUNNING',
  'RETRYING',
  'SUCCEEDED',
  'FAILED',
  'CANCELLED',
] as const;
export type Status = (typeof STATUSES)[number];
export const TERMINAL: ReadonlySet<Status> = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);
/** Statuses that hold a concurrency slot: the task has been dispatched and not yet finished. */
export const ACTIVE: ReadonlySet<Status> = new Set(['STARTING', 'RUNNING', 'RETRYING']);

export const TASK_TYPES = ['training', 'trajectory', 'inference', 'container'] as const;
export type TaskType = (typeof TASK_TYPES)[number];

/** How the reason of a task that waited past its maxQueueWaitSeconds begins. */
export const QUEUE_EXPIRED = 'waited in the queue longer than maxQueueWaitSeconds';
