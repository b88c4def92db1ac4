/**
 * The API function as `cdk deploy` uploads it: CDK's own bundling (NodejsFunction, esbuild) of one
 * HouseFunction, and its asset run by a fresh Node process that has only what Lambda gives a function:
 * its variables and its role's credentials in the environment. Everything else runs the sources, so
 * this is where the bundle itself, and the credential chain swapped in for it, are shown to work.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { HouseFunction } from '../../lib/function.ts';
import { caller } from '../support/api.ts';
import { type TestStack, testStack } from '../support/stack.ts';

const scratch = mkdtempSync(path.join(tmpdir(), 'trainstack-deployed-bundle-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let stack: TestStack;
let bundle: string;

beforeAll(async () => {
  stack = await testStack(inject('awsEndpoint'));
  const app = new App({ outdir: path.join(scratch, 'cdk.out') });
  new HouseFunction(new Stack(app, 'Bundle'), 'Api', {
    handlerFile: 'api',
    logRetention: RetentionDays.ONE_WEEK,
  });
  const out = app.synth().directory;
  const assets = readdirSync(out).filter((d) => d.startsWith('asset.'));
  expect(assets).toHaveLength(1);
  bundle = path.join(out, assets[0] ?? '', 'index.mjs');
  expect(existsSync(bundle)).toBe(true);
}, 120_000);

/** One invocation of the bundle's handler in a fresh process with exactly `env`. */
function invoke(env: Record<string, string>) {
  return async (event: unknown) => {
    const script = `const { handler } = await import(${JSON.stringify(bundle)});
const context = { functionName: 'api', functionVersion: '$LATEST', awsRequestId: 'r', memoryLimitInMB: '512',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:api', getRemainingTimeInMillis: () => 30000 };
process.stdout.write('\\n@@' + JSON.stringify(await handler(JSON.parse(process.env.EVENT), context)));`;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...env, EVENT: JSON.stringify(event) },
      encoding: 'utf8',
    });
    const [logs = '', result] = run.stdout.split('\n@@');
    // the function's logs: its logger writes errors to stderr, as Lambda's console does
    lastLogs = logs + run.stderr;
    if (result === undefined) throw new Error(`the handler did not answer: ${lastLogs.slice(-2000)}`);
    return JSON.parse(result);
  };
}
let lastLogs = '';

/** What Lambda sets for a function: its configuration's variables, the region, the role's credentials. */
function lambdaEnvironment(): Record<string, string> {
  const keep =
    /^(AWS_|TABLE_NAME|QUEUE_URL|STATE_MACHINE_ARN|BUCKET_NAME|LOG_GROUP_NAME|POWERTOOLS_|MAX_|STATS_)/;
  const env = Object.fromEntries(
    Object.entries(process.env).filter((e): e is [string, string] => keep.test(e[0]) && e[1] !== undefined),
  );
  const home = path.join(scratch, 'home');
  mkdirSync(home, { recursive: true });
  return { ...env, PATH: process.env.PATH ?? '', HOME: home, AWS_SESSION_TOKEN: 'session' };
}

describe('the API function as deployed', () => {
  it('stores and reads a task with the credentials Lambda puts in its environment', async () => {
    const api = caller(invoke(lambdaEnvironment()));
    const posted = await api<{ taskId: string; status: string }>('POST', '/v1/tasks', {
      type: 'container',
      image: 'busybox',
      command: ['true'],
      name: 'from-the-bundle',
    });
    expect(posted.status, lastLogs).toBe(202);
    expect(posted.body.status).toBe('QUEUED');
    const got = await api<{ name: string; status: string }>('GET', `/v1/tasks/${posted.body.taskId}`);
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ name: 'from-the-bundle', status: 'QUEUED' });
    // the record is in the table the sources read too
    const { DynamoTaskRepository } = await import('../../lambdas/clients/dynamodb-tasks.ts');
    const { dynamodb } = await import('../../lambdas/clients/dynamodb.ts');
    const record = await new DynamoTaskRepository(dynamodb, stack.tableName).get(posted.body.taskId);
    expect(record?.name).toBe('from-the-bundle');
  }, 60_000);

  it('reads credentials from the environment only: a profile in ~/.aws is not looked at', async () => {
    const env = lambdaEnvironment();
    const { AWS_ACCESS_KEY_ID: id = '', AWS_SECRET_ACCESS_KEY: secret = '' } = env;
    for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']) delete env[k];
    // the same credentials as a profile, which the SDK's default chain would have used
    mkdirSync(path.join(env.HOME ?? '', '.aws'), { recursive: true });
    writeFileSync(
      path.join(env.HOME ?? '', '.aws', 'credentials'),
      `[default]\naws_access_key_id = ${id}\naws_secret_access_key = ${secret}\n`,
    );
    const r = await caller(invoke(env))('GET', '/v1/stats');
    expect(r.status).toBe(500);
    expect(lastLogs).toMatch(/Unable to find environment variable credentials/);
  }, 60_000);
});
