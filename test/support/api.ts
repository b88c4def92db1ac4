/** Calling the API handler in this process with API Gateway v2 (payload 2.0) events, shaped as the local API server shapes them. */
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { ApiHandler } from '../../lib/local/api-server.ts';

export interface Reply<T = Record<string, unknown>> {
  status: number;
  headers: Record<string, string>;
  body: T;
}

/**
 * `user` is the IAM caller ARN; `null` sends the request with no identity (as an unsigned one).
 * `cognitoIdentity`: the Cognito identity API Gateway adds for credentials from an identity pool.
 */
export function caller(
  route: ApiHandler,
  user: string | null = 'arn:aws:iam::000000000000:user/tester',
  cognitoIdentity?: { identityId: string; identityPoolId: string; amr: string[] },
) {
  return async <T = Record<string, unknown>>(
    method: string,
    pathAndQuery: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Reply<T>> => {
    // prefixed, so a path like //x stays a path (as API Gateway passes it) rather than a host
    const url = new URL(`http://x${pathAndQuery}`);
    const text = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const query = Object.fromEntries(url.searchParams);
    const r = (await route({
      version: '2.0',
      routeKey: '$default',
      rawPath: url.pathname,
      rawQueryString: url.search.slice(1),
      headers: { ...(text !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      ...(Object.keys(query).length ? { queryStringParameters: query } : {}),
      ...(text !== undefined ? { body: text } : {}),
      isBase64Encoded: false,
      requestContext: {
        http: { method, path: url.pathname, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' },
        requestId: 'r',
        ...(user
          ? {
              authorizer: {
                iam: {
                  userArn: user,
                  callerId: user,
                  accountId: '000000000000',
                  cognitoIdentity: cognitoIdentity ?? null,
                },
              },
            }
          : {}),
      },
    } as never)) as APIGatewayProxyStructuredResultV2;
    return {
      status: r.statusCode ?? 200,
      headers: (r.headers ?? {}) as Record<string, string>,
      // JSON, or as it is (JSONL downloads)
      body: (r.body && !/ndjson/.test(String(r.headers?.['content-type']))
        ? JSON.parse(r.body)
        : r.body) as T,
    };
  };
}
