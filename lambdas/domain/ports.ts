/**
 * The narrow interfaces domain code needs from the outside world, implemented over AWS in
 * `lambdas/clients/` (the task repository has its own module, `task-repository.ts`).
 */

/** Wakes the dispatcher (an SQS message in AWS). */
export interface Waker {
  wake(reason: { taskId?: string; why: string }): Promise<void>;
}

/** What a workflow execution is doing; `MISSING` when there is none by that ARN. */
export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED' | 'MISSING';

/** Starts, stops and looks at workflow executions (Step Functions in AWS). */
export interface Executions {
  /**
   * Start the execution of one run of a task, by name. Idempotent while it runs: the same name again
   * answers the running execution. A name whose execution already finished is refused
   * (`ExecutionFinished`), since AWS never reuses a name.
   */
  start(taskId: string, name: string): Promise<string>;
  stop(executionArn: string, cause: string): Promise<void>;
  status(executionArn: string): Promise<ExecutionStatus>;
}

/** The execution of this name finished earlier: a new run needs a new name. */
export class ExecutionFinished extends Error {
  constructor(
    readonly executionArn: string,
    readonly status: ExecutionStatus,
  ) {
    super(`execution ${executionArn} already ended (${status})`);
    this.name = 'ExecutionFinished';
  }
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
