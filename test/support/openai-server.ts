/**
 * An OpenAI-compatible server for tests (the one fake the LLM issue allows: the real thing is a paid
 * external API). It answers /v1/chat/completions and /v1/embeddings with scripted answers, counts
 * the requests in flight (the most at once, per model), and can answer 429 with Retry-After or 500
 * for the first requests of a model, or fail some inputs for good. Nothing in the product knows it
 * is a test server: models point at it by baseUrl like at any endpoint.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Script {
  /** per model: answer this many requests with 429 and `Retry-After: retryAfterSeconds` first */
  throttleFirst?: number;
  retryAfterSeconds?: number;
  /** per model: answer this many requests with 500 first */
  failFirst?: number;
  /** per model: answer every n-th request with 429 and `Retry-After: retryAfterSeconds` */
  throttleEvery?: number;
  /** inputs containing this text always get a 400 (a request that can never pass) */
  poison?: string;
  /** how long each answer takes @default 20 */
  delayMs?: number;
  /**
   * a scripted agent: given the conversation so far (tool observations included), the next assistant
   * turn, with tool calls or a final answer
   */
  agent?: (messages: ChatMessage[]) => Turn;
}

export interface ChatMessage {
  role: string;
  content?: string | null;
  tool_call_id?: string;
  tool_calls?: { id: string; function: { name: string; arguments: string } }[];
}

export interface Turn {
  content?: string;
  reasoning_content?: string;
  /** arguments as the model sends them: a JSON string (or anything else, to test malformed ones) */
  calls?: { name: string; arguments: string }[];
}

/** The observations the agent sent back, in order (the tool messages' contents). */
export const observations = (messages: ChatMessage[]) =>
  messages.filter((m) => m.role === 'tool').map((m) => String(m.content ?? ''));

/**
 * An agent that plays `turns` in order, one per model call; a turn may be a function of the
 * conversation (to act on what it observed).
 */
export function scriptedAgent(turns: (Turn | ((messages: ChatMessage[]) => Turn))[]) {
  return (messages: ChatMessage[]): Turn => {
    const index = messages.filter((m) => m.role === 'assistant').length;
    const turn = turns[Math.min(index, turns.length - 1)];
    if (!turn) return { content: 'no script' };
    return typeof turn === 'function' ? turn(messages) : turn;
  };
}

export interface OpenAiServer {
  baseUrl: string;
  /** the most requests in flight at once, per model */
  maxInFlight: Map<string, number>;
  /** every request body, in arrival order, with when it arrived and the status it was answered */
  requests: { path: string; auth?: string; body: Record<string, unknown>; at: number; status?: number }[];
  script: Map<string, Script>;
  close(): Promise<void>;
}

async function body(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
  } catch {
    return {}; // a cut-off request (its client went away): answered, never a crash
  }
}

const words = (s: string) => s.split(/\s+/).filter(Boolean).length;

export async function startOpenAiServer(): Promise<OpenAiServer> {
  const inFlight = new Map<string, number>();
  const seen = new Map<string, number>();
  const s: Omit<OpenAiServer, 'baseUrl' | 'close'> = {
    maxInFlight: new Map(),
    requests: [],
    script: new Map(),
  };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const b = await body(req);
      const model = String(b.model);
      const path = (req.url ?? '').replace(/^\/v1/, '');
      const record: OpenAiServer['requests'][number] = {
        path,
        ...(req.headers.authorization ? { auth: req.headers.authorization } : {}),
        body: b,
        at: Date.now(),
      };
      s.requests.push(record);
      const n = (seen.get(model) ?? 0) + 1;
      seen.set(model, n);
      const now = (inFlight.get(model) ?? 0) + 1;
      inFlight.set(model, now);
      s.maxInFlight.set(model, Math.max(s.maxInFlight.get(model) ?? 0, now));
      const script = s.script.get(model) ?? {};
      await new Promise((r) => setTimeout(r, script.delayMs ?? 20));
      inFlight.set(model, (inFlight.get(model) ?? 1) - 1);
      const send = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
        record.status = status;
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify(payload));
      };
      const text = JSON.stringify(b.messages ?? b.input ?? '');
      if (script.poison && text.includes(script.poison))
        return send(400, { error: { message: 'this input is refused', type: 'invalid_request_error' } });
      if (n <= (script.throttleFirst ?? 0))
        return send(
          429,
          { error: { message: 'rate limited' } },
          { 'retry-after': String(script.retryAfterSeconds ?? 1) },
        );
      if (script.throttleEvery && n % script.throttleEvery === 0)
        return send(
          429,
          { error: { message: 'rate limited' } },
          { 'retry-after': String(script.retryAfterSeconds ?? 1) },
        );
      if (n <= (script.throttleFirst ?? 0) + (script.failFirst ?? 0))
        return send(500, { error: { message: 'server error' } });
      if (path === '/embeddings')
        return send(200, {
          object: 'list',
          data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2, 0.3, words(String(b.input))] }],
          usage: { prompt_tokens: words(String(b.input)), total_tokens: words(String(b.input)) },
        });
      if (path === '/completions') {
        const prompt = String(b.prompt ?? '');
        const answer = `echo(${model}): ${prompt}`;
        return send(200, {
          id: `cmpl-${n}`,
          object: 'text_completion',
          model,
          choices: [{ index: 0, text: answer, finish_reason: 'stop' }],
          usage: {
            prompt_tokens: words(prompt),
            completion_tokens: words(answer),
            total_tokens: words(prompt) + words(answer),
          },
        });
      }
      if (path === '/chat/completions' && script.agent) {
        const turn = script.agent((b.messages ?? []) as ChatMessage[]);
        const calls = (turn.calls ?? []).map((c, i) => ({
          id: `call_${n}_${i}`,
          type: 'function',
          function: { name: c.name, arguments: c.arguments },
        }));
        return send(200, {
          id: `chatcmpl-${n}`,
          object: 'chat.completion',
          model,
          choices: [
            {
              index: 0,
              message: {
                role: 'assistant',
                content: turn.content ?? null,
                ...(turn.reasoning_content ? { reasoning_content: turn.reasoning_content } : {}),
                ...(calls.length ? { tool_calls: calls } : {}),
              },
              finish_reason: calls.length ? 'tool_calls' : 'stop',
            },
          ],
          usage: { prompt_tokens: 100, completion_tokens: 10, total_tokens: 110 },
        });
      }
      if (path === '/chat/completions') {
        const messages = (b.messages ?? []) as { role: string; content: string }[];
        const last = messages.at(-1)?.content ?? '';
        const system = messages.find((m) => m.role === 'system')?.content;
        const answer = `echo(${model}): ${last}${system ? ` [${system.slice(0, 20)}]` : ''}`;
        const prompt = messages.reduce((k, m) => k + words(m.content), 0);
        return send(200, {
          id: `chatcmpl-${n}`,
          object: 'chat.completion',
          model,
          choices: [{ index: 0, message: { role: 'assistant', content: answer }, finish_reason: 'stop' }],
          usage: {
            prompt_tokens: prompt,
            completion_tokens: words(answer),
            total_tokens: prompt + words(answer),
          },
        });
      }
      send(404, { error: { message: `no route ${path}` } });
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    ...s,
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
