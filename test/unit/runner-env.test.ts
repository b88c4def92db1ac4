/** What a workload inherits from the runner: the image's environment, never the runner's credentials or settings. */
import { describe, expect, it } from 'vitest';
import { assignedGpus, workloadEnv } from '../../containers/runner/src/runner.ts';
import type { TaskRecord } from '../../lambdas/domain/model.ts';

const task = {
  taskId: '01JTASK0000000000000000000',
  spec: {
    type: 'training',
    params: { epochs: 2, batchSize: 8, learningRate: 0.1 },
    env: { MY_TOKEN: 'mine', AWS_PROFILE: 'given-by-the-user' },
  },
} as unknown as TaskRecord;
const config = { attempt: 2, outputDir: '/work/output', checkpointDir: '/work/checkpoints' } as never;
const runnerEnv = {
  PATH: '/usr/bin',
  HOME: '/home/trainer',
  CUDA_VISIBLE_DEVICES: '0',
  AWS_ACCESS_KEY_ID: 'AKIA',
  AWS_SECRET_ACCESS_KEY: 'secret',
  AWS_SESSION_TOKEN: 'token',
  AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: '/v2/credentials/x',
  AWS_ENDPOINT_URL: 'http://127.0.0.1:4566',
  ECS_CONTAINER_METADATA_URI_V4: 'http://169.254.170.2/v4/x',
  TRAINSTACK_TABLE: 'tasks',
  TRAINSTACK_BUCKET: 'bucket',
  TRAINSTACK_DEFAULT_COMMAND: 'python train.py',
};

describe('the workload environment', () => {
  const env = workloadEnv(task, config, runnerEnv);

  it("keeps the image's environment and gives the task's env and parameters", () => {
    expect(env).toMatchObject({
      PATH: '/usr/bin',
      HOME: '/home/trainer',
      CUDA_VISIBLE_DEVICES: '0',
      MY_TOKEN: 'mine',
      TRAINSTACK_TASK_ID: task.taskId,
      TRAINSTACK_ATTEMPT: '2',
      TRAINSTACK_OUTPUT_DIR: '/work/output',
      TRAINSTACK_EPOCHS: '2',
    });
  });

  it("never passes on the runner's AWS credentials, endpoints, metadata endpoint or settings", () => {
    for (const name of [
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
      'AWS_SESSION_TOKEN',
      'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
      'AWS_ENDPOINT_URL',
      'ECS_CONTAINER_METADATA_URI_V4',
      'TRAINSTACK_TABLE',
      'TRAINSTACK_BUCKET',
      'TRAINSTACK_DEFAULT_COMMAND',
    ])
      expect(env, name).not.toHaveProperty(name);
  });

  it('passes what the user gave in the task env, AWS_ names included', () => {
    expect(env.AWS_PROFILE).toBe('given-by-the-user');
  });
});

describe("the workload's GPUs", () => {
  const onEcs = { ...runnerEnv, NVIDIA_VISIBLE_DEVICES: 'GPU-6f2a,GPU-91bc' };
  delete (onEcs as Record<string, string | undefined>).CUDA_VISIBLE_DEVICES;

  it('are the ones ECS assigned (NVIDIA_VISIBLE_DEVICES), as the container numbers them', () => {
    expect(assignedGpus(onEcs)).toEqual(['GPU-6f2a', 'GPU-91bc']);
    expect(workloadEnv(task, config, onEcs).CUDA_VISIBLE_DEVICES).toBe('0,1');
  });

  it("replace a task env's CUDA_VISIBLE_DEVICES that names devices the container does not have", () => {
    const asks = { ...task, spec: { ...task.spec, env: { CUDA_VISIBLE_DEVICES: '3,4,5' } } } as TaskRecord;
    expect(workloadEnv(asks, config, onEcs).CUDA_VISIBLE_DEVICES).toBe('0,1');
  });

  it('are left as the image has them where ECS assigned none', () => {
    expect(assignedGpus(runnerEnv)).toBeUndefined();
    expect(assignedGpus({ NVIDIA_VISIBLE_DEVICES: 'all' })).toBeUndefined();
    expect(workloadEnv(task, config, runnerEnv).CUDA_VISIBLE_DEVICES).toBe('0');
  });
});
