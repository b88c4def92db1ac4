/**
 * Owners over the API handler, with IAM identities as API Gateway passes them: another owner's task
 * is a 404 on every route that names it and never appears in their lists or stats; an admin (the
 * stack's adminPrincipals, a role matched whatever the session) sees and acts on all; a request
 * without an identity is a 401.
 */
import { beforeAll, describe, expect, inject, it } from 'vitest';
import type { ApiHandler } from '../../lib/local/api-server.ts';
import { caller } from '../support/api.ts';
import { testStack } from '../support/stack.ts';

const ALICE = 'arn:aws:iam::000000000000:user/alice';
const MALLORY = 'arn:aws:iam::000000000000:user/mallory';
const ADMIN_ROLE = 'arn:aws:iam::000000000000:role/ops/TrainstackAdmin';
const ADMIN_SESSION = 'arn:aws:sts::000000000000:assumed-role/TrainstackAdmin/jane@example.com';

let as: (who: string | null) => ReturnType<typeof caller>;
let aliceTask: string;
let aliceTrain: string;
let aliceBatch: string;

beforeAll(async () => {
  await testStack(inject('awsEndpoint'), { adminPrincipals: ADMIN_ROLE });
  const mod = (await import('../../lambdas/handlers/api.ts')) as { route: ApiHandler };
  as = (who) => caller(mod.route, who);
  const r = await as(ALICE)<{ taskId: string }>('POST', '/v1/tasks', {
    type: 'container',
    image: 'busybox',
    command: ['true'],
    env: { TOKEN: 'secret' },
  });
  aliceTask = r.body.taskId;
  const t = await as(ALICE)<{ task_id: string }>('POST', '/train', { epochs: 1 });
  aliceTrain = t.body.task_id;
  const b = await as(ALICE)<{ batchId: string }>('POST', '/v1/batches', {});
  aliceBatch = b.body.batchId;
});

const idRoutes = (id: string, trainId: string): [string, string][] => [
  ['GET', `/v1/tasks/${id}`],
  ['GET', `/v1/tasks/${id}/logs`],
  ['GET', `/v1/tasks/${id}/artifacts`],
  ['GET', `/v1/tasks/${id}/trajectory`],
  ['POST', `/v1/tasks/${id}/retry`],
  ['POST', `/v1/tasks/${id}/cancel`],
  ['DELETE', `/v1/tasks/${id}`],
  ['GET', `/train/${trainId}`],
  ['DELETE', `/train/${trainId}`],
  ['GET', `/v1/batches/${aliceBatch}`],
  ['GET', `/v1/batches/${aliceBatch}/tasks`],
  ['GET', `/v1/batches/${aliceBatch}/trajectories`],
  ['POST', `/v1/tasks/batch?batchId=${aliceBatch}`],
];

describe('another owner', () => {
  it('gets a 404 on every route that names the task, and changes nothing', async () => {
    for (const [method, path] of idRoutes(aliceTask, aliceTrain)) {
      const r = await as(MALLORY)<{ error: { code: string } }>(method, path);
      expect(r.status, `${method} ${path}`).toBe(404);
    }
    const mine = await as(ALICE)<{ status: string }>('GET', `/v1/tasks/${aliceTask}`);
    expect(mine.body.status).toBe('QUEUED');
  });

  it('never sees the task in a list or in stats', async () => {
    for (const path of ['/v1/tasks', '/v1/tasks?status=QUEUED', '/v1/tasks?type=container', '/train']) {
      const r = await as(MALLORY)<{ tasks: unknown[] }>('GET', path);
      expect(r.body.tasks, path).toEqual([]);
    }
    expect((await as(MALLORY)<{ total: number }>('GET', '/v1/stats')).body.total).toBe(0);
    expect((await as(MALLORY)<{ total: number }>('GET', '/stats')).body.total).toBe(0);
    const forbidden = await as(MALLORY)<{ error: { details: { path: string }[] } }>(
      'GET',
      `/v1/tasks?owner=${encodeURIComponent(ALICE)}`,
    );
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.error.details[0]?.path).toBe('owner');
  });
});

describe('the owner', () => {
  it('sees the names of the env they gave, never the values', async () => {
    const r = await as(ALICE)<{ spec: { env: Record<string, string> } }>('GET', `/v1/tasks/${aliceTask}`);
    expect(r.body.spec.env).toEqual({ TOKEN: '***' });
    const list = await as(ALICE)('GET', '/v1/tasks');
    expect(JSON.stringify(list.body)).not.toContain('secret');
  });

  it('sees their own tasks and stats', async () => {
    const list = await as(ALICE)<{ tasks: { taskId: string; owner: string }[] }>('GET', '/v1/tasks');
    expect(list.body.tasks.map((t) => t.taskId).sort()).toEqual([aliceTask, aliceTrain].sort());
    expect((await as(ALICE)<{ total: number }>('GET', '/v1/stats')).body.total).toBe(2);
  });
});

describe('an admin', () => {
  it('is matched by role whatever the session, sees every owner, and can list one', async () => {
    await as(MALLORY)('POST', '/v1/tasks', { type: 'container', image: 'busybox', command: ['true'] });
    const all = await as(ADMIN_SESSION)<{ tasks: { owner: string }[] }>('GET', '/v1/tasks');
    expect(new Set(all.body.tasks.map((t) => t.owner))).toEqual(new Set([ALICE, MALLORY]));
    const alice = await as(ADMIN_SESSION)<{ tasks: { owner: string }[] }>(
      'GET',
      `/v1/tasks?owner=${encodeURIComponent(ALICE)}`,
    );
    expect(alice.body.tasks.map((t) => t.owner)).toEqual([ALICE, ALICE]);
    expect((await as(ADMIN_SESSION)<{ total: number }>('GET', '/v1/stats')).body.total).toBe(3);
  });

  it("acts on another owner's task and is named as who did", async () => {
    const r = await as(ADMIN_SESSION)<{ status: string; statusReason: string }>(
      'POST',
      `/v1/tasks/${aliceTask}/cancel`,
    );
    expect(r.status).toBe(200);
    expect(r.body.statusReason).toBe('cancelled by arn:aws:iam::000000000000:role/TrainstackAdmin');
  });
});

describe('no identity', () => {
  it('is a 401 on every route but /health', async () => {
    for (const [method, path] of [
      ['GET', '/v1/tasks'],
      ['POST', '/v1/tasks'],
      ['GET', '/v1/stats'],
      ['GET', `/v1/tasks/${aliceTask}`],
      ['POST', '/train'],
      ['GET', '/stats'],
    ] as const) {
      const body = method === 'POST' ? { type: 'container', image: 'busybox', epochs: 1 } : undefined;
      expect((await as(null)(method, path, body)).status, `${method} ${path}`).toBe(401);
    }
    expect((await as(null)('GET', '/health')).status).toBe(200);
  });
});

describe('people signed in to the dashboard', () => {
  // the identity pool's role: every person's session ARN is the same; their Cognito identity is not
  const SESSION = 'arn:aws:sts::000000000000:assumed-role/TrainstackDashboardUser/CognitoIdentityCredentials';
  const person = (identityId: string) =>
    caller(route, SESSION, {
      identityId,
      identityPoolId: 'us-east-1:pool',
      amr: ['authenticated', 'cognito-idp.us-east-1.amazonaws.com/us-east-1_x'],
    });
  let route: ApiHandler;
  beforeAll(async () => {
    route = ((await import('../../lambdas/handlers/api.ts')) as { route: ApiHandler }).route;
  });

  it('each own their tasks, though they share the role', async () => {
    const ann = person('us-east-1:ann');
    const ben = person('us-east-1:ben');
    const t = await ann<{ taskId: string; owner: string }>('POST', '/v1/tasks', {
      type: 'container',
      image: 'busybox',
      command: ['true'],
    });
    expect(t.status).toBe(202);
    expect(t.body.owner).toBe('cognito-identity:us-east-1:pool/us-east-1:ann');
    expect((await ann('GET', `/v1/tasks/${t.body.taskId}`)).status).toBe(200);
    expect((await ben('GET', `/v1/tasks/${t.body.taskId}`)).status).toBe(404);
    expect((await as(SESSION)('GET', `/v1/tasks/${t.body.taskId}`)).status).toBe(404);
  });
});
