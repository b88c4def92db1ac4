/**
 * The reconciler, run on the dispatcher's schedule: no task may hold a concurrency slot without a
 * workflow execution running it. An active task whose claim never started an execution goes back to
 * the queue; one whose execution has ended (or is gone) without recording the end of its attempt is
 * ended FAILED, with a reason that says so; either way its slot is freed.
 */
import type { Logger } from './logger.ts';
import type { TaskRecord } from './model.ts';
import type { Clock, Executions, Waker } from './ports.ts';
import { isCurrentRun } from './runs.ts';
import type { TaskRepository } from './task-repository.ts';
import { durationOf } from './time.ts';

export interface ReconcileDeps {
  store: TaskRepository;
  executions: Executions;
  waker: Waker;
  clock: Clock;
  logger: Logger;
}

export interface ReconcileOptions {
  /** A claim may take this long to record its execution before it is undone. @default 300 */
  startGraceSeconds?: number;
  /** At most this many tasks per status looked at in one pass (DescribeExecution is throttled). @default 50 */
  limit?: number;
}

export interface ReconcileResult {
  checked: number;
  requeued: string[];
  failed: string[];
}

export async function reconcile(deps: ReconcileDeps, o: ReconcileOptions = {}): Promise<ReconcileResult> {
  const { store, executions, clock, logger } = deps;
  const grace = (o.startGraceSeconds ?? 300) * 1000;
  const result: ReconcileResult = { checked: 0, requeued: [], failed: [] };
  for (const status of ['STARTING', 'RUNNING', 'RETRYING'] as const) {
    const page = await store.list({ status, limit: o.limit ?? 50 });
    for (const listed of page.items) {
      result.checked++;
      const now = clock.now();
      // a retried task keeps its last run's execution until the new one is recorded: not this run's
      if (!listed.executionArn || !isCurrentRun(listed, listed.executionArn)) {
        const since = Date.parse(listed.dispatchedAt ?? listed.updatedAt ?? listed.createdAt);
        if (status !== 'STARTING' || now.getTime() - since < grace) continue;
        if (await settle(deps, listed, 'QUEUED', 'requeued: its workflow never started after dispatch'))
          result.requeued.push(listed.taskId);
        continue;
      }
      const state = await executions.status(listed.executionArn);
      if (state === 'RUNNING') continue;
      const reason = `its workflow execution ${state === 'MISSING' ? 'is gone' : `ended ${state}`} without recording the end of attempt ${listed.attempts.length}; retry it to run again`;
      if (await settle(deps, listed, 'FAILED', reason)) result.failed.push(listed.taskId);
    }
  }
  if (result.requeued.length || result.failed.length) {
    logger.warn('reconciled tasks without a running workflow', { ...result });
    await deps.waker.wake({ why: 'slots freed by the reconciler' });
  }
  return result;
}

/** Move the task if it is still as it was listed (a step that raced us wins). */
async function settle(
  deps: ReconcileDeps,
  listed: TaskRecord,
  to: 'QUEUED' | 'FAILED',
  reason: string,
): Promise<boolean> {
  const task = await deps.store.get(listed.taskId);
  if (!task || task.status !== listed.status || task.executionArn !== listed.executionArn) return false;
  const now = deps.clock.now();
  const last = task.attempts.at(-1);
  try {
    await deps.store.transition(task, {
      from: task.status,
      to,
      reason,
      ...(to === 'FAILED' ? { set: { finishedAt: now.toISOString(), ...durationOf(task, now) } } : {}),
      ...(to === 'FAILED' && last && !last.endedAt
        ? {
            endAttempt: {
              index: task.attempts.length - 1,
              attempt: { ...last, endedAt: now.toISOString(), outcome: 'infrastructure', reason },
            },
          }
        : {}),
      now: now.toISOString(),
    });
    return true;
  } catch (e) {
    if (e instanceof Error && (e as { status?: number }).status === 409) return false;
    throw e;
  }
}
