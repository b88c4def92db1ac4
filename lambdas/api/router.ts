/**
 * The router: routes are data (`{ method, path, auth, handler }`), declared by one module per surface
 * and composed in `routes.ts`; the Lambda handler, the OpenAPI document and the CDK API construct all
 * read the same table.
 */
import type * as z from 'zod/mini';
import type { Actor } from '../domain/actor.ts';
import { badRequest, notFound } from '../domain/errors.ts';
import type { ModelService } from '../domain/models.ts';
import type { ArtifactReader, HealthCheck, LogReader } from '../domain/ports.ts';
import type { TaskRepository } from '../domain/task-repository.ts';
import type { TaskService } from '../domain/tasks.ts';
import { type ApiEvent, type ApiResult, actorOf, fromZod, json } from './http.ts';
import { taskId as taskIdSchema } from './schemas.ts';

export interface ApiDeps {
  service: TaskService;
  models: ModelService;
  store: TaskRepository;
  logs: LogReader;
  artifacts: ArtifactReader;
  health: HealthCheck[];
  openapi: () => Promise<object>;
  /** principals that see and act on every owner's tasks (the stack's adminPrincipals) */
  admins: readonly string[];
}

/** A signed route's handler: it gets who is asking, worked out once by the router. */
export type RouteHandler = (
  event: ApiEvent,
  params: Record<string, string>,
  deps: ApiDeps,
  actor: Actor,
) => Promise<ApiResult>;
/** A public route's handler (health): no identity. */
export type PublicHandler = (
  event: ApiEvent,
  params: Record<string, string>,
  deps: ApiDeps,
) => Promise<ApiResult>;

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

interface RouteBase {
  readonly method: Method;
  /** API Gateway path syntax: `/v1/tasks/{id}` */
  readonly path: string;
}
/** Routes need SigV4 (IAM) unless they say `auth: 'none'`, as only health does. */
export type Route =
  | (RouteBase & { readonly auth?: 'iam'; readonly handler: RouteHandler })
  | (RouteBase & { readonly auth: 'none'; readonly handler: PublicHandler });

type Compiled = Route & { regex: RegExp };

export function compile(routes: readonly Route[]): Compiled[] {
  return routes.map((r) => ({
    ...r,
    regex: new RegExp(`^${r.path.replace(/\{(\w+)\}/g, '(?<$1>[^/]+)')}$`),
  }));
}

/** Find the route for the request (404, or 405 with Allow when only the method is wrong) and run it. */
export async function dispatchRoute(
  routes: readonly Compiled[],
  event: ApiEvent,
  deps: ApiDeps,
): Promise<ApiResult> {
  const method = event.requestContext.http.method.toUpperCase();
  const path = event.rawPath.replace(/\/+$/, '') || '/';
  const matching = routes.filter((r) => r.regex.test(path));
  const r = matching.find((x) => x.method === method);
  if (!r) {
    if (matching.length) {
      return json(
        405,
        { error: { code: 'MethodNotAllowed', message: `${method} is not allowed on ${path}`, details: [] } },
        { allow: matching.map((m) => m.method).join(', ') },
      );
    }
    return json(404, { error: { code: 'NotFound', message: `no route ${method} ${path}`, details: [] } });
  }
  const params = r.regex.exec(path)?.groups ?? {};
  if (r.auth === 'none') return r.handler(event, params, deps);
  // authentication before anything else: an unsigned request learns nothing about its input
  return r.handler(event, params, deps, actorOf(event, deps.admins));
}

function query(event: ApiEvent): Record<string, string> {
  return Object.fromEntries(
    Object.entries(event.queryStringParameters ?? {}).filter(([, v]) => v !== undefined),
  ) as Record<string, string>;
}

/** The query string, parsed by its schema (400 naming each wrong parameter). */
export function parseQuery<S extends z.ZodMiniType>(schema: S, event: ApiEvent): z.output<S> {
  const r = schema.safeParse(query(event));
  if (!r.success) throw badRequest('the query string is not valid', fromZod(r.error));
  return r.data;
}

/** A task id path parameter; anything that is not one is a task that does not exist (404). */
export function idParam(params: Record<string, string>, name = 'id'): string {
  const r = taskIdSchema.safeParse(params[name]);
  if (!r.success) throw notFound(`task ${params[name]}`);
  return r.data;
}
