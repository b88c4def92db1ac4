/** The model registry on `/v1/models`: register, list, show, replace, put online or offline, remove. */
import * as z from 'zod/mini';
import { notFound } from '../domain/errors.ts';
import { modelSpecSchema, modelStatusSchema } from '../domain/models.ts';
import { json, jsonBody } from './http.ts';
import type { Route } from './router.ts';

/** A model's id or name, as a path parameter (anything else cannot name a model: 404). */
const modelRef = z.string().check(z.regex(/^[\w.:-]{1,128}$/));
function refParam(params: Record<string, string>): string {
  const r = modelRef.safeParse(params.id);
  if (!r.success) throw notFound(`model ${params.id}`);
  return r.data;
}

export const modelRoutes: Route[] = [
  {
    method: 'POST',
    path: '/v1/models',
    handler: async (event, _p, deps, actor) => {
      const m = await deps.models.create(modelSpecSchema.parse(jsonBody(event)), actor);
      return json(201, m, { location: `/v1/models/${m.modelId}` });
    },
  },
  {
    method: 'GET',
    path: '/v1/models',
    handler: async (_e, _p, deps) => json(200, { models: await deps.models.list() }),
  },
  {
    method: 'GET',
    path: '/v1/models/{id}',
    handler: async (_e, p, deps) => json(200, await deps.models.get(refParam(p))),
  },
  {
    method: 'PUT',
    path: '/v1/models/{id}',
    handler: async (event, p, deps, actor) =>
      json(200, await deps.models.replace(refParam(p), modelSpecSchema.parse(jsonBody(event)), actor)),
  },
  {
    method: 'PUT',
    path: '/v1/models/{id}/status',
    handler: async (event, p, deps, actor) =>
      json(
        200,
        await deps.models.setStatus(refParam(p), modelStatusSchema.parse(jsonBody(event)).status, actor),
      ),
  },
  {
    method: 'GET',
    path: '/v1/models/{id}/stats',
    handler: async (_e, p, deps, actor) => json(200, await deps.models.stats(refParam(p), actor)),
  },
  {
    method: 'DELETE',
    path: '/v1/models/{id}',
    handler: async (_e, p, deps, actor) => {
      await deps.models.remove(refParam(p), actor);
      return { statusCode: 204, headers: {}, body: '' };
    },
  },
];
