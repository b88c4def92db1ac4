/**
 * The workflow's bookkeeping steps. The state machine owns control flow (the attempt loop, the
 * timeout, the wait between attempts); these steps own the record: they start an attempt, classify
 * how it ended and decide whether another one runs. Each is idempotent: a repeated step changes nothing.
 * Their inputs and answers are the contract in `lambdas/contracts/workflow-step.ts`.
 */

import type { AttemptContext, Decision, StepError } from '../contracts/workflow-step.ts';
import {
  backoffSeconds,
  type Classified,
  classifyFailure,
  MAX_INFRA_RETRIES,
  MAX_PULL_FAILURES,
  PULL_FAILED,
} from './classify.ts';
import type { Logger } from './logger.ts';
import type { Attempt, TaskRecord } from './model.ts';
import type { Clock, Containers, Waker } from './ports.ts';
import { isCurrentRun } from './runs.ts';
import { TERMINAL } from './status.ts';
import { mustGet, type TaskRepository } from './task-repository.ts';
import { costOf, durationOf } from './time.ts';

export interface StepDeps {
  store: TaskRepository;
  waker: Waker;
  containers: Containers;
  clock: Clock;
  logger: Logger;
  bucketName: string;
  random?: () => number;
  /** hourly price of one GPU for the cost estimate */
  gpuHourlyUsd?: number;
  /** hourly price of a CPU-only (Fargate) task for the cost estimate */
  cpuHourlyUsd?: number;
  /**
   * The task containers' log stream prefix (`<awslogs prefix>/<container>`): an attempt whose runner
   * died before recording its stream still gets one, from its ECS task id, so its log can be read.
   */
  logStreamPrefix?: string;
  /** Task definitions for tasks' own images (lambdas/domain/images.ts); none: no compute to run them */
  images?: { taskDefinitionFor(image: string, gpus: number, credentials?: string): Promise<string> };
}

/** A step of an execution that no longer runs the task (see `runs.ts`): it changes nothing. */
const stale = (task: TaskRecord, execution: string | undefined) =>
  execution !== undefined && !isCurrentRun(task, execution);
const superseded = (task: TaskRecord, execution: string | undefined) =>
  `execution ${execution} is not the task's current run (${task.runs ?? 1}): it changes nothing`;

function contextOf(task: TaskRecord, attempt: number): AttemptContext {
  return {
    proceed: true,
    taskId: task.taskId,
    attempt,
    timeoutSeconds: task.spec.timeoutSeconds,
    gpus: task.spec.gpus ?? 0,
    cpu: task.spec.cpu ?? 1024,
    memoryMiB: task.spec.memoryMiB ?? 4096,
    runtime: task.spec.type === 'trajectory' && !task.spec.command?.length ? 'agent' : 'runner',
  };
}

/** The attempt's context, with the task definition of the task's own image when it names one. */
async function runnable(deps: StepDeps, task: TaskRecord, attempt: number): Promise<AttemptContext> {
  const ctx = contextOf(task, attempt);
  const { image, imageCredentials } = task.spec;
  if (!image || !deps.images) return ctx;
  return {
    ...ctx,
    taskDefinition: await deps.images.taskDefinitionFor(image, ctx.gpus ?? 0, imageCredentials),
  };
}

/** Begin an attempt: the task goes to STARTING with a new attempt record, unless it was cancelled. */
export async function startAttempt(
  deps: StepDeps,
  taskId: string,
  execution?: string,
): Promise<AttemptContext> {
  const { store, clock } = deps;
  const task = await mustGet(store, taskId);
  if (stale(task, execution)) return { proceed: false, taskId, reason: superseded(task, execution) };
  if (TERMINAL.has(task.status) || task.status === 'QUEUED') {
    return { proceed: false, taskId, reason: `task is ${task.status}` };
  }
  const last = task.attempts.at(-1);
  if (last && !last.endedAt && (task.status === 'STARTING' || task.status === 'RUNNING')) {
    return runnable(deps, task, last.attempt); // repeated step: the attempt already started
  }
  const now = clock.now().toISOString();
  const attempt: Attempt = { attempt: task.attempts.length + 1, startedAt: now };
  const set = task.startedAt ? {} : { startedAt: now };
  if (task.status === 'RETRYING') {
    const { task: next } = await store.transition(task, {
      from: 'RETRYING',
      to: 'STARTING',
      reason: `attempt ${attempt.attempt}: waiting for GPU capacity and the container to start`,
      appendAttempt: attempt,
      set,
      now,
    });
    return runnable(deps, next, next.attempts.length);
  }
  const next = await store.recordAttemptStart(task, attempt, {
    ...set,
    statusReason: `attempt ${attempt.attempt}: waiting for GPU capacity and the container to start`,
  });
  return runnable(deps, next, next.attempts.length);
}

function endOf(
  task: TaskRecord,
  now: string,
  c: Partial<Omit<Classified, 'outcome'>> & { outcome: string },
  logStreamPrefix?: string,
): Attempt {
  const last = task.attempts.at(-1) ?? { attempt: task.attempts.length, startedAt: now };
  const ecsTaskId = c.ecsTaskArn?.split('/').pop();
  return {
    ...(!last.logStream && ecsTaskId && logStreamPrefix
      ? { logStream: `${logStreamPrefix}/${ecsTaskId}` }
      : {}),
    ...last,
    endedAt: now,
    outcome: c.outcome,
    ...(c.exitCode !== undefined ? { exitCode: c.exitCode } : {}),
    ...(c.reason ? { reason: c.reason } : {}),
    ...(c.ecsTaskArn ? { ecsTaskArn: c.ecsTaskArn } : {}),
  };
}

/** What the task's compute cost: its GPUs at the GPU price, or (CPU only, on Fargate) the CPU task price. */
/** An attempt's container ended with an error: record it and decide whether another attempt runs. */
export async function attemptFailed(
  deps: StepDeps,
  input: { taskId: string; execution?: string; error?: StepError },
): Promise<Decision> {
  const { store, clock, logger, containers, waker } = deps;
  const task = await mustGet(store, input.taskId);
  if (stale(task, input.execution))
    return { action: 'done', waitSeconds: 0, status: task.status, reason: superseded(task, input.execution) };
  if (TERMINAL.has(task.status)) return { action: 'done', waitSeconds: 0, status: task.status };
  const now = clock.now();
  const nowIso = now.toISOString();
  const c = classifyFailure(input.error?.Error ?? 'Unknown', input.error?.Cause, task.spec.timeoutSeconds);
  // the runner's or the workload's own words for this attempt, where it gave them
  const note = task.runnerNote?.attempt === task.attempts.length ? task.runnerNote.text : undefined;
  if (note && c.outcome === 'unrunnable') c.reason = note;
  else if (note && c.outcome === 'workload') c.reason = `${c.reason}: ${note}`;
  const endAttempt = {
    index: task.attempts.length - 1,
    attempt: endOf(task, nowIso, c, deps.logStreamPrefix),
  };
  logger.info('attempt failed', { taskId: task.taskId, attempt: task.attempts.length, ...c });

  const fail = async (reason: string) => {
    const duration = durationOf(task, now);
    await store.transition(task, {
      from: task.status,
      to: 'FAILED',
      reason,
      set: { finishedAt: nowIso, ...duration, ...costOf(task, duration.durationSeconds, deps) },
      ...(task.attempts.length ? { endAttempt } : {}),
      now: nowIso,
    });
    await waker.wake({ taskId: task.taskId, why: 'slot freed' });
    return { action: 'done' as const, waitSeconds: 0, status: 'FAILED', reason };
  };
  const retry = async (reason: string, waitSeconds: number, retryCount: number) => {
    await store.transition(task, {
      from: task.status,
      to: 'RETRYING',
      reason: `${reason}; next attempt in ${waitSeconds} s`,
      set: { retryCount },
      ...(task.attempts.length ? { endAttempt } : {}),
      now: nowIso,
    });
    return { action: 'retry' as const, waitSeconds, status: 'RETRYING', reason };
  };

  if (c.outcome === 'unrunnable') return fail(c.reason);
  if (c.outcome === 'timeout') {
    // the state timed out; make sure the container is gone too
    await containers.stopForTask(task.taskId, c.reason, task.attempts.at(-1)?.ecsTaskArn);
    return fail(c.reason);
  }
  if (c.pull) {
    // no such image, or no access to it: worth a retry or two (a registry's hiccup), not twenty
    const pulls = 1 + task.attempts.filter((a) => a.reason?.startsWith(PULL_FAILED)).length;
    if (pulls >= MAX_PULL_FAILURES)
      return fail(
        `the image ${task.spec.image ?? '(the task image)'} could not be pulled (${pulls} attempts): ${c.reason.slice(PULL_FAILED.length + 2)}`,
      );
  }
  if (c.outcome === 'infrastructure' || c.outcome === 'stopped') {
    const infra = task.attempts.filter(
      (a) => a.outcome === 'infrastructure' || a.outcome === 'stopped',
    ).length;
    if (infra >= MAX_INFRA_RETRIES)
      return fail(`${c.reason} (gave up after ${infra} infrastructure failures)`);
    return retry(
      `attempt ${task.attempts.length} lost to infrastructure: ${c.reason}`,
      backoffSeconds(infra, deps.random),
      task.retryCount,
    );
  }
  const attempts = task.attempts.length;
  if (task.retryCount < task.spec.maxRetries) {
    return retry(
      `attempt ${attempts} failed: ${c.reason} (retry ${task.retryCount + 1} of ${task.spec.maxRetries})`,
      backoffSeconds(task.retryCount, deps.random),
      task.retryCount + 1,
    );
  }
  return fail(`failed after ${attempts} attempt(s): ${c.reason}`);
}

/** An attempt's container exited 0: the task SUCCEEDED. */
export async function attemptSucceeded(
  deps: StepDeps,
  input: { taskId: string; execution?: string },
): Promise<Decision> {
  const { store, clock, waker } = deps;
  const task = await mustGet(store, input.taskId);
  if (stale(task, input.execution))
    return { action: 'done', waitSeconds: 0, status: task.status, reason: superseded(task, input.execution) };
  if (TERMINAL.has(task.status)) return { action: 'done', waitSeconds: 0, status: task.status };
  const now = clock.now();
  const nowIso = now.toISOString();
  const duration = durationOf(task, now);
  await store.transition(task, {
    from: task.status,
    to: 'SUCCEEDED',
    set: {
      progress: 100,
      finishedAt: nowIso,
      resultLocation: `s3://${deps.bucketName}/tasks/${task.taskId}/`,
      ...duration,
      ...costOf(task, duration.durationSeconds, deps),
    },
    ...(task.attempts.length
      ? {
          endAttempt: {
            index: task.attempts.length - 1,
            attempt: endOf(task, nowIso, { outcome: 'succeeded', exitCode: 0 }),
          },
        }
      : {}),
    now: nowIso,
  });
  await waker.wake({ taskId: task.taskId, why: 'slot freed' });
  return { action: 'done', waitSeconds: 0, status: 'SUCCEEDED' };
}
