import { describe, expect, it } from 'vitest';
import { exitCodeFor } from '../../containers/runner/src/exit.ts';
import { parseJsonlInputs } from '../../containers/runner/src/inference.ts';
import { parseWorkloadUser, workloadCommand } from '../../containers/runner/src/runner.ts';
import { localSecretSource, masker, resolveSecrets } from '../../containers/runner/src/secrets.ts';
import { classifyFailure, EXIT_NO_RUNTIME, EXIT_WORKLOAD_KILLED } from '../../lambdas/domain/classify.ts';

const outcome = (code: number) =>
  classifyFailure('States.TaskFailed', JSON.stringify({ Containers: [{ ExitCode: code }] })).outcome;

describe('runner exit codes', () => {
  it('says stopped (not failed) when it was asked to stop', () => {
    expect(outcome(exitCodeFor({ kind: 'stopped' }))).toBe('stopped');
  });

  it('says stalled for a silent workload, which counts as a workload failure class of its own', () => {
    expect(outcome(exitCodeFor({ kind: 'stalled' }))).toBe('stall');
  });

  it('passes a workload exit code through', () => {
    expect(exitCodeFor({ kind: 'exited', code: 0 })).toBe(0);
    expect(exitCodeFor({ kind: 'exited', code: 3 })).toBe(3);
    expect(outcome(exitCodeFor({ kind: 'exited', code: 3 }))).toBe('workload');
  });

  it('does not let a workload fake the reserved codes', () => {
    expect(outcome(exitCodeFor({ kind: 'exited', code: 143 }))).toBe('workload');
    expect(outcome(exitCodeFor({ kind: 'exited', code: 124 }))).toBe('workload');
    expect(outcome(exitCodeFor({ kind: 'exited', code: 78 }))).toBe('workload');
    expect(outcome(exitCodeFor({ kind: 'exited', code: 77 }))).toBe('workload');
  });

  it('ends the task when a secret it names cannot be read', () => {
    expect(outcome(exitCodeFor({ kind: 'secret-unavailable' }))).toBe('unrunnable');
  });

  it('reports a SIGKILLed workload with its own code, never as a killed runner (137)', () => {
    expect(exitCodeFor({ kind: 'signal', signal: 'SIGKILL' })).toBe(EXIT_WORKLOAD_KILLED);
    expect(exitCodeFor({ kind: 'exited', code: 137 })).toBe(EXIT_WORKLOAD_KILLED);
    expect(exitCodeFor({ kind: 'signal', signal: 'SIGSEGV' })).toBe(139);
  });
});

describe('secrets in the log', () => {
  it('shows *** for each value of 4 characters or more, the longest first', () => {
    const mask = masker(['hunter2', 'hunter2-long', 'ab']);
    expect(mask('pw=hunter2-long and hunter2, ab')).toBe('pw=*** and ***, ab');
    expect(masker([])('hunter2')).toBe('hunter2');
  });

  it('on the local cloud, reads the file first, then TRAINSTACK_SECRET_<NAME>, and says where it looked', async () => {
    const source = localSecretSource(undefined, { TRAINSTACK_SECRET_TRAINSTACK_HF_TOKEN: 'v1' });
    expect(await source.read('ssm', '/trainstack/hf-token')).toBe('v1');
    await expect(source.read('ssm', '/trainstack/other')).rejects.toThrow(
      'TRAINSTACK_SECRET_TRAINSTACK_OTHER',
    );
    await expect(
      resolveSecrets({ X: 'secretsmanager:trainstack/db#user' }, { read: async () => 'not json' }),
    ).rejects.toThrow(
      'secret X (secretsmanager:trainstack/db#user) could not be read: the secret is not JSON',
    );
  });
});

describe('what runs a task with no command', () => {
  const config = { defaultCommand: 'python3 train.py', agentCommand: 'node agent.mjs' } as never;
  const task = (type: string) => ({ taskId: 't', spec: { type, params: {} } }) as never;

  it("runs the image's trainer for training tasks only, its agent runtime for trajectory tasks only", () => {
    expect(workloadCommand(task('training'), config)).toEqual(['sh', '-c', 'python3 train.py']);
    expect(workloadCommand(task('trajectory'), config)).toEqual(['sh', '-c', 'node agent.mjs']);
    expect(
      workloadCommand(task('trajectory'), { defaultCommand: 'python3 train.py' } as never),
    ).toBeUndefined();
    for (const type of ['inference', 'container'])
      expect(workloadCommand(task(type), config), type).toBeUndefined();
  });

  it('reports nothing to run as unrunnable, so the task fails at once with the reason', () => {
    expect(exitCodeFor({ kind: 'no-runtime' })).toBe(EXIT_NO_RUNTIME);
    const c = classifyFailure(
      'States.TaskFailed',
      JSON.stringify({ Containers: [{ ExitCode: EXIT_NO_RUNTIME }] }),
    );
    expect(c).toMatchObject({
      outcome: 'unrunnable',
      reason: expect.stringMatching(/no runtime for its type/),
    });
  });
});

describe('inputs files', () => {
  it('takes one JSON string or object per line, skips blank lines, and names a bad line', () => {
    expect(parseJsonlInputs('"a"\n\n{"text":"b"}\n')).toEqual(['a', { text: 'b' }]);
    expect(() => parseJsonlInputs('"a"\nnot json\n')).toThrow('line 2 is not JSON');
    expect(() => parseJsonlInputs('[1]')).toThrow('line 1 is neither');
    expect(() => parseJsonlInputs('\n')).toThrow('no inputs');
    expect(() => parseJsonlInputs('"a"\n"b"\n"c"', 2)).toThrow('more than 2');
  });
});

describe('the workload user', () => {
  it('is uid:gid in numbers, and anything else is refused', () => {
    expect(parseWorkloadUser('1000:1000')).toEqual({ uid: 1000, gid: 1000 });
    expect(() => parseWorkloadUser('trainer')).toThrow('uid:gid');
    expect(() => parseWorkloadUser('1000')).toThrow('uid:gid');
  });
});
