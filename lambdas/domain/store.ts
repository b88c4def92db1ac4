/**
 * TaskStore: the task records and their stats in one DynamoDB table.
 *
 * Items: `TASK#<id>` (the record, indexed by status, type and creation time, and while QUEUED by
 * priority), `STATS` (counters), `DAY#<yyyy-mm-dd>` (daily counters) and `IDEMP#<owner>#<key>`.
 * Every status change is one TransactWriteItems whose condition is the expected current status, so
 * the record and its counters move together and a duplicated step cannot count twice.
 */
import {
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  type QueryCommandInput,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import pRetry, { AbortError } from 'p-retry';
import { conflict, notFound } from './errors.ts';
import type { Attempt, TaskRecord } from './model.ts';
import { type Status, type TaskType, TERMINAL } from './status.ts';
import { canTransition, statsDelta, submitDelta } from './transitions.ts';

export const INDEX = {
  byStatus: 'byStatus',
  byType: 'byType',
  byCreated: 'byCreated',
  queue: 'queue',
} as const;
const STATS_PK = 'STATS';
const taskPk = (id: string) => `TASK#${id}`;
const dayPk = (iso: string) => `DAY#${iso.slice(0, 10)}`;
const createdKey = (t: Pick<TaskRecord, 'createdAt' | 'taskId'>) => `${t.createdAt}#${t.taskId}`;
/** Sort key of the priority queue index: higher priority first, then first come. */
export const queueSk = (t: Pick<TaskRecord, 'priority' | 'createdAt' | 'taskId'>) =>
  `${String(10 - t.priority).padStart(2, '0')}#${createdKey(t)}`;

type Doc = Pick<DynamoDBDocumentClient, 'send'>;

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
  now?: string;
}

export interface TransitionResult {
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
  runCount: number;
  waitSecondsSum: number;
  waitCount: number;
}

export interface Page<T> {
  items: T[];
  cursor?: string;
}

const isConditionFailure = (e: unknown) =>
  e instanceof Error &&
  (e.name === 'TransactionCanceledException' || e.name === 'ConditionalCheckFailedException');
const isTransactionConflict = (e: unknown) =>
  e instanceof Error &&
  e.name === 'TransactionCanceledException' &&
  /TransactionConflict/.test((e as Error & { message: string }).message);

export class TaskStore {
  constructor(
    private readonly doc: Doc,
    readonly tableName: string,
  ) {}

  /** Run a transaction, retrying (with backoff) only when DynamoDB says another transaction raced it. */
  private async transact(input: TransactWriteCommandInput): Promise<void> {
    await pRetry(
      async () => {
        try {
          await this.doc.send(new TransactWriteCommand(input));
        } catch (e) {
          if (isTransactionConflict(e)) throw e;
          throw new AbortError(e as Error);
        }
      },
      { retries: 8, minTimeout: 20, maxTimeout: 1000, randomize: true },
    );
  }

  async create(task: TaskRecord): Promise<{ task: TaskRecord; created: boolean }> {
    const item = {
      pk: taskPk(task.taskId),
      ...task,
      listPk: 'TASK',
      createdKey: createdKey(task),
      queuePk: 'Q',
      queueSk: queueSk(task),
    };
    const counters = submitDelta(task.type);
    const tx: NonNullable<TransactWriteCommandInput['TransactItems']> = [
      { Put: { TableName: this.tableName, Item: item, ConditionExpression: 'attribute_not_exists(pk)' } },
      this.addCounters(STATS_PK, counters),
      this.addCounters(dayPk(task.createdAt), { submitted: 1 }),
    ];
    if (task.idempotencyKey) {
      tx.push({
        Put: {
          TableName: this.tableName,
          Item: {
            pk: `IDEMP#${task.owner}#${task.idempotencyKey}`,
            taskId: task.taskId,
            createdAt: task.createdAt,
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      });
    }
    try {
      await this.transact({ TransactItems: tx });
      return { task, created: true };
    } catch (e) {
      if (task.idempotencyKey && isConditionFailure(e)) {
        const existing = await this.findByIdempotencyKey(task.owner, task.idempotencyKey);
        if (existing) return { task: existing, created: false };
      }
      throw e;
    }
  }

  async findByIdempotencyKey(owner: string, key: string): Promise<TaskRecord | undefined> {
    const out = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: `IDEMP#${owner}#${key}` },
        ConsistentRead: true,
      }),
    );
    const id = out.Item?.taskId as string | undefined;
    return id ? this.get(id) : undefined;
  }

  async get(taskId: string): Promise<TaskRecord | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: taskPk(taskId) }, ConsistentRead: true }),
    );
    return out.Item as TaskRecord | undefined;
  }

  async mustGet(taskId: string): Promise<TaskRecord> {
    const t = await this.get(taskId);
    if (!t) throw notFound(`task ${taskId}`);
    return t;
  }

  private addCounters(pk: string, add: Record<string, number>, condition?: { expr: string; values: object }) {
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = { ...(condition?.values ?? {}) };
    const parts = Object.entries(add).map(([k, v], i) => {
      names[`#c${i}`] = k;
      values[`:c${i}`] = v;
      return `#c${i} :c${i}`;
    });
    return {
      Update: {
        TableName: this.tableName,
        Key: { pk },
        UpdateExpression: `ADD ${parts.join(', ')}`,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
        ...(condition ? { ConditionExpression: condition.expr } : {}),
      },
    };
  }

  /**
   * Move a task from `from` to `to` with its counters in one transaction. If the task is no longer in
   * `from` the transaction writes nothing: when it is already in `to` (a repeated step) the result says
   * `applied: false`; otherwise the change is refused with a 409.
   */
  async transition(task: TaskRecord, req: TransitionRequest): Promise<TransitionResult> {
    if (!canTransition(req.from, req.to))
      throw conflict(`task ${task.taskId} cannot go from ${req.from} to ${req.to}`);
    const now = req.now ?? new Date().toISOString();
    const delta = statsDelta(task.type, req.from, req.to);
    const next: TaskRecord = { ...task, ...req.set, status: req.to, updatedAt: now } as TaskRecord;
    if (req.reason !== undefined) next.statusReason = req.reason;
    else delete next.statusReason;
    const attempts = [...task.attempts];
    if (req.endAttempt) attempts[req.endAttempt.index] = req.endAttempt.attempt;
    if (req.appendAttempt) attempts.push(req.appendAttempt);
    next.attempts = attempts;

    const names: Record<string, string> = {
      '#status': 'status',
      '#attempts': 'attempts',
      '#updatedAt': 'updatedAt',
    };
    const values: Record<string, unknown> = {
      ':from': req.from,
      ':to': req.to,
      ':attempts': attempts,
      ':n': task.attempts.length,
      ':updatedAt': now,
    };
    const sets = ['#status = :to', '#attempts = :attempts', '#updatedAt = :updatedAt'];
    const removes: string[] = [];
    let i = 0;
    for (const [k, v] of Object.entries(req.set ?? {})) {
      if (v === undefined) continue;
      names[`#s${i}`] = k;
      values[`:s${i}`] = v;
      sets.push(`#s${i} = :s${i}`);
      i++;
    }
    names['#reason'] = 'statusReason';
    if (req.reason !== undefined) {
      values[':reason'] = req.reason;
      sets.push('#reason = :reason');
    } else removes.push('#reason');
    if (req.from === 'QUEUED') removes.push('queuePk', 'queueSk');
    if (req.to === 'QUEUED') {
      values[':qpk'] = 'Q';
      values[':qsk'] = queueSk(next);
      sets.push('queuePk = :qpk', 'queueSk = :qsk');
    }
    const tx: NonNullable<TransactWriteCommandInput['TransactItems']> = [
      {
        Update: {
          TableName: this.tableName,
          Key: { pk: taskPk(task.taskId) },
          UpdateExpression: `SET ${sets.join(', ')}${removes.length ? ` REMOVE ${removes.join(', ')}` : ''}`,
          // the expected status and the attempts we read: a step repeated after another one ran is refused
          ConditionExpression: '#status = :from AND size(#attempts) = :n',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        },
      },
    ];
    const counters: Record<string, number> = { ...delta.add };
    if (delta.active) {
      counters.active = delta.active;
      const gpus = task.spec.gpus ?? 0;
      if (gpus) counters.activeGpus = delta.active * gpus;
    }
    if (TERMINAL.has(req.to) && next.durationSeconds !== undefined) {
      counters.runSecondsSum = next.durationSeconds;
      counters.runCount = 1;
    }
    if (req.from === 'QUEUED' && req.to === 'STARTING') {
      counters.waitSecondsSum = Math.max(0, (Date.parse(now) - Date.parse(task.createdAt)) / 1000);
      counters.waitCount = 1;
    }
    const capCondition =
      req.activeCap !== undefined && delta.active > 0
        ? { expr: 'attribute_not_exists(active) OR active < :cap', values: { ':cap': req.activeCap } }
        : undefined;
    tx.push(this.addCounters(STATS_PK, counters, capCondition));
    if (delta.daily) tx.push(this.addCounters(dayPk(now), { [delta.daily]: 1 }));

    try {
      await this.transact({ TransactItems: tx });
      return { applied: true, task: next };
    } catch (e) {
      if (!isConditionFailure(e)) throw e;
      const current = await this.mustGet(task.taskId);
      if (current.status === req.to) return { applied: false, task: current };
      if (capCondition && current.status === req.from) throw new CapacityFull();
      throw conflict(`task ${task.taskId} is ${current.status}, not ${req.from}`);
    }
  }

  /** A new attempt while the status stays STARTING (the first attempt after dispatch). */
  async recordAttemptStart(
    task: TaskRecord,
    attempt: Attempt,
    set: Partial<TaskRecord>,
  ): Promise<TaskRecord> {
    const attempts = [...task.attempts, attempt];
    const values: Record<string, unknown> = { ':a': attempts, ':n': task.attempts.length, ':s': 'STARTING' };
    let expr = 'SET #attempts = :a';
    if (set.statusReason) {
      values[':r'] = set.statusReason;
      expr += ', statusReason = :r';
    }
    if (set.startedAt) {
      values[':st'] = set.startedAt;
      expr += ', startedAt = :st';
    }
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: taskPk(task.taskId) },
          UpdateExpression: expr,
          ConditionExpression: '#status = :s AND size(#attempts) = :n',
          ExpressionAttributeNames: { '#attempts': 'attempts', '#status': 'status' },
          ExpressionAttributeValues: values,
        }),
      );
    } catch (e) {
      if (isConditionFailure(e)) throw conflict(`task ${task.taskId} changed while its attempt started`);
      throw e;
    }
    return { ...task, ...set, attempts };
  }

  /** Remember the workflow execution that runs the task (so cancel can stop it). */
  async setExecutionArn(taskId: string, executionArn: string): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: taskPk(taskId) },
        UpdateExpression: 'SET executionArn = :e',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':e': executionArn },
      }),
    );
  }

  /** Progress, metrics and resource usage: no status change, so no counters; only while the attempt runs. */
  async updateProgress(
    taskId: string,
    attempt: number,
    patch: { progress?: number; metrics?: Record<string, number>; resourceUsage?: object },
  ): Promise<boolean> {
    const names: Record<string, string> = { '#status': 'status', '#attempts': 'attempts' };
    const values: Record<string, unknown> = { ':running': 'RUNNING', ':starting': 'STARTING', ':n': attempt };
    const sets: string[] = [];
    for (const [k, v] of Object.entries(patch)) {
      if (v === undefined) continue;
      names[`#${k}`] = k;
      values[`:${k}`] = v;
      sets.push(`#${k} = :${k}`);
    }
    if (!sets.length) return true;
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: taskPk(taskId) },
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: '(#status = :running OR #status = :starting) AND size(#attempts) = :n',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
      return true;
    } catch (e) {
      if (isConditionFailure(e)) return false;
      throw e;
    }
  }

  async list(filter: {
    status?: Status;
    type?: TaskType;
    limit: number;
    cursor?: string;
  }): Promise<Page<TaskRecord>> {
    let input: QueryCommandInput;
    if (filter.status) {
      input = {
        TableName: this.tableName,
        IndexName: INDEX.byStatus,
        KeyConditionExpression: '#status = :status',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':status': filter.status },
      };
      if (filter.type) {
        input.FilterExpression = '#type = :type';
        input.ExpressionAttributeNames = { ...input.ExpressionAttributeNames, '#type': 'type' };
        input.ExpressionAttributeValues = { ...input.ExpressionAttributeValues, ':type': filter.type };
      }
    } else if (filter.type) {
      input = {
        TableName: this.tableName,
        IndexName: INDEX.byType,
        KeyConditionExpression: '#type = :type',
        ExpressionAttributeNames: { '#type': 'type' },
        ExpressionAttributeValues: { ':type': filter.type },
      };
    } else {
      input = {
        TableName: this.tableName,
        IndexName: INDEX.byCreated,
        KeyConditionExpression: 'listPk = :l',
        ExpressionAttributeValues: { ':l': 'TASK' },
      };
    }
    input.ScanIndexForward = false;
    return this.queryPage(input, filter.limit, filter.cursor);
  }

  /** Query until `limit` items are found (filters can thin pages out), returning an opaque cursor. */
  private async queryPage(
    input: QueryCommandInput,
    limit: number,
    cursor?: string,
  ): Promise<Page<TaskRecord>> {
    const items: TaskRecord[] = [];
    let start = cursor ? decodeCursor(cursor) : undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({ ...input, Limit: limit - items.length, ExclusiveStartKey: start }),
      );
      items.push(...((out.Items ?? []) as TaskRecord[]));
      start = out.LastEvaluatedKey;
    } while (start && items.length < limit);
    return { items, ...(start ? { cursor: encodeCursor(start) } : {}) };
  }

  /** The highest-priority queued tasks, first come first within a priority (index is eventually consistent). */
  async nextQueued(limit: number): Promise<TaskRecord[]> {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: INDEX.queue,
        KeyConditionExpression: 'queuePk = :q',
        ExpressionAttributeValues: { ':q': 'Q' },
        ScanIndexForward: true,
        Limit: limit,
      }),
    );
    return (out.Items ?? []) as TaskRecord[];
  }

  /** How many queued tasks are ahead of this one. */
  /**
   * How many queued tasks are ahead of this one, counted up to `cap` (a status read must stay cheap
   * for clients that poll: beyond the cap the answer is "at least cap").
   */
  async queuePosition(task: TaskRecord, cap = 1000): Promise<{ ahead: number; atLeast: boolean }> {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: INDEX.queue,
        KeyConditionExpression: 'queuePk = :q AND queueSk < :sk',
        ExpressionAttributeValues: { ':q': 'Q', ':sk': queueSk(task) },
        Select: 'COUNT',
        Limit: cap,
      }),
    );
    return { ahead: out.Count ?? 0, atLeast: Boolean(out.LastEvaluatedKey) };
  }

  async stats(): Promise<Stats> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: STATS_PK }, ConsistentRead: true }),
    );
    const item = (out.Item ?? {}) as Record<string, unknown>;
    const num = (k: string) => (typeof item[k] === 'number' ? (item[k] as number) : 0);
    const s: Stats = {
      total: num('total'),
      byStatus: {},
      byType: {},
      byTypeStatus: {},
      active: num('active'),
      activeGpus: num('activeGpus'),
      runSecondsSum: num('runSecondsSum'),
      runCount: num('runCount'),
      waitSecondsSum: num('waitSecondsSum'),
      waitCount: num('waitCount'),
    };
    for (const [k, v] of Object.entries(item)) {
      if (typeof v !== 'number') continue;
      if (k.startsWith('status_')) s.byStatus[k.slice(7)] = v;
      else if (k.startsWith('typeStatus_')) {
        const [type, status] = k.slice(11).split('_') as [string, string];
        const forType = s.byTypeStatus[type] ?? {};
        forType[status] = v;
        s.byTypeStatus[type] = forType;
      } else if (k.startsWith('type_')) s.byType[k.slice(5)] = v;
    }
    return s;
  }

  async daily(days: number, now = new Date()): Promise<Record<string, number | string>[]> {
    const out: Record<string, number | string>[] = [];
    for (let i = days - 1; i >= 0; i--) {
      const d = new Date(now.getTime() - i * 86_400_000).toISOString().slice(0, 10);
      const r = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: { pk: `DAY#${d}` } }));
      const item = (r.Item ?? {}) as Record<string, number>;
      out.push({
        date: d,
        submitted: item.submitted ?? 0,
        succeeded: item.succeeded ?? 0,
        failed: item.failed ?? 0,
        cancelled: item.cancelled ?? 0,
      });
    }
    return out;
  }
}

export class CapacityFull extends Error {
  constructor() {
    super('concurrency cap reached');
    this.name = 'CapacityFull';
  }
}

export function encodeCursor(key: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw Object.assign(new Error('invalid cursor'), { name: 'InvalidCursor' });
}
