import { describe, expect, it } from 'vitest';
import {
  fromSeedStatus,
  seedTrainBody,
  seedTrainToSpec,
  toSeedStatus,
} from '../../lambdas/api/seed-train.ts';
import { seedTrajectoryLine, seedTrajectoryToSpec } from '../../lambdas/api/seed-trajectory.ts';
import { STATUSES } from '../../lambdas/domain/model.ts';

describe('seed 000/001 compatibility', () => {
  it('maps every status to a seed word and back to statuses that include it', () => {
    for (const s of STATUSES) expect(fromSeedStatus(toSeedStatus(s))).toContain(s);
  });

  it('takes the seed body with its defaults', () => {
    const body = seedTrainBody.parse({ epochs: 5 });
    expect(body).toMatchObject({ batch_size: 32, learning_rate: 0.001, gpu: false, max_retries: 3 });
    expect(seedTrainToSpec(body)).toMatchObject({
      type: 'training',
      gpus: 0,
      maxRetries: 3,
      params: { epochs: 5, batchSize: 32 },
    });
  });

  it('counts the GPUs named in gpu_ids', () => {
    expect(seedTrainToSpec(seedTrainBody.parse({ epochs: 1, gpu: true, gpu_ids: '0,1' })).gpus).toBe(2);
  });
});

describe('seed 003 task lines', () => {
  it('become trajectory tasks named by their task_id', () => {
    const line = seedTrajectoryLine.parse({
      task_id: '计算阶乘',
      task_type: 'code',
      description: '计算5的阶乘',
      expected_tools: ['python_executor'],
      max_steps: 4,
    });
    expect(seedTrajectoryToSpec(line)).toMatchObject({
      type: 'trajectory',
      name: '计算阶乘',
      params: { taskType: 'code', expectedTools: ['python_executor'], maxSteps: 4 },
    });
  });
});
