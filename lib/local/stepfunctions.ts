/**
 * Local Step Functions: executions of the synthesized definition, run by aws-local-stepfunctions.
 * Task states map onto local integrations by their Resource: Lambda functions (the local Lambda
 * host's workers) and ECS RunTask `.sync` (the local ECS). StartExecution by name is idempotent, as in AWS;
 * StopExecution aborts the execution and stops the ECS task it started.
 */
import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { AwsError, type JsonService } from './json-service.ts';

const MAX_TIMER_MS = 2 ** 31 - 1;
const STATE_INPUT = '__trainstackStateInput';

/**
 * AWS resolves TimeoutSecondsPath against the state's input; the interpreter resolves it against the
 * input after Parameters. Carry the state input through Parameters (and strip it again before the
 * integration sees it) so the synthesized definition runs unchanged with AWS's meaning.
 */
function evaluatePathsOnStateInput(state: Record<string, unknown>): Record<string, unknown> {
  if (state.Type !== 'Task' || typeof state.TimeoutSecondsPath !== 'string' || !state.Parameters)
    return state;
  return {
    ...state,
    Parameters: { ...(state.Parameters as object), [`${STATE_INPUT}.$`]: '$' },
    TimeoutSecondsPath: `$.${STATE_INPUT}${state.TimeoutSecondsPath.slice(1)}`,
  };
}

function withoutStateInput(input: unknown): unknown {
  if (!input || typeof input !== 'object' || !(STATE_INPUT in input)) return input;
  const { [STATE_INPUT]: _drop, ...rest } = input as Record<string, unknown>;
  return rest;
}

export type LambdaHandler = (event: unknown) => Promise<unknown>;

export interface Integrations {
  /** function ARN or name -> handler */
  lambdas: Record<string, LambdaHandler>;
  runTaskSync(params: Record<string, unknown>, signal: { onAbort(cb: () => void): void }): Promise<unknown>;
}

interface Execution {
  executionArn: string;
  name: string;
  input: string;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'ABORTED' | 'TIMED_OUT';
  startDate: number;
  stopDate?: number;
  output?: string;
  error?: string;
  cause?: string;
  abort?: () => void;
  onAbort: (() => void)[];
  done: Promise<void>;
}

export class LocalStepFunctions {
  private readonly machine: StateMachine;
  private readonly executions = new Map<string, Execution>();
  private readonly taskStates: [string, string][];
  /** States entered by every execution so far: what Step Functions (standard) bills as transitions */
  stateTransitions = 0;

  constructor(
    readonly stateMachineArn: string,
    private readonly definition: Record<string, unknown>,
    private readonly integrations: Integrations,
    private readonly opts: {
      /** run every Wait state for this many milliseconds instead (tests) */
      waitOverrideMs?: number;
      log?: (msg: string, extra?: object) => void;
    } = {},
  ) {
    // timers cannot wait longer than 2^31 ms (~24.8 days): longer execution timeouts are capped locally
    const local = { ...definition };
    if (typeof local.TimeoutSeconds === 'number' && local.TimeoutSeconds * 1000 > MAX_TIMER_MS) {
      local.TimeoutSeconds = Math.floor(MAX_TIMER_MS / 1000);
    }
    local.States = Object.fromEntries(
      Object.entries((definition.States ?? {}) as Record<string, Record<string, unknown>>).map(([k, st]) => [
        k,
        evaluatePathsOnStateInput(st),
      ]),
    );
    this.machine = new StateMachine(local as unknown as StateMachineDefinition, {
      validationOptions: { checkArn: false, checkPaths: true },
    });
    const states = (definition.States ?? {}) as Record<string, { Type: string; Resource?: string }>;
    this.taskStates = Object.entries(states)
      .filter(([, s]) => s.Type === 'Task')
      .map(([name, s]) => [name, s.Resource ?? '']);
  }

  get running(): number {
    return [...this.executions.values()].filter((e) => e.status === 'RUNNING').length;
  }

  private handlersFor(exec: Execution) {
    const handlers: Record<string, (input: unknown) => Promise<never>> = {};
    const signal = { onAbort: (cb: () => void) => exec.onAbort.push(cb) };
    for (const [state, resource] of this.taskStates) {
      handlers[state] = async (raw) => this.invoke(state, resource, withoutStateInput(raw), signal) as never;
    }
    return handlers;
  }

  private async invoke(
    state: string,
    resource: string,
    input: unknown,
    signal: { onAbort(cb: () => void): void },
  ): Promise<unknown> {
    if (resource.includes(':states:::ecs:runTask.sync')) {
      return this.integrations.runTaskSync(input as Record<string, unknown>, signal);
    }
    if (resource.includes(':states:::lambda:invoke')) {
      const p = input as { FunctionName: string; Payload: unknown };
      return { Payload: await this.lambda(p.FunctionName)(p.Payload), StatusCode: 200 };
    }
    if (resource.includes(':lambda:')) return this.lambda(resource)(input);
    throw Object.assign(new Error(`${resource} (state ${state}) is not integrated in the local cloud`), {
      name: 'States.Runtime',
    });
  }

  private lambda(arnOrName: string): LambdaHandler {
    const name = arnOrName.split(':function:').pop()?.split(':')[0] ?? arnOrName;
    const fn = this.integrations.lambdas[arnOrName] ?? this.integrations.lambdas[name];
    if (!fn)
      throw Object.assign(new Error(`function ${name} not found`), {
        name: 'Lambda.ResourceNotFoundException',
      });
    // errors of the function surface as Step Functions does: the error name is the Error
    return async (event) => {
      try {
        return await fn(structuredClone(event));
      } catch (e) {
        const err = e as Error;
        throw Object.assign(new Error(JSON.stringify({ errorType: err.name, errorMessage: err.message })), {
          name: err.name && err.name !== 'Error' ? err.name : 'Lambda.Unknown',
        });
      }
    };
  }

  startExecution(i: { stateMachineArn?: string; name?: string; input?: string }) {
    if (i.stateMachineArn && i.stateMachineArn !== this.stateMachineArn) {
      throw new AwsError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${i.stateMachineArn}'`);
    }
    const name = i.name ?? crypto.randomUUID();
    const input = i.input ?? '{}';
    const executionArn = `${this.stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
    const existing = this.executions.get(executionArn);
    if (existing) {
      // AWS: same name and input is idempotent while the execution is open; anything else is refused
      if (existing.input === input && existing.status === 'RUNNING') {
        return { executionArn, startDate: existing.startDate / 1000 };
      }
      throw new AwsError('ExecutionAlreadyExists', `Execution Already Exists: '${executionArn}'`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(input);
    } catch {
      throw new AwsError('InvalidExecutionInput', 'Invalid State Machine Execution Input');
    }
    let finish!: () => void;
    const exec: Execution = {
      executionArn,
      name,
      input,
      status: 'RUNNING',
      startDate: Date.now(),
      onAbort: [],
      done: new Promise<void>((r) => {
        finish = r;
      }),
    };
    this.executions.set(executionArn, exec);
    const run = this.machine.run(parsed as never, {
      overrides: {
        taskResourceLocalHandlers: this.handlersFor(exec) as never,
        ...(this.opts.waitOverrideMs !== undefined
          ? { waitTimeOverrides: this.waitOverrides(this.opts.waitOverrideMs) }
          : {}),
      },
      noThrowOnAbort: true,
      context: {
        Execution: {
          Id: executionArn,
          Name: name,
          Input: parsed as never,
          StartTime: new Date(exec.startDate).toISOString(),
        },
      },
    });
    exec.abort = run.abort;
    void (async () => {
      for await (const e of run.eventLogs) if (e.type === 'StateEntered') this.stateTransitions++;
    })().catch(() => {});
    run.result
      .then(
        (out) => {
          if (exec.status === 'RUNNING') {
            exec.status = 'SUCCEEDED';
            exec.output = JSON.stringify(out);
          }
        },
        (e: Error & { cause?: { name?: string; message?: string } }) => {
          if (exec.status !== 'RUNNING') return;
          exec.status = e.name === 'ExecutionTimeoutError' ? 'TIMED_OUT' : 'FAILED';
          exec.error = e.cause?.name ?? e.name;
          exec.cause = e.cause?.message ?? e.message;
          this.opts.log?.('execution failed', { executionArn, error: exec.error, cause: exec.cause });
        },
      )
      .finally(() => {
        exec.stopDate ??= Date.now();
        // what stays of an ended execution is its description: the interpreter's run can go
        exec.abort = undefined;
        exec.onAbort = [];
        finish();
      });
    return { executionArn, startDate: exec.startDate / 1000 };
  }

  private waitOverrides(ms: number): Record<string, number> {
    const states = (this.definition.States ?? {}) as Record<string, { Type: string }>;
    return Object.fromEntries(
      Object.entries(states)
        .filter(([, s]) => s.Type === 'Wait')
        .map(([n]) => [n, ms]),
    );
  }

  stopExecution(i: { executionArn: string; error?: string; cause?: string }) {
    const exec = this.executions.get(i.executionArn);
    if (!exec) throw new AwsError('ExecutionDoesNotExist', `Execution Does Not Exist: '${i.executionArn}'`);
    if (exec.status === 'RUNNING') {
      exec.status = 'ABORTED';
      exec.stopDate = Date.now();
      exec.error = i.error;
      exec.cause = i.cause;
      exec.abort?.();
      for (const cb of exec.onAbort) cb();
    }
    return { stopDate: (exec.stopDate ?? Date.now()) / 1000 };
  }

  describe(executionArn: string) {
    const e = this.executions.get(executionArn);
    if (!e) throw new AwsError('ExecutionDoesNotExist', `Execution Does Not Exist: '${executionArn}'`);
    return {
      executionArn: e.executionArn,
      stateMachineArn: this.stateMachineArn,
      name: e.name,
      status: e.status,
      startDate: e.startDate / 1000,
      ...(e.stopDate ? { stopDate: e.stopDate / 1000 } : {}),
      input: e.input,
      ...(e.output ? { output: e.output } : {}),
      ...(e.error ? { error: e.error } : {}),
      ...(e.cause ? { cause: e.cause } : {}),
    };
  }

  /** Resolves when the execution has ended (for tests and shutdown). */
  async settled(executionArn: string): Promise<void> {
    await this.executions.get(executionArn)?.done;
  }

  async stopAll(): Promise<void> {
    const live = [...this.executions.values()].filter((e) => e.status === 'RUNNING');
    for (const e of live) {
      e.status = 'ABORTED';
      e.abort?.();
      for (const cb of e.onAbort) cb();
    }
    await Promise.all(live.map((e) => e.done));
  }

  service(): JsonService {
    return {
      StartExecution: (i) => this.startExecution(i as never),
      StopExecution: (i) => this.stopExecution(i as never),
      DescribeExecution: (i) => this.describe(String(i.executionArn)),
      ListExecutions: (i) => ({
        executions: [...this.executions.values()]
          .filter((e) => !i.statusFilter || e.status === i.statusFilter)
          .map((e) => ({
            executionArn: e.executionArn,
            stateMachineArn: this.stateMachineArn,
            name: e.name,
            status: e.status,
            startDate: e.startDate / 1000,
          })),
      }),
      DescribeStateMachine: () => ({
        stateMachineArn: this.stateMachineArn,
        name: this.stateMachineArn.split(':').pop(),
        definition: JSON.stringify(this.definition),
        type: 'STANDARD',
        status: 'ACTIVE',
      }),
      ListStateMachines: () => ({
        stateMachines: [
          {
            stateMachineArn: this.stateMachineArn,
            name: this.stateMachineArn.split(':').pop(),
            type: 'STANDARD',
          },
        ],
      }),
    };
  }
}
