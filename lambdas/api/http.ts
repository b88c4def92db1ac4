/**
 * HTTP plumbing for the API handler: API Gateway (payload 2.0) events in, JSON responses out, errors
 * as `{"error": {"code", "message", "details": [{"path", "message"}]}}` with their 4xx status.
 */
import type { APIGatewayProxyEventV2WithIAMAuthorizer, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type * as z from 'zod/mini';
import { type Actor, actorFor } from '../domain/actor.ts';
import { DomainError, type FieldIssue } from '../domain/errors.ts';
import { ValidationIssues } from '../domain/validation.ts';

export type ApiEvent = APIGatewayProxyEventV2WithIAMAuthorizer;
export type ApiResult = APIGatewayProxyStructuredResultV2;

export const MAX_BODY_BYTES = 1_048_576;

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): ApiResult {
  return {
    statusCode,
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
    body: JSON.stringify(body),
  };
}

export function errorBody(code: string, message: string, details: FieldIssue[] = []) {
  return { error: { code, message, details } };
}

/** Each field that is wrong, and why (a map key that is wrong says what is wrong with it). */
export function fromZod(e: z.core.$ZodError): FieldIssue[] {
  return e.issues.map((i) => ({
    path: i.path.map(String).join('.') || '(body)',
    message:
      i.code === 'invalid_key' ? `${i.message}: ${i.issues.map((k) => k.message).join('; ')}` : i.message,
  }));
}

/** Map any error to a response: domain and validation errors to 4xx, the rest to 500 without internals. */
export function toResponse(e: unknown): ApiResult {
  if (e instanceof DomainError) return json(e.status, errorBody(e.code, e.message, e.details), e.headers);
  if (e instanceof ValidationIssues)
    return json(400, errorBody('ValidationError', 'the request is not valid', fromZod(e)));
  if (e instanceof Error && /Throttl|ProvisionedThroughputExceeded|RequestLimitExceeded/.test(e.name)) {
    return json(503, errorBody('ServiceUnavailable', 'a dependency is busy; try again'), {
      'Retry-After': '5',
    });
  }
  throw e;
}

export function header(event: ApiEvent, name: string): string | undefined {
  const want = name.toLowerCase();
  for (const [k, v] of Object.entries(event.headers ?? {})) if (k.toLowerCase() === want) return v;
  return undefined;
}

export function rawBody(event: ApiEvent): string {
  if (!event.body) return '';
  const text = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  if (Buffer.byteLength(text, 'utf8') > MAX_BODY_BYTES) {
    throw new DomainError(413, 'PayloadTooLarge', `the body is larger than ${MAX_BODY_BYTES} bytes`);
  }
  return text;
}

/** Parse a JSON body (415 if another media type is declared, 400 naming the problem if it is not JSON). */
export function jsonBody(event: ApiEvent): unknown {
  const type = header(event, 'content-type');
  if (type && !/^application\/(json|[\w.+-]+\+json)\b/i.test(type)) {
    throw new DomainError(415, 'UnsupportedMediaType', `expected application/json, got ${type}`);
  }
  const text = rawBody(event);
  if (!text.trim())
    throw new DomainError(400, 'ValidationError', 'the body is empty', [
      { path: '(body)', message: 'expected a JSON object' },
    ]);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new DomainError(400, 'ValidationError', 'the body is not valid JSON', [
      { path: '(body)', message: (e as Error).message },
    ]);
  }
}

/**
 * The caller's IAM identity as the authorizer gives it (the local cloud fills the same fields). A
 * person signed in to the dashboard calls with the identity pool's role, whose sessions all look
 * alike: their Cognito identity (one per person, kept across sign-ins) is who they are.
 */
export function callerOf(event: ApiEvent): string | undefined {
  const iam = event.requestContext?.authorizer?.iam;
  const cognito = iam?.cognitoIdentity as
    | { identityId?: string; identityPoolId?: string; amr?: string[] }
    | null
    | undefined;
  if (cognito?.identityId && cognito.identityPoolId && cognito.amr?.includes('authenticated'))
    return `${COGNITO_OWNER}${cognito.identityPoolId}/${cognito.identityId}`;
  return iam?.userArn || undefined;
}

/** How the owner of a dashboard user's tasks begins: `cognito-identity:<pool id>/<identity id>`. */
export const COGNITO_OWNER = 'cognito-identity:';

/** Who is asking; a request without an IAM identity is a 401 (every route but /health is signed). */
export function actorOf(event: ApiEvent, admins: readonly string[]): Actor {
  const arn = callerOf(event);
  if (!arn)
    throw new DomainError(401, 'Unauthorized', 'the request carries no IAM identity; sign it with SigV4');
  return actorFor(arn, admins);
}
