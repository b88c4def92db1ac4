/**
 * The runner's credentials, narrowed to its own task. ECS gives every task of a task definition the
 * same role and cannot tag a task's role session, so the narrowing is a session policy: the task
 * role may only assume the runner's data role, and the runner assumes it with a policy naming its
 * task (DynamoDB `LeadingKeys`, S3 prefixes, the secrets the task names). The effective permissions
 * are the role's intersected with the policy, so the credentials the runner holds can read and
 * update its own record and the counters, and write under its own prefixes, and nothing else.
 *
 * Two sessions: the first may only read the task's record (to learn its owner and secrets), the
 * second is the one the attempt runs with.
 */
import type { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import {
  batchPk,
  modelPk,
  modelStatsPk,
  shardPattern,
  statsPk,
  taskPk,
} from '../../../lambdas/clients/task-table.ts';
import { parseSecretRef } from '../../../lambdas/domain/secret-ref.ts';

export interface ScopeTarget {
  /** the data role's ARN (gives the partition and account) */
  roleArn: string;
  region: string;
  bucket: string;
  taskId: string;
}

export interface PolicyStatement {
  Effect: 'Allow';
  Action: string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}
export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: PolicyStatement[];
}

const arnParts = (roleArn: string) => {
  const [, partition = 'aws', , , account = ''] = roleArn.split(':');
  return { partition, account };
};

/**
 * The DynamoDB partition keys the runner of this task writes (IAM `StringLike` patterns): its record,
 * and the shards of the counters its STARTING -> RUNNING change adds to (everyone's, its owner's, its
 * model's and batch's). Not the cap item: that change neither takes nor frees a slot.
 */
export function leadingKeys(taskId: string, owner?: string, modelId?: string, batchId?: string): string[] {
  return [
    taskPk(taskId),
    shardPattern(statsPk()),
    ...(owner === undefined ? [] : [shardPattern(statsPk(owner))]),
    ...(modelId === undefined ? [] : [shardPattern(modelStatsPk(modelId))]),
    ...(batchId === undefined ? [] : [shardPattern(batchPk(batchId))]),
  ];
}

/** The S3 keys (patterns) the runner of this task writes: outputs, checkpoints and the trajectory. */
export function objectPatterns(taskId: string): string[] {
  return [`tasks/${taskId}/*`, `checkpoints/${taskId}/*`, `trajectories/${taskId}.json`];
}

/** The ARN of the parameter or secret a reference names (a secret's name matches any suffix AWS adds). */
export function secretArn(ref: string, t: ScopeTarget): string {
  const { partition, account } = arnParts(t.roleArn);
  const { store, name } = parseSecretRef(ref);
  if (name.startsWith('arn:')) return name;
  if (store === 'ssm')
    return `arn:${partition}:ssm:${t.region}:${account}:parameter/${name.replace(/^\/+/, '')}`;
  return `arn:${partition}:secretsmanager:${t.region}:${account}:secret:${name}-??????`;
}

/** Only reading the task's own record, and the registered models (which hold no secret). */
export function readOnlyPolicy(t: ScopeTarget): PolicyDocument {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: ['dynamodb:GetItem'],
        Resource: '*',
        Condition: {
          'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [taskPk(t.taskId), modelPk('*')] },
        },
      },
    ],
  };
}

/** Where in the stack's bucket users put datasets any of their tasks may read. */
export const DATASETS_PREFIX = 'datasets/';

/** What the runner of this task does during an attempt, and nothing more. */
export function attemptPolicy(
  t: ScopeTarget,
  owner: string,
  secrets: readonly string[],
  modelId?: string,
  batchId?: string,
): PolicyDocument {
  const { partition } = arnParts(t.roleArn);
  const bucket = `arn:${partition}:s3:::${t.bucket}`;
  const statements: PolicyStatement[] = [
    {
      Effect: 'Allow',
      Action: ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:ConditionCheckItem'],
      Resource: '*',
      Condition: {
        'ForAllValues:StringLike': {
          'dynamodb:LeadingKeys': leadingKeys(t.taskId, owner, modelId, batchId),
        },
      },
    },
    ...(modelId
      ? [
          {
            Effect: 'Allow' as const,
            Action: ['dynamodb:GetItem'],
            Resource: '*',
            Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [modelPk(modelId)] } },
          },
        ]
      : []),
    {
      Effect: 'Allow',
      Action: ['s3:PutObject', 's3:GetObject', 's3:AbortMultipartUpload'],
      Resource: objectPatterns(t.taskId).map((p) => `${bucket}/${p}`),
    },
    // datasets users upload to the stack's bucket (a task's own bucket is read with its roleArn)
    { Effect: 'Allow', Action: ['s3:GetObject'], Resource: `${bucket}/${DATASETS_PREFIX}*` },
    {
      Effect: 'Allow',
      Action: ['s3:ListBucket'],
      Resource: bucket,
      Condition: { StringLike: { 's3:prefix': [`checkpoints/${t.taskId}/*`] } },
    },
  ];
  if (!secrets.length) return { Version: '2012-10-17', Statement: statements };
  const named: PolicyStatement = {
    Effect: 'Allow',
    Action: ['ssm:GetParameter', 'secretsmanager:GetSecretValue'],
    Resource: secrets.map((r) => secretArn(r, t)),
  };
  const doc: PolicyDocument = { Version: '2012-10-17', Statement: [...statements, named] };
  if (JSON.stringify(doc).length <= MAX_SESSION_POLICY) return doc;
  // too many to name within STS's limit: the role's own prefix rule is then the only narrowing
  return { Version: '2012-10-17', Statement: [...statements, { ...named, Resource: '*' }] };
}

/** STS refuses session policies longer than 2,048 characters (plain text). */
export const MAX_SESSION_POLICY = 2048;

/** Credentials of the data role under this session policy, refreshed before they expire. */
export function scopedCredentials(t: ScopeTarget, policy: PolicyDocument) {
  return temporaryCredentials({
    params: {
      RoleArn: t.roleArn,
      RoleSessionName: `task-${t.taskId}`.slice(0, 64),
      Policy: JSON.stringify(policy),
      DurationSeconds: 3600,
    },
  });
}

type TemporaryCredentials = ReturnType<typeof fromTemporaryCredentials>;

/**
 * `fromTemporaryCredentials`, with the credential providers' package (and STS) loaded on first use:
 * only a deployed runner assumes roles, and a runner that does not load them starts faster.
 */
export function temporaryCredentials(
  options: Parameters<typeof fromTemporaryCredentials>[0],
): TemporaryCredentials {
  let provider: TemporaryCredentials | undefined;
  return async (identity) => {
    provider ??= (await import('@aws-sdk/credential-providers')).fromTemporaryCredentials(options);
    return provider(identity);
  };
}
