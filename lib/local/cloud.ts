/**
 * The local cloud: the synthesized stack running on one machine. DynamoDB Local and fauxqs behind one
 * AWS-compatible endpoint, the template's tables, queues and buckets, the template's state machine run
 * by a local interpreter, ECS tasks as local processes, the API over HTTP and the dispatcher fed from
 * the queue as the event source mapping feeds it in AWS.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { startFauxqs } from 'fauxqs';
import { bundleRunner } from '../../containers/runner/build.ts';
import { LAMBDAS_DIR, REPO_ROOT } from '../function.ts';
import { type ApiHandler, startApiServer } from './api-server.ts';
import { startDynamoDbLocal } from './dynamodb-local.ts';
import { type ContainerSpec, LocalEcs } from './ecs.ts';
import { startEndpoint } from './endpoint.ts';
import { LogStore } from './logs.ts';
import { freePort } from './net.ts';
import { createResources } from './resources.ts';
import { type LambdaHandler, LocalStepFunctions } from './stepfunctions.ts';
import {
  ACCOUNT,
  functionEnvironment,
  type LocalNames,
  localNames,
  resolve,
  resourcesOfType,
  stateMachineDefinition,
  synthTemplate,
  type Template,
} from './template.ts';

export interface LocalCloudOptions {
  /** API port; 0 picks a free one. @default 3000 (PORT) */
  apiPort?: number;
  /** AWS-compatible endpoint port; 0 picks a free one. @default 4566 (AWS_PORT) */
  awsPort?: number;
  /** Keep state here across restarts. @default in memory */
  dataDir?: string;
  /** @default us-east-1 */
  region?: string;
  /** CDK context overrides (e.g. maxConcurrentTasks) */
  context?: Record<string, unknown>;
  /** Run every Wait state (the backoff between attempts) for this many ms instead. @default real waits */
  waitOverrideMs?: number;
  /** Dispatcher tick when no wake-up arrives. @default 5000 */
  tickMs?: number;
  /** Tasks that ask for GPUs on a machine without: 'cpu' runs them on the CPU with a warning, 'wait' waits. @default cpu */
  gpuPolicy?: 'cpu' | 'wait';
  /** Grace period of a stopped task before SIGKILL, overriding the task definition's stopTimeout. */
  stopGraceSeconds?: number;
  /** The command tasks run when their spec has none (the trainer). @default python3 containers/trainer/train.py */
  defaultWorkload?: string;
  /** Run tasks in Docker when an engine answers and this image exists. @default trainstack-trainer:local; false: never */
  dockerImage?: string | false;
  /** Caller identity recorded as the owner. @default arn:aws:iam::000000000000:user/<USER> */
  caller?: string;
  log?: (msg: string, extra?: object) => void;
}

export interface LocalCloud {
  apiUrl: string;
  endpoint: string;
  names: LocalNames;
  template: Template;
  tableName: string;
  bucketName: string;
  queueUrl: string;
  logGroupName: string;
  stateMachineArn: string;
  sfn: LocalStepFunctions;
  ecs: LocalEcs;
  logs: LogStore;
  /** Run one dispatcher pass now (as the tick does). */
  dispatchNow(): Promise<void>;
  stop(): Promise<void>;
}

function byType(t: Template, type: string): string {
  const [entry] = resourcesOfType(t, type);
  if (!entry) throw new Error(`the template has no ${type}`);
  return entry[0];
}

/** Docker is used when an engine answers and the task image has been built. */
export function dockerAvailable(image: string, bin = 'docker'): boolean {
  try {
    execFileSync(bin, ['info'], { stdio: 'ignore', timeout: 5000 });
    execFileSync(bin, ['image', 'inspect', image], { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

function gpusOnThisMachine(): number {
  try {
    const out = execFileSync('nvidia-smi', ['--query-gpu=index', '--format=csv,noheader'], {
      encoding: 'utf8',
      timeout: 5000,
    });
    return out.split('\n').filter((l) => l.trim()).length;
  } catch {
    return 0;
  }
}

/** python3 that can import torch (Debian's /usr/bin/python3 when the first one on PATH cannot). */
export function pythonWithTorch(): string {
  for (const py of [process.env.TRAINSTACK_PYTHON, 'python3', '/usr/bin/python3']) {
    if (!py) continue;
    try {
      execFileSync(py, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 });
      return py;
    } catch {
      // try the next one
    }
  }
  return 'python3';
}

function taskDefinitions(t: Template, n: LocalNames, graceOverride?: number): Record<string, ContainerSpec> {
  const out: Record<string, ContainerSpec> = {};
  for (const [id, p] of resourcesOfType(t, 'AWS::ECS::TaskDefinition')) {
    const family = String(p.Family ?? id);
    const [c] = resolve(p.ContainerDefinitions, n) as {
      Name: string;
      Environment?: { Name: string; Value: string }[];
      LogConfiguration?: { Options?: Record<string, string> };
      ResourceRequirements?: { Type: string; Value: string }[];
      StopTimeout?: number;
    }[];
    if (!c) continue;
    out[family] = {
      name: c.Name,
      environment: Object.fromEntries((c.Environment ?? []).map((e) => [e.Name, String(e.Value)])),
      logGroup: c.LogConfiguration?.Options?.['awslogs-group'] ?? `/ecs/${family}`,
      streamPrefix: c.LogConfiguration?.Options?.['awslogs-stream-prefix'] ?? 'ecs',
      gpuCount: Number(c.ResourceRequirements?.find((r) => r.Type === 'GPU')?.Value ?? 0),
      stopTimeoutSeconds: graceOverride ?? c.StopTimeout ?? 30,
    };
  }
  return out;
}

export async function startLocalCloud(o: LocalCloudOptions = {}): Promise<LocalCloud> {
  const log = o.log ?? (() => {});
  const region = o.region ?? 'us-east-1';
  const awsPort =
    o.awsPort === 0 || o.awsPort === undefined ? (o.awsPort === 0 ? await freePort() : 4566) : o.awsPort;
  const apiPort =
    o.apiPort === 0 || o.apiPort === undefined ? (o.apiPort === 0 ? await freePort() : 3000) : o.apiPort;
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

  try {
    const template = synthTemplate(o.context ?? {});
    const names = localNames(template, region, endpoint);

    const ddb = await startDynamoDbLocal(dataDir ? { dbPath: path.join(dataDir, 'dynamodb') } : {});
    cleanups.push(() => ddb.stop());
    const fauxqs = await startFauxqs({
      port: 0,
      logger: false,
      ...(dataDir ? { dataDir: path.join(dataDir, 'fauxqs') } : {}),
    } as Parameters<typeof startFauxqs>[0]);
    cleanups.push(() => fauxqs.stop());
    const logs = new LogStore(dataDir ? path.join(dataDir, 'logs') : undefined);
    for (const [id] of resourcesOfType(template, 'AWS::Logs::LogGroup'))
      logs.ensureGroup(names.names[id] ?? id);

    // what every function and container gets: the endpoint and region, from the environment only
    const awsEnv = {
      AWS_ENDPOINT_URL: endpoint,
      AWS_REGION: region,
      AWS_DEFAULT_REGION: region,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
    };
    Object.assign(process.env, awsEnv);
    const { env: functionEnv, handlers: handlerFiles } = functionEnvironment(template, names);
    Object.assign(process.env, functionEnv);
    const lambdas: Record<string, LambdaHandler> = {};
    let apiRoute: ApiHandler | undefined;
    let dispatcher: LambdaHandler | undefined;
    for (const [id, file] of Object.entries(handlerFiles)) {
      const mod = (await import(path.join(LAMBDAS_DIR, 'handlers', `${file}.ts`))) as {
        handler: (event: unknown, context: unknown) => Promise<unknown>;
        route?: ApiHandler;
      };
      const fn: LambdaHandler = (event) =>
        mod.handler(event, { functionName: names.names[id], awsRequestId: crypto.randomUUID() } as never);
      lambdas[names.arns[id] ?? id] = fn;
      lambdas[names.names[id] ?? id] = fn;
      if (file === 'api') apiRoute = mod.route;
      if (file === 'dispatcher') dispatcher = fn;
    }
    if (!apiRoute || !dispatcher) throw new Error('the template has no API or dispatcher function');

    const runnerPath = await bundleRunner(path.join(scratch, 'bin', 'runner.mjs'));
    const image = o.dockerImage === false ? undefined : (o.dockerImage ?? 'trainstack-trainer:local');
    const docker = image && dockerAvailable(image) ? { image } : undefined;
    log(docker ? `tasks run in Docker (${image})` : 'tasks run as local processes');
    const ecs = new LocalEcs({
      region,
      account: ACCOUNT,
      taskDefinitions: taskDefinitions(template, names, o.stopGraceSeconds),
      command: [process.execPath, runnerPath],
      baseEnv: {
        ...awsEnv,
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? scratch,
        TRAINSTACK_DEFAULT_COMMAND:
          o.defaultWorkload ??
          `${pythonWithTorch()} ${path.join(REPO_ROOT, 'containers', 'trainer', 'train.py')}`,
        ...(process.env.TRAINSTACK_PROGRESS_INTERVAL_MS
          ? { TRAINSTACK_PROGRESS_INTERVAL_MS: process.env.TRAINSTACK_PROGRESS_INTERVAL_MS }
          : {}),
      },
      logs,
      workDir: path.join(scratch, 'tasks'),
      gpusAvailable: gpusOnThisMachine(),
      gpuPolicy: o.gpuPolicy ?? 'cpu',
      metadataBaseUrl: `${endpoint}/_ecs`,
      warn: (m) => log(m),
      ...(docker ? { docker } : {}),
    });
    cleanups.push(() => ecs.stopAll(o.stopGraceSeconds ?? 10));

    const smId = byType(template, 'AWS::StepFunctions::StateMachine');
    const { definition } = stateMachineDefinition(template, names);
    const stateMachineArn = names.arns[smId] ?? '';
    const sfn = new LocalStepFunctions(
      stateMachineArn,
      definition,
      { lambdas, runTaskSync: (p, s) => ecs.runTaskSync(p, s) },
      { ...(o.waitOverrideMs !== undefined ? { waitOverrideMs: o.waitOverrideMs } : {}), log },
    );
    cleanups.push(() => sfn.stopAll());

    const endpointServer = await startEndpoint(awsPort, {
      sqsS3: fauxqs.address.replace('localhost', '127.0.0.1'),
      dynamodb: ddb.endpoint,
      json: {
        states: sfn.service(),
        logs: logs.service(),
        ecs: ecs.service(),
      },
      metadata: (id) => ecs.metadata(id),
    });
    cleanups.push(() => closeServer(endpointServer));
    await createResources(template, names, endpoint);

    const tableName = names.names[byType(template, 'AWS::DynamoDB::Table')] ?? '';
    const queueId =
      Object.entries(template.Resources).find(
        ([, r]) => r.Type === 'AWS::SQS::Queue' && r.Properties?.RedrivePolicy,
      )?.[0] ?? '';
    const queueUrl = names.queueUrls[queueId] ?? '';
    const bucketName = String(process.env.BUCKET_NAME);
    const logGroupName = String(process.env.LOG_GROUP_NAME);

    // the dispatcher, fed from the queue as the event source mapping feeds it, and by a tick
    const sqs = new SQSClient({
      region,
      endpoint,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      useQueueUrlAsEndpoint: false,
    });
    cleanups.push(() => sqs.destroy());
    let running = true;
    let passing: Promise<void> = Promise.resolve();
    const pass = (event: object) => {
      passing = passing
        .then(() => dispatcher(event).then(() => undefined))
        .catch((e: Error) => log('dispatch failed', { error: e.message }));
      return passing;
    };
    const pump = (async () => {
      while (running) {
        try {
          const out = await sqs.send(
            new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
          );
          const msgs = out.Messages ?? [];
          if (!msgs.length) continue;
          const event: SQSEvent = {
            Records: msgs.map((m) => ({
              messageId: m.MessageId ?? '',
              receiptHandle: m.ReceiptHandle ?? '',
              body: m.Body ?? '',
              attributes: {} as never,
              messageAttributes: {},
              md5OfBody: m.MD5OfBody ?? '',
              eventSource: 'aws:sqs',
              eventSourceARN: names.arns[queueId] ?? '',
              awsRegion: region,
            })),
          };
          await pass(event);
          await sqs.send(
            new DeleteMessageBatchCommand({
              QueueUrl: queueUrl,
              Entries: msgs.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })),
            }),
          );
        } catch (e) {
          if (running) log('queue poll failed', { error: (e as Error).message });
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    })();
    const tick = setInterval(
      () => void pass({ source: 'aws.events', 'detail-type': 'Scheduled Event' }),
      o.tickMs ?? 5000,
    );
    cleanups.push(async () => {
      running = false;
      clearInterval(tick);
      await pump;
      await passing;
    });

    const caller = o.caller ?? `arn:aws:iam::${ACCOUNT}:user/${process.env.USER ?? 'local'}`;
    const apiServer = await startApiServer(apiPort, apiRoute, caller);
    cleanups.push(() => closeServer(apiServer));

    const cloud: LocalCloud = {
      apiUrl: `http://127.0.0.1:${apiPort}`,
      endpoint,
      names,
      template,
      tableName,
      bucketName,
      queueUrl,
      logGroupName,
      stateMachineArn,
      sfn,
      ecs,
      logs,
      dispatchNow: () => pass({}),
      stop: stopAll,
    };
    if (dataDir && existsSync(dataDir)) await recoverInterrupted(cloud, lambdas, log);
    void pass({});
    return cloud;
  } catch (e) {
    await stopAll();
    throw e;
  }
}

function closeServer(s: Server): Promise<void> {
  s.closeAllConnections();
  return new Promise((r) => s.close(() => r()));
}

/**
 * Tasks that were running when the local cloud stopped lost their host: record that as an
 * infrastructure failure (it does not use up maxRetries) and run them again.
 */
async function recoverInterrupted(
  cloud: LocalCloud,
  lambdas: Record<string, LambdaHandler>,
  log: (m: string, e?: object) => void,
) {
  const { DynamoTaskRepository } = await import('../../lambdas/clients/dynamodb-tasks.ts');
  const { dynamodb } = await import('../../lambdas/clients/dynamodb.ts');
  const store = new DynamoTaskRepository(dynamodb, cloud.tableName);
  const step = Object.entries(lambdas).find(([k]) => k.includes('WorkflowStep'))?.[1];
  if (!step) return;
  for (const status of ['STARTING', 'RUNNING', 'RETRYING'] as const) {
    let cursor: string | undefined;
    do {
      const page = await store.list({ status, limit: 100, ...(cursor ? { cursor } : {}) });
      for (const task of page.items) {
        if (status === 'RETRYING') {
          cloud.sfn.startExecution({ name: task.taskId, input: JSON.stringify({ taskId: task.taskId }) });
          continue;
        }
        const decision = (await step({
          action: 'failed',
          taskId: task.taskId,
          error: {
            Error: 'States.TaskFailed',
            Cause: JSON.stringify({
              StopCode: 'TerminationNotice',
              StoppedReason: 'Host EC2 (local cloud) terminated: the local cloud was restarted',
            }),
          },
        })) as { action?: string };
        if (decision.action === 'retry')
          cloud.sfn.startExecution({ name: task.taskId, input: JSON.stringify({ taskId: task.taskId }) });
        log('recovered an interrupted task', { taskId: task.taskId, was: status, decision: decision.action });
      }
      cursor = page.cursor;
    } while (cursor);
  }
}
