/**
 * The API on plain HTTP: each request becomes an API Gateway HTTP API (payload 2.0) event for the
 * same handler that runs in Lambda, with the caller's identity where IAM authorization puts it: the
 * default local user for an unsigned request, the signer's principal for one signed with SigV4 by a
 * known local key, and a 403 for a signature that does not verify.
 */

import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { APIGatewayProxyEventV2WithIAMAuthorizer, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { serveDashboard } from './dashboard.ts';
import { serveDocs } from './docs.ts';
import { listen } from './endpoint.ts';
import { identityOf, type LocalIdentity, SignatureError } from './identities.ts';
import { EVENTS_PATH, serveEvents } from './sse.ts';

export type ApiHandler = (
  event: APIGatewayProxyEventV2WithIAMAuthorizer,
) => Promise<APIGatewayProxyStructuredResultV2>;

export interface ApiCallers {
  /** who an unsigned request is */
  readonly defaultCaller: string;
  /** local credentials by access key id */
  readonly identities: ReadonlyMap<string, LocalIdentity>;
}

function headersOf(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers))
    if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(',') : v;
  return headers;
}

export async function toEvent(
  req: IncomingMessage,
  caller: string,
  body: Buffer,
  /** another path than the request's (the event stream reads the API's own routes) */
  path?: string,
): Promise<APIGatewayProxyEventV2WithIAMAuthorizer> {
  const url = new URL(path ?? req.url ?? '/', 'http://localhost');
  const headers = headersOf(req);
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

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export function startApiServer(port: number, handler: ApiHandler, callers: ApiCallers): Promise<Server> {
  const server = createServer((req, res) => {
    // Swagger UI and the dashboard's files
    if (serveDocs(req, res) || serveDashboard(req, res)) return;
    readBody(req)
      .then(async (body) => {
        const signer = await identityOf(
          {
            method: req.method ?? 'GET',
            url: req.url ?? '/',
            headers: headersOf(req),
            body: body.toString('utf8'),
          },
          callers.identities,
        );
        const caller = signer?.arn ?? callers.defaultCaller;
        // a task's live events: a stream, read through the API's own routes as this caller
        const events =
          req.method === 'GET'
            ? EVENTS_PATH.exec(new URL(req.url ?? '/', 'http://localhost').pathname)
            : null;
        if (events?.[1]) {
          const get = async (p: string, query: Record<string, string> = {}) => {
            const q = new URLSearchParams(query);
            const r = await handler(await toEvent(req, caller, Buffer.alloc(0), q.size ? `${p}?${q}` : p));
            return { status: r.statusCode ?? 200, body: r.body ? (JSON.parse(r.body) as unknown) : {} };
          };
          await serveEvents(req, res, decodeURIComponent(events[1]), get);
          return undefined;
        }
        return toEvent(req, caller, body);
      })
      .then(async (event) => (event ? handler(event) : undefined))
      .then((r) => {
        if (!r) return; // answered already (the event stream)
        res.writeHead(r.statusCode ?? 200, (r.headers ?? {}) as Record<string, string>);
        res.end(r.isBase64Encoded && r.body ? Buffer.from(r.body, 'base64') : (r.body ?? ''));
      })
      .catch((e: Error) => {
        if (e instanceof SignatureError) {
          // what API Gateway answers a request whose IAM signature does not verify
          res.writeHead(403, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { code: 'InvalidSignature', message: e.message, details: [] } }));
          return;
        }
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'InternalError', message: e.message, details: [] } }));
      });
  });
  return listen(server, port);
}
