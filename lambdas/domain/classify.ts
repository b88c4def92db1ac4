/**
 * Failure classification: what an attempt's end means for the task.
 * Input is the error a `.sync` ECS RunTask state reports (Error and Cause as Step Functions gives them).
 */
import { NO_COMPUTE_ERROR } from '../contracts/workflow-step.ts';

/** Exit code the runner uses when it was stopped (SIGTERM: cancel, timeout, spot, scale-in), not failed. */
export const EXIT_STOPPED = 143;
/** Exit code the runner uses when the workload produced no output for `stallSeconds`. */
export const EXIT_STALLED = 124;
/** Exit code the runner uses when it failed itself (could not reach the task record or storage). */
export const EXIT_RUNNER_ERROR = 70;
/** Exit code of a process killed with SIGKILL, usually the kernel's OOM killer. */
export const EXIT_KILLED = 137;
/**
 * Exit code the runner uses when its workload was killed with SIGKILL (or exited 137 itself) while
 * the runner lived: the kernel's OOM killer, usually. A bare 137 means the runner itself was killed.
 */
export const EXIT_WORKLOAD_KILLED = 89;
/** Exit code the runner uses when the image has nothing that runs this type of task (sysexits EX_CONFIG). */
export const EXIT_NO_RUNTIME = 78;

/** Exit code the runner uses when a secret or the role the task names could not be had (sysexits EX_NOPERM). */
export const EXIT_SECRET_UNAVAILABLE = 77;

/** `unrunnable`: nothing in this deployment can run the task (it fails at once, with the reason). */
export type Outcome = 'workload' | 'infrastructure' | 'timeout' | 'stopped' | 'stall' | 'unrunnable';

export interface Classified {
  outcome: Outcome;
  exitCode?: number;
  reason: string;
  /** ECS task ARN when the cause named one */
  ecsTaskArn?: string;
  /** the image could not be pulled: retried as infrastructure, but only MAX_PULL_FAILURES times */
  pull?: true;
}

/** How the reason of an attempt whose image could not be pulled starts. */
export const PULL_FAILED = 'cannot pull the image';
/** A task whose image could not be pulled this many times ends: no such image, or no access to it. */
export const MAX_PULL_FAILURES = 3;
/** The workflow-step error of a task whose image cannot be used at all (lambdas/domain/images.ts). */
export const IMAGE_UNUSABLE_ERROR = 'Trainstack.ImageUnusable';

interface EcsCause {
  TaskArn?: string;
  StopCode?: string;
  StoppedReason?: string;
  Containers?: { ExitCode?: number; Reason?: string; Name?: string }[];
}

function parseCause(cause: unknown): EcsCause | undefined {
  if (cause && typeof cause === 'object') return cause as EcsCause;
  if (typeof cause !== 'string') return undefined;
  try {
    const v: unknown = JSON.parse(cause);
    return v && typeof v === 'object' ? (v as EcsCause) : undefined;
  } catch {
    return undefined;
  }
}

const INFRA_STOP_CODES = new Set(['SpotInterruption', 'TerminationNotice', 'ServiceSchedulerInitiated']);
const INFRA_REASONS = [
  /CannotPullContainerError/i,
  /ResourceInitializationError/i,
  /CannotStartContainerError/i,
  /Host EC2 .* terminated/i,
  /Instance .* (terminated|stopped|draining)/i,
  /Task failed to start/i,
  /capacity/i,
  /Timeout waiting for network interface/i,
];

export function classifyFailure(error: string, cause: unknown, timeoutSeconds?: number): Classified {
  if (error === NO_COMPUTE_ERROR) {
    return {
      outcome: 'unrunnable',
      reason: typeof cause === 'string' && cause ? cause : 'no compute to run it',
    };
  }
  if (error === IMAGE_UNUSABLE_ERROR) {
    // a Lambda's error arrives as Cause: {"errorType", "errorMessage", ...}
    const message = (parseCause(cause) as { errorMessage?: string } | undefined)?.errorMessage;
    return { outcome: 'unrunnable', reason: message ?? String(cause ?? 'the image cannot be used') };
  }
  if (error === 'States.Timeout') {
    return {
      outcome: 'timeout',
      reason: `timed out after ${timeoutSeconds ?? '?'} s (timeoutSeconds)`,
    };
  }
  const ecs = parseCause(cause);
  // the runner's container; an own image's task also has the init container that copied the runner kit
  const container = ecs?.Containers?.find((c) => c.Name === 'runner') ?? ecs?.Containers?.[0];
  const exitCode = container?.ExitCode;
  const stopped = `${ecs?.StoppedReason ?? ''} ${container?.Reason ?? ''}`.trim();
  const arn = ecs?.TaskArn ? { ecsTaskArn: ecs.TaskArn } : {};
  // the end of an ECS task, as the .sync integration reports it
  const ended = (outcome: Outcome, reason: string): Classified => ({ outcome, exitCode, reason, ...arn });
  if (error === 'States.TaskFailed' && ecs) {
    if (ecs.StopCode && INFRA_STOP_CODES.has(ecs.StopCode))
      return ended('infrastructure', `host lost (${ecs.StopCode}): ${stopped}`);
    if (/CannotPullContainerError|pull image manifest|ImagePull/i.test(stopped))
      return { ...ended('infrastructure', `${PULL_FAILED}: ${stopped}`), pull: true };
    if (INFRA_REASONS.some((r) => r.test(stopped)) && (exitCode === undefined || exitCode === EXIT_STOPPED))
      return ended('infrastructure', `infrastructure: ${stopped}`);
    if (exitCode === EXIT_STOPPED) return ended('stopped', `stopped: ${stopped || 'SIGTERM'}`);
    if (exitCode === EXIT_RUNNER_ERROR)
      return ended('infrastructure', 'the runner failed (task record or storage unreachable)');
    if (exitCode === EXIT_STALLED) return ended('stall', 'stalled: no output for stallSeconds');
    if (/OutOfMemory/i.test(stopped))
      return ended('workload', `out of memory (exit ${exitCode ?? '?'}) ${stopped}`.trim());
    if (exitCode === EXIT_NO_RUNTIME)
      return ended(
        'unrunnable',
        "the task's image has no runtime for its type and the task gives no command",
      );
    if (exitCode === EXIT_SECRET_UNAVAILABLE)
      return ended(
        'unrunnable',
        "a secret, the role, the model or the inputs the task names could not be had (the attempt's log says which and why); the work did not start",
      );
    if (exitCode === EXIT_WORKLOAD_KILLED)
      return ended(
        'workload',
        'the workload was killed with SIGKILL (by the kernel when it ran out of memory, usually)',
      );
    // the runner itself died without an out-of-memory report: its host or container went away
    if (exitCode === EXIT_KILLED)
      return ended(
        'infrastructure',
        `the runner was killed (SIGKILL, exit 137) with no out-of-memory report${stopped ? `: ${stopped}` : ''}`,
      );
    if (exitCode !== undefined && exitCode !== 0)
      return ended('workload', `exit code ${exitCode}${stopped ? `: ${stopped}` : ''}`);
    return ended('infrastructure', `task stopped: ${stopped || 'unknown reason'}`);
  }
  const text = typeof cause === 'string' ? cause : JSON.stringify(cause ?? '');
  return { outcome: 'infrastructure', reason: `${error}: ${text.slice(0, 500)}` };
}

/** Full-jitter exponential backoff (AWS Architecture Blog): random in [base, min(cap, base*2^n)]. */
export function backoffSeconds(
  retry: number,
  random: () => number = Math.random,
  base = 5,
  cap = 900,
): number {
  const ceiling = Math.min(cap, base * 2 ** retry);
  return Math.max(1, Math.round(base + random() * (ceiling - base)));
}

/** Infrastructure failures do not use up maxRetries, but are still bounded so nothing loops forever. */
export const MAX_INFRA_RETRIES = 20;
