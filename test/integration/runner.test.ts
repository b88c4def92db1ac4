/**
 * The runner against DynamoDB Local and fauxqs: it marks the task RUNNING, passes output through,
 * writes progress at most about once a second, uploads outputs and trajectories, keeps checkpoints
 * across a SIGTERM, and the next attempt resumes from them.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { bundleRunner } from '../../containers/runner/build.ts';
import {
  type RunnerConfig,
  type RunnerDeps,
  type RunResult,
  runTask,
} from '../../containers/runner/src/runner.ts';
import { localSecretSource } from '../../containers/runner/src/secrets.ts';
import type { DynamoTaskRepository } from '../../lambdas/clients/dynamodb-tasks.ts';
import { RUNNER_ENV } from '../../lambdas/contracts/runner-env.ts';
import type { TaskRecord, TaskSpec } from '../../lambdas/domain/model.ts';
import { mustGet } from '../../lambdas/domain/task-repository.ts';
import { REPO_ROOT } from '../../lib/function.ts';
import { pythonWithTorch } from '../../lib/local/host-probes.ts';
import { iamPattern } from '../support/iam.ts';
import { patchTask, type TestStack, testStack } from '../support/stack.ts';

let stack: TestStack;
let store: DynamoTaskRepository;
let s3: S3Client;
let steps: typeof import('../../lambdas/domain/workflow-steps.ts');
let stepDeps: import('../../lambdas/domain/workflow-steps.ts').StepDeps;
let python: string;
let models: import('../../lambdas/clients/dynamodb-models.ts').DynamoModelRepository;

beforeAll(async () => {
  stack = await testStack(inject('awsEndpoint'));
  const { DynamoTaskRepository } = await import('../../lambdas/clients/dynamodb-tasks.ts');
  const { dynamodb } = await import('../../lambdas/clients/dynamodb.ts');
  const { silentLogger } = await import('../../lambdas/domain/logger.ts');
  store = new DynamoTaskRepository(dynamodb, stack.tableName);
  s3 = new S3Client({ forcePathStyle: true });
  steps = await import('../../lambdas/domain/workflow-steps.ts');
  stepDeps = {
    store,
    waker: { wake: async () => {} },
    containers: { stopForTask: async () => 0 },
    clock: { now: () => new Date() },
    logger: silentLogger,
    bucketName: stack.bucketName,
  };
  python = await pythonWithTorch();
  const { DynamoModelRepository } = await import('../../lambdas/clients/dynamodb-models.ts');
  models = new DynamoModelRepository(dynamodb, stack.tableName);
});

/** A task dispatched and at the start of an attempt, as the workflow leaves it for the runner. */
async function startedTask(
  spec: Partial<TaskSpec> & { type: TaskSpec['type'] },
  raw: Partial<TaskSpec> = {},
  batchId?: string,
): Promise<TaskRecord> {
  const { TaskService } = await import('../../lambdas/domain/tasks.ts');
  const service = new TaskService(
    store,
    { wake: async () => {} },
    { start: async () => '', stop: async () => {}, status: async () => 'MISSING' as const },
    { maxQueueDepth: 1000, maxConcurrentTasks: 100, workloadRoleArns: ['arn:aws:iam::123456789012:role/*'] },
    { now: () => new Date() },
    models,
  );
  const { task } = await service.submit(
    { priority: 5, timeoutSeconds: 3600, maxRetries: 3, ...spec } as TaskSpec,
    'tester',
    undefined,
    batchId,
  );
  if (Object.keys(raw).length)
    await patchTask(stack.tableName, task.taskId, { spec: { ...task.spec, ...raw } });
  await store.transition(await mustGet(store, task.taskId), {
    from: 'QUEUED',
    to: 'STARTING',
    activeCap: 100,
  });
  await steps.startAttempt(stepDeps, task.taskId);
  const started = await mustGet(store, task.taskId);
  expect(started.statusReason).toBe('attempt 1: waiting for GPU capacity and the container to start');
  return started;
}

function config(task: TaskRecord, extra: Partial<RunnerConfig> = {}): RunnerConfig {
  const dir = mkdtempSync(path.join(tmpdir(), 'runner-test-'));
  return {
    taskId: task.taskId,
    attempt: task.attempts.length,
    bucket: stack.bucketName,
    outputDir: path.join(dir, 'output'),
    checkpointDir: path.join(dir, 'checkpoints'),
    defaultCommand: `${python} ${path.join(REPO_ROOT, 'containers', 'trainer', 'train.py')}`,
    progressIntervalMs: 1000,
    checkpointIntervalMs: 300,
    stopGraceSeconds: 5,
    gpu: false,
    ...extra,
  };
}

/** The environment of the runner bundle run as its own process, as the local cloud's ECS gives it. */
function runnerProcessEnv(c: RunnerConfig): Record<string, string> {
  return {
    PATH: String(process.env.PATH),
    AWS_ENDPOINT_URL: String(process.env.AWS_ENDPOINT_URL),
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    [RUNNER_ENV.table]: stack.tableName,
    [RUNNER_ENV.bucket]: stack.bucketName,
    [RUNNER_ENV.taskId]: c.taskId,
    [RUNNER_ENV.attempt]: String(c.attempt),
    [RUNNER_ENV.outputDir]: c.outputDir,
    [RUNNER_ENV.checkpointDir]: c.checkpointDir,
  };
}

/** The secrets the runner's tests can read: one plain, one JSON. */
const secretsFile = path.join(mkdtempSync(path.join(tmpdir(), 'runner-secrets-')), 'secrets.json');
writeFileSync(
  secretsFile,
  JSON.stringify({
    'ssm:/trainstack/hf-token': 'hf_0123456789abcdef',
    'secretsmanager:trainstack/db': { user: 'ml', password: 's3cr3t-pass' },
    'ssm:/trainstack/llm-key': 'sk-test-0123456789',
  }),
);

/** Run the runner in this process; `deps` replaces any of its usual dependencies. */
async function run(
  c: RunnerConfig,
  signal = new AbortController().signal,
  deps: Partial<RunnerDeps> = {},
  onOutput?: (sofar: string) => void,
) {
  const out = new PassThrough();
  const chunks: string[] = [];
  out.on('data', (d) => {
    chunks.push(String(d));
    onOutput?.(chunks.join(''));
  });
  const logs: string[] = [];
  const result: RunResult = await runTask(
    {
      store,
      s3,
      models,
      secrets: localSecretSource(secretsFile, {}),
      out,
      err: out,
      log: (m) => logs.push(m),
      ...deps,
    },
    c,
    process.env,
    signal,
  );
  return { result, output: chunks.join(''), logs };
}

async function keys(prefix: string): Promise<string[]> {
  const r = await s3.send(new ListObjectsV2Command({ Bucket: stack.bucketName, Prefix: prefix }));
  return (r.Contents ?? []).map((o) => o.Key ?? '').sort();
}

describe('runner', () => {
  it('marks the task RUNNING, passes output through, records progress and uploads outputs and the trajectory', async () => {
    const script = [
      'mkdir -p "$TRAINSTACK_OUTPUT_DIR/sub"',
      'echo hello > "$TRAINSTACK_OUTPUT_DIR/sub/a.txt"',
      'echo \'{"task_id":"t","success":true,"steps":[]}\' > "$TRAINSTACK_OUTPUT_DIR/trajectory.json"',
      'echo "Epoch 1/2 loss=0.5"',
      'echo "名前: 訓練 ✓"',
    ].join('; ');
    const task = await startedTask({
      type: 'container',
      image: 'x',
      params: {},
      command: ['sh', '-c', script],
    });
    const { result, output } = await run(config(task));
    expect(result.exitCode).toBe(0);
    expect(output).toContain('Epoch 1/2 loss=0.5\n名前: 訓練 ✓\n');
    const t = await mustGet(store, task.taskId);
    expect(t.status).toBe('RUNNING');
    expect(t.progress).toBe(50);
    expect(t.metrics).toEqual({ loss: 0.5 });
    expect(t.resourceUsage?.peakMemoryMiB).toBeGreaterThanOrEqual(0);
    expect(await keys(`tasks/${task.taskId}/`)).toEqual([
      `tasks/${task.taskId}/sub/a.txt`,
      `tasks/${task.taskId}/trajectory.json`,
    ]);
    expect(await keys(`trajectories/${task.taskId}`)).toEqual([`trajectories/${task.taskId}.json`]);
  });

  it("hands the workload its task's secrets as variables, masks their values in the log, and keeps them out of the record", async () => {
    const task = await startedTask({
      type: 'container',
      image: 'x',
      params: {},
      command: [
        'sh',
        '-c',
        'echo "token=$HF_TOKEN user=$DB_USER pass=$DB_PASS"; echo "$HF_TOKEN" > "$TRAINSTACK_OUTPUT_DIR/t"',
      ],
      secrets: {
        HF_TOKEN: 'ssm:/trainstack/hf-token',
        DB_USER: 'secretsmanager:trainstack/db#user',
        DB_PASS: 'secretsmanager:trainstack/db#password',
      },
    });
    const { result, output, logs } = await run(config(task));
    expect(result.exitCode).toBe(0);
    // the workload saw the values (it wrote one to a file); the log shows *** for the long ones
    expect(output).toContain('token=*** user=ml pass=***');
    expect(output).not.toContain('hf_0123456789abcdef');
    expect(logs).toContain('read 3 secret(s): DB_PASS, DB_USER, HF_TOKEN');
    const record = JSON.stringify(await mustGet(store, task.taskId));
    expect(record).not.toContain('hf_0123456789abcdef');
    expect(record).not.toContain('s3cr3t-pass');
    expect(record).toContain('ssm:/trainstack/hf-token');
  });

  it("lets a workload with a roleArn work as that role through the runner's credentials endpoint, as AWS SDKs read it", async () => {
    const { fromTemporaryCredentials } = await import('@aws-sdk/credential-providers');
    const providers = path.join(REPO_ROOT, 'node_modules', '@aws-sdk', 'credential-providers');
    const workload = [
      `const { fromHttp } = require(${JSON.stringify(providers)});`,
      'fromHttp()().then(async (c) => {',
      "  console.log('ROLE', c.accessKeyId, c.sessionToken);",
      "  const r = await fetch(process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI, { headers: { authorization: 'guess' } });",
      "  console.log('WITHOUT TOKEN', r.status, 'REGION', process.env.AWS_REGION);",
      '});',
    ].join('\n');
    const roleArn = 'arn:aws:iam::123456789012:role/ml-data-reader';
    const task = await startedTask(
      { type: 'container', image: 'x', params: {}, command: [process.execPath, '-e', workload] },
      { roleArn },
    );
    const assumed: string[] = [];
    const { result, output, logs } = await run(config(task), undefined, {
      assumeRole: (arn, sessionName) => {
        assumed.push(`${arn} ${sessionName}`);
        // the local cloud's STS, on the shared emulators' endpoint
        return fromTemporaryCredentials({ params: { RoleArn: arn, RoleSessionName: sessionName } });
      },
    });
    expect(result.exitCode, output).toBe(0);
    expect(assumed).toEqual([`${roleArn} task-${task.taskId}`]);
    // temporary credentials (the runner's own have no session token), and a stranger without the token gets nothing
    expect(output).toContain('ROLE local local-session');
    expect(output).toContain('WITHOUT TOKEN 403 REGION us-east-1');
    expect(logs).toContain(`the workload works as ${roleArn}`);
  });

  it('does not start the workload when its role cannot be assumed', async () => {
    const task = await startedTask(
      { type: 'container', image: 'x', params: {}, command: ['sh', '-c', 'echo started'] },
      { roleArn: 'arn:aws:iam::123456789012:role/not-trusting-us' },
    );
    const { result, logs } = await run(config(task), undefined, {
      assumeRole: () => async () => {
        throw Object.assign(new Error('not authorized to perform sts:AssumeRole'), { name: 'AccessDenied' });
      },
    });
    expect(result.ending.kind).toBe('role-unavailable');
    expect(result.exitCode).toBe(77);
    expect(logs.join('\n')).toContain('could not be assumed: AccessDenied: not authorized');
  });

  it('does not start the workload when a secret cannot be read, and says which', async () => {
    const task = await startedTask({
      type: 'container',
      image: 'x',
      params: {},
      command: ['sh', '-c', 'echo started'],
      secrets: { HF_TOKEN: 'ssm:/trainstack/hf-token', MISSING: 'ssm:/trainstack/nope' },
    });
    const { result, output, logs } = await run(config(task));
    expect(result.ending.kind).toBe('secret-unavailable');
    expect(result.exitCode).toBe(77);
    expect(output).not.toContain('started');
    expect(logs.join('\n')).toContain('secret MISSING (ssm:/trainstack/nope) could not be read');
  });

  it('uploads outputs of a failed workload too, and passes its exit code on', async () => {
    const task = await startedTask({
      type: 'container',
      image: 'x',
      params: {},
      command: ['sh', '-c', 'echo partial > "$TRAINSTACK_OUTPUT_DIR/log.txt"; exit 3'],
    });
    const { result } = await run(config(task));
    expect(result.exitCode).toBe(3);
    expect(await keys(`tasks/${task.taskId}/`)).toEqual([`tasks/${task.taskId}/log.txt`]);
  });

  it('writes progress about once a second under a workload printing thousands of lines a second', async () => {
    const chatty = `const end = Date.now() + 3000; let i = 0; const t = setInterval(() => { for (let k = 0; k < 100; k++) console.log('step ' + (++i) + '/30000 loss=' + (1 / i)); if (Date.now() > end) { console.log('step 30000/30000'); clearInterval(t); } }, 10);`;
    const task = await startedTask({
      type: 'container',
      image: 'x',
      params: {},
      command: [process.execPath, '-e', chatty],
    });
    const seen: number[] = [];
    const poll = setInterval(() => void store.get(task.taskId).then((t) => t && seen.push(t.progress)), 250);
    const started = Date.now();
    const { result, output } = await run(config(task));
    clearInterval(poll);
    const seconds = (Date.now() - started) / 1000;
    expect(output.split('\n').length).toBeGreaterThan(10_000);
    expect(result.progressWrites).toBeLessThanOrEqual(Math.ceil(seconds) + 2);
    expect(result.progressWrites).toBeGreaterThanOrEqual(2);
    const rising = seen.filter((p) => p > 0);
    expect(rising.length).toBeGreaterThan(2);
    for (let i = 1; i < rising.length; i++) expect(rising[i]).toBeGreaterThanOrEqual(rising[i - 1] ?? 0);
    expect((await mustGet(store, task.taskId)).progress).toBe(100);
  });

  it('stops a workload that prints nothing for stallSeconds', async () => {
    const task = await startedTask(
      { type: 'container', image: 'x', params: {}, command: ['sh', '-c', 'echo start; sleep 60'] },
      { stallSeconds: 2 },
    );
    const { result } = await run(config(task));
    expect(result.ending.kind).toBe('stalled');
    expect(result.exitCode).toBe(124);
  });

  it('keeps a checkpoint on SIGTERM, exits "stopped", and the next attempt resumes from it', async () => {
    // enough epochs that a fast machine is still training when the third one is seen
    const task = await startedTask({
      type: 'training',
      params: { epochs: 200, batchSize: 64, learningRate: 0.01, checkpointEvery: 1 },
      env: { TRAINSTACK_SAMPLES: '4096' },
    });
    const stop = new AbortController();
    const first = await run(config(task), stop.signal, {}, (sofar) => {
      if (/^Epoch 3\/200 /m.test(sofar)) stop.abort();
    });
    if (!stop.signal.aborted)
      throw new Error(`the trainer ended before its third epoch was seen:\n${first.output}`);
    expect(first.result.ending.kind).toBe('stopped');
    expect(first.result.exitCode).toBe(143);
    expect(await keys(`checkpoints/${task.taskId}/`)).toEqual([`checkpoints/${task.taskId}/latest.pt`]);
    const savedAt = Number(/checkpoint saved at epoch (\d+)/.exec(first.output)?.[1]);
    expect(savedAt).toBeGreaterThanOrEqual(3);

    // the workflow records a stopped attempt (not a failure) and starts the next one
    const decision = await steps.attemptFailed(stepDeps, {
      taskId: task.taskId,
      error: {
        Error: 'States.TaskFailed',
        Cause: JSON.stringify({
          StopCode: 'SpotInterruption',
          Containers: [{ ExitCode: first.result.exitCode }],
        }),
      },
    });
    expect(decision.action).toBe('retry');
    const after = await mustGet(store, task.taskId);
    expect(after.retryCount).toBe(0);
    expect(after.attempts[0]?.outcome).toBe('infrastructure');
    await steps.startAttempt(stepDeps, task.taskId);
    const second = await run(config(await mustGet(store, task.taskId)));
    expect(second.result.exitCode).toBe(0);
    expect(second.output).toContain(`resuming from checkpoint: epoch ${savedAt} done`);
    expect(second.output).toMatch(new RegExp(`^Epoch ${savedAt + 1}/200 `, 'm'));
    expect(second.output).not.toMatch(/^Epoch 1\/200 /m);
    expect(await keys(`tasks/${task.taskId}/`)).toEqual([
      `tasks/${task.taskId}/metrics.json`,
      `tasks/${task.taskId}/model.pt`,
    ]);
  });
});

const glob = iamPattern;

/**
 * What the runner really does against DynamoDB and S3 during an attempt, recorded by middleware on
 * its clients, checked against the session policy it runs under deployed (containers/runner/src/scope.ts):
 * a new write the policy does not allow fails here, not in production.
 */
describe("the runner's session policy", () => {
  it('allows every call a whole attempt makes (record, counters, outputs, checkpoints, trajectory), and no more', async () => {
    const { documentClient } = await import('../../lambdas/clients/dynamodb.ts');
    const { DynamoTaskRepository } = await import('../../lambdas/clients/dynamodb-tasks.ts');
    const { attemptPolicy } = await import('../../containers/runner/src/scope.ts');
    const calls: { action: string; key: string }[] = [];
    const doc = documentClient();
    doc.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as Record<string, unknown>;
        const command = String(context.commandName).replace(/Command$/, '');
        // plain or marshalled ({S: ...}), whichever this step of the stack sees
        const keyOf = (x: unknown) => {
          const pk = (x as { Key?: { pk?: string | { S?: string } } } | undefined)?.Key?.pk;
          return String(typeof pk === 'object' ? pk.S : pk);
        };
        if (command === 'TransactWrite' || command === 'TransactWriteItems')
          for (const item of input.TransactItems as Record<string, unknown>[])
            for (const [kind, body] of Object.entries(item))
              calls.push({
                action: `dynamodb:${kind === 'ConditionCheck' ? 'ConditionCheckItem' : `${kind}Item`}`,
                key: keyOf(body),
              });
        else
          calls.push({
            action: `dynamodb:${command.replace(/^(Get|Update|Put|Delete)$/, '$1Item')}`,
            key: keyOf(input),
          });
        return next(args);
      },
      { step: 'initialize', name: 'record' },
    );
    const recordingS3 = new S3Client({ forcePathStyle: true });
    recordingS3.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { Key?: string; Prefix?: string };
        const command = String(context.commandName).replace(/Command$/, '');
        const action = /^(PutObject|CreateMultipartUpload|UploadPart|CompleteMultipartUpload)$/.test(command)
          ? 's3:PutObject'
          : command === 'ListObjectsV2'
            ? 's3:ListBucket'
            : `s3:${command}`;
        calls.push({ action, key: input.Key ?? `prefix:${input.Prefix}` });
        return next(args);
      },
      { step: 'initialize', name: 'record' },
    );

    const script = [
      'echo ckpt > "$TRAINSTACK_CHECKPOINT_DIR/latest.pt"',
      'echo "Epoch 1/2 loss=0.5"',
      'echo out > "$TRAINSTACK_OUTPUT_DIR/o.txt"',
      'echo \'{"steps":[]}\' > "$TRAINSTACK_OUTPUT_DIR/trajectory.json"',
      'sleep 1.2',
      'echo "Epoch 2/2 loss=0.25"',
    ].join('; ');
    // a task of a batch: its counters are written too
    const task = await startedTask(
      { type: 'container', image: 'x', params: {}, command: ['sh', '-c', script] },
      {},
      '01JBATCH00000000000000000B',
    );
    const recStore = new DynamoTaskRepository(doc, stack.tableName);
    const { result } = await run(config(task, { checkpointIntervalMs: 200 }), undefined, {
      store: recStore,
      s3: recordingS3,
    });
    expect(result.exitCode).toBe(0);

    const policy = attemptPolicy(
      {
        roleArn: 'arn:aws:iam::123456789012:role/data',
        region: 'us-east-1',
        bucket: stack.bucketName,
        taskId: task.taskId,
      },
      task.owner,
      [],
      undefined,
      task.batchId,
    );
    const allowed = (action: string, key: string) =>
      policy.Statement.some((st) => {
        if (!st.Action.includes(action)) return false;
        if (action.startsWith('dynamodb:'))
          return [st.Condition?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys'] ?? []]
            .flat()
            .some((p) => glob(p).test(key));
        if (action === 's3:ListBucket')
          return [st.Condition?.StringLike?.['s3:prefix'] ?? []]
            .flat()
            .some((p) => glob(p).test(key.replace(/^prefix:/, '')));
        return [st.Resource].flat().some((r) => glob(r).test(`arn:aws:s3:::${stack.bucketName}/${key}`));
      });
    const actions = new Set(calls.map((c) => c.action));
    // the attempt did all of it: read, counters, progress, checkpoint pull and push, outputs, trajectory
    expect([...actions].sort()).toEqual(
      ['dynamodb:GetItem', 'dynamodb:UpdateItem', 's3:ListBucket', 's3:PutObject'].sort(),
    );
    expect(calls.map((c) => c.key)).toEqual(
      expect.arrayContaining([
        `trajectories/${task.taskId}.json`,
        `checkpoints/${task.taskId}/latest.pt`,
        `tasks/${task.taskId}/o.txt`,
        expect.stringMatching(/^STATS@\d\d$/),
        expect.stringMatching(new RegExp(`^STATS@\\d\\d#${task.owner}$`)),
        expect.stringMatching(/^BATCH@\d\d#01JBATCH00000000000000000B$/),
      ]),
    );
    expect(calls.filter((c) => !allowed(c.action, c.key))).toEqual([]);
    expect(allowed('dynamodb:UpdateItem', 'BATCH@00#01JOTHERBATCH000000000000')).toBe(false);
    // nor the cap item: starting to run neither takes nor frees a slot
    expect(allowed('dynamodb:UpdateItem', 'STATS')).toBe(false);
    // and the policy is no wider than the task: another task's record and outputs are refused
    expect(allowed('dynamodb:UpdateItem', 'TASK#01OTHERTASK0000000000000')).toBe(false);
    expect(allowed('s3:PutObject', 'tasks/01OTHERTASK0000000000000/model.pt')).toBe(false);
    expect(allowed('dynamodb:PutItem', `TASK#${task.taskId}`)).toBe(false);
  });
});

/**
 * A task that hunts for credentials (its environment, the credentials endpoint variables, every
 * /proc/<pid>/environ it can read, its parent's first) and uses what it finds to rewrite another
 * task. The runner runs as its own process here, from the bundle the image carries, with the
 * endpoint and keys in its environment as the local cloud (or ECS, with the credentials URI) gives
 * them. The first case proves the attack works when nothing stops it; the second is the product.
 */
describe('a hostile workload', () => {
  const attacker = readFileSync(path.join(REPO_ROOT, 'test', 'support', 'hostile-workload.py'), 'utf8');
  const isRoot = process.getuid?.() === 0;
  let bundle: string;
  beforeAll(async () => {
    bundle = await bundleRunner(path.join(mkdtempSync(path.join(tmpdir(), 'runner-bundle-')), 'runner.mjs'));
  });

  async function attack(workloadUser?: string) {
    const victim = await startedTask({
      type: 'container',
      image: 'x',
      params: {},
      command: ['sh', '-c', 'echo honest'],
    });
    const task = await startedTask({
      type: 'container',
      image: 'x',
      params: {},
      command: ['python3', '-c', attacker, victim.taskId, stack.tableName, stack.bucketName],
    });
    const c = config(task);
    chmodSync(path.dirname(c.outputDir), 0o711); // the workload's user may pass through, not list
    const env: Record<string, string> = {
      ...runnerProcessEnv(c),
      AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: '/v2/credentials/task-role',
      ...(workloadUser ? { [RUNNER_ENV.workloadUser]: workloadUser } : {}),
    };
    const child = spawn(process.execPath, [bundle], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => {
      output += String(d);
    });
    child.stderr.on('data', (d) => {
      output += String(d);
    });
    const code = await new Promise<number | null>((r) => child.once('close', r));
    const line = /^HOSTILE (.*)$/m.exec(output)?.[1];
    expect(line, output).toBeDefined();
    const report = JSON.parse(line ?? '{}') as { found: string[]; done: string[] };
    const after = await mustGet(store, victim.taskId);
    return { code, report, victim, after, output };
  }

  it("left unchecked, finds the runner's credentials in its parent's environment and rewrites another task", async () => {
    const { report, victim, after } = await attack();
    expect(report.found.some((f) => f.startsWith('AWS_ENDPOINT_URL in /proc/'))).toBe(true);
    expect(report.found.some((f) => f.startsWith('AWS_CONTAINER_CREDENTIALS_RELATIVE_URI in /proc/'))).toBe(
      true,
    );
    expect(report.found.filter((f) => f.endsWith('own environment'))).toEqual([]);
    expect(report.done).toContain("rewrote the victim's command");
    expect(after.spec.command).not.toEqual(victim.spec.command);
  });

  it.runIf(isRoot)('run as its own user, finds nothing and leaves the other task untouched', async () => {
    const { code, report, victim, after } = await attack('65534:65534');
    expect(code).toBe(0);
    expect(report).toEqual({ found: [], done: [] });
    expect(after.spec).toEqual(victim.spec);
    expect(await keys(`tasks/${victim.taskId}/`)).toEqual([]);
  });
});

/**
 * The runner kit, which a task's own image runs as its entry point, in a root filesystem with nothing
 * else: no shell, no libc, no Node, no /etc. The kit (made here by the recipe the image build uses)
 * reaches the emulators, marks the task RUNNING, runs the workload as another user, and uploads what it
 * wrote; the workload is the kit's own Node, since the "image" has no other program.
 */
describe('the runner kit', () => {
  const isRoot = process.getuid?.() === 0;
  it.runIf(isRoot)('runs a task in an image that has nothing else in it', async () => {
    const { assembleKit } = await import('../../containers/runner/kit.ts');
    const { KIT_DIR, KIT_ENTRYPOINT } = await import('../../lambdas/contracts/runner-env.ts');
    const rootfs = mkdtempSync(path.join(tmpdir(), 'empty-image-'));
    chmodSync(rootfs, 0o755); // an image's / (mkdtemp makes it 0700, which uid 1000 cannot enter)
    // what a container runtime gives every container, image or not
    mkdirSync(path.join(rootfs, 'dev'));
    execFileSync('mknod', ['-m', '666', path.join(rootfs, 'dev', 'null'), 'c', '1', '3']);
    const bundle = await bundleRunner(
      path.join(mkdtempSync(path.join(tmpdir(), 'kit-bundle-')), 'runner.mjs'),
    );
    assembleKit(path.join(rootfs, KIT_DIR), process.execPath, bundle);
    const node = [...KIT_ENTRYPOINT.slice(0, 4)];
    const workload = `
      const fs = require('fs');
      console.log('##trainstack ' + JSON.stringify({ progress: 100, metrics: { loss: 0.5 } }));
      fs.writeFileSync(process.env.TRAINSTACK_OUTPUT_DIR + '/result.txt', 'made as ' + process.getuid());`;
    const task = await startedTask({
      type: 'container',
      image: 'scratch',
      params: {},
      command: [...node, '-e', workload],
    });
    const child = spawn('/usr/sbin/chroot', [rootfs, ...KIT_ENTRYPOINT], {
      env: {
        AWS_ENDPOINT_URL: String(process.env.AWS_ENDPOINT_URL),
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'local',
        AWS_SECRET_ACCESS_KEY: 'local',
        [RUNNER_ENV.table]: stack.tableName,
        [RUNNER_ENV.bucket]: stack.bucketName,
        [RUNNER_ENV.taskId]: task.taskId,
        [RUNNER_ENV.attempt]: String(task.attempts.length),
        [RUNNER_ENV.outputDir]: '/work/output',
        [RUNNER_ENV.checkpointDir]: '/work/checkpoints',
        [RUNNER_ENV.workloadUser]: '1000:1000',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    for (const s of [child.stdout, child.stderr]) s.on('data', (d) => (output += String(d)));
    const code = await new Promise<number | null>((r) => child.once('close', r));
    expect(code, output.slice(-3000)).toBe(0);
    const after = await mustGet(store, task.taskId);
    expect(after.status).toBe('RUNNING');
    expect(after.progress).toBe(100);
    expect(after.metrics?.loss).toBe(0.5);
    expect(await keys(`tasks/${task.taskId}/`)).toEqual([`tasks/${task.taskId}/result.txt`]);
    const { GetObjectCommand } = await import('@aws-sdk/client-s3');
    const body = await s3.send(
      new GetObjectCommand({ Bucket: stack.bucketName, Key: `tasks/${task.taskId}/result.txt` }),
    );
    expect(await body.Body?.transformToString()).toBe('made as 1000');
  });
});

/**
 * Inference tasks against an OpenAI-compatible server the test starts (scripted answers, 429 with
 * Retry-After, 500s, inputs it always refuses), run by the runner's built-in inference runtime.
 */
describe('inference', () => {
  let llm: import('../support/openai-server.ts').OpenAiServer;
  beforeAll(async () => {
    llm = await (await import('../support/openai-server.ts')).startOpenAiServer();
    return () => llm.close();
  });

  async function registered(name: string, extra: object = {}) {
    const now = new Date().toISOString();
    const m = {
      modelId: `M${name.toUpperCase().replace(/[^A-Z0-9]/g, '')}`.padEnd(26, '0').slice(0, 26),
      name,
      type: 'local' as const,
      baseUrl: llm.baseUrl,
      model: name,
      defaults: { maxTokens: 64 },
      maxWorkers: 2,
      status: 'online' as const,
      owner: 'tester',
      createdAt: now,
      updatedAt: now,
      active: 0,
      ...extra,
    };
    expect(await models.create(m)).toBe(true);
    return m;
  }

  const inference = (model: string, params: object) =>
    startedTask({ type: 'inference', params: { model, kind: 'text-generation', ...params } as never });

  const results = (c: RunnerConfig) =>
    readFileSync(path.join(c.outputDir, 'results.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as {
            index: number;
            output?: string;
            error?: string;
            embedding?: number[];
            attempts: number;
          },
      );

  it('answers one input with the model (its key from the secret store), keeps the answer on the task and counts tokens', async () => {
    await registered('llm-one', {
      apiKey: 'ssm:/trainstack/llm-key',
      prices: { inputPerMillionTokens: 1, outputPerMillionTokens: 2 },
    });
    const task = await inference('llm-one', { input: 'hello there' });
    expect(task.modelId).toBeDefined();
    const c = config(task);
    const { result } = await run(c);
    expect(result.exitCode).toBe(0);
    const t = await mustGet(store, task.taskId);
    expect(t.output).toBe('echo(llm-one): hello there');
    expect(t.metrics).toMatchObject({
      requests: 1,
      succeeded: 1,
      failed: 0,
      promptTokens: 2,
      completionTokens: 3,
    });
    expect(t.metrics?.costUsd).toBeCloseTo((2 * 1 + 3 * 2) / 1e6, 9);
    expect(t.progress).toBe(100);
    const sent = llm.requests.filter((r) => r.body.model === 'llm-one');
    expect(sent).toEqual([
      expect.objectContaining({ path: '/chat/completions', auth: 'Bearer sk-test-0123456789' }),
    ]);
    expect(sent[0]?.body.max_tokens).toBe(64);
    expect(await keys(`tasks/${task.taskId}/`)).toEqual([`tasks/${task.taskId}/results.jsonl`]);
  });

  it('answers 200 inputs in order with bounded concurrency, through 429s (Retry-After) and 500s', async () => {
    await registered('llm-many');
    llm.script.set('llm-many', { throttleFirst: 3, retryAfterSeconds: 1, failFirst: 2, delayMs: 5 });
    const inputs = Array.from({ length: 200 }, (_, i) => `question ${i}`);
    const task = await inference('llm-many', { inputs, concurrency: 8 });
    const c = config(task);
    const started = Date.now();
    const { result, logs } = await run(c);
    expect(result.exitCode).toBe(0);
    const lines = results(c);
    expect(lines.map((l) => l.index)).toEqual(inputs.map((_, i) => i));
    expect(lines.map((l) => l.output)).toEqual(inputs.map((q) => `echo(llm-many): ${q}`));
    expect(lines.filter((l) => l.attempts > 1).length).toBeGreaterThanOrEqual(1);
    expect(llm.maxInFlight.get('llm-many')).toBeLessThanOrEqual(8);
    expect(llm.maxInFlight.get('llm-many')).toBeGreaterThan(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000); // it waited as Retry-After asked
    expect(logs.join('\n')).toContain('after 1000 ms (Retry-After)');
    expect((await mustGet(store, task.taskId)).metrics).toMatchObject({
      requests: 200,
      succeeded: 200,
      failed: 0,
    });
  });

  it('records a request that keeps failing on its line, and fails the task only past its error budget', async () => {
    await registered('llm-poison');
    llm.script.set('llm-poison', { poison: 'POISON' });
    const inputs = ['a', 'b POISON', 'c', 'd', 'e'];
    const strict = await inference('llm-poison', { inputs, errorBudget: 0 });
    const c1 = config(strict);
    expect((await run(c1)).result.exitCode).toBe(1);
    expect(results(c1)[1]).toMatchObject({
      index: 1,
      error: expect.stringContaining('HTTP 400'),
      attempts: 1,
    });
    expect(results(c1)[2]?.output).toBe('echo(llm-poison): c');
    const lenient = await inference('llm-poison', { inputs, errorBudget: 0.2 });
    expect((await run(config(lenient))).result.exitCode).toBe(0);
    expect((await mustGet(store, lenient.taskId)).metrics).toMatchObject({ succeeded: 4, failed: 1 });
  });

  it('embeds with the embeddings endpoint, and translates with a system prompt naming the language', async () => {
    await registered('llm-embed');
    const e = await startedTask({
      type: 'inference',
      params: { model: 'llm-embed', kind: 'embedding', input: 'two words' } as never,
    });
    const ce = config(e);
    expect((await run(ce)).result.exitCode).toBe(0);
    expect(results(ce)[0]?.embedding).toEqual([0.1, 0.2, 0.3, 2]);
    const t = await startedTask({
      type: 'inference',
      params: { model: 'llm-embed', kind: 'translation', input: '你好', targetLanguage: 'French' } as never,
    });
    expect((await run(config(t))).result.exitCode).toBe(0);
    const sent = llm.requests.filter((r) => r.body.model === 'llm-embed');
    expect(sent.map((r) => r.path)).toEqual(['/embeddings', '/chat/completions']);
    expect(JSON.stringify(sent[1]?.body.messages)).toContain('into French');
  });

  it('reads the inputs of a large job from an s3:// JSONL file with the task role, and says so when it cannot', async () => {
    const { PutObjectCommand } = await import('@aws-sdk/client-s3');
    const { fromTemporaryCredentials } = await import('@aws-sdk/credential-providers');
    await registered('llm-uri');
    const lines = Array.from({ length: 50 }, (_, i) => JSON.stringify(i % 2 ? `q${i}` : { text: `q${i}` }));
    await s3.send(
      new PutObjectCommand({
        Bucket: stack.bucketName,
        Key: 'inputs/reqs.jsonl',
        Body: `${lines.join('\n')}\n`,
      }),
    );
    const roleArn = 'arn:aws:iam::123456789012:role/ml-inputs-reader';
    const fromUri = (key: string) =>
      startedTask({
        type: 'inference',
        params: {
          model: 'llm-uri',
          kind: 'text-generation',
          inputsUri: `s3://${stack.bucketName}/${key}`,
        } as never,
        roleArn,
      });
    const runWith = async (task: TaskRecord) => {
      const c = config(task);
      const r = await run(c, undefined, {
        assumeRole: (arn, name) =>
          fromTemporaryCredentials({ params: { RoleArn: arn, RoleSessionName: name } }),
      });
      return { ...r, c };
    };
    const ok = await runWith(await fromUri('inputs/reqs.jsonl'));
    expect(ok.result.exitCode).toBe(0);
    expect(ok.logs).toContain(`read 50 input(s) from s3://${stack.bucketName}/inputs/reqs.jsonl`);
    expect(results(ok.c).map((l) => l.output)).toEqual(lines.map((_, i) => `echo(llm-uri): q${i}`));
    const missing = await runWith(await fromUri('inputs/none.jsonl'));
    expect(missing.result.exitCode).toBe(77);
    expect(missing.logs.join('\n')).toContain(
      `the inputs s3://${stack.bucketName}/inputs/none.jsonl could not be read`,
    );
  });

  /** The output and error files of a batch-file task, parsed. */
  const batchOutputs = (c: RunnerConfig) =>
    Object.fromEntries(
      (['output', 'errors'] as const).map((f) => [
        f,
        readFileSync(path.join(c.outputDir, `${f}.jsonl`), 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Record<string, unknown>),
      ]),
    ) as Record<'output' | 'errors', Record<string, unknown>[]>;
  const byId = (lines: Record<string, unknown>[], key = 'custom_id') =>
    Object.fromEntries(lines.map((l) => [String(l[key]), l]));

  describe('provider batch files', () => {
    it("takes an OpenAI Batch file as it is and answers in OpenAI's output and error line shapes", async () => {
      await registered('batch-openai');
      llm.script.set('batch-openai', { poison: 'REFUSE' });
      const chat = (id: string, content: string, model = 'batch-openai') => ({
        custom_id: id,
        method: 'POST',
        url: '/v1/chat/completions',
        body: { model, messages: [{ role: 'user', content }], max_tokens: 16 },
      });
      const inputs = [
        chat('r1', 'hello batch'),
        {
          custom_id: 'r2',
          method: 'POST',
          url: '/v1/embeddings',
          body: { model: 'batch-openai', input: 'two words' },
        },
        chat('r3', 'REFUSE this'),
        { custom_id: 'r4', method: 'POST', url: '/v1/files', body: { model: 'batch-openai' } },
        chat('r5', 'someone else', 'gpt-4o'),
      ];
      const task = await inference('batch-openai', { inputs });
      const c = config(task);
      const { result, logs } = await run(c);
      expect(result.exitCode, logs.join('\n')).toBe(0);
      const { output, errors } = batchOutputs(c);
      expect(output.map((l) => l.custom_id).sort()).toEqual(['r1', 'r2']);
      expect(errors.map((l) => l.custom_id).sort()).toEqual(['r3', 'r4', 'r5']);
      const out = byId(output);
      const err = byId(errors);
      for (const l of [...output, ...errors]) {
        expect(Object.keys(l).sort()).toEqual(['custom_id', 'error', 'id', 'response']);
        expect(l.id).toMatch(/^batch_req_[0-9a-f]{32}$/);
      }
      expect(out.r1).toMatchObject({
        response: {
          status_code: 200,
          request_id: expect.stringMatching(/^req_/),
          body: {
            object: 'chat.completion',
            choices: [{ message: { content: 'echo(batch-openai): hello batch' } }],
          },
        },
        error: null,
      });
      expect(Object.keys((out.r1?.response as object) ?? {}).sort()).toEqual([
        'body',
        'request_id',
        'status_code',
      ]);
      expect(out.r2).toMatchObject({ response: { status_code: 200, body: { object: 'list' } }, error: null });
      // an HTTP error is a response with its status; a request that never got one is an error
      expect(err.r3).toMatchObject({
        response: { status_code: 400, body: { error: { message: 'this input is refused' } } },
        error: null,
      });
      expect(err.r4).toMatchObject({
        response: null,
        error: { code: 'invalid_request', message: expect.stringContaining('/v1/files') },
      });
      expect(err.r5).toMatchObject({ response: null, error: { message: expect.stringContaining('gpt-4o') } });
      // the line's body went to the registered model as it was, with the model's own name
      const sent = llm.requests.filter(
        (r) => r.body.model === 'batch-openai' && r.path === '/chat/completions',
      );
      expect(sent.map((r) => r.body.max_tokens)).toEqual([16, 16]);
      expect((await mustGet(store, task.taskId)).metrics).toMatchObject({
        requests: 5,
        succeeded: 2,
        failed: 3,
      });
    });

    it('sends each line of a mixed-model file to the model it names, each model at its own concurrency', async () => {
      const a = await registered('mix-a');
      const b = await registered('mix-b');
      for (const m of ['mix-a', 'mix-b']) llm.script.set(m, { delayMs: 60 });
      const line = (id: string, model?: string) => ({
        custom_id: id,
        method: 'POST',
        url: '/v1/chat/completions',
        body: { ...(model ? { model } : {}), messages: [{ role: 'user', content: `line ${id}` }] },
      });
      const inputs = [
        ...Array.from({ length: 8 }, (_, i) => line(`a${i}`, i % 2 ? 'mix-a' : undefined)),
        ...Array.from({ length: 8 }, (_, i) => line(`b${i}`, 'mix-b')),
        line('c0', 'mix-c'),
      ];
      const task = await inference('mix-a', { inputs, models: ['mix-b'], concurrency: 2 });
      // the task holds a worker of each of its models while it runs
      expect(task.otherModelIds).toEqual([b.modelId]);
      expect((await models.get(a.modelId))?.active).toBe(1);
      expect((await models.get(b.modelId))?.active).toBe(1);
      const c = config(task);
      const { result, logs } = await run(c);
      expect(result.exitCode, logs.join('\n')).toBe(0);
      const { output, errors } = batchOutputs(c);
      const out = byId(output);
      for (let i = 0; i < 8; i++) {
        expect(out[`a${i}`]).toMatchObject({ response: { body: { model: 'mix-a' } } });
        expect(out[`b${i}`]).toMatchObject({ response: { body: { model: 'mix-b' } } });
      }
      expect(errors).toEqual([
        expect.objectContaining({
          custom_id: 'c0',
          error: expect.objectContaining({ message: expect.stringMatching(/"mix-c".*mix-a, mix-b/) }),
        }),
      ]);
      // both models busy at once, neither past the task's concurrency
      expect(llm.maxInFlight.get('mix-a')).toBe(2);
      expect(llm.maxInFlight.get('mix-b')).toBe(2);
    });

    it('fails a batch file none of whose lines was answered, saying so (no SUCCEEDED for work not done)', async () => {
      await registered('batch-allbad');
      llm.script.set('batch-allbad', { poison: 'REFUSE' });
      const inputs = ['r1', 'r2'].map((id) => ({
        custom_id: id,
        method: 'POST',
        url: '/v1/chat/completions',
        body: { messages: [{ role: 'user', content: 'REFUSE' }] },
      }));
      const task = await inference('batch-allbad', { inputs });
      const c = config(task);
      const { result } = await run(c);
      expect(result.exitCode).toBe(1);
      expect(batchOutputs(c).errors).toHaveLength(2);
      expect((await mustGet(store, task.taskId)).runnerNote?.text).toMatch(
        /^none of the 2 line\(s\) was answered/,
      );
    });

    it('refuses a mixed-model task naming a model that is not registered, with the field', async () => {
      await registered('mix-only');
      await expect(
        inference('mix-only', { inputs: [{ text: 'x' }], models: ['mix-missing'] }),
      ).rejects.toMatchObject({ status: 400, details: [{ path: 'params.models.0' }] });
    });

    it('takes Anthropic Message Batches and Bedrock records, and answers in their shapes', async () => {
      await registered('batch-claude');
      llm.script.set('batch-claude', { poison: 'REFUSE' });
      const params = (content: unknown) => ({
        model: 'batch-claude',
        max_tokens: 32,
        system: 'Be brief',
        messages: [{ role: 'user', content }],
      });
      const anthropic = [
        { custom_id: 'a1', params: params('hello claude') },
        { custom_id: 'a2', params: params([{ type: 'text', text: 'in blocks' }]) },
        { custom_id: 'a3', params: params([{ type: 'image', source: {} }]) },
        { custom_id: 'a4', params: params('REFUSE') },
      ];
      const ta = await inference('batch-claude', { inputs: anthropic });
      const ca = config(ta);
      expect((await run(ca)).result.exitCode).toBe(0);
      const a = batchOutputs(ca);
      const ok = byId(a.output);
      expect(Object.keys(ok).sort()).toEqual(['a1', 'a2']);
      expect(ok.a1).toEqual({
        custom_id: 'a1',
        result: {
          type: 'succeeded',
          message: {
            id: expect.stringMatching(/^msg_/),
            type: 'message',
            role: 'assistant',
            model: 'batch-claude',
            content: [{ type: 'text', text: 'echo(batch-claude): hello claude [Be brief]' }],
            stop_reason: 'end_turn',
            stop_sequence: null,
            usage: { input_tokens: expect.any(Number), output_tokens: expect.any(Number) },
          },
        },
      });
      const bad = byId(a.errors);
      expect(bad.a3).toEqual({
        custom_id: 'a3',
        result: {
          type: 'errored',
          error: {
            type: 'error',
            error: { type: 'invalid_request_error', message: expect.stringContaining('image') },
          },
        },
      });
      expect(bad.a4).toMatchObject({
        result: { type: 'errored', error: { error: { type: 'invalid_request_error' } } },
      });

      const bedrock = [
        {
          recordId: 'b1',
          modelInput: {
            anthropic_version: 'bedrock-2023-05-31',
            max_tokens: 32,
            messages: [{ role: 'user', content: 'hi bedrock' }],
          },
        },
        {
          recordId: 'b2',
          modelInput: {
            anthropic_version: 'bedrock-2023-05-31',
            max_tokens: 32,
            messages: [{ role: 'user', content: 'REFUSE' }],
          },
        },
      ];
      const tb = await inference('batch-claude', { inputs: bedrock });
      const cb = config(tb);
      expect((await run(cb)).result.exitCode).toBe(0);
      const b = batchOutputs(cb);
      expect(b.output).toEqual([
        {
          recordId: 'b1',
          modelInput: bedrock[0]?.modelInput,
          modelOutput: expect.objectContaining({
            type: 'message',
            content: [{ type: 'text', text: 'echo(batch-claude): hi bedrock' }],
          }),
        },
      ]);
      expect(b.errors).toEqual([
        {
          recordId: 'b2',
          modelInput: bedrock[1]?.modelInput,
          error: { errorCode: 400, errorMessage: expect.any(String) },
        },
      ]);
    });

    it("takes Bedrock records of Nova, Llama, Mistral and Titan bodies, and answers in each family's own body", async () => {
      await registered('batch-bedrock');
      const records = [
        {
          recordId: 'nova',
          modelInput: {
            schemaVersion: 'messages-v1',
            system: [{ text: 'Be brief' }],
            messages: [{ role: 'user', content: [{ text: 'hi nova' }] }],
            inferenceConfig: { maxTokens: 20, temperature: 0.5 },
          },
        },
        { recordId: 'llama', modelInput: { prompt: 'hi llama', max_gen_len: 20, temperature: 0.1 } },
        { recordId: 'mistral', modelInput: { prompt: '<s>[INST] hi mistral [/INST]', max_tokens: 20 } },
        {
          recordId: 'titan',
          modelInput: { inputText: 'hi titan', textGenerationConfig: { maxTokenCount: 20, topP: 0.9 } },
        },
      ];
      const before = llm.requests.length;
      const task = await inference('batch-bedrock', { inputs: records });
      const c = config(task);
      const { result, logs } = await run(c);
      expect(result.exitCode, logs.join('\n')).toBe(0);
      const { output, errors } = batchOutputs(c);
      expect(errors).toEqual([]);
      const out = Object.fromEntries(output.map((l) => [String(l.recordId), l]));
      for (const r of records) {
        expect(Object.keys(out[r.recordId] ?? {}).sort()).toEqual(['modelInput', 'modelOutput', 'recordId']);
        expect(out[r.recordId]?.modelInput).toEqual(r.modelInput);
      }
      const tokens = expect.any(Number);
      expect(out.nova?.modelOutput).toEqual({
        output: {
          message: { role: 'assistant', content: [{ text: 'echo(batch-bedrock): hi nova [Be brief]' }] },
        },
        stopReason: 'end_turn',
        usage: { inputTokens: tokens, outputTokens: tokens, totalTokens: tokens },
      });
      expect(out.llama?.modelOutput).toEqual({
        generation: 'echo(batch-bedrock): hi llama',
        prompt_token_count: 2,
        generation_token_count: 3,
        stop_reason: 'stop',
      });
      expect(out.mistral?.modelOutput).toEqual({
        outputs: [{ text: 'echo(batch-bedrock): <s>[INST] hi mistral [/INST]', stop_reason: 'stop' }],
      });
      expect(out.titan?.modelOutput).toEqual({
        inputTextTokenCount: 2,
        results: [{ tokenCount: 3, outputText: 'echo(batch-bedrock): hi titan', completionReason: 'FINISH' }],
      });
      // what the model was sent: chat for Nova, completions with each family's settings for the others
      const sent = llm.requests.slice(before).map((r) => ({ path: r.path, body: r.body }));
      expect(sent).toEqual(
        expect.arrayContaining([
          {
            path: '/chat/completions',
            body: {
              model: 'batch-bedrock',
              messages: [
                { role: 'system', content: 'Be brief' },
                { role: 'user', content: 'hi nova' },
              ],
              max_tokens: 20,
              temperature: 0.5,
            },
          },
          {
            path: '/completions',
            body: { model: 'batch-bedrock', prompt: 'hi llama', max_tokens: 20, temperature: 0.1 },
          },
          {
            path: '/completions',
            body: { model: 'batch-bedrock', prompt: 'hi titan', max_tokens: 20, top_p: 0.9 },
          },
        ]),
      );
    });

    it('waits at least what Retry-After asks on every retry, measured at the server', async () => {
      await registered('batch-429');
      llm.script.set('batch-429', { throttleEvery: 5, retryAfterSeconds: 2, delayMs: 5 });
      const inputs = Array.from({ length: 20 }, (_, i) => ({
        custom_id: `q${i}`,
        method: 'POST',
        url: '/v1/chat/completions',
        body: { messages: [{ role: 'user', content: `question ${i}` }] },
      }));
      const task = await inference('batch-429', { inputs, concurrency: 4 });
      const c = config(task);
      expect((await run(c)).result.exitCode).toBe(0);
      expect(batchOutputs(c).output).toHaveLength(20);
      const sent = llm.requests.filter((r) => r.body.model === 'batch-429');
      const throttled = sent.filter((r) => r.status === 429);
      expect(throttled.length).toBeGreaterThanOrEqual(4);
      for (const t of throttled) {
        const again = sent.find((r) => r.at > t.at && JSON.stringify(r.body) === JSON.stringify(t.body));
        expect(again, JSON.stringify(t.body)).toBeDefined();
        expect((again?.at ?? 0) - t.at).toBeGreaterThanOrEqual(2000);
      }
    });

    it('resumes after the runner is SIGKILLed twice: each line answered once, repeats no more than were in flight', async () => {
      const bundle = await bundleRunner(
        path.join(mkdtempSync(path.join(tmpdir(), 'batch-bundle-')), 'runner.mjs'),
      );
      await registered('batch-kill');
      llm.script.set('batch-kill', { delayMs: 15 });
      const N = 600;
      const concurrency = 8;
      const lines = Array.from({ length: N }, (_, i) =>
        JSON.stringify({
          custom_id: `k${i}`,
          method: 'POST',
          url: '/v1/chat/completions',
          body: { messages: [{ role: 'user', content: `line ${i}` }] },
        }),
      );
      const { PutObjectCommand } = await import('@aws-sdk/client-s3');
      await s3.send(
        new PutObjectCommand({
          Bucket: stack.bucketName,
          Key: 'inputs/kill.jsonl',
          Body: `${lines.join('\n')}\n`,
        }),
      );
      const task = await startedTask({
        type: 'inference',
        params: {
          model: 'batch-kill',
          kind: 'custom',
          inputsUri: `s3://${stack.bucketName}/inputs/kill.jsonl`,
          concurrency,
        } as never,
        roleArn: 'arn:aws:iam::123456789012:role/ml-inputs-reader',
      });
      const sent = () => llm.requests.filter((r) => r.body.model === 'batch-kill').length;
      const attempt = async (killAt?: number) => {
        const t = await mustGet(store, task.taskId);
        const c = config(t);
        const child = spawn(process.execPath, [bundle], {
          env: runnerProcessEnv(c),
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let output = '';
        for (const st of [child.stdout, child.stderr]) st.on('data', (d) => (output += String(d)));
        const closed = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
        if (killAt !== undefined) {
          while (sent() < killAt && child.exitCode === null) await new Promise((r) => setTimeout(r, 5));
          child.kill('SIGKILL');
        }
        const code = await closed;
        return { c, code, output };
      };
      const next = async (exitCode: number) => {
        const d = await steps.attemptFailed(stepDeps, {
          taskId: task.taskId,
          error: {
            Error: 'States.TaskFailed',
            Cause: JSON.stringify({ Containers: [{ ExitCode: exitCode }] }),
          },
        });
        expect(d.action).toBe('retry');
        await steps.startAttempt(stepDeps, task.taskId);
      };
      const first = await attempt(150);
      expect(first.code).toBeNull(); // killed midway, not finished
      await next(137);
      const before = sent();
      const second = await attempt(before + 200);
      expect(second.code).toBeNull();
      await next(137);
      const last = await attempt();
      expect(last.code, last.output.slice(-2000)).toBe(0);
      // the third attempt took up where the second was killed
      const resumed = Number(/(\d+) already answered by an earlier attempt/.exec(last.output)?.[1]);
      expect(resumed).toBeGreaterThan(300);
      expect(resumed).toBeLessThan(N);
      const { output, errors } = batchOutputs(last.c);
      expect(errors).toEqual([]);
      expect(output).toHaveLength(N);
      expect(new Set(output.map((l) => l.custom_id)).size).toBe(N);
      // at each kill, at most the requests in flight were lost, and are all the server saw again
      expect(sent() - N).toBeLessThanOrEqual(2 * concurrency);
      const t = await mustGet(store, task.taskId);
      expect(t.metrics).toMatchObject({ requests: N, succeeded: N, failed: 0 });
    });
  });
});

/**
 * Data in: a task's dataset and inputs (S3 and http) are downloaded before the workload starts, the
 * reference trainers train on the dataset, and an input that is not there ends the attempt before any
 * work with a reason naming it.
 */
describe('data in', () => {
  const csv = [
    'sepal,petal,width,species',
    ...Array.from({ length: 240 }, (_, i) => {
      const k = i % 3;
      const r = (n: number) => ((i * 7919 + n * 104729) % 1000) / 1000;
      return `${(k + r(1)).toFixed(3)},${(2 * k + r(2)).toFixed(3)},${r(3).toFixed(3)},${['setosa', 'versicolor', 'virginica'][k]}`;
    }),
  ].join('\n');
  let datasetUri: string;
  let site: import('node:http').Server;
  let siteUrl: string;

  beforeAll(async () => {
    const { PutObjectCommand } = await import('@aws-sdk/client-s3');
    await s3.send(
      new PutObjectCommand({ Bucket: stack.bucketName, Key: 'datasets/iris.csv', Body: `${csv}\n` }),
    );
    datasetUri = `s3://${stack.bucketName}/datasets/iris.csv`;
    const { createServer } = await import('node:http');
    site = createServer((req, res) => {
      if (req.url === '/vocab.txt') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('hello\nworld\n');
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((r) => site.listen(0, '127.0.0.1', r));
    siteUrl = `http://127.0.0.1:${(site.address() as import('node:net').AddressInfo).port}`;
    return () => site.close();
  });

  const training = (params: object, extra: Partial<TaskSpec> = {}) =>
    startedTask({
      type: 'training',
      params: { epochs: 3, batchSize: 32, learningRate: 0.01, ...params },
      ...extra,
    } as TaskSpec);

  it('downloads the dataset and inputs first, and the trainer trains on the dataset, saying so', async () => {
    const task = await training(
      { dataset: datasetUri, model: 'mlp-small' },
      { inputs: [`${siteUrl}/vocab.txt`] },
    );
    const c = config(task);
    const { result, output, logs } = await run(c);
    expect(result.exitCode).toBe(0);
    expect(output).toContain(`dataset: ${datasetUri} (240 rows, 3 features, label 'species' with 3 classes)`);
    expect(output).not.toContain('generated data');
    expect(logs.join('\n')).toMatch(/input 1\/2: s3:\/\/.*iris\.csv .* -> .*iris\.csv/);
    expect(readFileSync(path.join(c.outputDir, '..', 'input', 'vocab.txt'), 'utf8')).toBe('hello\nworld\n');
    const done = await mustGet(store, task.taskId);
    expect(done.metrics?.accuracy).toBeGreaterThan(0.5);

    // the same trainer without a dataset says it trains on generated data
    const bare = await training({ model: 'mlp-small' });
    const b = await run(config(bare));
    expect(b.output).toContain('no dataset given: training on generated data');
  });

  it('trains a scikit-learn model (linear and gradient-boosted trees) on the dataset and saves it', async () => {
    for (const algorithm of ['linear', 'gbt']) {
      const task = await training({ dataset: datasetUri, trainer: 'sklearn', algorithm, epochs: 4 });
      const { result, output } = await run(config(task));
      expect(result.exitCode, output).toBe(0);
      expect(output).toContain('"trainer": "sklearn"');
      expect(output).toMatch(/Epoch 4\/4 loss=\d/);
      expect(await keys(`tasks/${task.taskId}/`)).toContain(`tasks/${task.taskId}/model.pkl`);
      expect((await mustGet(store, task.taskId)).metrics?.accuracy).toBeGreaterThan(0.5);
    }
  });

  it('ends the attempt before any work when an input is not there, naming it; a bad label column is named too', async () => {
    const missing = `s3://${stack.bucketName}/datasets/missing.csv`;
    const task = await training({ dataset: missing });
    const { result, output } = await run(config(task));
    expect(result.exitCode).toBe(77);
    expect(result.ending).toEqual({ kind: 'inputs-unavailable' });
    expect(output).not.toContain('Epoch');
    const rec = await mustGet(store, task.taskId);
    expect(rec.runnerNote).toEqual({
      attempt: 1,
      text: expect.stringMatching(new RegExp(`the input ${missing} could not be read: NoSuchKey`)),
    });

    const http404 = await training({ model: 'mlp-small' }, { inputs: [`${siteUrl}/nope.bin`] });
    const h = await run(config(http404));
    expect(h.result.exitCode).toBe(77);
    expect((await mustGet(store, http404.taskId)).runnerNote?.text).toMatch(
      /nope\.bin could not be read: HTTP 404/,
    );

    const badLabel = await training({ dataset: datasetUri, labelColumn: 'colour' });
    const l = await run(config(badLabel));
    expect(l.result.exitCode).toBe(2);
    expect((await mustGet(store, badLabel.taskId)).runnerNote?.text).toMatch(
      /no column 'colour' \(labelColumn\)/,
    );
  });
});

describe("the README's own-trainer example", () => {
  const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const code = /A trainer of your own is any command[\s\S]*?```python\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'own-trainer-')), 'train.py');

  it('runs under the runner: progress and metrics recorded, model uploaded; without data it fails saying why', async () => {
    expect(code).toContain('##trainstack');
    writeFileSync(file, code);
    const withData = await startedTask({
      type: 'container',
      image: 'mine',
      params: {},
      command: ['python3', file],
      inputs: [`s3://${stack.bucketName}/datasets/iris.csv`],
    } as TaskSpec);
    // a container task's dataset is one of its inputs: point the example at it
    const c = config(withData);
    const r = await run(c, undefined, {});
    // no TRAINSTACK_DATASET for container tasks: the example says it needs a dataset
    expect(r.result.exitCode).toBe(2);
    expect((await mustGet(store, withData.taskId)).runnerNote?.text).toBe('this trainer needs a dataset');

    const training = await startedTask({
      type: 'training',
      params: {
        epochs: 4,
        batchSize: 8,
        learningRate: 0.1,
        dataset: `s3://${stack.bucketName}/datasets/iris.csv`,
      },
      command: ['python3', file],
    } as TaskSpec);
    const t = await run(config(training));
    expect(t.result.exitCode).toBe(0);
    const rec = await mustGet(store, training.taskId);
    expect(rec.progress).toBe(100);
    expect(rec.metrics).toMatchObject({ loss: 0.25, epoch: 4 });
    expect(await keys(`tasks/${training.taskId}/`)).toContain(`tasks/${training.taskId}/model.txt`);
  });
});

describe('resource usage while it runs', () => {
  it('is in the record during the run (memory, CPU), not only at the end', async () => {
    const task = await startedTask({
      type: 'container',
      image: 'x',
      params: {},
      command: [
        'python3',
        '-c',
        'import time\nx = bytearray(200 * 1024 * 1024)\nfor i in range(len(x) // 4096): x[i * 4096] = 1\nt = time.time()\nwhile time.time() - t < 2.5: pass',
      ],
    } as TaskSpec);
    const running = run(config(task, { usageIntervalMs: 300 }));
    const during = await waitUntil(async () => {
      const t = await mustGet(store, task.taskId);
      return t.status === 'RUNNING' && (t.resourceUsage?.peakMemoryMiB ?? 0) >= 150 ? t : undefined;
    }, 10_000);
    expect(during.resourceUsage?.cpuSeconds).toBeGreaterThan(0);
    const { result } = await running;
    expect(result.exitCode).toBe(0);
    expect(result.usage?.cpuSeconds).toBeGreaterThanOrEqual(during.resourceUsage?.cpuSeconds ?? 0);
  });
});

async function waitUntil<T>(probe: () => Promise<T | undefined>, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('not in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}
