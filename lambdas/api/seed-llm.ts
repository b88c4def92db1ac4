/**
 * The LLM scheduler API of seed 004, for its users: `/api/v1/tasks`, `/api/v1/models`,
 * `/api/v1/stats/dashboard`, `/api/v1/stats/tasks/date` and `/api/v1/system/health`, in that
 * document's words (snake_case; statuses pending, running, completed, failed, cancelled; priorities
 * 1 low, 2 medium, 3 high), mapped onto the same tasks and models as `/v1`. A model's `model_id` is
 * its id or its name here; its API key is a secret reference, as on `/v1` (a raw key is refused).
 */
import * as z from 'zod/mini';
import { badRequest } from '../domain/errors.ts';
import { SECRET_REF, type Status, type TaskRecord } from '../domain/model.ts';
import { MODEL_TYPES, type ModelRecord, type ModelSpec, modelStatusSchema } from '../domain/models.ts';
import { int, num, queryInt, str } from '../domain/validation.ts';
import { json, jsonBody } from './http.ts';
import { idParam, parseQuery, type Route, type RouteHandler } from './router.ts';
import { dailyQuery } from './schemas.ts';

export const LLM_STATUSES = ['pending', 'running', 'completed', 'failed', 'cancelled'] as const;
type LlmStatus = (typeof LLM_STATUSES)[number];
const TO_STATUSES: Record<LlmStatus, Status[]> = {
  pending: ['QUEUED'],
  running: ['STARTING', 'RUNNING', 'RETRYING'],
  completed: ['SUCCEEDED'],
  failed: ['FAILED'],
  cancelled: ['CANCELLED'],
};
const toLlmStatus = (s: Status): LlmStatus =>
  (Object.entries(TO_STATUSES).find(([, v]) => v.includes(s))?.[0] ?? 'pending') as LlmStatus;

/** The document's priorities (1 low, 2 medium, 3 high) on trainstack's 1-10 scale, and back. */
const PRIORITY: Record<number, number> = { 1: 2, 2: 5, 3: 8 };
const fromPriority = (p: number) => (p >= 7 ? 3 : p >= 4 ? 2 : 1);

export const createTask = z.strictObject({
  model_id: z.union([str(1, 128), z.number().check(z.int())]),
  type: z.enum(['text-generation', 'translation', 'summarization', 'embedding', 'custom']),
  input: z.union([z.string().check(z.maxLength(200_000)), z.record(z.string(), z.unknown())]),
  priority: z._default(int(1, 3), 2),
  max_retries: z._default(int(0, 10), 3),
});

export const llmListQuery = z.strictObject({
  page: z._default(queryInt(1, 1000), 1),
  page_size: z._default(queryInt(1, 100), 20),
  status: z.optional(z.enum(LLM_STATUSES)),
});

export const createModel = z.strictObject({
  name: str(1, 128),
  type: z.enum(MODEL_TYPES),
  config: z.strictObject({
    api_key: z.optional(
      z
        .string()
        .check(
          z.regex(
            SECRET_REF,
            'a secret reference (ssm:<name> or secretsmanager:<name>[#key]); trainstack never stores keys',
          ),
        ),
    ),
    base_url: z.optional(z.string().check(z.maxLength(2048))),
    model: z.optional(str(1, 256)),
    host: z.optional(z.string().check(z.maxLength(253))),
    port: z.optional(int(1, 65_535)),
    model_path: z.optional(z.string().check(z.maxLength(1024))),
    max_tokens: z.optional(int(1, 1_000_000)),
    temperature: z.optional(num(0, 2)),
  }),
  max_workers: z._default(int(1, 1000), 1),
});

/** The document's model config as a registry model: a local model's host, port and path become its endpoint. */
function toModelSpec(b: z.output<typeof createModel>): ModelSpec {
  const c = b.config;
  const baseUrl =
    c.base_url ??
    (c.host
      ? `http://${c.host}:${c.port ?? 8000}/v1`
      : b.type === 'openai'
        ? 'https://api.openai.com/v1'
        : undefined);
  const model = c.model ?? c.model_path;
  const missing = [
    ...(baseUrl ? [] : [{ path: 'config.base_url', message: 'give base_url, or host and port' }]),
    ...(model ? [] : [{ path: 'config.model', message: 'give model (or model_path)' }]),
  ];
  if (!baseUrl || !model || missing.length) throw badRequest('the model config is incomplete', missing);
  return {
    name: b.name,
    type: b.type,
    baseUrl,
    model,
    defaults: {
      ...(c.max_tokens !== undefined ? { maxTokens: c.max_tokens } : {}),
      ...(c.temperature !== undefined ? { temperature: c.temperature } : {}),
    },
    maxWorkers: b.max_workers,
    ...(c.api_key ? { apiKey: c.api_key } : {}),
    status: 'online',
  };
}

export function toLlmModel(m: ModelRecord) {
  return {
    id: m.modelId,
    name: m.name,
    type: m.type,
    config: {
      base_url: m.baseUrl,
      model: m.model,
      ...(m.defaults.maxTokens !== undefined ? { max_tokens: m.defaults.maxTokens } : {}),
      ...(m.defaults.temperature !== undefined ? { temperature: m.defaults.temperature } : {}),
      ...(m.apiKey ? { api_key: m.apiKey } : {}),
    },
    max_workers: m.maxWorkers,
    active_workers: m.active,
    status: m.status,
    created_at: m.createdAt,
    updated_at: m.updatedAt,
  };
}

export function toLlmTask(t: TaskRecord) {
  const p = t.spec.type === 'inference' ? t.spec.params : undefined;
  return {
    id: t.taskId,
    model_id: t.modelId ?? null,
    type: p?.kind ?? t.type,
    input: p?.input ?? p?.inputs ?? null,
    output: t.output ?? null,
    status: toLlmStatus(t.status),
    priority: fromPriority(t.priority),
    retry_count: t.retryCount,
    max_retries: t.spec.maxRetries,
    error_message: t.status === 'FAILED' || t.status === 'CANCELLED' ? (t.statusReason ?? null) : null,
    tokens: t.metrics
      ? { prompt: t.metrics.promptTokens ?? 0, completion: t.metrics.completionTokens ?? 0 }
      : null,
    created_at: t.createdAt,
    started_at: t.startedAt ?? null,
    completed_at: t.finishedAt ?? null,
  };
}

const list: RouteHandler = async (event, _p, deps, actor) => {
  const q = parseQuery(llmListQuery, event);
  const wanted = q.page * q.page_size;
  const statuses: (Status | undefined)[] = q.status ? TO_STATUSES[q.status] : [undefined];
  const tasks: TaskRecord[] = [];
  // cursor pages walked up to the page asked for (DynamoDB pages by cursor, not by number)
  for (const status of statuses) {
    let cursor: string | undefined;
    let seen = 0;
    do {
      const page = await deps.service.list(
        {
          ...(status ? { status } : {}),
          type: 'inference',
          limit: Math.min(100, wanted),
          ...(cursor ? { cursor } : {}),
        },
        actor,
      );
      tasks.push(...page.items);
      seen += page.items.length;
      cursor = page.cursor;
    } while (cursor && seen < wanted);
  }
  tasks.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
  const shown = tasks.slice((q.page - 1) * q.page_size, wanted).map(toLlmTask);
  const s = await deps.service.stats(actor);
  const total = q.status
    ? TO_STATUSES[q.status].reduce((n, st) => n + s.byStatus[st], 0)
    : (s.byType.inference?.total ?? 0);
  return json(200, { tasks: shown, total, page: q.page, page_size: q.page_size });
};

export const seedLlmRoutes: Route[] = [
  {
    method: 'POST',
    path: '/api/v1/tasks',
    handler: async (event, _p, deps, actor) => {
      const b = createTask.parse(jsonBody(event));
      const { task } = await deps.service.submit(
        {
          type: 'inference',
          params: { model: String(b.model_id), kind: b.type, input: b.input },
          priority: PRIORITY[b.priority] ?? 5,
          maxRetries: b.max_retries,
          timeoutSeconds: 3600,
          gpus: 0,
        },
        actor.id,
      );
      return json(201, toLlmTask(task));
    },
  },
  { method: 'GET', path: '/api/v1/tasks', handler: list },
  {
    method: 'GET',
    path: '/api/v1/tasks/{id}',
    handler: async (_e, p, deps, actor) => json(200, toLlmTask(await deps.service.get(idParam(p), actor))),
  },
  {
    method: 'DELETE',
    path: '/api/v1/tasks/{id}',
    handler: async (_e, p, deps, actor) => json(200, toLlmTask(await deps.service.cancel(idParam(p), actor))),
  },
  {
    method: 'POST',
    path: '/api/v1/tasks/{id}/retry',
    handler: async (_e, p, deps, actor) => json(200, toLlmTask(await deps.service.retry(idParam(p), actor))),
  },
  {
    method: 'POST',
    path: '/api/v1/models',
    handler: async (event, _p, deps, actor) =>
      json(201, toLlmModel(await deps.models.create(toModelSpec(createModel.parse(jsonBody(event))), actor))),
  },
  {
    method: 'GET',
    path: '/api/v1/models',
    handler: async (_e, _p, deps) => json(200, { models: (await deps.models.list()).map(toLlmModel) }),
  },
  {
    method: 'PUT',
    path: '/api/v1/models/{id}/status',
    handler: async (event, p, deps, actor) => {
      const { status } = modelStatusSchema.parse(jsonBody(event));
      return json(200, toLlmModel(await deps.models.setStatus(String(p.id), status, actor)));
    },
  },
  {
    method: 'GET',
    path: '/api/v1/stats/dashboard',
    handler: async (_e, _p, deps, actor) => {
      const s = await deps.service.stats(actor);
      const b = s.byStatus;
      const models = await deps.models.list();
      return json(200, {
        total_tasks: s.total,
        pending_tasks: b.QUEUED,
        running_tasks: b.STARTING + b.RUNNING + b.RETRYING,
        completed_tasks: b.SUCCEEDED,
        failed_tasks: b.FAILED,
        cancelled_tasks: b.CANCELLED,
        success_rate: s.successRate === null ? 0 : Math.round(s.successRate * 10_000) / 100,
        queue_length: s.queueDepth,
        active_workers: models.reduce((n, m) => n + m.active, 0),
        total_models: models.length,
        online_models: models.filter((m) => m.status === 'online').length,
      });
    },
  },
  {
    method: 'GET',
    path: '/api/v1/stats/tasks/date',
    handler: async (event, _p, deps, actor) => {
      const q = parseQuery(dailyQuery, event);
      const days = await deps.service.daily(q.days, actor);
      return json(200, {
        stats: days.map((d) => ({
          date: d.date,
          total: d.submitted,
          completed: d.succeeded,
          failed: d.failed,
        })),
      });
    },
  },
  {
    method: 'GET',
    path: '/api/v1/system/health',
    handler: async (_e, _p, deps) => {
      const results = await Promise.all(
        deps.health.map(async (h) => {
          try {
            await h.check();
            return [h.name, 'healthy'] as const;
          } catch {
            return [h.name, 'unhealthy'] as const;
          }
        }),
      );
      const ok = results.every(([, s]) => s === 'healthy');
      return json(ok ? 200 : 503, {
        status: ok ? 'healthy' : 'unhealthy',
        components: Object.fromEntries(results),
      });
    },
  },
];
