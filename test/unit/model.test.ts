import { describe, expect, it } from 'vitest';
import { fromZod } from '../../lambdas/api/http.ts';
import { publicView, QUEUE_EXPIRED, type TaskRecord, withDefaults } from '../../lambdas/domain/model.ts';
import { submitSchema } from '../../lambdas/domain/task-spec.ts';

const training = { type: 'training', params: { epochs: 3, batchSize: 32, learningRate: 0.01 } };

describe('submit schema', () => {
  it('fills the documented defaults', () => {
    const spec = withDefaults(submitSchema.parse(training));
    expect(spec).toMatchObject({ priority: 5, timeoutSeconds: 3600, maxRetries: 3, gpus: 1 });
    expect(withDefaults(submitSchema.parse({ type: 'container', image: 'busybox' })).gpus).toBe(0);
  });

  it('names the field that is wrong', () => {
    const r = submitSchema.safeParse({ ...training, params: { ...training.params, learningRate: 0 } });
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.path.join('.'))).toContain('params.learningRate');
  });

  it('rejects priorities and timeouts out of range', () => {
    const paths = (v: object) =>
      submitSchema.safeParse({ ...training, ...v }).error?.issues.map((i) => i.path.join('.'));
    expect(paths({ priority: 11 })).toEqual(['priority']);
    expect(paths({ timeoutSeconds: 59 })).toEqual(['timeoutSeconds']);
    expect(paths({ maxRetries: 11 })).toEqual(['maxRetries']);
  });

  it('says in English what is wrong with each field (zod/mini has no messages until a locale is set)', () => {
    const issues = (v: object) =>
      submitSchema.safeParse({ ...training, ...v }).error?.issues.map((i) => [i.path.join('.'), i.message]);
    expect(issues({ timeoutSeconds: 59 })).toEqual([
      ['timeoutSeconds', 'Too small: expected number to be >=60'],
    ]);
    expect(issues({ priority: 'high' })).toEqual([
      ['priority', 'Invalid input: expected number, received string'],
    ]);
    expect(issues({ gpus: 1.5 })).toEqual([['gpus', 'Invalid input: expected int, received number']]);
    expect(issues({ epochs: 5 })).toEqual([['', 'Unrecognized key: "epochs"']]);
    // a map key that is wrong says why, beside the generic words
    const env = submitSchema.safeParse({ ...training, env: { '1A': 'x' } }).error;
    expect(env && fromZod(env)).toEqual([
      { path: 'env.1A', message: 'Invalid key in record: env names are letters, digits and _' },
    ]);
  });

  it('rejects unknown fields instead of ignoring them', () => {
    const r = submitSchema.safeParse({ ...training, epochs: 5 });
    expect(r.success).toBe(false);
  });

  it('requires an image for container tasks', () => {
    const r = submitSchema.safeParse({ type: 'container' });
    expect(r.error?.issues.map((i) => i.path.join('.'))).toContain('image');
  });

  it('accepts non-ASCII names', () => {
    expect(submitSchema.parse({ ...training, name: '研究框架对比' }).name).toBe('研究框架对比');
  });
});

describe('an inference task in batch terms', () => {
  const task = (status: TaskRecord['status'], extra: Partial<TaskRecord> = {}) =>
    publicView({
      taskId: 'T',
      type: 'inference',
      owner: 'o',
      spec: { type: 'inference' } as never,
      status,
      priority: 5,
      progress: 0,
      attempts: [],
      retryCount: 0,
      createdAt: '2026-11-24T00:00:00Z',
      ...extra,
    });

  it("names its status as OpenAI names a batch's", () => {
    expect(task('QUEUED').batchStatus).toBe('validating');
    expect(task('STARTING').batchStatus).toBe('validating');
    expect(task('RUNNING', { progress: 40 }).batchStatus).toBe('in_progress');
    expect(task('RUNNING', { progress: 100 }).batchStatus).toBe('finalizing');
    expect(task('RETRYING').batchStatus).toBe('in_progress');
    expect(task('SUCCEEDED').batchStatus).toBe('completed');
    expect(task('CANCELLED').batchStatus).toBe('cancelled');
    expect(task('FAILED', { statusReason: 'failed after 1 attempt(s)' }).batchStatus).toBe('failed');
    expect(task('FAILED', { statusReason: `${QUEUE_EXPIRED} (60 s)` }).batchStatus).toBe('expired');
  });

  it('counts its requests from its metrics, and only once it has them', () => {
    expect(task('RUNNING').requestCounts).toBeUndefined();
    expect(task('RUNNING', { metrics: { requests: 9, succeeded: 4, failed: 1 } }).requestCounts).toEqual({
      total: 9,
      completed: 4,
      failed: 1,
    });
    const container = { ...task('RUNNING'), type: 'container' as const };
    expect(publicView({ ...container, batchStatus: undefined }).batchStatus).toBeUndefined();
  });
});
