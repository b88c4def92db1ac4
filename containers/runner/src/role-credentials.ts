/**
 * The workload's AWS credentials when its task names a `roleArn`: the runner assumes the role (with
 * the task role's credentials, which the workload never sees) and serves the temporary credentials
 * on the container's loopback interface, the way ECS serves a task role's. The workload gets
 * `AWS_CONTAINER_CREDENTIALS_FULL_URI` and `AWS_CONTAINER_AUTHORIZATION_TOKEN`, which every AWS SDK
 * and the CLI read, and they refresh the credentials before they expire on their own.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RoleCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}
export type CredentialSource = () => Promise<RoleCredentials>;

export interface CredentialServer {
  /** what the workload's environment gets */
  env: { AWS_CONTAINER_CREDENTIALS_FULL_URI: string; AWS_CONTAINER_AUTHORIZATION_TOKEN: string };
  close(): Promise<void>;
}

/** Credentials from `source`, fetched again once they are within five minutes of expiring. */
export function cached(source: CredentialSource, now = () => Date.now()): CredentialSource {
  let current: RoleCredentials | undefined;
  return async () => {
    if (!current || (current.expiration && current.expiration.getTime() - now() < 5 * 60_000))
      current = await source();
    return current;
  };
}

/** Serve `source` to whoever presents the token, on 127.0.0.1 only. Fetches once first: a role that cannot be assumed fails here. */
export async function serveRoleCredentials(source: CredentialSource): Promise<CredentialServer> {
  const get = cached(source);
  await get();
  const token = randomBytes(24).toString('hex');
  const expected = Buffer.from(token);
  const server = createServer((req, res) => {
    const given = Buffer.from(String(req.headers.authorization ?? ''));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end('{"message":"missing or wrong authorization token"}');
      return;
    }
    get().then(
      (c) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            AccessKeyId: c.accessKeyId,
            SecretAccessKey: c.secretAccessKey,
            Token: c.sessionToken,
            Expiration: (c.expiration ?? new Date(Date.now() + 3600_000)).toISOString(),
          }),
        );
      },
      (e: Error) => {
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: `the role could not be assumed: ${e.message}` }));
      },
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    env: {
      AWS_CONTAINER_CREDENTIALS_FULL_URI: `http://127.0.0.1:${port}/role`,
      AWS_CONTAINER_AUTHORIZATION_TOKEN: token,
    },
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
