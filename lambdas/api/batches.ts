/**
 * `/v1/batches`: tasks submitted together (seed 003's tasks.jsonl). A batch counts its lines and its
 * tasks by status, lists its tasks in submission order, and gives all its trajectories as one JSONL
 * download, page by page (a cursor in `x-next-cursor`, which the CLI follows into one file), or as
 * fine-tuning data (`/export`, lambdas/domain/export.ts).
 */
import pMap from 'p-map';
import type { Actor } from '../domain/actor.ts';
import { notFound } from '../domain/errors.ts';
import { type ExportableTrajectory, exportLine } from '../domain/export.ts';
import { publicView } from '../domain/model.ts';
import { json, jsonBody } from './http.ts';
import { type ApiDeps, parseQuery, type Route } from './router.ts';
import { batchCreateBody, batchId, exportQuery, pageQuery } from './schemas.ts';

function batchParam(params: Record<string, string>): string {
  const r = batchId.safeParse(params.id);
  if (!r.success) throw notFound(`batch ${params.id}`);
  return r.data;
}

export const batchRoutes: Route[] = [
  {
    method: 'POST',
    path: '/v1/batches',
    handler: async (event, _p, deps, actor) => {
      const body = batchCreateBody.parse(event.body ? jsonBody(event) : {});
      const b = await deps.service.createBatch(actor, body.name);
      return json(201, b, { location: `/v1/batches/${b.batchId}` });
    },
  },
  {
    method: 'GET',
    path: '/v1/batches/{id}',
    handler: async (_e, p, deps, actor) => json(200, await deps.service.batch(batchParam(p), actor)),
  },
  {
    method: 'GET',
    path: '/v1/batches/{id}/tasks',
    handler: async (event, p, deps, actor) => {
      const q = parseQuery(pageQuery, event);
      const page = await deps.service.batchTasks(batchParam(p), actor, q);
      return json(200, {
        tasks: page.items.map(publicView),
        ...(page.cursor ? { cursor: page.cursor } : {}),
      });
    },
  },
  {
    method: 'GET',
    path: '/v1/batches/{id}/trajectories',
    handler: async (event, p, deps, actor) => {
      const q = parseQuery(pageQuery, event);
      const { trajectories, missing, cursor } = await trajectoryPage(deps, batchParam(p), actor, q);
      // one compact line per trajectory; tasks that have none yet (queued, running) are counted
      return ndjson(
        trajectories.map((t) => JSON.stringify(t)),
        { 'x-trajectories-missing': String(missing) },
        cursor,
      );
    },
  },
  {
    method: 'GET',
    path: '/v1/batches/{id}/export',
    handler: async (event, p, deps, actor) => {
      const q = parseQuery(exportQuery, event);
      const { trajectories, missing, cursor } = await trajectoryPage(deps, batchParam(p), actor, q);
      const lines: string[] = [];
      const skipped: Record<string, number> = {};
      for (const t of trajectories) {
        const r = exportLine(t as ExportableTrajectory, q.format, q.includeFailed);
        if ('line' in r) lines.push(r.line);
        else skipped[r.skipped] = (skipped[r.skipped] ?? 0) + 1;
      }
      // what is not in this page, and why: counts by reason, as JSON
      return ndjson(
        lines,
        { 'x-trajectories-missing': String(missing), 'x-export-skipped': JSON.stringify(skipped) },
        cursor,
      );
    },
  },
];

/** A page of a batch's tasks, with the trajectories they have (those with none yet are counted). */
async function trajectoryPage(
  deps: ApiDeps,
  id: string,
  actor: Actor,
  q: { limit: number; cursor?: string | undefined },
): Promise<{ trajectories: unknown[]; missing: number; cursor?: string }> {
  const page = await deps.service.batchTasks(id, actor, q);
  const texts = await pMap(page.items, (t) => deps.artifacts.getText(`trajectories/${t.taskId}.json`), {
    concurrency: 16,
  });
  const trajectories = texts.filter((t): t is string => t !== undefined).map((t) => JSON.parse(t) as unknown);
  return {
    trajectories,
    missing: texts.length - trajectories.length,
    ...(page.cursor ? { cursor: page.cursor } : {}),
  };
}

const ndjson = (lines: string[], headers: Record<string, string>, cursor?: string) => ({
  statusCode: 200,
  headers: {
    'content-type': 'application/x-ndjson; charset=utf-8',
    ...headers,
    ...(cursor ? { 'x-next-cursor': cursor } : {}),
  },
  body: lines.map((l) => `${l}\n`).join(''),
});
