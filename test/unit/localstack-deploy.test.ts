/**
 * `npm run localstack:deploy` (bin/localstack-deploy.sh) with docker and cdklocal replaced by
 * recorders: it deploys the LocalStack target with the project's cdklocal, derives the S3 endpoint
 * from the one endpoint variable, and starts LocalStack with docker compose only when nothing answers.
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../lib/function.ts';
import { freePort } from '../../lib/local/net.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'trainstack-ls-deploy-'));
const record = path.join(dir, 'calls.log');
const fake = (name: string) => {
  const file = path.join(dir, name);
  writeFileSync(
    file,
    `#!/bin/sh\necho "${name} $* | s3=$AWS_ENDPOINT_URL_S3 endpoint=$AWS_ENDPOINT_URL" >> "${record}"\n`,
  );
  chmodSync(file, 0o755);
  return file;
};
let server: Server;
let port: number;

async function deploy(endpoint: string): Promise<string[]> {
  writeFileSync(record, '');
  await promisify(execFile)(
    'bash',
    [path.join(REPO_ROOT, 'bin', 'localstack-deploy.sh'), '--outputs-file', 'o.json'],
    {
      cwd: REPO_ROOT,
      env: { ...process.env, AWS_ENDPOINT_URL: endpoint, DOCKER: fake('docker'), CDKLOCAL: fake('cdklocal') },
    },
  );
  return readFileSync(record, 'utf8').trim().split('\n');
}

beforeAll(async () => {
  port = await freePort();
  server = createServer((req, res) => {
    res.writeHead(req.url === '/_localstack/health' ? 200 : 404, { 'content-type': 'application/json' });
    res.end('{"services":{}}');
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

describe('localstack:deploy', () => {
  it('deploys the LocalStack target to an endpoint that answers, without docker', async () => {
    const endpoint = `http://127.0.0.1:${port}`;
    const calls = await deploy(endpoint);
    expect(calls).toEqual([
      `cdklocal bootstrap -c target=localstack | s3=${endpoint} endpoint=${endpoint}`,
      `cdklocal deploy -c target=localstack --require-approval never --outputs-file o.json | s3=${endpoint} endpoint=${endpoint}`,
    ]);
  });

  it('starts LocalStack with docker compose when nothing answers', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const calls = await deploy(closed);
    expect(calls[0]).toMatch(/^docker compose up -d --wait localstack/);
    expect(calls.slice(1).map((c) => c.split(' | ')[0])).toEqual([
      'cdklocal bootstrap -c target=localstack',
      'cdklocal deploy -c target=localstack --require-approval never --outputs-file o.json',
    ]);
  });

  it('uses the project’s own pinned cdklocal and aws-cdk', () => {
    const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
      devDependencies: Record<string, string>;
    };
    expect(pkg.devDependencies['aws-cdk-local']).toMatch(/^\d+\.\d+\.\d+$/);
    expect(pkg.devDependencies['aws-cdk']).toMatch(/^\d+\.\d+\.\d+$/);
    expect(readFileSync(path.join(REPO_ROOT, 'bin', 'localstack-deploy.sh'), 'utf8')).toContain(
      'node_modules/.bin/cdklocal',
    );
  });
});
