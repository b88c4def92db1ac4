/**
 * Inference end to end on the local cloud, against an OpenAI-compatible server the test starts
 * (the one fake allowed: the real thing is a paid API). What is measured at that server, not in our
 * records: a model with maxWorkers 2 never has more than two requests in flight from ten tasks; a
 * model at its limit does not hold up another model's task; offline holds tasks with the reason and
 * online releases them; 429s with Retry-After are waited out and a 200-input task writes 200 result
 * lines in order with token counts.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskRecord } from '../../lambdas/domain/model.ts';
import { REPO_ROOT } from '../../lib/function.ts';
import { type LocalCloud, startLocalCloud } from '../../lib/local/cloud.ts';
import { http, waitFor } from '../support/http.ts';
import { type OpenAiServer, startOpenAiServer } from '../support/openai-server.ts';

const dataDir = mkdtempSync(path.join(tmpdir(), 'trainstack-inference-'));
let cloud: LocalCloud;
let llm: OpenAiServer;
const api = <T = Record<string, unknown>>(method: string, p: string, body?: unknown) =>
  http<T>(cloud.apiUrl, method, p, body);

beforeAll(async () => {
  llm = await startOpenAiServer();
  cloud = await startLocalCloud({
    apiPort: 0,
    awsPort: 0,
    dataDir,
    context: { maxConcurrentTasks: 8 },
    tickMs: 500,
    functionLogLevel: 'ERROR',
    progressIntervalMs: 200,
  });
});
afterAll(async () => {
  await cloud?.stop();
  await llm?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const register = async (name: string, maxWorkers: number) => {
  const r = await api<{ modelId: string }>('POST', '/v1/models', {
    name,
    type: 'local',
    baseUrl: llm.baseUrl,
    model: name,
    maxWorkers,
  });
  expect(r.status).toBe(201);
  return r.body.modelId;
};
const ask = async (model: string, params: object = { input: 'hello' }) => {
  const r = await api<TaskRecord>('POST', '/v1/tasks', {
    type: 'inference',
    params: { model, kind: 'text-generation', ...params },
  });
  expect(r.status).toBe(202);
  return r.body.taskId;
};
const get = async (id: string) => (await api<TaskRecord>('GET', `/v1/tasks/${id}`)).body;
const finished = (id: string) =>
  waitFor(
    `task ${id} to finish`,
    async () => {
      const t = await get(id);
      return ['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(t.status) ? t : undefined;
    },
    90_000,
    200,
  );

describe('inference on the local cloud', () => {
  it("keeps a model to its maxWorkers at the server, and a full model does not hold up another's task", async () => {
    await register('e2e-two', 2);
    await register('e2e-one', 1);
    llm.script.set('e2e-two', { delayMs: 700 });
    const ten = [];
    for (let i = 0; i < 10; i++) ten.push(await ask('e2e-two', { input: `q${i}` }));
    const other = await ask('e2e-one');
    const done = await Promise.all([...ten, other].map(finished));
    expect(done.map((t) => t.status)).toEqual(done.map(() => 'SUCCEEDED'));
    expect(llm.maxInFlight.get('e2e-two')).toBe(2);
    expect(done.slice(0, 10).map((t) => t.output)).toEqual(ten.map((_, i) => `echo(e2e-two): q${i}`));
    // the other model's task, submitted last, did not wait for the ten
    const lastOfTen = Math.max(...done.slice(0, 10).map((t) => Date.parse(t.finishedAt ?? '')));
    expect(Date.parse(done[10]?.finishedAt ?? '')).toBeLessThan(lastOfTen);
    expect((await api<{ active: number }>('GET', '/v1/models/e2e-two')).body.active).toBe(0);
    // stats by model: its tasks by status, success rate, tokens (one prompt word, two answer words each)
    const stats = await api<Record<string, unknown>>('GET', '/v1/models/e2e-two/stats');
    expect(stats.body).toMatchObject({
      name: 'e2e-two',
      total: 10,
      byStatus: { SUCCEEDED: 10, QUEUED: 0, RUNNING: 0 },
      successRate: 100,
      promptTokens: 10,
      completionTokens: 20,
      workersInUse: 0,
      maxWorkers: 2,
    });
    expect(stats.body.meanRunSeconds).toBeGreaterThan(0);
    expect(stats.body.meanLatencyMs).toBeGreaterThanOrEqual(700); // the server's scripted delay
  });

  it('holds the tasks of an offline model with the reason, and runs them once it is online', async () => {
    await register('e2e-off', 2);
    expect((await api('PUT', '/v1/models/e2e-off/status', { status: 'offline' })).status).toBe(200);
    const t = await ask('e2e-off');
    await new Promise((r) => setTimeout(r, 2000)); // a few dispatcher passes
    const held = await get(t);
    expect(held.status).toBe('QUEUED');
    expect(held.statusReason).toMatch(/^model e2e-off is offline/);
    await api('PUT', '/v1/models/e2e-off/status', { status: 'online' });
    expect((await finished(t)).status).toBe('SUCCEEDED');
  });

  it('waits out 429s and writes 200 result lines in order with token counts', async () => {
    await register('e2e-many', 2);
    llm.script.set('e2e-many', { throttleFirst: 2, retryAfterSeconds: 1, delayMs: 2 });
    const inputs = Array.from({ length: 200 }, (_, i) => `line ${i}`);
    const t = await finished(await ask('e2e-many', { inputs, concurrency: 8 }));
    expect(t.status).toBe('SUCCEEDED');
    expect(t.metrics).toMatchObject({ requests: 200, succeeded: 200, failed: 0 });
    const s3 = new S3Client({ ...cloud.clientConfig, forcePathStyle: true });
    const o = await s3.send(
      new GetObjectCommand({ Bucket: cloud.bucketName, Key: `tasks/${t.taskId}/results.jsonl` }),
    );
    const lines =
      (await o.Body?.transformToString())
        ?.trim()
        .split('\n')
        .map((l) => JSON.parse(l)) ?? [];
    expect(lines.map((l: { index: number }) => l.index)).toEqual(inputs.map((_, i) => i));
    expect(lines.every((l: { usage: { promptTokens: number } }) => l.usage.promptTokens === 2)).toBe(true);
    expect(lines.filter((l: { attempts: number }) => l.attempts > 1).length).toBeGreaterThan(0);
  });

  it('runs a mixed-model OpenAI Batch file sent as it is by the CLI: each line on its model, each custom_id once, counts as it runs', async () => {
    await register('e2e-batch', 4);
    await register('e2e-batch-2', 1);
    for (const m of ['e2e-batch', 'e2e-batch-2']) llm.script.set(m, { delayMs: 400 });
    const model = (i: number) => (i % 4 === 3 ? 'e2e-batch-2' : 'e2e-batch');
    const lines = Array.from({ length: 80 }, (_, i) =>
      JSON.stringify({
        custom_id: `task-${i}`,
        method: 'POST',
        url: '/v1/chat/completions',
        body: { model: model(i), messages: [{ role: 'user', content: `line ${i}` }] },
      }),
    );
    const file = path.join(dataDir, 'openai-batch.jsonl');
    writeFileSync(file, `${lines.join('\n')}\n`);
    // no --model: the file's lines name their models, the most named first
    const { stdout, stderr } = await promisify(execFile)(
      path.join(REPO_ROOT, 'node_modules', '.bin', 'tsx'),
      [path.join(REPO_ROOT, 'bin', 'cli.ts'), '--endpoint', cloud.apiUrl, 'batch', file],
      { encoding: 'utf8' },
    );
    expect(stderr).toContain('is an OpenAI batch file of 80 lines to e2e-batch, e2e-batch-2: task ');
    const id = (JSON.parse(stdout) as TaskRecord).taskId;
    // the task view counts the requests as they are answered, in a batch object's terms
    const seen: TaskRecord[] = [];
    const t = await waitFor(
      'the batch file to finish',
      async () => {
        const v = await get(id);
        seen.push(v);
        return ['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(v.status) ? v : undefined;
      },
      60_000,
    );
    expect(t.status).toBe('SUCCEEDED');
    expect(t).toMatchObject({
      batchStatus: 'completed',
      requestCounts: { total: 80, completed: 80, failed: 0 },
      metrics: { requests: 80, succeeded: 80, failed: 0 },
    });
    expect(seen.some((v) => v.batchStatus === 'validating')).toBe(true);
    const midway = seen.filter(
      (v) => v.batchStatus === 'in_progress' && (v.requestCounts?.completed ?? 0) > 0,
    );
    expect(midway.length, JSON.stringify(seen.map((v) => [v.status, v.requestCounts]))).toBeGreaterThan(0);
    expect(midway.every((v) => v.requestCounts?.total === 80 && (v.requestCounts?.completed ?? 0) < 80)).toBe(
      true,
    );
    const s3 = new S3Client({ ...cloud.clientConfig, forcePathStyle: true });
    const text = async (key: string) =>
      (await (
        await s3.send(new GetObjectCommand({ Bucket: cloud.bucketName, Key: key }))
      ).Body?.transformToString()) ?? '';
    const output = (await text(`tasks/${t.taskId}/output.jsonl`))
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as {
            custom_id: string;
            response: { status_code: number; body: { choices: { message: { content: string } }[] } };
          },
      );
    expect(output.map((l) => l.custom_id).sort()).toEqual(lines.map((l) => JSON.parse(l).custom_id).sort());
    for (const l of output) {
      expect(l.response.status_code).toBe(200);
      const i = Number(l.custom_id.split('-')[1]);
      expect(l.response.body.choices[0]?.message.content).toBe(`echo(${model(i)}): line ${i}`);
    }
    expect(await text(`tasks/${t.taskId}/errors.jsonl`)).toBe('');
  });

  it("walks through seed 004's API section, in its shapes, and the tasks really run", async () => {
    // 创建模型 (a local model given by host, port and path; its key, when it has one, by reference)
    const port = new URL(llm.baseUrl).port;
    const m = await api<{ id: string; status: string; max_workers: number; config: { base_url: string } }>(
      'POST',
      '/api/v1/models',
      {
        name: 'llama-2-7b-chat',
        type: 'local',
        config: {
          host: '127.0.0.1',
          port: Number(port),
          model_path: '/models/llama-2-7b-chat',
          max_tokens: 2048,
          temperature: 0.7,
        },
        max_workers: 3,
      },
    );
    expect(m.status).toBe(201);
    expect(m.body).toMatchObject({
      status: 'online',
      max_workers: 3,
      config: { base_url: `http://127.0.0.1:${port}/v1` },
    });
    const raw = await api('POST', '/api/v1/models', {
      name: 'gpt-3.5-turbo',
      type: 'openai',
      config: { api_key: 'your-key', model: 'gpt-3.5-turbo' },
      max_workers: 3,
    });
    expect(raw.status).toBe(400); // a raw key is refused: keys live in a secret store
    // 获取模型列表, 更新模型状态
    const models = await api<{ models: { id: string; name: string }[] }>('GET', '/api/v1/models');
    expect(models.body.models.map((x) => x.name)).toContain('llama-2-7b-chat');
    expect(
      (await api<{ status: string }>('PUT', `/api/v1/models/${m.body.id}/status`, { status: 'offline' })).body
        .status,
    ).toBe('offline');
    expect(
      (await api<{ status: string }>('PUT', `/api/v1/models/${m.body.id}/status`, { status: 'online' })).body
        .status,
    ).toBe('online');
    // 创建任务, 获取任务详情
    const created = await api<{ id: string; status: string; priority: number; type: string }>(
      'POST',
      '/api/v1/tasks',
      {
        model_id: m.body.id,
        type: 'text-generation',
        input: '写一个关于人工智能的简短介绍',
        priority: 2,
      },
    );
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ status: 'pending', priority: 2, type: 'text-generation' });
    const done = await waitFor(
      'the task to complete',
      async () => {
        const t = (
          await api<{ status: string; output: string | null }>('GET', `/api/v1/tasks/${created.body.id}`)
        ).body;
        return t.status === 'completed' && t;
      },
      60_000,
      200,
    );
    expect(done.output).toBe('echo(/models/llama-2-7b-chat): 写一个关于人工智能的简短介绍');
    // 获取任务列表 (page, page_size, status)
    const page = await api<{
      tasks: { id: string; status: string }[];
      total: number;
      page: number;
      page_size: number;
    }>('GET', '/api/v1/tasks?page=1&page_size=20&status=completed');
    expect(page.body).toMatchObject({ page: 1, page_size: 20 });
    expect(page.body.tasks.map((t) => t.id)).toContain(created.body.id);
    expect(page.body.tasks.every((t) => t.status === 'completed')).toBe(true);
    expect(page.body.total).toBeGreaterThanOrEqual(page.body.tasks.length);
    // 取消任务 (one that waits on an offline model), 重试任务
    await api('PUT', `/api/v1/models/${m.body.id}/status`, { status: 'offline' });
    const waiting = await api<{ id: string }>('POST', '/api/v1/tasks', {
      model_id: 'llama-2-7b-chat',
      type: 'summarization',
      input: 'x',
      priority: 3,
    });
    const cancelled = await api<{ status: string }>('DELETE', `/api/v1/tasks/${waiting.body.id}`);
    expect(cancelled.body.status).toBe('cancelled');
    await api('PUT', `/api/v1/models/${m.body.id}/status`, { status: 'online' });
    const retried = await api<{ status: string }>('POST', `/api/v1/tasks/${waiting.body.id}/retry`);
    expect(retried.body.status).toBe('pending');
    await waitFor(
      'the retried task to complete',
      async () =>
        (await api<{ status: string }>('GET', `/api/v1/tasks/${waiting.body.id}`)).body.status ===
        'completed',
      60_000,
      200,
    );
    // 统计接口 and 健康检查
    const dash = await api<Record<string, number>>('GET', '/api/v1/stats/dashboard');
    expect(dash.body.completed_tasks).toBeGreaterThanOrEqual(2);
    expect(dash.body.total_models).toBeGreaterThanOrEqual(1);
    expect(dash.body.online_models).toBeGreaterThanOrEqual(1);
    const byDate = await api<{ stats: { date: string; total: number }[] }>(
      'GET',
      '/api/v1/stats/tasks/date?days=7',
    );
    expect(byDate.body.stats).toHaveLength(7);
    expect(byDate.body.stats.at(-1)?.total).toBeGreaterThan(0);
    expect((await api<{ status: string }>('GET', '/api/v1/system/health')).body.status).toBe('healthy');
  });
});
