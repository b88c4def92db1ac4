/**
 * The one AWS-compatible endpoint: every request is routed by the service its SigV4 credential scope
 * (or X-Amz-Target) names. SQS and S3 go to fauxqs, DynamoDB to DynamoDB Local (both proxied: they
 * listen on ports of their own), Step Functions, CloudWatch Logs and ECS to the
 * local implementations here, and STS AssumeRole (./sts.ts). The local cloud's own functions and
 * tasks reach DynamoDB Local directly (AWS_ENDPOINT_URL_DYNAMODB, ./cloud.ts) unless asked to count
 * requests. This endpoint and fauxqs listen on 127.0.0.1 only (fauxqs hard-codes 0.0.0.0;
 * `onLoopback` in ./emulators.ts opens it on loopback).
 * DynamoDB Local has no bind option and listens on every interface on a port of its own, so on a
 * shared network a firewall should keep that port closed.
 */
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import { AwsError, type JsonService } from './json-service.ts';
import { stsHandler } from './sts.ts';

export interface EndpointTargets {
  sqsS3: string; // base URL of fauxqs
  dynamodb: string; // base URL of DynamoDB Local
  /** local JSON-protocol services by the SigV4 service name (states, logs, ecs) */
  json: Record<string, JsonService>;
  metadata(id: string): object | undefined;
  /** what STS AssumeRole answers with (nothing here enforces IAM). @default local / local */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** counts each request it serves, by `<service>:<operation>` (benchmarks read it) */
  counts?: Map<string, number>;
}

const TARGET_PREFIX: Record<string, string> = {
  AmazonSQS: 'sqs',
  DynamoDB_20120810: 'dynamodb',
  DynamoDBStreams_20120810: 'dynamodb',
  AWSStepFunctions: 'states',
  Logs_20140328: 'logs',
  AmazonEC2ContainerServiceV20141113: 'ecs',
};

export function serviceOf(req: IncomingMessage): string {
  const auth = req.headers.authorization ?? '';
  const scope = /Credential=[^/]+\/\d{8}\/[^/]+\/([^/]+)\/aws4_request/.exec(auth);
  if (scope?.[1]) return scope[1];
  const url = new URL(req.url ?? '/', 'http://x');
  const presigned = url.searchParams.get('X-Amz-Credential');
  if (presigned) return presigned.split('/')[3] ?? 's3';
  const target = String(req.headers['x-amz-target'] ?? '');
  if (target) return TARGET_PREFIX[target.split('.')[0] ?? ''] ?? 'unknown';
  return 's3';
}

function proxy(base: string, req: IncomingMessage, res: ServerResponse) {
  const target = new URL(req.url ?? '/', base);
  const upstream = request(target, { method: req.method, headers: req.headers }, (up) => {
    res.writeHead(up.statusCode ?? 502, up.headers);
    up.pipe(res);
  });
  upstream.on('error', (e) => {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
    res.end(`local endpoint: upstream ${base} failed: ${e.message}`);
  });
  req.pipe(upstream);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function serveJson(svc: JsonService, req: IncomingMessage, res: ServerResponse) {
  const target = String(req.headers['x-amz-target'] ?? '');
  const op = target.split('.').pop() ?? '';
  const send = (status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
    res.end(JSON.stringify(body));
  };
  try {
    const fn = svc[op];
    if (!fn) throw new AwsError('UnknownOperationException', `${target} is not served by the local cloud`);
    const text = await readBody(req);
    const input = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    send(200, (await fn(input)) ?? {});
  } catch (e) {
    if (e instanceof AwsError) send(e.status, { __type: e.type, message: e.message });
    else send(500, { __type: 'InternalFailure', message: (e as Error).message });
  }
}

export function startEndpoint(port: number, t: EndpointTargets): Promise<Server> {
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    if (url.startsWith('/_ecs/')) {
      const [, , id] = url.split('/');
      const meta = id ? t.metadata(id) : undefined;
      res.writeHead(meta ? 200 : 404, { 'content-type': 'application/json' });
      res.end(JSON.stringify(meta ?? { error: 'no such task' }));
      return;
    }
    if (url === '/_health') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
      return;
    }
    const service = serviceOf(req);
    if (t.counts) {
      const op =
        String(req.headers['x-amz-target'] ?? req.method ?? '')
          .split('.')
          .pop() ?? '';
      const key = `${service}:${op}`;
      t.counts.set(key, (t.counts.get(key) ?? 0) + 1);
    }
    if (service === 'dynamodb') return proxy(t.dynamodb, req, res);
    if (service === 'sqs' || service === 's3') return proxy(t.sqsS3, req, res);
    if (service === 'sts')
      return void stsHandler(req, res, t.credentials ?? { accessKeyId: 'local', secretAccessKey: 'local' });
    const json = t.json[service];
    if (json) return void serveJson(json, req, res);
    res.writeHead(400, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({ __type: 'UnknownService', message: `the local cloud does not serve ${service}` }),
    );
  });
  return listen(server, port);
}

export function listen(server: Server, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EADDRINUSE')
        reject(new Error(`port ${port} is taken: is another trainstack (or LocalStack) running?`));
      else reject(e);
    });
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

/** Close a server and every connection it holds (keep-alive clients would hold it open). */
export function closeServer(s: Server): Promise<void> {
  s.closeAllConnections();
  return new Promise((r) => s.close(() => r()));
}
