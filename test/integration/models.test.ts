/**
 * The model registry through the API handler, against DynamoDB Local: register, list, show by id or
 * name, replace and rename, online/offline, remove (refused while tasks run), unique names, keys only
 * as secret references, who may change a model, and inference tasks naming a model.
 */
import { beforeAll, describe, expect, inject, it } from 'vitest';
import type { ApiHandler } from '../../lib/local/api-server.ts';
import { caller } from '../support/api.ts';
import { patchItem, type TestStack, testStack } from '../support/stack.ts';

let alice: ReturnType<typeof caller>;
let bob: ReturnType<typeof caller>;
let stack: TestStack;

type Model = {
  modelId: string;
  name: string;
  status: string;
  maxWorkers: number;
  apiKey?: string;
  active: number;
};
type Problem = { error: { code: string; details: { path: string; message: string }[] } };

const gpt = (extra: object = {}) => ({
  name: 'gpt-x',
  type: 'openai',
  baseUrl: 'https://api.openai.com/v1',
  model: 'gpt-4o-mini',
  maxWorkers: 3,
  apiKey: 'secretsmanager:trainstack/openai#key',
  defaults: { maxTokens: 512, temperature: 0.7 },
  ...extra,
});

beforeAll(async () => {
  stack = await testStack(inject('awsEndpoint'));
  const mod = (await import('../../lambdas/handlers/api.ts')) as { route: ApiHandler };
  alice = caller(mod.route, 'arn:aws:iam::000000000000:user/alice');
  bob = caller(mod.route, 'arn:aws:iam::000000000000:user/bob');
});

describe('the model registry', () => {
  it("keeps models out of their owner's task list (a model item is not a task)", async () => {
    const carol = caller(
      ((await import('../../lambdas/handlers/api.ts')) as { route: ApiHandler }).route,
      'arn:aws:iam::000000000000:user/carol',
    );
    expect((await carol('POST', '/v1/models', gpt({ name: 'carols' }))).status).toBe(201);
    const mine = await carol<{ tasks: unknown[] }>('GET', '/v1/tasks');
    expect(mine.status).toBe(200);
    expect(mine.body.tasks).toEqual([]);
    const got = await carol<Model & { owner: string }>('GET', '/v1/models/carols');
    expect(got.body.owner).toBe('arn:aws:iam::000000000000:user/carol');
  });

  it('registers a model, lists it, and shows it by id or by name', async () => {
    const r = await alice<Model>('POST', '/v1/models', gpt({ name: 'reg-1' }));
    expect(r.status).toBe(201);
    expect(r.headers.location).toBe(`/v1/models/${r.body.modelId}`);
    expect(r.body).toMatchObject({ name: 'reg-1', status: 'online', maxWorkers: 3, active: 0 });
    expect(r.body.apiKey).toBe('secretsmanager:trainstack/openai#key');
    const list = await bob<{ models: Model[] }>('GET', '/v1/models');
    expect(list.body.models.map((m) => m.name)).toContain('reg-1');
    expect((await bob<Model>('GET', `/v1/models/${r.body.modelId}`)).body.name).toBe('reg-1');
    expect((await bob<Model>('GET', '/v1/models/reg-1')).body.modelId).toBe(r.body.modelId);
    expect((await bob('GET', '/v1/models/no-such-model')).status).toBe(404);
  });

  it('keeps names unique, and takes an API key only as a secret reference', async () => {
    expect((await alice('POST', '/v1/models', gpt({ name: 'reg-2' }))).status).toBe(201);
    const again = await bob<Problem>('POST', '/v1/models', gpt({ name: 'reg-2' }));
    expect(again.status).toBe(409);
    const raw = await alice<Problem>(
      'POST',
      '/v1/models',
      gpt({ name: 'reg-3', apiKey: 'sk-live-0123456789' }),
    );
    expect(raw.status).toBe(400);
    expect(raw.body.error.details[0]).toMatchObject({
      path: 'apiKey',
      message: expect.stringContaining('never the key'),
    });
    // a name with / could not be named in /v1/models/{name}
    const slash = await alice<Problem>('POST', '/v1/models', gpt({ name: 'meta/llama' }));
    expect(slash.body.error.details).toEqual([expect.objectContaining({ path: 'name' })]);
    const bad = await alice<Problem>(
      'POST',
      '/v1/models',
      gpt({ name: 'reg-3', maxWorkers: 0, baseUrl: 'ftp://x' }),
    );
    expect(bad.body.error.details.map((d) => d.path).sort()).toEqual(['baseUrl', 'maxWorkers']);
  });

  it('replaces and renames a model (the old name is free again) and puts it offline and online', async () => {
    const m = (await alice<Model>('POST', '/v1/models', gpt({ name: 'reg-4' }))).body;
    const renamed = await alice<Model>(
      'PUT',
      `/v1/models/${m.modelId}`,
      gpt({ name: 'reg-4b', maxWorkers: 5 }),
    );
    expect(renamed.body).toMatchObject({ modelId: m.modelId, name: 'reg-4b', maxWorkers: 5 });
    expect((await alice('GET', '/v1/models/reg-4')).status).toBe(404);
    expect((await alice('POST', '/v1/models', gpt({ name: 'reg-4' }))).status).toBe(201);
    const off = await alice<Model>('PUT', '/v1/models/reg-4b/status', { status: 'offline' });
    expect(off.body.status).toBe('offline');
    expect((await alice<Model>('GET', `/v1/models/${m.modelId}`)).body).toMatchObject({
      status: 'offline',
      maxWorkers: 5,
    });
    expect((await alice<Problem>('PUT', '/v1/models/reg-4b/status', { status: 'asleep' })).status).toBe(400);
    expect((await alice<Model>('PUT', '/v1/models/reg-4b/status', { status: 'online' })).body.status).toBe(
      'online',
    );
  });

  it('lets anyone use a model but only its owner (or an admin) change or remove it', async () => {
    const m = (await alice<Model>('POST', '/v1/models', gpt({ name: 'reg-5' }))).body;
    expect((await bob('PUT', `/v1/models/${m.modelId}/status`, { status: 'offline' })).status).toBe(403);
    expect((await bob('DELETE', `/v1/models/${m.modelId}`)).status).toBe(403);
    expect((await alice<Model>('GET', `/v1/models/${m.modelId}`)).body.status).toBe('online');
  });

  it('removes a model with no running task (its name free again), and refuses with 409 while tasks run', async () => {
    const m = (await alice<Model>('POST', '/v1/models', gpt({ name: 'reg-6' }))).body;
    await patchItem(stack.tableName, `MODEL#${m.modelId}`, { active: 2 });
    const busy = await alice<Problem>('DELETE', `/v1/models/${m.modelId}`);
    expect(busy.status).toBe(409);
    expect((await alice('GET', `/v1/models/${m.modelId}`)).status).toBe(200);
    await patchItem(stack.tableName, `MODEL#${m.modelId}`, { active: 0 });
    expect((await alice('DELETE', `/v1/models/${m.modelId}`)).status).toBe(204);
    expect((await alice('GET', `/v1/models/${m.modelId}`)).status).toBe(404);
    expect(
      (await alice<{ models: Model[] }>('GET', '/v1/models')).body.models.map((x) => x.name),
    ).not.toContain('reg-6');
    expect((await alice('DELETE', `/v1/models/${m.modelId}`)).status).toBe(404);
    expect((await bob('POST', '/v1/models', gpt({ name: 'reg-6' }))).status).toBe(201);
  });

  it('takes an inference task naming a registered model (by name or id), and refuses an unknown one on params.model', async () => {
    const m = (await alice<Model>('POST', '/v1/models', gpt({ name: 'reg-7' }))).body;
    const unknown = await bob<Problem>('POST', '/v1/tasks', {
      type: 'inference',
      params: { model: 'no-such-model', kind: 'text-generation', input: 'hi' },
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.details).toEqual([expect.objectContaining({ path: 'params.model' })]);
    const neither = await bob<Problem>('POST', '/v1/tasks', {
      type: 'inference',
      params: { model: 'reg-7', kind: 'text-generation' },
    });
    expect(neither.body.error.details).toEqual([expect.objectContaining({ path: 'params.input' })]);
    const uri = await bob<Problem>('POST', '/v1/tasks', {
      type: 'inference',
      params: { model: 'reg-7', kind: 'text-generation', inputsUri: 's3://my-bucket/requests.jsonl' },
    });
    expect(uri.body.error.details).toEqual([expect.objectContaining({ path: 'roleArn' })]);
    for (const ref of ['reg-7', m.modelId]) {
      const ok = await bob<{ status: string; modelId: string }>('POST', '/v1/tasks', {
        type: 'inference',
        params: { model: ref, kind: 'text-generation', input: 'hi' },
      });
      expect(ok.status).toBe(202);
      expect(ok.body).toMatchObject({ status: 'QUEUED', modelId: m.modelId });
    }
  });
});
