/**
 * The task repository over one DynamoDB table (key schema in `task-table.ts`). Every status change is
 * one TransactWriteItems whose condition is the expected status and attempt count, so the record and
 * its counters move together and a duplicated step cannot count twice. Counters are added to one of
 * `statsShards` shard items, picked at random per write, and summed on read.
 */
import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import pRetry, { AbortError } from 'p-retry';
import { decodeCursor, encodeCursor } from '../domain/cursor.ts';
import { badRequest, conflict } from '../domain/errors.ts';
import type { Attempt, TaskRecord } from '../domain/model.ts';
import {
  type BatchLines,
  type BatchRecord,
  type BatchState,
  CapacityFull,
  type DailyCounts,
  type ListFilter,
  LockHeld,
  ModelFull,
  type ModelStats,
  mustGet,
  type Page,
  type ProgressPatch,
  type Stats,
  type TaskRepository,
  type TransitionRequest,
  type TransitionResult,
} from '../domain/task-repository.ts';
import {
  batchState,
  dailyRow,
  lastDays,
  planTransition,
  statsFromCounters,
  submitDelta,
} from '../domain/transitions.ts';
import { envInt } from '../shared/env.ts';
import {
  batchPk,
  createdKey,
  dayPk,
  INDEXES,
  idempotencyPk,
  LIST_PK,
  lockPk,
  MAX_STATS_SHARDS,
  MODEL_LANES_PK,
  modelPk,
  modelStatsPk,
  PARTITION_KEY,
  QUEUE_PK,
  queueLane,
  queueSk,
  STATS_PK,
  shardPk,
  statsPk,
  taskPk,
} from './task-table.ts';

type Doc = Pick<DynamoDBDocumentClient, 'send'>;
type TxItems = NonNullable<TransactWriteCommandInput['TransactItems']>;

const isConditionFailure = (e: unknown) =>
  e instanceof Error &&
  (e.name === 'TransactionCanceledException' || e.name === 'ConditionalCheckFailedException');
const isTransactionConflict = (e: unknown) =>
  e instanceof Error && e.name === 'TransactionCanceledException' && /TransactionConflict/.test(e.message);

/** The cap's counters: they stay on the one `STATS` item, whose condition keeps the cap exact. */
const CAP_COUNTERS = ['active', 'activeGpus'];

export class DynamoTaskRepository implements TaskRepository {
  private readonly doc: Doc;
  readonly tableName: string;
  /** how many shard items each counters item is spread over (the stack's `statsShards`) */
  readonly statsShards: number;

  constructor(doc: Doc, tableName: string, statsShards = envInt('STATS_SHARDS', 1)) {
    if (!Number.isInteger(statsShards) || statsShards < 1 || statsShards > MAX_STATS_SHARDS)
      throw new Error(`statsShards must be a whole number from 1 to ${MAX_STATS_SHARDS}, got ${statsShards}`);
    this.doc = doc;
    this.tableName = tableName;
    this.statsShards = statsShards;
  }

  /** The shard one write adds to: any will do (sums are exact), so a random one spreads the load. */
  private pickShard(): number {
    return Math.floor(Math.random() * this.statsShards);
  }

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

  /** The task's item, as the table and its indexes want it. */
  private itemOf(task: TaskRecord) {
    return {
      pk: taskPk(task.taskId),
      ...task,
      listPk: LIST_PK,
      createdKey: createdKey(task),
      queuePk: queueLane(task.modelId),
      queueSk: queueSk(task),
    };
  }

  /** The counters a new task adds to: everyone's, its owner's, the days', its model's and its batch's (unsharded keys). */
  private submitCounters(task: TaskRecord): [string, Record<string, number>][] {
    return [
      [STATS_PK, submitDelta(task.type)],
      [dayPk(task.createdAt), { submitted: 1 }],
      [statsPk(task.owner), submitDelta(task.type)],
      [dayPk(task.createdAt, task.owner), { submitted: 1 }],
      ...(task.modelId
        ? [[modelStatsPk(task.modelId), submitDelta(task.type)] as [string, Record<string, number>]]
        : []),
      ...(task.batchId
        ? [[batchPk(task.batchId), submitDelta(task.type)] as [string, Record<string, number>]]
        : []),
    ];
  }

  private idempotencyItem(task: TaskRecord): TxItems[number] | undefined {
    if (!task.idempotencyKey) return undefined;
    return {
      Put: {
        TableName: this.tableName,
        Item: {
          pk: idempotencyPk(task.owner, task.idempotencyKey),
          taskId: task.taskId,
          createdAt: task.createdAt,
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      },
    };
  }

  async createMany(
    tasks: TaskRecord[],
  ): Promise<({ task: TaskRecord; created: boolean } | { error: Error })[]> {
    // groups within a transaction's limits (100 items, 4 MB): records, keys and summed counters
    const groups: TaskRecord[][] = [];
    let group: TaskRecord[] = [];
    let bytes = 0;
    for (const t of tasks) {
      const size = JSON.stringify(t).length;
      if (group.length >= 25 || (group.length && bytes + size > 3_000_000)) {
        groups.push(group);
        group = [];
        bytes = 0;
      }
      group.push(t);
      bytes += size;
    }
    if (group.length) groups.push(group);
    const out: ({ task: TaskRecord; created: boolean } | { error: Error })[] = [];
    for (const g of groups) {
      const counters = new Map<string, Record<string, number>>();
      const shard = this.pickShard();
      for (const t of g)
        for (const [unsharded, add] of this.submitCounters(t)) {
          const pk = shardPk(unsharded, shard);
          const sum = counters.get(pk) ?? {};
          for (const [k, v] of Object.entries(add)) sum[k] = (sum[k] ?? 0) + v;
          counters.set(pk, sum);
        }
      const tx: TxItems = [
        ...g.map((t): TxItems[number] => ({
          Put: {
            TableName: this.tableName,
            Item: this.itemOf(t),
            ConditionExpression: 'attribute_not_exists(pk)',
          },
        })),
        ...g.map((t) => this.idempotencyItem(t)).filter((x): x is TxItems[number] => x !== undefined),
        ...g.flatMap((t) => (t.spec.lockKey ? [this.claimLock(t.owner, t.spec.lockKey, t.taskId)] : [])),
        ...[...counters].map(([pk, add]) => this.addCounters(pk, add)),
      ];
      try {
        await this.transact({ TransactItems: tx });
        out.push(...g.map((task) => ({ task, created: true })));
      } catch (e) {
        // a line of the group was already a task (its key): each on its own, as create does
        if (isConditionFailure(e))
          for (const t of g) out.push(await this.create(t).catch((error: Error) => ({ error })));
        else out.push(...g.map(() => ({ error: e as Error })));
      }
    }
    return out;
  }

  /** Take a task's lockKey: free, or already its own. */
  private claimLock(owner: string, key: string, taskId: string): TxItems[number] {
    return {
      Update: {
        TableName: this.tableName,
        Key: { pk: lockPk(owner, key) },
        UpdateExpression: 'SET taskId = :id',
        ConditionExpression: 'attribute_not_exists(taskId) OR taskId = :id',
        ExpressionAttributeValues: { ':id': taskId },
      },
    };
  }

  /** The task that holds a lockKey. */
  private async lockHolder(owner: string, key: string): Promise<string | undefined> {
    const r = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: lockPk(owner, key) }, ConsistentRead: true }),
    );
    return r.Item?.taskId as string | undefined;
  }

  async create(task: TaskRecord): Promise<{ task: TaskRecord; created: boolean }> {
    const shard = this.pickShard();
    const tx: TxItems = [
      {
        Put: {
          TableName: this.tableName,
          Item: this.itemOf(task),
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
      ...this.submitCounters(task).map(([pk, add]) => this.addCounters(shardPk(pk, shard), add)),
    ];
    const key = this.idempotencyItem(task);
    if (key) tx.push(key);
    const lock = task.spec.lockKey;
    if (lock) tx.push(this.claimLock(task.owner, lock, task.taskId));
    try {
      await this.transact({ TransactItems: tx });
      return { task, created: true };
    } catch (e) {
      if (task.idempotencyKey && isConditionFailure(e)) {
        const existing = await this.findByIdempotencyKey(task.owner, task.idempotencyKey);
        if (existing) return { task: existing, created: false };
      }
      if (lock && isConditionFailure(e)) throw new LockHeld(lock, await this.lockHolder(task.owner, lock));
      throw e;
    }
  }

  async findByIdempotencyKey(owner: string, key: string): Promise<TaskRecord | undefined> {
    const out = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: idempotencyPk(owner, key) },
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

  async transition(task: TaskRecord, req: TransitionRequest): Promise<TransitionResult> {
    const plan = planTransition(task, req);
    const { next } = plan;
    const names: Record<string, string> = {
      '#status': 'status',
      '#attempts': 'attempts',
      '#updatedAt': 'updatedAt',
      '#reason': 'statusReason',
    };
    const values: Record<string, unknown> = {
      ':from': req.from,
      ':to': req.to,
      ':attempts': next.attempts,
      ':n': task.attempts.length,
      ':updatedAt': plan.now,
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
    if (next.statusReason !== undefined) {
      values[':reason'] = next.statusReason;
      sets.push('#reason = :reason');
    } else removes.push('#reason');
    if (req.from === 'QUEUED') removes.push('queuePk', 'queueSk');
    if (req.to === 'QUEUED') {
      values[':qpk'] = queueLane(next.modelId);
      values[':qsk'] = queueSk(next);
      sets.push('queuePk = :qpk', 'queueSk = :qsk');
    }
    if (req.unchangedSince !== undefined) values[':seen'] = req.unchangedSince;
    const capCondition =
      plan.cap !== undefined
        ? { expr: 'attribute_not_exists(active) OR active < :cap', values: { ':cap': plan.cap } }
        : undefined;
    const shard = this.pickShard();
    const sharded = (pk: string) => shardPk(pk, shard);
    // the slots held go to the cap item (only when they change); every other counter to a shard
    const cap = Object.fromEntries(Object.entries(plan.counters).filter(([k]) => CAP_COUNTERS.includes(k)));
    const rest = Object.fromEntries(Object.entries(plan.counters).filter(([k]) => !CAP_COUNTERS.includes(k)));
    const tx: TxItems = [
      {
        Update: {
          TableName: this.tableName,
          Key: { pk: taskPk(task.taskId) },
          UpdateExpression: `SET ${sets.join(', ')}${removes.length ? ` REMOVE ${removes.join(', ')}` : ''}`,
          // the expected status and the attempts we read: a step repeated after another one ran is refused
          ConditionExpression: `#status = :from AND size(#attempts) = :n${req.unchangedSince !== undefined ? ' AND #updatedAt = :seen' : ''}`,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        },
      },
      this.addCounters(sharded(STATS_PK), rest),
      this.addCounters(sharded(statsPk(task.owner)), plan.counters),
    ];
    const capItem = Object.keys(cap).length ? tx.push(this.addCounters(STATS_PK, cap, capCondition)) - 1 : -1;
    if (plan.daily) {
      tx.push(this.addCounters(sharded(dayPk(plan.now)), { [plan.daily]: 1 }));
      tx.push(this.addCounters(sharded(dayPk(plan.now, task.owner)), { [plan.daily]: 1 }));
    }
    if (plan.modelCounters)
      tx.push(this.addCounters(sharded(modelStatsPk(plan.modelCounters.modelId)), plan.modelCounters.add));
    if (task.batchId) tx.push(this.addCounters(sharded(batchPk(task.batchId)), plan.counters));
    // a task of a registered model takes (online, a worker free: exactly, like the cap) or frees a worker
    const modelItems = (plan.models?.modelIds ?? []).map(
      (modelId) =>
        tx.push(this.modelWorkers(modelId, plan.models?.delta ?? 0, plan.models?.claim ?? false)) - 1,
    );
    // its lockKey: freed when it ends (its own by construction), taken again when it is queued again
    const lockItem = plan.lock
      ? tx.push(
          plan.lock.claim
            ? this.claimLock(plan.lock.owner, plan.lock.key, plan.lock.taskId)
            : {
                Update: {
                  TableName: this.tableName,
                  Key: { pk: lockPk(plan.lock.owner, plan.lock.key) },
                  UpdateExpression: 'REMOVE taskId',
                },
              },
        ) - 1
      : -1;

    try {
      await this.transact({ TransactItems: tx });
      return { applied: true, task: next };
    } catch (e) {
      if (!isConditionFailure(e)) throw e;
      const reasons = (e as { CancellationReasons?: { Code?: string }[] }).CancellationReasons;
      const fullModel = plan.models?.modelIds.find(
        (_, i) => reasons?.[modelItems[i] ?? -1]?.Code === 'ConditionalCheckFailed',
      );
      if (fullModel && reasons?.[0]?.Code !== 'ConditionalCheckFailed')
        throw new ModelFull(fullModel, await this.modelGone(fullModel));
      if (
        plan.lock?.claim &&
        reasons?.[lockItem]?.Code === 'ConditionalCheckFailed' &&
        reasons[0]?.Code !== 'ConditionalCheckFailed'
      )
        throw new LockHeld(plan.lock.key, await this.lockHolder(plan.lock.owner, plan.lock.key));
      const current = await mustGet(this, task.taskId);
      if (current.status === req.to) return { applied: false, task: current };
      if (
        capCondition &&
        reasons?.[capItem]?.Code === 'ConditionalCheckFailed' &&
        reasons[0]?.Code !== 'ConditionalCheckFailed'
      )
        throw new CapacityFull();
      throw conflict(`task ${task.taskId} is ${current.status}, not ${req.from}`);
    }
  }

  private async modelGone(modelId: string): Promise<boolean> {
    const r = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: modelPk(modelId) }, ConsistentRead: true }),
    );
    return !r.Item || Boolean(r.Item.deleted);
  }

  private modelWorkers(modelId: string, delta: number, claim: boolean): TxItems[number] {
    return {
      Update: {
        TableName: this.tableName,
        Key: { pk: modelPk(modelId) },
        UpdateExpression: 'ADD active :d',
        ConditionExpression: claim
          ? 'attribute_exists(pk) AND attribute_not_exists(deleted) AND #st = :online AND (attribute_not_exists(active) OR active < maxWorkers)'
          : 'attribute_exists(pk)',
        ...(claim ? { ExpressionAttributeNames: { '#st': 'status' } } : {}),
        ExpressionAttributeValues: { ':d': delta, ...(claim ? { ':online': 'online' } : {}) },
      },
    };
  }

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

  async updateProgress(taskId: string, attempt: number, patch: ProgressPatch): Promise<boolean> {
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

  async list(filter: ListFilter): Promise<Page<TaskRecord>> {
    const byIndex = (index: (typeof INDEXES)[keyof typeof INDEXES], value: string): QueryCommandInput => ({
      TableName: this.tableName,
      IndexName: index.indexName,
      KeyConditionExpression: '#k = :k',
      ExpressionAttributeNames: { '#k': index.partitionKey },
      ExpressionAttributeValues: { ':k': value },
    });
    if (filter.batchId) {
      // a batch's tasks in the order they were submitted
      const input = { ...byIndex(INDEXES.byBatch, filter.batchId), ScanIndexForward: true };
      return this.queryPage(
        input,
        INDEXES.byBatch,
        filter.limit,
        filter.cursor ? startKeyOf(filter.cursor, INDEXES.byBatch) : undefined,
      );
    }
    // the most selective index that fits, and the rest of the filter as a filter expression
    const index = filter.owner
      ? INDEXES.byOwner
      : filter.status
        ? INDEXES.byStatus
        : filter.type
          ? INDEXES.byType
          : INDEXES.byCreated;
    const input = byIndex(index, filter.owner ?? filter.status ?? filter.type ?? LIST_PK);
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    const conditions: string[] = [];
    if (filter.status && index !== INDEXES.byStatus) {
      conditions.push('#status = :status');
      names['#status'] = 'status';
      values[':status'] = filter.status;
    }
    if (filter.type && index !== INDEXES.byType) {
      conditions.push('#type = :type');
      names['#type'] = 'type';
      values[':type'] = filter.type;
    }
    if (filter.modelId) {
      conditions.push('(#modelId = :modelId OR contains(#otherModelIds, :modelId))');
      names['#modelId'] = 'modelId';
      names['#otherModelIds'] = 'otherModelIds';
      values[':modelId'] = filter.modelId;
    }
    if (conditions.length) {
      input.FilterExpression = conditions.join(' AND ');
      input.ExpressionAttributeNames = { ...input.ExpressionAttributeNames, ...names };
      input.ExpressionAttributeValues = { ...input.ExpressionAttributeValues, ...values };
    }
    input.ScanIndexForward = false;
    return this.queryPage(
      input,
      index,
      filter.limit,
      filter.cursor ? startKeyOf(filter.cursor, index) : undefined,
    );
  }

  /**
   * Query until `limit` items are found, returning an opaque cursor. A filter expression thins each
   * read out (DynamoDB applies `Limit` before the filter), so a filtered list reads more than `limit`
   * items a round trip, more each time too few match, keeps the first `limit` that match, and starts
   * the next page after the last one kept.
   */
  private async queryPage(
    input: QueryCommandInput,
    index: (typeof INDEXES)[keyof typeof INDEXES],
    limit: number,
    startKey?: Record<string, unknown>,
  ): Promise<Page<TaskRecord>> {
    const items: Record<string, unknown>[] = [];
    let start = startKey;
    // filtered: a page's worth first (nothing read in vain when most match), then four times as many
    // each round trip while too few do
    let read = limit;
    do {
      const want = limit - items.length;
      const out = await this.doc.send(
        new QueryCommand({
          ...input,
          Limit: input.FilterExpression ? Math.max(want, read) : want,
          ExclusiveStartKey: start,
        }),
      );
      read = Math.min(read * 4, FILTERED_READ_MAX);
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start && items.length < limit);
    if (items.length > limit) {
      items.length = limit;
      const last = items[limit - 1] ?? {};
      start = Object.fromEntries([PARTITION_KEY, index.partitionKey, index.sortKey].map((k) => [k, last[k]]));
    }
    return { items: items as unknown as TaskRecord[], ...(start ? { cursor: encodeCursor(start) } : {}) };
  }

  /**
   * The queue's lanes: the one of tasks of no model, and one per registered model, from the set model
   * registration adds to (read consistently: a model registered a moment ago is in it). A removed model
   * stays in the set, so the tasks still waiting in its lane are found and ended.
   */
  private async lanes(): Promise<string[]> {
    const set = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: MODEL_LANES_PK }, ConsistentRead: true }),
    );
    const ids = (set.Item?.modelIds as Set<string> | undefined) ?? new Set<string>();
    return [QUEUE_PK, ...[...ids].map(queueLane)];
  }

  async nextQueued(limit: number, passOver: ReadonlySet<string> = new Set()): Promise<TaskRecord[]> {
    const skip = new Set([...passOver].map(queueLane));
    const lanes = (await this.lanes()).filter((l) => !skip.has(l));
    // each lane's head, merged in queue order (priority, then age)
    const heads = await Promise.all(
      lanes.map(async (lane) => {
        const out = await this.doc.send(
          new QueryCommand({
            TableName: this.tableName,
            IndexName: INDEXES.queue.indexName,
            KeyConditionExpression: 'queuePk = :q',
            ExpressionAttributeValues: { ':q': lane },
            ScanIndexForward: true,
            Limit: limit,
          }),
        );
        return (out.Items ?? []) as (TaskRecord & { queueSk: string })[];
      }),
    );
    return heads
      .flat()
      .sort((a, b) => (a.queueSk < b.queueSk ? -1 : a.queueSk > b.queueSk ? 1 : 0))
      .slice(0, limit);
  }

  async queuePosition(task: TaskRecord, cap = 1000): Promise<{ ahead: number; atLeast: boolean }> {
    // ahead of it: the tasks before it in every lane (all of them wait for the same slots)
    const counts = await Promise.all(
      (await this.lanes()).map(async (lane) => {
        const out = await this.doc.send(
          new QueryCommand({
            TableName: this.tableName,
            IndexName: INDEXES.queue.indexName,
            KeyConditionExpression: 'queuePk = :q AND queueSk < :sk',
            ExpressionAttributeValues: { ':q': lane, ':sk': queueSk(task) },
            Select: 'COUNT',
            Limit: cap,
          }),
        );
        return { n: out.Count ?? 0, more: Boolean(out.LastEvaluatedKey) };
      }),
    );
    const ahead = counts.reduce((n, c) => n + c.n, 0);
    return { ahead: Math.min(ahead, cap), atLeast: ahead >= cap || counts.some((c) => c.more) };
  }

  /**
   * Counters items read whole: each item with its shards, their numbers summed (the unsharded item's
   * other attributes kept), in as few consistent BatchGetItem calls as the keys need.
   */
  private async summed(pks: string[]): Promise<Record<string, unknown>[]> {
    const keys = pks.flatMap((pk) => [
      pk,
      ...Array.from({ length: this.statsShards }, (_, i) => shardPk(pk, i)),
    ]);
    const found = new Map<string, Record<string, unknown>>();
    const chunks: string[][] = [];
    for (let i = 0; i < keys.length; i += 100) chunks.push(keys.slice(i, i + 100));
    await Promise.all(
      chunks.map(async (chunk) => {
        let left = chunk.map((pk) => ({ pk }));
        // what DynamoDB leaves unprocessed (throttled) is asked for again, backing off
        await pRetry(
          async () => {
            const out = await this.doc.send(
              new BatchGetCommand({
                RequestItems: { [this.tableName]: { Keys: left, ConsistentRead: true } },
              }),
            );
            for (const item of out.Responses?.[this.tableName] ?? []) found.set(String(item.pk), item);
            left = (out.UnprocessedKeys?.[this.tableName]?.Keys ?? []) as { pk: string }[];
            if (left.length) throw new Error(`${left.length} key(s) left unprocessed`);
          },
          { retries: 8, minTimeout: 20, maxTimeout: 1000, randomize: true },
        );
      }),
    );
    return pks.map((pk) => {
      const item: Record<string, unknown> = { ...(found.get(pk) ?? {}) };
      for (let i = 0; i < this.statsShards; i++)
        for (const [k, v] of Object.entries(found.get(shardPk(pk, i)) ?? {}))
          if (typeof v === 'number') item[k] = (typeof item[k] === 'number' ? (item[k] as number) : 0) + v;
      return item;
    });
  }

  async modelStats(modelId: string): Promise<ModelStats> {
    const [item = {}] = await this.summed([modelStatsPk(modelId)]);
    const num = (k: string) => (typeof item[k] === 'number' ? (item[k] as number) : 0);
    return {
      ...statsFromCounters(item),
      promptTokens: num('promptTokens'),
      completionTokens: num('completionTokens'),
      requestsSucceeded: num('requestsSucceeded'),
      latencyMsSum: num('latencyMsSum'),
    };
  }

  async createBatch(batch: BatchRecord): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { pk: batchPk(batch.batchId), batch },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  async countBatchLines(batchId: string, add: BatchLines): Promise<void> {
    const counts = Object.fromEntries(Object.entries(add).map(([k, v]) => [`lines_${k}`, v]));
    const pk = shardPk(batchPk(batchId), this.pickShard());
    await this.doc.send(new UpdateCommand(this.addCounters(pk, counts).Update));
  }

  async getBatch(batchId: string): Promise<BatchState | undefined> {
    const [item] = await this.summed([batchPk(batchId)]);
    if (!item?.batch) return undefined;
    return batchState(item.batch as BatchRecord, item);
  }

  async stats(owner?: string): Promise<Stats> {
    const [item = {}] = await this.summed([statsPk(owner)]);
    return statsFromCounters(item);
  }

  async activeSlots(): Promise<number> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: STATS_PK }, ConsistentRead: true }),
    );
    return typeof out.Item?.active === 'number' ? out.Item.active : 0;
  }

  async daily(days: number, now = new Date(), owner?: string): Promise<DailyCounts[]> {
    const dates = lastDays(days, now);
    const items = await this.summed(dates.map((date) => dayPk(date, owner)));
    return dates.map((date, i) => dailyRow(date, items[i]));
  }
}

/** Items a filtered list reads in one round trip, at most (DynamoDB also stops a query at 1 MB read). */
const FILTERED_READ_MAX = 1600;

/**
 * A list cursor is the index position a previous page ended at: the table key and the index's keys,
 * all strings. Anything else (another index's cursor, a forged one) is a 400, not a DynamoDB error.
 */
function startKeyOf(cursor: string, index: (typeof INDEXES)[keyof typeof INDEXES]): Record<string, unknown> {
  const key = decodeCursor(cursor);
  const want = [PARTITION_KEY, index.partitionKey, index.sortKey].sort();
  const keys = Object.keys(key).sort();
  const fits =
    keys.length === want.length &&
    keys.every((k, i) => k === want[i] && typeof key[k] === 'string' && (key[k] as string).length <= 1024);
  if (!fits)
    throw badRequest('the cursor is not valid', [{ path: 'cursor', message: 'not a cursor of this list' }]);
  return key;
}
