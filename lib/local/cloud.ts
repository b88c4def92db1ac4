/**
 * The local cloud's composition root: the synthesized stack running on one machine. It wires the
 * pieces, each in its own file: the emulators behind one AWS-compatible endpoint (`emulators.ts`), the
 * template's tables, queues and buckets (`resources.ts`), the template's functions each in its own
 * worker with its own environment (`lambda-host.ts`), the queue feeding the dispatcher as the event
 * source mapping does (`event-source.ts`), the state machine run by a local interpreter
 * (`stepfunctions.ts`), ECS tasks as local processes or Docker containers (`ecs.ts`, with
 * `host-probes.ts`), the API over HTTP (`api-server.ts`) and crash recovery (`recovery.ts`).
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { AGENT_ENTRY, bundleRunner } from '../../containers/runner/build.ts';
import { assembleKit } from '../../containers/runner/kit.ts';
import { documentClient } from '../../lambdas/clients/dynamodb.ts';
import { DynamoTaskRepository } from '../../lambdas/clients/dynamodb-tasks.ts';
import { RUNNER_ENV } from '../../lambdas/contracts/runner-env.ts';
import { executionName } from '../../lambdas/domain/runs.ts';
import { REPO_ROOT } from '../repo.ts';
import { STATE } from '../workflow-states.ts';
import { type ApiHandler, startApiServer } from './api-server.ts';
import { startDynamoDbLocal } from './dynamodb-local.ts';
import { LocalEcs, taskDefinitionsOf } from './ecs.ts';
import { startEmulators } from './emulators.ts';
import { closeServer } from './endpoint.ts';
import { startEventSource } from './event-source.ts';
import { dockerAvailable, gpusOnThisMachine, pythonWithTorch } from './host-probes.ts';
import type { LocalIdentity } from './identities.ts';
import { LambdaHost } from './lambda-host.ts';
import { LogStore } from './logs.ts';
import { assertPortFree, freePort } from './net.ts';
import { reapOrphans } from './reaper.ts';
import { recoverInterrupted } from './recovery.ts';
import { createResources } from './resources.ts';
import { LocalStepFunctions } from './stepfunctions.ts';
import { describedTaskDefinitionsOf } from './task-definitions.ts';
import {
  ACCOUNT,
  functionsOf,
  type LocalNames,
  localNames,
  resourcesOfType,
  stateMachineDefinition,
  synthInWorker,
  type Template,
  wiring,
} from './template.ts';

/** Tasks' niceness relative to the local cloud (LocalCloudOptions.taskNice). */
export const DEFAULT_TASK_NICE = 10;

export interface LocalCloudOptions {
  /** API port; 0 picks a free one. @default 3000 */
  readonly apiPort?: number;
  /** AWS-compatible endpoint port; 0 picks a free one. @default 4566 */
  readonly awsPort?: number;
  /** Keep state here across restarts. @default in memory */
  readonly dataDir?: string;
  /** @default us-east-1 */
  readonly region?: string;
  /** CDK context overrides (e.g. maxConcurrentTasks). @default none */
  readonly context?: Record<string, unknown>;
  /** Run every Wait state (the backoff between attempts) for this many ms instead. @default real waits */
  readonly waitOverrideMs?: number;
  /** Dispatcher tick when no wake-up arrives (the template's schedule is a minute). @default 5000 */
  readonly tickMs?: number;
  /** Tasks that ask for GPUs on a machine without: 'cpu' runs them on the CPU with a warning, 'wait' waits. @default cpu */
  readonly gpuPolicy?: 'cpu' | 'wait';
  /** Grace period of a stopped task before SIGKILL, overriding the task definition's stopTimeout. @default the task definition's */
  readonly stopGraceSeconds?: number;
  /** The command tasks run when their spec has none. @default the reference trainer with a Python that has PyTorch */
  readonly defaultWorkload?: string;
  /** Run tasks in Docker when an engine answers and this image exists; false: never. @default trainstack-trainer:local */
  readonly dockerImage?: string | false;
  /** Who an unsigned API request is (its owner). @default arn:aws:iam::000000000000:user/<USER> */
  readonly caller?: string;
  /**
   * Local credentials the API accepts SigV4 signatures from, each signing as its principal. The
   * default user can also sign, with access key `local` and secret `local`. @default none
   */
  readonly identities?: readonly LocalIdentity[];
  /** The functions' Powertools log level. @default WARN */
  readonly functionLogLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  /**
   * Run workloads as this `uid:gid`, not as the runner's user (needs the local cloud to run as root):
   * they then cannot read the runner's environment. The workload's files must be readable by it.
   * @default the local cloud's own user
   */
  readonly workloadUser?: string;
  /**
   * A JSON file of secret reference to value (`{"ssm:/trainstack/hf-token": "..."}`) that tasks'
   * `secrets` are read from; also the local cloud's TRAINSTACK_SECRET_<NAME> variables. @default none
   */
  readonly secretsFile?: string;
  /**
   * Send the functions' and tasks' DynamoDB requests through the one AWS endpoint too, where
   * `requests` counts them (benchmarks). @default false: they reach DynamoDB Local directly, one hop
   * (and the local cloud's busiest thread) less for the requests every task makes most of
   */
  readonly countRequests?: boolean;
  /** Progress write interval of the runner in tasks. @default the runner's (1 s) */
  readonly progressIntervalMs?: number;
  /**
   * How much lower the tasks' CPU priority is than the local cloud's (their niceness, 0 to 19), so the
   * API and the control plane have the first claim on the CPU when tasks would take every core. @default 10
   */
  readonly taskNice?: number;
  /** @default silent */
  readonly log?: (msg: string, extra?: object) => void;
}

export interface LocalCloud {
  readonly apiUrl: string;
  /** the IAM identity the local API gives its requests (the owner of what they submit) */
  readonly caller: string;
  readonly endpoint: string;
  /** SDK client settings for the endpoint: `new S3Client({ ...cloud.clientConfig, forcePathStyle: true })` */
  readonly clientConfig: {
    endpoint: string;
    region: string;
    credentials: { accessKeyId: string; secretAccessKey: string };
  };
  readonly names: LocalNames;
  readonly template: Template;
  readonly tableName: string;
  readonly bucketName: string;
  readonly queueUrl: string;
  readonly logGroupName: string;
  readonly stateMachineArn: string;
  readonly sfn: LocalStepFunctions;
  readonly ecs: LocalEcs;
  readonly logs: LogStore;
  readonly lambdas: LambdaHost;
  /**
   * requests its AWS endpoint served, by `<service>:<operation>` (benchmarks count per task); the
   * functions' and tasks' DynamoDB requests only with `countRequests`
   */
  readonly requests: ReadonlyMap<string, number>;
  /** Run one dispatcher pass now (as the tick does). */
  dispatchNow(): Promise<void>;
  stop(): Promise<void>;
}

/** The port to use: a free one for 0; a given or default one must be free (checked before anything starts). */
async function portOf(given: number | undefined, fallback: number): Promise<number> {
  if (given === 0) return freePort();
  const port = given ?? fallback;
  await assertPortFree(port);
  return port;
}

function one<T>(items: T[], what: string): T {
  const [first] = items;
  if (first === undefined) throw new Error(`the template has no ${what}`);
  return first;
}

export async function startLocalCloud(o: LocalCloudOptions = {}): Promise<LocalCloud> {
  const log = o.log ?? (() => {});
  const region = o.region ?? 'us-east-1';
  const awsPort = await portOf(o.awsPort, 4566);
  const apiPort = await portOf(o.apiPort, 3000);
  const endpoint = `http://127.0.0.1:${awsPort}`;
  const dataDir = o.dataDir ? path.resolve(o.dataDir) : undefined;
  const scratch = dataDir ?? mkdtempSync(path.join(tmpdir(), 'trainstack-local-'));
  mkdirSync(scratch, { recursive: true });
  const cleanups: (() => Promise<void> | void)[] = [];
  const stopAll = async () => {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (e) {
        log('cleanup failed', { error: (e as Error).message });
      }
    }
    if (!dataDir) rmSync(scratch, { recursive: true, force: true });
  };

  // probed beside the start-up (importing torch takes seconds); waited for only where tasks need it
  const python = o.defaultWorkload === undefined ? pythonWithTorch() : undefined;
  try {
    // DynamoDB Local's JVM takes seconds to start: it starts first, beside the synthesis and the functions
    const dynamodbPort = await freePort();
    const dynamodbStarting = startDynamoDbLocal({
      port: dynamodbPort,
      ...(dataDir ? { dbPath: path.join(dataDir, 'dynamodb') } : {}),
    });
    dynamodbStarting.catch(() => {}); // its failure is reported where it is awaited
    cleanups.push(() =>
      dynamodbStarting.then(
        (d) => d.stop(),
        () => {},
      ),
    );
    // the runner's and the agent's bundles (esbuild, its own process) build while the stack is synthesized
    const bundles = Promise.all([
      bundleRunner(path.join(scratch, 'bin', 'runner.mjs')),
      bundleRunner(path.join(scratch, 'bin', 'agent.mjs'), AGENT_ENTRY),
    ]);
    bundles.catch(() => {}); // its failure is reported where it is awaited
    // a start that fails meanwhile lets them finish before the scratch folder goes
    cleanups.push(() =>
      bundles.then(
        () => {},
        () => {},
      ),
    );
    const template = await synthInWorker(o.context ?? {});
    const names = localNames(template, region, endpoint);
    const wired = wiring(template);
    const functions = functionsOf(template, names);
    const fnNamed = (id: string) =>
      one(
        functions.filter((f) => f.logicalId === id),
        `function ${id}`,
      );
    const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
    // what every function and container gets: the endpoint, region and credentials, by environment only
    // (DynamoDB's own endpoint by the SDK's service-specific variable, which AWS_ENDPOINT_URL yields to)
    const awsEnv = {
      AWS_ENDPOINT_URL: endpoint,
      ...(o.countRequests ? {} : { AWS_ENDPOINT_URL_DYNAMODB: `http://127.0.0.1:${dynamodbPort}` }),
      AWS_REGION: region,
      AWS_DEFAULT_REGION: region,
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    };

    const logs = new LogStore(dataDir ? path.join(dataDir, 'logs') : undefined);
    for (const [id] of resourcesOfType(template, 'AWS::Logs::LogGroup'))
      logs.ensureGroup(names.names[id] ?? id);

    const [lambdas, [runnerPath, agentPath]] = await Promise.all([
      LambdaHost.start(functions, {
        ...awsEnv,
        POWERTOOLS_LOG_LEVEL: o.functionLogLevel ?? 'WARN',
        TZ: 'UTC',
      }),
      bundles,
    ]);
    cleanups.push(() => lambdas.stop());

    if (o.workloadUser) {
      // the workload's user passes through to its task's folder (and may not list the others)
      mkdirSync(path.join(scratch, 'tasks'), { recursive: true });
      for (const d of [scratch, path.join(scratch, 'tasks')]) chmodSync(d, 0o711);
    }
    // a local cloud that was killed left its runners and workloads running: end them first
    const orphans = reapOrphans(path.join(scratch, 'tasks'));
    if (orphans) log('killed process groups left by a previous run', { count: orphans });
    const image = o.dockerImage === false ? undefined : (o.dockerImage ?? 'trainstack-trainer:local');
    // in Docker, tasks' own images run with the runner kit mounted (as deployed, by an init container)
    const docker = image && dockerAvailable(image) ? { image, kitDir: path.join(scratch, 'kit') } : undefined;
    if (docker) assembleKit(docker.kitDir, process.execPath, runnerPath);
    log(docker ? `tasks run in Docker (${image})` : 'tasks run as local processes');
    const ecs = new LocalEcs({
      region,
      account: ACCOUNT,
      taskDefinitions: taskDefinitionsOf(template, names, o.stopGraceSeconds),
      described: describedTaskDefinitionsOf(template, names),
      ...(o.stopGraceSeconds !== undefined ? { graceOverride: o.stopGraceSeconds } : {}),
      command: [process.execPath, runnerPath],
      baseEnv: {
        ...awsEnv,
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? scratch,
        // every task starts a runner: Node keeps its compiled bundle here (a third of its start-up)
        NODE_COMPILE_CACHE: path.join(scratch, 'compile-cache'),
        [RUNNER_ENV.defaultCommand]:
          o.defaultWorkload ?? `${await python} ${path.join(REPO_ROOT, 'containers', 'trainer', 'train.py')}`,
        // trajectory tasks: the agent runtime, with this Node
        [RUNNER_ENV.agentCommand]: `'${process.execPath}' '${agentPath}'`,
        ...(o.progressIntervalMs !== undefined
          ? { [RUNNER_ENV.progressIntervalMs]: String(o.progressIntervalMs) }
          : {}),
        ...(o.workloadUser ? { [RUNNER_ENV.workloadUser]: o.workloadUser } : {}),
        // secrets: from the file and this process's TRAINSTACK_SECRET_* variables, never from AWS
        [RUNNER_ENV.localSecrets]: 'true',
        ...(o.secretsFile ? { [RUNNER_ENV.secretsFile]: path.resolve(o.secretsFile) } : {}),
        ...Object.fromEntries(
          Object.entries(process.env).filter(
            (e): e is [string, string] => e[0].startsWith('TRAINSTACK_SECRET_') && e[1] !== undefined,
          ),
        ),
      },
      logs,
      workDir: path.join(scratch, 'tasks'),
      gpusAvailable: gpusOnThisMachine(),
      gpuPolicy: o.gpuPolicy ?? 'cpu',
      metadataBaseUrl: `${endpoint}/_ecs`,
      warn: (m) => log(m),
      ...(docker ? { docker } : {}),
      nice: o.taskNice ?? DEFAULT_TASK_NICE,
    });
    cleanups.push(() => ecs.stopAll(o.stopGraceSeconds ?? 10));

    const { logicalId: smId, definition } = stateMachineDefinition(template, names);
    const stateMachineArn = names.arns[smId] ?? '';
    const sfn = new LocalStepFunctions(
      stateMachineArn,
      definition,
      { lambdas: lambdas.handlers(), runTaskSync: (p, s) => ecs.runTaskSync(p, s) },
      { ...(o.waitOverrideMs !== undefined ? { waitOverrideMs: o.waitOverrideMs } : {}), log },
    );
    cleanups.push(() => sfn.stopAll());

    const emulators = await startEmulators({
      port: awsPort,
      ...(dataDir ? { dataDir } : {}),
      json: { states: sfn.service(), logs: logs.service(), ecs: ecs.service() },
      metadata: (id) => ecs.metadata(id),
      dynamodb: await dynamodbStarting,
    });
    cleanups.push(() => emulators.stop());
    await createResources(template, names, endpoint);

    // the dispatcher: fed by its queue (the event source mapping) and by its schedule
    const source = one(wired.eventSources, 'SQS event source');
    const dispatcher = fnNamed(source.functionId);
    const queueUrl = names.queueUrls[source.queueId] ?? '';
    const sqs = new SQSClient({ region, endpoint, credentials, useQueueUrlAsEndpoint: false });
    cleanups.push(() => sqs.destroy());
    const eventSource = startEventSource({
      sqs,
      queueUrl,
      queueArn: names.arns[source.queueId] ?? '',
      region,
      batchSize: source.batchSize,
      invoke: (event: SQSEvent) => lambdas.invoke(dispatcher.logicalId, event),
      log,
    });
    cleanups.push(() => eventSource.stop());
    const dispatchNow = async () => {
      try {
        await lambdas.invoke(dispatcher.logicalId, {
          source: 'aws.events',
          'detail-type': 'Scheduled Event',
        });
      } catch (e) {
        log('dispatch failed', { error: (e as Error).message });
      }
    };
    const scheduled = wired.schedules.filter((s) => s.functionId === dispatcher.logicalId);
    // one scheduled pass at a time: a pass slower than the tick is not joined by another (they piled
    // up under load, each reading the queue, until the SDK's sockets ran out)
    let ticking = false;
    const tickOnce = async () => {
      if (ticking) return;
      ticking = true;
      try {
        await dispatchNow();
      } finally {
        ticking = false;
      }
    };
    const tick = scheduled.length ? setInterval(() => void tickOnce(), o.tickMs ?? 5000) : undefined;
    cleanups.push(() => clearInterval(tick));

    // the API: the function the HTTP API integrates, over plain HTTP
    const api = fnNamed(one(wired.apiFunctions, 'API integration'));
    const caller = o.caller ?? `arn:aws:iam::${ACCOUNT}:user/${process.env.USER ?? 'local'}`;
    const identities = new Map<string, LocalIdentity>([
      ['local', { accessKeyId: 'local', secretAccessKey: 'local', arn: caller }],
      ...(o.identities ?? []).map((i) => [i.accessKeyId, i] as const),
    ]);
    const apiServer = await startApiServer(
      apiPort,
      ((event) => lambdas.invoke(api.logicalId, event)) as ApiHandler,
      { defaultCaller: caller, identities },
    );
    cleanups.push(() => closeServer(apiServer));

    const cloud: LocalCloud = {
      apiUrl: `http://127.0.0.1:${apiPort}`,
      caller,
      endpoint,
      clientConfig: { endpoint, region, credentials },
      names,
      template,
      tableName: names.names[one(resourcesOfType(template, 'AWS::DynamoDB::Table'), 'table')[0]] ?? '',
      bucketName: api.environment.BUCKET_NAME ?? '',
      queueUrl,
      logGroupName: api.environment.LOG_GROUP_NAME ?? '',
      stateMachineArn,
      sfn,
      ecs,
      logs,
      lambdas,
      requests: emulators.requests,
      dispatchNow,
      stop: stopAll,
    };
    if (dataDir) {
      // the step the state machine runs when an attempt fails: it records the lost host
      const step = String(
        (definition.States as Record<string, { Resource?: string }>)[STATE.failed]?.Resource,
      );
      await recoverInterrupted({
        repo: new DynamoTaskRepository(
          documentClient(cloud.clientConfig),
          cloud.tableName,
          Number(api.environment.STATS_SHARDS ?? 1),
        ),
        step: (event) => lambdas.invoke(step, event),
        // the executions died with the old process: the current run's name is free again here
        restart: (task) =>
          sfn.startExecution({ name: executionName(task), input: JSON.stringify({ taskId: task.taskId }) }),
        log,
      });
    }
    void dispatchNow();
    return cloud;
  } catch (e) {
    await stopAll();
    throw e;
  }
}
