/**
 * Hostile input over every route, property-based (fast-check), against the API handler on DynamoDB
 * Local and fauxqs: whatever the method, path, query string, headers or body, the answer is never a
 * 5xx, and a 400 or 413 names the field that is wrong. FUZZ_RUNS sets the number of requests
 * (`npm run fuzz` runs 10,000; the default run here is short).
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { ROUTES } from '../../lambdas/api/routes.ts';
import type { ApiHandler } from '../../lib/local/api-server.ts';
import { caller } from '../support/api.ts';
import { testStack } from '../support/stack.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 150);
let api: ReturnType<typeof caller>;
let known: string[] = [];

beforeAll(async () => {
  await testStack(inject('awsEndpoint'));
  const mod = (await import('../../lambdas/handlers/api.ts')) as { route: ApiHandler };
  api = caller(mod.route);
  for (const type of ['container', 'training']) {
    const body =
      type === 'container'
        ? { type, image: 'busybox', command: ['true'] }
        : { type, params: { epochs: 1, batchSize: 1, learningRate: 0.1 } };
    const r = await api<{ taskId: string }>('POST', '/v1/tasks', body);
    known.push(r.body.taskId);
  }
  known = known.filter(Boolean);
});

/** Numbers DynamoDB cannot store, and other values that broke handlers before. */
const hostileNumber = fc.oneof(
  fc.constantFrom(1e200, -1e200, 1e-200, 1e126, 5e-324, Number.MAX_VALUE, -0, 2 ** 53 + 1),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
);
const hostileJson: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    hostileNumber,
    fc.string({ maxLength: 40 }),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(fc.constant(''), fc.string({ maxLength: 8 })), tie('value'), { maxKeys: 4 }),
  ),
})).value;
/** Deep nesting, built directly (random generators rarely go 40 levels down). */
const deep = fc.integer({ min: 17, max: 60 }).map((n) => {
  let v: unknown = 1;
  for (let i = 0; i < n; i++) v = { a: v };
  return v;
});
const spec = fc.record(
  {
    type: fc.constantFrom('training', 'trajectory', 'inference', 'container', 'other'),
    image: fc.string({ maxLength: 20 }),
    command: fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 }),
    name: fc.string({ maxLength: 30 }),
    priority: hostileNumber,
    gpus: hostileNumber,
    timeoutSeconds: hostileNumber,
    maxRetries: hostileNumber,
    env: fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 3 }),
    params: fc.oneof(
      fc.record({ epochs: hostileNumber, batchSize: hostileNumber, learningRate: hostileNumber }),
      fc.record({
        model: fc.string({ maxLength: 10 }),
        kind: fc.constantFrom('custom', 'embedding', 'x'),
        input: fc.oneof(hostileJson, deep),
      }),
      hostileJson,
    ),
  },
  { requiredKeys: ['type'] },
);
const segment = fc.oneof(
  fc.constantFrom(...['x', '01ARZ3NDEKTSV4RRFFQ69G5FAV', '%00', '..', 'batch']),
  fc.string({ maxLength: 30 }).map(encodeURIComponent),
);
const path = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...ROUTES.map((r) => r.path)) },
  { weight: 1, arbitrary: fc.array(segment, { minLength: 1, maxLength: 5 }).map((s) => `/${s.join('/')}`) },
);
/** The method of a route at that path most of the time, any method otherwise. */
const methodFor = (p: string) =>
  fc.oneof(
    {
      weight: 3,
      arbitrary: fc.constantFrom(
        ...(ROUTES.filter((r) => r.path === p).map((r) => r.method) as string[]),
        'GET',
      ),
    },
    { weight: 1, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE') },
  );
const query = fc.dictionary(
  fc.constantFrom('status', 'type', 'limit', 'cursor', 'attempt', 'days', 'owner', 'x'),
  fc.oneof(
    fc.constantFrom(
      'e30',
      'eyJwayI6IngifQ',
      'f/-1',
      'garbage',
      '-1',
      '1e400',
      '0',
      '100000',
      'RUNNING',
      'success',
    ),
    fc.string({ maxLength: 20 }),
  ),
  { maxKeys: 3 },
);
/** A valid task with one field replaced by something hostile: reaches the checks after validation. */
const BASES = [
  { type: 'training', params: { epochs: 1, batchSize: 1, learningRate: 0.1 } },
  { type: 'inference', params: { model: 'm', kind: 'custom', input: { text: 'hi' } } },
  { type: 'container', image: 'busybox', command: ['true'] },
];
const mutated = fc
  .record({
    base: fc.constantFrom(...BASES),
    field: fc.constantFrom(
      'params.learningRate',
      'params.input',
      'env',
      'tags',
      'name',
      'command',
      'priority',
    ),
    value: fc.oneof(
      hostileNumber,
      hostileJson,
      deep,
      fc.constant(Array.from({ length: 60 }, () => 'x'.repeat(8000))),
    ),
  })
  .map(({ base, field, value }) => {
    const out = structuredClone(base) as Record<string, unknown>;
    const [head, tail] = field.split('.') as [string, string | undefined];
    if (tail) out[head] = { ...((out[head] as object | undefined) ?? {}), [tail]: value };
    else out[head] = value;
    return out;
  });
const body = fc.oneof(
  mutated,
  fc.array(fc.oneof(mutated, fc.constantFrom(...BASES)), { minLength: 1, maxLength: 4 }),
  spec,
  fc.array(spec, { maxLength: 3 }),
  hostileJson,
  fc.string({ maxLength: 50 }),
  fc.constant(undefined),
);
const headers = fc.record(
  {
    'content-type': fc.constantFrom(
      'application/json',
      'application/x-ndjson',
      'text/plain',
      'application/x+json',
    ),
    'idempotency-key': fc.string({ maxLength: 20 }),
  },
  { requiredKeys: [] },
);

describe('hostile requests', () => {
  it(`never get a 5xx, and every 400 or 413 names its field (${RUNS} requests)`, async () => {
    let count = 0;
    await fc.assert(
      fc.asyncProperty(
        path.chain((p) => fc.tuple(methodFor(p), fc.constant(p))),
        fc.boolean(),
        query,
        body,
        headers,
        async ([method, p], useKnown, q, b, h) => {
          const target = useKnown && known[0] ? p.replace(/\{\w+\}/g, known[0]) : p.replace(/\{\w+\}/g, 'x');
          const qs = new URLSearchParams(q).toString();
          const r = await api<{ error?: { details?: { path: string }[] } }>(
            method,
            `${target}${qs ? `?${qs}` : ''}`,
            typeof b === 'string' ? b : b === undefined ? undefined : JSON.stringify(b),
            h,
          );
          count++;
          expect(r.status, `${method} ${target}?${qs}`).toBeLessThan(500);
          if (r.status === 400 || r.status === 413) expect(r.body.error?.details?.[0]?.path).toBeTruthy();
        },
      ),
      { numRuns: RUNS },
    );
    expect(count).toBe(RUNS);
    console.log(`fuzz: ${count} hostile requests, no 5xx`);
  }, 600_000);
});

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

describe('the inputs that once gave a 500', () => {
  const training = (params: object) => ({
    type: 'training',
    params: { epochs: 1, batchSize: 1, learningRate: 0.1, ...params },
  });
  type Err = { error: { code: string; details: { path: string }[] } };
  const fieldOf = (r: { body: Err }) => r.body.error.details.map((d) => d.path);

  it.each([
    ['e30', '{}'],
    [b64({ pk: 'x' }), 'a table key alone'],
    [b64({ pk: 'TASK#x', status: 'QUEUED', createdKey: 1 }), 'a number where a string goes'],
    [b64([1, 2]), 'not an object'],
  ])('a list cursor %s (%s) is a 400 on cursor', async (cursor) => {
    for (const q of ['', '&status=QUEUED', '&type=training']) {
      const r = await api<Err>('GET', `/v1/tasks?cursor=${cursor}${q}`);
      expect(r.status, q).toBe(400);
      expect(fieldOf(r)).toEqual(['cursor']);
    }
  });

  it('a cursor shaped for another index is a 400, not a DynamoDB error', async () => {
    await api('POST', '/v1/tasks', training({}));
    await api('POST', '/v1/tasks', training({}));
    const page = await api<{ cursor?: string }>('GET', '/v1/tasks?limit=1');
    expect(page.body.cursor).toBeTruthy();
    expect((await api('GET', `/v1/tasks?limit=1&cursor=${page.body.cursor}`)).status).toBe(200);
    // the status index's position, where the owner index's is expected
    const forged = b64({ pk: 'TASK#x', status: 'QUEUED', createdKey: '2026-01-01T00:00:00.000Z#x' });
    const r = await api<Err>('GET', `/v1/tasks?limit=1&cursor=${forged}`);
    expect(r.status).toBe(400);
    expect(fieldOf(r)).toEqual(['cursor']);
  });

  it.each([
    ['1e200', 'params.learningRate'],
    ['1e-200', 'params.learningRate'],
  ])('a number DynamoDB cannot store (%s) is a 400 naming it', async (n, field) => {
    const r = await api<Err>(
      'POST',
      '/v1/tasks',
      `{"type":"training","params":{"epochs":1,"batchSize":1,"learningRate":${n}}}`,
    );
    expect(r.status).toBe(400);
    expect(fieldOf(r)).toContain(field);
  });

  it('1e400 (Infinity once parsed) is a 400 naming it, also deep in an inference input', async () => {
    const r = await api<Err>(
      'POST',
      '/v1/tasks',
      '{"type":"inference","params":{"model":"m","kind":"custom","input":{"a":[1e400]}}}',
    );
    expect(r.status).toBe(400);
    expect(fieldOf(r)).toEqual(['params.input.a[0]']);
  });

  it('input nested 40 levels, and an empty object key, are 400s naming where', async () => {
    let v: unknown = 1;
    for (let i = 0; i < 40; i++) v = { a: v };
    const nested = await api<Err>('POST', '/v1/tasks', {
      type: 'inference',
      params: { model: 'm', kind: 'custom', input: v },
    });
    expect(nested.status).toBe(400);
    expect(fieldOf(nested)[0]).toMatch(/^params\.input(\.a)+$/);
    const empty = await api<Err>('POST', '/v1/tasks', {
      type: 'inference',
      params: { model: 'm', kind: 'custom', input: { '': 1 } },
    });
    expect(empty.status).toBe(400);
    expect(fieldOf(empty)).toEqual(['params.input']);
  });

  it('a task too large for a record is a 413 naming its largest field', async () => {
    const command = Array.from({ length: 60 }, () => 'x'.repeat(8000));
    const r = await api<Err>('POST', '/v1/tasks', { type: 'container', image: 'busybox', command });
    expect(r.status).toBe(413);
    expect(fieldOf(r)).toEqual(['command']);
  });

  it('a batch with an unstorable line midway stores the others and says which failed', async () => {
    const lines = [training({}), training({ learningRate: 1e-200 }), training({})];
    const r = await api<{ accepted: { line: number }[]; rejected: { line: number; error: Err['error'] }[] }>(
      'POST',
      '/v1/tasks/batch',
      lines,
    );
    expect(r.status).toBe(202);
    expect(r.body.accepted.map((a) => a.line)).toEqual([1, 3]);
    expect(r.body.rejected.map((x) => [x.line, x.error.details[0]?.path])).toEqual([
      [2, 'params.learningRate'],
    ]);
  });

  it('seed /train refuses what it cannot store with a 400 too', async () => {
    const r = await api<Err>('POST', '/train', '{"epochs": 1, "learning_rate": 1e-200}');
    expect(r.status).toBe(400);
    expect(fieldOf(r)).toContain('params.learningRate');
  });
});
