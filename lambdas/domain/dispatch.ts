/**
 * The dispatcher: claims the highest-priority queued tasks up to the free concurrency slots and starts
 * one workflow execution per task, named by the task id (so a duplicate wake-up never starts one twice).
 */
import type { Logger } from './logger.ts';
import type { TaskRecord } from './model.ts';
import type { Clock, Executions } from './ports.ts';
import { CapacityFull, type TaskRepository } from './task-repository.ts';

export interface DispatchConfig {
  maxConcurrentTasks: number;
}

export interface DispatchResult {
  started: string[];
  expired: string[];
  freeSlots: number;
}

export async function dispatch(
  deps: { store: TaskRepository; executions: Executions; clock: Clock; logger: Logger },
  config: DispatchConfig,
): Promise<DispatchResult> {
  const { store, executions, clock, logger } = deps;
  const started: string[] = [];
  const expired: string[] = [];
  const seen = new Set<string>();
  for (;;) {
    const stats = await store.stats();
    const free = config.maxConcurrentTasks - stats.active;
    if (free <= 0) return { started, expired, freeSlots: 0 };
    // read a little more than the free slots: the index is eventually consistent and may show claimed tasks
    const candidates = (await store.nextQueued(free + 5)).filter((t) => !seen.has(t.taskId));
    if (!candidates.length) return { started, expired, freeSlots: free };
    let claimedAny = false;
    for (const candidate of candidates) {
      seen.add(candidate.taskId);
      const task = await store.get(candidate.taskId);
      if (task?.status !== 'QUEUED') continue;
      if (await expireIfWaitedTooLong(store, task, clock)) {
        expired.push(task.taskId);
        continue;
      }
      try {
        const now = clock.now().toISOString();
        const { applied } = await store.transition(task, {
          from: 'QUEUED',
          to: 'STARTING',
          reason: 'dispatched: starting the workflow',
          set: { dispatchedAt: now } as Partial<TaskRecord>,
          activeCap: config.maxConcurrentTasks,
          now,
        });
        if (!applied) continue;
      } catch (e) {
        if (e instanceof CapacityFull) return { started, expired, freeSlots: 0 };
        if (e instanceof Error && (e as { status?: number }).status === 409) continue;
        throw e;
      }
      claimedAny = true;
      const executionArn = await executions.start(task.taskId);
      await store.setExecutionArn(task.taskId, executionArn);
      started.push(task.taskId);
      logger.info('task dispatched', { taskId: task.taskId, priority: task.priority, executionArn });
    }
    if (!claimedAny && candidates.length < free + 5) return { started, expired, freeSlots: free };
  }
}

async function expireIfWaitedTooLong(
  store: TaskRepository,
  task: TaskRecord,
  clock: Clock,
): Promise<boolean> {
  const limit = task.spec.maxQueueWaitSeconds;
  if (!limit) return false;
  const now = clock.now();
  if (now.getTime() - Date.parse(task.createdAt) < limit * 1000) return false;
  await store.transition(task, {
    from: 'QUEUED',
    to: 'FAILED',
    reason: `waited in the queue longer than maxQueueWaitSeconds (${limit} s)`,
    set: { finishedAt: now.toISOString() },
    now: now.toISOString(),
  });
  return true;
}
