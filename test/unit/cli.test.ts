import { describe, expect, it } from 'vitest';
import { isLocal, regionOf, signed } from '../../bin/cli.ts';

describe('CLI signing', () => {
  it('signs requests to a deployed API for execute-api in the URL region', async () => {
    const url = new URL('https://abc123.execute-api.eu-west-1.amazonaws.com/v1/tasks?limit=5');
    const headers = await signed(url, 'GET', undefined, {}, async () => ({
      accessKeyId: 'AKIDEXAMPLE',
      secretAccessKey: 'secret',
    }));
    expect(headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=[a-z0-9;-]*host[a-z0-9;-]*, Signature=[0-9a-f]{64}$/,
    );
  });

  it('covers the body in the signature', async () => {
    const url = new URL('https://abc123.execute-api.us-east-2.amazonaws.com/v1/tasks');
    const creds = async () => ({ accessKeyId: 'A', secretAccessKey: 'S' });
    const a = await signed(url, 'POST', '{"a":1}', { 'content-type': 'application/json' }, creds);
    const b = await signed(url, 'POST', '{"a":2}', { 'content-type': 'application/json' }, creds);
    expect(a.authorization).not.toBe(b.authorization);
  });

  it("signs for a function URL (the stack's EventsUrl) as service lambda, in its region", async () => {
    const url = new URL('https://abc.lambda-url.eu-central-1.on.aws/v1/tasks/X/events');
    expect(regionOf(url)).toBe('eu-central-1');
    const headers = await signed(url, 'GET', undefined, {}, async () => ({
      accessKeyId: 'A',
      secretAccessKey: 'S',
    }));
    expect(headers.authorization).toMatch(/\/eu-central-1\/lambda\/aws4_request/);
  });

  it('does not sign for the local cloud', () => {
    expect(isLocal(new URL('http://127.0.0.1:3000'))).toBe(true);
    expect(isLocal(new URL('https://x.execute-api.us-east-1.amazonaws.com'))).toBe(false);
    expect(regionOf(new URL('https://x.execute-api.ap-south-1.amazonaws.com'))).toBe('ap-south-1');
  });
});
