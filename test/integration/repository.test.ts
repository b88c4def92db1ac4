/**
 * The task repository on DynamoDB Local. Sharded counters: many tasks submitted and moved through their lives by concurrent
 * workers (each change tried twice at once, as a duplicated step would), then every counter read back
 * (summed over its shards) equals what the records say, the cap was never exceeded, and the writes
 * really were spread: the cap item holds only the slots, and more than one shard took counts.
 */
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import pLimit from 'p-limit';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { dynamodb } from '../../lambdas/clients/dynamodb.ts';
import { DynamoModelRepository } from '../../lambdas/clients/dynamodb-models.ts';
import { DynamoTaskRepository } from '../../lambdas/clients/dynamodb-tasks.ts';
import { batchPk, shardPk, statsPk, taskPk } from '../../lambdas/clients/task-table.ts';
import type { TaskRecord, TaskSpec } from '../../lambdas/domain/model.ts';
import { ACTIVE, type Status } from '../../lambdas/domain/status.ts';
import { CapacityFull, mustGet } from '../../lambdas/domain/task-repository.ts';
import { newTaskRecord } from '../../lambdas/domain/tasks.ts';
import { patchItem, testStack } from '../support/stack.ts';

const SHARDS = 4;
const CAP = 5;
let store: DynamoTaskRepository;
let tableName: string;

beforeAll(async () => {
  ({ tableName } = await testStack(inject('awsEndpoint')));
  store = new DynamoTaskRepository(dynamodb, tableName, SHARDS);
});

const spec = (i: number) =>
  ({
    type: i % 3 ? 'container' : 'training',
    image: 'busybox',
    command: ['true'],
    priority: 1 + (i % 9),
    gpus: i % 2,
  }) as unknown as TaskSpec;

/** A step that may lose the race to its twin or to the cap: either is an answer, not a failure. */
async function step(
  task: TaskRecord,
  from: Status,
  to: Status,
  cap?: number,
): Promise<TaskRecord | undefined> {
  const now = new Date().toISOString();
  const req = {
    from,
    to,
    ...(cap ? { activeCap: cap } : {}),
    ...(to === 'STARTING' ? { appendAttempt: { attempt: task.attempts.length + 1, startedAt: now } } : {}),
  };
  const tries = await Promise.allSettled([store.transition(task, req), store.transition(task, req)]);
  const applied = tries.flatMap((t) => (t.status === 'fulfilled' && t.value.applied ? [t.value.task] : []));
  for (const t of tries)
    if (t.status === 'rejected' && !(t.reason instanceof CapacityFull) && t.reason?.status !== 409)
      throw t.reason;
  // exactly one of the twins changes the record
  expect(applied.length).toBeLessThanOrEqual(1);
  return applied[0] ?? (await store.get(task.taskId));
}

describe('sharded stats counters', () => {
  it('sum to what the records say under concurrent submits and transitions, within the cap', async () => {
    const owner = `arn:aws:iam::000000000000:user/shards-${Date.now()}`;
    const batchId = `01SHARDBATCH${Date.now()}`;
    await store.createBatch({ batchId, owner, createdAt: new Date().toISOString() });
    const at = new Date();
    const records = Array.from({ length: 60 }, (_, i) => ({
      ...newTaskRecord(spec(i), owner, new Date(at.getTime() + i)),
      ...(i < 30 ? { batchId } : {}),
    }));
    // half one by one, half in batch writes, all at once
    await Promise.all([
      ...records.slice(0, 30).map((t) => store.create(t)),
      store.createMany(records.slice(30, 45)),
      store.createMany(records.slice(45)),
    ]);

    let peak = 0;
    const limit = pLimit(12);
    await Promise.all(
      records.map((r, i) =>
        limit(async () => {
          let t = (await store.get(r.taskId)) as TaskRecord;
          if (i % 10 === 0) {
            await step(t, 'QUEUED', 'CANCELLED');
            return;
          }
          // claim a slot: the cap item refuses past CAP, so wait for one to free
          for (;;) {
            const claimed = await step(t, 'QUEUED', 'STARTING', CAP);
            if (claimed?.status === 'STARTING') {
              t = claimed;
              break;
            }
            await new Promise((res) => setTimeout(res, 20));
          }
          peak = Math.max(peak, (await store.stats()).active);
          if (i === 7 || i === 33) return; // left STARTING: holds its slot
          t = (await step(t, 'STARTING', 'RUNNING')) as TaskRecord;
          if (i % 5 === 0) {
            // a retry keeps its slot while it waits to start again
            t = (await step(t, 'RUNNING', 'RETRYING')) as TaskRecord;
            if (i === 15) return;
            t = (await step(t, 'RETRYING', 'STARTING')) as TaskRecord;
            t = (await step(t, 'STARTING', 'RUNNING')) as TaskRecord;
          }
          await step(t, 'RUNNING', i % 4 === 0 ? 'FAILED' : 'SUCCEEDED');
        }),
      ),
    );

    const all = await Promise.all(records.map(async (r) => (await store.get(r.taskId)) as TaskRecord));
    const count = (pred: (t: TaskRecord) => boolean) => all.filter(pred).length;
    const mine = await store.stats(owner);
    const everyone = await store.stats();
    for (const s of [mine, everyone]) {
      for (const status of ['QUEUED', 'STARTING', 'RUNNING', 'RETRYING', 'SUCCEEDED', 'FAILED', 'CANCELLED'])
        expect(s.byStatus[status] ?? 0, status).toBe(count((t) => t.status === status));
      expect(s.byType.container).toBe(count((t) => t.type === 'container'));
      expect(s.byType.training).toBe(count((t) => t.type === 'training'));
    }
    expect(mine.total).toBe(60);
    expect(everyone.total).toBe(60); // this table is the test's own
    const holding = all.filter((t) => ACTIVE.has(t.status));
    expect(everyone.active).toBe(holding.length);
    expect(mine.active).toBe(holding.length);
    expect(await store.activeSlots()).toBe(holding.length);
    expect(everyone.activeGpus).toBe(holding.reduce((n, t) => n + (t.spec.gpus ?? 0), 0));
    expect(holding.length).toBeLessThanOrEqual(CAP);
    expect(peak).toBeLessThanOrEqual(CAP);
    expect(everyone.waitCount).toBe(count((t) => t.attempts.length > 0));

    const today = (await store.daily(1, new Date(), owner))[0];
    expect(today).toMatchObject({
      submitted: 60,
      succeeded: count((t) => t.status === 'SUCCEEDED'),
      failed: count((t) => t.status === 'FAILED'),
      cancelled: count((t) => t.status === 'CANCELLED'),
    });
    const batch = await store.getBatch(batchId);
    expect(batch?.stats.total).toBe(30);
    expect(batch?.stats.byStatus.SUCCEEDED ?? 0).toBe(
      count((t) => t.batchId === batchId && t.status === 'SUCCEEDED'),
    );

    // spread: the cap item holds the slots and nothing else; several shards hold counts
    const item = async (pk: string) =>
      (await dynamodb.send(new GetCommand({ TableName: tableName, Key: { pk }, ConsistentRead: true }))).Item;
    expect(Object.keys((await item('STATS')) ?? {}).sort()).toEqual(['active', 'activeGpus', 'pk']);
    const shards = await Promise.all(
      Array.from({ length: SHARDS }, (_, k) => item(shardPk(statsPk(owner), k))),
    );
    expect(shards.filter((s) => typeof s?.total === 'number').length).toBeGreaterThan(1);
    expect(await item(shardPk(statsPk(owner), SHARDS))).toBeUndefined();
    expect(await item(shardPk(batchPk(batchId), 0))).toBeDefined();
  });

  it('still counts what an unsharded item holds (a table written before sharding)', async () => {
    const owner = `arn:aws:iam::000000000000:user/legacy-${Date.now()}`;
    await patchItem(tableName, statsPk(owner), { total: 3, status_SUCCEEDED: 3 });
    const { task } = await store.create(newTaskRecord(spec(1), owner, new Date()));
    const s = await store.stats(owner);
    expect(s.total).toBe(4);
    expect(s.byStatus).toMatchObject({ SUCCEEDED: 3, QUEUED: 1 });
    // out of the queue the tests below read
    await store.transition(task, { from: 'QUEUED', to: 'CANCELLED' });
  });

  it('refuses a shard count it cannot read back in one request', () => {
    expect(() => new DynamoTaskRepository(dynamodb, tableName, 0)).toThrow(/statsShards/);
    expect(() => new DynamoTaskRepository(dynamodb, tableName, 33)).toThrow(/statsShards/);
  });
});

describe('a claim from the queue index', () => {
  it("is refused when the index's copy is older than the record, and blames the cap only when the cap is full", async () => {
    const owner = 'arn:aws:iam::000000000000:user/stale';
    const task = newTaskRecord(spec(2), owner, new Date());
    await store.create(task);
    const stale = await mustGet(store, task.taskId);
    // cancelled and retried since: QUEUED again with as many attempts, so only updatedAt tells them apart
    const later = (s: number) =>
      new Date(Date.parse(stale.updatedAt ?? stale.createdAt) + s * 1000).toISOString();
    const cancelled = await store.transition(stale, { from: 'QUEUED', to: 'CANCELLED', now: later(1) });
    await store.transition(cancelled.task, {
      from: 'CANCELLED',
      to: 'QUEUED',
      now: later(2),
      set: { runs: 1 },
    });
    const claim = (t: TaskRecord, cap: number) =>
      store.transition(t, { from: 'QUEUED', to: 'STARTING', activeCap: cap, unchangedSince: t.updatedAt });
    const refused = await claim(stale, 1000).catch((e: Error) => e);
    expect(refused).toMatchObject({ status: 409 });
    expect(refused).not.toBeInstanceOf(CapacityFull);
    const fresh = await mustGet(store, task.taskId);
    expect(fresh.runs).toBe(1);
    // the cap full: that is what the fresh copy is told
    await expect(claim(fresh, await store.activeSlots())).rejects.toBeInstanceOf(CapacityFull);
    const claimed = await claim(fresh, (await store.activeSlots()) + 1);
    expect(claimed).toMatchObject({ applied: true, task: { status: 'STARTING', runs: 1 } });
  });
});

describe('the queue, a lane per model', () => {
  it("reads each lane's head: a full model's waiting tasks never stand before the others, and a removed model's are still found", async () => {
    const models = new DynamoModelRepository(dynamodb, tableName);
    const model = (name: string) => ({
      modelId: `01LANE${name.toUpperCase()}${Date.now()}`,
      name: `${name}-${Date.now()}`,
      type: 'local' as const,
      baseUrl: 'http://127.0.0.1:9/v1',
      model: 'm',
      status: 'online' as const,
      maxWorkers: 1,
      owner: 'arn:aws:iam::000000000000:user/lanes',
      createdAt: new Date().toISOString(),
      updatedAt: new Date().toISOString(),
      active: 0,
    });
    const full = model('full');
    const other = model('other');
    expect(await models.create(full as never)).toBe(true);
    expect(await models.create(other as never)).toBe(true);
    const at = Date.now();
    const make = (i: number, priority: number, modelId?: string) => ({
      ...newTaskRecord(
        { ...spec(i), priority } as TaskSpec,
        'arn:aws:iam::000000000000:user/lanes',
        new Date(at + i),
      ),
      ...(modelId ? { modelId } : {}),
    });
    // 40 tasks of one model first in line, then 2 of another model and 3 of none
    const fulls = Array.from({ length: 40 }, (_, i) => make(i, 9, full.modelId));
    const others = [make(100, 5, other.modelId), make(101, 5, other.modelId)];
    const plain = [make(200, 1), make(201, 1), make(202, 1)];
    await store.createMany([...fulls, ...others, ...plain]);
    const item = async (id: string) =>
      (await dynamodb.send(new GetCommand({ TableName: tableName, Key: { pk: taskPk(id) } }))).Item;
    expect((await item(fulls[0]?.taskId ?? ''))?.queuePk).toBe(`Q#${full.modelId}`);
    expect((await item(plain[0]?.taskId ?? ''))?.queuePk).toBe('Q');

    // in queue order across lanes; passing over the full model reads only the others' heads
    const ids = (ts: TaskRecord[]) => ts.map((t) => t.taskId);
    expect(ids(await store.nextQueued(3))).toEqual(ids(fulls.slice(0, 3)));
    expect(ids(await store.nextQueued(5, new Set([full.modelId])))).toEqual(ids([...others, ...plain]));
    // the position counts every lane: 40 + 2 tasks wait before the first plain one
    expect(await store.queuePosition(plain[0] as TaskRecord)).toEqual({ ahead: 42, atLeast: false });
    expect(await store.queuePosition(plain[0] as TaskRecord, 10)).toEqual({ ahead: 10, atLeast: true });

    // a task queued again goes back to its model's lane
    const first = others[0] as TaskRecord;
    const cancelled = await store.transition(first, { from: 'QUEUED', to: 'CANCELLED' });
    await store.transition(cancelled.task, { from: 'CANCELLED', to: 'QUEUED' });
    expect((await item(first.taskId))?.queuePk).toBe(`Q#${other.modelId}`);

    // a removed model's waiting tasks are still read, so the dispatcher can end them
    expect(await models.remove((await models.get(other.modelId)) as never)).toBe('ok');
    expect(await models.get(other.modelId)).toBeUndefined();
    expect(ids(await store.nextQueued(5, new Set([full.modelId])))).toContain(first.taskId);

    // a model registered a moment ago, not yet in the list index: its lane is read all the same
    const fresh = model('fresh');
    expect(await models.create(fresh as never)).toBe(true);
    await dynamodb.send(
      new UpdateCommand({
        TableName: tableName,
        Key: { pk: `MODEL#${fresh.modelId}` },
        UpdateExpression: 'REMOVE listPk',
      }),
    );
    expect((await models.list()).map((m) => m.modelId)).not.toContain(fresh.modelId);
    const waiting = make(300, 9, fresh.modelId);
    await store.create(waiting);
    expect(ids(await store.nextQueued(1, new Set([full.modelId])))).toEqual([waiting.taskId]);
  });
});
