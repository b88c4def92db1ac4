/**
 * The deployed event stream (lambdas/handlers/events.ts) over a fake of the API's handler: it answers
 * as the API answers when the task is not the caller's, streams the events otherwise, and ends before
 * the function's time runs out so the client can go on from the last id.
 */
import { PassThrough, type Writable } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ApiEvent, ApiResult } from '../../lambdas/api/http.ts';

let streamEvents: typeof import('../../lambdas/handlers/events.ts').streamEvents;
beforeAll(async () => {
  // the API handler's module reads its settings at import; nothing here calls AWS
  for (const k of ['TABLE_NAME', 'QUEUE_URL', 'STATE_MACHINE_ARN', 'LOG_GROUP_NAME', 'BUCKET_NAME'])
    process.env[k] ??= `test-${k.toLowerCase()}`;
  ({ streamEvents } = await import('../../lambdas/handlers/events.ts'));
});

const event = (path: string, headers: Record<string, string> = {}) =>
  ({
    rawPath: path,
    rawQueryString: '',
    headers,
    requestContext: { http: { method: 'GET', path }, requestId: 'r' },
  }) as unknown as ApiEvent;

/** The API as the fake has it: one task of the caller's, with two log pages, that has ended. */
const routes: string[] = [];
const route = async (e: ApiEvent): Promise<ApiResult> => {
  routes.push(`${e.rawPath}?${e.rawQueryString}`);
  if (e.rawPath === '/v1/tasks/T1')
    return { statusCode: 200, body: JSON.stringify({ status: 'SUCCEEDED', progress: 100, attempts: [{}] }) };
  if (e.rawPath === '/v1/tasks/T1/logs') {
    const cursor = e.queryStringParameters?.cursor;
    const lines = cursor
      ? []
      : [
          { timestamp: 1, message: 'hello' },
          { timestamp: 2, message: 'bye' },
        ];
    return { statusCode: 200, body: JSON.stringify({ lines, cursor: 'c1', done: true }) };
  }
  return {
    statusCode: 404,
    body: JSON.stringify({ error: { code: 'NotFound', message: 'task', details: [] } }),
  };
};

async function run(e: ApiEvent, remainingMs = 60_000) {
  const sink = new PassThrough();
  const chunks: string[] = [];
  sink.on('data', (d) => chunks.push(String(d)));
  const metas: { statusCode: number; headers: Record<string, string> }[] = [];
  const open = (s: Writable, meta: { statusCode: number; headers: Record<string, string> }) => {
    metas.push(meta);
    return s;
  };
  await streamEvents(e, sink, open, { route, pollMs: 1, remainingMs: () => remainingMs });
  return { metas, body: chunks.join('') };
}

describe('the deployed event stream', () => {
  it("streams a task's events as server-sent events, reading the API's routes as the caller", async () => {
    const { metas, body } = await run(event('/v1/tasks/T1/events'));
    expect(metas).toEqual([
      {
        statusCode: 200,
        headers: expect.objectContaining({ 'content-type': expect.stringMatching(/^text\/event-stream/) }),
      },
    ]);
    const events = [...body.matchAll(/^event: (\w+)$/gm)].map((m) => m[1]);
    expect(events).toEqual(['status', 'progress', 'log', 'log', 'end']);
    expect(body).toContain('data: {"attempt":1,"timestamp":1,"message":"hello"}');
    expect(routes).toContain('/v1/tasks/T1/logs?attempt=1');
  });

  it('answers as the API does for a task the caller may not see, and 404 for another path', async () => {
    const refused = await run(event('/v1/tasks/OTHER/events'));
    expect(refused.metas[0]?.statusCode).toBe(404);
    expect(JSON.parse(refused.body)).toMatchObject({ error: { code: 'NotFound' } });
    expect((await run(event('/v1/tasks'))).metas[0]?.statusCode).toBe(404);
  });

  it('ends early when the time left is short, so the client reconnects with the last id', async () => {
    const { body } = await run(event('/v1/tasks/T1/events'), 5_000);
    expect([...body.matchAll(/^event: (\w+)$/gm)].map((m) => m[1])).toEqual(['status']);
  });
});
