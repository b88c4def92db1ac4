/** The emulators integration tests share: DynamoDB Local, fauxqs and the local endpoint in front of them. */
import type { Server } from 'node:http';
import { startFauxqs } from 'fauxqs';
import { startDynamoDbLocal } from '../../lib/local/dynamodb-local.ts';
import { startEndpoint } from '../../lib/local/endpoint.ts';
import type { JsonService } from '../../lib/local/json-service.ts';
import { freePort } from '../../lib/local/net.ts';

export interface Emulators {
  endpoint: string;
  stop(): Promise<void>;
}

/** Start the emulators; `json` services (states, logs, ecs) can be plugged in per process via `jsonServices`. */
export async function startEmulators(jsonServices: Record<string, JsonService> = {}): Promise<Emulators> {
  const ddb = await startDynamoDbLocal();
  const fauxqs = await startFauxqs({ port: 0, logger: false });
  const port = await freePort();
  const server: Server = await startEndpoint(port, {
    sqsS3: fauxqs.address.replace('localhost', '127.0.0.1'),
    dynamodb: ddb.endpoint,
    json: jsonServices,
    metadata: () => undefined,
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    async stop() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await fauxqs.stop();
      await ddb.stop();
    },
  };
}
