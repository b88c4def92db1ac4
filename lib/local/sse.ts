/**
 * `GET /v1/tasks/{id}/events` on the local cloud: the task's live events (lambdas/domain/events.ts)
 * as server-sent events, read through the API's own routes (the task and its logs) with the caller's
 * identity, so the owner rules are the API's. Resumable with `Last-Event-ID`; ends when the task does.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type EventLogPage, type EventTask, taskEvents } from '../../lambdas/domain/events.ts';

export const EVENTS_PATH = /^\/v1\/tasks\/([^/]+)\/events$/;

/** A GET through the API's handler: its status and parsed body. */
export type ApiGet = (path: string) => Promise<{ status: number; body: unknown }>;

export async function serveEvents(
  req: IncomingMessage,
  res: ServerResponse,
  taskId: string,
  get: ApiGet,
  pollMs = 500,
): Promise<void> {
  const task = async () => {
    const r = await get(`/v1/tasks/${encodeURIComponent(taskId)}`);
    if (r.status !== 200) throw Object.assign(new Error('task'), { answer: r });
    return r.body as EventTask;
  };
  // the task must be the caller's to see before the stream starts: otherwise the API's answer
  const first = await task().catch((e: { answer?: { status: number; body: unknown } }) => e);
  if ('answer' in first && first.answer) {
    res.writeHead(first.answer.status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(first.answer.body));
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
    const events = taskEvents(
      {
        task,
        logs: async (attempt, cursor) => {
          const q = new URLSearchParams({ attempt: String(attempt), ...(cursor ? { cursor } : {}) });
          const r = await get(`/v1/tasks/${encodeURIComponent(taskId)}/logs?${q}`);
          return r.body as EventLogPage;
        },
      },
      req.headers['last-event-id'] as string | undefined,
      { pollMs, signal: closed.signal },
    );
    for await (const e of events) {
      if (closed.signal.aborted) break;
      res.write(`id: ${e.id}\nevent: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`);
    }
  } catch (e) {
    if (!closed.signal.aborted)
      res.write(`event: error\ndata: ${JSON.stringify({ message: (e as Error).message })}\n\n`);
  } finally {
    clearInterval(ping);
    res.end();
  }
}
