/**
 * Provider batch files, line by line: OpenAI Batch API input lines (`custom_id`, `method`, `url`,
 * `body`; vLLM's run-batch reads the same), Anthropic Message Batches (`custom_id`, `params`) and AWS
 * Bedrock batch inference records (`recordId`, `modelInput`: an Anthropic Messages, Amazon Nova, Meta
 * Llama, Mistral or Amazon Titan Text body). Each line becomes a request to one of the task's
 * OpenAI-compatible models, and its answer a line in that provider's own output shape: OpenAI's output and error lines, Anthropic's results, Bedrock's records with
 * `modelOutput` or `error`. Pure functions: the runtime (batch-file.ts) does the I/O.
 */

export type BatchFormat = 'openai' | 'anthropic' | 'bedrock';

/** Which provider's batch line this is, or undefined for a plain input. */
export function detectFormat(line: unknown): BatchFormat | undefined {
  if (!line || typeof line !== 'object' || Array.isArray(line)) return undefined;
  const o = line as Record<string, unknown>;
  if (typeof o.custom_id === 'string' && typeof o.url === 'string' && o.body && typeof o.body === 'object')
    return 'openai';
  if (typeof o.custom_id === 'string' && o.params && typeof o.params === 'object') return 'anthropic';
  if (typeof o.recordId === 'string' && o.modelInput && typeof o.modelInput === 'object') return 'bedrock';
  return undefined;
}

/** The line's own id (custom_id, recordId), by which it appears exactly once in the output. */
export function lineId(format: BatchFormat, line: Record<string, unknown>): string {
  return String(format === 'bedrock' ? line.recordId : line.custom_id);
}

export interface ModelRef {
  name: string;
  model: string;
}

/** A request to the model's OpenAI-compatible endpoint, or why the line cannot be one. */
export type Request = { path: string; body: Record<string, unknown> } | { invalid: string };

const OPENAI_ROUTES: Record<string, string> = {
  '/v1/chat/completions': '/chat/completions',
  '/v1/completions': '/completions',
  '/v1/embeddings': '/embeddings',
  '/v1/responses': '/responses',
};

/** The model a line names in its body (OpenAI `body.model`, Anthropic `params.model`; Bedrock: none). */
export function namedModel(format: BatchFormat, line: Record<string, unknown>): unknown {
  if (format === 'openai') return (line.body as Record<string, unknown> | undefined)?.model;
  if (format === 'anthropic') return (line.params as Record<string, unknown> | undefined)?.model;
  return undefined;
}

/**
 * Which of the task's models a line goes to: the one it names (by registered name, or by the
 * endpoint's model id), the task's own model (the first) when it names none, or why it can go nowhere.
 */
export function routeOf<M extends ModelRef>(
  format: BatchFormat,
  line: Record<string, unknown>,
  models: readonly [M, ...M[]],
): M | { invalid: string } {
  const named = namedModel(format, line);
  if (named === undefined) return models[0];
  const m = models.find((x) => named === x.name || named === x.model);
  if (m) return m;
  return {
    invalid: `the line names the model ${JSON.stringify(named)}, which is not one of this task's models (${models.map((x) => x.name).join(', ')}); name it in params.models`,
  };
}

/** The line as a request to its model `m` (routeOf chose it). */
export function requestFor(format: BatchFormat, line: Record<string, unknown>, m: ModelRef): Request {
  if (format === 'openai') {
    const route = OPENAI_ROUTES[String(line.url)];
    if (!route)
      return { invalid: `url ${String(line.url)} is not one of ${Object.keys(OPENAI_ROUTES).join(', ')}` };
    if ((line.method ?? 'POST') !== 'POST') return { invalid: `method ${String(line.method)} is not POST` };
    const body = line.body as Record<string, unknown>;
    return { path: route, body: { ...body, model: m.model } };
  }
  const params = (format === 'anthropic' ? line.params : line.modelInput) as Record<string, unknown>;
  const family = format === 'bedrock' ? bedrockFamily(params, m.model) : 'anthropic';
  if (family === 'llama' || family === 'mistral' || family === 'titan') {
    const prompt = family === 'titan' ? params.inputText : params.prompt;
    if (typeof prompt !== 'string') return { invalid: `no ${family === 'titan' ? 'inputText' : 'prompt'}` };
    const cfg = (family === 'titan' ? (params.textGenerationConfig ?? {}) : params) as Record<
      string,
      unknown
    >;
    const maxTokens = { llama: cfg.max_gen_len, mistral: cfg.max_tokens, titan: cfg.maxTokenCount }[family];
    const stop = family === 'titan' ? cfg.stopSequences : cfg.stop;
    return {
      path: '/completions',
      body: {
        model: m.model,
        prompt,
        ...(maxTokens !== undefined ? { max_tokens: maxTokens } : {}),
        ...(cfg.temperature !== undefined ? { temperature: cfg.temperature } : {}),
        ...((cfg.top_p ?? cfg.topP) !== undefined ? { top_p: cfg.top_p ?? cfg.topP } : {}),
        ...(Array.isArray(stop) ? { stop } : {}),
      },
    };
  }
  const chat = family === 'nova' ? novaToChat(params) : anthropicToChat(params);
  if (typeof chat.invalid === 'string') return { invalid: chat.invalid };
  return { path: '/chat/completions', body: { ...chat, model: m.model } };
}

/**
 * The model family of a Bedrock record's `modelInput`, by its body's shape (Bedrock knows it by the
 * job's model id; a registered model is an OpenAI-compatible endpoint, so the body says it):
 * Anthropic Messages (`anthropic_version`), Amazon Nova (`schemaVersion` or `inferenceConfig`), Meta
 * Llama (`prompt`, `max_gen_len`), Mistral (`prompt`, `max_tokens`), Amazon Titan Text (`inputText`).
 * A bare `prompt` is Mistral's when the model's id says mistral, else Llama's.
 */
export type BedrockFamily = 'anthropic' | 'nova' | 'llama' | 'mistral' | 'titan';
export function bedrockFamily(input: Record<string, unknown>, model: string): BedrockFamily {
  if (typeof input.inputText === 'string') return 'titan';
  if (typeof input.prompt === 'string') {
    if (input.max_gen_len !== undefined) return 'llama';
    if (input.max_tokens !== undefined || /mistral|mixtral/i.test(model)) return 'mistral';
    return 'llama';
  }
  if (input.anthropic_version !== undefined) return 'anthropic';
  if (input.schemaVersion !== undefined || input.inferenceConfig !== undefined) return 'nova';
  // messages whose content is a list of {text} blocks without a type: Nova's
  const first = (input.messages as { content?: unknown }[] | undefined)?.[0]?.content;
  if (Array.isArray(first) && first.some((b) => b && typeof b === 'object' && !('type' in b) && 'text' in b))
    return 'nova';
  return 'anthropic';
}

/** An Amazon Nova (Converse-shaped) body as an OpenAI chat completions body (text content). */
function novaToChat(p: Record<string, unknown>): Record<string, unknown> | { invalid: string } {
  if (!Array.isArray(p.messages)) return { invalid: 'no messages' };
  const text = (blocks: unknown): string | { invalid: string } => {
    if (!Array.isArray(blocks)) return { invalid: 'content is not a list of blocks' };
    const parts: string[] = [];
    for (const b of blocks as { text?: unknown }[]) {
      if (typeof b?.text !== 'string')
        return { invalid: 'a non-text content block (only text is sent to an OpenAI-compatible model)' };
      parts.push(b.text);
    }
    return parts.join('');
  };
  const messages = chatMessages(p, text);
  if (!Array.isArray(messages)) return messages;
  const cfg = (p.inferenceConfig ?? {}) as Record<string, unknown>;
  return {
    messages,
    ...(cfg.maxTokens !== undefined ? { max_tokens: cfg.maxTokens } : {}),
    ...(cfg.temperature !== undefined ? { temperature: cfg.temperature } : {}),
    ...(cfg.topP !== undefined ? { top_p: cfg.topP } : {}),
    ...(Array.isArray(cfg.stopSequences) ? { stop: cfg.stopSequences } : {}),
  };
}

/** An OpenAI answer (chat or completion) as the Bedrock family's own response body. */
export function bedrockOutput(
  family: BedrockFamily,
  answer: Record<string, unknown>,
  model: string,
): Record<string, unknown> {
  if (family === 'anthropic') return chatToAnthropic(answer, model);
  const choice = (
    answer.choices as
      | { text?: string; message?: { content?: string | null }; finish_reason?: string }[]
      | undefined
  )?.[0];
  const text = choice?.message?.content ?? choice?.text ?? '';
  const length = choice?.finish_reason === 'length';
  const usage = (answer.usage ?? {}) as { prompt_tokens?: number; completion_tokens?: number };
  const input = usage.prompt_tokens ?? 0;
  const output = usage.completion_tokens ?? 0;
  switch (family) {
    case 'nova':
      return {
        output: { message: { role: 'assistant', content: [{ text }] } },
        stopReason: length ? 'max_tokens' : 'end_turn',
        usage: { inputTokens: input, outputTokens: output, totalTokens: input + output },
      };
    case 'llama':
      return {
        generation: text,
        prompt_token_count: input,
        generation_token_count: output,
        stop_reason: length ? 'length' : 'stop',
      };
    case 'mistral':
      return { outputs: [{ text, stop_reason: length ? 'length' : 'stop' }] };
    case 'titan':
      return {
        inputTextTokenCount: input,
        results: [{ tokenCount: output, outputText: text, completionReason: length ? 'LENGTH' : 'FINISH' }],
      };
  }
}

type Block = { type?: string; text?: string };
const textOf = (content: unknown): string | { invalid: string } => {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return { invalid: 'content is neither text nor a list of blocks' };
  const parts: string[] = [];
  for (const b of content as Block[]) {
    if (b?.type !== 'text' || typeof b.text !== 'string')
      return {
        invalid: `a ${String(b?.type)} content block (only text blocks are sent to an OpenAI-compatible model)`,
      };
    parts.push(b.text);
  }
  return parts.join('');
};

type ChatMessage = { role: string; content: string };

/** A Messages-shaped body's system and turns as chat messages, each content made text by `text`. */
function chatMessages(
  p: Record<string, unknown>,
  text: (content: unknown) => string | { invalid: string },
): ChatMessage[] | { invalid: string } {
  const messages: ChatMessage[] = [];
  if (p.system !== undefined) {
    const system = text(p.system);
    if (typeof system !== 'string') return system;
    messages.push({ role: 'system', content: system });
  }
  for (const msg of p.messages as { role?: string; content?: unknown }[]) {
    const content = text(msg.content);
    if (typeof content !== 'string') return content;
    if (msg.role !== 'user' && msg.role !== 'assistant')
      return { invalid: `a message with role ${String(msg.role)}` };
    messages.push({ role: msg.role, content });
  }
  return messages;
}

/** An Anthropic Messages body as an OpenAI chat completions body (text content). */
export function anthropicToChat(p: Record<string, unknown>): Record<string, unknown> | { invalid: string } {
  if (!Array.isArray(p.messages)) return { invalid: 'no messages' };
  const messages = chatMessages(p, textOf);
  if (!Array.isArray(messages)) return messages;
  return {
    messages,
    ...(p.max_tokens !== undefined ? { max_tokens: p.max_tokens } : {}),
    ...(p.temperature !== undefined ? { temperature: p.temperature } : {}),
    ...(p.top_p !== undefined ? { top_p: p.top_p } : {}),
    ...(Array.isArray(p.stop_sequences) ? { stop: p.stop_sequences } : {}),
  };
}

const STOP_REASONS: Record<string, string> = {
  stop: 'end_turn',
  length: 'max_tokens',
  tool_calls: 'tool_use',
  content_filter: 'refusal',
};

/** An OpenAI chat completion as the Anthropic Message it stands for. */
export function chatToAnthropic(chat: Record<string, unknown>, model: string): Record<string, unknown> {
  const choice = (
    chat.choices as { message?: { content?: string | null }; finish_reason?: string }[] | undefined
  )?.[0];
  const usage = chat.usage as { prompt_tokens?: number; completion_tokens?: number } | undefined;
  return {
    id: `msg_${String(chat.id ?? '').replace(/^chatcmpl-/, '') || 'trainstack'}`,
    type: 'message',
    role: 'assistant',
    model,
    content: [{ type: 'text', text: choice?.message?.content ?? '' }],
    stop_reason: STOP_REASONS[choice?.finish_reason ?? 'stop'] ?? 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: usage?.prompt_tokens ?? 0, output_tokens: usage?.completion_tokens ?? 0 },
  };
}

/** How one line's request ended. */
export type Outcome =
  | { ok: true; status: number; body: Record<string, unknown>; requestId: string }
  /** the endpoint answered with an error status */
  | { ok: false; status: number; body: unknown; requestId: string; message: string }
  /** no answer: the line is invalid, or the request never got one (network, retries spent) */
  | { ok: false; status?: undefined; code: string; message: string };

/** The line of the output file (`output`) or of the error file (`errors`) for a line's outcome. */
export function outputLine(
  format: BatchFormat,
  line: Record<string, unknown>,
  o: Outcome,
  id: string,
  model: string,
): { file: 'output' | 'errors'; line: Record<string, unknown> } {
  const file = o.ok ? 'output' : 'errors';
  if (format === 'openai')
    return {
      file,
      line: {
        id,
        custom_id: line.custom_id,
        response:
          o.status !== undefined ? { status_code: o.status, request_id: o.requestId, body: o.body } : null,
        error: o.ok || o.status !== undefined ? null : { code: o.code, message: o.message },
      },
    };
  if (format === 'anthropic')
    return {
      file,
      line: {
        custom_id: line.custom_id,
        result: o.ok
          ? { type: 'succeeded', message: chatToAnthropic(o.body, model) }
          : {
              type: 'errored',
              error: {
                type: 'error',
                error: { type: anthropicErrorType(o), message: o.message },
              },
            },
      },
    };
  return {
    file,
    line: {
      recordId: line.recordId,
      modelInput: line.modelInput,
      ...(o.ok
        ? {
            modelOutput: bedrockOutput(
              bedrockFamily((line.modelInput ?? {}) as Record<string, unknown>, model),
              o.body,
              model,
            ),
          }
        : { error: { errorCode: o.status ?? 400, errorMessage: o.message } }),
    },
  };
}

function anthropicErrorType(o: Outcome): string {
  if (o.status === undefined) return o.code === 'invalid_request' ? 'invalid_request_error' : 'api_error';
  if (o.status === 429) return 'rate_limit_error';
  if (o.status === 401) return 'authentication_error';
  if (o.status === 404) return 'not_found_error';
  if (o.status >= 500) return 'api_error';
  return 'invalid_request_error';
}

/**
 * A provider batch file's lines as the inference task that runs them (the CLI's `batch` and the
 * dashboard's upload): its models are the ones the lines name, `model` (or the most named) first.
 */
export function providerBatchTask(
  format: BatchFormat,
  lines: string[],
  model?: string,
): { spec: Record<string, unknown>; models: string[] } | { error: string } {
  const named = new Map<string, number>();
  const inputs: unknown[] = [];
  for (const [i, text] of lines.entries()) {
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return { error: `line ${i + 1} is not JSON` };
    }
    inputs.push(line);
    const m = namedModel(format, line);
    if (typeof m === 'string') named.set(m, (named.get(m) ?? 0) + 1);
  }
  const first = model ?? [...named].sort((x, y) => y[1] - x[1])[0]?.[0];
  if (!first) return { error: 'its lines name no model: name the registered model to run it' };
  const others = [...named.keys()].filter((m) => m !== first);
  return {
    spec: {
      type: 'inference',
      params: { model: first, ...(others.length ? { models: others } : {}), kind: 'custom', inputs },
    },
    models: [first, ...others],
  };
}

export const FORMAT_NAMES: Record<BatchFormat, string> = {
  openai: 'OpenAI',
  anthropic: 'Anthropic',
  bedrock: 'Bedrock',
};
