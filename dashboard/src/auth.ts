/**
 * Sign-in for the deployed dashboard (loaded only there): the Cognito user pool's hosted sign-in
 * (authorization code with PKCE; a public client, no secret in the page), then AWS credentials for
 * the signed-in user from the identity pool, whose authenticated role may invoke the API and the
 * events function URL and nothing else. Every request is signed with SigV4 by those credentials, so
 * the API sees an IAM caller like the CLI's, and its owner rules apply to the person signed in.
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { fromCognitoIdentityPool } from '@aws-sdk/credential-provider-cognito-identity';
import { SignatureV4 } from '@smithy/signature-v4';
import type { DashboardConfig, Signer } from './api.ts';

const KEY = 'trainstack.session';
const VERIFIER = 'trainstack.pkce';

interface Tokens {
  idToken: string;
  expiresAt: number;
}

const b64url = (bytes: ArrayBuffer | Uint8Array) =>
  btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replaceAll('+', '-')
    .replaceAll('/', '_')
    .replace(/=+$/, '');

function claims(idToken: string): Record<string, unknown> {
  const part = idToken.split('.')[1] ?? '';
  return JSON.parse(atob(part.replaceAll('-', '+').replaceAll('_', '/'))) as Record<string, unknown>;
}

const redirectUri = () => `${window.location.origin}${window.location.pathname}`;

async function goSignIn(c: DashboardConfig): Promise<undefined> {
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
  sessionStorage.setItem(VERIFIER, verifier);
  const challenge = b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  const q = new URLSearchParams({
    response_type: 'code',
    client_id: c.userPoolClientId ?? '',
    redirect_uri: redirectUri(),
    scope: 'openid email profile',
    code_challenge_method: 'S256',
    code_challenge: challenge,
  });
  window.location.assign(`${c.signInDomain}/oauth2/authorize?${q}`);
  return undefined;
}

async function exchange(c: DashboardConfig, code: string): Promise<Tokens> {
  const r = await fetch(`${c.signInDomain}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      client_id: c.userPoolClientId ?? '',
      code,
      redirect_uri: redirectUri(),
      code_verifier: sessionStorage.getItem(VERIFIER) ?? '',
    }),
  });
  if (!r.ok) throw new Error(`sign-in failed: ${r.status} ${await r.text()}`);
  const t = (await r.json()) as { id_token: string; expires_in: number };
  sessionStorage.removeItem(VERIFIER);
  return { idToken: t.id_token, expiresAt: Date.now() + t.expires_in * 1000 };
}

export async function signIn(
  c: DashboardConfig,
): Promise<{ signer: Signer; user: string; signOut: () => void } | undefined> {
  const url = new URL(window.location.href);
  const code = url.searchParams.get('code');
  let tokens = JSON.parse(sessionStorage.getItem(KEY) ?? 'null') as Tokens | null;
  if (code) {
    tokens = await exchange(c, code);
    sessionStorage.setItem(KEY, JSON.stringify(tokens));
    window.history.replaceState(null, '', `${url.pathname}${url.hash}`);
  }
  if (!tokens || tokens.expiresAt < Date.now() + 60_000) return goSignIn(c);
  const region = c.region ?? 'us-east-1';
  const credentials = fromCognitoIdentityPool({
    clientConfig: { region },
    identityPoolId: c.identityPoolId ?? '',
    logins: { [`cognito-idp.${region}.amazonaws.com/${c.userPoolId}`]: tokens.idToken },
  });
  const signers = {
    'execute-api': new SignatureV4({ service: 'execute-api', region, credentials, sha256: Sha256 }),
    lambda: new SignatureV4({ service: 'lambda', region, credentials, sha256: Sha256 }),
  };
  const signer: Signer = async (u, init) => {
    const service = u.hostname.includes('.lambda-url.') ? 'lambda' : 'execute-api';
    const signed = await signers[service].sign({
      method: init.method,
      protocol: u.protocol,
      hostname: u.hostname,
      path: u.pathname,
      query: Object.fromEntries(u.searchParams),
      headers: { ...init.headers, host: u.host },
      ...(init.body !== undefined ? { body: init.body } : {}),
    });
    // the browser sets Host itself
    const { host: _host, ...headers } = signed.headers;
    return headers;
  };
  const who = claims(tokens.idToken);
  return {
    signer,
    user: String(who.email ?? who['cognito:username'] ?? ''),
    signOut: () => {
      sessionStorage.removeItem(KEY);
      const q = new URLSearchParams({ client_id: c.userPoolClientId ?? '', logout_uri: redirectUri() });
      window.location.assign(`${c.signInDomain}/logout?${q}`);
    },
  };
}
