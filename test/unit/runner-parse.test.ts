import { describe, expect, it } from 'vitest';
import { merge, parseLine } from '../../containers/runner/src/parse.ts';

describe('progress and metrics from output', () => {
  it('reads the runner line', () => {
    expect(parseLine('##trainstack {"progress": 42, "metrics": {"loss": 0.31}}')).toEqual({
      progress: 42,
      metrics: { loss: 0.31 },
    });
  });

  it('clamps progress to 0..100 and drops non-numeric metrics', () => {
    expect(parseLine('##trainstack {"progress": 140, "metrics": {"loss": "x", "acc": 0.5}}')).toEqual({
      progress: 100,
      metrics: { acc: 0.5 },
    });
  });

  it('ignores a malformed runner line', () => {
    expect(parseLine('##trainstack {"progress": ')).toBeUndefined();
  });

  it('reads Epoch 3/10 and epoch 3 of 10', () => {
    expect(parseLine('Epoch 3/10')?.progress).toBe(30);
    expect(parseLine('epoch 3 of 10 done')?.progress).toBe(30);
    expect(parseLine('step 250/1000 ')?.progress).toBe(25);
  });

  it('reads loss=0.31, loss: 0.31 and acc 0.9 style metrics', () => {
    expect(parseLine('Epoch 2/4 loss=0.31 accuracy: 0.875')).toEqual({
      progress: 50,
      metrics: { loss: 0.31, accuracy: 0.875 },
    });
    expect(parseLine('train_loss: 1.5e-2')?.metrics).toEqual({ train_loss: 0.015 });
    expect(parseLine('val acc=0.9')?.metrics).toEqual({ accuracy: 0.9 });
  });

  it('leaves ordinary lines alone', () => {
    expect(parseLine('downloading shards...')).toBeUndefined();
    expect(parseLine('Epoch 11/10')?.progress).toBeUndefined();
  });

  it('merges: latest progress wins, metrics accumulate', () => {
    expect(merge({ progress: 10, metrics: { loss: 1 } }, { metrics: { accuracy: 0.5 } })).toEqual({
      progress: 10,
      metrics: { loss: 1, accuracy: 0.5 },
    });
  });
});
