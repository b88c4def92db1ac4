/**
 * The runner: what every trainstack container runs. It gets pointers (task id, attempt, table,
 * bucket), reads the spec itself, marks the task RUNNING, restores checkpoints, runs the workload with
 * its output passed through unchanged, reports progress (at most about once a second), syncs
 * checkpoints while it runs, uploads outputs when it ends, and exits with a code that tells the
 * workflow what happened.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { RUNNER_ENV, WORKLOAD_ENV } from '../../../lambdas/contracts/runner-env.ts';
import { EXIT_STOPPED } from '../../../lambdas/domain/classify.ts';
import { StderrTagger } from '../../../lambdas/domain/log-level.ts';
import type { TaskRecord } from '../../../lambdas/domain/model.ts';
import type { ModelRecord, ModelRepository } from '../../../lambdas/domain/models.ts';
import { mustGet, type TaskRepository } from '../../../lambdas/domain/task-repository.ts';
import { type BatchFileSummary, type BatchModel, formatOf, Journal, runBatchFile } from './batch-file.ts';
import type { BatchFormat } from './batch-formats.ts';
import { describeEnding, type Ending, exitCodeFor } from './exit.ts';
import { type InferenceSummary, parseJsonlInputs, runInference } from './inference.ts';
import { downloadInputs, InputUnavailable } from './inputs.ts';
import { parseLine } from './parse.ts';
import { type CredentialServer, type CredentialSource, serveRoleCredentials } from './role-credentials.ts';
import { DirSync, uploadFile } from './s3sync.ts';
import { masker, resolveSecrets, type SecretSource, SecretUnavailable } from './secrets.ts';
import { ProgressThrottle } from './throttle.ts';
import { type Usage, UsageSampler } from './usage.ts';

export interface RunnerConfig {
  taskId: string;
  attempt: number;
  bucket: string;
  outputDir: string;
  checkpointDir: string;
  /** where the task's dataset and inputs are downloaded @default `input` beside the output directory */
  inputDir?: string;
  /** the image's default command, run through `sh -c` when the spec has no command */
  defaultCommand?: string;
  /** the agent runtime's command (the agent image's), run through `sh -c` for trajectory tasks */
  agentCommand?: string;
  progressIntervalMs: number;
  checkpointIntervalMs: number;
  /** how often the usage so far goes to the record while the workload runs @default 15000 */
  usageIntervalMs?: number;
  /** seconds between SIGTERM to the workload and SIGKILL */
  stopGraceSeconds: number;
  ecsTaskArn?: string;
  logStream?: string;
  gpu: boolean;
  /** record the workload's process id (its process group) here while it runs */
  workloadPidFile?: string;
  /** run the workload as this user and group, not the runner's (see RUNNER_ENV.workloadUser) */
  workloadUser?: WorkloadUser;
}

export interface WorkloadUser {
  uid: number;
  gid: number;
}

/** `uid:gid` (numbers) as TRAINSTACK_WORKLOAD_USER gives it; anything else is a configuration error. */
export function parseWorkloadUser(value: string): WorkloadUser {
  const m = /^(\d+):(\d+)$/.exec(value.trim());
  if (!m)
    throw new Error(`${RUNNER_ENV.workloadUser} must be uid:gid (numbers), not ${JSON.stringify(value)}`);
  return { uid: Number(m[1]), gid: Number(m[2]) };
}

/** The name and home directory /etc/passwd gives this uid, if it has an entry. */
function passwdEntry(uid: number): { name: string; home: string } | undefined {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const [name, , id, , , home] = line.split(':');
      if (id === String(uid) && name && home) return { name, home };
    }
  } catch {
    // no passwd file
  }
  return undefined;
}

/** Hand a directory tree to the workload's user, so it can write outputs and restored checkpoints. */
function chownTree(dir: string, u: WorkloadUser): void {
  chownSync(dir, u.uid, u.gid);
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) chownTree(p, u);
    else chownSync(p, u.uid, u.gid);
  }
}

export interface RunnerDeps {
  store: TaskRepository;
  s3: S3Client;
  /** where the task's `secrets` are read from */
  secrets: SecretSource;
  /** the model registry, for inference tasks */
  models?: Pick<ModelRepository, 'get'>;
  /** credentials of a role the workload works as (a task's `roleArn`), assumed with the runner's own */
  assumeRole?: (roleArn: string, sessionName: string) => CredentialSource;
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
  log: (msg: string) => void;
}

export interface RunResult {
  exitCode: number;
  ending: Ending;
  usage?: Usage;
  progressWrites: number;
}

/**
 * What the workload must not inherit from the runner: its AWS credentials and endpoints (the task
 * role's credentials URI included), the ECS metadata endpoint, the local cloud's secret values (the
 * workload gets only the secrets its task names), and the runner's own settings.
 */
const RUNNER_ONLY = (name: string) =>
  /^(AWS_|ECS_|TRAINSTACK_SECRET_)/.test(name) || (Object.values(RUNNER_ENV) as string[]).includes(name);

/**
 * The GPUs ECS assigned to this container: the ECS agent names them (UUIDs) in NVIDIA_VISIBLE_DEVICES,
 * and the NVIDIA runtime shows the container those alone, as devices 0..n-1. Undefined when ECS
 * assigned none (no variable, or `all`/`none`/`void`, which only a hand-run container has).
 */
export function assignedGpus(env: NodeJS.ProcessEnv): string[] | undefined {
  const v = env.NVIDIA_VISIBLE_DEVICES?.trim();
  if (!v || ['all', 'none', 'void'].includes(v)) return undefined;
  return v
    .split(',')
    .map((d) => d.trim())
    .filter(Boolean);
}

/**
 * Environment the workload sees: the image's own (PATH, HOME, CUDA and the like) without what is the
 * runner's only, then its spec's env, its params, and where to put outputs and checkpoints.
 */
export function workloadEnv(
  task: TaskRecord,
  c: RunnerConfig,
  base: NodeJS.ProcessEnv,
  secrets: Record<string, string> = {},
): NodeJS.ProcessEnv {
  const inherited = Object.fromEntries(Object.entries(base).filter(([k]) => !RUNNER_ONLY(k)));
  const env: NodeJS.ProcessEnv = { ...inherited, ...(task.spec.env ?? {}), ...secrets };
  env[WORKLOAD_ENV.taskId] = task.taskId;
  env[WORKLOAD_ENV.attempt] = String(c.attempt);
  env[WORKLOAD_ENV.outputDir] = c.outputDir;
  env[WORKLOAD_ENV.checkpointDir] = c.checkpointDir;
  env[WORKLOAD_ENV.params] = JSON.stringify(task.spec.params ?? {});
  env.PYTHONUNBUFFERED = '1';
  // the attempt is stopped at its timeout: a workload that knows when can end on its own terms first
  const started = Date.parse(task.attempts?.[c.attempt - 1]?.startedAt ?? '');
  if (Number.isFinite(started) && task.spec.timeoutSeconds)
    env[WORKLOAD_ENV.deadline] = String(started + task.spec.timeoutSeconds * 1000);
  if (c.workloadUser && !task.spec.env?.HOME) {
    // the runner's HOME (root's) is not the workload's to write
    const entry = passwdEntry(c.workloadUser.uid);
    env.HOME = entry?.home ?? c.outputDir;
    env.USER = env.LOGNAME = entry?.name ?? String(c.workloadUser.uid);
  }
  // the GPUs ECS gave this container, and no others, whatever the task's env says
  const gpus = assignedGpus(base);
  if (gpus) env.CUDA_VISIBLE_DEVICES = gpus.map((_, i) => String(i)).join(',');
  if (task.spec.type === 'training') {
    const p = task.spec.params;
    env[WORKLOAD_ENV.epochs] = String(p.epochs);
    env[WORKLOAD_ENV.batchSize] = String(p.batchSize);
    env[WORKLOAD_ENV.learningRate] = String(p.learningRate);
    if (p.checkpointEvery) env[WORKLOAD_ENV.checkpointEvery] = String(p.checkpointEvery);
    if (p.dataset) env[WORKLOAD_ENV.datasetUri] = p.dataset;
    if (p.model) env[WORKLOAD_ENV.model] = p.model;
  }
  return env;
}

/** A registered model of the task (its own by default) and its API key, or the ending that says why there is none. */
async function modelOf(
  task: TaskRecord,
  deps: RunnerDeps,
  modelId = task.modelId,
): Promise<{ model: ModelRecord; apiKey?: string } | { ending: Ending }> {
  const model = modelId ? await deps.models?.get(modelId) : undefined;
  if (!model) {
    deps.log(`the model ${modelId ?? '(none)'} of this task is no longer registered`);
    return { ending: { kind: 'model-unavailable' } };
  }
  if (!model.apiKey) return { model };
  try {
    return { model, apiKey: (await resolveSecrets({ API_KEY: model.apiKey }, deps.secrets)).API_KEY };
  } catch (e) {
    deps.log(`the API key of model ${model.name}: ${(e as Error).message}`);
    return { ending: { kind: 'secret-unavailable' } };
  }
}

/** An inference task on its model (./inference.ts): the ending, with the answer and token counts recorded. */
async function inference(
  task: TaskRecord,
  c: RunnerConfig,
  deps: RunnerDeps,
  throttle: ProgressThrottle,
  stopSignal: AbortSignal,
): Promise<Ending> {
  if (task.spec.type !== 'inference') return { kind: 'no-runtime' };
  const resolved = await modelOf(task, deps);
  if ('ending' in resolved) return resolved.ending;
  const { model, apiKey } = resolved;
  let params = task.spec.params;
  // a provider's batch file (OpenAI, Anthropic, Bedrock lines), in S3 or inline: streamed, crash-safe
  let credentials: CredentialSource | undefined;
  if (params.inputsUri && task.spec.roleArn && deps.assumeRole)
    credentials = deps.assumeRole(task.spec.roleArn, `task-${task.taskId}`);
  const uri = params.inputsUri;
  const inline = params.inputs;
  const lines = uri
    ? credentials
      ? () => s3Lines(uri, credentials)
      : undefined
    : inline
      ? () => arrayLines(inline)
      : undefined;
  let format: BatchFormat | undefined;
  try {
    format = lines ? await formatOf(lines()) : undefined;
  } catch (e) {
    deps.log(`the inputs ${uri} could not be read: ${(e as Error).name}: ${(e as Error).message}`);
    return { kind: 'inputs-unavailable' };
  }
  if (format && lines) {
    // a mixed-model file: the other models its lines name, each with its own key
    const models: [BatchModel, ...BatchModel[]] = [{ ...model, apiKey }];
    for (const id of task.otherModelIds ?? []) {
      const other = await modelOf(task, deps, id);
      if ('ending' in other) return other.ending;
      models.push({ ...other.model, apiKey: other.apiKey });
    }
    return batchFile(task, c, deps, throttle, stopSignal, { format, lines, models });
  }
  if (params.inputsUri) {
    // large jobs: the inputs are a JSONL file in S3, read with the task's role (its owner's access)
    try {
      if (!task.spec.roleArn || !deps.assumeRole)
        throw new Error("reading inputsUri needs the task's roleArn");
      const inputs = await readInputs(
        params.inputsUri,
        credentials ?? deps.assumeRole(task.spec.roleArn, `task-${task.taskId}`),
      );
      deps.log(`read ${inputs.length} input(s) from ${params.inputsUri}`);
      params = { ...params, inputs };
    } catch (e) {
      deps.log(
        `the inputs ${params.inputsUri} could not be read: ${(e as Error).name}: ${(e as Error).message}`,
      );
      return { kind: 'inputs-unavailable' };
    }
  }
  let s: InferenceSummary;
  try {
    s = await runInference(params, model, {
      ...(apiKey ? { apiKey } : {}),
      outputDir: c.outputDir,
      log: deps.log,
      progress: (done, total, metrics) =>
        throttle.push({ progress: Math.floor((done / total) * 100), metrics }),
      signal: stopSignal,
    });
  } catch (e) {
    if (stopSignal.aborted) return { kind: 'stopped' };
    throw e;
  }
  const metrics = {
    requests: s.requests,
    succeeded: s.succeeded,
    failed: s.failed,
    promptTokens: s.promptTokens,
    completionTokens: s.completionTokens,
    latencyMsSum: s.latencyMsSum,
    ...(s.succeeded ? { meanLatencyMs: Math.round(s.latencyMsSum / s.succeeded) } : {}),
    ...(s.costUsd !== undefined ? { costUsd: s.costUsd } : {}),
  };
  await throttle.close({ progress: 100, metrics });
  if (s.output !== undefined) await deps.store.updateProgress(task.taskId, c.attempt, { output: s.output });
  return s.ok
    ? { kind: 'exited', code: 0 }
    : {
        kind: 'exited',
        code: 1,
        reason: `${s.failed} of ${s.requests} request(s) failed, past the error budget (results.jsonl says why)`,
      };
}

/** A provider batch file's lines through the batch-file runtime, into the task's outputs and record. */
async function batchFile(
  task: TaskRecord,
  c: RunnerConfig,
  deps: RunnerDeps,
  throttle: ProgressThrottle,
  stopSignal: AbortSignal,
  b: {
    format: BatchFormat;
    lines: () => AsyncIterable<string>;
    models: [BatchModel, ...BatchModel[]];
  },
): Promise<Ending> {
  if (task.spec.type !== 'inference') return { kind: 'no-runtime' };
  const p = task.spec.params;
  const journal = new Journal(path.join(c.checkpointDir, 'batch'), c.attempt, async (name, body) => {
    await deps.s3.send(
      new PutObjectCommand({ Bucket: c.bucket, Key: `checkpoints/${task.taskId}/batch/${name}`, Body: body }),
    );
  });
  let s: BatchFileSummary;
  try {
    s = await runBatchFile(b.lines, b.format, b.models, {
      log: deps.log,
      progress: (done, total, metrics) =>
        throttle.push({ progress: total ? Math.floor((done / total) * 100) : 100, metrics }),
      signal: stopSignal,
      journal,
      outputDir: c.outputDir,
      ...(p.concurrency ? { concurrency: p.concurrency } : {}),
    });
  } catch (e) {
    if (stopSignal.aborted) return { kind: 'stopped' };
    throw e;
  }
  await throttle.close({
    progress: 100,
    metrics: {
      requests: s.total,
      succeeded: s.completed,
      failed: s.failed,
      promptTokens: s.promptTokens,
      completionTokens: s.completionTokens,
    },
  });
  // a batch completes with its failed lines in errors.jsonl (as the providers' batches do), unless the
  // task gave an error budget; one whose every line failed did no work, and fails
  if (s.total > 0 && s.completed === 0)
    return {
      kind: 'exited',
      code: 1,
      reason: `none of the ${s.total} line(s) was answered (errors.jsonl says why for each)`,
    };
  if (p.errorBudget !== undefined && s.failed > Math.floor(p.errorBudget * s.total))
    return {
      kind: 'exited',
      code: 1,
      reason: `${s.failed} of ${s.total} line(s) failed, past the error budget ${p.errorBudget} (see errors.jsonl)`,
    };
  return { kind: 'exited', code: 0 };
}

/** The lines of an s3:// object, streamed, read with the given credentials. */
async function* s3Lines(uri: string, credentials: CredentialSource): AsyncIterable<string> {
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
  if (!m?.[1] || !m[2]) throw new Error(`not an s3:// URI: ${uri}`);
  const client = new S3Client({
    credentials,
    forcePathStyle: Boolean(process.env.AWS_ENDPOINT_URL),
    followRegionRedirects: true,
  });
  const r = await client.send(new GetObjectCommand({ Bucket: m[1], Key: m[2] }));
  const body = r.Body as NodeJS.ReadableStream & { destroy?: () => void };
  try {
    yield* createInterface({ input: body, crlfDelay: Number.POSITIVE_INFINITY });
  } finally {
    // a reader that stops early (the format check reads one line) gives the connection back
    body.destroy?.();
  }
}

async function* arrayLines(inputs: unknown[]): AsyncIterable<string> {
  for (const i of inputs) yield JSON.stringify(i);
}

/** The inputs of an s3:// JSONL file, read with the given credentials. */
async function readInputs(uri: string, credentials: CredentialSource) {
  const lines: string[] = [];
  for await (const line of s3Lines(uri, credentials)) lines.push(line);
  return parseJsonlInputs(lines.join('\n'));
}

/** Where AWS is for a workload with a role: the region, and the endpoint when one is set (the local cloud). */
function awsLocation(base: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(
    Object.entries(base).filter(
      (e): e is [string, string] =>
        e[1] !== undefined && /^(AWS_REGION|AWS_DEFAULT_REGION|AWS_ENDPOINT_URL(_[A-Z0-9_]+)?)$/.test(e[0]),
    ),
  );
}

/**
 * The task's own command, or the image's: the reference trainer serves training tasks only, the agent
 * runtime trajectory tasks only; any other type without a command has nothing to run it (never
 * another workload in its place).
 */
export function workloadCommand(task: TaskRecord, c: RunnerConfig): string[] | undefined {
  if (task.spec.command?.length) return task.spec.command;
  if (c.defaultCommand && task.spec.type === 'training') return ['sh', '-c', c.defaultCommand];
  if (c.agentCommand && task.spec.type === 'trajectory') return ['sh', '-c', c.agentCommand];
  return undefined;
}

export async function runTask(
  deps: RunnerDeps,
  c: RunnerConfig,
  baseEnv: NodeJS.ProcessEnv,
  stopSignal: AbortSignal,
): Promise<RunResult> {
  const { store, s3, log } = deps;
  const task = await mustGet(store, c.taskId);
  const attemptIndex = c.attempt - 1;
  const attempt = task.attempts[attemptIndex];
  if (
    !attempt ||
    task.attempts.length !== c.attempt ||
    (task.status !== 'STARTING' && task.status !== 'RUNNING')
  ) {
    log(
      `task ${c.taskId} is ${task.status} at attempt ${task.attempts.length}, not starting attempt ${c.attempt}: nothing to run`,
    );
    return { exitCode: EXIT_STOPPED, ending: { kind: 'stopped' }, progressWrites: 0 };
  }
  if (task.status === 'STARTING') {
    await store.transition(task, {
      from: 'STARTING',
      to: 'RUNNING',
      endAttempt: {
        index: attemptIndex,
        attempt: {
          ...attempt,
          ...(c.ecsTaskArn ? { ecsTaskArn: c.ecsTaskArn } : {}),
          ...(c.logStream ? { logStream: c.logStream } : {}),
        },
      },
    });
  }

  mkdirSync(c.outputDir, { recursive: true });
  mkdirSync(c.checkpointDir, { recursive: true });
  const checkpoints = new DirSync(s3, c.bucket, c.checkpointDir, `checkpoints/${c.taskId}/`);
  const restored = await checkpoints.pull();
  if (restored) log(`restored ${restored} checkpoint file(s) from s3://${c.bucket}/checkpoints/${c.taskId}/`);
  if (c.workloadUser) {
    chownTree(c.outputDir, c.workloadUser);
    chownTree(c.checkpointDir, c.workloadUser);
  }

  const cmd = workloadCommand(task, c);
  const throttle = new ProgressThrottle(async (u) => {
    await store.updateProgress(c.taskId, c.attempt, u);
  }, c.progressIntervalMs);

  let ending: Ending | undefined;
  let usage: Usage | undefined;
  let secrets: Record<string, string> = {};
  /** why the attempt ends, when it fails: the runner's words, or the workload's */
  let note: string | undefined;
  if (!cmd && task.spec.type === 'inference') {
    // the built-in runtime of inference tasks: in the runner, no workload process
    ending = await inference(task, c, deps, throttle, stopSignal);
    if (ending.kind === 'exited') note = ending.reason;
  } else if (!cmd) {
    log(
      `nothing runs this ${task.spec.type} task: it gives no command and the image has no runtime for its type`,
    );
    ending = { kind: 'no-runtime' };
  } else if (task.spec.secrets && Object.keys(task.spec.secrets).length) {
    try {
      secrets = await resolveSecrets(task.spec.secrets, deps.secrets);
      log(`read ${Object.keys(secrets).length} secret(s): ${Object.keys(secrets).sort().join(', ')}`);
    } catch (e) {
      if (!(e instanceof SecretUnavailable)) throw e;
      log(e.message);
      note = e.message;
      ending = { kind: 'secret-unavailable' };
    }
  }
  // the agent runtime: the task's model, and its key (a secret like any other: masked in the log)
  const agentEnv: Record<string, string> = {};
  if (cmd && !ending && task.spec.type === 'trajectory' && task.modelId) {
    const resolved = await modelOf(task, deps);
    if ('ending' in resolved) ending = resolved.ending;
    else {
      const { name, baseUrl, model, defaults } = resolved.model;
      agentEnv[WORKLOAD_ENV.agentModel] = JSON.stringify({ name, baseUrl, model, defaults });
      if (resolved.apiKey) {
        agentEnv[WORKLOAD_ENV.agentApiKey] = resolved.apiKey;
        secrets = { ...secrets, [WORKLOAD_ENV.agentApiKey]: resolved.apiKey };
      }
    }
  }
  let roleServer: CredentialServer | undefined;
  if (cmd && !ending && task.spec.roleArn) {
    try {
      if (!deps.assumeRole) throw new Error('this runner cannot assume roles');
      roleServer = await serveRoleCredentials(deps.assumeRole(task.spec.roleArn, `task-${task.taskId}`));
      log(`the workload works as ${task.spec.roleArn}`);
    } catch (e) {
      note = `the role ${task.spec.roleArn} could not be assumed: ${(e as Error).name}: ${(e as Error).message}`;
      log(note);
      ending = { kind: 'role-unavailable' };
    }
  }
  // data in: the dataset and inputs, downloaded before the workload starts
  const inputDir = c.inputDir ?? path.join(path.dirname(c.outputDir), 'input');
  const dataset = task.spec.type === 'training' ? task.spec.params.dataset : undefined;
  const uris = [...(dataset ? [dataset] : []), ...(task.spec.inputs ?? [])];
  let local = new Map<string, string>();
  if (cmd && !ending && uris.length) {
    try {
      const s3 =
        task.spec.roleArn && deps.assumeRole
          ? new S3Client({
              credentials: deps.assumeRole(task.spec.roleArn, `task-${task.taskId}`),
              forcePathStyle: Boolean(process.env.AWS_ENDPOINT_URL),
              followRegionRedirects: true,
            })
          : deps.s3;
      local = await downloadInputs(uris, inputDir, { s3, log, signal: stopSignal });
      if (c.workloadUser) chownTree(inputDir, c.workloadUser);
    } catch (e) {
      if (stopSignal.aborted) ending = { kind: 'stopped' };
      else if (e instanceof InputUnavailable) {
        note = e.message;
        log(e.message);
        ending = { kind: 'inputs-unavailable' };
      } else throw e;
    }
  }
  if (cmd && !ending) {
    const env = { ...workloadEnv(task, c, baseEnv, secrets), ...agentEnv };
    const gpus = assignedGpus(baseEnv);
    if (gpus) {
      log(
        `GPUs assigned by ECS: ${gpus.join(', ')} (the workload sees CUDA_VISIBLE_DEVICES=${env.CUDA_VISIBLE_DEVICES})`,
      );
      const asked = task.spec.env?.CUDA_VISIBLE_DEVICES;
      if (asked !== undefined && asked !== env.CUDA_VISIBLE_DEVICES)
        log(
          `the task's CUDA_VISIBLE_DEVICES=${asked} is replaced: a container sees only the GPUs ECS assigned it`,
        );
    }
    env[WORKLOAD_ENV.inputDir] = inputDir;
    if (dataset && local.has(dataset)) env[WORKLOAD_ENV.dataset] = local.get(dataset);
    if (roleServer) Object.assign(env, roleServer.env, awsLocation(baseEnv));
    const r = await runWorkload(
      cmd,
      env,
      c,
      deps,
      throttle,
      task.spec.stallSeconds,
      stopSignal,
      checkpoints,
      masker(Object.values(secrets)),
    );
    ending = r.ending;
    usage = r.usage;
    note ??= r.reason;
  }
  await roleServer?.close();
  ending ??= { kind: 'no-runtime' };

  // whatever happened: keep checkpoints and outputs
  try {
    await checkpoints.push();
    const outputs = new DirSync(s3, c.bucket, c.outputDir, `tasks/${c.taskId}/`);
    const n = await outputs.push();
    const trajectory = path.join(c.outputDir, 'trajectory.json');
    if (existsSync(trajectory)) await uploadFile(s3, c.bucket, `trajectories/${c.taskId}.json`, trajectory);
    log(`uploaded ${n} output file(s) to s3://${c.bucket}/tasks/${c.taskId}/`);
  } catch (e) {
    log(`could not upload outputs: ${(e as Error).message}`);
  }
  const exitCode = exitCodeFor(ending);
  await throttle.close();
  if (usage) await store.updateProgress(c.taskId, c.attempt, { resourceUsage: usage });
  // why it ends, in words the task's reason can carry (a failure only)
  if (note && exitCode !== 0)
    await store.updateProgress(c.taskId, c.attempt, { runnerNote: { attempt: c.attempt, text: note } });
  log(`workload ${describeEnding(ending)}; runner exits ${exitCode}`);
  return { exitCode, ending, ...(usage ? { usage } : {}), progressWrites: throttle.writes };
}

const asUser = (c: RunnerConfig) => (c.workloadUser ? ` as ${c.workloadUser.uid}:${c.workloadUser.gid}` : '');

async function runWorkload(
  cmd: string[],
  env: NodeJS.ProcessEnv,
  c: RunnerConfig,
  deps: RunnerDeps,
  throttle: ProgressThrottle,
  stallSeconds: number | undefined,
  stopSignal: AbortSignal,
  checkpoints: DirSync,
  mask: (line: string) => string,
): Promise<{ ending: Ending; usage?: Usage; reason?: string }> {
  const [file, ...args] = cmd as [string, ...string[]];
  let child: ChildProcess;
  try {
    child = spawn(file, args, {
      cwd: c.outputDir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      ...(c.workloadUser ? { uid: c.workloadUser.uid, gid: c.workloadUser.gid } : {}),
    });
  } catch (e) {
    deps.log(`cannot start ${file}${asUser(c)}: ${(e as Error).message}`);
    return { ending: { kind: 'spawn-failed' } };
  }
  const spawned = await new Promise<boolean>((resolve) => {
    child.once('spawn', () => resolve(true));
    child.once('error', (e) => {
      deps.log(`cannot start ${file}${asUser(c)}: ${e.message}`);
      resolve(false);
    });
  });
  if (!spawned || child.pid === undefined) return { ending: { kind: 'spawn-failed' } };
  const pid = child.pid;
  const sampler = new UsageSampler(pid, 1000, 2000, c.gpu);
  sampler.start();
  // the usage so far, in the record while it runs (peaks and means up to now), not only at the end
  const usageTimer = setInterval(() => {
    deps.store
      .updateProgress(c.taskId, c.attempt, { resourceUsage: sampler.snapshot() })
      .catch((e: Error) => deps.log(`could not record resource usage: ${e.message}`));
  }, c.usageIntervalMs ?? 15_000);

  let lastOutput = Date.now();
  let why: 'stopped' | 'stalled' | undefined;
  let reason: string | undefined;
  const signalGroup = (s: NodeJS.Signals) => {
    try {
      process.kill(-pid, s);
    } catch {
      // gone already
    }
  };
  let killTimer: NodeJS.Timeout | undefined;
  const stop = (reason: 'stopped' | 'stalled') => {
    if (why) return;
    why = reason;
    deps.log(
      reason === 'stalled'
        ? `no output for ${stallSeconds} s: stopping the workload`
        : 'SIGTERM: stopping the workload',
    );
    signalGroup('SIGTERM');
    killTimer = setTimeout(() => {
      deps.log(`the workload did not stop within ${c.stopGraceSeconds} s: SIGKILL`);
      signalGroup('SIGKILL');
    }, c.stopGraceSeconds * 1000);
  };
  stopSignal.addEventListener('abort', () => stop('stopped'), { once: true });
  if (stopSignal.aborted) stop('stopped');

  const pipe = (from: NodeJS.ReadableStream | null, to: NodeJS.WritableStream, tagger?: StderrTagger) => {
    if (!from) return Promise.resolve();
    const rl = createInterface({ input: from, crlfDelay: Number.POSITIVE_INFINITY });
    rl.on('line', (raw) => {
      lastOutput = Date.now();
      // a workload that prints a secret's value shows *** in the log instead
      const line = mask(raw);
      // stderr is stored with its level (WARN, or ERROR in a traceback); stdout as it is
      to.write(`${tagger ? tagger.tag(line) : line}\n`);
      const u = parseLine(line);
      if (u?.reason) reason = u.reason;
      if (u && (u.progress !== undefined || u.metrics)) throttle.push(u);
    });
    return new Promise<void>((r) => rl.once('close', () => r()));
  };
  const piped = Promise.all([pipe(child.stdout, deps.out), pipe(child.stderr, deps.err, new StderrTagger())]);

  const stallTimer = stallSeconds
    ? setInterval(() => {
        if (Date.now() - lastOutput > stallSeconds * 1000) stop('stalled');
      }, 1000)
    : undefined;
  const ckptTimer = setInterval(() => {
    checkpoints.push().catch((e: Error) => deps.log(`checkpoint sync failed: ${e.message}`));
  }, c.checkpointIntervalMs);

  if (c.workloadPidFile && child.pid) writeFileSync(c.workloadPidFile, String(child.pid));
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.once('close', (a, b) => resolve([a, b])),
  );
  if (c.workloadPidFile) rmSync(c.workloadPidFile, { force: true });
  await piped;
  if (stallTimer) clearInterval(stallTimer);
  clearInterval(ckptTimer);
  clearInterval(usageTimer);
  if (killTimer) clearTimeout(killTimer);
  sampler.sample();
  const usage = sampler.stop();
  let ending: Ending;
  if (why === 'stopped') ending = { kind: 'stopped' };
  else if (why === 'stalled') ending = { kind: 'stalled' };
  else if (signal) ending = { kind: 'signal', signal };
  else ending = { kind: 'exited', code: code ?? 1 };
  return { ending, usage, ...(reason ? { reason } : {}) };
}
