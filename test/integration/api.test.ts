/**
 * The API handler against DynamoDB Local and fauxqs: validation, errors, idempotency, lists,
 * cancel, the seed 000/001 routes and stats that equal the records.
 */
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import type { ApiHandler } from '../../lib/local/api-server.ts';
import { caller } from '../support/api.ts';
import { type TestStack, testStack } from '../support/stack.ts';

let api: ReturnType<typeof caller>;
let stack: TestStack;
let store: import('../../lambdas/clients/dynamodb-tasks.ts').DynamoTaskRepository;

const training = (extra: object = {}) => ({
  type: 'training',
  params: { epochs: 2, batchSize: 16, learningRate: 0.01 },
  ...extra,
});
type Task = {
  taskId: string;
  status: string;
  name?: string;
  owner: string;
  priority: number;
  statusReason?: string;
};

beforeAll(async () => {
  stack = await testStack(inject('awsEndpoint'));
  const mod = (await import('../../lambdas/handlers/api.ts')) as { route: ApiHandler };
  api = caller(mod.route);
  const { DynamoTaskRepository } = await import('../../lambdas/clients/dynamodb-tasks.ts');
  const { dynamodb } = await import('../../lambdas/clients/dynamodb.ts');
  store = new DynamoTaskRepository(dynamodb, stack.tableName);
});

describe('submit', () => {
  it('accepts a task with 202, records the caller as owner and wakes the dispatcher', async () => {
    const r = await api<Task>('POST', '/v1/tasks', training({ name: 'resnet' }));
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({
      status: 'QUEUED',
      name: 'resnet',
      owner: 'arn:aws:iam::000000000000:user/tester',
      priority: 5,
    });
    expect(r.headers.location).toBe(`/v1/tasks/${r.body.taskId}`);
    const sqs = new SQSClient({ useQueueUrlAsEndpoint: false });
    const msgs = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: stack.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    expect(msgs.Messages?.map((m) => JSON.parse(m.Body ?? '{}').taskId)).toContain(r.body.taskId);
  });

  it('answers 400 naming each wrong field', async () => {
    const r = await api<{ error: { code: string; details: { path: string }[] } }>(
      'POST',
      '/v1/tasks',
      training({ priority: 0, params: { epochs: 0, batchSize: 1, learningRate: 1 } }),
    );
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('ValidationError');
    expect(r.body.error.details.map((d) => d.path).sort()).toEqual(['params.epochs', 'priority']);
  });

  it('answers 400 naming image for a reference no registry would take, and takes registry, port, tag and digest', async () => {
    for (const image of ['Ubuntu:22.04', 'ghcr.io/acme/x:', 'acme x', 'a//b']) {
      const r = await api<{ error: { details: { path: string; message: string }[] } }>('POST', '/v1/tasks', {
        type: 'container',
        image,
        command: ['true'],
      });
      expect(r.status, image).toBe(400);
      expect(
        r.body.error.details.map((d) => d.path),
        image,
      ).toEqual(['image']);
    }
    for (const image of [
      'busybox',
      'pytorch/pytorch:2.4.1-cuda12.4-cudnn9-runtime',
      'registry.acme.io:5000/ml/train_v2:1.0',
      `123456789012.dkr.ecr.us-east-1.amazonaws.com/train@sha256:${'a'.repeat(64)}`,
    ]) {
      // a training task in its own image (container tasks are counted by the listing test)
      const r = await api(
        'POST',
        '/v1/tasks',
        training({ image, command: ['true'], imageCredentials: 'trainstack/reg' }),
      );
      expect(r.status, image).toBe(202);
    }
  });

  it('answers 400 for more GPUs than the instances hold', async () => {
    const r = await api<{ error: { details: { path: string; message: string }[] } }>(
      'POST',
      '/v1/tasks',
      training({ gpus: 2 }),
    );
    expect(r.status).toBe(400);
    expect(r.body.error.details[0]).toMatchObject({
      path: 'gpus',
      message: expect.stringMatching(/at most 1/),
    });
  });

  it('answers 400 for a body that is not JSON, and 415 for another media type', async () => {
    expect((await api('POST', '/v1/tasks', '{"type":')).status).toBe(400);
    expect((await api('POST', '/v1/tasks', 'x', { 'content-type': 'text/plain' })).status).toBe(415);
  });

  it('answers 413 for a body over 1 MiB', async () => {
    const r = await api('POST', '/v1/tasks', training({ name: 'x'.repeat(1_100_000) }));
    expect(r.status).toBe(413);
  });

  it('returns the first task for a repeated Idempotency-Key', async () => {
    const a = await api<Task>('POST', '/v1/tasks', training(), { 'Idempotency-Key': 'run-42' });
    const b = await api<Task>('POST', '/v1/tasks', training({ priority: 9 }), {
      'Idempotency-Key': 'run-42',
    });
    expect(a.status).toBe(202);
    expect(b.status).toBe(200);
    expect(b.body.taskId).toBe(a.body.taskId);
  });

  it('keeps a non-ASCII name intact in the record, the list and the seed view', async () => {
    const name = '研究框架对比 — 訓練任務 🚀';
    const r = await api<Task>('POST', '/v1/tasks', training({ name }));
    expect((await api<Task>('GET', `/v1/tasks/${r.body.taskId}`)).body.name).toBe(name);
    expect((await store.get(r.body.taskId))?.name).toBe(name);
    const list = await api<{ tasks: Task[] }>('GET', '/v1/tasks?limit=100');
    expect(list.body.tasks.find((t) => t.taskId === r.body.taskId)?.name).toBe(name);
  });
});

describe('read', () => {
  it('answers 404 for an unknown id', async () => {
    expect((await api('GET', '/v1/tasks/01ARZ3NDEKTSV4RRFFQ69G5FAV')).status).toBe(404);
    expect((await api('GET', '/v1/tasks/not-an-id')).status).toBe(404);
    expect((await api('GET', '/train/01ARZ3NDEKTSV4RRFFQ69G5FAV')).status).toBe(404);
  });

  it('explains where a queued task waits', async () => {
    const r = await api<Task>('POST', '/v1/tasks', training());
    const got = await api<Task>('GET', `/v1/tasks/${r.body.taskId}`);
    expect(got.body.statusReason).toMatch(/queued: \d+ task\(s\) ahead; 0 of \d+ slots in use/);
  });

  it('lists newest first, pages with a cursor and filters by status and type', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push(
        (await api<Task>('POST', '/v1/tasks', { type: 'container', image: 'busybox', name: `page-${i}` }))
          .body.taskId,
      );
    const first = await api<{ tasks: Task[]; cursor?: string }>('GET', '/v1/tasks?type=container&limit=3');
    expect(first.body.tasks.map((t) => t.taskId)).toEqual(ids.slice().reverse().slice(0, 3));
    expect(first.body.cursor).toBeTruthy();
    const second = await api<{ tasks: Task[] }>(
      'GET',
      `/v1/tasks?type=container&limit=3&cursor=${first.body.cursor}`,
    );
    expect(second.body.tasks.map((t) => t.taskId)).toEqual(ids.slice().reverse().slice(3, 5));
    const queued = await api<{ tasks: Task[] }>('GET', '/v1/tasks?status=QUEUED&type=container&limit=100');
    expect(queued.body.tasks).toHaveLength(5);
  });

  it('lists the tasks that call a model, by its name or id, across pages (a batch file calling it too)', async () => {
    const model = async (name: string) =>
      (
        await api<{ modelId: string }>('POST', '/v1/models', {
          name,
          type: 'local',
          baseUrl: 'http://127.0.0.1:9/v1',
          model: 'm',
        })
      ).body.modelId;
    const [one, two] = [await model('list-one'), await model('list-two')];
    const infer = async (params: object) =>
      (
        await api<Task>('POST', '/v1/tasks', {
          type: 'inference',
          params: { kind: 'text-generation', input: 'hi', ...params },
        })
      ).body.taskId;
    const calling = await infer({ model: 'list-one' });
    const mixed = await infer({ model: 'list-two', models: ['list-one'] });
    await api('POST', '/v1/tasks', { type: 'container', image: 'busybox' }); // newer, calls none
    const ids = async (q: string) => {
      const r = await api<{ tasks: Task[]; cursor?: string }>('GET', `/v1/tasks?${q}`);
      expect(r.status, q).toBe(200);
      return { ids: r.body.tasks.map((t) => t.taskId), cursor: r.body.cursor };
    };
    expect((await ids('model=list-one')).ids).toEqual([mixed, calling]);
    expect((await ids(`model=${two}`)).ids).toEqual([mixed]);
    expect((await ids(`model=${one}&status=QUEUED&type=inference`)).ids).toEqual([mixed, calling]);
    // one a page: the filter reads past tasks that do not match, and the cursor resumes after the kept one
    const first = await ids('model=list-one&limit=1');
    expect(first.ids).toEqual([mixed]);
    expect(first.cursor).toBeTruthy();
    expect((await ids(`model=list-one&limit=1&cursor=${first.cursor}`)).ids).toEqual([calling]);
    const r = await api<{ error: { details: { path: string }[] } }>('GET', '/v1/tasks?model=no-such-model');
    expect(r.status).toBe(400);
    expect(r.body.error.details[0]?.path).toBe('model');
  });

  it('answers 400 for a bad filter or cursor', async () => {
    const r = await api<{ error: { details: { path: string }[] } }>('GET', '/v1/tasks?status=DONE');
    expect(r.status).toBe(400);
    expect(r.body.error.details[0]?.path).toBe('status');
    expect((await api('GET', '/v1/tasks?cursor=garbage')).status).toBe(400);
  });
});

describe('cancel and retry', () => {
  it('cancels a queued task, and answers 409 the second time', async () => {
    const r = await api<Task>('POST', '/v1/tasks', training());
    const c = await api<Task>('POST', `/v1/tasks/${r.body.taskId}/cancel`);
    expect(c.status).toBe(200);
    expect(c.body.status).toBe('CANCELLED');
    expect(c.body.statusReason).toBe('cancelled by arn:aws:iam::000000000000:user/tester');
    expect((await api('DELETE', `/v1/tasks/${r.body.taskId}`)).status).toBe(409);
  });

  it('requeues a cancelled task on retry, and refuses to retry a queued one', async () => {
    const r = await api<Task>('POST', '/v1/tasks', training());
    expect((await api('POST', `/v1/tasks/${r.body.taskId}/retry`)).status).toBe(409);
    await api('POST', `/v1/tasks/${r.body.taskId}/cancel`);
    const again = await api<Task>('POST', `/v1/tasks/${r.body.taskId}/retry`);
    expect(again.status).toBe(202);
    expect(again.body.status).toBe('QUEUED');
  });
});

describe('lockKey', () => {
  it('holds one queued or running task per key and owner: a second is a 409 naming the first, until it ends', async () => {
    const first = await api<Task>('POST', '/v1/tasks', training({ lockKey: 'models/resnet-50' }));
    expect(first.status).toBe(202);
    const second = await api<{ error: { message: string; details: { path: string }[] } }>(
      'POST',
      '/v1/tasks',
      training({ lockKey: 'models/resnet-50' }),
    );
    expect(second.status).toBe(409);
    expect(second.body.error.message).toContain(`task ${first.body.taskId} holds lockKey models/resnet-50`);
    expect(second.body.error.details[0]?.path).toBe('lockKey');
    // in a batch too, and the same key twice in one request: the first line takes it
    const lines = [
      training({ lockKey: 'models/resnet-50' }),
      training({ lockKey: 'bert' }),
      training({ lockKey: 'bert' }),
    ];
    const b = await api<{
      accepted: { line: number }[];
      rejected: { line: number; error: { code: string } }[];
    }>('POST', '/v1/tasks/batch', lines);
    expect(b.body.accepted.map((x) => x.line)).toEqual([2]);
    expect(b.body.rejected.map((x) => [x.line, x.error.code])).toEqual([
      [1, 'Conflict'],
      [3, 'Conflict'],
    ]);
    expect((await api('POST', `/v1/tasks/${first.body.taskId}/cancel`)).status).toBe(200);
    expect((await api('POST', '/v1/tasks', training({ lockKey: 'models/resnet-50' }))).status).toBe(202);
    expect((await api('POST', `/v1/tasks/${first.body.taskId}/retry`)).status).toBe(409);
  });
});

describe('batch', () => {
  const seedLines = [
    '{"task_id": "研究框架对比", "task_type": "reasoning", "description": "研究PyTorch和TensorFlow的主要差异和优劣势", "expected_tools": ["browser", "python_executor"], "max_steps": 12}',
    '{"task_id": "计算阶乘", "task_type": "code", "description": "计算5的阶乘", "expected_tools": ["python_executor"], "max_steps": 4}',
    '{"task_id": "bad", "task_type": "poetry", "description": "x"}',
    'not json',
    '{"type": "container", "image": "busybox", "command": ["true"], "name": "runs"}',
  ].join('\n');
  type BatchReply = {
    batchId: string;
    accepted: { line: number; taskId: string; name: string; duplicate?: boolean }[];
    rejected: { line: number; error: { details: { path: string; message: string }[] } }[];
  };
  type BatchView = {
    lines: { received: number; accepted: number; duplicates: number; rejected: number };
    tasks: number;
    byStatus: Record<string, number>;
    done: boolean;
  };
  const ndjson = { 'content-type': 'application/x-ndjson' };

  it('refuses seed 003 lines while no model is named, saying so per line', async () => {
    const r = await api<BatchReply>('POST', '/v1/tasks/batch', seedLines, ndjson);
    expect(r.status).toBe(202);
    expect(r.body.accepted.map((a) => a.name)).toEqual(['runs']);
    expect(r.body.rejected.map((x) => x.line)).toEqual([1, 2, 3, 4]);
    for (const line of r.body.rejected.slice(0, 2))
      expect(line.error.details[0]).toMatchObject({ path: 'params.model' });
  });

  it('runs seed 003 lines on the batch model, keeps their task_id, and a resubmitted line is the same task', async () => {
    const m = await api('POST', '/v1/models', {
      name: 'batch-llm',
      type: 'local',
      baseUrl: 'http://127.0.0.1:9/v1',
      model: 'm',
    });
    expect(m.status).toBe(201);
    const r = await api<BatchReply>('POST', '/v1/tasks/batch?model=batch-llm&name=seed', seedLines, ndjson);
    expect(r.status).toBe(202);
    expect(r.body.accepted.map((a) => a.name)).toEqual(['研究框架对比', '计算阶乘', 'runs']);
    expect(r.body.rejected.map((x) => x.line)).toEqual([3, 4]);
    const t = await api<{ spec: { params: Record<string, unknown>; maxRetries: number }; batchId: string }>(
      'GET',
      `/v1/tasks/${r.body.accepted[1]?.taskId}`,
    );
    expect(t.body.spec.params).toMatchObject({ taskId: '计算阶乘', model: 'batch-llm', maxSteps: 4 });
    expect(t.body.batchId).toBe(r.body.batchId);

    // the same lines again, into the same batch: the seed lines are the tasks they were
    const again = await api<BatchReply>(
      'POST',
      `/v1/tasks/batch?model=batch-llm&batchId=${r.body.batchId}`,
      seedLines,
      ndjson,
    );
    expect(again.body.batchId).toBe(r.body.batchId);
    expect(again.body.accepted.slice(0, 2)).toEqual([
      { line: 1, taskId: r.body.accepted[0]?.taskId, name: '研究框架对比', duplicate: true },
      { line: 2, taskId: r.body.accepted[1]?.taskId, name: '计算阶乘', duplicate: true },
    ]);
    const b = await api<BatchView>('GET', `/v1/batches/${r.body.batchId}`);
    expect(b.status).toBe(200);
    expect(b.body).toMatchObject({
      name: 'seed',
      lines: { received: 10, accepted: 4, duplicates: 2, rejected: 4 },
      tasks: 4,
      byStatus: { QUEUED: 4 },
      done: false,
    });
    // its tasks in the order they came, and its trajectories as JSONL (those that exist)
    const tasks = await api<{ tasks: { name: string }[] }>('GET', `/v1/batches/${r.body.batchId}/tasks`);
    expect(tasks.body.tasks.map((x) => x.name)).toEqual(['研究框架对比', '计算阶乘', 'runs', 'runs']);
    const { S3Client, PutObjectCommand } = await import('@aws-sdk/client-s3');
    await new S3Client({ forcePathStyle: true }).send(
      new PutObjectCommand({
        Bucket: stack.bucketName,
        Key: `trajectories/${r.body.accepted[1]?.taskId}.json`,
        Body: JSON.stringify({ task_id: '计算阶乘', success: true, steps: [] }, null, 2),
      }),
    );
    // page by page, as the CLI downloads it: every trajectory once, and the tasks that have none counted
    let jsonl = '';
    let missing = 0;
    let cursor: string | undefined;
    let pages = 0;
    do {
      const dl = await api<string>(
        'GET',
        `/v1/batches/${r.body.batchId}/trajectories?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      expect(dl.status).toBe(200);
      expect(dl.headers['content-type']).toMatch(/ndjson/);
      jsonl += dl.body ?? '';
      missing += Number(dl.headers['x-trajectories-missing']);
      cursor = dl.headers['x-next-cursor'];
      pages++;
    } while (cursor && pages < 5);
    expect(pages).toBeGreaterThanOrEqual(2);
    expect(jsonl).toBe('{"task_id":"计算阶乘","success":true,"steps":[]}\n');
    expect(missing).toBe(3);
  });

  it('takes a line given twice in one request as one task, and stores many lines in few writes', async () => {
    const line = (i: number) =>
      JSON.stringify({ task_id: `twice-${i}`, task_type: 'code', description: 'x', model: 'batch-llm' });
    const body = [line(0), line(1), line(0), ...Array.from({ length: 60 }, (_, i) => line(i + 2))].join('\n');
    const r = await api<BatchReply>('POST', '/v1/tasks/batch', body, ndjson);
    expect(r.status).toBe(202);
    expect(r.body.rejected).toEqual([]);
    expect(r.body.accepted[2]).toMatchObject({
      line: 3,
      taskId: r.body.accepted[0]?.taskId,
      duplicate: true,
    });
    const b = await api<BatchView>('GET', `/v1/batches/${r.body.batchId}`);
    expect(b.body).toMatchObject({ tasks: 62, lines: { received: 63, accepted: 62, duplicates: 1 } });
    const listed = await api<{ tasks: { name: string }[] }>(
      'GET',
      `/v1/batches/${r.body.batchId}/tasks?limit=5`,
    );
    expect(listed.body.tasks.map((t) => t.name)).toEqual([
      'twice-0',
      'twice-1',
      'twice-2',
      'twice-3',
      'twice-4',
    ]);
  });

  it('creates an empty batch to send a large file into, and 404s batches that are not there', async () => {
    const b = await api<{ batchId: string; tasks: number }>('POST', '/v1/batches', { name: 'big' });
    expect(b.status).toBe(201);
    expect(b.body.tasks).toBe(0);
    expect((await api('GET', '/v1/batches/01ARZ3NDEKTSV4RRFFQ69G5FAV')).status).toBe(404);
    expect((await api('GET', '/v1/batches/nope')).status).toBe(404);
    const r = await api<{ error: { details: { path: string }[] } }>(
      'POST',
      '/v1/tasks/batch?batchId=01ARZ3NDEKTSV4RRFFQ69G5FAV',
      seedLines,
      ndjson,
    );
    expect(r.status).toBe(404);
    expect((await api('POST', '/v1/tasks/batch?batchId=x', seedLines, ndjson)).status).toBe(400);
  });
});

describe('seed 000/001 API', () => {
  it('walks through submit, get, list, cancel and stats in the seed shapes', async () => {
    const sub = await api<{ task_id: string; status: string; message: string }>('POST', '/train', {
      epochs: 5,
      batch_size: 32,
      learning_rate: 0.001,
    });
    expect(sub.body).toMatchObject({ status: 'pending', message: 'Training task submitted successfully' });
    const got = await api<Record<string, unknown>>('GET', `/train/${sub.body.task_id}`);
    expect(got.body).toMatchObject({
      task_id: sub.body.task_id,
      status: 'pending',
      epochs: 5,
      batch_size: 32,
      learning_rate: 0.001,
      gpu: false,
      error: null,
      retry_count: 0,
      completed_at: null,
    });
    const list = await api<{ total: number; tasks: { task_id: string }[] }>(
      'GET',
      '/train?status=pending&limit=2',
    );
    expect(list.body.tasks.length).toBeLessThanOrEqual(2);
    expect(list.body.total).toBe(list.body.tasks.length);
    const del = await api<Record<string, unknown>>('DELETE', `/train/${sub.body.task_id}`);
    expect(del.body).toEqual({
      task_id: sub.body.task_id,
      status: 'cancelled',
      message: 'Task cancelled successfully',
    });
    const stats = await api<Record<string, number>>('GET', '/stats');
    expect(Object.keys(stats.body).sort()).toEqual([
      'cancelled',
      'failed',
      'pending',
      'running',
      'success',
      'success_rate',
      'total',
    ]);
    expect(stats.body.cancelled).toBeGreaterThanOrEqual(1);
  });

  it('answers 400 naming the field for a bad seed body', async () => {
    const r = await api<{ error: { details: { path: string }[] } }>('POST', '/train', {
      epochs: 5,
      batch_size: 'big',
    });
    expect(r.status).toBe(400);
    expect(r.body.error.details.map((d) => d.path)).toEqual(['batch_size']);
  });
});

describe('stats', () => {
  it('equal the counts computed from the records', async () => {
    const stats = await api<{
      total: number;
      byStatus: Record<string, number>;
      byType: Record<string, { total: number }>;
    }>('GET', '/v1/stats');
    const all: Task[] = [];
    let cursor: string | undefined;
    do {
      const page = await api<{ tasks: (Task & { type: string })[]; cursor?: string }>(
        'GET',
        `/v1/tasks?limit=100${cursor ? `&cursor=${cursor}` : ''}`,
      );
      all.push(...page.body.tasks);
      cursor = page.body.cursor;
    } while (cursor);
    expect(stats.body.total).toBe(all.length);
    for (const [status, n] of Object.entries(stats.body.byStatus)) {
      expect(n, status).toBe(all.filter((t) => t.status === status).length);
    }
  });

  it('counts submissions by day', async () => {
    const r = await api<{ days: { date: string; submitted: number }[] }>('GET', '/v1/stats/daily?days=3');
    expect(r.body.days.map((d) => d.date)).toHaveLength(3);
    expect(r.body.days.at(-1)?.date).toBe(new Date().toISOString().slice(0, 10));
    // summed over the days, so a run that crosses midnight (UTC) counts the same
    expect(r.body.days.reduce((n, d) => n + d.submitted, 0)).toBeGreaterThan(5);
    expect((await api('GET', '/v1/stats/daily?days=500')).status).toBe(400);
  });

  it('refuses a trajectory task with no model to call, saying how to register one', async () => {
    const r = await api<{ error: { details: { path: string; message: string }[] } }>('POST', '/v1/tasks', {
      type: 'trajectory',
      params: { taskType: 'code', description: 'x' },
    });
    expect(r.status).toBe(400);
    expect(r.body.error.details[0]).toMatchObject({
      path: 'params.model',
      message: expect.stringMatching(/register one with POST \/v1\/models/),
    });
  });

  it("serves a task's trajectory from S3, and 404 while there is none", async () => {
    // any task's trajectory: the container task here writes one itself (the agent runtime is not built)
    const r = await api<Task>('POST', '/v1/tasks', {
      type: 'container',
      image: 'busybox',
      command: ['true'],
      name: '计算阶乘',
    });
    expect((await api('GET', `/v1/tasks/${r.body.taskId}/trajectory`)).status).toBe(404);
    const trajectory = {
      task_id: '计算阶乘',
      success: true,
      steps: [{ step_id: 1, observation: '120' }],
      final_result: '120',
    };
    const { S3Client, PutObjectCommand } = await import('@aws-sdk/client-s3');
    await new S3Client({ forcePathStyle: true }).send(
      new PutObjectCommand({
        Bucket: stack.bucketName,
        Key: `trajectories/${r.body.taskId}.json`,
        Body: JSON.stringify(trajectory),
      }),
    );
    const got = await api('GET', `/v1/tasks/${r.body.taskId}/trajectory`);
    expect(got.status).toBe(200);
    expect(got.body).toEqual(trajectory);
  });

  it('serves health and the OpenAPI document', async () => {
    const h = await api<{ status: string }>('GET', '/health');
    expect(h.status).toBe(200);
    expect(h.body.status).toBe('ok');
    const doc = await api<{ paths: Record<string, object>; components: { schemas: Record<string, object> } }>(
      'GET',
      '/openapi.json',
    );
    expect(Object.keys(doc.body.paths)).toContain('/v1/tasks/{id}/cancel');
    expect(JSON.stringify(doc.body.components.schemas.TaskSubmit)).toContain('learningRate');
    // every path parameter is declared, and query parameters are typed from the schemas that check them
    type Op = { parameters?: { name: string; in: string; required: boolean; schema: { type?: string } }[] };
    const paths = doc.body.paths as Record<string, Record<string, Op>>;
    for (const [p, ops] of Object.entries(paths))
      for (const op of Object.values(ops))
        for (const name of [...p.matchAll(/\{(\w+)\}/g)].map((m) => m[1]))
          expect(
            op.parameters?.find((x) => x.name === name && x.in === 'path'),
            `${p} ${name}`,
          ).toBeDefined();
    const list = paths['/v1/tasks']?.get?.parameters ?? [];
    expect(list.find((x) => x.name === 'limit')).toMatchObject({
      in: 'query',
      required: false,
      schema: { type: 'integer' },
    });
    expect(list.find((x) => x.name === 'status')?.schema).toMatchObject({
      enum: expect.arrayContaining(['QUEUED']),
    });
    expect(JSON.stringify(doc.body.components.schemas.Error)).toContain('details');
  });
});
