/**
 * A task's live events: its status and progress as they change, and its log lines, attempt by
 * attempt, until it ends. What `GET /v1/tasks/{id}/events` streams as server-sent events. Every event
 * carries an id that says where the log stream stood (attempt, page cursor, lines of that page
 * already sent), so a client that reconnects with `Last-Event-ID` gets every line after it and none
 * twice; status and progress are state, sent again on connecting.
 */

export interface EventTask {
  status: string;
  statusReason?: string;
  progress?: number;
  metrics?: Record<string, number>;
  attempts: unknown[];
}

export interface EventLogPage {
  lines: { timestamp: number; message: string; level?: string }[];
  cursor?: string;
  done: boolean;
}

/** Where the events come from: the task, and an attempt's log from a cursor. */
export interface EventSource {
  task(): Promise<EventTask>;
  logs(attempt: number, cursor?: string): Promise<EventLogPage>;
}

export interface TaskEvent {
  id: string;
  event: 'status' | 'progress' | 'log' | 'end';
  data: Record<string, unknown>;
}

interface Position {
  /** attempt */
  a: number;
  /** the cursor of the log page being read (none: from the start) */
  c?: string;
  /** lines of that page already sent */
  k: number;
}

const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);

export const encodeEventId = (p: Position) => Buffer.from(JSON.stringify(p)).toString('base64url');

/** The position in an event id, or undefined for one this stream did not give. */
export function decodeEventId(id: string | undefined): Position | undefined {
  if (!id) return undefined;
  try {
    const p = JSON.parse(Buffer.from(id, 'base64url').toString('utf8')) as Partial<Position>;
    if (!Number.isInteger(p.a) || (p.a ?? 0) < 1 || !Number.isInteger(p.k) || (p.k ?? -1) < 0)
      return undefined;
    if (p.c !== undefined && typeof p.c !== 'string') return undefined;
    return { a: p.a as number, k: p.k as number, ...(p.c !== undefined ? { c: p.c } : {}) };
  } catch {
    return undefined;
  }
}

export async function* taskEvents(
  src: EventSource,
  lastEventId: string | undefined,
  o: { pollMs: number; signal: AbortSignal },
): AsyncGenerator<TaskEvent> {
  const pos: Position = decodeEventId(lastEventId) ?? { a: 1, k: 0 };
  const id = () => encodeEventId(pos);
  let status: string | undefined;
  let progress: string | undefined;
  while (!o.signal.aborted) {
    const t = await src.task();
    const s = JSON.stringify([t.status, t.statusReason]);
    if (s !== status) {
      status = s;
      yield {
        id: id(),
        event: 'status',
        data: { status: t.status, ...(t.statusReason ? { statusReason: t.statusReason } : {}) },
      };
    }
    const p = JSON.stringify([t.progress, t.metrics]);
    if (p !== progress) {
      progress = p;
      yield {
        id: id(),
        event: 'progress',
        data: { progress: t.progress ?? 0, ...(t.metrics ? { metrics: t.metrics } : {}) },
      };
    }
    // the log of each attempt in turn, from where the stream stands
    for (;;) {
      const page = await src.logs(pos.a, pos.c);
      for (const line of page.lines.slice(pos.k)) {
        pos.k++;
        yield { id: id(), event: 'log', data: { attempt: pos.a, ...line } };
      }
      // a page read to its end: the next one starts at its cursor
      if (page.cursor && page.cursor !== pos.c && pos.k >= page.lines.length) {
        pos.c = page.cursor;
        pos.k = 0;
        if (page.lines.length) continue;
      }
      const later = t.attempts.length > pos.a;
      if (later && (page.done || !page.lines.length)) {
        pos.a++;
        delete pos.c;
        pos.k = 0;
        continue;
      }
      break;
    }
    if (TERMINAL.has(t.status) && pos.a >= t.attempts.length) {
      yield { id: id(), event: 'end', data: { status: t.status } };
      return;
    }
    await new Promise((r) => setTimeout(r, o.pollMs));
  }
}

/** A GET through the API's own routes as the caller: its status and parsed body. */
export type ApiGet = (
  path: string,
  query?: Record<string, string>,
) => Promise<{ status: number; body: unknown }>;

/** The API's answer to a request the stream cannot serve (not the caller's task, or none). */
export class EventsRefused extends Error {
  constructor(readonly answer: { status: number; body: unknown }) {
    super(`refused: ${answer.status}`);
  }
}

/** The events' source over the API's routes: the task view and its logs route, with the caller's rights. */
export function eventSourceOver(get: ApiGet, taskId: string): EventSource {
  const base = `/v1/tasks/${encodeURIComponent(taskId)}`;
  return {
    task: async () => {
      const r = await get(base);
      if (r.status !== 200) throw new EventsRefused(r);
      return r.body as EventTask;
    },
    logs: async (attempt, cursor) => {
      const r = await get(`${base}/logs`, { attempt: String(attempt), ...(cursor ? { cursor } : {}) });
      if (r.status !== 200) throw new EventsRefused(r);
      return r.body as EventLogPage;
    },
  };
}

/** One server-sent event. */
export const sseFrame = (e: TaskEvent) =>
  `id: ${e.id}\nevent: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`;

/** The events of a server-sent event stream, as they arrive (the CLI's `--follow`, and tests). */
export async function* readSse(
  body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): AsyncGenerator<{ id?: string; event?: string; data: Record<string, unknown> }> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    for (let i = buffer.indexOf('\n\n'); i >= 0; i = buffer.indexOf('\n\n')) {
      const lines = buffer.slice(0, i).split('\n');
      buffer = buffer.slice(i + 2);
      const field = (k: string) => lines.find((l) => l.startsWith(`${k}: `))?.slice(k.length + 2);
      const data = field('data');
      if (data === undefined) continue; // a comment (keep-alive)
      const [id, event] = [field('id'), field('event')];
      yield {
        ...(id ? { id } : {}),
        ...(event ? { event } : {}),
        data: JSON.parse(data) as Record<string, unknown>,
      };
    }
  }
}
