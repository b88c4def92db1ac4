/** SigV4 verification of the local API: what the CLI signs verifies; a wrong secret, key or changed request does not. */
import { describe, expect, it } from 'vitest';
import { signed } from '../../bin/cli.ts';
import { identityOf, type LocalIdentity } from '../../lib/local/identities.ts';

const alice: LocalIdentity = {
  accessKeyId: 'AKIDALICE',
  secretAccessKey: 'alice-secret',
  arn: 'arn:aws:iam::000000000000:user/alice',
};
const known = new Map([[alice.accessKeyId, alice]]);
const url = new URL('http://127.0.0.1:3000/v1/tasks?limit=5&status=QUEUED');
const body = '{"type":"container","image":"busybox","command":["true"]}';

async function signedAs(creds: { accessKeyId: string; secretAccessKey: string }, b = body) {
  const headers = await signed(url, 'POST', b, { 'content-type': 'application/json' }, async () => creds);
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}

describe('identityOf', () => {
  it('is undefined for an unsigned request (the default local user)', async () => {
    expect(
      await identityOf({ method: 'GET', url: '/v1/tasks', headers: {}, body: '' }, known),
    ).toBeUndefined();
  });

  it('verifies what the CLI signs, and names its principal', async () => {
    const headers = await signedAs(alice);
    const who = await identityOf(
      { method: 'POST', url: `${url.pathname}${url.search}`, headers, body },
      known,
    );
    expect(who?.arn).toBe(alice.arn);
  });

  it('refuses a wrong secret, an unknown key, a changed body or a changed query', async () => {
    const cases: [Record<string, string>, string, string][] = [
      [
        await signedAs({ accessKeyId: alice.accessKeyId, secretAccessKey: 'guess' }),
        `${url.pathname}${url.search}`,
        body,
      ],
      [
        await signedAs({ accessKeyId: 'AKIDMALLORY', secretAccessKey: 'x' }),
        `${url.pathname}${url.search}`,
        body,
      ],
      [await signedAs(alice), `${url.pathname}${url.search}`, body.replace('true', 'false')],
      [await signedAs(alice), `${url.pathname}?limit=5&status=RUNNING`, body],
    ];
    for (const [headers, path, b] of cases)
      await expect(identityOf({ method: 'POST', url: path, headers, body: b }, known)).rejects.toMatchObject({
        name: 'SignatureError',
      });
  });

  it('refuses a signature from more than 15 minutes ago', async () => {
    const headers = await signedAs(alice);
    const later = new Date(Date.now() + 16 * 60 * 1000);
    await expect(
      identityOf({ method: 'POST', url: `${url.pathname}${url.search}`, headers, body }, known, later),
    ).rejects.toThrow(/15 minutes/);
  });
});
