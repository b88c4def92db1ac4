/**
 * Local ECS: RunTask runs the task definition's container as a local process (the runner), or in
 * Docker when an engine answers and the image is built, with the environment the container gets in AWS; its output goes to the awslogs stream the task definition
 * names. StopTask sends SIGTERM, then SIGKILL after the grace period. A failed task is reported the
 * way Step Functions reports a `.sync` RunTask failure, so the workflow's classification runs as in AWS.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { ulid } from 'ulidx';
import { KIT_DIR, KIT_ENTRYPOINT, RUNNER_ENV, WORKLOAD_ENV } from '../../lambdas/contracts/runner-env.ts';
import type { TaskDefinitionShape } from '../../lambdas/domain/images.ts';
import { AwsError, type JsonService } from './json-service.ts';
import type { LogStore } from './logs.ts';
import { killContainerGroups, PID_FILES } from './reaper.ts';
import { containerSpecOf, describedTaskDefinitionsOf, LocalTaskDefinitions } from './task-definitions.ts';
import type { LocalNames, Template } from './template.ts';

export interface ContainerSpec {
  /** container name in the task definition */
  name: string;
  environment: Record<string, string>;
  logGroup: string;
  streamPrefix: string;
  gpuCount: number;
  stopTimeoutSeconds: number;
  /**
   * A task's own image (a task definition registered for it): in Docker it runs with the runner kit
   * mounted and as its entry point; as a local process, the runner runs the command here
   */
  ownImage?: string;
}

export interface LocalEcsOptions {
  region: string;
  account: string;
  /** task definition family -> the container that runs (the runner) */
  taskDefinitions: Record<string, ContainerSpec>;
  /** the template's task definitions as DescribeTaskDefinition answers them (own images register copies) */
  described?: Record<string, TaskDefinitionShape>;
  /** every container's stop timeout, here (the local cloud's stopGraceSeconds) */
  graceOverride?: number;
  /** how the container's entry point runs here: the runner, as a local process */
  command: string[];
  /** environment every container gets locally (endpoint, credentials, region) */
  baseEnv: Record<string, string>;
  logs: LogStore;
  workDir: string;
  /** GPUs seen on this machine (nvidia-smi); 0 when none */
  gpusAvailable: number;
  /** What to do with a task that asks for GPUs on a machine without: run it on the CPU, or wait for capacity. */
  gpuPolicy: 'cpu' | 'wait';
  metadataBaseUrl: string;
  warn: (msg: string) => void;
  /** Run containers in Docker instead of as local processes (when an engine answers and the image exists). */
  docker?: DockerOptions;
  /**
   * How much nicer than the local cloud task processes run (the runner and what it starts inherit it),
   * so that the local cloud's API, functions and emulators, which share this machine's cores with the
   * work, have the first claim on the CPU. 0 keeps the local cloud's own. Local processes only.
   * @default 0
   */
  nice?: number;
}

export interface DockerOptions {
  /** the docker client binary. @default docker */
  bin?: string;
  /** the task image, built from containers/Dockerfile (target trainer) */
  image: string;
  /** the runner kit (containers/runner/kit.ts), mounted into tasks' own images */
  kitDir?: string;
}

/** A container's environment without the paths and user that only mean something inside it. */
function withoutContainerPaths(env: Record<string, string>): Record<string, string> {
  const inside = new Set<string>([
    RUNNER_ENV.workloadUser,
    RUNNER_ENV.outputDir,
    RUNNER_ENV.checkpointDir,
    WORKLOAD_ENV.inputDir,
  ]);
  return Object.fromEntries(Object.entries(env).filter(([k]) => !inside.has(k)));
}

/** The `docker run` arguments for a task: the container's environment, GPUs when the host has them, outputs mounted. */
export function dockerRunArgs(
  name: string,
  image: string,
  env: Record<string, string>,
  dir: string,
  gpus: boolean,
  graceSeconds: number,
  kitDir?: string,
): string[] {
  const args = ['run', '--rm', '--name', name, '--network', 'host', '--stop-timeout', String(graceSeconds)];
  // a task's own image: the runner kit read-only at KIT_DIR and as the entry point, started as root
  // (it runs the workload as another user), as the own-image task definitions have it deployed
  const [entry, ...entryArgs] = KIT_ENTRYPOINT;
  if (kitDir) args.push('-v', `${kitDir}:${KIT_DIR}:ro`, '--user', '0', '--entrypoint', entry);
  if (gpus) args.push('--gpus', 'all');
  args.push(
    '-v',
    `${path.join(dir, 'output')}:/work/output`,
    '-v',
    `${path.join(dir, 'checkpoints')}:/work/checkpoints`,
  );
  // the image's own PATH, HOME, default command and workload user (an own image's is its task
  // definition's); no pid file (a container dies whole)
  const skip = new Set<string>([
    'PATH',
    'HOME',
    RUNNER_ENV.defaultCommand,
    RUNNER_ENV.agentCommand,
    RUNNER_ENV.workloadPidFile,
    ...(kitDir ? [] : [RUNNER_ENV.workloadUser]),
  ]);
  for (const [k, v] of Object.entries(env)) {
    if (skip.has(k)) continue;
    if (k === RUNNER_ENV.secretsFile)
      args.push('-v', `${v}:/run/trainstack/secrets.json:ro`, '-e', `${k}=/run/trainstack/secrets.json`);
    else if (k === RUNNER_ENV.outputDir) args.push('-e', `${RUNNER_ENV.outputDir}=/work/output`);
    else if (k === RUNNER_ENV.checkpointDir) args.push('-e', `${RUNNER_ENV.checkpointDir}=/work/checkpoints`);
    else args.push('-e', `${k}=${v}`);
  }
  args.push(image);
  if (kitDir) args.push(...entryArgs);
  return args;
}

interface LocalTask {
  arn: string;
  id: string;
  cluster: string;
  family: string;
  startedBy?: string;
  overrides: { containerOverrides: { name: string; environment: { name: string; value: string }[] }[] };
  lastStatus: 'RUNNING' | 'STOPPED';
  desiredStatus: 'RUNNING' | 'STOPPED';
  createdAt: number;
  stoppedAt?: number;
  stopCode?: string;
  stoppedReason?: string;
  exitCode?: number | null;
  child?: ChildProcess;
  done: Promise<void>;
  logStream: string;
  /** the container's stop timeout: SIGKILL this long after SIGTERM */
  graceSeconds: number;
}

/** How long ECS keeps describing a stopped task (at least an hour); then the local ECS forgets it. */
export const STOPPED_TASK_RETENTION_MS = 60 * 60 * 1000;

export class LocalEcs {
  private readonly tasks = new Map<string, LocalTask>();
  /** the same tasks by id (the metadata endpoint's key) */
  private readonly byId = new Map<string, LocalTask>();
  private lastSweep = 0;
  /** the template's task definitions and those registered since (own images) */
  readonly definitions: LocalTaskDefinitions;

  constructor(private readonly o: LocalEcsOptions) {
    this.definitions = new LocalTaskDefinitions(o.region, o.account, o.described ?? {});
  }

  /** The container that runs, for the template's families and those registered since. */
  private containerOf(family: string): ContainerSpec | undefined {
    return this.o.taskDefinitions[family] ?? this.definitions.containerOf(family, this.o.graceOverride);
  }

  get running(): number {
    return [...this.tasks.values()].filter((t) => t.lastStatus === 'RUNNING').length;
  }

  private describe(t: LocalTask) {
    return {
      taskArn: t.arn,
      clusterArn: t.cluster,
      taskDefinitionArn: `arn:aws:ecs:${this.o.region}:${this.o.account}:task-definition/${t.family}:1`,
      lastStatus: t.lastStatus,
      desiredStatus: t.desiredStatus,
      startedBy: t.startedBy,
      overrides: t.overrides,
      createdAt: t.createdAt / 1000,
      ...(t.stoppedAt ? { stoppedAt: t.stoppedAt / 1000 } : {}),
      ...(t.stopCode ? { stopCode: t.stopCode, stoppedReason: t.stoppedReason } : {}),
      containers: [{ name: 'runner', exitCode: t.exitCode ?? undefined, lastStatus: t.lastStatus }],
    };
  }

  /** The ECS task as Step Functions puts it in a `.sync` failure's Cause (PascalCase). */
  private cause(t: LocalTask) {
    return JSON.stringify({
      TaskArn: t.arn,
      ClusterArn: t.cluster,
      LastStatus: 'STOPPED',
      StopCode: t.stopCode,
      StoppedReason: t.stoppedReason,
      Containers: [{ Name: 'runner', ExitCode: t.exitCode ?? undefined, LastStatus: 'STOPPED' }],
      Overrides: t.overrides,
    });
  }

  /** `arn:aws:states:::ecs:runTask.sync`: start the task and settle when it stops. */
  async runTaskSync(
    params: Record<string, unknown>,
    signal: { onAbort(cb: () => void): void },
  ): Promise<unknown> {
    const family = String(params.TaskDefinition ?? '')
      .replace(/^arn:.*:task-definition\//, '')
      .replace(/:\d+$/, '');
    const def = this.containerOf(family);
    if (!def)
      throw Object.assign(new Error(JSON.stringify({ Failures: [{ Reason: 'MISSING', Arn: family }] })), {
        name: 'AmazonECS.Unknown',
      });
    const containerOverrides = (
      (
        params.Overrides as {
          ContainerOverrides?: { Name: string; Environment?: { Name: string; Value: string }[] }[];
        }
      )?.ContainerOverrides ?? []
    ).map((c) => ({
      name: c.Name,
      environment: (c.Environment ?? []).map((e) => ({ name: e.Name, value: String(e.Value) })),
    }));
    if (def.gpuCount > 0 && this.o.gpusAvailable === 0 && this.o.gpuPolicy === 'wait') {
      // what ECS answers when no container instance has a free GPU
      throw Object.assign(new Error(JSON.stringify({ Failures: [{ Reason: 'RESOURCE:GPU' }] })), {
        name: 'AmazonECS.Unknown',
      });
    }
    const t = this.start(
      String(params.Cluster ?? 'default'),
      family,
      def,
      { containerOverrides },
      params.StartedBy as string | undefined,
    );
    signal.onAbort(() => this.stop(t.arn, 'Execution was stopped', 'UserInitiated'));
    await t.done;
    if (t.exitCode === 0)
      return { TaskArn: t.arn, LastStatus: 'STOPPED', Containers: [{ Name: 'runner', ExitCode: 0 }] };
    throw Object.assign(new Error(this.cause(t)), { name: 'States.TaskFailed' });
  }

  private start(
    cluster: string,
    family: string,
    def: ContainerSpec,
    overrides: LocalTask['overrides'],
    startedBy?: string,
  ): LocalTask {
    const id = ulid().toLowerCase();
    const arn = `arn:aws:ecs:${this.o.region}:${this.o.account}:task/${cluster.split('/').pop()}/${id}`;
    // an own image's definition names paths and a user inside its container: as a process here, the
    // local cloud's own apply (the outputs and checkpoints are set below in either case)
    const container = this.o.docker ? def.environment : withoutContainerPaths(def.environment);
    const env: Record<string, string> = { ...this.o.baseEnv, ...container };
    for (const c of overrides.containerOverrides)
      if (c.name === def.name) for (const e of c.environment) env[e.name] = e.value;
    const dir = path.join(this.o.workDir, id);
    const outputDir = path.join(dir, 'output');
    const checkpointDir = path.join(dir, 'checkpoints');
    env[RUNNER_ENV.outputDir] = outputDir;
    env[RUNNER_ENV.checkpointDir] = checkpointDir;
    env.ECS_CONTAINER_METADATA_URI_V4 = `${this.o.metadataBaseUrl}/${id}`;
    env[RUNNER_ENV.workloadPidFile] = path.join(dir, PID_FILES.workload);
    mkdirSync(outputDir, { recursive: true });
    mkdirSync(checkpointDir, { recursive: true });
    if (def.gpuCount > 0 && this.o.gpusAvailable === 0) {
      this.o.warn(
        `task ${env[RUNNER_ENV.taskId] ?? id} asks for ${def.gpuCount} GPU(s); this machine has none: running on the CPU`,
      );
      env.CUDA_VISIBLE_DEVICES = '';
    }
    const logStream = `${def.streamPrefix}/${def.name}/${id}`;
    let resolveDone!: () => void;
    const t: LocalTask = {
      arn,
      id,
      cluster,
      family,
      ...(startedBy ? { startedBy } : {}),
      overrides,
      lastStatus: 'RUNNING',
      desiredStatus: 'RUNNING',
      createdAt: Date.now(),
      done: new Promise<void>((r) => {
        resolveDone = r;
      }),
      logStream,
      graceSeconds: def.stopTimeoutSeconds,
    };
    this.sweep(t.createdAt);
    this.tasks.set(arn, t);
    this.byId.set(id, t);
    const docker = this.o.docker;
    const own = def.ownImage && docker?.kitDir ? def.ownImage : undefined;
    const [cmd, ...args] = docker
      ? [
          docker.bin ?? 'docker',
          ...dockerRunArgs(
            `trainstack-${id}`,
            own ?? docker.image,
            env,
            dir,
            this.o.gpusAvailable > 0,
            def.stopTimeoutSeconds,
            own ? docker.kitDir : undefined,
          ),
        ]
      : this.o.command;
    let child: ChildProcess;
    try {
      child = spawn(cmd ?? 'node', args, {
        cwd: dir,
        env: docker ? process.env : env,
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
    } catch (e) {
      this.finish(t, null, 'TaskFailedToStart', `CannotStartContainerError: ${(e as Error).message}`);
      resolveDone();
      return t;
    }
    t.child = child;
    if (!docker && this.o.nice && child.pid) lowerPriority(child.pid, this.o.nice);
    // the container's processes die together: record the runner, so it and its workload can be reaped
    if (!docker && child.pid) writeFileSync(path.join(dir, PID_FILES.runner), String(child.pid));
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) =>
        this.o.logs.append(def.logGroup, logStream, line),
      );
    }
    child.once('error', (e) => {
      this.finish(t, null, 'TaskFailedToStart', `CannotStartContainerError: ${e.message}`);
      resolveDone();
    });
    child.once('close', (code, sig) => {
      if (!docker) killContainerGroups(dir);
      const exit = code ?? (sig === 'SIGKILL' ? 137 : sig === 'SIGTERM' ? 143 : 1);
      if (!t.stopCode) this.finish(t, exit, 'EssentialContainerExited', 'Essential container in task exited');
      else t.exitCode = exit;
      t.lastStatus = 'STOPPED';
      t.stoppedAt = Date.now();
      // what stays of a stopped task is its description: the process and its streams can go
      t.child = undefined;
      resolveDone();
    });
    return t;
  }

  /**
   * Forget the tasks stopped longer ago than ECS describes them (a minute apart at most), so a local
   * cloud that runs tasks for days holds only the last hour's.
   */
  private sweep(now: number): void {
    if (now - this.lastSweep < 60_000) return;
    this.lastSweep = now;
    for (const [arn, t] of this.tasks)
      if (t.stoppedAt !== undefined && now - t.stoppedAt > STOPPED_TASK_RETENTION_MS) {
        this.tasks.delete(arn);
        this.byId.delete(t.id);
      }
  }

  private finish(t: LocalTask, exit: number | null, stopCode: string, reason: string) {
    t.exitCode = exit;
    t.stopCode = stopCode;
    t.stoppedReason = reason;
    t.lastStatus = 'STOPPED';
    t.desiredStatus = 'STOPPED';
    t.stoppedAt = Date.now();
  }

  /** The process id of a task's runner (its container's first process), while it runs. */
  runnerPid(arn: string): number | undefined {
    const t = this.tasks.get(arn);
    return t?.lastStatus === 'STOPPED' ? undefined : t?.child?.pid;
  }

  /** SIGTERM to the container's process group, SIGKILL after the grace period (ECS StopTask). */
  stop(
    arn: string,
    reason: string,
    stopCode = 'UserInitiated',
    graceSeconds?: number,
  ): LocalTask | undefined {
    const t = this.tasks.get(arn);
    if (!t || t.lastStatus === 'STOPPED') return t;
    t.desiredStatus = 'STOPPED';
    t.stopCode ??= stopCode;
    t.stoppedReason ??= reason;
    const grace = graceSeconds ?? t.graceSeconds;
    if (this.o.docker) {
      // docker stop: SIGTERM to the container, SIGKILL after the grace period (what the ECS agent does)
      spawn(this.o.docker.bin ?? 'docker', ['stop', '-t', String(grace), `trainstack-${t.id}`], {
        stdio: 'ignore',
      });
      return t;
    }
    const pid = t.child?.pid;
    if (pid) {
      const kill = (s: NodeJS.Signals) => {
        try {
          process.kill(-pid, s);
        } catch {
          // already gone
        }
      };
      kill('SIGTERM');
      const timer = setTimeout(() => kill('SIGKILL'), grace * 1000);
      void t.done.then(() => clearTimeout(timer));
    }
    return t;
  }

  async stopAll(graceSeconds: number): Promise<void> {
    const live = [...this.tasks.values()].filter((t) => t.lastStatus === 'RUNNING');
    for (const t of live) this.stop(t.arn, 'local cloud stopped', 'TerminationNotice', graceSeconds);
    await Promise.all(live.map((t) => t.done));
  }

  metadata(id: string): object | undefined {
    const t = this.byId.get(id);
    return t
      ? {
          TaskARN: t.arn,
          Cluster: t.cluster,
          Family: t.family,
          KnownStatus: t.lastStatus,
          LogStream: t.logStream,
        }
      : undefined;
  }

  service(): JsonService {
    return {
      ...this.definitions.service(),
      ListTasks: (i) => ({
        taskArns: [...this.tasks.values()]
          .filter((t) => !i.startedBy || t.startedBy === i.startedBy)
          .filter((t) => !i.family || t.family === i.family)
          .filter((t) => (i.desiredStatus ?? 'RUNNING') === t.desiredStatus)
          .map((t) => t.arn),
      }),
      DescribeTasks: (i) => {
        const arns = (i.tasks as string[]) ?? [];
        const found = arns.map((a) => this.tasks.get(a)).filter((t): t is LocalTask => Boolean(t));
        return {
          tasks: found.map((t) => this.describe(t)),
          failures: arns.filter((a) => !this.tasks.has(a)).map((arn) => ({ arn, reason: 'MISSING' })),
        };
      },
      StopTask: (i) => {
        const t = this.stop(String(i.task), String(i.reason ?? 'Task stopped by user'));
        if (!t) throw new AwsError('InvalidParameterException', 'The referenced task was not found.');
        return { task: this.describe(t) };
      },
    };
  }
}

/** The container of each ECS task definition in the template, by family, resolved to local names. */
export function taskDefinitionsOf(
  t: Template,
  n: LocalNames,
  graceOverride?: number,
): Record<string, ContainerSpec> {
  const out: Record<string, ContainerSpec> = {};
  for (const [family, def] of Object.entries(describedTaskDefinitionsOf(t, n))) {
    const spec = containerSpecOf(def, graceOverride);
    if (!spec) continue;
    // the template's own-image definitions run the task image: only registered ones carry an own image
    const { ownImage: _, ...taskImage } = spec;
    out[family] = taskImage;
  }
  return out;
}

/** Raise a process's niceness by `nice` (lowering its CPU priority); a process already gone is left. */
function lowerPriority(pid: number, nice: number): void {
  try {
    setPriority(pid, Math.min(19, getPriority(pid) + nice));
  } catch {
    // it exited already (a command that fails at once): nothing to lower
  }
}
