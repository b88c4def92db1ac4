/**
 * The dispatcher: claims the highest-priority queued tasks up to the free concurrency slots and starts
 * one workflow execution per claim. Each claim is a new run of the task, and the execution is named
 * by the task id and the run (`<taskId>-<run>`): a duplicate wake-up cannot claim twice, and a task
 * that runs again (a manual retry) gets a name AWS has not seen.
 */
import type { Logger } from './logger.ts';
import type { TaskRecord } from './model.ts';
import { type Clock, ExecutionFinished, type Executions } from './ports.ts';
import { executionName } from './runs.ts';
import { QUEUE_EXPIRED } from './status.ts';
import { CapacityFull, ModelFull, type TaskRepository } from './task-repository.ts';

export { executionName };

/** How far down the queue one pass looks for tasks it can start. */
const MAX_WINDOW = 1000;

export interface DispatchConfig {
  maxConcurrentTasks: number;
}

export interface DispatchResult {
  started: string[];
  expired: string[];
  freeSlots: number;
}

export interface DispatchDeps {
  store: TaskRepository;
  executions: Executions;
  clock: Clock;
  logger: Logger;
}

export async function dispatch(deps: DispatchDeps, config: DispatchConfig): Promise<DispatchResult> {
  const { store, executions, clock, logger } = deps;
  const started: string[] = [];
  const expired: string[] = [];
  const seen = new Set<string>();
  // models found offline or with every worker busy in this pass: their tasks wait, the others go on
  const fullModels = new Set<string>();
  let passedOver = 0;
  for (;;) {
    const free = config.maxConcurrentTasks - (await store.activeSlots());
    if (free <= 0) return { started, expired, freeSlots: 0 };
    // read a little more than the free slots (the index is eventually consistent and may show claimed
    // tasks), and past the tasks of full models, so they never hold up another model's
    const limit = Math.min(free + 5 + passedOver, MAX_WINDOW);
    const fetched = await store.nextQueued(limit, fullModels);
    const candidates = fetched.filter((t) => !seen.has(t.taskId));
    if (!candidates.length) return { started, expired, freeSlots: free };
    let claimedAny = false;
    for (const candidate of candidates) {
      seen.add(candidate.taskId);
      if (modelsOf(candidate).some((m) => fullModels.has(m))) {
        passedOver++;
        continue;
      }
      // the index's copy, not a read of the record: the claim's condition (the updatedAt it shows)
      // refuses a copy the index had not yet caught up with
      let task: TaskRecord = candidate;
      if (task.status !== 'QUEUED') continue;
      if (await expireIfWaitedTooLong(store, task, clock)) {
        expired.push(task.taskId);
        continue;
      }
      try {
        const now = clock.now().toISOString();
        const { applied, task: claimed } = await store.transition(task, {
          from: 'QUEUED',
          to: 'STARTING',
          reason: 'dispatched: starting the workflow',
          set: { dispatchedAt: now, runs: (task.runs ?? 0) + 1 },
          activeCap: config.maxConcurrentTasks,
          unchangedSince: task.updatedAt,
          now,
        });
        if (!applied) continue;
        task = claimed;
      } catch (e) {
        if (e instanceof CapacityFull) return { started, expired, freeSlots: 0 };
        if (e instanceof ModelFull) {
          if (e.gone) {
            // its model was removed while it waited: it can never run, so it ends with the reason
            try {
              await store.transition(task, {
                from: 'QUEUED',
                to: 'FAILED',
                reason: `its model (${e.modelId === task.modelId && task.spec.type === 'inference' ? task.spec.params.model : e.modelId}) was removed while it waited`,
                set: { finishedAt: clock.now().toISOString() },
                unchangedSince: task.updatedAt,
              });
            } catch (err) {
              if (isConflict(err)) continue;
              throw err;
            }
            expired.push(task.taskId);
            continue;
          }
          fullModels.add(e.modelId);
          passedOver++;
          continue;
        }
        if (isConflict(e)) continue;
        throw e;
      }
      claimedAny = true;
      const name = executionName(task);
      try {
        const executionArn = await executions.start(task.taskId, name);
        await store.setExecutionArn(task.taskId, executionArn);
        started.push(task.taskId);
        logger.info('task dispatched', { taskId: task.taskId, priority: task.priority, executionArn });
      } catch (e) {
        if (!(e instanceof ExecutionFinished)) throw e;
        // cannot happen with fresh run names; if it does, end the task rather than hold a slot forever
        // (this pass sees the freed slot when it reads the stats again)
        await store.transition(task, {
          from: 'STARTING',
          to: 'FAILED',
          reason: `its workflow execution ${name} had already ended (${e.status}); retry it to run again`,
          set: { finishedAt: clock.now().toISOString() },
        });
      }
    }
    if (!claimedAny && fetched.length < limit) return { started, expired, freeSlots: free };
  }
}

/** Another step changed the task first (a 409 from the repository). */
const isConflict = (e: unknown) => e instanceof Error && (e as { status?: number }).status === 409;

/** The registered models a task takes a worker of: its model, and a mixed batch file's others. */
const modelsOf = (t: Pick<TaskRecord, 'modelId' | 'otherModelIds'>) =>
  t.modelId ? [t.modelId, ...(t.otherModelIds ?? [])] : [];

async function expireIfWaitedTooLong(
  store: TaskRepository,
  task: TaskRecord,
  clock: Clock,
): Promise<boolean> {
  const limit = task.spec.maxQueueWaitSeconds;
  if (!limit) return false;
  const now = clock.now();
  if (now.getTime() - Date.parse(task.createdAt) < limit * 1000) return false;
  try {
    await store.transition(task, {
      from: 'QUEUED',
      to: 'FAILED',
      reason: `${QUEUE_EXPIRED} (${limit} s)`,
      set: { finishedAt: now.toISOString() },
      unchangedSince: task.updatedAt,
      now: now.toISOString(),
    });
  } catch (e) {
    // changed since the index's copy (cancelled, say): the claim that follows is refused too
    if (isConflict(e)) return false;
    throw e;
  }
  return true;
}
