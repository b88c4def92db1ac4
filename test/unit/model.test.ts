import { describe, expect, it } from 'vitest';
import { submitSchema, withDefaults } from '../../lambdas/domain/model.ts';

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
