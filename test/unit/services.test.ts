/**
 * The task service, the dispatcher and the workflow steps over the in-memory repository: every rule of
 * the life cycle, with no emulator (the same contract the DynamoDB repository keeps).
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryModelRepository } from '../../lambdas/clients/memory-models.ts';
import { MemoryTaskRepository } from '../../lambdas/clients/memory-tasks.ts';
import { NO_COMPUTE_ERROR } from '../../lambdas/contracts/workflow-step.ts';
import { MAX_INFRA_RETRIES } from '../../lambdas/domain/classify.ts';
import { dispatch } from '../../lambdas/domain/dispatch.ts';
import { silentLogger } from '../../lambdas/domain/logger.ts';
import type { Status, TaskRecord, TaskSpec } from '../../lambdas/domain/model.ts';
import { ModelService } from '../../lambdas/domain/models.ts';
import type { ExecutionStatus } from '../../lambdas/domain/ports.ts';
import { reconcile } from '../../lambdas/domain/reconcile.ts';
import { mustGet } from '../../lambdas/domain/task-repository.ts';
import { TaskService } from '../../lambdas/domain/tasks.ts';
import {
  attemptFailed,
  attemptSucceeded,
  type StepDeps,
  startAttempt,
} from '../../lambdas/domain/workflow-steps.ts';

class Recorder {
  wakes: string[] = [];
  started: string[] = [];
  stoppedExecutions: string[] = [];
  stoppedContainers: { taskId: string; arn: string | undefined }[] = [];
  waker = { wake: async (r: { taskId?: string; why: string }) => void this.wakes.push(r.why) };
  /** execution ARN -> status, as Step Functions would answer */
  executionStatus = new Map<string, ExecutionStatus>();
  executions = {
    start: async (taskId: string, name: string) => {
      this.started.push(taskId);
      const arn = `arn:aws:states:us-east-1:0:execution:sm:${name}`;
      this.executionStatus.set(arn, 'RUNNING');
      return arn;
    },
    stop: async (arn: string) => void this.stoppedExecutions.push(arn),
    status: async (arn: string) => this.executionStatus.get(arn) ?? ('MISSING' as const),
  };
  containers = {
    stopForTask: async (taskId: string, _reason: string, arn?: string) => {
      this.stoppedContainers.push({ taskId, arn });
      return 1;
    },
  };
}

/** A clock the test moves by hand. */
class Clock {
  t = Date.parse('2026-11-24T10:00:00.000Z');
  now = () => new Date(this.t);
  tick(ms = 1000) {
    this.t += ms;
  }
}

let repo: MemoryTaskRepository;
let models: MemoryModelRepository;
let rec: Recorder;
let clock: Clock;
let service: TaskService;
let steps: StepDeps;
const CAP = 2;
const ALICE = { id: 'alice', admin: false };
const BOB_ADMIN = { id: 'bob', admin: true };

const spec = (extra: Partial<TaskSpec> = {}): TaskSpec =>
  ({
    type: 'container',
    image: 'busybox',
    command: ['true'],
    priority: 5,
    timeoutSeconds: 3600,
    maxRetries: 2,
    gpus: 0,
    ...extra,
  }) as TaskSpec;

const taskFailed = (exitCode: number, StopCode = 'EssentialContainerExited', StoppedReason = 'exited') => ({
  Error: 'States.TaskFailed',
  Cause: JSON.stringify({ StopCode, StoppedReason, Containers: [{ ExitCode: exitCode }] }),
});

async function submit(extra: Partial<TaskSpec> = {}): Promise<TaskRecord> {
  clock.tick(); // distinct creation times, so first-come order is visible
  return (await service.submit(spec(extra), 'alice')).task;
}

const runDispatch = () =>
  dispatch(
    { store: repo, executions: rec.executions, clock, logger: silentLogger },
    { maxConcurrentTasks: CAP },
  );

/** Dispatch the task and start its first attempt, as the workflow would. */
async function started(extra: Partial<TaskSpec> = {}): Promise<TaskRecord> {
  const t = await submit(extra);
  await runDispatch();
  await startAttempt(steps, t.taskId);
  return mustGet(repo, t.taskId);
}

async function expectStatsMatchRecords() {
  const stats = await repo.stats();
  const all = (await repo.list({ limit: 1000 })).items;
  const count = (s: Status) => all.filter((t) => t.status === s).length;
  expect(stats.total).toBe(all.length);
  for (const s of ['QUEUED', 'STARTING', 'RUNNING', 'RETRYING', 'SUCCEEDED', 'FAILED', 'CANCELLED'] as const)
    expect(stats.byStatus[s] ?? 0, s).toBe(count(s));
  expect(stats.active).toBe(count('STARTING') + count('RUNNING') + count('RETRYING'));
  const gpus = all
    .filter((t) => ['STARTING', 'RUNNING', 'RETRYING'].includes(t.status))
    .reduce((n, t) => n + (t.spec.gpus ?? 0), 0);
  expect(stats.activeGpus).toBe(gpus);
  // the cost of the tasks that ended, summed exactly (a retried task's counts once it ends again)
  const cost = all
    .filter((t) => ['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(t.status))
    .reduce((n, t) => n + Math.round((t.estimatedCostUsd ?? 0) * 1_000_000), 0);
  expect(stats.costMicroUsd ?? 0).toBe(cost);
}

beforeEach(() => {
  models = new MemoryModelRepository();
  repo = new MemoryTaskRepository(models);
  rec = new Recorder();
  clock = new Clock();
  service = new TaskService(
    repo,
    rec.waker,
    rec.executions,
    { maxQueueDepth: 5, maxConcurrentTasks: CAP, maxGpusPerTask: 4 },
    clock,
    models,
  );
  steps = {
    store: repo,
    waker: rec.waker,
    containers: rec.containers,
    clock,
    logger: silentLogger,
    bucketName: 'bucket',
    random: () => 0.5,
    gpuHourlyUsd: 2,
  };
});

describe('submit', () => {
  it('queues the task, counts it and wakes the dispatcher', async () => {
    const t = await submit({ name: 'first' });
    expect(t).toMatchObject({ status: 'QUEUED', owner: 'alice', name: 'first', attempts: [] });
    expect(rec.wakes).toEqual(['submitted']);
    expect((await repo.stats()).byStatus.QUEUED).toBe(1);
  });

  it('answers the first task again for a repeated idempotency key, without a second record', async () => {
    const a = await service.submit(spec(), 'alice', 'key-1');
    const b = await service.submit(spec({ name: 'other' }), 'alice', 'key-1');
    expect(b).toEqual({ task: a.task, created: false });
    expect((await repo.stats()).total).toBe(1);
    const c = await service.submit(spec(), 'bob', 'key-1');
    expect(c.created).toBe(true);
  });

  it('refuses with 429 and Retry-After when the queue is full', async () => {
    for (let i = 0; i < 5; i++) await submit();
    await expect(submit()).rejects.toMatchObject({ status: 429, headers: { 'Retry-After': '30' } });
  });

  it('refuses more GPUs than an instance holds, naming the field', async () => {
    await expect(submit({ gpus: 5 })).rejects.toMatchObject({
      status: 400,
      details: [{ path: 'gpus' }],
    });
  });

  it('takes a workload roleArn only from the roles the stack allows, naming the field otherwise', async () => {
    const allowed = 'arn:aws:iam::123456789012:role/ml-*';
    await expect(submit({ roleArn: 'arn:aws:iam::123456789012:role/ml-reader' })).rejects.toMatchObject({
      status: 400,
      details: [{ path: 'roleArn', message: expect.stringContaining('allows no workload roles') }],
    });
    service = new TaskService(
      repo,
      rec.waker,
      rec.executions,
      { maxQueueDepth: 5, maxConcurrentTasks: CAP, workloadRoleArns: [allowed] },
      clock,
    );
    expect((await submit({ roleArn: 'arn:aws:iam::123456789012:role/ml-reader' })).spec.roleArn).toBe(
      'arn:aws:iam::123456789012:role/ml-reader',
    );
    await expect(submit({ roleArn: 'arn:aws:iam::123456789012:role/admin' })).rejects.toMatchObject({
      details: [{ path: 'roleArn', message: expect.stringContaining(allowed) }],
    });
    await expect(submit({ roleArn: 'arn:aws:iam::999999999999:role/ml-reader' })).rejects.toMatchObject({
      status: 400,
    });
  });

  it('keeps secret references (never values), and refuses names outside the prefix or also in env', async () => {
    const ok = await submit({
      env: { A: 'x' },
      secrets: {
        HF: 'ssm:/trainstack/hf',
        DB: 'secretsmanager:arn:aws:secretsmanager:us-east-1:1:secret:trainstack/db-AbCdEf#password',
      },
    });
    expect(ok.spec.secrets).toEqual({
      HF: 'ssm:/trainstack/hf',
      DB: 'secretsmanager:arn:aws:secretsmanager:us-east-1:1:secret:trainstack/db-AbCdEf#password',
    });
    await expect(submit({ secrets: { HF: 'ssm:/prod/hf' } })).rejects.toMatchObject({
      status: 400,
      details: [{ path: 'secrets.HF', message: expect.stringContaining('start with trainstack/') }],
    });
    await expect(submit({ secrets: { DB: 'secretsmanager:other/db' } })).rejects.toMatchObject({
      status: 400,
      details: [{ path: 'secrets.DB' }],
    });
    await expect(submit({ env: { HF: 'v' }, secrets: { HF: 'ssm:trainstack/hf' } })).rejects.toMatchObject({
      status: 400,
      details: [{ path: 'secrets.HF', message: expect.stringContaining('in env too') }],
    });
  });
});

describe('lockKey (no model trained twice at once)', () => {
  it('refuses a second queued or running task with the key (409 naming the holder) until the first ends', async () => {
    const a = await submit({ lockKey: 'resnet-50' });
    const second = service.submit(spec({ lockKey: 'resnet-50' }), 'alice');
    await expect(second).rejects.toMatchObject({
      status: 409,
      message: expect.stringContaining(`task ${a.taskId} holds lockKey resnet-50`),
      details: [{ path: 'lockKey' }],
    });
    // another owner's key is another lock; another key too
    expect((await service.submit(spec({ lockKey: 'resnet-50' }), 'carol')).created).toBe(true);
    expect((await service.submit(spec({ lockKey: 'bert' }), 'alice')).created).toBe(true);
    // the same key twice in one batch: the first line takes it
    const many = await service.submitMany(
      [{ spec: spec({ lockKey: 'gpt' }) }, { spec: spec({ lockKey: 'gpt' }) }],
      'alice',
    );
    expect(many.map((r) => ('error' in r ? r.error.status : 'ok'))).toEqual(['ok', 409]);
    // the first ends (cancelled): the key is free; retrying the first while the second holds it is a 409
    await service.cancel(a.taskId, ALICE);
    const b = await service.submit(spec({ lockKey: 'resnet-50' }), 'alice');
    expect(b.created).toBe(true);
    await expect(service.retry(a.taskId, ALICE)).rejects.toMatchObject({ status: 409 });
    await service.cancel(b.task.taskId, ALICE);
    expect((await service.retry(a.taskId, ALICE)).status).toBe('QUEUED');
    await expectStatsMatchRecords();
    // a submit refused for its lockKey leaves its idempotency key unused
    await expect(service.submit(spec({ lockKey: 'resnet-50' }), 'alice', 'idem-1')).rejects.toMatchObject({
      status: 409,
    });
    await service.cancel(a.taskId, ALICE);
    expect((await service.submit(spec({ lockKey: 'resnet-50' }), 'alice', 'idem-1')).created).toBe(true);
  });
});

describe('the running cost', () => {
  it("grows while a task runs, at its GPUs' rate or the CPU rate", async () => {
    const priced = new TaskService(
      repo,
      rec.waker,
      rec.executions,
      { maxQueueDepth: 5, maxConcurrentTasks: CAP, prices: { gpuHourlyUsd: 3.6, cpuHourlyUsd: 0.36 } },
      clock,
      models,
    );
    const gpu = await started({ gpus: 2 });
    await repo.transition(gpu, {
      from: 'STARTING',
      to: 'RUNNING',
      set: { startedAt: clock.now().toISOString() },
    });
    clock.tick(100_000); // 100 s
    expect((await priced.get(gpu.taskId, ALICE)).estimatedCostUsd).toBeCloseTo(0.2, 4); // 2 GPUs x $3.6/h x 100 s
    clock.tick(100_000);
    expect((await priced.get(gpu.taskId, ALICE)).estimatedCostUsd).toBeCloseTo(0.4, 4);
    expect((await service.get(gpu.taskId, ALICE)).estimatedCostUsd).toBeUndefined(); // no prices, no guess
  });
});

describe('submitMany (a batch request)', () => {
  it('answers every line in order: refused lines say why, lines past the queue depth get 429, a key given twice is one task', async () => {
    await submit(); // 1 of 5 queued already
    const lines = [
      { spec: spec({ name: 'a' }), idempotencyKey: 'k-a' },
      { spec: spec({ name: 'too-big', gpus: 9 }) },
      { spec: spec({ name: 'b' }) },
      { spec: spec({ name: 'a again' }), idempotencyKey: 'k-a' },
      { spec: spec({ name: 'c' }) },
      { spec: spec({ name: 'd' }) },
      { spec: spec({ name: 'e' }) },
    ];
    rec.wakes.length = 0;
    const r = await service.submitMany(lines, 'alice', 'B1');
    const summary = r.map((x) =>
      'error' in x ? x.error.status : `${x.task.name}${x.created ? '' : ' (same)'}`,
    );
    expect(summary).toEqual(['a', 400, 'b', 'a (same)', 'c', 'd', 429]);
    // one wake for the whole request; ids (and so a batch's listing) in line order
    expect(rec.wakes).toEqual(['submitted']);
    const made = r.filter((x): x is { task: TaskRecord; created: boolean } => 'task' in x && x.created);
    const ids = made.map((x) => x.task.taskId);
    expect([...ids].sort()).toEqual(ids);
    const listed = await repo.list({ batchId: 'B1', limit: 10 });
    expect(listed.items.map((t) => t.name)).toEqual(['a', 'b', 'c', 'd']);
    await expectStatsMatchRecords();
    // the same key in a later request is still the same task
    const again = await service.submitMany([{ spec: spec(), idempotencyKey: 'k-a' }], 'alice', 'B1');
    expect(again[0]).toEqual({ task: made[0]?.task, created: false });
  });
});

describe('scheduling by model', () => {
  const WIDE = 20;
  const dispatchWide = () =>
    dispatch(
      { store: repo, executions: rec.executions, clock, logger: silentLogger },
      { maxConcurrentTasks: WIDE },
    );
  async function model(name: string, maxWorkers: number, status: 'online' | 'offline' = 'online') {
    const now = clock.now().toISOString();
    const m = {
      modelId: `01${name.toUpperCase()}`.padEnd(26, 'X'),
      name,
      type: 'openai' as const,
      baseUrl: 'https://llm.example/v1',
      model: name,
      defaults: {},
      maxWorkers,
      status,
      owner: 'alice',
      createdAt: now,
      updatedAt: now,
      active: 0,
    };
    await models.create(m);
    return m;
  }
  const ask = (m: { name: string }, priority = 5) =>
    submit({
      type: 'inference',
      params: { model: m.name, kind: 'text-generation', input: 'hi' },
      priority,
    } as never);
  const wide = () =>
    new TaskService(
      repo,
      rec.waker,
      rec.executions,
      { maxQueueDepth: 100, maxConcurrentTasks: WIDE },
      clock,
      models,
    );

  it("never runs more of a model's tasks than its maxWorkers, and a saturated model holds up no other model", async () => {
    service = wide();
    const a = await model('model-a', 2);
    const b = await model('model-b', 1);
    const first = [];
    for (let i = 0; i < 5; i++) first.push(await ask(a, 9)); // ahead of b's task in the queue
    const other = await ask(b, 1);
    const plain = await submit({ priority: 1 });
    const r = await dispatchWide();
    expect(r.started.sort()).toEqual([first[0]?.taskId, first[1]?.taskId, other.taskId, plain.taskId].sort());
    expect(models.peek(a.modelId)?.active).toBe(2);
    expect(models.peek(b.modelId)?.active).toBe(1);
    const waiting = await service.get(first[2]?.taskId ?? '', ALICE);
    expect(waiting.statusReason).toMatch(/^model model-a: 2 of 2 workers busy; queued: \d+ task\(s\) ahead$/);
    // a worker frees when a task ends, and the next task of the model takes it
    await startAttempt(steps, first[0]?.taskId ?? '');
    await attemptSucceeded(steps, { taskId: first[0]?.taskId ?? '' });
    expect(models.peek(a.modelId)?.active).toBe(1);
    expect((await dispatchWide()).started).toEqual([first[2]?.taskId]);
    expect(models.peek(a.modelId)?.active).toBe(2);
    const stats = await new ModelService(models, clock, repo).stats('model-a', ALICE);
    expect(stats).toMatchObject({ total: 5, workersInUse: 2, maxWorkers: 2, successRate: 100 });
    expect(stats.byStatus).toMatchObject({ SUCCEEDED: 1, STARTING: 2, QUEUED: 2 });
    await expect(
      new ModelService(models, clock, repo).stats('model-a', { id: 'mallory', admin: false }),
    ).rejects.toMatchObject({
      status: 403,
    });
  });

  it('a mixed-model batch task takes a worker of each of its models, or waits for the one that is full', async () => {
    service = wide();
    const a = await model('mixed-a', 2);
    const b = await model('mixed-b', 1);
    const busy = await ask(b);
    const mixed = await submit({
      type: 'inference',
      params: { model: a.name, models: [b.name, a.name], kind: 'custom', inputs: [{ text: 'x' }] },
    } as never);
    expect(mixed.otherModelIds).toEqual([b.modelId]); // the task's own model is not taken twice
    expect((await dispatchWide()).started).toEqual([busy.taskId]);
    // model-a has a free worker, model-b has none: the task waits, and says for which
    expect(models.peek(a.modelId)?.active).toBe(0);
    expect((await service.get(mixed.taskId, ALICE)).statusReason).toMatch(
      /^model mixed-b: 1 of 1 workers busy/,
    );
    await service.cancel(busy.taskId, ALICE);
    expect((await dispatchWide()).started).toEqual([mixed.taskId]);
    expect([models.peek(a.modelId)?.active, models.peek(b.modelId)?.active]).toEqual([1, 1]);
    await service.cancel(mixed.taskId, ALICE);
    expect([models.peek(a.modelId)?.active, models.peek(b.modelId)?.active]).toEqual([0, 0]);
    await expectStatsMatchRecords();
  });

  it('holds the tasks of an offline model with the reason, and starts them once it is online', async () => {
    service = wide();
    const m = await model('model-off', 3, 'offline');
    const t = await ask(m);
    expect((await dispatchWide()).started).toEqual([]);
    expect((await service.get(t.taskId, ALICE)).statusReason).toMatch(/^model model-off is offline; queued:/);
    const woken: string[] = [];
    const ms = new ModelService(models, clock, undefined, { wake: async ({ why }) => void woken.push(why) });
    await ms.setStatus(m.modelId, 'online', ALICE);
    // the dispatcher is woken for it (else it waits for the next tick); taken offline, it is not
    expect(woken).toEqual(['model model-off can take more tasks']);
    expect((await dispatchWide()).started).toEqual([t.taskId]);
    await ms.setStatus(m.modelId, 'offline', ALICE);
    await ms.setStatus(m.modelId, 'online', ALICE);
    expect(woken).toHaveLength(2);
    expect(models.peek(m.modelId)?.active).toBe(1);
    // a cancelled running task frees its worker too
    await service.cancel(t.taskId, ALICE);
    expect(models.peek(m.modelId)?.active).toBe(0);
  });

  it('refuses to remove a model while its tasks run (409), and allows it after', async () => {
    service = wide();
    const m = await model('model-busy', 1);
    const t = await ask(m);
    await dispatchWide();
    const ms = new ModelService(models, clock);
    await expect(ms.remove(m.modelId, ALICE)).rejects.toMatchObject({ status: 409 });
    await service.cancel(t.taskId, ALICE);
    // queued tasks hold it too (through the registry); removed behind their back, they fail with the reason
    const waiting = await ask(m);
    const guarded = new ModelService(models, clock, repo);
    await expect(guarded.remove(m.modelId, ALICE)).rejects.toMatchObject({ status: 409 });
    await ms.remove(m.modelId, ALICE); // (a registry that does not see the tasks)
    expect(await models.get(m.modelId)).toBeUndefined();
    await dispatchWide();
    expect(await mustGet(repo, waiting.taskId)).toMatchObject({
      status: 'FAILED',
      statusReason: 'its model (model-busy) was removed while it waited',
    });
  });

  it('refuses to remove a model a queued batch file names among its other models (409 naming the task)', async () => {
    service = wide();
    const [main, other] = [await model('model-main', 1), await model('model-other', 1)];
    const mixed = await submit({
      type: 'inference',
      params: { model: main.name, models: [other.name], kind: 'custom', inputs: ['a', 'b'] },
    } as never);
    const guarded = new ModelService(models, clock, repo);
    await expect(guarded.remove(other.modelId, ALICE)).rejects.toMatchObject({
      status: 409,
      message: expect.stringContaining(mixed.taskId),
    });
    await service.cancel(mixed.taskId, ALICE);
    await guarded.remove(other.modelId, ALICE);
    expect(await models.get(other.modelId)).toBeUndefined();
  });
});

describe('dispatch', () => {
  it('starts the highest priority first, first come within a priority, up to the cap', async () => {
    const low = await submit({ priority: 1 });
    const early = await submit({ priority: 5 });
    const late = await submit({ priority: 5 });
    const high = await submit({ priority: 9 });
    const r = await runDispatch();
    expect(r.started).toEqual([high.taskId, early.taskId]);
    expect(rec.started).toEqual([high.taskId, early.taskId]);
    expect((await mustGet(repo, high.taskId)).executionArn).toMatch(/execution:sm:/);
    expect((await mustGet(repo, late.taskId)).status).toBe('QUEUED');
    expect((await mustGet(repo, low.taskId)).status).toBe('QUEUED');
    expect((await repo.stats()).active).toBe(CAP);
    await expectStatsMatchRecords();
  });

  it('starts nothing more while the cap is held, and the next in line once a slot frees', async () => {
    const [a, , c] = [await submit(), await submit(), await submit()];
    await runDispatch();
    expect((await runDispatch()).started).toEqual([]);
    await startAttempt(steps, a.taskId);
    await attemptSucceeded(steps, { taskId: a.taskId });
    expect((await runDispatch()).started).toEqual([c.taskId]);
  });

  it('a second pass never starts a task twice', async () => {
    await submit();
    await runDispatch();
    await runDispatch();
    expect(rec.started).toHaveLength(1);
  });

  it('fails a task that waited longer than maxQueueWaitSeconds instead of starting it', async () => {
    const t = await submit({ maxQueueWaitSeconds: 60 });
    clock.tick(61_000);
    const r = await runDispatch();
    expect(r.expired).toEqual([t.taskId]);
    const after = await mustGet(repo, t.taskId);
    expect(after.status).toBe('FAILED');
    expect(after.statusReason).toMatch(/maxQueueWaitSeconds \(60 s\)/);
    await expectStatsMatchRecords();
  });

  it('reports the queue position and what the task waits for', async () => {
    await submit();
    await submit();
    await runDispatch();
    await submit({ priority: 9 });
    const mine = await submit();
    const seen = await service.get(mine.taskId, ALICE);
    expect(seen.statusReason).toBe('queued: 1 task(s) ahead; 2 of 2 slots in use, waiting for a free slot');
  });
});

describe('cancel', () => {
  it.each(['QUEUED', 'STARTING', 'RUNNING', 'RETRYING'] as const)(
    'cancels a %s task and records who',
    async (status) => {
      const t = status === 'QUEUED' ? await submit() : await started();
      if (status === 'RUNNING') {
        await repo.transition(await mustGet(repo, t.taskId), { from: 'STARTING', to: 'RUNNING' });
      }
      if (status === 'RETRYING') await attemptFailed(steps, { taskId: t.taskId, error: taskFailed(1) });
      expect((await mustGet(repo, t.taskId)).status).toBe(status);
      const done = await service.cancel(t.taskId, BOB_ADMIN);
      expect(done).toMatchObject({ status: 'CANCELLED', statusReason: 'cancelled by bob' });
      if (status === 'QUEUED') expect(rec.stoppedExecutions).toEqual([]);
      else {
        expect(rec.stoppedExecutions).toEqual([`arn:aws:states:us-east-1:0:execution:sm:${t.taskId}-1`]);
        expect(rec.wakes).toContain('slot freed by cancel');
      }
      if (status === 'STARTING' || status === 'RUNNING')
        expect(done.attempts.at(-1)).toMatchObject({ outcome: 'cancelled', reason: 'cancelled by bob' });
      await expectStatsMatchRecords();
    },
  );

  it('a cancelled queued task is never started', async () => {
    const t = await submit();
    await service.cancel(t.taskId, ALICE);
    expect((await runDispatch()).started).toEqual([]);
    expect((await startAttempt(steps, t.taskId)).proceed).toBe(false);
  });

  it.each(['SUCCEEDED', 'FAILED', 'CANCELLED'] as const)('answers 409 for a %s task', async (status) => {
    const t = await started({ maxRetries: 0 });
    if (status === 'SUCCEEDED') await attemptSucceeded(steps, { taskId: t.taskId });
    if (status === 'FAILED') await attemptFailed(steps, { taskId: t.taskId, error: taskFailed(1) });
    if (status === 'CANCELLED') await service.cancel(t.taskId, ALICE);
    await expect(service.cancel(t.taskId, ALICE)).rejects.toMatchObject({ status: 409 });
  });

  it('answers 404 for a task that does not exist', async () => {
    await expect(service.cancel('01JNOSUCHTASK0000000000000', ALICE)).rejects.toMatchObject({
      status: 404,
    });
  });
});

describe('retry', () => {
  it.each(['FAILED', 'CANCELLED'] as const)('requeues a %s task with its retries reset', async (status) => {
    const t = await started({ maxRetries: 0 });
    if (status === 'FAILED') await attemptFailed(steps, { taskId: t.taskId, error: taskFailed(3) });
    else await service.cancel(t.taskId, ALICE);
    const q = await service.retry(t.taskId, ALICE);
    expect(q).toMatchObject({
      status: 'QUEUED',
      retryCount: 0,
      progress: 0,
      statusReason: 'requeued by alice',
    });
    expect(rec.wakes.at(-1)).toBe('retried');
    expect((await repo.nextQueued(10)).map((x) => x.taskId)).toContain(t.taskId);
    expect((await repo.daily(1, clock.now()))[0]).toMatchObject({ submitted: 1 });
    await expectStatsMatchRecords();
  });

  it.each(['QUEUED', 'STARTING', 'SUCCEEDED'] as const)('answers 409 for a %s task', async (status) => {
    const t = status === 'QUEUED' ? await submit() : await started();
    if (status === 'SUCCEEDED') await attemptSucceeded(steps, { taskId: t.taskId });
    await expect(service.retry(t.taskId, ALICE)).rejects.toMatchObject({ status: 409 });
  });
});

describe('workflow steps', () => {
  it('startAttempt records attempt 1 and is a no-op when repeated', async () => {
    const t = await submit();
    await runDispatch();
    const ctx = await startAttempt(steps, t.taskId);
    expect(ctx).toMatchObject({ proceed: true, taskId: t.taskId, attempt: 1, timeoutSeconds: 3600, gpus: 0 });
    expect(await startAttempt(steps, t.taskId)).toEqual(ctx);
    expect((await mustGet(repo, t.taskId)).attempts).toHaveLength(1);
  });

  it('gives an attempt whose runner died before naming its log stream the stream of its ECS task', async () => {
    const t = await started({ maxRetries: 0 });
    const error = {
      Error: 'States.TaskFailed',
      Cause: JSON.stringify({
        TaskArn: 'arn:aws:ecs:us-east-1:1:task/cluster/0123abcd',
        StopCode: 'EssentialContainerExited',
        Containers: [{ ExitCode: 70 }],
      }),
    };
    await attemptFailed({ ...steps, logStreamPrefix: 'task/runner' }, { taskId: t.taskId, error });
    expect((await mustGet(repo, t.taskId)).attempts[0]?.logStream).toBe('task/runner/0123abcd');
  });

  it('a workload failure is retried up to maxRetries with backoff, then FAILED with every attempt', async () => {
    const t = await started({ maxRetries: 2 });
    const waits: number[] = [];
    for (let i = 0; i < 2; i++) {
      const d = await attemptFailed(steps, { taskId: t.taskId, error: taskFailed(7) });
      expect(d).toMatchObject({ action: 'retry', status: 'RETRYING' });
      waits.push(d.waitSeconds);
      expect((await startAttempt(steps, t.taskId)).attempt).toBe(i + 2);
    }
    const last = await attemptFailed(steps, { taskId: t.taskId, error: taskFailed(7) });
    expect(last).toMatchObject({ action: 'done', status: 'FAILED' });
    const after = await mustGet(repo, t.taskId);
    expect(after.attempts.map((a) => a.exitCode)).toEqual([7, 7, 7]);
    expect(after.statusReason).toMatch(/failed after 3 attempt\(s\): exit code 7/);
    expect(after.retryCount).toBe(2);
    expect(waits.every((w) => w >= 0)).toBe(true);
    expect(rec.wakes).toContain('slot freed');
    await expectStatsMatchRecords();
  });

  it('an infrastructure failure is retried without using up maxRetries', async () => {
    const t = await started({ maxRetries: 0 });
    const d = await attemptFailed(steps, {
      taskId: t.taskId,
      error: taskFailed(143, 'SpotInterruption', 'Host EC2 (instance i-0) terminated.'),
    });
    expect(d.action).toBe('retry');
    const after = await mustGet(repo, t.taskId);
    expect(after.retryCount).toBe(0);
    expect(after.attempts[0]?.outcome).toBe('infrastructure');
  });

  it(`gives up after ${MAX_INFRA_RETRIES} infrastructure failures`, async () => {
    const t = await started({ maxRetries: 0 });
    let d = await attemptFailed(steps, {
      taskId: t.taskId,
      error: taskFailed(143, 'SpotInterruption', 'lost'),
    });
    for (let i = 1; i < MAX_INFRA_RETRIES && d.action === 'retry'; i++) {
      await startAttempt(steps, t.taskId);
      d = await attemptFailed(steps, {
        taskId: t.taskId,
        error: taskFailed(143, 'SpotInterruption', 'lost'),
      });
    }
    await startAttempt(steps, t.taskId);
    d = await attemptFailed(steps, { taskId: t.taskId, error: taskFailed(143, 'SpotInterruption', 'lost') });
    expect(d).toMatchObject({ action: 'done', status: 'FAILED' });
    expect(d.reason).toMatch(/gave up after 20 infrastructure failures/);
  });

  it('a timeout stops the container by the ARN the runner recorded and fails the task', async () => {
    const t = await started();
    const withArn = await mustGet(repo, t.taskId);
    const first = withArn.attempts[0] ?? { attempt: 1, startedAt: '' };
    // what the runner does when it starts: RUNNING, with its ECS task recorded on the attempt
    await repo.transition(withArn, {
      from: 'STARTING',
      to: 'RUNNING',
      endAttempt: { index: 0, attempt: { ...first, ecsTaskArn: 'arn:ecs:task/1' } },
    });
    const d = await attemptFailed(steps, { taskId: t.taskId, error: { Error: 'States.Timeout' } });
    expect(d).toMatchObject({ action: 'done', status: 'FAILED' });
    expect(rec.stoppedContainers).toEqual([{ taskId: t.taskId, arn: 'arn:ecs:task/1' }]);
    expect((await mustGet(repo, t.taskId)).statusReason).toMatch(/timed out/);
  });

  it('a deployment with no compute fails the task at once with the reason, not retried', async () => {
    const t = await started({ maxRetries: 3 });
    const d = await attemptFailed(steps, {
      taskId: t.taskId,
      error: { Error: NO_COMPUTE_ERROR, Cause: 'this deployment has no GPU cluster' },
    });
    expect(d).toMatchObject({
      action: 'done',
      status: 'FAILED',
      reason: 'this deployment has no GPU cluster',
    });
    const after = await mustGet(repo, t.taskId);
    expect(after.attempts).toHaveLength(1);
    expect(after.attempts[0]?.outcome).toBe('unrunnable');
    expect(after.retryCount).toBe(0);
  });

  it('prices a CPU-only task (Fargate) at the CPU task price, not a GPU hour', async () => {
    const t = await started({ gpus: 0 });
    clock.tick(7_200_000);
    await attemptSucceeded({ ...steps, cpuHourlyUsd: 0.05 }, { taskId: t.taskId });
    expect((await mustGet(repo, t.taskId)).estimatedCostUsd).toBe(0.1);
  });

  it('success records the result, the duration and the cost, and frees the slot', async () => {
    const t = await started({ gpus: 2 });
    clock.tick(3_600_000);
    const d = await attemptSucceeded(steps, { taskId: t.taskId });
    expect(d).toEqual({ action: 'done', waitSeconds: 0, status: 'SUCCEEDED' });
    const after = await mustGet(repo, t.taskId);
    expect(after).toMatchObject({
      status: 'SUCCEEDED',
      progress: 100,
      resultLocation: `s3://bucket/tasks/${t.taskId}/`,
      durationSeconds: 3600,
      estimatedCostUsd: 4,
    });
    expect(after.attempts[0]).toMatchObject({ outcome: 'succeeded', exitCode: 0 });
    expect((await repo.stats()).activeGpus).toBe(0);
    // a repeated step changes nothing
    expect(await attemptSucceeded(steps, { taskId: t.taskId })).toMatchObject({ status: 'SUCCEEDED' });
    expect((await repo.stats()).byStatus.SUCCEEDED).toBe(1);
    await expectStatsMatchRecords();
  });

  it('progress is written only while the attempt it names runs', async () => {
    const t = await started();
    expect(await repo.updateProgress(t.taskId, 1, { progress: 40 })).toBe(true);
    expect(await repo.updateProgress(t.taskId, 2, { progress: 50 })).toBe(false);
    await attemptSucceeded(steps, { taskId: t.taskId });
    expect(await repo.updateProgress(t.taskId, 1, { progress: 60 })).toBe(false);
  });
});

describe('lists', () => {
  it('pages newest first with an opaque cursor, and refuses a cursor it did not give', async () => {
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push((await submit()).taskId);
    const first = await service.list({ limit: 3 }, ALICE);
    expect(first.items.map((t) => t.taskId)).toEqual(ids.slice(2).reverse());
    const second = await service.list({ limit: 3, ...(first.cursor ? { cursor: first.cursor } : {}) }, ALICE);
    expect(second.items.map((t) => t.taskId)).toEqual(ids.slice(0, 2).reverse());
    expect(second.cursor).toBeUndefined();
    await expect(service.list({ limit: 3, cursor: 'nope' }, ALICE)).rejects.toMatchObject({
      status: 400,
      details: [{ path: 'cursor' }],
    });
  });
});

describe('lists by model', () => {
  it("keeps the tasks that call a model (a batch file's other models too), by name or id, and only the caller's", async () => {
    const registry = new ModelService(models, clock, repo);
    const add = (name: string) =>
      registry.create(
        {
          name,
          type: 'local',
          baseUrl: 'http://127.0.0.1:9/v1',
          model: 'm',
          defaults: {},
          maxWorkers: 1,
          status: 'online',
        },
        ALICE,
      );
    const [one, two] = [await add('one'), await add('two')];
    const infer = (params: object, owner = 'alice') => {
      clock.tick();
      return service.submit(
        {
          ...spec(),
          type: 'inference',
          params: { kind: 'text-generation', input: 'hi', ...params },
        } as never,
        owner,
      );
    };
    const calling = (await infer({ model: 'one' })).task.taskId;
    const mixed = (await infer({ model: 'two', models: ['one'] })).task.taskId;
    await infer({ model: 'one' }, 'carol');
    await submit();
    const ids = async (model: string, actor = ALICE) =>
      (await service.list({ limit: 10, model }, actor)).items.map((t) => t.taskId);
    expect(await ids('one')).toEqual([mixed, calling]);
    expect(await ids(one.modelId)).toEqual([mixed, calling]);
    expect(await ids(two.modelId)).toEqual([mixed]);
    expect(await ids('one', BOB_ADMIN)).toHaveLength(3);
    await expect(service.list({ limit: 10, model: 'three' }, ALICE)).rejects.toMatchObject({
      status: 400,
      details: [{ path: 'model' }],
    });
    // a removed model's tasks are still found by its id
    const gone = await add('gone');
    await registry.remove('gone', ALICE);
    expect(await ids(gone.modelId)).toEqual([]);
  });
});

describe('runs and the reconciler', () => {
  const reconcileNow = (startGraceSeconds = 300) =>
    reconcile(
      { store: repo, executions: rec.executions, waker: rec.waker, clock, logger: silentLogger },
      { startGraceSeconds },
    );

  it('a retried task runs again under a new execution name, never the finished one', async () => {
    const t = await started({ maxRetries: 0 });
    await attemptFailed(steps, { taskId: t.taskId, error: taskFailed(1) });
    rec.executionStatus.set(`arn:aws:states:us-east-1:0:execution:sm:${t.taskId}-1`, 'SUCCEEDED');
    await service.retry(t.taskId, ALICE);
    expect((await runDispatch()).started).toEqual([t.taskId]);
    const again = await mustGet(repo, t.taskId);
    expect(again).toMatchObject({ status: 'STARTING', runs: 2 });
    expect(again.executionArn).toBe(`arn:aws:states:us-east-1:0:execution:sm:${t.taskId}-2`);
    await startAttempt(steps, t.taskId);
    expect((await mustGet(repo, t.taskId)).attempts.map((a) => a.attempt)).toEqual([1, 2]);
  });

  it('with a cap of 2, retrying finished tasks over and over never wedges the queue', async () => {
    for (let i = 0; i < 5; i++) {
      const t = await started({ maxRetries: 0 });
      await attemptFailed(steps, { taskId: t.taskId, error: taskFailed(1) });
      await service.retry(t.taskId, ALICE);
      await runDispatch();
      await startAttempt(steps, t.taskId);
      await attemptSucceeded(steps, { taskId: t.taskId });
    }
    const fresh = await submit();
    expect((await runDispatch()).started).toEqual([fresh.taskId]);
  });

  it('fails an active task whose execution ended without recording it, and frees its slot', async () => {
    const t = await started();
    rec.executionStatus.set(String((await mustGet(repo, t.taskId)).executionArn), 'ABORTED');
    const r = await reconcileNow();
    expect(r.failed).toEqual([t.taskId]);
    const after = await mustGet(repo, t.taskId);
    expect(after.status).toBe('FAILED');
    expect(after.statusReason).toMatch(/ended ABORTED without recording the end of attempt 1/);
    expect(after.attempts[0]).toMatchObject({ outcome: 'infrastructure' });
    expect((await repo.stats()).active).toBe(0);
    expect(rec.wakes.at(-1)).toBe('slots freed by the reconciler');
    await expectStatsMatchRecords();
  });

  it('requeues a claim that never started its execution, once past the grace period', async () => {
    const t = await submit();
    await repo.transition(await mustGet(repo, t.taskId), {
      from: 'QUEUED',
      to: 'STARTING',
      set: { dispatchedAt: clock.now().toISOString(), runs: 1 },
      activeCap: CAP,
    });
    expect((await reconcileNow(60)).requeued).toEqual([]);
    clock.tick(61_000);
    expect((await reconcileNow(60)).requeued).toEqual([t.taskId]);
    expect((await mustGet(repo, t.taskId)).status).toBe('QUEUED');
    await expectStatsMatchRecords();
  });

  it('leaves a retried task alone while its new run records its execution (the last run ended long ago)', async () => {
    const t = await started({ maxRetries: 0 });
    await attemptFailed(steps, { taskId: t.taskId, error: taskFailed(1) });
    rec.executionStatus.set(`arn:aws:states:us-east-1:0:execution:sm:${t.taskId}-1`, 'SUCCEEDED');
    await service.retry(t.taskId, ALICE);
    // the claim is written, the execution is started, its ARN is not recorded yet; the step starts the attempt
    const claimed = await repo.transition(await mustGet(repo, t.taskId), {
      from: 'QUEUED',
      to: 'STARTING',
      set: { dispatchedAt: clock.now().toISOString(), runs: 2 },
      activeCap: CAP,
    });
    expect(claimed.task.executionArn).toMatch(/-1$/);
    await startAttempt(steps, t.taskId, `${t.taskId}-2`);
    expect(await reconcileNow()).toMatchObject({ requeued: [], failed: [] });
    expect((await mustGet(repo, t.taskId)).status).toBe('STARTING');
    await expectStatsMatchRecords();
  });

  it("a step of a task's earlier run changes nothing once the task runs again", async () => {
    const t = await started({ maxRetries: 0 });
    const run1 = `${t.taskId}-1`;
    // the reconciler ended run 1 while its execution went on; the user retried; run 2 started
    rec.executionStatus.set(String((await mustGet(repo, t.taskId)).executionArn), 'ABORTED');
    await reconcileNow();
    await service.retry(t.taskId, ALICE);
    await runDispatch();
    await startAttempt(steps, t.taskId, `${t.taskId}-2`);
    const before = await mustGet(repo, t.taskId);
    expect(before).toMatchObject({ status: 'STARTING', runs: 2 });
    expect(before.attempts).toHaveLength(2);
    // run 1's runner found nothing to run (exit 143) and its execution reports it, then tries again
    const late = await attemptFailed(steps, { taskId: t.taskId, execution: run1, error: taskFailed(143) });
    expect(late).toMatchObject({
      action: 'done',
      reason: expect.stringMatching(/not the task's current run/),
    });
    expect(await startAttempt(steps, t.taskId, run1)).toMatchObject({ proceed: false });
    expect(await attemptSucceeded(steps, { taskId: t.taskId, execution: run1 })).toMatchObject({
      action: 'done',
    });
    expect(await mustGet(repo, t.taskId)).toEqual(before);
    // run 2's own steps still count
    await attemptSucceeded(steps, { taskId: t.taskId, execution: `${t.taskId}-2` });
    expect((await mustGet(repo, t.taskId)).status).toBe('SUCCEEDED');
    await expectStatsMatchRecords();
  });

  it('leaves tasks whose execution runs alone', async () => {
    const t = await started();
    expect(await reconcileNow()).toEqual({ checked: 1, requeued: [], failed: [] });
    expect((await mustGet(repo, t.taskId)).status).toBe('STARTING');
  });
});

describe('owners', () => {
  const CAROL = { id: 'carol', admin: false };

  it("another owner's task is a 404 on every action, and never in their list", async () => {
    const t = await submit();
    for (const act of [
      () => service.get(t.taskId, CAROL),
      () => service.owned(t.taskId, CAROL),
      () => service.cancel(t.taskId, CAROL),
      () => service.retry(t.taskId, CAROL),
    ])
      await expect(act()).rejects.toMatchObject({ status: 404 });
    expect((await service.list({ limit: 10 }, CAROL)).items).toEqual([]);
    expect((await service.list({ limit: 10 }, ALICE)).items.map((x) => x.taskId)).toEqual([t.taskId]);
    expect((await mustGet(repo, t.taskId)).status).toBe('QUEUED');
  });

  it('an admin sees and acts on every owner, and can list one owner', async () => {
    const a = await submit();
    const c = (await service.submit(spec(), 'carol')).task;
    expect((await service.list({ limit: 10 }, BOB_ADMIN)).items).toHaveLength(2);
    expect((await service.list({ limit: 10, owner: 'carol' }, BOB_ADMIN)).items.map((x) => x.taskId)).toEqual(
      [c.taskId],
    );
    expect((await service.get(a.taskId, BOB_ADMIN)).owner).toBe('alice');
    await expect(service.list({ limit: 10, owner: 'alice' }, CAROL)).rejects.toMatchObject({
      status: 403,
      details: [{ path: 'owner' }],
    });
  });

  it('stats are per owner for users and global for admins, and each equals its records', async () => {
    await submit();
    await submit();
    const c = (await service.submit(spec(), 'carol')).task;
    await service.cancel(c.taskId, CAROL);
    expect((await service.stats(ALICE)).byStatus).toMatchObject({ QUEUED: 2, CANCELLED: 0 });
    expect((await service.stats(CAROL)).byStatus).toMatchObject({ QUEUED: 0, CANCELLED: 1 });
    expect((await service.stats(BOB_ADMIN)).total).toBe(3);
    expect((await service.daily(1, CAROL))[0]).toMatchObject({ submitted: 1, cancelled: 1 });
    expect((await service.daily(1, BOB_ADMIN))[0]).toMatchObject({ submitted: 3, cancelled: 1 });
  });
});
