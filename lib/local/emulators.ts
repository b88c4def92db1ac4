/**
 * The emulators behind the one AWS-compatible endpoint: DynamoDB Local and fauxqs (SQS and S3), with
 * the local JSON-protocol services (Step Functions, CloudWatch Logs, ECS) plugged in by the caller.
 * The local cloud and the integration tests start them through this one function.
 */
import * as path from 'node:path';
import { startFauxqs } from 'fauxqs';
import { startDynamoDbLocal } from './dynamodb-local.ts';
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
}

export interface Emulators {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  stop(): Promise<void>;
}

export async function startEmulators(o: EmulatorOptions = {}): Promise<Emulators> {
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s();
  };
  try {
    const ddb = await startDynamoDbLocal(o.dataDir ? { dbPath: path.join(o.dataDir, 'dynamodb') } : {});
    stops.push(() => ddb.stop());
    const fauxqs = await startFauxqs({
      port: 0,
      logger: false,
      ...(o.dataDir ? { dataDir: path.join(o.dataDir, 'fauxqs') } : {}),
    } as Parameters<typeof startFauxqs>[0]);
    stops.push(() => fauxqs.stop());
    const port = o.port || (await freePort());
    const server = await startEndpoint(port, {
      sqsS3: fauxqs.address.replace('localhost', '127.0.0.1'),
      dynamodb: ddb.endpoint,
      json: o.json ?? {},
      metadata: o.metadata ?? (() => undefined),
    });
    stops.push(() => closeServer(server));
    return { endpoint: `http://127.0.0.1:${port}`, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
