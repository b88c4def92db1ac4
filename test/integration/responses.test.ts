/**
 * The OpenAPI document's response schemas against the handler's real answers: every route is called
 * (in this process, as API Gateway would call it) and what it answers is parsed with the schema the
 * document publishes for it, at the status the document names. A handler that changes its answer
 * without the document fails here.
 */
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { RESPONSES } from '../../lambdas/api/responses.ts';
import { ROUTES } from '../../lambdas/api/routes.ts';
import type { ApiHandler } from '../../lib/local/api-server.ts';
import { caller } from '../support/api.ts';
import { testStack } from '../support/stack.ts';

let as: ReturnType<typeof caller>;
const ids: Record<string, string> = {};
const seen = new Set<string>();

beforeAll(async () => {
  await testStack(inject('awsEndpoint'));
  const mod = (await import('../../lambdas/handlers/api.ts')) as { route: ApiHandler };
  as = caller(mod.route);
});

/** Call a route and check its answer against the document: the key is the route table's. */
async function check(key: string, path: string, body?: unknown, headers?: Record<string, string>) {
  const documented = RESPONSES[key];
  expect(documented, key).toBeDefined();
  const [method] = key.split(' ');
  const r = await as(method ?? 'GET', path, body, headers);
  expect(r.status, `${key}: ${JSON.stringify(r.body).slice(0, 300)}`).toBe(documented?.status);
  const parsed = documented?.schema.safeParse(documented.status === 204 ? undefined : r.body);
  expect(parsed?.success, `${key}: ${JSON.stringify(parsed?.error?.issues ?? []).slice(0, 500)}`).toBe(true);
  seen.add(key);
  return r.body as Record<string, unknown>;
}

describe('every route answers as the OpenAPI document says', () => {
  it('tasks, batches, stats, models and the seed routes', async () => {
    await check('GET /health', '/health');
    await check('GET /openapi.json', '/openapi.json');
    const model = await check('POST /v1/models', '/v1/models', {
      name: 'doc-llm',
      type: 'local',
      baseUrl: 'http://127.0.0.1:9/v1',
      model: 'm',
      apiKey: 'ssm:/trainstack/k',
    });
    ids.model = String(model.modelId);
    await check('GET /v1/models', '/v1/models');
    await check('GET /v1/models/{id}', `/v1/models/${ids.model}`);
    await check('PUT /v1/models/{id}', `/v1/models/${ids.model}`, {
      name: 'doc-llm',
      type: 'local',
      baseUrl: 'http://127.0.0.1:9/v1',
      model: 'm',
      maxWorkers: 2,
    });
    await check('PUT /v1/models/{id}/status', `/v1/models/${ids.model}/status`, { status: 'offline' });
    await check('GET /v1/models/{id}/stats', `/v1/models/${ids.model}/stats`);

    const task = await check('POST /v1/tasks', '/v1/tasks', {
      type: 'inference',
      params: { model: 'doc-llm', kind: 'custom', inputs: [{ text: 'x' }] },
    });
    ids.task = String(task.taskId);
    await check('GET /v1/tasks', '/v1/tasks?limit=5');
    await check('GET /v1/tasks/{id}', `/v1/tasks/${ids.task}`);
    await check('GET /v1/tasks/{id}/logs', `/v1/tasks/${ids.task}/logs`);
    await check('GET /v1/tasks/{id}/artifacts', `/v1/tasks/${ids.task}/artifacts`);
    await check('POST /v1/tasks/{id}/cancel', `/v1/tasks/${ids.task}/cancel`);
    await check('POST /v1/tasks/{id}/retry', `/v1/tasks/${ids.task}/retry`);
    await check('DELETE /v1/tasks/{id}', `/v1/tasks/${ids.task}`);
    await check('GET /v1/stats', '/v1/stats');
    await check('GET /v1/stats/daily', '/v1/stats/daily?days=3');

    const batch = await check('POST /v1/batches', '/v1/batches', { name: 'doc' });
    ids.batch = String(batch.batchId);
    await check(
      'POST /v1/tasks/batch',
      `/v1/tasks/batch?batchId=${ids.batch}`,
      '{"type": "container", "image": "busybox", "command": ["true"]}\n{"type": "nope"}\n',
      { 'content-type': 'application/x-ndjson' },
    );
    await check('GET /v1/batches/{id}', `/v1/batches/${ids.batch}`);
    await check('GET /v1/batches/{id}/tasks', `/v1/batches/${ids.batch}/tasks`);
    await check('GET /v1/batches/{id}/trajectories', `/v1/batches/${ids.batch}/trajectories`);
    await check('GET /v1/batches/{id}/export', `/v1/batches/${ids.batch}/export?format=openai-chat`);

    const train = await check('POST /train', '/train', { epochs: 2, batch_size: 8, learning_rate: 0.01 });
    await check('GET /train/{task_id}', `/train/${String(train.task_id)}`);
    await check('GET /train', '/train?limit=5');
    await check('DELETE /train/{task_id}', `/train/${String(train.task_id)}`);
    await check('GET /stats', '/stats');

    await check('PUT /v1/models/{id}/status', `/v1/models/${ids.model}/status`, { status: 'online' });
    const llm = await check('POST /api/v1/tasks', '/api/v1/tasks', {
      model_id: 'doc-llm',
      type: 'text-generation',
      input: 'hello',
    });
    ids.llm = String(llm.id);
    await check('GET /api/v1/tasks', '/api/v1/tasks');
    await check('GET /api/v1/tasks/{id}', `/api/v1/tasks/${ids.llm}`);
    await check('DELETE /api/v1/tasks/{id}', `/api/v1/tasks/${ids.llm}`);
    await check('POST /api/v1/tasks/{id}/retry', `/api/v1/tasks/${ids.llm}/retry`);
    const m = await check('POST /api/v1/models', '/api/v1/models', {
      name: 'doc-llm-2',
      type: 'local',
      config: { host: '127.0.0.1', port: 9, model: 'm' },
    });
    await check('GET /api/v1/models', '/api/v1/models');
    await check('PUT /api/v1/models/{id}/status', `/api/v1/models/${String(m.id)}/status`, {
      status: 'offline',
    });
    await check('GET /api/v1/stats/dashboard', '/api/v1/stats/dashboard');
    await check('GET /api/v1/stats/tasks/date', '/api/v1/stats/tasks/date');
    await check('GET /api/v1/system/health', '/api/v1/system/health');
    await as('DELETE', `/api/v1/tasks/${ids.llm}`);
    await check('DELETE /v1/models/{id}', `/v1/models/${String(m.id)}`);
  });

  it('documents every route of the router, and this test called each but the trajectory', () => {
    for (const r of ROUTES) expect(RESPONSES[`${r.method} ${r.path}`], `${r.method} ${r.path}`).toBeDefined();
    const uncalled = ROUTES.map((r) => `${r.method} ${r.path}`).filter((k) => !seen.has(k));
    // a trajectory exists only after an agent ran (the agent tests read it through this route)
    expect(uncalled).toEqual(['GET /v1/tasks/{id}/trajectory']);
  });
});
