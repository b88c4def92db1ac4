/**
 * The emulators behind the one AWS-compatible endpoint: DynamoDB Local and fauxqs (SQS and S3), with
 * the local JSON-protocol services (Step Functions, CloudWatch Logs, ECS) plugged in by the caller.
 * The local cloud and the integration tests start them through this one function.
 */
import { Server } from 'node:net';
import * as path from 'node:path';
import { startFauxqs } from 'fauxqs';
import { type DynamoDbLocal, startDynamoDbLocal } from './dynamodb-local.ts';
import { closeServer, startEndpoint } from './endpoint.ts';
import type { JsonService } from './json-service.ts';
import { freePort } from './net.ts';

export interface EmulatorOptions {
  /** Port of the endpoint; 0 picks a free one. @default 0 */
  readonly port?: number;
  /** Keep DynamoDB and fauxqs state here. @default in memory */
  readonly dataDir?: string;
  /** JSON-protocol services by SigV4 service name (states, logs, ecs). @default none */
  readonly json?: Record<string, JsonService>;
  /** The ECS task metadata endpoint (`/_ecs/<id>/task`). @default none */
  readonly metadata?: (id: string) => object | undefined;
  /** DynamoDB Local, started already by the caller, who stops it. @default one started (and stopped) here */
  readonly dynamodb?: DynamoDbLocal;
}

export interface Emulators {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  /** where fauxqs itself listens (behind the endpoint) */
  readonly fauxqs: string;
  /** requests the endpoint served, by `<service>:<operation>` */
  readonly requests: Map<string, number>;
  stop(): Promise<void>;
}

/**
 * Run `start` with every server it opens on all interfaces opened on 127.0.0.1 instead: fauxqs
 * hard-codes `0.0.0.0` (it has no bind option), and nothing on this machine should answer other
 * machines. Node's `Server.prototype.listen` is wrapped only while `start` runs.
 */
export async function onLoopback<T>(start: () => Promise<T>): Promise<T> {
  const listen = Server.prototype.listen;
  const anyHost = (h: unknown) => h === '0.0.0.0' || h === '::' || h === undefined;
  Server.prototype.listen = function (this: Server, ...args: unknown[]) {
    const [first] = args;
    if (first && typeof first === 'object' && anyHost((first as { host?: string }).host))
      args[0] = { ...(first as object), host: '127.0.0.1' };
    else if (typeof first === 'number' && (typeof args[1] !== 'string' || anyHost(args[1])))
      args.splice(1, typeof args[1] === 'string' ? 1 : 0, '127.0.0.1');
    return (listen as (...a: unknown[]) => Server).apply(this, args);
  } as typeof listen;
  try {
    return await start();
  } finally {
    Server.prototype.listen = listen;
  }
}

export async function startEmulators(o: EmulatorOptions = {}): Promise<Emulators> {
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s();
  };
  try {
    const ddb =
      o.dynamodb ?? (await startDynamoDbLocal(o.dataDir ? { dbPath: path.join(o.dataDir, 'dynamodb') } : {}));
    if (!o.dynamodb) stops.push(() => ddb.stop());
    const fauxqs = await onLoopback(() =>
      startFauxqs({
        port: 0,
        logger: false,
        ...(o.dataDir ? { dataDir: path.join(o.dataDir, 'fauxqs') } : {}),
      } as Parameters<typeof startFauxqs>[0]),
    );
    stops.push(() => fauxqs.stop());
    const port = o.port || (await freePort());
    const requests = new Map<string, number>();
    const server = await startEndpoint(port, {
      counts: requests,
      sqsS3: fauxqs.address.replace('localhost', '127.0.0.1'),
      dynamodb: ddb.endpoint,
      json: o.json ?? {},
      metadata: o.metadata ?? (() => undefined),
    });
    stops.push(() => closeServer(server));
    return { endpoint: `http://127.0.0.1:${port}`, fauxqs: fauxqs.address, requests, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
