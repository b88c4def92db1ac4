/**
 * `GET /v1/tasks/{id}/events` on the local cloud: the task's live events (lambdas/domain/events.ts)
 * as server-sent events, read through the API's own routes (the task and its logs) with the caller's
 * identity, so the owner rules are the API's. Resumable with `Last-Event-ID`; ends when the task does.
 * Deployed, lambdas/handlers/events.ts does the same behind a streaming function URL.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type ApiGet,
  EventsRefused,
  eventSourceOver,
  sseFrame,
  taskEvents,
} from '../../lambdas/domain/events.ts';

export const EVENTS_PATH = /^\/v1\/tasks\/([^/]+)\/events$/;

export async function serveEvents(
  req: IncomingMessage,
  res: ServerResponse,
  taskId: string,
  get: ApiGet,
  pollMs = 500,
): Promise<void> {
  const source = eventSourceOver(get, taskId);
  // the task must be the caller's to see before the stream starts: otherwise the API's answer
  try {
    await source.task();
  } catch (e) {
    if (!(e instanceof EventsRefused)) throw e;
    res.writeHead(e.answer.status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(e.answer.body));
    return;
  }
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  const closed = new AbortController();
  res.on('close', () => closed.abort());
  const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
  try {
    const last = req.headers['last-event-id'] as string | undefined;
    for await (const e of taskEvents(source, last, { pollMs, signal: closed.signal })) {
      if (closed.signal.aborted) break;
      res.write(sseFrame(e));
    }
  } catch (e) {
    if (!closed.signal.aborted)
      res.write(`event: error\ndata: ${JSON.stringify({ message: (e as Error).message })}\n\n`);
  } finally {
    clearInterval(ping);
    res.end();
  }
}
