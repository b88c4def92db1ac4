/**
 * The task service: what the API does, over the store and the ports. No AWS imports.
 */
import { isValid as isValidUlid, monotonicFactory, ulid } from 'ulidx';

/** Ids that sort in the order they were made, within a millisecond too (a batch's lines keep their order). */
const nextTaskId = monotonicFactory();

import { type Actor, mayAccess } from './actor.ts';
import { badRequest, conflict, DomainError, type FieldIssue, notFound, tooManyRequests } from './errors.ts';
import {
  ACTIVE,
  parseSecretRef,
  STATUSES,
  type Status,
  type TaskRecord,
  type TaskSpec,
  TERMINAL,
  withDefaults,
} from './model.ts';
import { findModel, type ModelRecord, type ModelRepository } from './models.ts';
import type { Clock, Executions, Waker } from './ports.ts';
import { MAX_SPEC_BYTES, sizeOf, storableIssues } from './storable.ts';
import {
  type BatchLines,
  type BatchRecord,
  type BatchState,
  type ListFilter,
  LockHeld,
  mustGet,
  type Page,
  type Stats,
  type TaskRepository,
} from './task-repository.ts';
import { costOf, durationOf, type Prices } from './time.ts';
import { statsFromCounters } from './transitions.ts';

/** The secret names tasks may reference unless the stack says otherwise (CDK context secretsPrefix). */
export const DEFAULT_SECRETS_PREFIX = 'trainstack/';

export interface TaskServiceConfig {
  maxQueueDepth: number;
  maxConcurrentTasks: number;
  /** The most GPUs one task can have: what the cluster's instances hold. @default 8 */
  maxGpusPerTask?: number;
  /** Secret names tasks may reference start with this (the runner may read only these). @default trainstack/ */
  secretsPrefix?: string;
  /** Roles a task's workload may work as (`roleArn`); `*` in one matches any characters. @default none */
  workloadRoleArns?: readonly string[];
  /** what compute costs an hour, for the running cost of a task that has not ended @default none */
  prices?: Prices;
}

/** Whether `arn` is one of the allowed role ARNs (`*` matching any run of characters). */
export function roleAllowed(arn: string, allowed: readonly string[]): boolean {
  return allowed.some((p) =>
    new RegExp(
      `^${p
        .split('*')
        .map((x) => x.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('.*')}$`,
    ).test(arn),
  );
}

/** What is wrong with a spec's secrets: names outside the prefix the runner may read, names also in env. */
export function secretIssues(spec: TaskSpec, prefix: string): FieldIssue[] {
  const issues: FieldIssue[] = [];
  for (const [name, ref] of Object.entries(spec.secrets ?? {})) {
    if (spec.env && name in spec.env)
      issues.push({ path: `secrets.${name}`, message: `${name} is in env too; give it once` });
    const { store, name: id } = parseSecretRef(ref);
    const bare = store === 'ssm' ? id.replace(/^\//, '') : (id.split(':secret:')[1] ?? id);
    if (!bare.startsWith(prefix))
      issues.push({
        path: `secrets.${name}`,
        message: `tasks may read secrets whose names start with ${prefix} (CDK context secretsPrefix), not ${id}`,
      });
  }
  return issues;
}

/** A lockKey held by another task: a 409 that names the task holding it. */
function lockConflict(e: LockHeld): DomainError {
  return new DomainError(
    409,
    'Conflict',
    `task ${e.holder ?? '(unknown)'} holds lockKey ${e.key}: one task with it is queued or running at a time`,
    [{ path: 'lockKey', message: `held by task ${e.holder ?? '(unknown)'} until it ends (or is cancelled)` }],
  );
}

/** A batch as the API shows it: its lines, its tasks by status, and how far along they are. */
export interface BatchView {
  batchId: string;
  name?: string;
  owner: string;
  createdAt: string;
  /** lines received, new tasks, lines whose task_id was already a task of this owner, lines refused */
  lines: { received: number; accepted: number; duplicates: number; rejected: number };
  /** the tasks it created */
  tasks: number;
  byStatus: Record<string, number>;
  /** tasks that ended (any terminal status) */
  finished: number;
  /** finished / tasks, 0-100 */
  progress: number;
  /** every task it created has ended */
  done: boolean;
}

export function batchView(b: BatchState): BatchView {
  const byStatus = Object.fromEntries(Object.entries(b.stats.byStatus).filter(([, n]) => n > 0));
  const tasks = b.stats.total;
  const finished = [...TERMINAL].reduce((n, s) => n + (byStatus[s] ?? 0), 0);
  return {
    batchId: b.batchId,
    ...(b.name ? { name: b.name } : {}),
    owner: b.owner,
    createdAt: b.createdAt,
    lines: { received: b.lines, accepted: b.accepted, duplicates: b.duplicates, rejected: b.rejected },
    tasks,
    byStatus,
    finished,
    progress: tasks ? Math.floor((finished / tasks) * 100) : 0,
    done: tasks > 0 && finished === tasks,
  };
}

export interface StatsView {
  total: number;
  byStatus: Record<Status, number>;
  byType: Record<string, { total: number; byStatus: Record<string, number>; successRate: number | null }>;
  successRate: number | null;
  queueDepth: number;
  running: number;
  runningGpus: number;
  concurrencyCap: number;
  meanQueueWaitSeconds: number | null;
  meanRunSeconds: number | null;
  /** what the tasks that ended cost, estimated (GPU or CPU hours at the stack's prices, and tokens) */
  estimatedCostUsd: number;
}

export class TaskService {
  constructor(
    private readonly store: TaskRepository,
    private readonly waker: Waker,
    private readonly executions: Executions,
    private readonly config: TaskServiceConfig,
    private readonly clock: Clock,
    /** the model registry, where inference tasks' models must exist @default none: no model exists */
    private readonly models?: Pick<ModelRepository, 'get' | 'byName'>,
  ) {}

  async submit(
    spec: TaskSpec,
    owner: string,
    idempotencyKey?: string,
    batchId?: string,
  ): Promise<{ task: TaskRecord; created: boolean }> {
    if (idempotencyKey) {
      const existing = await this.store.findByIdempotencyKey(owner, idempotencyKey);
      if (existing) return { task: existing, created: false };
    }
    await this.roomInQueue(1);
    const task = await this.prepare(spec, owner, this.clock.now(), idempotencyKey, batchId);
    const result = await this.store.create(task).catch((e: unknown) => {
      throw e instanceof LockHeld ? lockConflict(e) : e;
    });
    if (result.created) await this.waker.wake({ taskId: task.taskId, why: 'submitted' });
    return result;
  }

  /**
   * Many tasks at once (a batch request): each line checked as `submit` checks one, the queue's room
   * read once, the models looked up once each, the records written in few transactions, and the
   * dispatcher woken once. Lines keep their order (one time, ids in line order). Each line's answer
   * is its task (created, or the one its key already named) or the error that refused it.
   */
  async submitMany(
    lines: { spec: TaskSpec; idempotencyKey?: string }[],
    owner: string,
    batchId?: string,
  ): Promise<({ task: TaskRecord; created: boolean } | { error: DomainError })[]> {
    const at = this.clock.now();
    const models = new Map<string, Promise<ModelRecord | undefined>>();
    const cachedModels = this.models && {
      get: (id: string) => this.models?.get(id) as Promise<ModelRecord | undefined>,
      byName: (name: string) => {
        if (!models.has(name))
          models.set(name, this.models?.byName(name) as Promise<ModelRecord | undefined>);
        return models.get(name) as Promise<ModelRecord | undefined>;
      },
    };
    const prepared: (TaskRecord | DomainError)[] = [];
    for (const l of lines) {
      try {
        prepared.push(await this.prepare(l.spec, owner, at, l.idempotencyKey, batchId, cachedModels));
      } catch (e) {
        if (!(e instanceof DomainError)) throw e;
        prepared.push(e);
      }
    }
    // room for how many: the queue's depth is read once
    const stats = await this.store.stats();
    let room = this.config.maxQueueDepth - (stats.byStatus.QUEUED ?? 0);
    const toCreate: TaskRecord[] = [];
    const full = tooManyRequests(`the queue holds ${this.config.maxQueueDepth} tasks; try again later`, 30);
    // a key given twice in one request: the later lines are the first line's task
    const firstWithKey = new Map<string, TaskRecord>();
    // a lockKey given twice in one request: the first line takes it
    const locked = new Map<string, TaskRecord>();
    const answers = prepared.map((p): TaskRecord | DomainError | { sameAs: TaskRecord } => {
      if (p instanceof DomainError) return p;
      const first = p.idempotencyKey ? firstWithKey.get(p.idempotencyKey) : undefined;
      if (first) return { sameAs: first };
      const holder = p.spec.lockKey ? locked.get(p.spec.lockKey) : undefined;
      if (p.spec.lockKey && holder) return lockConflict(new LockHeld(p.spec.lockKey, holder.taskId));
      if (room <= 0 && !p.idempotencyKey) return full;
      // only a line that will be stored takes its lockKey and a place in the queue
      if (p.spec.lockKey) locked.set(p.spec.lockKey, p);
      room--;
      if (p.idempotencyKey) firstWithKey.set(p.idempotencyKey, p);
      toCreate.push(p);
      return p;
    });
    const stored = new Map(
      (await this.store.createMany(toCreate)).map((r, i) => [toCreate[i]?.taskId ?? '', r] as const),
    );
    if ([...stored.values()].some((r) => 'created' in r && r.created))
      await this.waker.wake({ taskId: toCreate[0]?.taskId ?? '', why: 'submitted' });
    const unstored = new DomainError(
      503,
      'ServiceUnavailable',
      'this line could not be stored; submit it again',
    );
    return answers.map((a) => {
      if (a instanceof DomainError) return { error: a };
      const r = stored.get('sameAs' in a ? a.sameAs.taskId : a.taskId);
      if (r && 'error' in r && r.error instanceof LockHeld) return { error: lockConflict(r.error) };
      if (r && 'error' in r && r.error instanceof DomainError) return { error: r.error };
      if (!r || !('task' in r)) return { error: unstored };
      return 'sameAs' in a ? { task: r.task, created: false } : r;
    });
  }

  /** Refuse when the queue is full. */
  private async roomInQueue(n: number): Promise<void> {
    const stats = await this.store.stats();
    if ((stats.byStatus.QUEUED ?? 0) + n > this.config.maxQueueDepth) {
      throw tooManyRequests(`the queue holds ${this.config.maxQueueDepth} tasks; try again later`, 30);
    }
  }

  /** Check a spec as submit does, and make its record (not yet stored). */
  private async prepare(
    spec: TaskSpec,
    owner: string,
    at: Date,
    idempotencyKey?: string,
    batchId?: string,
    models: Pick<ModelRepository, 'get' | 'byName'> | undefined = this.models,
  ): Promise<TaskRecord> {
    const full = withDefaults(spec);
    const maxGpus = this.config.maxGpusPerTask ?? 8;
    if ((full.gpus ?? 0) > maxGpus) {
      throw badRequest(`this stack's instances hold ${maxGpus} GPU(s) per task`, [
        {
          path: 'gpus',
          message: `at most ${maxGpus} (deploy with larger instances for more: -c instanceTypes=g5.12xlarge holds 4 GPUs, g5.48xlarge 8)`,
        },
      ]);
    }
    if (full.roleArn && !roleAllowed(full.roleArn, this.config.workloadRoleArns ?? []))
      throw badRequest('the task names a role its workload may not use', [
        {
          path: 'roleArn',
          message: this.config.workloadRoleArns?.length
            ? `not one of the roles this stack allows (CDK context workloadRoleArns): ${this.config.workloadRoleArns.join(', ')}`
            : 'this stack allows no workload roles (deploy with -c workloadRoleArns=<role ARN>,...)',
        },
      ]);
    const secrets = secretIssues(full, this.config.secretsPrefix ?? DEFAULT_SECRETS_PREFIX);
    if (secrets.length) throw badRequest('the task names secrets it cannot have', secrets);
    const unstorable = storableIssues(full);
    if (unstorable.length) throw badRequest('the task has values a task record cannot hold', unstorable);
    const { bytes, largest } = sizeOf(full as unknown as Record<string, unknown>);
    if (bytes > MAX_SPEC_BYTES) {
      throw new DomainError(413, 'PayloadTooLarge', `the task is ${bytes} bytes; at most ${MAX_SPEC_BYTES}`, [
        {
          path: largest ?? '(body)',
          message: 'the largest field; keep large inputs in S3 and pass their location',
        },
      ]);
    }
    let modelId: string | undefined;
    const otherModelIds: string[] = [];
    if (full.type === 'inference') {
      const p = full.params;
      const given = [p.input, p.inputs, p.inputsUri].filter((x) => x !== undefined).length;
      if (given !== 1)
        throw badRequest('an inference task needs its input', [
          {
            path: 'params.input',
            message: 'give one of input (one), inputs (a list) or inputsUri (a JSONL file in S3)',
          },
        ]);
      if (p.inputsUri && !full.roleArn)
        throw badRequest('reading inputsUri needs a role', [
          { path: 'roleArn', message: 'name a role (roleArn) that may read the inputsUri object' },
        ]);
      const known = models && (await findModel(models, p.model));
      if (!known)
        throw badRequest(`no model ${p.model}`, [
          {
            path: 'params.model',
            message: 'no registered model has this id or name (GET /v1/models lists them)',
          },
        ]);
      modelId = known.modelId;
      for (const [i, name] of (p.models ?? []).entries()) {
        const other = models && (await findModel(models, name));
        if (!other)
          throw badRequest(`no model ${name}`, [
            {
              path: `params.models.${i}`,
              message: 'no registered model has this id or name (GET /v1/models lists them)',
            },
          ]);
        if (other.modelId !== modelId && !otherModelIds.includes(other.modelId))
          otherModelIds.push(other.modelId);
      }
    }
    if (full.type === 'trajectory' && (full.params.model || !full.command)) {
      // the agent runtime calls a registered model; there is no default one to fall back on
      const name = full.params.model;
      const known = name && models && (await findModel(models, name));
      if (!known)
        throw badRequest(name ? `no model ${name}` : 'a trajectory task needs a model', [
          {
            path: 'params.model',
            message: name
              ? 'no registered model has this id or name (GET /v1/models lists them)'
              : 'name the registered model the agent calls (register one with POST /v1/models or `trainstack models add`)',
          },
        ]);
      modelId = known.modelId;
    }
    return {
      ...newTaskRecord(full, owner, at, idempotencyKey),
      ...(modelId ? { modelId } : {}),
      ...(otherModelIds.length ? { otherModelIds } : {}),
      ...(batchId ? { batchId } : {}),
    };
  }

  /** A new, empty batch of the actor's: tasks join it as `POST /v1/tasks/batch?batchId=` sends them. */
  async createBatch(actor: Actor, name?: string): Promise<BatchView> {
    const batch: BatchRecord = {
      batchId: ulid(),
      owner: actor.id,
      ...(name ? { name } : {}),
      createdAt: this.clock.now().toISOString(),
    };
    await this.store.createBatch(batch);
    return batchView({
      ...batch,
      lines: 0,
      accepted: 0,
      duplicates: 0,
      rejected: 0,
      stats: statsFromCounters({}),
    });
  }

  /** The batch, if the actor may see it (another owner's is a 404). */
  async batch(batchId: string, actor: Actor): Promise<BatchView> {
    const b = await this.store.getBatch(batchId);
    if (!b || !mayAccess(actor, b.owner)) throw notFound(`batch ${batchId}`);
    return batchView(b);
  }

  /** Count what became of a request's lines into their batch. */
  async countBatchLines(batchId: string, lines: BatchLines): Promise<void> {
    await this.store.countBatchLines(batchId, lines);
  }

  /** A batch's tasks, in the order they were submitted. */
  async batchTasks(
    batchId: string,
    actor: Actor,
    page: { limit: number; cursor?: string },
  ): Promise<Page<TaskRecord>> {
    await this.batch(batchId, actor);
    return this.store.list({ batchId, limit: page.limit, ...(page.cursor ? { cursor: page.cursor } : {}) });
  }

  /** The task, if the actor may see it; another owner's task is a 404, as if it did not exist. */
  async owned(taskId: string, actor: Actor): Promise<TaskRecord> {
    const task = await mustGet(this.store, taskId);
    if (!mayAccess(actor, task.owner)) throw notFound(`task ${taskId}`);
    return task;
  }

  /** The task with its place in the queue spelled out, if the actor may see it. */
  async get(taskId: string, actor: Actor): Promise<TaskRecord> {
    const task = await this.owned(taskId, actor);
    if (task.status === 'QUEUED') {
      const [{ ahead, atLeast }, active] = await Promise.all([
        this.store.queuePosition(task),
        this.store.activeSlots(),
      ]);
      // the first of its models (a mixed batch file takes a worker of each) that holds it back
      let model: ModelRecord | undefined;
      for (const id of task.modelId ? [task.modelId, ...(task.otherModelIds ?? [])] : []) {
        model = await this.models?.get(id);
        if (model && (model.status === 'offline' || model.active >= model.maxWorkers)) break;
      }
      const position = `${atLeast ? 'at least ' : ''}${ahead} task(s) ahead`;
      if (model?.status === 'offline')
        task.statusReason = `model ${model.name} is offline; queued: ${position}`;
      else if (model && model.active >= model.maxWorkers)
        task.statusReason = `model ${model.name}: ${model.active} of ${model.maxWorkers} workers busy; queued: ${position}`;
      else
        task.statusReason =
          `queued: ${atLeast ? 'at least ' : ''}${ahead} task(s) ahead; ${active} of ${this.config.maxConcurrentTasks} slots in use` +
          (active >= this.config.maxConcurrentTasks ? ', waiting for a free slot' : ', waiting for dispatch');
    }
    // a running task's cost so far (the workflow records the final one when it ends)
    if (ACTIVE.has(task.status) && this.config.prices)
      Object.assign(
        task,
        costOf(task, durationOf(task, this.clock.now()).durationSeconds, this.config.prices),
      );
    return task;
  }

  /**
   * The actor's own tasks; an admin's list covers every owner, or the one `owner` names. `model` (a
   * registered model's id or name) keeps the tasks that call it; a removed model's tasks are found by
   * its id.
   */
  async list(filter: ListFilter & { model?: string }, actor: Actor): Promise<Page<TaskRecord>> {
    const { model, ...rest } = filter;
    if (!actor.admin && rest.owner !== undefined && rest.owner !== actor.id) {
      throw new DomainError(403, 'Forbidden', "only admins list other owners' tasks", [
        { path: 'owner', message: 'leave it out to list your own tasks' },
      ]);
    }
    if (model !== undefined) {
      const known = this.models && (await findModel(this.models, model));
      if (!known && !isValidUlid(model))
        throw badRequest(`no model ${model}`, [
          { path: 'model', message: 'no registered model has this id or name (GET /v1/models lists them)' },
        ]);
      rest.modelId = known ? known.modelId : model;
    }
    return this.store.list(actor.admin ? rest : { ...rest, owner: actor.id });
  }

  /** Cancel: a queued task never starts; an active one has its execution (and so its container) stopped. */
  async cancel(taskId: string, actor: Actor): Promise<TaskRecord> {
    const by = actor.id;
    for (let i = 0; i < 5; i++) {
      const task = await this.owned(taskId, actor);
      if (TERMINAL.has(task.status)) throw conflict(`task ${taskId} is already ${task.status}`);
      const now = this.clock.now();
      const attempts = task.attempts;
      const last = attempts.at(-1);
      const endAttempt =
        last && !last.endedAt
          ? {
              index: attempts.length - 1,
              attempt: {
                ...last,
                endedAt: now.toISOString(),
                outcome: 'cancelled',
                reason: `cancelled by ${by}`,
              },
            }
          : undefined;
      try {
        const { task: done } = await this.store.transition(task, {
          from: task.status,
          to: 'CANCELLED',
          reason: `cancelled by ${by}`,
          set: { finishedAt: now.toISOString(), ...durationOf(task, now) },
          ...(endAttempt ? { endAttempt } : {}),
          now: now.toISOString(),
        });
        if (ACTIVE.has(task.status) && task.executionArn) {
          await this.executions.stop(task.executionArn, `cancelled by ${by}`);
        }
        if (ACTIVE.has(task.status)) await this.waker.wake({ taskId, why: 'slot freed by cancel' });
        return done;
      } catch (e) {
        // the task moved on between our read and write (e.g. QUEUED -> STARTING): read again
        if (e instanceof Error && 'status' in e && (e as { status: number }).status === 409) continue;
        throw e;
      }
    }
    throw conflict(`task ${taskId} kept changing; try again`);
  }

  /** Run a failed or cancelled task again, from the queue, with its retries reset. */
  async retry(taskId: string, actor: Actor): Promise<TaskRecord> {
    const by = actor.id;
    const task = await this.owned(taskId, actor);
    if (task.status !== 'FAILED' && task.status !== 'CANCELLED') {
      throw conflict(`only FAILED or CANCELLED tasks can be retried; task ${taskId} is ${task.status}`);
    }
    const { task: queued } = await this.store
      .transition(task, {
        from: task.status,
        to: 'QUEUED',
        reason: `requeued by ${by}`,
        set: { retryCount: 0, progress: 0 },
        now: this.clock.now().toISOString(),
      })
      .catch((e: unknown) => {
        throw e instanceof LockHeld ? lockConflict(e) : e;
      });
    await this.waker.wake({ taskId, why: 'retried' });
    return queued;
  }

  /** An admin's stats cover every owner; anyone else's cover their own tasks. */
  async stats(actor: Actor): Promise<StatsView> {
    return toStatsView(
      await this.store.stats(actor.admin ? undefined : actor.id),
      this.config.maxConcurrentTasks,
    );
  }

  daily(days: number, actor: Actor) {
    return this.store.daily(days, this.clock.now(), actor.admin ? undefined : actor.id);
  }
}

const rate = (ok: number, bad: number) =>
  ok + bad === 0 ? null : Math.round((ok / (ok + bad)) * 10_000) / 100;

/** A new task's record: QUEUED, no attempts yet. The spec is taken as given (validated by the caller). */
export function newTaskRecord(spec: TaskSpec, owner: string, at: Date, idempotencyKey?: string): TaskRecord {
  const now = at.toISOString();
  return {
    taskId: nextTaskId(at.getTime()),
    type: spec.type,
    ...(spec.name ? { name: spec.name } : {}),
    owner,
    spec,
    status: 'QUEUED',
    statusReason: 'queued: waiting for the dispatcher',
    priority: spec.priority,
    progress: 0,
    attempts: [],
    retryCount: 0,
    createdAt: now,
    updatedAt: now,
    ...(idempotencyKey ? { idempotencyKey } : {}),
  };
}

export function toStatsView(s: Stats, cap: number): StatsView {
  const byStatus = {} as Record<Status, number>;
  for (const st of STATUSES) byStatus[st] = s.byStatus[st] ?? 0;
  const byType: StatsView['byType'] = {};
  for (const [type, total] of Object.entries(s.byType)) {
    const st = s.byTypeStatus[type] ?? {};
    byType[type] = { total, byStatus: st, successRate: rate(st.SUCCEEDED ?? 0, st.FAILED ?? 0) };
  }
  return {
    total: s.total,
    byStatus,
    byType,
    successRate: rate(byStatus.SUCCEEDED, byStatus.FAILED),
    queueDepth: byStatus.QUEUED,
    running: byStatus.STARTING + byStatus.RUNNING + byStatus.RETRYING,
    runningGpus: s.activeGpus,
    concurrencyCap: cap,
    meanQueueWaitSeconds: s.waitCount ? Math.round((s.waitSecondsSum / s.waitCount) * 10) / 10 : null,
    meanRunSeconds: s.runCount ? Math.round((s.runSecondsSum / s.runCount) * 10) / 10 : null,
    estimatedCostUsd: Math.round(s.costMicroUsd ?? 0) / 1_000_000,
  };
}
