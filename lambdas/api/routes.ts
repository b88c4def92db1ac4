/**
 * The API's routes: each parses its input with zod, calls the domain and shapes the answer.
 * Dependencies come in through `ApiDeps` so the same routes run in Lambda and in tests.
 */
import type { z } from 'zod';
import { badRequest, DomainError, notFound } from '../domain/errors.ts';
import { publicView, type Status, submitSchema, type TaskRecord, TERMINAL } from '../domain/model.ts';
import {
  fromSeedStatus,
  seedTrainToSpec,
  seedTrajectoryToSpec,
  toSeedStatus,
  toSeedTask,
} from '../domain/seed.ts';
import type { TaskStore } from '../domain/store.ts';
import type { TaskService } from '../domain/tasks.ts';
import { type ApiEvent, type ApiResult, callerOf, fromZod, header, json, jsonBody, rawBody } from './http.ts';
import {
  dailyQuery,
  listQuery,
  logsQuery,
  seedListQuery,
  seedTrainBody,
  seedTrajectoryLine,
  taskId as taskIdSchema,
} from './schemas.ts';

export interface LogLine {
  timestamp: number;
  message: string;
}
export interface LogReader {
  read(
    logStream: string,
    opts: { cursor?: string; limit: number },
  ): Promise<{ lines: LogLine[]; cursor?: string }>;
}
export interface ArtifactReader {
  list(prefix: string): Promise<{ key: string; size: number; lastModified?: string; url: string }[]>;
  getText(key: string): Promise<string | undefined>;
}
export interface HealthCheck {
  name: string;
  check(): Promise<void>;
}

export interface ApiDeps {
  service: TaskService;
  store: TaskStore;
  logs: LogReader;
  artifacts: ArtifactReader;
  health: HealthCheck[];
  openapi: () => object;
}

type Handler = (event: ApiEvent, params: Record<string, string>, deps: ApiDeps) => Promise<ApiResult>;
interface Route {
  method: string;
  path: string;
  regex: RegExp;
  handler: Handler;
}

const routes: Route[] = [];
function route(method: string, path: string, handler: Handler) {
  const regex = new RegExp(`^${path.replace(/\{(\w+)\}/g, '(?<$1>[^/]+)')}$`);
  routes.push({ method, path, regex, handler });
}

export const ROUTES = () => routes.map((r) => ({ method: r.method, path: r.path }));

function query(event: ApiEvent): Record<string, string> {
  return Object.fromEntries(
    Object.entries(event.queryStringParameters ?? {}).filter(([, v]) => v !== undefined),
  ) as Record<string, string>;
}

function parseQuery<S extends z.ZodType>(schema: S, event: ApiEvent): z.output<S> {
  const r = schema.safeParse(query(event));
  if (!r.success) throw badRequest('the query string is not valid', fromZod(r.error));
  return r.data;
}

function idParam(params: Record<string, string>, name = 'id'): string {
  const r = taskIdSchema.safeParse(params[name]);
  if (!r.success) throw notFound(`task ${params[name]}`);
  return r.data;
}

const view = (t: TaskRecord) => publicView(t);

// --- health and docs
route('GET', '/health', async (_e, _p, deps) => {
  const results = await Promise.all(
    deps.health.map(async (h) => {
      const started = Date.now();
      try {
        await h.check();
        return { name: h.name, ok: true, ms: Date.now() - started };
      } catch (e) {
        return { name: h.name, ok: false, ms: Date.now() - started, error: (e as Error).name };
      }
    }),
  );
  const ok = results.every((r) => r.ok);
  return json(ok ? 200 : 503, { status: ok ? 'ok' : 'degraded', dependencies: results });
});
route('GET', '/openapi.json', async (_e, _p, deps) => json(200, deps.openapi()));

// --- tasks
route('POST', '/v1/tasks', async (event, _p, deps) => {
  const spec = submitSchema.parse(jsonBody(event));
  const key = header(event, 'idempotency-key');
  if (key !== undefined && !/^[\w.:-]{1,128}$/.test(key)) {
    throw badRequest('the Idempotency-Key header is not valid', [
      { path: 'Idempotency-Key', message: '1-128 of [A-Za-z0-9_.:-]' },
    ]);
  }
  const { task, created } = await deps.service.submit(spec, callerOf(event), key);
  return json(created ? 202 : 200, view(task), { location: `/v1/tasks/${task.taskId}` });
});

route('POST', '/v1/tasks/batch', async (event, _p, deps) => {
  const type = header(event, 'content-type') ?? '';
  const text = rawBody(event);
  let lines: unknown[];
  if (/ndjson|jsonl/i.test(type)) {
    lines = text
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => {
        try {
          return JSON.parse(l);
        } catch {
          return { __invalid: l.slice(0, 100) };
        }
      });
  } else {
    const body = jsonBody(event);
    if (!Array.isArray(body))
      throw badRequest('expected a JSON array of tasks', [{ path: '(body)', message: 'not an array' }]);
    lines = body;
  }
  if (lines.length === 0) throw badRequest('no tasks in the batch', [{ path: '(body)', message: 'empty' }]);
  if (lines.length > 1000) throw new DomainError(413, 'PayloadTooLarge', 'at most 1000 tasks per batch');
  const owner = callerOf(event);
  const accepted: { line: number; taskId: string; name?: string }[] = [];
  const rejected: {
    line: number;
    error: { code: string; message: string; details: { path: string; message: string }[] };
  }[] = [];
  for (const [i, line] of lines.entries()) {
    const n = i + 1;
    const isSeed = line && typeof line === 'object' && 'task_type' in line;
    const parsed = isSeed ? seedTrajectoryLine.safeParse(line) : submitSchema.safeParse(line);
    if (!parsed.success) {
      rejected.push({
        line: n,
        error: { code: 'ValidationError', message: 'not a valid task', details: fromZod(parsed.error) },
      });
      continue;
    }
    const spec = isSeed
      ? seedTrajectoryToSpec(parsed.data as z.output<typeof seedTrajectoryLine>)
      : (parsed.data as z.output<typeof submitSchema>);
    try {
      const { task } = await deps.service.submit(spec, owner);
      accepted.push({ line: n, taskId: task.taskId, ...(task.name ? { name: task.name } : {}) });
    } catch (e) {
      if (!(e instanceof DomainError)) throw e;
      rejected.push({ line: n, error: { code: e.code, message: e.message, details: e.details } });
    }
  }
  return json(accepted.length ? 202 : 400, { accepted, rejected });
});

route('GET', '/v1/tasks', async (event, _p, deps) => {
  const q = parseQuery(listQuery, event);
  const page = await deps.service.list(q);
  return json(200, { tasks: page.items.map(view), ...(page.cursor ? { cursor: page.cursor } : {}) });
});

route('GET', '/v1/tasks/{id}', async (_e, p, deps) => json(200, view(await deps.service.get(idParam(p)))));

const cancel: Handler = async (event, p, deps) =>
  json(200, view(await deps.service.cancel(idParam(p), callerOf(event))));
route('POST', '/v1/tasks/{id}/cancel', cancel);
route('DELETE', '/v1/tasks/{id}', cancel);
route('POST', '/v1/tasks/{id}/retry', async (event, p, deps) =>
  json(202, view(await deps.service.retry(idParam(p), callerOf(event)))),
);

route('GET', '/v1/tasks/{id}/logs', async (event, p, deps) => {
  const q = parseQuery(logsQuery, event);
  const task = await deps.store.mustGet(idParam(p));
  const attempt = q.attempt ?? task.attempts.length;
  const a = task.attempts[attempt - 1];
  if (!a?.logStream) {
    return json(200, { taskId: task.taskId, attempt, lines: [], done: TERMINAL.has(task.status) });
  }
  const out = await deps.logs.read(a.logStream, {
    limit: q.limit,
    ...(q.cursor ? { cursor: q.cursor } : {}),
  });
  return json(200, {
    taskId: task.taskId,
    attempt,
    lines: out.lines,
    ...(out.cursor ? { cursor: out.cursor } : {}),
    done: TERMINAL.has(task.status) || Boolean(a.endedAt),
  });
});

route('GET', '/v1/tasks/{id}/artifacts', async (_e, p, deps) => {
  const task = await deps.store.mustGet(idParam(p));
  const artifacts = await deps.artifacts.list(`tasks/${task.taskId}/`);
  return json(200, { taskId: task.taskId, artifacts });
});

route('GET', '/v1/tasks/{id}/trajectory', async (_e, p, deps) => {
  const task = await deps.store.mustGet(idParam(p));
  const text = await deps.artifacts.getText(`trajectories/${task.taskId}.json`);
  if (text === undefined) throw notFound(`trajectory of task ${task.taskId}`);
  return { statusCode: 200, headers: { 'content-type': 'application/json; charset=utf-8' }, body: text };
});

// --- stats
route('GET', '/v1/stats', async (_e, _p, deps) => json(200, await deps.service.stats()));
route('GET', '/v1/stats/daily', async (event, _p, deps) => {
  const q = parseQuery(dailyQuery, event);
  return json(200, { days: await deps.store.daily(q.days) });
});

// --- seed 000/001 compatibility
route('POST', '/train', async (event, _p, deps) => {
  const body = seedTrainBody.parse(jsonBody(event));
  const { task } = await deps.service.submit(seedTrainToSpec(body), callerOf(event));
  return json(200, {
    task_id: task.taskId,
    status: toSeedStatus(task.status),
    message: 'Training task submitted successfully',
  });
});
route('GET', '/train/{task_id}', async (_e, p, deps) =>
  json(200, toSeedTask(await deps.service.get(idParam(p, 'task_id')))),
);
route('GET', '/train', async (event, _p, deps) => {
  const q = parseQuery(seedListQuery, event);
  const statuses: (Status | undefined)[] = q.status ? fromSeedStatus(q.status) : [undefined];
  const tasks: TaskRecord[] = [];
  for (const status of statuses) {
    const page = await deps.service.list({ ...(status ? { status } : {}), type: 'training', limit: q.limit });
    tasks.push(...page.items);
  }
  tasks.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
  const shown = tasks.slice(0, q.limit).map(toSeedTask);
  return json(200, { total: shown.length, tasks: shown });
});
route('DELETE', '/train/{task_id}', async (event, p, deps) => {
  const task = await deps.service.cancel(idParam(p, 'task_id'), callerOf(event));
  return json(200, {
    task_id: task.taskId,
    status: toSeedStatus(task.status),
    message: 'Task cancelled successfully',
  });
});
route('GET', '/stats', async (_e, _p, deps) => {
  const s = await deps.service.stats();
  const b = s.byStatus;
  const success = b.SUCCEEDED;
  const failed = b.FAILED;
  return json(200, {
    total: s.total,
    pending: b.QUEUED + b.RETRYING,
    running: b.STARTING + b.RUNNING,
    success,
    failed,
    cancelled: b.CANCELLED,
    success_rate: success + failed ? Math.round((success / (success + failed)) * 10_000) / 100 : 0,
  });
});

export async function dispatchRoute(event: ApiEvent, deps: ApiDeps): Promise<ApiResult> {
  const method = event.requestContext.http.method.toUpperCase();
  const path = event.rawPath.replace(/\/+$/, '') || '/';
  const matching = routes.filter((r) => r.regex.test(path));
  const r = matching.find((x) => x.method === method);
  if (!r) {
    if (matching.length) {
      return json(
        405,
        { error: { code: 'MethodNotAllowed', message: `${method} is not allowed on ${path}`, details: [] } },
        {
          allow: matching.map((m) => m.method).join(', '),
        },
      );
    }
    return json(404, { error: { code: 'NotFound', message: `no route ${method} ${path}`, details: [] } });
  }
  const params = r.regex.exec(path)?.groups ?? {};
  return r.handler(event, params, deps);
}
