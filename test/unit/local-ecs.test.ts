/**
 * The local ECS in Docker mode. No Docker engine runs here, so a fake `docker` client stands in at
 * that boundary: it records its arguments, runs until stopped, and `docker stop` sends it SIGTERM.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { KIT_DIR, KIT_ENTRYPOINT } from '../../lambdas/contracts/runner-env.ts';
import { classifyFailure } from '../../lambdas/domain/classify.ts';
import { ownImageDefinition, type TaskDefinitionShape } from '../../lambdas/domain/images.ts';
import { dockerRunArgs, LocalEcs, STOPPED_TASK_RETENTION_MS } from '../../lib/local/ecs.ts';
import type { JsonService } from '../../lib/local/json-service.ts';
import { LogStore } from '../../lib/local/logs.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'fake-docker-'));
const bin = path.join(dir, 'docker');
const calls = path.join(dir, 'calls.log');
writeFileSync(
  bin,
  `#!/bin/sh
echo "$*" >> "${calls}"
case "$1" in
  run)
    while [ "$1" != "--name" ]; do shift; done
    echo $$ > "${dir}/$2.pid"
    trap 'echo "SIGTERM: saving"; exit 143' TERM
    echo "container running"
    while true; do sleep 0.1; done ;;
  stop) kill -TERM "$(cat "${dir}/$4.pid")" ;;
esac
`,
);
chmodSync(bin, 0o755);

const logs = new LogStore();
logs.ensureGroup('/g');
type Json = Record<string, unknown>;
const call = (svc: JsonService, op: string, input: Json = {}) => {
  const f = svc[op];
  if (!f) throw new Error(`no ${op}`);
  return f(input) as Json;
};
const ecs = new LocalEcs({
  region: 'us-east-1',
  account: '000000000000',
  taskDefinitions: {
    Runner: {
      name: 'runner',
      environment: { TRAINSTACK_TABLE: 't' },
      logGroup: '/g',
      streamPrefix: 'task',
      gpuCount: 1,
      stopTimeoutSeconds: 3,
    },
  },
  command: ['unused'],
  baseEnv: { AWS_ENDPOINT_URL: 'http://127.0.0.1:4566', PATH: '/usr/bin' },
  logs,
  workDir: dir,
  gpusAvailable: 0,
  gpuPolicy: 'cpu',
  metadataBaseUrl: 'http://127.0.0.1:4566/_ecs',
  warn: () => {},
  docker: { bin, image: 'trainstack-trainer:local' },
});

const waitFor = async (f: () => boolean) => {
  for (let i = 0; i < 100 && !f(); i++) await new Promise((r) => setTimeout(r, 50));
};

describe('local ECS in Docker', () => {
  it('runs the task image with the container environment and stops it with docker stop', async () => {
    const run = ecs.runTaskSync(
      {
        Cluster: 'c',
        TaskDefinition: 'Runner',
        Overrides: {
          ContainerOverrides: [
            { Name: 'runner', Environment: [{ Name: 'TRAINSTACK_TASK_ID', Value: 'abc' }] },
          ],
        },
      },
      { onAbort: () => {} },
    );
    const failed = run.catch((e: Error) => e);
    await waitFor(() => existsSync(calls) && readFileSync(calls, 'utf8').includes('run '));
    const runArgs = readFileSync(calls, 'utf8').split('\n')[0] ?? '';
    expect(runArgs).toMatch(/^run --rm --name trainstack-[0-9a-z]+ --network host --stop-timeout 3 /);
    expect(runArgs).toContain('-e TRAINSTACK_TASK_ID=abc');
    expect(runArgs).toContain('-e TRAINSTACK_TABLE=t');
    expect(runArgs).toContain('-e TRAINSTACK_OUTPUT_DIR=/work/output');
    expect(runArgs).toContain('-e AWS_ENDPOINT_URL=http://127.0.0.1:4566');
    expect(runArgs).not.toContain('PATH=');
    expect(runArgs.endsWith(' trainstack-trainer:local')).toBe(true);
    await waitFor(
      () =>
        (call(logs.service(), 'DescribeLogStreams', { logGroupName: '/g' }).logStreams as unknown[]).length >
        0,
    );

    const [arn] = call(ecs.service(), 'ListTasks').taskArns as string[];
    call(ecs.service(), 'StopTask', { task: arn, reason: 'cancelled' });
    const e = (await failed) as Error;
    expect(e.name).toBe('States.TaskFailed');
    expect(classifyFailure(e.name, e.message).outcome).toBe('stopped');
    expect(readFileSync(calls, 'utf8')).toMatch(/^stop -t 3 trainstack-[0-9a-z]+$/m);
    const streams = call(logs.service(), 'DescribeLogStreams', { logGroupName: '/g' }).logStreams as {
      logStreamName: string;
    }[];
    const stream = streams[0]?.logStreamName ?? '';
    expect(logs.read('/g', stream).map((l) => l.message)).toEqual(['container running', 'SIGTERM: saving']);
  });

  it("runs a task's own image with the runner kit mounted read-only as its entry point, as deployed", async () => {
    const template: TaskDefinitionShape = {
      family: 'OwnImageCpu',
      containerDefinitions: [
        {
          name: 'runner-kit',
          image: 'trainstack-trainer',
          essential: false,
          entryPoint: ['cp', '-a', '/opt/trainstack/kit/.', `${KIT_DIR}/`],
          mountPoints: [{ sourceVolume: 'trainstack-kit', containerPath: KIT_DIR, readOnly: false }],
        },
        {
          name: 'runner',
          image: 'trainstack-trainer',
          entryPoint: [...KIT_ENTRYPOINT],
          user: '0',
          mountPoints: [{ sourceVolume: 'trainstack-kit', containerPath: KIT_DIR, readOnly: true }],
          dependsOn: [{ containerName: 'runner-kit', condition: 'SUCCESS' }],
          environment: [{ name: 'TRAINSTACK_TABLE', value: 't' }],
          logConfiguration: { options: { 'awslogs-group': '/g', 'awslogs-stream-prefix': 'task' } },
          stopTimeout: 3,
        },
      ],
    };
    const own = new LocalEcs({
      region: 'us-east-1',
      account: '000000000000',
      taskDefinitions: {},
      described: { OwnImageCpu: template },
      command: ['unused'],
      baseEnv: { PATH: '/usr/bin' },
      logs,
      workDir: dir,
      gpusAvailable: 0,
      gpuPolicy: 'cpu',
      metadataBaseUrl: 'http://127.0.0.1:4566/_ecs',
      warn: () => {},
      docker: { bin, image: 'trainstack-trainer:local', kitDir: '/var/kit' },
    });
    // what the workflow's start step does (lambdas/domain/images.ts), through the ECS API
    const described = call(own.service(), 'DescribeTaskDefinition', { taskDefinition: 'OwnImageCpu' });
    const registered = call(
      own.service(),
      'RegisterTaskDefinition',
      ownImageDefinition(
        described.taskDefinition as TaskDefinitionShape,
        'Trainstack-own-0a1b',
        'ghcr.io/acme/train:1',
      ),
    );
    const arn = (registered.taskDefinition as { taskDefinitionArn: string }).taskDefinitionArn;
    expect(arn).toBe('arn:aws:ecs:us-east-1:000000000000:task-definition/Trainstack-own-0a1b:1');
    const run = own.runTaskSync(
      { Cluster: 'c', TaskDefinition: arn, Overrides: { ContainerOverrides: [] } },
      { onAbort: () => {} },
    );
    const stopped = run.catch((e: Error) => e);
    await waitFor(() => readFileSync(calls, 'utf8').includes('ghcr.io/acme/train:1'));
    const line = readFileSync(calls, 'utf8')
      .split('\n')
      .find((l) => l.includes('ghcr.io/acme/train:1'));
    expect(line).toContain(`-v /var/kit:${KIT_DIR}:ro --user 0 --entrypoint ${KIT_ENTRYPOINT[0]} `);
    expect(line).toContain(' -e TRAINSTACK_TABLE=t ');
    expect(line?.endsWith(` ghcr.io/acme/train:1 ${KIT_ENTRYPOINT.slice(1).join(' ')}`)).toBe(true);
    const [task] = call(own.service(), 'ListTasks').taskArns as string[];
    call(own.service(), 'StopTask', { task, reason: 'done' });
    expect(((await stopped) as Error).name).toBe('States.TaskFailed');
    // a deregistered family runs no more
    call(own.service(), 'DeregisterTaskDefinition', { taskDefinition: arn });
    const gone = (await own
      .runTaskSync(
        { Cluster: 'c', TaskDefinition: arn, Overrides: { ContainerOverrides: [] } },
        { onAbort: () => {} },
      )
      .catch((e: Error) => e)) as Error;
    expect(gone.message).toContain('MISSING');
  });

  it('passes GPUs through when the host has them', () => {
    expect(dockerRunArgs('n', 'img', {}, '/d', true, 30).join(' ')).toContain('--gpus all');
    expect(dockerRunArgs('n', 'img', {}, '/d', false, 30)).not.toContain('--gpus');
  });
});

/** A local ECS of one task definition (`Gpu` or `Runner`) that runs `command`, with no GPU on the machine. */
const ecsOptions = (
  name: string,
  gpuCount: number,
  stopTimeoutSeconds: number,
  command: string[],
  workDir = dir,
) => ({
  region: 'us-east-1',
  account: '000000000000',
  taskDefinitions: {
    [name]: {
      name: 'runner',
      environment: {},
      logGroup: '/g',
      streamPrefix: 'task',
      gpuCount,
      stopTimeoutSeconds,
    },
  },
  command,
  baseEnv: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
  logs,
  workDir,
  gpusAvailable: 0,
  metadataBaseUrl: 'http://127.0.0.1:4566/_ecs',
});

describe('local ECS without GPUs', () => {
  const base = ecsOptions('Gpu', 1, 1, ['sh', '-c', 'echo "cuda=[$CUDA_VISIBLE_DEVICES]"']);
  const params = { Cluster: 'c', TaskDefinition: 'Gpu', Overrides: { ContainerOverrides: [] } };

  it('makes a GPU task wait for capacity when asked to (the failure ECS gives, retried as infrastructure)', async () => {
    const waiting = new LocalEcs({ ...base, gpuPolicy: 'wait', warn: () => {} });
    const e = (await waiting.runTaskSync(params, { onAbort: () => {} }).catch((x: Error) => x)) as Error;
    expect(e.name).toBe('AmazonECS.Unknown');
    expect(e.message).toContain('RESOURCE:GPU');
    expect(classifyFailure(e.name, e.message).outcome).toBe('infrastructure');
  });

  it('runs a GPU task on the CPU with a warning otherwise, hiding CUDA devices', async () => {
    const warnings: string[] = [];
    const cpu = new LocalEcs({ ...base, gpuPolicy: 'cpu', warn: (m) => warnings.push(m) });
    await cpu.runTaskSync(params, { onAbort: () => {} });
    expect(warnings.join()).toMatch(/running on the CPU/);
    const streams = call(logs.service(), 'DescribeLogStreams', { logGroupName: '/g' }).logStreams as {
      logStreamName: string;
    }[];
    const lines = streams.flatMap((s) => logs.read('/g', s.logStreamName).map((l) => l.message));
    expect(lines).toContain('cuda=[]');
  });
});

describe('local ECS, what it keeps', () => {
  afterEach(() => vi.restoreAllMocks());

  it('describes a stopped task for an hour, as ECS does, then forgets it', async () => {
    const local = new LocalEcs({
      ...ecsOptions('Runner', 0, 3, ['sh', '-c', 'exit 0'], mkdtempSync(path.join(tmpdir(), 'local-ecs-'))),
      gpuPolicy: 'cpu',
      warn: () => {},
    });
    const run = () =>
      local.runTaskSync(
        { Cluster: 'c', TaskDefinition: 'Runner', Overrides: { ContainerOverrides: [] } },
        { onAbort: () => {} },
      );
    const described = (arn: string) =>
      (call(local.service(), 'DescribeTasks', { tasks: [arn] }).tasks as { lastStatus: string }[])[0]
        ?.lastStatus;
    const idOf = (arn: string) => arn.split('/').pop() ?? '';

    const first = (await run()) as { TaskArn: string };
    expect(described(first.TaskArn)).toBe('STOPPED');
    expect(local.metadata(idOf(first.TaskArn))).toMatchObject({
      TaskARN: first.TaskArn,
      KnownStatus: 'STOPPED',
    });
    // just under the hour: still described
    const now = Date.now();
    vi.spyOn(Date, 'now').mockReturnValue(now + STOPPED_TASK_RETENTION_MS - 5_000);
    const second = (await run()) as { TaskArn: string };
    expect(described(first.TaskArn)).toBe('STOPPED');
    // past it: the next start forgets the first (DescribeTasks answers MISSING), not the second
    vi.spyOn(Date, 'now').mockReturnValue(now + STOPPED_TASK_RETENTION_MS + 120_000);
    await run();
    expect(described(first.TaskArn)).toBeUndefined();
    expect(call(local.service(), 'DescribeTasks', { tasks: [first.TaskArn] }).failures).toEqual([
      { arn: first.TaskArn, reason: 'MISSING' },
    ]);
    expect(local.metadata(idOf(first.TaskArn))).toBeUndefined();
    expect(described(second.TaskArn)).toBe('STOPPED');
  });
});
