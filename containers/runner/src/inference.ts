/**
 * The inference runtime: what an `inference` task with no command of its own runs, inside the
 * runner. It sends each input to the task's model (an OpenAI-compatible endpoint from the registry)
 * as a chat completion, or as an embedding request, with bounded concurrency; retries a request on
 * 429, 5xx and network errors with exponential backoff, waiting at least what `Retry-After` asks;
 * writes one result line per input, in input order, to `results.jsonl` in the outputs; counts
 * tokens and, when the model has prices, the cost; and fails only when more requests failed than
 * the task's error budget allows.
 */
import { createWriteStream } from 'node:fs';
import * as path from 'node:path';
import pMap from 'p-map';
import { AbortError } from 'p-retry';
import { postJson, withRetries } from './openai.ts';

export type InferenceKind = 'text-generation' | 'translation' | 'summarization' | 'embedding' | 'custom';
export type InferenceInput = string | Record<string, unknown>;

export interface InferenceParams {
  kind: InferenceKind;
  input?: InferenceInput;
  inputs?: InferenceInput[];
  targetLanguage?: string;
  concurrency?: number;
  maxTokens?: number;
  temperature?: number;
  /** the share of requests that may fail (after retries) with the task still succeeding */
  errorBudget?: number;
}

export interface InferenceModel {
  name: string;
  baseUrl: string;
  model: string;
  defaults?: { maxTokens?: number; temperature?: number };
  prices?: { inputPerMillionTokens: number; outputPerMillionTokens: number };
}

export interface InferenceDeps {
  apiKey?: string;
  outputDir: string;
  log: (msg: string) => void;
  /** called as requests finish: how many are done of how many */
  progress: (done: number, total: number, metrics: Record<string, number>) => void;
  signal: AbortSignal;
  /** @default 6 */
  retries?: number;
  /** first backoff, doubled each retry @default 1000 */
  minBackoffMs?: number;
}

export interface InferenceSummary {
  requests: number;
  succeeded: number;
  failed: number;
  promptTokens: number;
  completionTokens: number;
  /** the sum of the latencies of the requests that succeeded (ms), for mean latencies */
  latencyMsSum: number;
  costUsd?: number;
  /** the one answer of a single-input task (text, or the embedding's length), for the task view */
  output?: string;
  ok: boolean;
}

const SYSTEM: Partial<Record<InferenceKind, (p: InferenceParams) => string>> = {
  translation: (p) =>
    `Translate the user's text into ${p.targetLanguage ?? 'English'}. Answer with the translation only.`,
  summarization: () => "Summarize the user's text concisely. Answer with the summary only.",
};

const textOf = (input: InferenceInput) =>
  typeof input === 'string' ? input : typeof input.text === 'string' ? input.text : JSON.stringify(input);

/** The endpoint path and body for one input. */
export function requestFor(
  kind: InferenceKind,
  input: InferenceInput,
  p: InferenceParams,
  m: InferenceModel,
): { path: string; body: Record<string, unknown> } {
  if (kind === 'embedding')
    return {
      path: '/embeddings',
      body: {
        model: m.model,
        input: typeof input === 'object' && 'input' in input ? input.input : textOf(input),
      },
    };
  const sampling = {
    ...((p.maxTokens ?? m.defaults?.maxTokens) !== undefined
      ? { max_tokens: p.maxTokens ?? m.defaults?.maxTokens }
      : {}),
    ...((p.temperature ?? m.defaults?.temperature) !== undefined
      ? { temperature: p.temperature ?? m.defaults?.temperature }
      : {}),
  };
  // a custom input that is already a chat request is sent as it is, on the model's defaults
  if (kind === 'custom' && typeof input === 'object' && Array.isArray(input.messages))
    return { path: '/chat/completions', body: { model: m.model, ...sampling, ...input } };
  const system = SYSTEM[kind]?.(p);
  return {
    path: '/chat/completions',
    body: {
      model: m.model,
      ...sampling,
      messages: [
        ...(system ? [{ role: 'system', content: system }] : []),
        { role: 'user', content: textOf(input) },
      ],
    },
  };
}

interface Answer {
  output?: string;
  embedding?: number[];
  promptTokens: number;
  completionTokens: number;
}

async function call(
  url: string,
  body: unknown,
  apiKey: string | undefined,
  signal: AbortSignal,
): Promise<Answer> {
  const j = (await postJson(url, body, apiKey, signal)) as {
    choices?: { message?: { content?: string } }[];
    data?: { embedding?: number[] }[];
    usage?: { prompt_tokens?: number; completion_tokens?: number };
  };
  const usage = {
    promptTokens: j.usage?.prompt_tokens ?? 0,
    completionTokens: j.usage?.completion_tokens ?? 0,
  };
  if (j.data?.[0]?.embedding) return { embedding: j.data[0].embedding, ...usage };
  const content = j.choices?.[0]?.message?.content;
  if (typeof content !== 'string')
    throw new AbortError(`the endpoint answered without a message: ${JSON.stringify(j).slice(0, 200)}`);
  return { output: content, ...usage };
}

export async function runInference(
  p: InferenceParams,
  model: InferenceModel,
  deps: InferenceDeps,
): Promise<InferenceSummary> {
  const inputs = p.inputs ?? (p.input !== undefined ? [p.input] : []);
  const base = model.baseUrl.replace(/\/+$/, '');
  const results: (Record<string, unknown> | undefined)[] = new Array(inputs.length);
  const out = createWriteStream(path.join(deps.outputDir, 'results.jsonl'));
  let next = 0; // the first line not yet written: lines go out in input order as they complete
  const flush = () => {
    while (next < inputs.length && results[next]) {
      out.write(`${JSON.stringify(results[next])}\n`);
      results[next] = {}; // written: keep only a marker
      next++;
    }
  };
  const s: InferenceSummary = {
    requests: inputs.length,
    succeeded: 0,
    failed: 0,
    promptTokens: 0,
    completionTokens: 0,
    latencyMsSum: 0,
    ok: false,
  };
  let single: string | undefined;
  const metrics = () => ({
    requests: s.requests,
    succeeded: s.succeeded,
    failed: s.failed,
    promptTokens: s.promptTokens,
    completionTokens: s.completionTokens,
  });
  deps.log(
    `inference: ${inputs.length} request(s) to ${model.name} (${model.model} at ${base}), ${p.concurrency ?? 4} at a time`,
  );

  await pMap(
    inputs.entries(),
    async ([index, input]) => {
      const { path: route, body } = requestFor(p.kind, input, p, model);
      const started = Date.now();
      let attempts = 0;
      try {
        const a = await withRetries(
          () => {
            attempts++;
            return call(`${base}${route}`, body, deps.apiKey, deps.signal);
          },
          {
            signal: deps.signal,
            ...(deps.retries !== undefined ? { retries: deps.retries } : {}),
            ...(deps.minBackoffMs !== undefined ? { minBackoffMs: deps.minBackoffMs } : {}),
            onRetry: (message) => deps.log(`request ${index + 1}: ${message}`),
          },
        );
        s.succeeded++;
        s.latencyMsSum += Date.now() - started;
        s.promptTokens += a.promptTokens;
        s.completionTokens += a.completionTokens;
        if (inputs.length === 1) single = a.output ?? `embedding of ${a.embedding?.length} dimensions`;
        results[index] = {
          index,
          ...(a.output !== undefined ? { output: a.output } : { embedding: a.embedding }),
          usage: { promptTokens: a.promptTokens, completionTokens: a.completionTokens },
          latencyMs: Date.now() - started,
          attempts,
        };
      } catch (e) {
        if (deps.signal.aborted) throw e;
        s.failed++;
        results[index] = { index, error: (e as Error).message.slice(0, 500), attempts };
      }
      flush();
      deps.progress(s.succeeded + s.failed, inputs.length, metrics());
    },
    { concurrency: p.concurrency ?? 4, signal: deps.signal },
  );
  await new Promise<void>((r) => out.end(() => r()));

  if (model.prices)
    s.costUsd =
      Math.round(
        ((s.promptTokens * model.prices.inputPerMillionTokens +
          s.completionTokens * model.prices.outputPerMillionTokens) /
          1e6) *
          1e6,
      ) / 1e6;
  const budget = p.errorBudget ?? (inputs.length === 1 ? 0 : 0.05);
  s.ok = s.failed <= Math.floor(budget * inputs.length);
  if (single !== undefined) s.output = single.slice(0, 8192);
  deps.log(
    `inference: ${s.succeeded} succeeded, ${s.failed} failed (error budget ${Math.floor(budget * inputs.length)}); ${s.promptTokens} prompt and ${s.completionTokens} completion tokens${s.costUsd !== undefined ? `, about $${s.costUsd}` : ''}`,
  );
  return s;
}

/** The most inputs one task reads from an inputsUri file. */
export const MAX_URI_INPUTS = 100_000;

/**
 * The inputs of a JSONL file: one JSON value per line (a string, or an object such as `{"text": ...}`
 * or a whole chat request); blank lines are skipped. A line that is not JSON fails with its number.
 */
export function parseJsonlInputs(text: string, max = MAX_URI_INPUTS): InferenceInput[] {
  const out: InferenceInput[] = [];
  for (const [i, line] of text.split('\n').entries()) {
    if (!line.trim()) continue;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      throw new Error(`line ${i + 1} is not JSON`);
    }
    if (typeof v !== 'string' && (typeof v !== 'object' || v === null || Array.isArray(v)))
      throw new Error(`line ${i + 1} is neither a string nor an object`);
    out.push(v as InferenceInput);
    if (out.length > max) throw new Error(`more than ${max} inputs`);
  }
  if (!out.length) throw new Error('no inputs in the file');
  return out;
}
