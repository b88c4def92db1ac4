import { describe, expect, it } from 'vitest';
import {
  publicView,
  QUEUE_EXPIRED,
  submitSchema,
  type TaskRecord,
  withDefaults,
} from '../../lambdas/domain/model.ts';

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
