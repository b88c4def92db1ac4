/** The `/v1` surface: tasks (submit, batch, list, show, cancel, retry, logs, artifacts, trajectory) and stats. */
import type * as z from 'zod/mini';
import { badRequest, DomainError, notFound } from '../domain/errors.ts';
import { levelOf } from '../domain/log-level.ts';
import { loadSubmitSchema, publicView, type TaskRecord, type TaskSpec, TERMINAL } from '../domain/model.ts';
import { fromZod, header, json, jsonBody, rawBody } from './http.ts';
import { idParam, parseQuery, type Route, type RouteHandler } from './router.ts';
import { batchSubmitQuery, dailyQuery, listQuery, logsQuery } from './schemas.ts';
import {
  isSeedTrajectoryLine,
  seedLineKey,
  seedTrajectoryLine,
  seedTrajectoryToSpec,
} from './seed-trajectory.ts';

const view = (t: TaskRecord) => publicView(t);

const submit: RouteHandler = async (event, _p, deps, actor) => {
  const spec = (await loadSubmitSchema()).parse(jsonBody(event));
  const key = header(event, 'idempotency-key');
  if (key !== undefined && !/^[\w.:-]{1,128}$/.test(key)) {
    throw badRequest('the Idempotency-Key header is not valid', [
      { path: 'Idempotency-Key', message: '1-128 of [A-Za-z0-9_.:-]' },
    ]);
  }
  const { task, created } = await deps.service.submit(spec, actor.id, key);
  return json(created ? 202 : 200, view(task), { location: `/v1/tasks/${task.taskId}` });
};

/** The lines of a batch: a JSON array, or JSONL / NDJSON (a line that is not JSON is kept, to be refused). */
function batchLines(event: Parameters<RouteHandler>[0]): unknown[] {
  const type = header(event, 'content-type') ?? '';
  if (/ndjson|jsonl/i.test(type)) {
    return rawBody(event)
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => {
        try {
          return JSON.parse(l);
        } catch {
          return { __invalid: l.slice(0, 100) };
        }
      });
  }
  const body = jsonBody(event);
  if (!Array.isArray(body))
    throw badRequest('expected a JSON array of tasks', [{ path: '(body)', message: 'not an array' }]);
  return body;
}

/** The most lines one request takes; a larger file goes in several requests into one batch (the CLI does). */
export const MAX_BATCH_LINES = 1000;

const submitBatch: RouteHandler = async (event, _p, deps, actor) => {
  const q = parseQuery(batchSubmitQuery, event);
  // another owner's batch is a 404 before anything else is looked at
  const existing = q.batchId ? await deps.service.batch(q.batchId, actor) : undefined;
  const lines = batchLines(event);
  if (lines.length === 0) throw badRequest('no tasks in the batch', [{ path: '(body)', message: 'empty' }]);
  if (lines.length > MAX_BATCH_LINES)
    throw new DomainError(
      413,
      'PayloadTooLarge',
      `at most ${MAX_BATCH_LINES} tasks per request; send more into one batch with ?batchId=`,
    );
  const batch = existing ?? (await deps.service.createBatch(actor, q.name));
  const owner = actor.id;
  const accepted: { line: number; taskId: string; name?: string; duplicate?: true }[] = [];
  const rejected: {
    line: number;
    error: { code: string; message: string; details: { path: string; message: string }[] };
  }[] = [];
  const valid: { line: number; spec: TaskSpec; idempotencyKey?: string }[] = [];
  const submitSchema = await loadSubmitSchema();
  for (const [i, line] of lines.entries()) {
    const n = i + 1;
    const isSeed = isSeedTrajectoryLine(line);
    const parsed = isSeed ? seedTrajectoryLine.safeParse(line) : submitSchema.safeParse(line);
    if (!parsed.success) {
      rejected.push({
        line: n,
        error: { code: 'ValidationError', message: 'not a valid task', details: fromZod(parsed.error) },
      });
      continue;
    }
    if (isSeed) {
      const l = parsed.data as z.output<typeof seedTrajectoryLine>;
      valid.push({ line: n, spec: seedTrajectoryToSpec(l, q.model), idempotencyKey: seedLineKey(l.task_id) });
    } else {
      let spec = parsed.data as TaskSpec;
      if (spec.type === 'trajectory' && !spec.params.model && q.model)
        spec = { ...spec, params: { ...spec.params, model: q.model } };
      valid.push({ line: n, spec });
    }
  }
  // one line's failure never fails another: each line says what became of it
  const results = await deps.service.submitMany(valid, owner, batch.batchId);
  for (const [i, r] of results.entries()) {
    const n = valid[i]?.line ?? 0;
    if ('error' in r)
      rejected.push({
        line: n,
        error: { code: r.error.code, message: r.error.message, details: r.error.details },
      });
    else
      accepted.push({
        line: n,
        taskId: r.task.taskId,
        ...(r.task.name ? { name: r.task.name } : {}),
        ...(r.created ? {} : { duplicate: true as const }),
      });
  }
  rejected.sort((a, b) => a.line - b.line);
  const duplicates = accepted.filter((a) => a.duplicate).length;
  await deps.service.countBatchLines(batch.batchId, {
    lines: lines.length,
    accepted: accepted.length - duplicates,
    duplicates,
    rejected: rejected.length,
  });
  const batchId = batch.batchId;
  if (accepted.length) return json(202, { batchId, accepted, rejected });
  // nothing accepted: an error as every 400 has, naming each line's wrong fields, beside the per-line results
  const details = rejected.flatMap((r) =>
    (r.error.details.length ? r.error.details : [{ path: '(line)', message: r.error.message }]).map((d) => ({
      path: `lines[${r.line - 1}].${d.path}`,
      message: d.message,
    })),
  );
  return json(400, {
    error: { code: 'ValidationError', message: 'no line of the batch was accepted', details },
    batchId,
    accepted,
    rejected,
  });
};

const cancel: RouteHandler = async (_e, p, deps, actor) =>
  json(200, view(await deps.service.cancel(idParam(p), actor)));

export const v1Routes: Route[] = [
  { method: 'POST', path: '/v1/tasks', handler: submit },
  { method: 'POST', path: '/v1/tasks/batch', handler: submitBatch },
  {
    method: 'GET',
    path: '/v1/tasks',
    handler: async (event, _p, deps, actor) => {
      const page = await deps.service.list(parseQuery(listQuery, event), actor);
      return json(200, { tasks: page.items.map(view), ...(page.cursor ? { cursor: page.cursor } : {}) });
    },
  },
  {
    method: 'GET',
    path: '/v1/tasks/{id}',
    handler: async (_e, p, deps, actor) => json(200, view(await deps.service.get(idParam(p), actor))),
  },
  { method: 'DELETE', path: '/v1/tasks/{id}', handler: cancel },
  { method: 'POST', path: '/v1/tasks/{id}/cancel', handler: cancel },
  {
    method: 'POST',
    path: '/v1/tasks/{id}/retry',
    handler: async (_e, p, deps, actor) => json(202, view(await deps.service.retry(idParam(p), actor))),
  },
  {
    method: 'GET',
    path: '/v1/tasks/{id}/logs',
    handler: async (event, p, deps, actor) => {
      const q = parseQuery(logsQuery, event);
      const task = await deps.service.owned(idParam(p), actor);
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
        // each line with its level (the runner tags a workload's stderr), and without the tag
        lines: out.lines.map((l) => ({ timestamp: l.timestamp, ...levelOf(l.message) })),
        ...(out.cursor ? { cursor: out.cursor } : {}),
        done: TERMINAL.has(task.status) || Boolean(a.endedAt),
      });
    },
  },
  {
    method: 'GET',
    path: '/v1/tasks/{id}/artifacts',
    handler: async (_e, p, deps, actor) => {
      const task = await deps.service.owned(idParam(p), actor);
      const artifacts = await deps.artifacts.list(`tasks/${task.taskId}/`);
      return json(200, { taskId: task.taskId, artifacts });
    },
  },
  {
    method: 'GET',
    path: '/v1/tasks/{id}/trajectory',
    handler: async (_e, p, deps, actor) => {
      const task = await deps.service.owned(idParam(p), actor);
      const text = await deps.artifacts.getText(`trajectories/${task.taskId}.json`);
      if (text === undefined) throw notFound(`trajectory of task ${task.taskId}`);
      return { statusCode: 200, headers: { 'content-type': 'application/json; charset=utf-8' }, body: text };
    },
  },
  {
    method: 'GET',
    path: '/v1/stats',
    handler: async (_e, _p, deps, actor) => json(200, await deps.service.stats(actor)),
  },
  {
    method: 'GET',
    path: '/v1/stats/daily',
    handler: async (event, _p, deps, actor) => {
      const q = parseQuery(dailyQuery, event);
      return json(200, { days: await deps.service.daily(q.days, actor) });
    },
  },
];
