/**
 * The task table's key schema: the partition key, the item keys and the four indexes. One small module
 * with no SDK imports, read by the DynamoDB repository and by the Storage construct that creates the
 * table, so the two cannot disagree.
 *
 * Items: `TASK#<id>` (the record), `STATS` and `STATS#<owner>` (counters, all and per owner),
 * `DAY#<yyyy-mm-dd>` and `DAY#<owner>#<yyyy-mm-dd>` (daily counters), `IDEMP#<owner>#<key>`
 * (idempotency keys), `MODEL#<id>` with `MODELNAME#<name>` (the model registry), and `BATCH#<id>`
 * (a batch and its counters).
 *
 * Counters are sharded: a write adds to one of N shard items (`STATS@03`, `STATS@03#<owner>`,
 * `DAY@03#<date>`, `BATCH@03#<id>`, `MODELSTATS@03#<id>`; N is the stack's `statsShards`) and a read
 * sums the shards with the unsharded item, so no single item takes every task's writes. The one
 * exception is the concurrency cap, which must be one item to be exact: `STATS` keeps `active` and
 * `activeGpus`, written only when a task takes or frees a slot.
 */
export const PARTITION_KEY = 'pk';

/** Global secondary indexes: name, partition key and sort key attributes (all strings, all projected). */
export const INDEXES = {
  /** tasks by status, newest first */
  byStatus: { indexName: 'byStatus', partitionKey: 'status', sortKey: 'createdKey' },
  /** tasks by type, newest first */
  byType: { indexName: 'byType', partitionKey: 'type', sortKey: 'createdKey' },
  /** one owner's tasks, newest first */
  byOwner: { indexName: 'byOwner', partitionKey: 'owner', sortKey: 'createdKey' },
  /** every task, newest first (listPk is the constant `TASK`) */
  byCreated: { indexName: 'byCreated', partitionKey: 'listPk', sortKey: 'createdKey' },
  /** sparse: the tasks of one batch (those submitted in one), oldest first */
  byBatch: { indexName: 'byBatch', partitionKey: 'batchId', sortKey: 'createdKey' },
  /** sparse: only QUEUED tasks carry queuePk (their lane, `queueLane`), sorted by priority then age */
  queue: { indexName: 'queue', partitionKey: 'queuePk', sortKey: 'queueSk' },
} as const;

export const STATS_PK = 'STATS';
/** The counters item of every owner (`undefined`) or of one. */
export const statsPk = (owner?: string) => (owner === undefined ? STATS_PK : `STATS#${owner}`);
export const LIST_PK = 'TASK';
/** At most this many counter shards (two digits in the key, and a stats read stays one BatchGetItem). */
export const MAX_STATS_SHARDS = 32;
/** The shard `shard` of a counters item: `STATS` -> `STATS@03`, `DAY#2026-11-24` -> `DAY@03#2026-11-24`. */
export function shardPk(pk: string, shard: number): string {
  const at = pk.indexOf('#');
  const tag = `@${String(shard).padStart(2, '0')}`;
  return at < 0 ? `${pk}${tag}` : `${pk.slice(0, at)}${tag}${pk.slice(at)}`;
}
/** An IAM `StringLike` pattern of every shard of a counters item (`?` is one character; the rest literal). */
export function shardPattern(pk: string): string {
  // IAM's escapes for its own special characters: ${*}, ${?}, ${$}
  const literal = (s: string) => s.replace(/[$*?]/g, (c) => `\${${c}}`);
  const at = pk.indexOf('#');
  return at < 0 ? `${literal(pk)}@??` : `${literal(pk.slice(0, at))}@??${literal(pk.slice(at))}`;
}
export const QUEUE_PK = 'Q';
/**
 * The queue index's partition a queued task waits in: one lane for the tasks of no registered model,
 * one per model. A pass of the dispatcher reads each lane's head, so the tasks of a full or offline
 * model never stand between it and the tasks it can start.
 */
export const queueLane = (modelId?: string) => (modelId ? `${QUEUE_PK}#${modelId}` : QUEUE_PK);
export const taskPk = (id: string) => `TASK#${id}`;
export const dayPk = (isoDate: string, owner?: string) =>
  owner === undefined ? `DAY#${isoDate.slice(0, 10)}` : `DAY#${owner}#${isoDate.slice(0, 10)}`;
export const idempotencyPk = (owner: string, key: string) => `IDEMP#${owner}#${key}`;
/** A registered model (listed through byCreated under MODEL_LIST_PK), and its name's claim. */
export const modelPk = (id: string) => `MODEL#${id}`;
export const modelNamePk = (name: string) => `MODELNAME#${name}`;
export const MODEL_LIST_PK = 'MODEL';
/**
 * Every model id ever registered (a string set, added to when a model is created): the queue's lanes,
 * read consistently, so a model registered a moment ago has its lane read (the list index may lag).
 */
export const MODEL_LANES_PK = 'MODELLANES';
/** A batch: who made it, its lines' counts and its tasks' counters (by status), in one item. */
export const batchPk = (id: string) => `BATCH#${id}`;
/** An owner's lockKey, and the task that holds it (its `taskId`, removed when the task ends). */
export const lockPk = (owner: string, key: string) => `LOCK#${owner}#${key}`;
/** The counters of one model's tasks (by status, run time, tokens). */
export const modelStatsPk = (id: string) => `MODELSTATS#${id}`;
export const createdKey = (t: { createdAt: string; taskId: string }) => `${t.createdAt}#${t.taskId}`;
/** Sort key of the queue index: higher priority first (10 - priority, zero-padded), then first come. */
export const queueSk = (t: { priority: number; createdAt: string; taskId: string }) =>
  `${String(10 - t.priority).padStart(2, '0')}#${createdKey(t)}`;
