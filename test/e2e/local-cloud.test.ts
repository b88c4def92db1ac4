/**
 * End to end over real HTTP against `npm start`'s machinery (the local cloud), with the concurrency
 * cap at 1: the seed 000 walkthrough, success, failure with retries, timeout, cancel, priority,
 * duplicate delivery, stats after a mixed run, and a restart with a data folder.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { getPriority, tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signed } from '../../bin/cli.ts';
import { chromiumPath } from '../../containers/agent/src/tools/browser.ts';
import { readSse } from '../../lambdas/domain/events.ts';
import type { TaskRecord } from '../../lambdas/domain/model.ts';
import { REPO_ROOT } from '../../lib/function.ts';
import { DEFAULT_TASK_NICE, type LocalCloud, startLocalCloud } from '../../lib/local/cloud.ts';
import { alive, http, waitFor } from '../support/http.ts';

const dataDir = mkdtempSync(path.join(tmpdir(), 'trainstack-e2e-'));
const options = {
  apiPort: 0,
  awsPort: 0,
  dataDir,
  context: { maxConcurrentTasks: 1 },
  waitOverrideMs: 200,
  tickMs: 1000,
  stopGraceSeconds: 3,
  functionLogLevel: 'ERROR' as const,
  identities: [
    {
      accessKeyId: 'AKIDALICE',
      secretAccessKey: 'alice-secret',
      arn: 'arn:aws:iam::000000000000:user/alice',
    },
    { accessKeyId: 'AKIDBOB', secretAccessKey: 'bob-secret', arn: 'arn:aws:iam::000000000000:user/bob' },
  ],
};
/** Screenshots and the like, kept after the run (ignored by git) */
const ARTIFACTS = path.join(REPO_ROOT, '.local', 'test-artifacts');
let cloud: LocalCloud;
let api: <T = Record<string, unknown>>(
  method: string,
  p: string,
  body?: unknown,
) => Promise<{ status: number; body: T }>;

async function boot() {
  cloud = await startLocalCloud(options);
  // a restart keeps the endpoint's port, as a user's tools would expect
  options.awsPort = Number(new URL(cloud.endpoint).port);
  api = (method, p, body) => http(cloud.apiUrl, method, p, body);
}

beforeAll(boot);
afterAll(async () => {
  await cloud?.stop();
});

const sh = (script: string, extra: object = {}) => ({
  type: 'container',
  image: 'busybox',
  command: ['sh', '-c', script],
  ...extra,
});
const get = async (id: string) => (await api<TaskRecord>('GET', `/v1/tasks/${id}`)).body;
const submit = async (body: object) => {
  const r = await api<TaskRecord>('POST', '/v1/tasks', body);
  expect(r.status).toBe(202);
  return r.body.taskId;
};
const finished = (id: string, timeoutMs = 60_000) =>
  waitFor(
    `task ${id} to finish`,
    async () => {
      const t = await get(id);
      return ['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(t.status) ? t : undefined;
    },
    timeoutMs,
  );
/** The workload's pid, which it prints as its first line. */
const pidOf = (id: string) =>
  waitFor(`pid of ${id}`, async () => {
    const logs = await api<{ lines: { message: string }[] }>('GET', `/v1/tasks/${id}/logs`);
    const m = logs.body.lines.map((l) => /^pid=(\d+)$/.exec(l.message)).find(Boolean);
    return m ? Number(m[1]) : undefined;
  });

/** Debian's Chromium, headless, through Playwright (.ci/run installs it). */
async function launchChromium() {
  const { chromium } = await import('playwright-core');
  const executablePath = chromiumPath();
  if (!executablePath) throw new Error('no Chromium (apt-get install chromium; .ci/run installs it)');
  return chromium.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
}

describe('the local cloud', () => {
  it('walks through seed 000 with its own curl bodies', async () => {
    const sub = await api<{ task_id: string; status: string; message: string }>('POST', '/train', {
      epochs: 5,
      batch_size: 32,
      learning_rate: 0.001,
    });
    expect(sub.status).toBe(200);
    expect(sub.body).toMatchObject({ status: 'pending', message: 'Training task submitted successfully' });
    const got = await api<{ task_id: string; epochs: number }>('GET', `/train/${sub.body.task_id}`);
    expect(got.body).toMatchObject({
      task_id: sub.body.task_id,
      epochs: 5,
      batch_size: 32,
      learning_rate: 0.001,
    });
    const done = await finished(sub.body.task_id);
    expect(done.status).toBe('SUCCEEDED');
    const list = await api<{ total: number; tasks: { task_id: string; status: string }[] }>(
      'GET',
      '/train?status=success&limit=10',
    );
    expect(list.body.tasks.map((t) => t.task_id)).toContain(sub.body.task_id);
    const again = await api<{ task_id: string }>('POST', '/train', {
      epochs: 200,
      batch_size: 32,
      learning_rate: 0.001,
    });
    const del = await api<{ status: string }>('DELETE', `/train/${again.body.task_id}`);
    expect(del.body.status).toBe('cancelled');
    const stats = await api<Record<string, number>>('GET', '/stats');
    expect(stats.body).toMatchObject({ success: 1, cancelled: 1, failed: 0, success_rate: 100 });
  });

  it('runs a training task through STARTING and RUNNING to SUCCEEDED with logs, progress and outputs', async () => {
    const id = await submit({
      type: 'training',
      name: '訓練 e2e',
      params: { epochs: 4, batchSize: 64, learningRate: 0.01 },
    });
    const seen: string[] = ['QUEUED'];
    await waitFor(
      'success',
      async () => {
        const t = await get(id);
        if (seen.at(-1) !== t.status) seen.push(t.status);
        return t.status === 'SUCCEEDED';
      },
      60_000,
      20,
    );
    const order = ['QUEUED', 'STARTING', 'RUNNING', 'SUCCEEDED'];
    expect(seen.map((s) => order.indexOf(s))).toEqual([...seen.map((s) => order.indexOf(s))].sort());
    expect(seen).toContain('RUNNING');
    const t = await get(id);
    expect(t).toMatchObject({ progress: 100, name: '訓練 e2e' });
    expect(t.metrics?.loss).toBeGreaterThan(0);
    const logs = await api<{ lines: { message: string }[]; cursor: string }>('GET', `/v1/tasks/${id}/logs`);
    const epochs = logs.body.lines.map((l) => /^Epoch (\d+)\/4/.exec(l.message)?.[1]).filter(Boolean);
    expect(epochs).toEqual(['1', '2', '3', '4']);
    const s3 = new S3Client({
      endpoint: cloud.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    });
    const objects = await s3.send(
      new ListObjectsV2Command({ Bucket: cloud.bucketName, Prefix: `tasks/${id}/` }),
    );
    expect(objects.Contents?.map((o) => o.Key?.split('/').pop()).sort()).toEqual([
      'metrics.json',
      'model.pt',
    ]);
    const artifacts = await api<{ artifacts: { key: string; url: string }[] }>(
      'GET',
      `/v1/tasks/${id}/artifacts`,
    );
    const metrics = artifacts.body.artifacts.find((a) => a.key.endsWith('/metrics.json'));
    const downloaded = (await (await fetch(metrics?.url ?? '')).json()) as { epochs: number };
    expect(downloaded.epochs).toBe(4);
  });

  it('retries a failing task maxRetries times, then FAILED with every attempt and its exit code', async () => {
    const id = await submit(
      sh('echo "attempt $TRAINSTACK_ATTEMPT"; echo "niceness $(nice)"; exit 7', { maxRetries: 2 }),
    );
    const t = await finished(id);
    expect(t.status).toBe('FAILED');
    expect(t.attempts.map((a) => a.exitCode)).toEqual([7, 7, 7]);
    // a log cursor CloudWatch would reject is a 400 on cursor, not a 500
    for (const cursor of ['garbage', 'f/-1']) {
      const bad = await api<{ error: { details: { path: string }[] } }>(
        'GET',
        `/v1/tasks/${id}/logs?cursor=${encodeURIComponent(cursor)}`,
      );
      expect(bad.status, cursor).toBe(400);
      expect(bad.body.error.details[0]?.path).toBe('cursor');
    }
    expect(t.statusReason).toMatch(/failed after 3 attempt\(s\): exit code 7/);
    const third = await api<{ lines: { message: string }[] }>('GET', `/v1/tasks/${id}/logs?attempt=3`);
    expect(third.body.lines.map((l) => l.message)).toContain('attempt 3');
    // tasks run at a lower CPU priority than the local cloud, so its API answers while they keep the cores busy
    expect(third.body.lines.map((l) => l.message)).toContain(
      `niceness ${Math.min(19, getPriority() + DEFAULT_TASK_NICE)}`,
    );
  });

  it('fails a task past its timeout with reason timeout, and its process is gone', async () => {
    // timeoutSeconds is at least 60 through the API: write a short one to the record for the test
    const { DynamoTaskRepository } = await import('../../lambdas/clients/dynamodb-tasks.ts');
    const { documentClient } = await import('../../lambdas/clients/dynamodb.ts');
    const store = new DynamoTaskRepository(documentClient(cloud.clientConfig), cloud.tableName);
    const { newTaskRecord } = await import('../../lambdas/domain/tasks.ts');
    const spec = {
      type: 'container',
      image: 'busybox',
      params: {},
      command: ['sh', '-c', 'echo "pid=$$"; exec sleep 120'],
      priority: 5,
      timeoutSeconds: 3,
      maxRetries: 2,
      gpus: 0,
    } as const;
    const { task } = await store.create(
      newTaskRecord({ ...spec, command: [...spec.command] }, cloud.caller, new Date()),
    );
    const taskId = task.taskId;
    await cloud.dispatchNow();
    const pid = await pidOf(taskId);
    const t = await finished(taskId);
    expect(t.status).toBe('FAILED');
    expect(t.statusReason).toMatch(/timed out after 3 s/);
    expect(t.attempts).toHaveLength(1);
    await waitFor('the process to go', async () => !alive(pid), 10_000);
  });

  it('never starts a task cancelled while queued, and stops a running one within the grace period', async () => {
    const running = await submit(sh('echo "pid=$$"; exec sleep 120'));
    const queued = await submit(sh('echo never'));
    const pid = await pidOf(running);
    expect((await api('POST', `/v1/tasks/${queued}/cancel`)).status).toBe(200);
    const c = await api<TaskRecord>('POST', `/v1/tasks/${running}/cancel`);
    expect(c.body.status).toBe('CANCELLED');
    await waitFor('the cancelled process to go', async () => !alive(pid), 3000 + 2000);
    const q = await get(queued);
    expect(q.status).toBe('CANCELLED');
    expect(q.attempts).toEqual([]);
    expect((await api('POST', `/v1/tasks/${running}/cancel`)).status).toBe(409);
  });

  it('runs a FAILED and a CANCELLED task again on retry, and five retries in a row never wedge the cap of 1', async () => {
    const failing = await submit(sh('echo "run $TRAINSTACK_ATTEMPT"; exit 3', { maxRetries: 0 }));
    expect((await finished(failing)).status).toBe('FAILED');
    const cancelled = await submit(sh('sleep 30'));
    await waitFor('the sleeper to run', async () => (await get(cancelled)).status === 'RUNNING');
    expect((await api('POST', `/v1/tasks/${cancelled}/cancel`)).status).toBe(200);
    await finished(cancelled);
    for (let i = 0; i < 5; i++) {
      expect((await api('POST', `/v1/tasks/${failing}/retry`)).status).toBe(202);
      const again = await finished(failing);
      expect(again.status).toBe('FAILED');
      expect(again.attempts).toHaveLength(i + 2);
    }
    // the cancelled sleeper runs again too, to its own end
    await api('POST', `/v1/tasks/${cancelled}/retry`);
    await waitFor('the sleeper to run again', async () => (await get(cancelled)).status === 'RUNNING');
    await api('POST', `/v1/tasks/${cancelled}/cancel`);
    const back = await finished(cancelled);
    expect(back.attempts).toHaveLength(2);
    // and the single slot is free for a new task
    const fresh = await submit(sh('echo fresh'));
    expect((await finished(fresh)).status).toBe('SUCCEEDED');
  });

  it('records a SIGKILLed runner as an infrastructure loss, leaves no orphan, and runs the task again', async () => {
    const id = await submit(sh('echo "pid=$$"; exec sleep 120', { maxRetries: 0 }));
    const workload = await pidOf(id);
    const arn = (await get(id)).attempts[0]?.ecsTaskArn ?? '';
    const runner = cloud.ecs.runnerPid(arn);
    expect(runner).toBeTruthy();
    process.kill(runner ?? 0, 'SIGKILL');
    await waitFor('the workload to be gone with its runner', async () => !alive(workload), 10_000);
    const again = await waitFor('a second attempt', async () => {
      const t = await get(id);
      return t.attempts.length >= 2 ? t : undefined;
    });
    expect(again.attempts[0]).toMatchObject({ outcome: 'infrastructure', exitCode: 137 });
    expect(again.attempts[0]?.reason).toMatch(/runner was killed/);
    expect(again.retryCount).toBe(0); // maxRetries 0, and it still runs again: infrastructure is not counted
    await api('POST', `/v1/tasks/${id}/cancel`);
    expect((await finished(id)).status).toBe('CANCELLED');
  });

  it('verifies signed requests: each local identity owns its tasks, a bad signature is a 403, the CLI signs', async () => {
    const [alice, bob] = options.identities as [
      { accessKeyId: string; secretAccessKey: string; arn: string },
      { accessKeyId: string; secretAccessKey: string; arn: string },
    ];
    const as = async (
      who: { accessKeyId: string; secretAccessKey: string },
      method: string,
      p: string,
      body?: object,
    ) => {
      const url = new URL(p, cloud.apiUrl);
      const text = body === undefined ? undefined : JSON.stringify(body);
      const headers = await signed(
        url,
        method,
        text,
        text ? { 'content-type': 'application/json' } : {},
        async () => who,
      );
      const r = await fetch(url, { method, headers, ...(text ? { body: text } : {}) });
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    };
    const created = await as(alice, 'POST', '/v1/tasks', sh('sleep 30'));
    expect(created.status).toBe(202);
    expect(created.body.owner).toBe(alice.arn);
    const id = String(created.body.taskId);
    expect((await as(alice, 'GET', `/v1/tasks/${id}`)).status).toBe(200);
    expect((await as(bob, 'GET', `/v1/tasks/${id}`)).status).toBe(404);
    expect((await as(bob, 'POST', `/v1/tasks/${id}/cancel`)).status).toBe(404);
    expect((await api('GET', `/v1/tasks/${id}`)).status).toBe(404); // unsigned: the default local user
    const forged = await as(
      { accessKeyId: alice.accessKeyId, secretAccessKey: 'guess' },
      'GET',
      `/v1/tasks/${id}`,
    );
    expect(forged.status).toBe(403);
    expect(forged.body).toMatchObject({ error: { code: 'InvalidSignature' } });
    // the CLI signs with the credentials in its environment, so it acts as alice here
    const cli = (who: typeof alice, ...args: string[]) =>
      promisify(execFile)(
        path.join(REPO_ROOT, 'node_modules', '.bin', 'tsx'),
        [path.join(REPO_ROOT, 'bin', 'cli.ts'), '--endpoint', cloud.apiUrl, ...args],
        {
          encoding: 'utf8',
          env: {
            ...process.env,
            AWS_ACCESS_KEY_ID: who.accessKeyId,
            AWS_SECRET_ACCESS_KEY: who.secretAccessKey,
          },
        },
      );
    expect(JSON.parse((await cli(alice, 'show', id)).stdout).owner).toBe(alice.arn);
    await expect(cli(bob, 'show', id)).rejects.toThrow(/404|not found/i);
    expect((await as(alice, 'POST', `/v1/tasks/${id}/cancel`)).body.status).toBe('CANCELLED');
  });

  it('runs a later priority-9 task before earlier priority-1 tasks (cap 1)', async () => {
    const blocker = await submit(sh('sleep 1.5', { priority: 5 }));
    await waitFor('blocker running', async () => (await get(blocker)).status === 'RUNNING');
    const low = [await submit(sh('true', { priority: 1 })), await submit(sh('true', { priority: 1 }))];
    const high = await submit(sh('true', { priority: 9 }));
    const all = await Promise.all([blocker, ...low, high].map((id) => finished(id)));
    const started = (id: string) =>
      Date.parse(all.find((t) => t.taskId === id)?.attempts[0]?.startedAt ?? '');
    for (const l of low) expect(started(high)).toBeLessThan(started(l));
    expect(started(low[0] ?? '')).toBeLessThan(started(low[1] ?? ''));
  });

  it('starts one execution when the same message is delivered twice', async () => {
    const blocker = await submit(sh('sleep 1'));
    const id = await submit(sh('echo once'));
    const sqs = new SQSClient({
      endpoint: cloud.endpoint,
      region: 'us-east-1',
      useQueueUrlAsEndpoint: false,
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    });
    const body = JSON.stringify({ taskId: id, why: 'submitted' });
    await sqs.send(new SendMessageCommand({ QueueUrl: cloud.queueUrl, MessageBody: body }));
    await sqs.send(new SendMessageCommand({ QueueUrl: cloud.queueUrl, MessageBody: body }));
    await finished(blocker);
    const t = await finished(id);
    expect(t.status).toBe('SUCCEEDED');
    expect(t.attempts).toHaveLength(1);
    const logs = await api<{ lines: { message: string }[] }>('GET', `/v1/tasks/${id}/logs`);
    expect(logs.body.lines.filter((l) => l.message === 'once')).toHaveLength(1);
  });

  it('keeps stats equal to the records after a mixed run of 50 tasks', async () => {
    const endpointSawBefore = new Map(cloud.requests);
    const ids: string[] = [];
    for (let i = 0; i < 50; i++) {
      const kind = i % 5;
      ids.push(
        await submit(kind === 0 ? sh('exit 1', { maxRetries: 0 }) : sh('true', { name: `mixed-${i}` })),
      );
      if (kind === 4) await api('POST', `/v1/tasks/${ids.at(-1)}/cancel`);
    }
    await Promise.all(ids.map((id) => finished(id, 150_000)));
    const records: TaskRecord[] = [];
    let cursor: string | undefined;
    do {
      const page = await api<{ tasks: TaskRecord[]; cursor?: string }>(
        'GET',
        `/v1/tasks?limit=100${cursor ? `&cursor=${cursor}` : ''}`,
      );
      records.push(...page.body.tasks);
      cursor = page.body.cursor;
    } while (cursor);
    const stats = (
      await api<{ total: number; byStatus: Record<string, number>; running: number }>('GET', '/v1/stats')
    ).body;
    expect(stats.total).toBe(records.length);
    for (const [status, n] of Object.entries(stats.byStatus))
      expect(n, status).toBe(records.filter((r) => r.status === status).length);
    expect(stats.byStatus.FAILED).toBeGreaterThanOrEqual(10);
    expect(stats.running).toBe(0);
    // the functions and runners read and wrote all that straight to DynamoDB Local, not through the one
    // endpoint (its busiest thread): it saw no DynamoDB request during the run
    expect(
      [...cloud.requests].filter(
        ([k, n]) => k.startsWith('dynamodb:') && n !== (endpointSawBefore.get(k) ?? 0),
      ),
    ).toEqual([]);
  });

  it('answers the real aws CLI on its endpoint', async () => {
    const env = {
      ...process.env,
      AWS_ACCESS_KEY_ID: 'x',
      AWS_SECRET_ACCESS_KEY: 'x',
      AWS_DEFAULT_REGION: 'us-east-1',
    };
    // asynchronously: the endpoint answering the CLI runs in this very process
    const aws = async (...args: string[]) =>
      (
        await promisify(execFile)('aws', ['--endpoint-url', cloud.endpoint, ...args], {
          env,
          encoding: 'utf8',
        })
      ).stdout;
    expect(await aws('s3', 'ls')).toContain(cloud.bucketName);
    expect(await aws('s3', 'ls', '--recursive', `s3://${cloud.bucketName}/tasks/`)).toContain('metrics.json');
    expect(JSON.parse(await aws('dynamodb', 'list-tables')).TableNames).toContain(cloud.tableName);
    expect(await aws('sqs', 'list-queues')).toContain(cloud.queueUrl.split('/').pop());
    expect(
      JSON.parse(await aws('logs', 'describe-log-groups')).logGroups.map(
        (g: { logGroupName: string }) => g.logGroupName,
      ),
    ).toContain(cloud.logGroupName);
  });

  it('is usable from the trainstack CLI: submit, show, logs, stats', async () => {
    const cli = async (...args: string[]) =>
      (
        await promisify(execFile)(
          path.join(REPO_ROOT, 'node_modules', '.bin', 'tsx'),
          [path.join(REPO_ROOT, 'bin', 'cli.ts'), '--endpoint', cloud.apiUrl, ...args],
          { encoding: 'utf8' },
        )
      ).stdout;
    const submitSh = async (script: string, ...options: string[]) =>
      JSON.parse(
        await cli(
          'submit',
          '--type',
          'container',
          '--image',
          'busybox',
          ...options,
          '--',
          'sh',
          '-c',
          script,
        ),
      ) as TaskRecord;
    const submitted = await submitSh('echo from-cli', '--name', 'από το CLI');
    expect(submitted).toMatchObject({ status: 'QUEUED', name: 'από το CLI' });
    await finished(submitted.taskId);
    expect(JSON.parse(await cli('show', submitted.taskId)).status).toBe('SUCCEEDED');
    expect(await cli('logs', submitted.taskId)).toContain('from-cli');
    // --output json: what a script reads (the list as the API gives it, log lines as JSON lines)
    const listed = JSON.parse(await cli('--output', 'json', 'list', '--limit', '100')) as {
      tasks: { taskId: string }[];
    };
    expect(listed.tasks.map((t) => t.taskId)).toContain(submitted.taskId);
    const jsonLogs = (await cli('--output', 'json', 'logs', submitted.taskId))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { message: string; level: string; timestamp: number });
    expect(jsonLogs.find((l) => l.message === 'from-cli')).toMatchObject({
      level: 'INFO',
      timestamp: expect.any(Number),
    });
    await expect(cli('--output', 'yaml', 'list')).rejects.toThrow(/Allowed choices are text, json/);
    expect(JSON.parse(await cli('stats')).byStatus.SUCCEEDED).toBeGreaterThan(0);
    await expect(cli('submit', '--priority', '11')).rejects.toThrow(/priority/);
    // --wait: the task when it ends, and an exit code a script can use
    expect((await submitSh('echo waited', '--wait')).status).toBe('SUCCEEDED');
    await expect(submitSh('exit 3', '--wait', '--max-retries', '0')).rejects.toMatchObject({
      code: 1,
      stdout: expect.stringContaining('"status": "FAILED"'),
    });
    expect(await cli('list', '--status', 'SUCCEEDED', '--limit', '100')).toContain(submitted.taskId);
    // --follow on a running task prints lines as they come and returns when the task ends
    const slow = await submitSh('echo one; sleep 1.5; echo two');
    await waitFor('slow running', async () => (await get(slow.taskId)).status === 'RUNNING');
    const followed = await promisify(execFile)(
      path.join(REPO_ROOT, 'node_modules', '.bin', 'tsx'),
      [path.join(REPO_ROOT, 'bin', 'cli.ts'), '--endpoint', cloud.apiUrl, 'logs', slow.taskId, '--follow'],
      { encoding: 'utf8' },
    );
    expect(followed.stdout.indexOf('one')).toBeLessThan(followed.stdout.indexOf('two'));
    // through the event stream, which says how the task ended
    expect(followed.stderr).toContain(`task ${slow.taskId} SUCCEEDED`);
    expect((await get(slow.taskId)).status).toBe('SUCCEEDED');
    await expect(cli('cancel', slow.taskId)).rejects.toThrow(/409/);
    const batch = path.join(dataDir, 'tasks.jsonl');
    writeFileSync(
      batch,
      '{"type": "container", "image": "busybox", "command": ["sleep", "5"], "name": "计算阶乘"}\n{"task_id": "x", "task_type": "code", "description": "计算5的阶乘"}\n{"task_type": "poetry"}\n',
    );
    const answer = JSON.parse(await cli('batch', batch)) as {
      accepted: { name: string }[];
      rejected: { line: number; error: { details: { path: string }[] } }[];
    };
    expect(answer.accepted.map((a) => a.name)).toEqual(['计算阶乘']);
    expect(answer.rejected.map((r) => r.line)).toEqual([2, 3]);
    expect(answer.rejected[0]?.error.details[0]?.path).toBe('params.model'); // no model named or registered
    await api('POST', `/v1/tasks/${(answer.accepted[0] as { taskId?: string }).taskId}/cancel`);
    // batch --wait: progress on stderr until every task has ended; non-zero when one did not succeed
    const waited = path.join(dataDir, 'waited.jsonl');
    writeFileSync(
      waited,
      ['echo fine', 'exit 3']
        .map((script) => JSON.stringify({ ...sh(script, { maxRetries: 0 }), name: `waited: ${script}` }))
        .join('\n'),
    );
    const failedBatch = await promisify(execFile)(
      path.join(REPO_ROOT, 'node_modules', '.bin', 'tsx'),
      [path.join(REPO_ROOT, 'bin', 'cli.ts'), '--endpoint', cloud.apiUrl, 'batch', waited, '--wait'],
      { encoding: 'utf8' },
    ).then(
      () => undefined,
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    expect(failedBatch?.code).toBe(1);
    const waitedBatch = JSON.parse(failedBatch?.stdout ?? '{}') as {
      batch: { byStatus: Record<string, number> };
    };
    expect(waitedBatch.batch.byStatus).toEqual({ SUCCEEDED: 1, FAILED: 1 });
    expect(failedBatch?.stderr).toMatch(/batch \w+ .*2\/2/);

    // the model registry: add, list, offline, online, rm; an inference task names a model
    const added = JSON.parse(
      await cli(
        'models',
        'add',
        'cli-llm',
        '--type',
        'local',
        '--base-url',
        'http://127.0.0.1:8000/v1',
        '--model',
        'llama',
        '--max-workers',
        '2',
        '--api-key',
        'ssm:/trainstack/llm-key',
      ),
    ) as { modelId: string; maxWorkers: number };
    expect(added.maxWorkers).toBe(2);
    expect(await cli('models', 'list')).toMatch(new RegExp(`${added.modelId}\\s+online\\s+0/2\\s+cli-llm`));
    expect(JSON.parse(await cli('models', 'offline', 'cli-llm')).status).toBe('offline');
    expect(JSON.parse(await cli('models', 'online', added.modelId)).status).toBe('online');
    await expect(
      cli(
        'models',
        'add',
        'cli-llm-2',
        '--base-url',
        'http://x/v1',
        '--model',
        'm',
        '--api-key',
        'sk-raw-key',
      ),
    ).rejects.toThrow(/apiKey/);
    await expect(cli('submit', '--type', 'inference', '--model', 'nope', '--input', 'hi')).rejects.toThrow(
      /params\.model/,
    );
    const inference = JSON.parse(
      await cli('submit', '--type', 'inference', '--model', 'cli-llm', '--input', 'hi'),
    ) as TaskRecord;
    expect(inference).toMatchObject({ type: 'inference', status: 'QUEUED' });
    // its API key is a secret this local cloud was not given: the task ends at once and says so
    const ended = await finished(inference.taskId);
    expect(ended.status).toBe('FAILED');
    expect(ended.statusReason).toMatch(/secret, the role, the model or the inputs/);
    // the tasks that call it, by its name
    expect((await cli('list', '--model', 'cli-llm', '--limit', '100')).trim().split('\n')).toEqual([
      expect.stringMatching(new RegExp(`^${inference.taskId}\\s+FAILED\\s+inference`)),
    ]);
    await expect(cli('list', '--model', 'no-such-llm')).rejects.toThrow(/model: no registered model/);
    expect(await cli('models', 'rm', 'cli-llm')).toContain('removed cli-llm');
    expect(await cli('models', 'list')).not.toContain('cli-llm');
  });

  it('refuses a second start on a port that is taken, and says so', async () => {
    await expect(startLocalCloud({ ...options, dataDir: undefined, apiPort: 0 })).rejects.toThrow(
      /port \d+ is taken/,
    );
  });

  it('runs tasks queued before a restart after it (data folder)', async () => {
    const long = await submit(
      sh('if [ "$TRAINSTACK_ATTEMPT" = 1 ]; then echo "pid=$$"; exec sleep 120; fi; echo resumed', {
        maxRetries: 0,
      }),
    );
    const pid = await pidOf(long);
    const queued = [await submit(sh('echo after-restart')), await submit(sh('echo after-restart'))];
    expect((await get(queued[0] ?? '')).status).toBe('QUEUED');
    await cloud.stop();
    expect(alive(pid)).toBe(false);
    await boot();
    for (const id of queued) expect((await finished(id)).status).toBe('SUCCEEDED');
    const t = await finished(long);
    expect(t.status).toBe('SUCCEEDED');
    expect(t.retryCount).toBe(0);
    expect(t.attempts.map((a) => a.outcome)).toEqual(['infrastructure', 'succeeded']);
  });

  it('serves the API docs at /docs: Swagger UI in real Chromium shows every route, with no console errors', async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(e.message));
      const r = await page.goto(`${cloud.apiUrl}/docs`);
      expect(r?.status()).toBe(200);
      await page.waitForSelector('.opblock', { timeout: 30_000 });
      const shown = await page.$$eval('.opblock-summary-path', (els) =>
        els.map((e) => e.getAttribute('data-path') ?? e.textContent ?? ''),
      );
      const doc = (await api<{ paths: Record<string, Record<string, unknown>> }>('GET', '/openapi.json'))
        .body;
      const operations = Object.values(doc.paths).reduce((n, ops) => n + Object.keys(ops).length, 0);
      expect(shown).toHaveLength(operations);
      expect(shown).toContain('/v1/batches/{id}/export');
      expect(await page.title()).toBe('trainstack API');
      expect(errors).toEqual([]);
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: path.join(ARTIFACTS, 'docs.png'), fullPage: false });
    } finally {
      await browser.close();
    }
    expect((await fetch(`${cloud.apiUrl}/docs/nothing.js`)).status).toBe(404);
  });

  it("streams a task's events (status, progress, log lines) in order, resumes after Last-Event-ID, and ends with the task", async () => {
    type Sse = { id: string; event: string; data: Record<string, unknown> };
    /** The events of one connection, until the stream ends. */
    const events = async (id: string, lastEventId?: string) => {
      const r = await fetch(`${cloud.apiUrl}/v1/tasks/${id}/events`, {
        headers: lastEventId ? { 'last-event-id': lastEventId } : {},
        signal: AbortSignal.timeout(60_000),
      });
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toMatch(/^text\/event-stream/);
      const out: Sse[] = [];
      for await (const e of readSse(r.body ?? []))
        out.push({ id: e.id ?? '', event: e.event ?? '', data: e.data });
      return out;
    };
    const id = await submit(
      sh(
        'for i in 1 2 3 4 5 6; do echo "line $i"; echo "##trainstack {\\"progress\\": $((i * 16))}"; sleep 0.5; done',
      ),
    );
    const all = await events(id);
    const logs = all.filter((e) => e.event === 'log').map((e) => e.data.message);
    expect(logs.filter((m) => String(m).startsWith('line '))).toEqual([
      'line 1',
      'line 2',
      'line 3',
      'line 4',
      'line 5',
      'line 6',
    ]);
    const statuses = all.filter((e) => e.event === 'status').map((e) => e.data.status);
    expect(statuses).toContain('RUNNING');
    expect(statuses.at(-1)).toBe('SUCCEEDED');
    // progress as the task view had it at each look: never down, something in between, 100 at the end
    const progress = all.filter((e) => e.event === 'progress').map((e) => Number(e.data.progress));
    expect(progress).toEqual([...progress].sort((x, y) => x - y));
    expect(progress.some((p) => p > 0 && p < 100)).toBe(true);
    expect(progress.at(-1)).toBe(100);
    expect(all.at(-1)).toMatchObject({ event: 'end', data: { status: 'SUCCEEDED' } });
    // a client that lost the connection after line 2 gets line 3 onwards, and nothing twice
    const at2 = all.find((e) => e.event === 'log' && e.data.message === 'line 2');
    const resumed = (await events(id, at2?.id)).filter((e) => e.event === 'log').map((e) => e.data.message);
    expect(resumed.filter((m) => String(m).startsWith('line '))).toEqual([
      'line 3',
      'line 4',
      'line 5',
      'line 6',
    ]);
    expect(resumed).toEqual(logs.slice(logs.indexOf('line 2') + 1));
    // someone else's task, or none: the API's answer, not a stream
    expect((await fetch(`${cloud.apiUrl}/v1/tasks/01ARZ3NDEKTSV4RRFFQ69G5FAV/events`)).status).toBe(404);
  });

  it('serves the dashboard: live tasks table, a form task with its live log, cancel, stats and models, in real Chromium', async () => {
    const browser = await launchChromium();
    const violations: string[] = [];
    /** a screenshot of the page, and its accessibility checked (axe-core, WCAG 2 A and AA) */
    const shot = async (page: import('playwright-core').Page, name: string) => {
      await page.screenshot({ path: path.join(ARTIFACTS, `dashboard-${name}.png`), fullPage: true });
      await page.addScriptTag({ path: createRequire(import.meta.url).resolve('axe-core/axe.min.js') });
      const found = (await page.evaluate(
        "axe.run(document, { runOnly: ['wcag2a', 'wcag2aa'] }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 3) })))",
      )) as { id: string; impact: string; nodes: string[] }[];
      for (const v of found) violations.push(`${name}: ${v.id} (${v.impact}) at ${v.nodes.join(', ')}`);
    };
    mkdirSync(ARTIFACTS, { recursive: true });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const errors: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(e.message));
      expect((await fetch(cloud.apiUrl, { redirect: 'manual' })).headers.get('location')).toBe('/dashboard/');
      const dash = (hash: string) => page.goto(`${cloud.apiUrl}/dashboard/${hash}`);

      // the table lists a task submitted through the API, its progress bar moving as it runs
      const stepping = await submit(
        sh('for i in 1 2 3 4 5 6 7 8 9 10; do echo "step $i/10 loss=0.$((10 - i))"; sleep 1; done', {
          name: 'dash-progress',
        }),
      );
      await dash('#/tasks');
      // the app sets the title once its config has loaded, after the page's load event
      await expect.poll(() => page.title()).toBe('Tasks · trainstack');
      const bar = page.locator(`tr[data-task="${stepping}"] progress`);
      const seen = new Set<number>();
      await waitFor('the progress bar to move', async () => {
        const v = Number(await bar.getAttribute('value'));
        if (v > 0 && v < 100) seen.add(v);
        return seen.size >= 2;
      });
      await shot(page, 'tasks');

      // a task submitted from the form runs, and its log lines show on its page as they are written
      await dash('#/submit');
      await page.selectOption('#f-type', 'container');
      await page.fill('#f-image', 'busybox');
      await page.fill('#f-command', 'for i in 1 2 3 4 5 6; do echo "form line $i"; sleep 1; done');
      await page.click('text=Name, priority, timeout, retries');
      await page.fill('#f-name', 'dash-form');
      await shot(page, 'submit');
      await page.click('button[type=submit]');
      await page.click('[role=status] a');
      const formTask = page.url().split('#/tasks/')[1] ?? '';
      expect(formTask).toMatch(/^[0-9A-Z]{26}$/);
      await page.locator('[role=log]', { hasText: 'form line 1' }).waitFor({ timeout: 60_000 });
      // the first line is there while the task still runs: live, not read after the end
      expect((await get(formTask)).status).toBe('RUNNING');
      await page.locator('[role=log]', { hasText: 'form line 6' }).waitFor({ timeout: 30_000 });
      await page.locator('.status', { hasText: 'SUCCEEDED' }).waitFor({ timeout: 30_000 });
      await shot(page, 'task');

      // a tasks.jsonl upload answers line by line; a provider batch file becomes one inference task
      const upload = path.join(dataDir, 'upload.jsonl');
      writeFileSync(upload, `${JSON.stringify(sh('true', { name: 'dash-upload' }))}\n{"type": "nope"}\n`);
      await dash('#/submit');
      await page.setInputFiles('#f-upload', upload);
      const results = page.locator('table[aria-label="upload results"]');
      await results.waitFor();
      await expect.poll(() => results.locator('tbody tr').count()).toBe(2);
      expect(await results.locator('tbody tr').nth(0).locator('a').textContent()).toMatch(/^[0-9A-Z]{26}$/);
      expect(await results.locator('tbody tr').nth(1).textContent()).toMatch(/type/);
      await api('POST', '/v1/models', {
        name: 'dash-llm',
        type: 'local',
        baseUrl: 'http://127.0.0.1:9/v1',
        model: 'm',
      });
      const openai = path.join(dataDir, 'openai-upload.jsonl');
      writeFileSync(
        openai,
        [1, 2]
          .map((i) =>
            JSON.stringify({
              custom_id: `r${i}`,
              method: 'POST',
              url: '/v1/chat/completions',
              body: { model: 'dash-llm', messages: [{ role: 'user', content: `hi ${i}` }] },
            }),
          )
          .join('\n'),
      );
      await page.setInputFiles('#f-upload', openai);
      const made = page.locator('[role=status]', { hasText: 'OpenAI batch file of 2 lines to dash-llm' });
      await made.waitFor();
      const providerTask = ((await made.locator('a').textContent()) ?? '').trim();
      expect((await get(providerTask)).spec).toMatchObject({
        type: 'inference',
        name: 'openai-upload.jsonl',
        params: { model: 'dash-llm', kind: 'custom', inputs: [{ custom_id: 'r1' }, { custom_id: 'r2' }] },
      });
      // (nothing answers at the model's address: cancelled, it never holds up the tests after it)
      await api('POST', `/v1/tasks/${providerTask}/cancel`);
      // the tasks page filters by a registered model through the API (every page, not the one shown)
      await dash('#/tasks');
      await page
        .locator('form.filters label', { hasText: 'Model' })
        .locator('select')
        .selectOption({ label: 'dash-llm' });
      await page.locator(`tr[data-task="${providerTask}"]`).waitFor();
      await expect.poll(() => page.locator('tr[data-task]').count()).toBe(1);

      // cancel from the page stops a running task
      const sleeper = await submit(sh('echo sleeping; exec sleep 120', { name: 'dash-sleep' }));
      await dash(`#/tasks/${sleeper}`);
      await page.locator('[role=log]', { hasText: 'sleeping' }).waitFor({ timeout: 60_000 });
      await page.click('button[aria-label="Cancel dash-sleep"]');
      const cancelled = await finished(sleeper);
      expect(cancelled.status).toBe('CANCELLED');
      expect(cancelled.attempts.at(-1)?.endedAt).toBeTruthy();
      await page.locator('.status', { hasText: 'CANCELLED' }).waitFor({ timeout: 10_000 });
      expect((await get(stepping)).status).toBe('SUCCEEDED');
      // a finished task's charts, from the progress and metrics its log lines report
      await dash(`#/tasks/${stepping}`);
      await page.locator('figure[aria-label="Progress"] canvas').waitFor();
      await page.locator('figure[aria-label="loss"] canvas').waitFor();

      // the stats page's numbers are the API's
      await dash('#/stats');
      await page.locator('[data-stat="Tasks"]').waitFor();
      const stats = (await api<Record<string, number | null>>('GET', '/v1/stats')).body;
      const card = async (label: string) =>
        ((await page.locator(`[data-stat="${label}"]`).textContent()) ?? '').trim();
      expect(await card('Tasks')).toBe(String(stats.total));
      expect(await card('Queue depth')).toBe(String(stats.queueDepth));
      expect(await card('Running')).toBe(`${stats.running} of ${stats.concurrencyCap}`);
      expect(await card('Success rate')).toBe(`${stats.successRate}%`);
      expect(await card('Estimated cost')).toBe(`$${Number(stats.estimatedCostUsd).toFixed(4)}`);
      expect(Number(stats.estimatedCostUsd)).toBeGreaterThan(0);
      const byStatus = (stats as unknown as { byStatus: Record<string, number> }).byStatus;
      for (const st of ['SUCCEEDED', 'FAILED', 'CANCELLED'])
        expect(await card(st)).toBe(String(byStatus[st]));
      await shot(page, 'stats');

      // the models page takes a model offline, and the API says so
      expect(
        (
          await api('POST', '/v1/models', {
            name: 'dash-model',
            type: 'local',
            baseUrl: 'http://127.0.0.1:9/v1',
            model: 'm',
          })
        ).status,
      ).toBe(201);
      await dash('#/models');
      await page.click('button[aria-label="Take offline dash-model"]');
      await page.locator('tr[data-model="dash-model"][data-status="offline"]').waitFor();
      expect((await api<{ status: string }>('GET', '/v1/models/dash-model')).body.status).toBe('offline');
      await shot(page, 'models');

      // on a phone-width screen the pages still fit (the tables scroll within themselves)
      await page.setViewportSize({ width: 390, height: 844 });
      await dash('#/tasks');
      await page.locator(`tr[data-task="${stepping}"]`).waitFor();
      expect(Number(await page.evaluate('document.documentElement.scrollWidth'))).toBeLessThanOrEqual(390);
      await shot(page, 'phone');
      expect(errors).toEqual([]);
      expect(violations).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
