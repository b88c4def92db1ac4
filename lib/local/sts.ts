/**
 * STS AssumeRole on the local cloud (AWS query protocol, XML answer), so the runner takes the same
 * path as deployed: it assumes the data role with a session policy scoped to its task. The local
 * cloud enforces no IAM, so the credentials are the local ones; what it does check is what STS
 * checks before anything else: a role ARN, a session name, and a session policy that is JSON and
 * at most 2,048 characters (a policy STS would refuse fails here too).
 */

import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

const xml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function fail(res: ServerResponse, status: number, code: string, message: string) {
  res.writeHead(status, { 'content-type': 'text/xml' });
  res.end(
    `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${xml(message)}</Message></Error><RequestId>${randomBytes(8).toString('hex')}</RequestId></ErrorResponse>`,
  );
}

/** Answer one STS request whose form body is `body`. */
export function serveSts(
  body: string,
  res: ServerResponse,
  credentials: { accessKeyId: string; secretAccessKey: string },
) {
  const form = new URLSearchParams(body);
  const action = form.get('Action');
  if (action !== 'AssumeRole')
    return fail(res, 400, 'InvalidAction', `${action ?? '(none)'} is not served by the local cloud`);
  const roleArn = form.get('RoleArn') ?? '';
  const session = form.get('RoleSessionName') ?? '';
  if (!/^arn:[^:]+:iam::\d{12}:role\/.+/.test(roleArn))
    return fail(res, 400, 'ValidationError', `RoleArn ${roleArn} is not a role ARN`);
  if (!/^[\w+=,.@-]{2,64}$/.test(session))
    return fail(res, 400, 'ValidationError', `RoleSessionName ${session} is not a valid session name`);
  const policy = form.get('Policy');
  if (policy !== null) {
    if (policy.length > 2048)
      return fail(
        res,
        400,
        'PackedPolicyTooLarge',
        `the session policy is ${policy.length} characters; at most 2048`,
      );
    try {
      JSON.parse(policy);
    } catch {
      return fail(res, 400, 'MalformedPolicyDocument', 'the session policy is not JSON');
    }
  }
  const seconds = Number(form.get('DurationSeconds') ?? 3600);
  const expiration = new Date(Date.now() + seconds * 1000).toISOString();
  const role = roleArn.split('/').pop() ?? 'role';
  const account = roleArn.split(':')[4];
  res.writeHead(200, { 'content-type': 'text/xml' });
  res.end(
    `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials><AccessKeyId>${xml(credentials.accessKeyId)}</AccessKeyId><SecretAccessKey>${xml(credentials.secretAccessKey)}</SecretAccessKey><SessionToken>local-session</SessionToken><Expiration>${expiration}</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROALOCAL:${xml(session)}</AssumedRoleId><Arn>arn:aws:sts::${account}:assumed-role/${xml(role)}/${xml(session)}</Arn></AssumedRoleUser><PackedPolicySize>${policy ? Math.ceil((policy.length / 2048) * 100) : 0}</PackedPolicySize></AssumeRoleResult><ResponseMetadata><RequestId>${randomBytes(8).toString('hex')}</RequestId></ResponseMetadata></AssumeRoleResponse>`,
  );
}

export async function stsHandler(
  req: IncomingMessage,
  res: ServerResponse,
  credentials: { accessKeyId: string; secretAccessKey: string },
) {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  serveSts(Buffer.concat(chunks).toString('utf8'), res, credentials);
}
