/**
 * Your data on the local cloud: a training task whose dataset is a CSV in the local S3 trains on it
 * (its log names the file), the sklearn trainer saves its model, and a dataset that is not there
 * fails the task at once, without retries, with a reason that names it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskRecord } from '../../lambdas/domain/model.ts';
import { type LocalCloud, startLocalCloud } from '../../lib/local/cloud.ts';
import { http, waitFor } from '../support/http.ts';

const dataDir = mkdtempSync(path.join(tmpdir(), 'trainstack-data-'));
let cloud: LocalCloud;
const api = <T = Record<string, unknown>>(method: string, p: string, body?: unknown) =>
  http<T>(cloud.apiUrl, method, p, body);
const rows = Array.from({ length: 150 }, (_, i) => {
  const k = i % 3;
  const r = (n: number) => ((i * 7919 + n * 104729) % 1000) / 1000;
  return `${(k + r(1)).toFixed(3)},${(2 * k + r(2)).toFixed(3)},${['a', 'b', 'c'][k]}`;
});

beforeAll(async () => {
  cloud = await startLocalCloud({
    apiPort: 0,
    awsPort: 0,
    dataDir,
    context: { maxConcurrentTasks: 4 },
    tickMs: 300,
    functionLogLevel: 'ERROR',
    progressIntervalMs: 200,
  });
  await new S3Client({ ...cloud.clientConfig, forcePathStyle: true }).send(
    new PutObjectCommand({
      Bucket: cloud.bucketName,
      Key: 'datasets/three.csv',
      Body: `x,y,label\n${rows.join('\n')}\n`,
    }),
  );
});
afterAll(async () => {
  await cloud?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const submit = async (params: object, extra: object = {}) => {
  const r = await api<TaskRecord>('POST', '/v1/tasks', {
    type: 'training',
    params: { epochs: 3, batchSize: 16, learningRate: 0.01, model: 'mlp-small', ...params },
    gpus: 0,
    ...extra,
  });
  expect(r.status, JSON.stringify(r.body)).toBe(202);
  return r.body.taskId;
};
const finished = (id: string) =>
  waitFor(
    `task ${id} to finish`,
    async () => {
      const t = (await api<TaskRecord>('GET', `/v1/tasks/${id}`)).body;
      return ['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(t.status) ? t : undefined;
    },
    120_000,
    250,
  );
const logText = async (id: string) =>
  (await api<{ lines: { message: string }[] }>('GET', `/v1/tasks/${id}/logs`)).body.lines
    .map((l) => l.message)
    .join('\n');

describe('your data on the local cloud', () => {
  it('trains on a CSV in S3 (torch-mlp and sklearn), naming the file; a missing one fails at once, naming it', async () => {
    const dataset = `s3://${cloud.bucketName}/datasets/three.csv`;
    const missing = `s3://${cloud.bucketName}/datasets/nope.csv`;
    const [torchId, sklearnId, missingId] = [
      await submit({ dataset }),
      await submit({ dataset, trainer: 'sklearn', algorithm: 'gbt', labelColumn: 'label' }),
      await submit({ dataset: missing }, { maxRetries: 3 }),
    ];
    const torch = await finished(torchId);
    expect(torch.status).toBe('SUCCEEDED');
    expect(await logText(torchId)).toContain(
      `dataset: ${dataset} (150 rows, 2 features, label 'label' with 3 classes)`,
    );

    const sk = await finished(sklearnId);
    expect(sk.status).toBe('SUCCEEDED');
    expect(sk.metrics?.accuracy).toBeGreaterThan(0.5);
    const artifacts = await api<{ artifacts: { key: string }[] }>('GET', `/v1/tasks/${sklearnId}/artifacts`);
    expect(JSON.stringify(artifacts.body)).toContain('model.pkl');

    const gone = await finished(missingId);
    expect(gone.status).toBe('FAILED');
    expect(gone.attempts).toHaveLength(1); // not retried: the data is not there
    expect(gone.statusReason).toMatch(new RegExp(`the input ${missing} could not be read: NoSuchKey`));
  });

  it('gives each log line its level: stdout INFO, stderr WARN, a traceback ERROR', async () => {
    const r = await api<TaskRecord>('POST', '/v1/tasks', {
      type: 'container',
      image: 'python',
      command: ['python3', '-c', "import sys\nprint('to stdout')\nprint('careful', file=sys.stderr)\n1/0"],
      maxRetries: 0,
    });
    const t = await finished(r.body.taskId);
    expect(t.status).toBe('FAILED');
    const lines = (
      await api<{ lines: { level: string; message: string }[] }>('GET', `/v1/tasks/${t.taskId}/logs`)
    ).body.lines;
    const levelOf = (text: string) => lines.find((l) => l.message === text)?.level;
    expect(levelOf('to stdout')).toBe('INFO');
    expect(levelOf('careful')).toBe('WARN');
    expect(levelOf('Traceback (most recent call last):')).toBe('ERROR');
    expect(levelOf('ZeroDivisionError: division by zero')).toBe('ERROR');
  });
});
