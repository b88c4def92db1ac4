import { describe, expect, it } from 'vitest';
import { ACTIVE, STATUSES, TASK_TYPES } from '../../lambdas/domain/model.ts';
import {
  canTransition,
  statsDelta,
  statusKey,
  submitDelta,
  typeStatusKey,
} from '../../lambdas/domain/transitions.ts';

describe('task life cycle', () => {
  it('never leaves SUCCEEDED', () => {
    for (const to of STATUSES) expect(canTransition('SUCCEEDED', to)).toBe(false);
  });

  it('lets a queued task be cancelled but not jump to RUNNING', () => {
    expect(canTransition('QUEUED', 'CANCELLED')).toBe(true);
    expect(canTransition('QUEUED', 'RUNNING')).toBe(false);
  });

  it('requeues failed or cancelled tasks, and a claim whose workflow never started', () => {
    const into = STATUSES.filter((s) => canTransition(s, 'QUEUED'));
    expect(into.sort()).toEqual(['CANCELLED', 'FAILED', 'STARTING']);
  });
});

describe('stats deltas', () => {
  it('move one count from the old status to the new, for the status and the type', () => {
    const d = statsDelta('training', 'RUNNING', 'SUCCEEDED');
    expect(d.add[statusKey('RUNNING')]).toBe(-1);
    expect(d.add[statusKey('SUCCEEDED')]).toBe(1);
    expect(d.add[typeStatusKey('training', 'RUNNING')]).toBe(-1);
    expect(d.add[typeStatusKey('training', 'SUCCEEDED')]).toBe(1);
    expect(d.daily).toBe('succeeded');
  });

  it('keep the status counters summing to zero for every allowed change', () => {
    for (const type of TASK_TYPES) {
      for (const from of STATUSES) {
        for (const to of STATUSES) {
          if (!canTransition(from, to)) continue;
          const sum = Object.values(statsDelta(type, from, to).add).reduce((a, b) => a + b, 0);
          expect(sum, `${from}->${to}`).toBe(0);
        }
      }
    }
  });

  it('take a concurrency slot on dispatch and give it back at the end', () => {
    expect(statsDelta('training', 'QUEUED', 'STARTING').active).toBe(1);
    expect(statsDelta('training', 'RUNNING', 'RETRYING').active).toBe(0);
    for (const from of ACTIVE) expect(statsDelta('container', from, 'CANCELLED').active).toBe(-1);
    expect(statsDelta('container', 'QUEUED', 'CANCELLED').active).toBe(0);
  });

  it('count a submission once in total, status and type', () => {
    expect(submitDelta('inference')).toEqual({
      total: 1,
      status_QUEUED: 1,
      type_inference: 1,
      typeStatus_inference_QUEUED: 1,
    });
  });
});
