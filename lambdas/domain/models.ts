/**
 * The model registry: the LLM endpoints inference and trajectory tasks call (seed 004's models).
 * A model is an OpenAI-compatible endpoint (`openai`: OpenAI or any compatible server; `local`: an
 * open model you serve, such as vLLM; `custom`), with defaults, a limit on the tasks that call it at
 * once (`maxWorkers`) and an online/offline status. Its API key is only ever a reference to a secret
 * (as a task's `secrets` are): the registry never holds, returns or logs a key. Pure: no AWS imports.
 */
import { ulid } from 'ulidx';
import * as z from 'zod/mini';
import { type Actor, mayAccess } from './actor.ts';
import { conflict, DomainError, notFound } from './errors.ts';
import { SECRET_REF } from './model.ts';
import type { Clock, Waker } from './ports.ts';
import type { TaskRepository } from './task-repository.ts';
import { toStatsView } from './tasks.ts';
import { int, num, str } from './validation.ts';

export const MODEL_TYPES = ['openai', 'local', 'custom'] as const;
export const MODEL_STATUSES = ['online', 'offline'] as const;
export type ModelStatus = (typeof MODEL_STATUSES)[number];

const httpUrl = z.string().check(
  z.url(),
  z.maxLength(2048),
  z.refine((u) => /^https?:\/\//.test(u), 'an http(s) URL'),
);

/** What a user gives to register or replace a model. */
export const modelSpecSchema = z.strictObject({
  /** unique: tasks and routes (/v1/models/{name}) name a model by it or by its id, so no `/` */
  name: z
    .string()
    .check(
      z.regex(
        /^[A-Za-z0-9][\w.:-]{0,127}$/,
        '1-128 of letters, digits and _ . : - (starting with a letter or digit)',
      ),
    ),
  type: z.enum(MODEL_TYPES),
  /** the OpenAI-compatible API root, e.g. https://api.openai.com/v1 or http://vllm:8000/v1 */
  baseUrl: httpUrl,
  /** the model name the endpoint knows (`model` in its requests) */
  model: str(1, 256),
  defaults: z._default(
    z.strictObject({
      maxTokens: z.optional(int(1, 1_000_000)),
      temperature: z.optional(num(0, 2)),
    }),
    {},
  ),
  /** tasks that call the model at once, at most */
  maxWorkers: z._default(int(1, 1000), 1),
  /** the API key, as a secret reference (ssm:<name> or secretsmanager:<name>[#key]); never the key */
  apiKey: z.optional(
    z
      .string()
      .check(
        z.regex(
          SECRET_REF,
          'a secret reference (ssm:<name> or secretsmanager:<name>[#key]), never the key itself',
        ),
      ),
  ),
  /** USD per million tokens, for cost estimates */
  prices: z.optional(
    z.strictObject({
      inputPerMillionTokens: num(0, 1_000_000),
      outputPerMillionTokens: num(0, 1_000_000),
    }),
  ),
  status: z._default(z.enum(MODEL_STATUSES), 'online'),
});
export type ModelSpec = z.output<typeof modelSpecSchema>;

export const modelStatusSchema = z.strictObject({ status: z.enum(MODEL_STATUSES) });

export interface ModelRecord extends ModelSpec {
  modelId: string;
  owner: string;
  createdAt: string;
  updatedAt: string;
  /** tasks of this model running now (kept by the dispatcher with the global cap) */
  active: number;
}

/** The registry's storage. Names are unique among models that exist. */
export interface ModelRepository {
  /** Stores a new model; false when the name is taken. */
  create(m: ModelRecord): Promise<boolean>;
  get(modelId: string): Promise<ModelRecord | undefined>;
  byName(name: string): Promise<ModelRecord | undefined>;
  /** Every model, oldest first. */
  list(): Promise<ModelRecord[]>;
  /** Replaces the model's settings; 'name-taken' when it is renamed to a name in use, 'gone' when it no longer exists. */
  replace(prev: ModelRecord, next: ModelRecord): Promise<'ok' | 'name-taken' | 'gone'>;
  /** Removes the model unless tasks of it are running ('busy'). */
  remove(m: ModelRecord): Promise<'ok' | 'busy' | 'gone'>;
}

/** The model a task or a route names, by its id or by its name. */
export async function findModel(
  models: Pick<ModelRepository, 'get' | 'byName'>,
  idOrName: string,
): Promise<ModelRecord | undefined> {
  return (await models.get(idOrName)) ?? (await models.byName(idOrName));
}

export class ModelService {
  constructor(
    private readonly models: ModelRepository,
    private readonly clock: Clock,
    /** where each model's tasks are counted and listed @default none: stats are refused */
    private readonly tasks?: Pick<TaskRepository, 'modelStats' | 'list'>,
    /** the dispatcher, woken when a model can take more tasks @default none: the next pass sees it */
    private readonly waker?: Waker,
  ) {}

  /**
   * A model's tasks by status, success rate, tokens, mean run time, and its workers in use: for its
   * owner and admins (they add up every user's tasks of the model).
   */
  async stats(idOrName: string, actor: Actor) {
    const m = await this.mine(idOrName, actor);
    if (!this.tasks) throw notFound(`stats of model ${idOrName}`);
    const s = await this.tasks.modelStats(m.modelId);
    const view = toStatsView(s, m.maxWorkers);
    return {
      modelId: m.modelId,
      name: m.name,
      status: m.status,
      workersInUse: m.active,
      maxWorkers: m.maxWorkers,
      total: view.total,
      byStatus: view.byStatus,
      successRate: view.successRate,
      queueDepth: view.queueDepth,
      promptTokens: s.promptTokens,
      completionTokens: s.completionTokens,
      meanLatencyMs: s.requestsSucceeded ? Math.round(s.latencyMsSum / s.requestsSucceeded) : null,
      meanRunSeconds: view.meanRunSeconds,
      meanQueueWaitSeconds: view.meanQueueWaitSeconds,
    };
  }

  async create(spec: ModelSpec, actor: Actor): Promise<ModelRecord> {
    const now = this.clock.now().toISOString();
    const m: ModelRecord = {
      ...spec,
      modelId: ulid(),
      owner: actor.id,
      createdAt: now,
      updatedAt: now,
      active: 0,
    };
    if (!(await this.models.create(m))) throw conflict(`a model named ${spec.name} exists`);
    return m;
  }

  /** A model by id or by name, or a 404. */
  async get(idOrName: string): Promise<ModelRecord> {
    const m = await findModel(this.models, idOrName);
    if (!m) throw notFound(`model ${idOrName}`);
    return m;
  }

  list(): Promise<ModelRecord[]> {
    return this.models.list();
  }

  /** Who registered a model, and admins, may change or remove it; anyone may use it. */
  private async mine(idOrName: string, actor: Actor): Promise<ModelRecord> {
    const m = await this.get(idOrName);
    if (!mayAccess(actor, m.owner))
      throw new DomainError(
        403,
        'Forbidden',
        `model ${m.name} was registered by ${m.owner}: only they or an admin may change it`,
      );
    return m;
  }

  private async save(prev: ModelRecord, next: ModelRecord): Promise<ModelRecord> {
    const r = await this.models.replace(prev, next);
    if (r === 'name-taken') throw conflict(`a model named ${next.name} exists`);
    if (r === 'gone') throw notFound(`model ${prev.modelId}`);
    // online again, or more workers: its waiting tasks start now, not at the dispatcher's next tick
    const opened =
      next.status === 'online' && (prev.status !== 'online' || next.maxWorkers > prev.maxWorkers);
    if (opened) await this.waker?.wake({ why: `model ${next.name} can take more tasks` });
    return next;
  }

  async replace(idOrName: string, spec: ModelSpec, actor: Actor): Promise<ModelRecord> {
    const prev = await this.mine(idOrName, actor);
    return this.save(prev, { ...spec, ...keep(prev), updatedAt: this.clock.now().toISOString() });
  }

  async setStatus(idOrName: string, status: ModelStatus, actor: Actor): Promise<ModelRecord> {
    const prev = await this.mine(idOrName, actor);
    return this.save(prev, { ...prev, status, updatedAt: this.clock.now().toISOString() });
  }

  async remove(idOrName: string, actor: Actor): Promise<void> {
    const m = await this.mine(idOrName, actor);
    const queued = this.tasks ? ((await this.tasks.modelStats(m.modelId)).byStatus.QUEUED ?? 0) : 0;
    if (queued > 0)
      throw conflict(
        `model ${m.name} has ${queued} task(s) queued: cancel them or let them run, then delete it`,
      );
    // a queued batch file that names it among its other models holds it too (the counters are the main model's)
    const calling = this.tasks && (await this.tasks.list({ modelId: m.modelId, status: 'QUEUED', limit: 1 }));
    const waiting = calling?.items[0];
    if (waiting)
      throw conflict(
        `model ${m.name} is called by queued task ${waiting.taskId} (among a batch file's models): cancel it or let it run, then delete it`,
      );
    const r = await this.models.remove(m);
    if (r === 'busy')
      throw conflict(`model ${m.name} has ${m.active} task(s) running: cancel them or wait, then delete it`);
    if (r === 'gone') throw notFound(`model ${idOrName}`);
  }
}

/** What a replace keeps from the stored model: identity, ownership and the running count. */
const keep = (m: ModelRecord) => ({
  modelId: m.modelId,
  owner: m.owner,
  createdAt: m.createdAt,
  active: m.active,
});
