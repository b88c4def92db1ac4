/**
 * The dashboard's client of the trainstack API: the same routes the CLI calls. On the local cloud
 * the page is served by the API's own host and calls it unsigned (the default local user); deployed,
 * `config.json` names the API and the sign-in, and every request is signed with SigV4 by the
 * signed-in user's credentials (./auth.ts, loaded only then), so IAM stays the API's one authority.
 */
import { readSse } from '../../lambdas/domain/events.ts';

export interface DashboardConfig {
  /** the API's base URL ('' for the page's own origin) */
  apiUrl: string;
  /** where `GET /v1/tasks/{id}/events` streams (deployed: the events function URL) */
  eventsUrl?: string;
  region?: string;
  userPoolId?: string;
  userPoolClientId?: string;
  identityPoolId?: string;
  /** the user pool's hosted sign-in domain (https://...) */
  signInDomain?: string;
}

/** Signs a request (deployed) or leaves it as it is (local). */
export type Signer = (
  url: URL,
  init: { method: string; headers: Record<string, string>; body?: string },
) => Promise<Record<string, string>>;

let config: DashboardConfig = { apiUrl: '' };
let signer: Signer | undefined;

export function configure(c: DashboardConfig, s?: Signer) {
  config = c;
  signer = s;
}

export const dashboardConfig = () => config;

export interface FieldIssue {
  path: string;
  message: string;
}

/** An answer that was not 2xx: the API's error, with the fields that were wrong. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly details: FieldIssue[] = [],
  ) {
    super(message);
  }
}

async function send(
  base: string,
  method: string,
  path: string,
  body?: string,
  contentType = 'application/json',
  accept: number[] = [],
): Promise<Response> {
  const url = new URL(path, base || window.location.origin);
  const headers: Record<string, string> = body !== undefined ? { 'content-type': contentType } : {};
  const signed = signer
    ? await signer(url, { method, headers, ...(body !== undefined ? { body } : {}) })
    : headers;
  const r = await fetch(url, { method, headers: signed, ...(body !== undefined ? { body } : {}) });
  if (!r.ok && !accept.includes(r.status)) {
    const e = (await r.json().catch(() => ({}))) as { error?: { message?: string; details?: FieldIssue[] } };
    throw new ApiError(r.status, e.error?.message ?? `${r.status} ${r.statusText}`, e.error?.details ?? []);
  }
  return r;
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const r = await send(config.apiUrl, method, path, body === undefined ? undefined : JSON.stringify(body));
  return (await r.json()) as T;
}

/** `POST /v1/tasks/batch`: JSONL lines, each accepted or refused with its reasons (a 400 too). */
export async function submitLines(text: string): Promise<BatchAnswer> {
  const r = await send(config.apiUrl, 'POST', '/v1/tasks/batch', text, 'application/x-ndjson', [400]);
  return (await r.json()) as BatchAnswer;
}

export interface BatchAnswer {
  batchId?: string;
  accepted: { line: number; taskId: string }[];
  rejected: { line: number; error: { message: string; details?: FieldIssue[] } }[];
}

export interface LiveEvent {
  id?: string;
  event?: string;
  data: Record<string, unknown>;
}

/**
 * A task's live events (status, progress, log lines, end) until it ends or `signal` aborts; resumes
 * after a dropped connection from the last event's id, as `Last-Event-ID` promises.
 */
export async function followEvents(taskId: string, onEvent: (e: LiveEvent) => void, signal: AbortSignal) {
  let last: string | undefined;
  for (let tries = 0; !signal.aborted && tries < 20; tries++) {
    try {
      const url = new URL(
        `/v1/tasks/${encodeURIComponent(taskId)}/events`,
        config.eventsUrl || config.apiUrl || window.location.origin,
      );
      const headers: Record<string, string> = {
        accept: 'text/event-stream',
        ...(last ? { 'last-event-id': last } : {}),
      };
      const signed = signer ? await signer(url, { method: 'GET', headers }) : headers;
      const r = await fetch(url, { headers: signed, signal });
      if (!r.ok || !r.body) throw new ApiError(r.status, `events: ${r.status}`);
      for await (const e of readSse(chunks(r.body))) {
        if (e.id) last = e.id;
        onEvent(e);
        if (e.event === 'end') return;
      }
    } catch (e) {
      if (signal.aborted || (e instanceof ApiError && e.status >= 400 && e.status < 500)) return;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function* chunks(body: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}
