/**
 * A task's runs: each claim by the dispatcher is a new run, executed by a workflow execution named
 * `<taskId>-<run>`. Only the current run's execution may change the record; an older one (ended by
 * the reconciler, or still winding down when the task was retried) is stale.
 */
import type { TaskRecord } from './model.ts';

/** The workflow execution name of the task's current run (at most 80 characters). */
export const executionName = (t: Pick<TaskRecord, 'taskId' | 'runs'>) => `${t.taskId}-${t.runs ?? 1}`;

/** Whether an execution (by name, or by ARN, whose last part is the name) runs the task's current run. */
export const isCurrentRun = (t: Pick<TaskRecord, 'taskId' | 'runs'>, execution: string) =>
  execution.split(':').at(-1) === executionName(t);
