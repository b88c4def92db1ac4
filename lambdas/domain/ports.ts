/** The narrow interfaces domain code needs from the outside world (implemented over AWS in clients/). */

/** Wakes the dispatcher (an SQS message in AWS). */
export interface Waker {
  wake(reason: { taskId?: string; why: string }): Promise<void>;
}

/** Starts and stops workflow executions (Step Functions in AWS). */
export interface Executions {
  /** Idempotent by name: starting the same task twice starts one execution. */
  start(taskId: string): Promise<string>;
  stop(executionArn: string, cause: string): Promise<void>;
}

/** Stops the containers of a task (ECS in AWS); used when an attempt timed out. */
export interface Containers {
  /** Stop the task's running containers: the one named, or any found running for the task. */
  stopForTask(taskId: string, reason: string, ecsTaskArn?: string): Promise<number>;
}

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };
