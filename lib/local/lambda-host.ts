/**
 * The local Lambda service: each function of the template in its own worker thread, started with only
 * its own environment (the template's variables, resolved to local names, plus the region, the
 * endpoint and credentials every function gets), as Lambda gives each function its own. Nothing is
 * written to this process's environment. Invocations are messages; errors come back with their name,
 * as Lambda reports them to Step Functions.
 */
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { REPO_ROOT } from '../repo.ts';
import type { LocalFunction } from './template.ts';

const WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'lambda-worker.mjs');

interface Reply {
  id?: number;
  ok?: boolean;
  ready?: boolean;
  result?: unknown;
  error?: { name?: string; message?: string; stack?: string };
}

const revive = (e: Reply['error']) =>
  Object.assign(new Error(e?.message ?? 'the function failed'), {
    name: e?.name ?? 'Error',
    ...(e?.stack ? { stack: e.stack } : {}),
  });

class FunctionInstance {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private next = 0;
  readonly ready: Promise<void>;

  constructor(
    readonly fn: LocalFunction,
    env: Record<string, string>,
  ) {
    this.worker = new Worker(WORKER, {
      env,
      execArgv: [],
      workerData: { entry: path.join(REPO_ROOT, fn.entry), exportName: fn.exportName },
    });
    this.ready = new Promise((resolve, reject) => {
      const onReply = (m: Reply) => {
        if (m.ready === undefined) {
          const p = m.id === undefined ? undefined : this.pending.get(m.id);
          if (!p || m.id === undefined) return;
          this.pending.delete(m.id);
          if (m.ok) p.resolve(m.result);
          else p.reject(revive(m.error));
          return;
        }
        if (m.ready) resolve();
        else reject(new Error(`function ${fn.name} (${fn.entry}) failed to start: ${m.error?.message}`));
      };
      this.worker.on('message', onReply);
      this.worker.once('error', (e) => {
        reject(e);
        for (const p of this.pending.values()) p.reject(e);
        this.pending.clear();
      });
    });
  }

  /** invocations so far */
  invocations = 0;

  async invoke(event: unknown): Promise<unknown> {
    this.invocations++;
    await this.ready;
    const id = this.next++;
    const requestId = randomUUID();
    const context = {
      functionName: this.fn.name,
      functionVersion: '$LATEST',
      invokedFunctionArn: this.fn.arn,
      memoryLimitInMB: '512',
      awsRequestId: requestId,
      logGroupName: `/aws/lambda/${this.fn.name}`,
      logStreamName: 'local',
    };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, event, context });
    });
  }

  stop(): Promise<number> {
    return this.worker.terminate();
  }
}

export class LambdaHost {
  private readonly byKey = new Map<string, FunctionInstance>();
  private readonly instances: FunctionInstance[];

  private constructor(instances: FunctionInstance[]) {
    this.instances = instances;
    for (const i of instances) for (const k of [i.fn.logicalId, i.fn.name, i.fn.arn]) this.byKey.set(k, i);
  }

  /** Start every function (in parallel) and wait until each has loaded its handler. */
  static async start(functions: LocalFunction[], commonEnv: Record<string, string>): Promise<LambdaHost> {
    const instances = functions.map(
      (fn) =>
        new FunctionInstance(fn, {
          ...commonEnv,
          AWS_LAMBDA_FUNCTION_NAME: fn.name,
          AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512',
          ...fn.environment,
        }),
    );
    const host = new LambdaHost(instances);
    try {
      await Promise.all(instances.map((i) => i.ready));
    } catch (e) {
      await host.stop();
      throw e;
    }
    return host;
  }

  get functions(): LocalFunction[] {
    return this.instances.map((i) => i.fn);
  }

  /** Invocations so far, by function name. */
  invocations(): Record<string, number> {
    return Object.fromEntries(this.instances.map((i) => [i.fn.name, i.invocations]));
  }

  /** Invoke a function by logical id, name or ARN (RequestResponse). */
  invoke(key: string, event: unknown): Promise<unknown> {
    const i = this.byKey.get(key);
    if (!i)
      return Promise.reject(
        Object.assign(new Error(`no function ${key}`), { name: 'ResourceNotFoundException' }),
      );
    return i.invoke(event);
  }

  /** Handlers keyed by ARN and name, for the Step Functions integration. */
  handlers(): Record<string, (event: unknown) => Promise<unknown>> {
    return Object.fromEntries([...this.byKey.entries()].map(([k, i]) => [k, (e: unknown) => i.invoke(e)]));
  }

  async stop(): Promise<void> {
    await Promise.all(this.instances.map((i) => i.stop()));
  }
}
