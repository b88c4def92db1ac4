/**
 * Crash recovery for a local cloud restarted on its data folder: tasks that were running when it
 * stopped lost their host. Each is recorded as an infrastructure failure by the workflow's own step
 * (so it does not use up maxRetries) and, if the step says so, runs again; tasks that were between
 * attempts continue with their next one.
 */
import { type Decision, STEP } from '../../lambdas/contracts/workflow-step.ts';
import type { TaskRecord } from '../../lambdas/domain/model.ts';
import type { TaskRepository } from '../../lambdas/domain/task-repository.ts';

export interface RecoveryDeps {
  readonly repo: Pick<TaskRepository, 'list'>;
  /** the workflow-step function */
  readonly step: (event: unknown) => Promise<unknown>;
  /** start the workflow execution of the task's current run again */
  readonly restart: (task: TaskRecord) => void;
  readonly log: (msg: string, extra?: object) => void;
}

/** What ECS reports for a task whose instance went away (the workflow classes it as infrastructure). */
export const HOST_LOST = {
  Error: 'States.TaskFailed',
  Cause: JSON.stringify({
    StopCode: 'TerminationNotice',
    StoppedReason: 'Host EC2 (local cloud) terminated: the local cloud was restarted',
  }),
};

export async function recoverInterrupted(d: RecoveryDeps): Promise<number> {
  let recovered = 0;
  for (const status of ['STARTING', 'RUNNING', 'RETRYING'] as const) {
    let cursor: string | undefined;
    do {
      const page = await d.repo.list({ status, limit: 100, ...(cursor ? { cursor } : {}) });
      for (const task of page.items) {
        recovered++;
        if (status === 'RETRYING') {
          d.restart(task);
          continue;
        }
        const decision = (await d.step({
          action: STEP.failed,
          taskId: task.taskId,
          error: HOST_LOST,
        })) as Decision;
        if (decision.action === 'retry') d.restart(task);
        d.log('recovered an interrupted task', {
          taskId: task.taskId,
          was: status,
          decision: decision.action,
        });
      }
      cursor = page.cursor;
    } while (cursor);
  }
  return recovered;
}
