/**
 * The API on plain HTTP: each request becomes an API Gateway HTTP API (payload 2.0) event for the
 * same handler that runs in Lambda, with a local IAM caller identity as the owner.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { APIGatewayProxyEventV2WithIAMAuthorizer, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { listen } from './endpoint.ts';

export type ApiHandler = (
  event: APIGatewayProxyEventV2WithIAMAuthorizer,
) => Promise<APIGatewayProxyStructuredResultV2>;

export async function toEvent(
  req: IncomingMessage,
  caller: string,
): Promise<APIGatewayProxyEventV2WithIAMAuthorizer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const body = Buffer.concat(chunks);
  const url = new URL(req.url ?? '/', 'http://localhost');
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers))
    if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(',') : v;
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = k in query ? `${query[k]},${v}` : v;
  const now = new Date();
  const isText = /json|text|ndjson|x-www-form/.test(headers['content-type'] ?? 'application/json');
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers,
    ...(Object.keys(query).length ? { queryStringParameters: query } : {}),
    ...(body.length ? { body: isText ? body.toString('utf8') : body.toString('base64') } : {}),
    isBase64Encoded: body.length > 0 && !isText,
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: 'local',
      http: {
        method: req.method ?? 'GET',
        path: url.pathname,
        protocol: 'HTTP/1.1',
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
      authorizer: {
        iam: {
          accessKey: 'local',
          accountId: '000000000000',
          callerId: caller,
          cognitoIdentity: null as never,
          principalOrgId: null as never,
          userArn: caller,
          userId: caller,
        },
      },
    },
  } as APIGatewayProxyEventV2WithIAMAuthorizer;
}

export function startApiServer(port: number, handler: ApiHandler, caller: string): Promise<Server> {
  const server = createServer((req, res) => {
    toEvent(req, caller)
      .then(handler)
      .then((r) => {
        res.writeHead(r.statusCode ?? 200, (r.headers ?? {}) as Record<string, string>);
        res.end(r.isBase64Encoded && r.body ? Buffer.from(r.body, 'base64') : (r.body ?? ''));
      })
      .catch((e: Error) => {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'InternalError', message: e.message, details: [] } }));
      });
  });
  return listen(server, port);
}
