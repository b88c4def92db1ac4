import { describe, expect, it } from 'vitest';
import {
  backoffSeconds,
  classifyFailure,
  EXIT_RUNNER_ERROR,
  EXIT_STALLED,
  EXIT_STOPPED,
  EXIT_WORKLOAD_KILLED,
} from '../../lambdas/domain/classify.ts';

const ecsFailure = (cause: object) => classifyFailure('States.TaskFailed', JSON.stringify(cause), 3600);

describe('failure classification', () => {
  it('calls a state timeout a timeout, naming the limit', () => {
    const c = classifyFailure('States.Timeout', 'State timed out', 600);
    expect(c.outcome).toBe('timeout');
    expect(c.reason).toContain('600');
  });

  it('calls a non-zero exit a workload failure with its exit code', () => {
    const c = ecsFailure({ StopCode: 'EssentialContainerExited', Containers: [{ ExitCode: 3 }] });
    expect(c).toMatchObject({ outcome: 'workload', exitCode: 3 });
    expect(c.reason).toContain('exit code 3');
  });

  it('ends a task whose secret could not be read, without counting it as a workload failure', () => {
    const c = ecsFailure({ StopCode: 'EssentialContainerExited', Containers: [{ ExitCode: 77 }] });
    expect(c.outcome).toBe('unrunnable');
    expect(c.reason).toContain('secret');
  });

  it('calls a spot interruption an infrastructure failure', () => {
    const c = ecsFailure({
      StopCode: 'SpotInterruption',
      StoppedReason: 'Host EC2 (instance i-1) terminated.',
      Containers: [{ ExitCode: 143 }],
    });
    expect(c.outcome).toBe('infrastructure');
  });

  it('calls an image pull error an infrastructure failure', () => {
    const c = ecsFailure({
      StopCode: 'TaskFailedToStart',
      StoppedReason: 'CannotPullContainerError: pull access denied',
      Containers: [{}],
    });
    expect(c.outcome).toBe('infrastructure');
  });

  it('calls RunTask failures (no capacity) infrastructure', () => {
    expect(classifyFailure('AmazonECS.Unknown', '{"Failures":[{"Reason":"RESOURCE:GPU"}]}').outcome).toBe(
      'infrastructure',
    );
  });

  it('tells out-of-memory kills apart from plain exits', () => {
    const c = ecsFailure({
      StopCode: 'EssentialContainerExited',
      Containers: [{ ExitCode: 137, Reason: 'OutOfMemoryError: Container killed due to memory usage' }],
    });
    expect(c.outcome).toBe('workload');
    expect(c.reason).toMatch(/out of memory/);
  });

  it('calls a bare 137 (the runner killed, no out-of-memory report) infrastructure, not OOM', () => {
    const c = ecsFailure({ StopCode: 'EssentialContainerExited', Containers: [{ ExitCode: 137 }] });
    expect(c.outcome).toBe('infrastructure');
    expect(c.reason).toMatch(/runner was killed/);
    expect(c.reason).not.toMatch(/out of memory/);
  });

  it('calls a workload the runner saw SIGKILLed a workload failure', () => {
    const c = ecsFailure({ Containers: [{ ExitCode: EXIT_WORKLOAD_KILLED }] });
    expect(c.outcome).toBe('workload');
    expect(c.reason).toMatch(/killed with SIGKILL/);
  });

  it('reads the runner exit codes: stopped, stalled, runner error', () => {
    expect(ecsFailure({ Containers: [{ ExitCode: EXIT_STOPPED }] }).outcome).toBe('stopped');
    expect(ecsFailure({ Containers: [{ ExitCode: EXIT_STALLED }] }).outcome).toBe('stall');
    expect(ecsFailure({ Containers: [{ ExitCode: EXIT_RUNNER_ERROR }] }).outcome).toBe('infrastructure');
  });

  it('treats a failed bookkeeping step as infrastructure', () => {
    expect(classifyFailure('Lambda.Unknown', 'boom').outcome).toBe('infrastructure');
  });
});

describe('backoff', () => {
  it('grows exponentially within [base, base*2^n]', () => {
    expect(backoffSeconds(0, () => 1)).toBe(5);
    expect(backoffSeconds(3, () => 1)).toBe(40);
    expect(backoffSeconds(3, () => 0)).toBe(5);
  });

  it('is capped', () => {
    expect(backoffSeconds(30, () => 1)).toBe(900);
  });

  it('spreads retries with jitter', () => {
    let i = 0;
    const values = [0.1, 0.9];
    const a = backoffSeconds(4, () => values[i++ % 2] ?? 0);
    const b = backoffSeconds(4, () => values[i++ % 2] ?? 0);
    expect(a).not.toBe(b);
  });
});
