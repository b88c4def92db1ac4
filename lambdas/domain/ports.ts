/**
 * The narrow interfaces domain code needs from the outside world, implemented over AWS in
 * `lambdas/clients/` (the task repository has its own module, `task-repository.ts`).
 */

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

/** One line of a task's log. */
export interface LogLine {
  timestamp: number;
  message: string;
}

/** Reads a task attempt's log stream in order (CloudWatch Logs in AWS). */
export interface LogReader {
  read(
    logStream: string,
    opts: { cursor?: string; limit: number },
  ): Promise<{ lines: LogLine[]; cursor?: string }>;
}

export interface Artifact {
  key: string;
  size: number;
  lastModified?: string;
  /** a time-limited download link */
  url: string;
}

/** Lists and reads what tasks left in the artifacts bucket (S3 in AWS). */
export interface ArtifactReader {
  list(prefix: string): Promise<Artifact[]>;
  getText(key: string): Promise<string | undefined>;
}

/** One dependency the health route checks. */
export interface HealthCheck {
  name: string;
  check(): Promise<void>;
}

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };
