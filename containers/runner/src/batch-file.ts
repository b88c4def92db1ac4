/**
 * The batch-file runtime: an inference task whose inputs are a provider's batch file (OpenAI Batch,
 * Anthropic Message Batches, Bedrock batch inference; batch-formats.ts) runs each line against the
 * model it names (one of the task's models) and writes that provider's output and error files. The
 * file is streamed, never held. A file may mix models: each gets `concurrency` requests at a time.
 *
 * Crash-safe: each line's result is made durable (a journal part in S3, group-committed) before its
 * request's slot is given to another line, so a killed attempt loses at most the requests in flight;
 * the next attempt reads the journal, skips every line already answered, and the final files hold
 * each line's id exactly once. A line that keeps failing goes to the error file; the batch goes on.
 */
import { randomUUID } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  writeFileSync,
} from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import pLimit from 'p-limit';
import pMap from 'p-map';
import { AbortError } from 'p-retry';
import {
  type BatchFormat,
  detectFormat,
  lineId,
  type ModelRef,
  type Outcome,
  outputLine,
  requestFor,
  routeOf,
} from './batch-formats.ts';
import { HttpError, postJson, withRetries } from './openai.ts';

export interface JournalEntry {
  id: string;
  file: 'output' | 'errors';
  line: Record<string, unknown>;
}

/** Where results are made durable: parts in a local folder (restored from S3 at start), each also put to S3. */
export class Journal {
  private seq = 0;
  /** parts are named <attempt>-<run>-<seq>: a run of the same attempt again never overwrites one */
  private readonly run = Date.now();
  private pending: { entries: JournalEntry[]; resolve: () => void; reject: (e: Error) => void }[] = [];
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly dir: string,
    private readonly attempt: number,
    /** make a part durable (S3 PutObject under the task's checkpoints) */
    private readonly put: (name: string, body: string) => Promise<void>,
  ) {
    mkdirSync(dir, { recursive: true });
  }

  /** Every entry recorded so far, earlier attempts' first, in the order they were recorded. */
  async *entries(): AsyncIterable<JournalEntry> {
    const order = (f: string) => f.split(/[-.]/).slice(0, 3).map(Number);
    const parts = readdirSync(this.dir)
      .filter((f) => /^\d+-\d+-\d+\.jsonl$/.test(f))
      .sort((a, b) => {
        const [x, y] = [order(a), order(b)];
        return (x[0] ?? 0) - (y[0] ?? 0) || (x[1] ?? 0) - (y[1] ?? 0) || (x[2] ?? 0) - (y[2] ?? 0);
      });
    for (const part of parts)
      for await (const text of createInterface({ input: createReadStream(path.join(this.dir, part)) }))
        if (text.trim()) yield JSON.parse(text) as JournalEntry;
  }

  /** Resolves once the entry is durable: entries that arrive while a part is being written go in the next. */
  record(entry: JournalEntry): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ entries: [entry], resolve, reject });
      this.flushing ??= this.flush();
    });
  }

  private async flush(): Promise<void> {
    while (this.pending.length) {
      const group = this.pending;
      this.pending = [];
      const name = `${this.attempt}-${this.run}-${++this.seq}.jsonl`;
      const body = group.flatMap((g) => g.entries.map((e) => `${JSON.stringify(e)}\n`)).join('');
      try {
        await this.put(name, body);
        writeFileSync(path.join(this.dir, name), body);
        for (const g of group) g.resolve();
      } catch (e) {
        for (const g of group) g.reject(e as Error);
      }
    }
    this.flushing = undefined;
  }
}

/** One of the task's models, where it answers, and its key. */
export interface BatchModel extends ModelRef {
  baseUrl: string;
  apiKey?: string | undefined;
}

export interface BatchFileDeps {
  log: (msg: string) => void;
  /** told as lines are answered: how many of how many, and the counts */
  progress: (done: number, total: number, metrics: Record<string, number>) => void;
  signal: AbortSignal;
  journal: Journal;
  outputDir: string;
  /** requests in flight at once, to each model @default 8 */
  concurrency?: number;
  /** @default 6 */
  retries?: number;
  minBackoffMs?: number;
}

export interface BatchFileSummary {
  format: BatchFormat;
  total: number;
  completed: number;
  failed: number;
  /** answered by an earlier attempt */
  resumed: number;
  promptTokens: number;
  completionTokens: number;
}

/** The format of a file by its first line, or undefined for plain inputs. */
export async function formatOf(lines: AsyncIterable<string>): Promise<BatchFormat | undefined> {
  for await (const text of lines) {
    if (!text.trim()) continue;
    try {
      return detectFormat(JSON.parse(text));
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** Run a batch file (`lines` opens it anew each call) and write `output.jsonl` and `errors.jsonl`. */
export async function runBatchFile(
  lines: () => AsyncIterable<string>,
  format: BatchFormat,
  /** the task's model first (lines that name none go there), then the others a mixed file names */
  models: readonly [BatchModel, ...BatchModel[]],
  deps: BatchFileDeps,
): Promise<BatchFileSummary> {
  const s: BatchFileSummary = {
    format,
    total: 0,
    completed: 0,
    failed: 0,
    resumed: 0,
    promptTokens: 0,
    completionTokens: 0,
  };
  // what earlier attempts answered
  const answered = new Set<string>();
  for await (const e of deps.journal.entries()) {
    if (answered.has(e.id)) continue;
    answered.add(e.id);
    if (e.file === 'output') s.completed++;
    else s.failed++;
  }
  s.resumed = answered.size;
  for await (const text of lines()) if (text.trim()) s.total++;
  const metrics = () => ({ requests: s.total, succeeded: s.completed, failed: s.failed });
  deps.log(
    `batch file (${format}): ${s.total} line(s) to ${models.map((m) => m.name).join(', ')}${s.resumed ? `, ${s.resumed} already answered by an earlier attempt` : ''}`,
  );
  deps.progress(s.completed + s.failed, s.total, metrics());

  const concurrency = deps.concurrency ?? 8;
  const gates = new Map(models.map((m) => [m, pLimit(concurrency)]));
  const seen = new Set<string>();
  async function* numbered() {
    let n = 0;
    for await (const text of lines()) {
      n++;
      if (text.trim()) yield { text, n };
    }
  }
  await pMap(
    numbered(),
    async ({ text, n }) => {
      let line: Record<string, unknown>;
      let id: string;
      let outcome: Outcome | undefined;
      try {
        line = JSON.parse(text) as Record<string, unknown>;
      } catch {
        line = {};
        outcome = { ok: false, code: 'invalid_json', message: `line ${n} is not JSON` };
      }
      if (!outcome && detectFormat(line) !== format)
        outcome = { ok: false, code: 'invalid_request', message: `line ${n} is not a ${format} batch line` };
      id = outcome ? `#line-${n}` : lineId(format, line);
      if (answered.has(id)) return;
      if (seen.has(id)) {
        deps.log(`line ${n}: ${id} again; a batch answers each id once`);
        return;
      }
      seen.add(id);
      const model = outcome ? models[0] : routeOf(format, line, models);
      if (!outcome && 'invalid' in model)
        outcome = { ok: false, code: 'invalid_request', message: model.invalid };
      const to = 'invalid' in model ? models[0] : model;
      if (!outcome) {
        const req = requestFor(format, line, to);
        outcome =
          'invalid' in req
            ? { ok: false, code: 'invalid_request', message: req.invalid }
            : await (gates.get(to) ?? pLimit(1))(() => send(to, req, n));
      }
      const out = outputLine(
        format,
        line,
        outcome,
        `batch_req_${randomUUID().replaceAll('-', '')}`,
        to.model,
      );
      // durable before the slot goes to another line: a kill repeats at most what was in flight
      await deps.journal.record({ id, ...out });
      if (outcome.ok) s.completed++;
      else s.failed++;
      deps.progress(s.completed + s.failed, s.total, metrics());
    },
    // each model's gate holds its lines to `concurrency`; the lines around them keep the others busy
    { concurrency: concurrency * models.length, signal: deps.signal },
  );

  async function send(
    model: BatchModel,
    req: { path: string; body: Record<string, unknown> },
    n: number,
  ): Promise<Outcome> {
    const requestId = `req_${randomUUID().replaceAll('-', '')}`;
    const base = model.baseUrl.replace(/\/+$/, '');
    try {
      const body = (await withRetries(
        () => postJson(`${base}${req.path}`, req.body, model.apiKey, deps.signal),
        {
          signal: deps.signal,
          ...(deps.retries !== undefined ? { retries: deps.retries } : {}),
          ...(deps.minBackoffMs !== undefined ? { minBackoffMs: deps.minBackoffMs } : {}),
          onRetry: (m) => deps.log(`line ${n}: ${m}`),
        },
      )) as Record<string, unknown>;
      const usage = body.usage as { prompt_tokens?: number; completion_tokens?: number } | undefined;
      s.promptTokens += usage?.prompt_tokens ?? 0;
      s.completionTokens += usage?.completion_tokens ?? 0;
      return { ok: true, status: 200, body, requestId };
    } catch (e) {
      if (deps.signal.aborted) throw e;
      const err = e instanceof AbortError && e.cause instanceof HttpError ? e.cause : (e as Error);
      if (err instanceof HttpError && err.status > 0)
        return { ok: false, status: err.status, body: errorBody(err), requestId, message: err.message };
      return { ok: false, code: 'request_failed', message: err.message.slice(0, 500) };
    }
  }

  // the final files: every id once, in the order they were answered
  const files = {
    output: createWriteStream(path.join(deps.outputDir, 'output.jsonl')),
    errors: createWriteStream(path.join(deps.outputDir, 'errors.jsonl')),
  };
  const written = new Set<string>();
  for await (const e of deps.journal.entries()) {
    if (written.has(e.id)) continue;
    written.add(e.id);
    if (!files[e.file].write(`${JSON.stringify(e.line)}\n`))
      await new Promise<void>((r) => files[e.file].once('drain', () => r()));
  }
  await Promise.all(Object.values(files).map((f) => new Promise<void>((r) => f.end(() => r()))));
  deps.log(
    `batch file: ${s.completed} answered, ${s.failed} in errors.jsonl, of ${s.total}; ${s.promptTokens} prompt and ${s.completionTokens} completion tokens`,
  );
  return s;
}

/** The endpoint's error answer as JSON where it is, from the error's message (`HTTP <status>: <body>`). */
function errorBody(e: HttpError): unknown {
  const text = e.message.replace(/^HTTP \d+: /, '');
  try {
    return JSON.parse(text);
  } catch {
    return { error: { message: text } };
  }
}

/** Lines of a local file (tests, and the local cloud's inputs). */
export async function* fileLines(file: string): AsyncIterable<string> {
  if (!existsSync(file)) return;
  yield* createInterface({ input: createReadStream(file), crlfDelay: Number.POSITIVE_INFINITY });
}
