/**
 * The task repository in memory: the same contract as the DynamoDB one (conditional status changes,
 * counters in the same step, the cap, queue order), for fast tests, benchmarks and the GPU check,
 * where no DynamoDB runs. Records are copied in and out, so callers cannot change stored state by
 * holding on to an object.
 */
import { decodeCursor, encodeCursor } from '../domain/cursor.ts';
import { badRequest, conflict } from '../domain/errors.ts';
import type { Attempt, TaskRecord } from '../domain/model.ts';
import type * as port from '../domain/task-repository.ts';
import { CapacityFull, LockHeld, ModelFull, type TaskRepository } from '../domain/task-repository.ts';
import {
  batchState,
  dailyRow,
  lastDays,
  planTransition,
  statsFromCounters,
  submitDelta,
} from '../domain/transitions.ts';
import type { MemoryModelRepository } from './memory-models.ts';
import { createdKey, queueSk } from './task-table.ts';

const copy = <T>(v: T): T => structuredClone(v);

export class MemoryTaskRepository implements TaskRepository {
  private readonly tasks = new Map<string, TaskRecord>();
  private readonly idempotency = new Map<string, string>();
  private readonly batches = new Map<string, port.BatchRecord>();
  /** lockKeys (`<owner>#<key>`) and the task that holds each */
  private readonly locks = new Map<string, string>();
  /** counters by owner; '' holds every owner's */
  private readonly counters = new Map<string, Record<string, number>>();
  /** daily counters by `<owner>#<date>`; owner '' for every owner's */
  private readonly days = new Map<string, Record<string, number>>();
  /** progress writes, for the benchmarks that count them */
  readonly writes = { progress: 0 };

  /** `models`: the registry whose workers tasks of a model take and free (as the DynamoDB table holds both) */
  constructor(private readonly models?: MemoryModelRepository) {}

  private add(into: Record<string, number>, delta: Record<string, number>) {
    for (const [k, v] of Object.entries(delta)) into[k] = (into[k] ?? 0) + v;
  }

  private countersOf(owner = ''): Record<string, number> {
    const c = this.counters.get(owner) ?? {};
    this.counters.set(owner, c);
    return c;
  }

  private addCounters(owner: string, delta: Record<string, number>) {
    this.add(this.countersOf(), delta);
    this.add(this.countersOf(owner), delta);
  }

  private addDaily(date: string, counter: string, owner: string) {
    for (const key of [`#${date.slice(0, 10)}`, `${owner}#${date.slice(0, 10)}`]) {
      const day = this.days.get(key) ?? {};
      this.add(day, { [counter]: 1 });
      this.days.set(key, day);
    }
  }

  async create(task: TaskRecord): Promise<{ task: TaskRecord; created: boolean }> {
    if (task.idempotencyKey) {
      const existing = await this.findByIdempotencyKey(task.owner, task.idempotencyKey);
      if (existing) return { task: existing, created: false };
    }
    if (this.tasks.has(task.taskId)) throw conflict(`task ${task.taskId} exists`);
    const lock = task.spec.lockKey ? `${task.owner}#${task.spec.lockKey}` : undefined;
    const holder = lock ? this.locks.get(lock) : undefined;
    if (task.spec.lockKey && holder && holder !== task.taskId) throw new LockHeld(task.spec.lockKey, holder);
    if (lock) this.locks.set(lock, task.taskId);
    if (task.idempotencyKey) this.idempotency.set(`${task.owner}#${task.idempotencyKey}`, task.taskId);
    this.tasks.set(task.taskId, copy(task));
    this.addCounters(task.owner, submitDelta(task.type));
    this.addDaily(task.createdAt, 'submitted', task.owner);
    if (task.modelId) this.add(this.modelCountersOf(task.modelId), submitDelta(task.type));
    if (task.batchId) this.add(this.batchItem(task.batchId), submitDelta(task.type));
    return { task: copy(task), created: true };
  }

  async createMany(
    tasks: TaskRecord[],
  ): Promise<({ task: TaskRecord; created: boolean } | { error: Error })[]> {
    const out: ({ task: TaskRecord; created: boolean } | { error: Error })[] = [];
    for (const t of tasks) out.push(await this.create(t).catch((error: Error) => ({ error })));
    return out;
  }

  async findByIdempotencyKey(owner: string, key: string): Promise<TaskRecord | undefined> {
    const id = this.idempotency.get(`${owner}#${key}`);
    return id ? this.get(id) : undefined;
  }

  async get(taskId: string): Promise<TaskRecord | undefined> {
    const t = this.tasks.get(taskId);
    return t ? copy(t) : undefined;
  }

  async transition(task: TaskRecord, req: port.TransitionRequest): Promise<port.TransitionResult> {
    const plan = planTransition(task, req);
    const current = this.tasks.get(task.taskId);
    if (!current) throw conflict(`task ${task.taskId} does not exist`);
    if (
      current.status !== req.from ||
      current.attempts.length !== task.attempts.length ||
      (req.unchangedSince !== undefined && current.updatedAt !== req.unchangedSince)
    ) {
      if (current.status === req.to) return { applied: false, task: copy(current) };
      throw conflict(`task ${task.taskId} is ${current.status}, not ${req.from}`);
    }
    if (plan.cap !== undefined && (this.countersOf().active ?? 0) >= plan.cap) throw new CapacityFull();
    if (plan.lock) {
      const k = `${plan.lock.owner}#${plan.lock.key}`;
      const holder = this.locks.get(k);
      if (plan.lock.claim) {
        if (holder && holder !== plan.lock.taskId) throw new LockHeld(plan.lock.key, holder);
        this.locks.set(k, plan.lock.taskId);
      } else this.locks.delete(k);
    }
    if (plan.models) {
      const ms = plan.models.modelIds.map((id) => ({ id, m: this.models?.peek(id) }));
      // every model's worker or none: check them all before taking any
      for (const { id, m } of ms) {
        const free = m?.status === 'online' && m.active < m.maxWorkers;
        if (plan.models.claim && !free) throw new ModelFull(id, !m);
      }
      for (const { m } of ms) if (m) m.active += plan.models.delta;
    }
    this.tasks.set(task.taskId, copy(plan.next));
    this.addCounters(task.owner, plan.counters);
    if (plan.daily) this.addDaily(plan.now, plan.daily, task.owner);
    if (plan.modelCounters)
      this.add(this.modelCountersOf(plan.modelCounters.modelId), plan.modelCounters.add);
    if (task.batchId) this.add(this.batchItem(task.batchId), plan.counters);
    return { applied: true, task: copy(plan.next) };
  }

  async recordAttemptStart(
    task: TaskRecord,
    attempt: Attempt,
    set: Partial<TaskRecord>,
  ): Promise<TaskRecord> {
    const current = this.tasks.get(task.taskId);
    if (current?.status !== 'STARTING' || current.attempts.length !== task.attempts.length)
      throw conflict(`task ${task.taskId} changed while its attempt started`);
    const next: TaskRecord = { ...current, attempts: [...current.attempts, attempt] };
    if (set.statusReason) next.statusReason = set.statusReason;
    if (set.startedAt) next.startedAt = set.startedAt;
    this.tasks.set(task.taskId, copy(next));
    return { ...task, ...set, attempts: copy(next.attempts) };
  }

  async setExecutionArn(taskId: string, executionArn: string): Promise<void> {
    const current = this.tasks.get(taskId);
    if (!current) throw conflict(`task ${taskId} does not exist`);
    current.executionArn = executionArn;
  }

  async updateProgress(taskId: string, attempt: number, patch: port.ProgressPatch): Promise<boolean> {
    const current = this.tasks.get(taskId);
    const live = current?.status === 'RUNNING' || current?.status === 'STARTING';
    if (!current || !live || current.attempts.length !== attempt) return false;
    for (const [k, v] of Object.entries(patch)) if (v !== undefined) Object.assign(current, { [k]: copy(v) });
    this.writes.progress++;
    return true;
  }

  async list(filter: port.ListFilter): Promise<port.Page<TaskRecord>> {
    const position = filter.cursor ? decodeCursor(filter.cursor).createdKey : undefined;
    if (filter.cursor && typeof position !== 'string')
      throw badRequest('the cursor is not valid', [{ path: 'cursor', message: 'not a cursor of this list' }]);
    const after = position as string | undefined;
    // newest first; a batch's tasks oldest first (the order they were submitted)
    const dir = filter.batchId ? -1 : 1;
    const matching = [...this.tasks.values()]
      .filter((t) =>
        filter.batchId
          ? t.batchId === filter.batchId
          : (!filter.owner || t.owner === filter.owner) &&
            (!filter.status || t.status === filter.status) &&
            (!filter.type || t.type === filter.type) &&
            (!filter.modelId ||
              t.modelId === filter.modelId ||
              Boolean(t.otherModelIds?.includes(filter.modelId))),
      )
      .map((t) => ({ t, key: createdKey(t) }))
      .sort((a, b) => (a.key < b.key ? dir : a.key > b.key ? -dir : 0))
      .filter(({ key }) => after === undefined || (dir === 1 ? key < after : key > after));
    const page = matching.slice(0, filter.limit);
    const last = page.at(-1);
    return {
      items: page.map(({ t }) => copy(t)),
      ...(matching.length > page.length && last ? { cursor: encodeCursor({ createdKey: last.key }) } : {}),
    };
  }

  private queued(): { t: TaskRecord; sk: string }[] {
    return [...this.tasks.values()]
      .filter((t) => t.status === 'QUEUED')
      .map((t) => ({ t, sk: queueSk(t) }))
      .sort((a, b) => (a.sk < b.sk ? -1 : a.sk > b.sk ? 1 : 0));
  }

  async nextQueued(limit: number, passOver: ReadonlySet<string> = new Set()): Promise<TaskRecord[]> {
    return this.queued()
      .filter(({ t }) => !t.modelId || !passOver.has(t.modelId))
      .slice(0, limit)
      .map(({ t }) => copy(t));
  }

  async queuePosition(task: TaskRecord, cap = 1000): Promise<{ ahead: number; atLeast: boolean }> {
    const mine = queueSk(task);
    const ahead = this.queued().filter(({ sk }) => sk < mine).length;
    return { ahead: Math.min(ahead, cap), atLeast: ahead >= cap };
  }

  private batchItem(batchId: string): Record<string, number> {
    return this.countersOf(`batch:${batchId}`);
  }

  async createBatch(batch: port.BatchRecord): Promise<void> {
    if (this.batches.has(batch.batchId)) throw conflict(`batch ${batch.batchId} exists`);
    this.batches.set(batch.batchId, { ...batch });
  }

  async countBatchLines(batchId: string, add: port.BatchLines): Promise<void> {
    this.add(
      this.batchItem(batchId),
      Object.fromEntries(Object.entries(add).map(([k, v]) => [`lines_${k}`, v])),
    );
  }

  async getBatch(batchId: string): Promise<port.BatchState | undefined> {
    const b = this.batches.get(batchId);
    return b ? batchState(b, this.batchItem(batchId)) : undefined;
  }

  private modelCountersOf(modelId: string): Record<string, number> {
    return this.countersOf(`model:${modelId}`);
  }

  async modelStats(modelId: string): Promise<port.ModelStats> {
    const c = this.modelCountersOf(modelId);
    return {
      ...statsFromCounters(c),
      promptTokens: c.promptTokens ?? 0,
      completionTokens: c.completionTokens ?? 0,
      requestsSucceeded: c.requestsSucceeded ?? 0,
      latencyMsSum: c.latencyMsSum ?? 0,
    };
  }

  async stats(owner?: string): Promise<port.Stats> {
    return statsFromCounters(this.countersOf(owner ?? ''));
  }

  async activeSlots(): Promise<number> {
    return (await this.stats()).active;
  }

  async daily(days: number, now = new Date(), owner?: string): Promise<port.DailyCounts[]> {
    return lastDays(days, now).map((date) => dailyRow(date, this.days.get(`${owner ?? ''}#${date}`)));
  }
}
