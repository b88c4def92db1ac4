/**
 * The task repository port: where task records and their stats live. The domain depends on this
 * interface only; `lambdas/clients/dynamodb-tasks.ts` implements it over one DynamoDB table and
 * `lambdas/clients/memory-tasks.ts` in memory (fast tests, benchmarks, the GPU check).
 *
 * Contract every implementation keeps:
 * - a status change and its counters move together, conditioned on the expected status and on the
 *   number of attempts read, so a repeated or raced step never counts twice;
 * - a change that takes a concurrency slot is refused (`CapacityFull`) when `active` would pass the cap;
 * - `nextQueued` is highest priority first, first come within a priority.
 */
import { notFound } from './errors.ts';
import type { Attempt, TaskRecord } from './model.ts';
import type { Status, TaskType } from './status.ts';

export interface TransitionRequest {
  from: Status;
  to: Status;
  reason?: string;
  /** extra attributes to set on the record */
  set?: Partial<TaskRecord>;
  /** append this attempt to `attempts` */
  appendAttempt?: Attempt;
  /** replace the last attempt (index = attempts.length - 1) */
  endAttempt?: { index: number; attempt: Attempt };
  /** the transition also takes a concurrency slot and must leave `active` <= cap */
  activeCap?: number;
  /**
   * The record's `updatedAt` as the caller read it: the change is refused (as one that another step
   * made first) if the record changed since. For a copy read from an index, which may lag the table:
   * the write checks it instead of a read before it.
   */
  unchangedSince?: string;
  now?: string;
}

export interface TransitionResult {
  /** false when the task was already in `to` (a repeated step): nothing was written */
  applied: boolean;
  task: TaskRecord;
}

export interface Stats {
  total: number;
  byStatus: Record<string, number>;
  byType: Record<string, number>;
  byTypeStatus: Record<string, Record<string, number>>;
  active: number;
  /** GPUs held by dispatched tasks */
  activeGpus: number;
  runSecondsSum: number;
  /** the estimated cost of the tasks that ended, in millionths of a dollar */
  costMicroUsd?: number;
  runCount: number;
  waitSecondsSum: number;
  waitCount: number;
}

export interface ModelStats extends Stats {
  promptTokens: number;
  completionTokens: number;
  /** requests that succeeded in tasks that ended, and the sum of their latencies */
  requestsSucceeded: number;
  latencyMsSum: number;
}

export interface DailyCounts {
  date: string;
  submitted: number;
  succeeded: number;
  failed: number;
  cancelled: number;
}

export interface Page<T> {
  items: T[];
  /** opaque; pass it back to get the next page */
  cursor?: string;
}

export interface ListFilter {
  /** only this owner's tasks */
  owner?: string;
  /** only this batch's tasks (oldest first, and no other filter) */
  batchId?: string;
  status?: Status;
  type?: TaskType;
  /** only tasks that call this registered model (an inference or agent task's, or one of a batch file's others) */
  modelId?: string;
  limit: number;
  cursor?: string;
}

/** A batch: tasks submitted together (a tasks.jsonl file, in one request or several). */
export interface BatchRecord {
  batchId: string;
  owner: string;
  name?: string;
  createdAt: string;
}

/** What became of a batch's lines: received, accepted (new tasks), already known (same id), refused. */
export interface BatchLines {
  lines: number;
  accepted: number;
  duplicates: number;
  rejected: number;
}

export interface BatchState extends BatchRecord, BatchLines {
  /** the counters of the tasks it created, by status */
  stats: Stats;
}

export interface ProgressPatch {
  progress?: number;
  metrics?: Record<string, number>;
  resourceUsage?: object;
  /** a single-input inference task's answer */
  output?: string;
  /** why the attempt ends, in the runner's or the workload's words */
  runnerNote?: { attempt: number; text: string };
}

/** A submit or a retry found the task's lockKey held by another of its owner's tasks. */
export class LockHeld extends Error {
  constructor(
    readonly key: string,
    readonly holder: string | undefined,
  ) {
    super(`lockKey ${key} is held by task ${holder ?? '(unknown)'}`);
    this.name = 'LockHeld';
  }
}

export interface TaskRepository {
  /** Store a new QUEUED task and count it; with an idempotency key already used, answer that task. */
  create(task: TaskRecord): Promise<{ task: TaskRecord; created: boolean }>;
  /**
   * Store many new tasks (a batch request) as `create` would one by one, in fewer writes; answers in
   * the same order, with the error of those that could not be stored (the others are).
   */
  createMany(tasks: TaskRecord[]): Promise<({ task: TaskRecord; created: boolean } | { error: Error })[]>;
  findByIdempotencyKey(owner: string, key: string): Promise<TaskRecord | undefined>;
  get(taskId: string): Promise<TaskRecord | undefined>;
  /**
   * Move a task from `from` to `to` with its counters. If the task is no longer in `from` nothing is
   * written: when it is already in `to` the result says `applied: false`; otherwise a 409 is thrown.
   */
  transition(task: TaskRecord, req: TransitionRequest): Promise<TransitionResult>;
  /** A new attempt while the status stays STARTING (the first attempt after dispatch). */
  recordAttemptStart(task: TaskRecord, attempt: Attempt, set: Partial<TaskRecord>): Promise<TaskRecord>;
  /** Remember the workflow execution that runs the task (so cancel can stop it). */
  setExecutionArn(taskId: string, executionArn: string): Promise<void>;
  /** Progress, metrics and usage of the running attempt; false (and no write) once that attempt ended. */
  updateProgress(taskId: string, attempt: number, patch: ProgressPatch): Promise<boolean>;
  /** Newest first. */
  list(filter: ListFilter): Promise<Page<TaskRecord>>;
  /** The highest-priority queued tasks, first come first within a priority (may lag behind writes). */
  /** `passOver`: models whose tasks to leave out (found full or offline in this pass). */
  nextQueued(limit: number, passOver?: ReadonlySet<string>): Promise<TaskRecord[]>;
  /** Queued tasks ahead of this one, counted up to `cap` (beyond it the answer is "at least cap"). */
  queuePosition(task: TaskRecord, cap?: number): Promise<{ ahead: number; atLeast: boolean }>;
  /** Every owner's counters, or one owner's. */
  stats(owner?: string): Promise<Stats>;
  /** The slots held against the concurrency cap (every owner's tasks): one small read, for the dispatcher. */
  activeSlots(): Promise<number>;
  /** The counters of one model's tasks, with the tokens of those that ended. */
  modelStats(modelId: string): Promise<ModelStats>;
  /** Record a new batch (its id must be new). */
  createBatch(batch: BatchRecord): Promise<void>;
  /** Count lines into a batch. */
  countBatchLines(batchId: string, add: BatchLines): Promise<void>;
  getBatch(batchId: string): Promise<BatchState | undefined>;
  /** One row per day, oldest first, ending today: every owner's, or one owner's. */
  daily(days: number, now?: Date, owner?: string): Promise<DailyCounts[]>;
}

/** The task, or a 404 naming it. */
export async function mustGet(repo: Pick<TaskRepository, 'get'>, taskId: string): Promise<TaskRecord> {
  const t = await repo.get(taskId);
  if (!t) throw notFound(`task ${taskId}`);
  return t;
}

/** A claim of a task whose model is offline, gone, or has every worker busy. */
export class ModelFull extends Error {
  constructor(
    readonly modelId: string,
    /** the model was removed: its tasks can never run */
    readonly gone = false,
  ) {
    super(gone ? `model ${modelId} was removed` : `model ${modelId} is offline or has no free worker`);
    this.name = 'ModelFull';
  }
}

/** A transition that would take a slot beyond the concurrency cap. */
export class CapacityFull extends Error {
  constructor() {
    super('concurrency cap reached');
    this.name = 'CapacityFull';
  }
}
