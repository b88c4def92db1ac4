#!/usr/bin/env node
/**
 * trainstack CLI: submit, list, show, logs (with --follow), cancel, retry, stats, batches (submit a
 * JSONL file into one batch, its counts, its trajectories as JSONL) and the model registry.
 * Talks to the local cloud by default, or to a deployed stack (--endpoint / TRAINSTACK_ENDPOINT),
 * signing requests with SigV4 and the usual AWS credential chain.
 */
import { createWriteStream, readFileSync, realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Sha256 } from '@aws-crypto/sha256-js';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { Presets, SingleBar } from 'cli-progress';
import { Command, Option } from 'commander';
import {
  type BatchFormat,
  detectFormat,
  FORMAT_NAMES,
  providerBatchTask,
} from '../containers/runner/src/batch-formats.ts';
import { readSse } from '../lambdas/domain/events.ts';

const LOCAL = 'http://127.0.0.1:3000';

export function isLocal(url: URL): boolean {
  return ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
}

/**
 * Region of an execute-api URL (https://<id>.execute-api.<region>.amazonaws.com) or a function URL
 * (https://<id>.lambda-url.<region>.on.aws), else the environment's.
 */
export function regionOf(url: URL): string {
  return (
    /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$/.exec(url.hostname)?.[1] ??
    /\.lambda-url\.([a-z0-9-]+)\.on\.aws$/.exec(url.hostname)?.[1] ??
    process.env.AWS_REGION ??
    process.env.AWS_DEFAULT_REGION ??
    'us-east-1'
  );
}

/** Sign a request with SigV4: for API Gateway (service execute-api), or a function URL (service lambda). */
export async function signed(
  url: URL,
  method: string,
  body: string | undefined,
  headers: Record<string, string>,
  credentials = fromNodeProviderChain(),
) {
  const signer = new SignatureV4({
    service: url.hostname.includes('.lambda-url.') ? 'lambda' : 'execute-api',
    region: regionOf(url),
    credentials,
    sha256: Sha256,
  });
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = v;
  const req = new HttpRequest({
    method,
    protocol: url.protocol,
    hostname: url.hostname,
    ...(url.port ? { port: Number(url.port) } : {}),
    path: url.pathname,
    query,
    headers: { host: url.host, ...headers },
    ...(body !== undefined ? { body } : {}),
  });
  return (await signer.sign(req)).headers as Record<string, string>;
}

/** One request: signed where it must be, and an error that says what the API said when it failed. */
async function request(
  endpoint: string,
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
  /** statuses answered rather than thrown (a batch whose every line was refused is a 400 with per-line results) */
  keep: number[] = [],
): Promise<{ text: string; headers: Headers }> {
  const url = new URL(path, endpoint);
  const text = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  let headers: Record<string, string> = text !== undefined ? { 'content-type': contentType } : {};
  // deployed stacks always; the local cloud when credentials are given (it verifies them, and acts as
  // their principal), else unsigned, as its default user
  if (!isLocal(url) || process.env.AWS_ACCESS_KEY_ID) headers = await signed(url, method, text, headers);
  const r = await fetch(url, { method, headers, ...(text !== undefined ? { body: text } : {}) }).catch(
    (e: Error) => {
      const hint = isLocal(url) ? ' (is the local cloud running? npm start)' : '';
      throw new Error(`cannot reach ${url.origin}${hint}: ${e.message}`);
    },
  );
  const out = await r.text();
  if (!r.ok && !keep.includes(r.status)) {
    let e: { message?: string; details?: { path: string; message: string }[] } | undefined;
    try {
      e = (JSON.parse(out) as { error?: typeof e }).error;
    } catch {
      // not JSON: say it as it came
    }
    const details = e?.details?.map((d) => `\n  ${d.path}: ${d.message}`).join('') ?? '';
    throw new Error(`${r.status} ${e?.message ?? out}${details}`);
  }
  return { text: out, headers: r.headers };
}

/** A log line as the CLI prints it: its level where not INFO, or the whole line as JSON with --output json. */
const logLine = (l: { message: string; level?: string; timestamp?: number }) =>
  asJson() ? JSON.stringify(l) : l.level && l.level !== 'INFO' ? `${l.level} ${l.message}` : l.message;

/**
 * Print a task's log lines as its event stream gives them (GET /v1/tasks/{id}/events), attempt after
 * attempt, until it ends; its end on stderr. False when the endpoint has no stream (a deployed stack
 * behind API Gateway, which buffers responses): the caller polls the logs route instead.
 */
async function followEvents(endpoint: string, id: string): Promise<boolean> {
  // deployed, the stream is the stack's EventsUrl (--events-url); on the local cloud, the API's host
  const base = isLocal(new URL(endpoint)) ? endpoint : eventsUrl();
  if (!base) return false;
  const url = new URL(`v1/tasks/${encodeURIComponent(id)}/events`, base.endsWith('/') ? base : `${base}/`);
  const headers =
    !isLocal(url) || process.env.AWS_ACCESS_KEY_ID
      ? await signed(url, 'GET', undefined, { accept: 'text/event-stream' })
      : {};
  const r = await fetch(url, { headers }).catch(() => undefined);
  if (!r || r.status === 404 || !r.headers.get('content-type')?.startsWith('text/event-stream')) {
    await r?.body?.cancel();
    return false;
  }
  for await (const e of readSse(r.body ?? [])) {
    if (e.event === 'log') console.log(logLine(e.data as { message: string; level?: string }));
    if (e.event === 'end') process.stderr.write(`task ${id} ${String(e.data.status)}\n`);
  }
  return true;
}

async function call(
  endpoint: string,
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
) {
  const { text } = await request(endpoint, method, path, body, contentType);
  return (text ? JSON.parse(text) : undefined) as Record<string, unknown>;
}

const print = (v: unknown) => console.log(JSON.stringify(v, null, 2));
const program = new Command()
  .name('trainstack')
  .description('Run GPU tasks on trainstack (the local cloud by default)')
  .addOption(new Option('--endpoint <url>', 'API URL').env('TRAINSTACK_ENDPOINT').default(LOCAL))
  .addOption(
    new Option(
      '--events-url <url>',
      "a deployed stack's EventsUrl output: logs --follow streams from it (API Gateway buffers responses)",
    ).env('TRAINSTACK_EVENTS_URL'),
  )
  .addOption(
    new Option(
      '--output <format>',
      'text for people, json for scripts (list, logs and models list print tables or lines as text)',
    )
      .choices(['text', 'json'])
      .default('text'),
  )
  .showHelpAfterError()
  // the program's options (--endpoint, --output) come before the command; after it, --output is the
  // command's own (batches download -o <file>)
  .enablePositionalOptions();
const ep = () => program.opts<{ endpoint: string }>().endpoint;
const eventsUrl = () => program.opts<{ eventsUrl?: string }>().eventsUrl;
/** Whether to print what the API answered as JSON, for a script. */
const asJson = () => program.opts<{ output: string }>().output === 'json';
const run =
  <A extends unknown[]>(fn: (...a: A) => Promise<void>) =>
  async (...a: A) => {
    try {
      await fn(...a);
    } catch (e) {
      console.error(`trainstack: ${(e as Error).message}`);
      process.exitCode = 1;
    }
  };
const int = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new Error(`not an integer: ${v}`);
  return n;
};

program
  .command('submit')
  .description('submit a task (a training run by default, or a spec from --file)')
  .option('--file <spec.json>', 'the whole task spec as JSON')
  .option('--type <type>', 'training | trajectory | inference | container', 'training')
  .option('--name <name>')
  .option('--epochs <n>', 'training epochs', int, 5)
  .option('--batch-size <n>', 'training batch size', int, 32)
  .option('--learning-rate <x>', 'training learning rate', Number, 0.001)
  .option('--image <image>', 'the image to run in (any registry; the runner is added, nothing to install)')
  .option(
    '--image-credentials <secret>',
    'a private registry: Secrets Manager secret with username and password',
  )
  .option('--model <model>', 'inference: the registered model (id or name)')
  .option(
    '--kind <kind>',
    'inference: text-generation | translation | summarization | embedding | custom',
    'text-generation',
  )
  .option('--input <text>', 'inference: the input')
  .option('--task-type <type>', 'trajectory: code | web | reasoning', 'reasoning')
  .option('--description <text>', 'trajectory: what the agent is to do')
  .option('--max-steps <n>', 'trajectory: the most actions', int)
  .option('--tools <names>', "trajectory: the tools, comma-separated (default: the task type's)")
  .option('--priority <1-10>', 'higher runs first', int)
  .option('--gpus <n>', 'GPUs', int)
  .option('--max-retries <n>', 'retries of workload failures', int)
  .option('--timeout <seconds>', 'timeoutSeconds', int)
  .option('--idempotency-key <key>')
  .option('--wait', 'wait for the task to end, print it, and exit non-zero unless it SUCCEEDED')
  .argument('[command...]', 'command to run (container tasks; after --)')
  .action(
    run(async (command: string[], o: Record<string, string | number | undefined>) => {
      const spec = o.file
        ? JSON.parse(readFileSync(String(o.file), 'utf8'))
        : {
            type: o.type,
            ...(o.name ? { name: o.name } : {}),
            ...(o.type === 'training'
              ? { params: { epochs: o.epochs, batchSize: o.batchSize, learningRate: o.learningRate } }
              : {}),
            ...(o.type === 'inference' ? { params: { model: o.model, kind: o.kind, input: o.input } } : {}),
            ...(o.type === 'trajectory'
              ? {
                  params: {
                    taskType: o.taskType,
                    description: o.description,
                    ...(o.model ? { model: o.model } : {}),
                    ...(o.maxSteps !== undefined ? { maxSteps: o.maxSteps } : {}),
                    ...(o.tools ? { expectedTools: String(o.tools).split(',') } : {}),
                  },
                }
              : {}),
            ...(o.image ? { image: o.image } : {}),
            ...(o.imageCredentials ? { imageCredentials: o.imageCredentials } : {}),
            ...(command.length ? { command } : {}),
            ...(o.priority !== undefined ? { priority: o.priority } : {}),
            ...(o.gpus !== undefined ? { gpus: o.gpus } : {}),
            ...(o.maxRetries !== undefined ? { maxRetries: o.maxRetries } : {}),
            ...(o.timeout !== undefined ? { timeoutSeconds: o.timeout } : {}),
          };
      const task = await call(ep(), 'POST', '/v1/tasks', spec);
      if (!o.wait) return print(task);
      // until it ends: a progress bar on stderr (lines where it is not a terminal), the task on stdout
      const t = await waitForTask(String(task.taskId));
      print(t);
      if (t.status !== 'SUCCEEDED') process.exitCode = 1;
    }),
  );

program
  .command('list')
  .option('--status <status>')
  .option('--type <type>')
  .option('--model <model>', 'the tasks that call this registered model (id or name)')
  .option('--limit <n>', 'how many', int, 20)
  .option('--cursor <cursor>')
  .action(
    run(async (o: Record<string, string | number | undefined>) => {
      const q = new URLSearchParams(
        Object.entries(o)
          .filter(([, v]) => v !== undefined)
          .map(([k, v]): [string, string] => [k, String(v)]),
      );
      const r = await call(ep(), 'GET', `/v1/tasks?${q}`);
      if (asJson()) return print(r);
      for (const t of (r.tasks as Record<string, unknown>[]) ?? []) {
        console.log(
          [
            t.taskId,
            String(t.status).padEnd(9),
            String(t.type).padEnd(10),
            `${t.progress}%`.padStart(5),
            t.name ?? '',
          ].join('  '),
        );
      }
      if (r.cursor) console.log(`more: --cursor ${r.cursor}`);
    }),
  );

program
  .command('show <id>')
  .action(run(async (id: string) => print(await call(ep(), 'GET', `/v1/tasks/${id}`))));
program
  .command('cancel <id>')
  .action(run(async (id: string) => print(await call(ep(), 'POST', `/v1/tasks/${id}/cancel`))));
program
  .command('retry <id>')
  .action(run(async (id: string) => print(await call(ep(), 'POST', `/v1/tasks/${id}/retry`))));
program.command('stats').action(run(async () => print(await call(ep(), 'GET', '/v1/stats'))));
const TERMINAL = ['SUCCEEDED', 'FAILED', 'CANCELLED'];

/**
 * Progress on stderr while something runs: a bar (cli-progress) on a terminal, else a line each time
 * what it shows changes, so logs and CI output stay readable.
 */
function progressReporter(total: number, format: string) {
  if (process.stderr.isTTY && !asJson()) {
    const bar = new SingleBar(
      { format, stream: process.stderr, hideCursor: true, clearOnComplete: false },
      Presets.shades_classic,
    );
    bar.start(total, 0, { status: '', reason: '' });
    return {
      update: (value: number, payload: Record<string, string>) => bar.update(value, payload),
      stop: () => bar.stop(),
    };
  }
  let last = '';
  return {
    update: (value: number, payload: Record<string, string>) => {
      const line = `${payload.what ?? ''} ${payload.status ?? ''} ${value}/${total}${payload.reason ? ` ${payload.reason}` : ''}`;
      if (line !== last) process.stderr.write(`${line.trim()}\n`);
      last = line;
    },
    stop: () => {},
  };
}

/** Poll a task until it ends, its progress shown; the task as it ended. */
async function waitForTask(id: string): Promise<Record<string, unknown>> {
  const bar = progressReporter(100, `${id} [{bar}] {percentage}% {status} {reason}`);
  try {
    for (;;) {
      const t = await call(ep(), 'GET', `/v1/tasks/${id}`);
      bar.update(Math.round(Number(t.progress ?? 0)), {
        what: id,
        status: String(t.status),
        reason: String(t.statusReason ?? '').slice(0, 60),
      });
      if (TERMINAL.includes(String(t.status))) return t;
      await new Promise((r) => setTimeout(r, 1000));
    }
  } finally {
    bar.stop();
  }
}

/** Poll a batch until every task of it has ended, its progress shown; the batch as it ended. */
async function waitForBatch(id: string): Promise<Record<string, unknown>> {
  let bar: ReturnType<typeof progressReporter> | undefined;
  try {
    for (;;) {
      const b = await call(ep(), 'GET', `/v1/batches/${id}`);
      const tasks = Number(b.tasks ?? 0);
      bar ??= progressReporter(tasks, `batch ${id} [{bar}] {value}/{total} tasks ended {status}`);
      const by = (b.byStatus ?? {}) as Record<string, number>;
      bar.update(Number(b.finished ?? 0), {
        what: `batch ${id}`,
        status: Object.entries(by)
          .map(([k, v]) => `${k} ${v}`)
          .join(', '),
      });
      if (b.done) return b;
      await new Promise((r) => setTimeout(r, 2000));
    }
  } finally {
    bar?.stop();
  }
}

/** Lines per request when a file is sent into one batch (the API takes up to 1000). */
const BATCH_CHUNK = 500;

program
  .command('batch <file>')
  .description(
    'submit many tasks from a JSONL file into one batch (seed 003 tasks.jsonl lines are trajectory tasks), in requests of --chunk lines; an OpenAI, Anthropic or Bedrock batch file is one inference task on the models its lines name (--model first)',
  )
  .option(
    '--model <model>',
    'the registered model of trajectory lines that name none, and of provider batch lines that name none',
  )
  .option('--name <name>', "the batch's name")
  .option('--chunk <n>', 'lines per request (at most 1000)', int, BATCH_CHUNK)
  .option(
    '--wait',
    'wait until every task has ended, with a progress bar; exit non-zero if any did not succeed',
  )
  .action(
    run(async (file: string, o: { model?: string; name?: string; chunk: number; wait?: boolean }) => {
      // line numbers are the file's: blank lines are skipped but counted
      const numbered = readFileSync(file, 'utf8')
        .split('\n')
        .map((text, i) => ({ text, line: i + 1 }))
        .filter((l) => l.text.trim());
      if (!numbered.length) throw new Error(`${file} has no lines`);
      // a provider's batch file (OpenAI, Anthropic, Bedrock) is one inference task, taken as it is
      const format = providerFormat(numbered[0]?.text ?? '');
      if (format) {
        const what = `${file} is an ${FORMAT_NAMES[format]} batch file`;
        if (numbered.length > MAX_INLINE_INPUTS)
          throw new Error(
            `${what} of ${numbered.length} lines; more than ${MAX_INLINE_INPUTS} go in through S3: ` +
              'upload it and submit an inference task with params.inputsUri and a roleArn that can read it (README: Provider batch files)',
          );
        // the models its lines name (a mixed file runs on each): --model first, else the most named
        const planned = providerBatchTask(
          format,
          numbered.map((l) => l.text),
          o.model,
        );
        if ('error' in planned) throw new Error(`${what}: ${planned.error} (--model)`);
        const task = await call(ep(), 'POST', '/v1/tasks', {
          ...planned.spec,
          ...(o.name ? { name: o.name } : {}),
        });
        process.stderr.write(
          `${what} of ${numbered.length} lines to ${planned.models.join(', ')}: task ${task.taskId}; its output.jsonl and errors.jsonl are in its outputs\n`,
        );
        if (!o.wait) return print(task);
        const ended = await waitForTask(String(task.taskId));
        print(ended);
        if (ended.status !== 'SUCCEEDED') process.exitCode = 1;
        return;
      }
      let batchId: string | undefined;
      const accepted: Record<string, unknown>[] = [];
      const rejected: Record<string, unknown>[] = [];
      for (let i = 0; i < numbered.length; i += o.chunk) {
        const part = numbered.slice(i, i + o.chunk);
        const q = new URLSearchParams({
          ...(batchId ? { batchId } : {}),
          ...(o.model ? { model: o.model } : {}),
          ...(o.name && !batchId ? { name: o.name } : {}),
        });
        const url = `/v1/tasks/batch${q.size ? `?${q}` : ''}`;
        const body = part.map((l) => l.text).join('\n');
        // a request whose every line was refused is a 400 that still says why per line
        const { text } = await request(ep(), 'POST', url, body, 'application/x-ndjson', [400]);
        const r = JSON.parse(text) as Record<string, unknown>;
        batchId ??= r.batchId as string | undefined;
        const fileLine = (n: unknown) => part[Number(n) - 1]?.line ?? n;
        for (const a of (r.accepted as Record<string, unknown>[]) ?? [])
          accepted.push({ ...a, line: fileLine(a.line) });
        for (const x of (r.rejected as Record<string, unknown>[]) ?? [])
          rejected.push({ ...x, line: fileLine(x.line) });
        if (numbered.length > o.chunk)
          process.stderr.write(
            `sent ${Math.min(i + o.chunk, numbered.length)} of ${numbered.length} lines\n`,
          );
      }
      if (!o.wait || !batchId || !accepted.length) {
        print({ batchId, accepted, rejected });
        if (!accepted.length) process.exitCode = 1;
        return;
      }
      const ended = await waitForBatch(batchId);
      print({ batchId, accepted, rejected, batch: ended });
      const by = (ended.byStatus ?? {}) as Record<string, number>;
      // a script can tell: non-zero when a line was refused or a task did not succeed
      if (rejected.length || (by.FAILED ?? 0) + (by.CANCELLED ?? 0) > 0) process.exitCode = 1;
    }),
  );

/** The most inputs an inference task takes inline (the API's limit). */
const MAX_INLINE_INPUTS = 1000;

/** Which provider's batch file a first line is from, if any. */
function providerFormat(first: string): BatchFormat | undefined {
  try {
    return detectFormat(JSON.parse(first));
  } catch {
    return undefined;
  }
}

const batches = program.command('batches').description('batches: their counts, tasks and trajectories');
batches
  .command('show <batchId>')
  .description('lines and tasks by status')
  .action(run(async (id: string) => print(await call(ep(), 'GET', `/v1/batches/${id}`))));
batches
  .command('download <batchId>')
  .description("every trajectory of the batch's tasks, as JSONL (to stdout, or --output)")
  .option('-o, --output <file>', 'write to this file')
  .action(
    run(async (id: string, o: { output?: string }) => {
      const out = o.output ? createWriteStream(o.output) : process.stdout;
      let cursor: string | undefined;
      let missing = 0;
      let lines = 0;
      do {
        const q = new URLSearchParams({ limit: '100', ...(cursor ? { cursor } : {}) });
        const r = await request(ep(), 'GET', `/v1/batches/${id}/trajectories?${q}`);
        if (r.text) out.write(r.text);
        lines += r.text.split('\n').filter(Boolean).length;
        missing += Number(r.headers.get('x-trajectories-missing') ?? 0);
        cursor = r.headers.get('x-next-cursor') ?? undefined;
      } while (cursor);
      if (o.output) await new Promise<void>((r) => (out as ReturnType<typeof createWriteStream>).end(r));
      process.stderr.write(`${lines} trajectories${missing ? `; ${missing} task(s) have none yet` : ''}\n`);
    }),
  );
batches
  .command('export <batchId>')
  .description(
    "the batch's trajectories as fine-tuning JSONL (OpenAI chat, or ShareGPT as LLaMA-Factory reads it)",
  )
  .option('--format <format>', 'openai-chat | sharegpt', 'openai-chat')
  .option('--include-failed', 'failed trajectories too')
  .option('-o, --output <file>', 'write to this file')
  .action(
    run(async (id: string, o: { format: string; includeFailed?: boolean; output?: string }) => {
      const out = o.output ? createWriteStream(o.output) : process.stdout;
      let cursor: string | undefined;
      let lines = 0;
      const skipped: Record<string, number> = {};
      do {
        const q = new URLSearchParams({
          limit: '100',
          format: o.format,
          ...(o.includeFailed ? { includeFailed: 'true' } : {}),
          ...(cursor ? { cursor } : {}),
        });
        const r = await request(ep(), 'GET', `/v1/batches/${id}/export?${q}`);
        if (r.text) out.write(r.text);
        lines += r.text.split('\n').filter(Boolean).length;
        const page = JSON.parse(r.headers.get('x-export-skipped') ?? '{}') as Record<string, number>;
        const missing = Number(r.headers.get('x-trajectories-missing') ?? 0);
        if (missing) page['no trajectory yet'] = missing;
        for (const [why, n] of Object.entries(page)) skipped[why] = (skipped[why] ?? 0) + n;
        cursor = r.headers.get('x-next-cursor') ?? undefined;
      } while (cursor);
      if (o.output) await new Promise<void>((r) => (out as ReturnType<typeof createWriteStream>).end(r));
      const left = Object.entries(skipped).map(([why, n]) => `${n} ${why}`);
      process.stderr.write(
        `${lines} ${o.format} lines${left.length ? `; left out: ${left.join(', ')}` : ''}\n`,
      );
    }),
  );
program
  .command('trajectory <taskId>')
  .description("a trajectory task's trajectory (seed 003 format)")
  .action(run(async (id: string) => print(await call(ep(), 'GET', `/v1/tasks/${id}/trajectory`))));

const models = program
  .command('models')
  .description('the model registry (LLM endpoints for inference tasks)');
models
  .command('add <name>')
  .description('register a model: an OpenAI-compatible endpoint')
  .requiredOption(
    '--base-url <url>',
    'the API root, e.g. https://api.openai.com/v1 or http://127.0.0.1:8000/v1',
  )
  .requiredOption('--model <model>', 'the model name the endpoint knows')
  .option('--type <type>', 'openai | local | custom', 'openai')
  .option('--max-workers <n>', 'tasks calling it at once, at most', int, 1)
  .option('--api-key <ref>', 'a secret reference: ssm:<name> or secretsmanager:<name>[#key] (never the key)')
  .option('--max-tokens <n>', 'default max_tokens', int)
  .option('--temperature <x>', 'default temperature', Number)
  .action(
    run(async (name: string, o: Record<string, string | number | undefined>) => {
      const defaults = {
        ...(o.maxTokens !== undefined ? { maxTokens: o.maxTokens } : {}),
        ...(o.temperature !== undefined ? { temperature: o.temperature } : {}),
      };
      print(
        await call(ep(), 'POST', '/v1/models', {
          name,
          type: o.type,
          baseUrl: o.baseUrl,
          model: o.model,
          maxWorkers: o.maxWorkers,
          defaults,
          ...(o.apiKey ? { apiKey: o.apiKey } : {}),
        }),
      );
    }),
  );
models.command('list').action(
  run(async () => {
    const r = await call(ep(), 'GET', '/v1/models');
    if (asJson()) return print(r);
    for (const m of (r.models as Record<string, unknown>[]) ?? [])
      console.log(
        [
          m.modelId,
          String(m.status).padEnd(7),
          `${m.active}/${m.maxWorkers}`.padStart(7),
          m.name,
          m.baseUrl,
        ].join('  '),
      );
  }),
);
for (const status of ['online', 'offline'] as const)
  models
    .command(`${status} <model>`)
    .description(`put a model ${status} (by id or name)`)
    .action(
      run(async (m: string) =>
        print(await call(ep(), 'PUT', `/v1/models/${encodeURIComponent(m)}/status`, { status })),
      ),
    );
models
  .command('rm <model>')
  .description('remove a model (refused while tasks of it run)')
  .action(
    run(async (m: string) => {
      await call(ep(), 'DELETE', `/v1/models/${encodeURIComponent(m)}`);
      console.log(`removed ${m}`);
    }),
  );

program
  .command('logs <id>')
  .option('--follow', 'keep printing new lines until the task ends')
  .option('--attempt <n>', 'attempt (default: the latest)', int)
  .action(
    run(async (id: string, o: { follow?: boolean; attempt?: number }) => {
      // following the latest attempt: the event stream where the endpoint has one (the local cloud)
      if (o.follow && !o.attempt && (await followEvents(ep(), id))) return;
      let cursor: string | undefined;
      for (;;) {
        const q = new URLSearchParams({
          ...(cursor ? { cursor } : {}),
          ...(o.attempt ? { attempt: String(o.attempt) } : {}),
        });
        const r = await call(ep(), 'GET', `/v1/tasks/${id}/logs?${q}`);
        // stderr's lines say their level (WARN, or ERROR in a traceback)
        for (const l of (r.lines as { message: string; level?: string }[]) ?? []) console.log(logLine(l));
        cursor = (r.cursor as string | undefined) ?? cursor;
        if (!o.follow || (r.done && !(r.lines as unknown[]).length)) return;
        if (!(r.lines as unknown[]).length) await new Promise((res) => setTimeout(res, 1000));
      }
    }),
  );

// run as a command (not when a test imports the signing helpers)
if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  await program.parseAsync();
}
