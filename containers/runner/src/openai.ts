/**
 * Calls to an OpenAI-compatible endpoint, shared by the inference runtime and the agent: one POST
 * with the API key, and the retry rule. 408, 409, 429, 5xx and network errors are retried with
 * jittered exponential backoff, waiting at least what `Retry-After` asks; any other 4xx is final.
 */
import pRetry, { AbortError } from 'p-retry';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** `Retry-After` as milliseconds (seconds, or an HTTP date), capped at five minutes. */
export function retryAfter(value: string | null): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(value) - Date.now();
  return Number.isFinite(ms) && ms >= 0 ? Math.min(ms, 300_000) : undefined;
}

/** POST `body` as JSON and parse the answer; errors as the retry rule wants them (AbortError: final). */
export async function postJson(
  url: string,
  body: unknown,
  apiKey: string | undefined,
  signal: AbortSignal,
  timeoutMs = 300_000,
): Promise<unknown> {
  let r: Response;
  try {
    r = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
      },
      body: JSON.stringify(body),
      signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
    });
  } catch (e) {
    if (signal.aborted) throw new AbortError('stopped');
    throw new HttpError(0, `${(e as Error).name}: ${(e as Error).message}`); // network: retried
  }
  const text = await r.text();
  if (!r.ok) {
    const err = new HttpError(
      r.status,
      `HTTP ${r.status}: ${text.slice(0, 300)}`,
      retryAfter(r.headers.get('retry-after')),
    );
    // 408, 409, 429 and 5xx may pass; any other 4xx will not
    if (r.status === 408 || r.status === 409 || r.status === 429 || r.status >= 500) throw err;
    throw new AbortError(err);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new AbortError(`the endpoint answered with something that is not JSON: ${text.slice(0, 200)}`);
  }
}

export interface RetryOptions {
  signal: AbortSignal;
  /** @default 6 */
  retries?: number;
  /** first backoff, doubled each retry @default 1000 */
  minBackoffMs?: number;
  /** told each failure, with whether and how long it waits */
  onRetry?: (message: string) => void;
}

/** `fn` under the retry rule. */
export function withRetries<T>(fn: () => Promise<T>, o: RetryOptions): Promise<T> {
  return pRetry(fn, {
    retries: o.retries ?? 6,
    minTimeout: o.minBackoffMs ?? 1000,
    factor: 2,
    maxTimeout: 60_000,
    randomize: true,
    signal: o.signal,
    onFailedAttempt: async ({ error, retriesLeft }) => {
      const wait = (error as HttpError).retryAfterMs;
      o.onRetry?.(
        `${error.message}${retriesLeft ? `; retrying${wait ? ` after ${wait} ms (Retry-After)` : ''}` : ''}`,
      );
      if (wait && retriesLeft) await new Promise((r) => setTimeout(r, wait));
    },
  });
}
