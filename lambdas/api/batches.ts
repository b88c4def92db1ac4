/**
 * `/v1/batches`: tasks submitted together (seed 003's tasks.jsonl). A batch counts its lines and its
 * tasks by status, lists its tasks in submission order, and gives all its trajectories as one JSONL
 * download, page by page (a cursor in `x-next-cursor`, which the CLI follows into one file).
 */
import pMap from 'p-map';
import { notFound } from '../domain/errors.ts';
import { publicView } from '../domain/model.ts';
import { json, jsonBody } from './http.ts';
import { parseQuery, type Route } from './router.ts';
import { batchCreateBody, batchId, pageQuery } from './schemas.ts';

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
      const page = await deps.service.batchTasks(batchParam(p), actor, q);
      const texts = await pMap(page.items, (t) => deps.artifacts.getText(`trajectories/${t.taskId}.json`), {
        concurrency: 16,
      });
      // one compact line per trajectory; tasks that have none yet (queued, running) are counted
      const lines = texts
        .filter((t): t is string => t !== undefined)
        .map((t) => JSON.stringify(JSON.parse(t)));
      return {
        statusCode: 200,
        headers: {
          'content-type': 'application/x-ndjson; charset=utf-8',
          'x-trajectories-missing': String(texts.length - lines.length),
          ...(page.cursor ? { 'x-next-cursor': page.cursor } : {}),
        },
        body: lines.map((l) => `${l}\n`).join(''),
      };
    },
  },
];
