/**
 * A test's own copy of the stack's data resources on the shared emulators: the synthesized template's
 * tables, queues and buckets under a unique prefix. Integration tests import the handlers in their own
 * process, so that process plays every function: it gets their variables (which agree: a clash throws)
 * and the endpoint, as the Lambda host gives each function its own.
 */
import { randomBytes } from 'node:crypto';
import { createResources } from '../../lib/local/resources.ts';
import { synthTemplate } from '../../lib/local/synth.ts';
import {
  functionsOf,
  type LocalNames,
  localNames,
  resourcesOfType,
  type Template,
} from '../../lib/local/template.ts';

export interface TestStack {
  template: Template;
  names: LocalNames;
  tableName: string;
  bucketName: string;
  queueUrl: string;
  dlqUrl: string;
}

let cached: Template | undefined;
export function template(): Template {
  cached ??= synthTemplate();
  return cached;
}

/** Create the resources and point this process's environment (handlers, SDK clients) at them. */
export async function testStack(endpoint: string, context?: Record<string, unknown>): Promise<TestStack> {
  const t = context ? synthTemplate(context) : template();
  const prefix = `t${randomBytes(4).toString('hex')}`;
  const names = localNames(t, 'us-east-1', endpoint, prefix);
  Object.assign(process.env, {
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    POWERTOOLS_LOG_LEVEL: 'ERROR',
  });
  Object.assign(process.env, sharedEnvironment(t, names));
  await createResources(t, names, endpoint);
  const queues = resourcesOfType(t, 'AWS::SQS::Queue');
  const main = queues.find(([, p]) => p.RedrivePolicy)?.[0] ?? '';
  const dlq = queues.find(([, p]) => !p.RedrivePolicy)?.[0] ?? '';
  return {
    template: t,
    names,
    tableName: String(process.env.TABLE_NAME),
    bucketName: String(process.env.BUCKET_NAME),
    queueUrl: names.queueUrls[main] ?? '',
    dlqUrl: names.queueUrls[dlq] ?? '',
  };
}

/** Overwrite attributes of a task record directly, for limits the API would refuse (a 1 s timeout). */
export function patchTask(tableName: string, taskId: string, attributes: Record<string, unknown>) {
  return patchItem(tableName, `TASK#${taskId}`, attributes);
}

/** Overwrite attributes of any item by its key (what only the dispatcher would change, say). */
export async function patchItem(
  tableName: string,
  pk: string,
  attributes: Record<string, unknown>,
): Promise<void> {
  const { UpdateCommand } = await import('@aws-sdk/lib-dynamodb');
  const { dynamodb } = await import('../../lambdas/clients/dynamodb.ts');
  const names = Object.keys(attributes);
  await dynamodb.send(
    new UpdateCommand({
      TableName: tableName,
      Key: { pk },
      UpdateExpression: `SET ${names.map((_, i) => `#a${i} = :v${i}`).join(', ')}`,
      ExpressionAttributeNames: Object.fromEntries(names.map((n, i) => [`#a${i}`, n])),
      ExpressionAttributeValues: Object.fromEntries(names.map((n, i) => [`:v${i}`, attributes[n]])),
    }),
  );
}

/** Every function's variables in one map, refusing two functions that give one variable two values. */
function sharedEnvironment(t: Template, names: LocalNames): Record<string, string> {
  const env: Record<string, string> = {};
  for (const fn of functionsOf(t, names)) {
    for (const [k, v] of Object.entries(fn.environment)) {
      if (k === 'POWERTOOLS_SERVICE_NAME') continue;
      if (k in env && env[k] !== v) throw new Error(`functions disagree on ${k}: ${env[k]} and ${v}`);
      env[k] = v;
    }
  }
  return env;
}
