/**
 * A task's live events, deployed: `GET <EventsUrl>/v1/tasks/{id}/events` on a Lambda function URL with
 * IAM auth and response streaming (API Gateway HTTP APIs buffer responses, so the stream cannot go
 * through the API). The events (lambdas/domain/events.ts) are read through the API's own routes with
 * the caller's identity, so who may see a task is decided as the API decides it. A stream ends with
 * the task, or before the function's time runs out; the client reconnects with Last-Event-ID.
 */
import type { Writable } from 'node:stream';
import type { ApiEvent, ApiResult } from '../api/http.ts';
import { EventsRefused, eventSourceOver, sseFrame, taskEvents } from '../domain/events.ts';
import { route } from './api.ts';

const PATH = /^\/v1\/tasks\/([^/]+)\/events$/;

/** What the Lambda runtime gives a streaming handler (its `awslambda` global). */
interface HttpStreams {
  from(stream: Writable, meta: { statusCode: number; headers: Record<string, string> }): Writable;
}

/** One stream: the API's answer when it refuses, else the events until the task ends or time runs out. */
export async function streamEvents(
  event: ApiEvent,
  stream: Writable,
  open: HttpStreams['from'],
  o: { route: (e: ApiEvent) => Promise<ApiResult>; pollMs: number; remainingMs: () => number },
): Promise<void> {
  const m = PATH.exec(event.rawPath);
  const answer = (statusCode: number, body: unknown) => {
    const out = open(stream, { statusCode, headers: { 'content-type': 'application/json' } });
    out.end(JSON.stringify(body));
  };
  if (!m?.[1] || event.requestContext.http.method !== 'GET')
    return answer(404, { error: { code: 'NotFound', message: 'GET /v1/tasks/{id}/events', details: [] } });
  const source = eventSourceOver(async (path, query = {}) => {
    const r = await o.route({
      ...event,
      rawPath: path,
      rawQueryString: new URLSearchParams(query).toString(),
      queryStringParameters: query,
      requestContext: {
        ...event.requestContext,
        http: { ...event.requestContext.http, method: 'GET', path },
      },
    });
    return { status: r.statusCode ?? 200, body: r.body ? (JSON.parse(r.body) as unknown) : {} };
  }, decodeURIComponent(m[1]));
  try {
    await source.task();
  } catch (e) {
    if (e instanceof EventsRefused) return answer(e.answer.status, e.answer.body);
    throw e;
  }
  const out = open(stream, {
    statusCode: 200,
    headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' },
  });
  const last = event.headers['last-event-id'];
  for await (const e of taskEvents(source, last, {
    pollMs: o.pollMs,
    signal: new AbortController().signal,
  })) {
    out.write(sseFrame(e));
    // leave time to end cleanly: the client goes on from the last id
    if (o.remainingMs() < 10_000) break;
  }
  out.end();
}

declare const awslambda:
  | {
      streamifyResponse?(
        f: (
          event: ApiEvent,
          stream: Writable,
          context: { getRemainingTimeInMillis(): number },
        ) => Promise<void>,
      ): unknown;
      HttpResponseStream: HttpStreams;
    }
  | undefined;

// the Lambda runtime's streaming wrapper (elsewhere, as in tests, a global of that name may exist
// without it: Powertools keeps its invocation store there)
const runtime = typeof awslambda === 'undefined' ? undefined : awslambda;
export const handler =
  typeof runtime?.streamifyResponse !== 'function'
    ? undefined
    : runtime.streamifyResponse((event, stream, context) =>
        streamEvents(event, stream, (s, meta) => runtime.HttpResponseStream.from(s, meta), {
          route,
          pollMs: 1000,
          remainingMs: () => context.getRemainingTimeInMillis(),
        }),
      );
