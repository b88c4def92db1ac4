/** How the runner's exit code tells the workflow what happened (see lambdas/domain/classify.ts). */
import {
  EXIT_KILLED,
  EXIT_NO_RUNTIME,
  EXIT_RUNNER_ERROR,
  EXIT_SECRET_UNAVAILABLE,
  EXIT_STALLED,
  EXIT_STOPPED,
  EXIT_WORKLOAD_KILLED,
} from '../../../lambdas/domain/classify.ts';

export type Ending =
  /** `reason`: why the runner's own runtime (inference) failed, for the task's reason */
  | { kind: 'exited'; code: number; reason?: string }
  | { kind: 'signal'; signal: NodeJS.Signals }
  | { kind: 'stopped' } // we were asked to stop (SIGTERM: cancel, timeout, spot, scale-in)
  | { kind: 'stalled' } // no output for stallSeconds
  | { kind: 'spawn-failed' }
  | { kind: 'no-runtime' } // nothing in the image runs this type of task
  | { kind: 'secret-unavailable' } // a secret the task names could not be read
  | { kind: 'role-unavailable' } // the role the task names could not be assumed
  | { kind: 'model-unavailable' } // the model an inference task names is gone
  | { kind: 'inputs-unavailable' }; // a dataset, input or inputs file the task names could not be read

const SIGNALS: Partial<Record<NodeJS.Signals, number>> = {
  SIGKILL: 9,
  SIGTERM: 15,
  SIGINT: 2,
  SIGSEGV: 11,
  SIGABRT: 6,
};

export function exitCodeFor(e: Ending): number {
  switch (e.kind) {
    case 'stopped':
      return EXIT_STOPPED;
    case 'stalled':
      return EXIT_STALLED;
    case 'spawn-failed':
      return 127;
    case 'no-runtime':
      return EXIT_NO_RUNTIME;
    case 'secret-unavailable':
    case 'role-unavailable':
    case 'model-unavailable':
    case 'inputs-unavailable':
      return EXIT_SECRET_UNAVAILABLE;
    case 'signal':
      // a SIGKILLed workload is reported as such; 137 stays the code of a runner that was killed
      return e.signal === 'SIGKILL' ? EXIT_WORKLOAD_KILLED : 128 + (SIGNALS[e.signal] ?? 1);
    case 'exited':
      // a workload that exits with one of our reserved codes on its own is a plain failure, and one that
      // exits 137 (a child of its own was SIGKILLed) is a killed workload, not a killed runner
      if (e.code === EXIT_KILLED || e.code === EXIT_WORKLOAD_KILLED) return EXIT_WORKLOAD_KILLED;
      return [
        EXIT_STOPPED,
        EXIT_STALLED,
        EXIT_RUNNER_ERROR,
        EXIT_NO_RUNTIME,
        EXIT_SECRET_UNAVAILABLE,
      ].includes(e.code)
        ? 1
        : e.code;
  }
}

export function describeEnding(e: Ending): string {
  switch (e.kind) {
    case 'stopped':
      return 'stopped by SIGTERM';
    case 'stalled':
      return 'stalled (no output for stallSeconds)';
    case 'spawn-failed':
      return 'the workload command could not be started';
    case 'no-runtime':
      return 'no command, and no runtime in the image for this type of task';
    case 'secret-unavailable':
      return 'not started: a secret it names could not be read';
    case 'role-unavailable':
      return 'not started: the role it names could not be assumed';
    case 'model-unavailable':
      return 'not started: its model is no longer registered';
    case 'inputs-unavailable':
      return 'not started: an input it names could not be read';
    case 'signal':
      return `killed by ${e.signal}`;
    case 'exited':
      return `exited with code ${e.code}`;
  }
}
