/**
 * The synthesized state machine, resolved from the template and run by the local interpreter. The
 * workflow-step and dispatcher functions run for real against DynamoDB Local; only ECS is replaced,
 * at its boundary, by a fake that ends each attempt the way Step Functions reports ECS outcomes.
 */
import { beforeAll, describe, expect, inject, it } from 'vitest';
import type { TaskRecord, TaskSpec } from '../../lambdas/domain/model.ts';
import { mustGet } from '../../lambdas/domain/task-repository.ts';
import { startEndpoint } from '../../lib/local/endpoint.ts';
import { freePort } from '../../lib/local/net.ts';
import { LocalStepFunctions } from '../../lib/local/stepfunctions.ts';
import { describedTaskDefinitionsOf, LocalTaskDefinitions } from '../../lib/local/task-definitions.ts';
import { resourcesOfType, stateMachineDefinition } from '../../lib/local/template.ts';
import { patchTask, type TestStack, testStack } from '../support/stack.ts';

type Behaviour = 'succeed' | 'hang' | { exit: number } | 'spot' | 'no-capacity';

/** ECS at its boundary: each RunTask follows the script for its task, and StopTask is recorded. */
class FakeEcs {
  script = new Map<string, Behaviour[]>();
  calls = new Map<string, number>();
  families = new Map<string, string>();
  stopped: string[] = [];
  private live = new Map<string, { taskId: string; release: () => void }>();
  private n = 0;

  async runTaskSync(params: Record<string, unknown>): Promise<unknown> {
    const env =
      (params.Overrides as { ContainerOverrides: { Environment: { Name: string; Value: string }[] }[] })
        .ContainerOverrides[0]?.Environment ?? [];
    const taskId = env.find((e) => e.Name === 'TRAINSTACK_TASK_ID')?.Value ?? '';
    const call = this.calls.get(taskId) ?? 0;
    this.calls.set(taskId, call + 1);
    this.families.set(taskId, String(params.TaskDefinition));
    const b = this.script.get(taskId)?.[call] ?? 'succeed';
    const arn = `arn:aws:ecs:us-east-1:000000000000:task/c/${++this.n}`;
    const fail = (cause: object) =>
      Object.assign(new Error(JSON.stringify({ TaskArn: arn, ...cause })), { name: 'States.TaskFailed' });
    if (b === 'succeed') return { TaskArn: arn, Containers: [{ ExitCode: 0 }] };
    if (b === 'no-capacity')
      throw Object.assign(new Error('{"Failures":[{"Reason":"RESOURCE:GPU"}]}'), {
        name: 'AmazonECS.Unknown',
      });
    if (b === 'spot')
      throw fail({
        StopCode: 'SpotInterruption',
        StoppedReason: 'Host EC2 (instance i-0) terminated.',
        Containers: [{ ExitCode: 143 }],
      });
    if (b === 'hang') {
      await new Promise<void>((release) => this.live.set(arn, { taskId, release }));
      throw fail({ StopCode: 'UserInitiated', StoppedReason: 'stopped', Containers: [{ ExitCode: 143 }] });
    }
    throw fail({
      StopCode: 'EssentialContainerExited',
      StoppedReason: 'Essential container in task exited',
      Containers: [{ ExitCode: b.exit }],
    });
  }

  service() {
    return {
      ListTasks: () => ({ taskArns: [...this.live.keys()] }),
      DescribeTasks: (i: Record<string, unknown>) => ({
        tasks: (i.tasks as string[]).map((taskArn) => ({
          taskArn,
          overrides: {
            containerOverrides: [
              {
                name: 'runner',
                environment: [{ name: 'TRAINSTACK_TASK_ID', value: this.live.get(taskArn)?.taskId }],
              },
            ],
          },
        })),
      }),
      StopTask: (i: Record<string, unknown>) => {
        const arn = String(i.task);
        this.stopped.push(arn);
        this.live.get(arn)?.release();
        this.live.delete(arn);
        return { task: { taskArn: arn } };
      },
    };
  }
}

let stack: TestStack;
let definitions: LocalTaskDefinitions;
let sfn: LocalStepFunctions;
const ecs = new FakeEcs();
let store: import('../../lambdas/clients/dynamodb-tasks.ts').DynamoTaskRepository;
let service: import('../../lambdas/domain/tasks.ts').TaskService;
let runDispatch: () => Promise<unknown>;
/** every event the state machine sent the workflow step */
const stepEvents: { taskId?: string; execution?: string }[] = [];

beforeAll(async () => {
  const shared = inject('awsEndpoint');
  stack = await testStack(shared);
  definitions = new LocalTaskDefinitions(
    'us-east-1',
    '000000000000',
    describedTaskDefinitionsOf(stack.template, stack.names),
  );
  // ECS calls of the workflow step go to the fake; everything else to the shared emulators
  const port = await freePort();
  await startEndpoint(port, {
    sqsS3: shared,
    dynamodb: shared,
    // task definitions (tasks' own images register theirs) as the local cloud keeps them
    json: { ecs: { ...definitions.service(), ...ecs.service() } },
    metadata: () => undefined,
  });
  process.env.AWS_ENDPOINT_URL = `http://127.0.0.1:${port}`;

  const step = (await import('../../lambdas/handlers/workflow-step.ts')).handler as (
    e: unknown,
  ) => Promise<unknown>;
  const stepId = resourcesOfType(stack.template, 'AWS::Lambda::Function').find(([id]) =>
    id.startsWith('WorkflowStep'),
  )?.[0];
  const { definition } = stateMachineDefinition(stack.template, stack.names);
  const smId = resourcesOfType(stack.template, 'AWS::StepFunctions::StateMachine')[0]?.[0] ?? '';
  sfn = new LocalStepFunctions(
    stack.names.arns[smId] ?? '',
    definition,
    {
      lambdas: {
        [stack.names.arns[stepId ?? ''] ?? '']: (e: unknown) => {
          stepEvents.push(e as (typeof stepEvents)[number]);
          return step(e);
        },
      },
      runTaskSync: (p) => ecs.runTaskSync(p),
    },
    { waitOverrideMs: 5 },
  );
  const { DynamoTaskRepository } = await import('../../lambdas/clients/dynamodb-tasks.ts');
  const { TaskService } = await import('../../lambdas/domain/tasks.ts');
  const { dispatch } = await import('../../lambdas/domain/dispatch.ts');
  const { dynamodb } = await import('../../lambdas/clients/dynamodb.ts');
  const { silentLogger } = await import('../../lambdas/domain/logger.ts');
  store = new DynamoTaskRepository(dynamodb, stack.tableName);
  const executions = {
    start: async (taskId: string, name: string) =>
      sfn.startExecution({
        stateMachineArn: sfn.stateMachineArn,
        name,
        input: JSON.stringify({ taskId }),
      }).executionArn,
    stop: async (arn: string) => void sfn.stopExecution({ executionArn: arn }),
    status: async (arn: string) => sfn.describe(arn).status,
  };
  const clock = { now: () => new Date() };
  service = new TaskService(
    store,
    { wake: async () => {} },
    executions,
    { maxQueueDepth: 1000, maxConcurrentTasks: 100 },
    clock,
  );
  runDispatch = () =>
    dispatch({ store, executions, clock, logger: silentLogger }, { maxConcurrentTasks: 100 });
});

const spec = (extra: Partial<TaskSpec> = {}): TaskSpec =>
  ({
    type: 'container',
    image: 'busybox',
    params: {},
    priority: 5,
    timeoutSeconds: 3600,
    maxRetries: 3,
    gpus: 0,
    ...extra,
  }) as TaskSpec;

/** Submit, dispatch, and wait for the execution to end. */
async function run(s: TaskSpec, script: Behaviour[]): Promise<TaskRecord> {
  const { task } = await service.submit(s, 'tester');
  ecs.script.set(task.taskId, script);
  await runDispatch();
  const arn = (await mustGet(store, task.taskId)).executionArn ?? '';
  await sfn.settled(arn);
  expect(sfn.describe(arn)).toMatchObject({ status: 'SUCCEEDED' });
  return mustGet(store, task.taskId);
}

async function expectStatsMatchRecords() {
  const stats = await store.stats();
  const counts: Record<string, number> = {};
  let cursor: string | undefined;
  let total = 0;
  let gpus = 0;
  do {
    const page = await store.list({ limit: 100, ...(cursor ? { cursor } : {}) });
    for (const t of page.items) {
      counts[t.status] = (counts[t.status] ?? 0) + 1;
      if (['STARTING', 'RUNNING', 'RETRYING'].includes(t.status)) gpus += t.spec.gpus ?? 0;
    }
    total += page.items.length;
    cursor = page.cursor;
  } while (cursor);
  expect(stats.total).toBe(total);
  for (const [status, n] of Object.entries(stats.byStatus)) expect(n, status).toBe(counts[status] ?? 0);
  const active = (counts.STARTING ?? 0) + (counts.RUNNING ?? 0) + (counts.RETRYING ?? 0);
  expect(stats.active).toBe(active);
  expect(stats.activeGpus).toBe(gpus);
}

describe('the task workflow (synthesized definition)', () => {
  it('runs a task to SUCCEEDED with one attempt recorded', async () => {
    const before = sfn.stateTransitions;
    const t = await run(spec(), ['succeed']);
    // what a successful task costs in Step Functions: its states entered (billed as transitions)
    const transitions = sfn.stateTransitions - before;
    expect(transitions).toBeGreaterThan(2);
    expect(transitions).toBeLessThanOrEqual(10);
    expect(t.status).toBe('SUCCEEDED');
    expect(t.progress).toBe(100);
    expect(t.attempts).toHaveLength(1);
    expect(t.attempts[0]).toMatchObject({ attempt: 1, exitCode: 0, outcome: 'succeeded' });
    expect(t.resultLocation).toBe(`s3://${stack.bucketName}/tasks/${t.taskId}/`);
    // each step knew which run called it (a stale run's steps change nothing)
    const steps = stepEvents.filter((e) => e.taskId === t.taskId);
    expect(steps.length).toBeGreaterThanOrEqual(2);
    for (const e of steps) expect(e.execution).toBe(`${t.taskId}-1`);
    // a container task names its image: it runs on a task definition registered for it
    const own = /task-definition\/Trainstack-own-[0-9a-f]{24}:1$/;
    expect(ecs.families.get(t.taskId)).toMatch(own);
    const gpuTask = await run(spec({ gpus: 1 }), ['succeed']);
    expect(ecs.families.get(gpuTask.taskId)).toMatch(own);
    expect(ecs.families.get(gpuTask.taskId)).not.toBe(ecs.families.get(t.taskId));
    const described = definitions.service().DescribeTaskDefinition?.({
      taskDefinition: ecs.families.get(gpuTask.taskId),
    }) as {
      taskDefinition: {
        containerDefinitions: { name: string; image: string; resourceRequirements?: unknown }[];
      };
    };
    const runner = described.taskDefinition.containerDefinitions.find((c) => c.name === 'runner');
    expect(runner).toMatchObject({ image: 'busybox', resourceRequirements: [{ type: 'GPU', value: '1' }] });
    // a training task with no image runs on the stack's runner task definitions
    const training = spec({
      type: 'training',
      image: undefined,
      params: { epochs: 1, batchSize: 8, learningRate: 0.1 },
    } as Partial<TaskSpec>);
    expect(ecs.families.get((await run(training, ['succeed'])).taskId)).toMatch(/RunnerCpu/);
    expect(ecs.families.get((await run({ ...training, gpus: 1 }, ['succeed'])).taskId)).toMatch(/Runner1Gpu/);
    await expectStatsMatchRecords();
  });

  it('retries a workload failure maxRetries times, then FAILED with every attempt recorded', async () => {
    const t = await run(spec({ maxRetries: 2 }), [{ exit: 3 }, { exit: 3 }, { exit: 3 }, 'succeed']);
    expect(ecs.calls.get(t.taskId)).toBe(3);
    expect(t.status).toBe('FAILED');
    expect(t.retryCount).toBe(2);
    expect(t.attempts.map((a) => [a.attempt, a.exitCode, a.outcome])).toEqual([
      [1, 3, 'workload'],
      [2, 3, 'workload'],
      [3, 3, 'workload'],
    ]);
    expect(t.statusReason).toMatch(/failed after 3 attempt\(s\): exit code 3/);
    for (const a of t.attempts) expect(a.endedAt).toBeTruthy();
    await expectStatsMatchRecords();
  });

  it('retries infrastructure failures without using up maxRetries', async () => {
    const t = await run(spec({ maxRetries: 0 }), ['spot', 'no-capacity', 'succeed']);
    expect(t.status).toBe('SUCCEEDED');
    expect(t.retryCount).toBe(0);
    expect(t.attempts.map((a) => a.outcome)).toEqual(['infrastructure', 'infrastructure', 'succeeded']);
    await expectStatsMatchRecords();
  });

  it('fails a task that outlives timeoutSeconds, with reason timeout, and stops its container', async () => {
    const { task } = await service.submit(spec({ maxRetries: 3 }), 'tester');
    // timeoutSeconds is at least 60 through the API; a 1 s limit written to the record keeps the test short
    await patchTask(stack.tableName, task.taskId, { spec: { ...task.spec, timeoutSeconds: 1 } });
    ecs.script.set(task.taskId, ['hang']);
    await runDispatch();
    const arn = (await mustGet(store, task.taskId)).executionArn ?? '';
    await sfn.settled(arn);
    const t = await mustGet(store, task.taskId);
    expect(t.status).toBe('FAILED');
    expect(t.statusReason).toMatch(/timed out after 1 s/);
    expect(t.attempts).toHaveLength(1);
    expect(t.attempts[0]?.outcome).toBe('timeout');
    expect(ecs.stopped).toHaveLength(1);
    await expectStatsMatchRecords();
  });

  it('never calls RunTask for a task cancelled before it started', async () => {
    const { task } = await service.submit(spec(), 'tester');
    await service.cancel(task.taskId, { id: 'tester', admin: false });
    // a wake-up that raced the cancel still starts the workflow: it must stop before RunTask
    const r = sfn.startExecution({
      stateMachineArn: sfn.stateMachineArn,
      name: task.taskId,
      input: JSON.stringify({ taskId: task.taskId }),
    });
    await sfn.settled(r.executionArn);
    expect(sfn.describe(r.executionArn).status).toBe('SUCCEEDED');
    expect(ecs.calls.get(task.taskId)).toBeUndefined();
    expect((await mustGet(store, task.taskId)).status).toBe('CANCELLED');
    await runDispatch();
    expect(ecs.calls.get(task.taskId)).toBeUndefined();
    await expectStatsMatchRecords();
  });

  it('starts one execution for a duplicated wake-up, and a repeated step changes nothing', async () => {
    const { task } = await service.submit(spec(), 'tester');
    ecs.script.set(task.taskId, ['succeed']);
    await Promise.all([runDispatch(), runDispatch(), runDispatch()]);
    const arn = (await mustGet(store, task.taskId)).executionArn ?? '';
    await sfn.settled(arn);
    expect(ecs.calls.get(task.taskId)).toBe(1);
    const step = (await import('../../lambdas/handlers/workflow-step.ts')).handler as (
      e: unknown,
    ) => Promise<{ status: string }>;
    const again = await step({ action: 'succeeded', taskId: task.taskId });
    expect(again.status).toBe('SUCCEEDED');
    await expectStatsMatchRecords();
  });

  it('fails a task that waited in the queue longer than maxQueueWaitSeconds, without running it', async () => {
    const { task } = await service.submit(spec({ maxQueueWaitSeconds: 60 }), 'tester');
    await patchTask(stack.tableName, task.taskId, {
      createdAt: new Date(Date.now() - 120_000).toISOString(),
    });
    await runDispatch();
    const t = await mustGet(store, task.taskId);
    expect(t.status).toBe('FAILED');
    expect(t.statusReason).toMatch(/maxQueueWaitSeconds \(60 s\)/);
    expect(ecs.calls.get(task.taskId)).toBeUndefined();
    await expectStatsMatchRecords();
  });

  it('answers 429 with Retry-After when the queue is full', async () => {
    const { TaskService } = await import('../../lambdas/domain/tasks.ts');
    const queued = (await store.stats()).byStatus.QUEUED ?? 0;
    const full = new TaskService(
      store,
      { wake: async () => {} },
      { start: async () => '', stop: async () => {}, status: async () => 'MISSING' as const },
      { maxQueueDepth: queued + 1, maxConcurrentTasks: 1 },
      { now: () => new Date() },
    );
    await full.submit(spec(), 'tester');
    const e = await full
      .submit(spec(), 'tester')
      .catch((x: unknown) => x as { status: number; headers: Record<string, string> });
    expect(e).toMatchObject({ status: 429, headers: { 'Retry-After': '30' } });
  });
});
