/**
 * Who calls the local API. Unsigned requests are the default local user (so curl works); a request
 * signed with SigV4 (as the CLI and any AWS SDK sign for API Gateway) is verified against the local
 * credentials this cloud knows, and becomes that identity's principal, as IAM authorization makes it
 * in AWS. A signature that does not verify, or an access key nobody was given, is a 403.
 */
import { createHash } from 'node:crypto';
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';

export interface LocalIdentity {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** the principal it signs as, e.g. arn:aws:iam::000000000000:user/alice */
  readonly arn: string;
}

export interface SignedRequest {
  method: string;
  /** path and query, as the request line has them */
  url: string;
  headers: Record<string, string>;
  body: string;
}

export class SignatureError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SignatureError';
  }
}

const AUTH =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/;
/** How far a request's date may be from now (AWS allows 15 minutes). */
const MAX_SKEW_MS = 15 * 60 * 1000;

function dateOf(amzDate: string | undefined): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate ?? '');
  if (!m) throw new SignatureError('the request has no valid X-Amz-Date');
  return new Date(
    Date.UTC(+(m[1] ?? 0), +(m[2] ?? 1) - 1, +(m[3] ?? 1), +(m[4] ?? 0), +(m[5] ?? 0), +(m[6] ?? 0)),
  );
}

/**
 * The identity of a request: undefined when it is not signed; the identity whose signature it
 * carries when it verifies; a SignatureError otherwise.
 */
export async function identityOf(
  req: SignedRequest,
  identities: ReadonlyMap<string, LocalIdentity>,
  now = new Date(),
): Promise<LocalIdentity | undefined> {
  const auth = req.headers.authorization;
  if (!auth) return undefined;
  const m = AUTH.exec(auth.trim());
  if (!m) throw new SignatureError('the Authorization header is not an AWS SigV4 signature');
  const [, accessKeyId = '', , region = '', service = '', signedHeaders = '', signature = ''] = m;
  const identity = identities.get(accessKeyId);
  if (!identity)
    throw new SignatureError(
      `the access key ${accessKeyId} is not known to this local cloud: give it with npm start -- --identities, or send the request unsigned to act as the default local user`,
    );
  const signingDate = dateOf(req.headers['x-amz-date']);
  if (Math.abs(now.getTime() - signingDate.getTime()) > MAX_SKEW_MS)
    throw new SignatureError('the request was signed more than 15 minutes from now');

  // a signed payload hash must be the body's, or a changed body would pass under the old hash
  const declared = req.headers['x-amz-content-sha256'];
  if (declared && declared !== 'UNSIGNED-PAYLOAD' && declared !== sha256Hex(req.body))
    throw new SignatureError('the body does not match its signed hash (x-amz-content-sha256)');
  const url = new URL(req.url, 'http://local');
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = v;
  const names = signedHeaders.split(';');
  const headers = Object.fromEntries(names.map((n) => [n, req.headers[n] ?? '']));
  const signer = new SignatureV4({
    service,
    region,
    sha256: Sha256,
    // hash the payload as the client did; add no header the client did not sign
    applyChecksum: false,
    credentials: {
      accessKeyId,
      secretAccessKey: identity.secretAccessKey,
      ...(req.headers['x-amz-security-token'] ? { sessionToken: req.headers['x-amz-security-token'] } : {}),
    },
  });
  const expected = await signer.sign(
    new HttpRequest({
      method: req.method,
      protocol: 'http:',
      hostname: (req.headers.host ?? '').split(':')[0] ?? '',
      path: url.pathname,
      query,
      headers,
      body: req.body,
    }),
    { signingDate, signableHeaders: new Set(names), unsignableHeaders: new Set() },
  );
  const ours = /Signature=([0-9a-f]{64})/.exec(String(expected.headers.authorization ?? ''))?.[1] ?? '';
  if (ours.length !== signature.length || !timingSafeEqualHex(ours, signature))
    throw new SignatureError(
      'the request signature does not match (wrong secret key, or the request was changed)',
    );
  return identity;
}

function timingSafeEqualHex(a: string, b: string): boolean {
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

const sha256Hex = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
