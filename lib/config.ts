/** Stack settings from CDK context (`cdk.json` or `-c key=value`), with their defaults (listed in the README). */
import type { Node } from 'constructs';
import { MAX_STATS_SHARDS } from '../lambdas/clients/task-table.ts';

export interface TrainstackConfig {
  /** GPU instance types for the auto scaling group. @default ['g5.xlarge'] */
  readonly instanceTypes: string[];
  /**
   * GPUs one instance holds: the largest task size, and the default concurrency cap. @default what the
   * instance types hold (the fewest of those listed; 1 for a type this table does not know)
   */
  readonly gpusPerInstance: number;
  /** @default 0 */
  readonly minInstances: number;
  /** @default 4 */
  readonly maxInstances: number;
  /** Spot instances instead of on-demand. @default false */
  readonly spot: boolean;
  /** Tasks running at once; 0 means as many as the cluster's GPUs. @default 0 */
  readonly maxConcurrentTasks: number;
  /** Queued tasks beyond which submit answers 429. @default 10000 */
  readonly maxQueueDepth: number;
  /** @default 30 */
  readonly logRetentionDays: number;
  /** Days before task outputs move to infrequent access; checkpoints expire after the same. @default 90 */
  readonly artifactRetentionDays: number;
  /** IAM principal ARNs allowed to call the API. @default [] (the account's principals with IAM permission) */
  readonly adminPrincipals: string[];
  /**
   * Items each stats counter is spread over, so that no one DynamoDB item takes every task's writes
   * (docs/scale.md). Raise it as the stack's task rate grows; lowering it hides the counts in the
   * shards left out. @default 8
   */
  readonly statsShards: number;
  /** @default 50 */
  readonly apiThrottleRate: number;
  /** @default 100 */
  readonly apiThrottleBurst: number;
  /** Hourly price of one GPU, for cost estimates. @default 1.006 (g5.xlarge on-demand, us-east-1) */
  readonly gpuHourlyUsd: number;
  /** vCPU units (1024 = 1 vCPU) of a CPU-only task on Fargate (inference, CPU containers). @default 1024 */
  readonly cpuTaskCpu: number;
  /** Memory of a CPU-only task on Fargate; with cpuTaskCpu, one of Fargate's sizes. @default 4096 */
  readonly cpuTaskMemoryMiB: number;
  /** Hourly price of a CPU-only task, for cost estimates. @default 0.0583 (1 vCPU, 4 GB on Fargate, us-east-1) */
  readonly cpuHourlyUsd: number;
  /**
   * Where the stack deploys: `aws`, or `localstack` (LocalStack Community: no GPU cluster, image, ECS
   * or HTTP API, which it cannot create; tasks then fail with a reason that says so). @default aws
   */
  readonly target: 'aws' | 'localstack';
  /**
   * A task image already pushed (e.g. to your ECR), used instead of building `containers/Dockerfile`
   * at deploy time, so deploying needs no Docker. @default '' (build the image asset)
   */
  readonly taskImage: string;
  /**
   * The agent image (trajectory tasks) already pushed, used instead of building the `agent` target of
   * `containers/Dockerfile`. @default '' (build the image asset)
   */
  readonly agentImage: string;
  /**
   * Tasks' `secrets` may name SSM parameters and Secrets Manager secrets under this prefix only; the
   * runner's role may read those and no others. @default trainstack/
   */
  readonly secretsPrefix: string;
  /**
   * IAM roles a task's workload may work as (its `roleArn`; `*` matches any characters). Each role's
   * trust policy must let the stack's task role (output TaskRoleArn) assume it. @default [] (none)
   */
  readonly workloadRoleArns: string[];
  /** Deploy the web dashboard (CloudFront, S3, Cognito sign-in). @default true */
  readonly dashboard: boolean;
  /**
   * The dashboard's hosted sign-in domain prefix (`<prefix>.auth.<region>.amazoncognito.com`), unique
   * in the region. @default `<stack name>-<account>`, lower-cased
   */
  readonly dashboardDomainPrefix: string;
}

export const TARGETS = ['aws', 'localstack'] as const;

export const DEFAULTS: TrainstackConfig = {
  instanceTypes: ['g5.xlarge'],
  gpusPerInstance: 1,
  minInstances: 0,
  maxInstances: 4,
  spot: false,
  maxConcurrentTasks: 0,
  maxQueueDepth: 10_000,
  logRetentionDays: 30,
  artifactRetentionDays: 90,
  adminPrincipals: [],
  statsShards: 8,
  apiThrottleRate: 50,
  apiThrottleBurst: 100,
  gpuHourlyUsd: 1.006,
  cpuTaskCpu: 1024,
  cpuTaskMemoryMiB: 4096,
  cpuHourlyUsd: 0.0583,
  target: 'aws',
  taskImage: '',
  agentImage: '',
  secretsPrefix: 'trainstack/',
  workloadRoleArns: [],
  dashboard: true,
  dashboardDomainPrefix: '',
};

function coerce(value: unknown, like: unknown, key: string): unknown {
  if (typeof like === 'number') {
    const n = typeof value === 'string' ? Number(value) : value;
    if (typeof n !== 'number' || !Number.isFinite(n))
      throw new Error(`context ${key} must be a number, got ${String(value)}`);
    return n;
  }
  if (typeof like === 'boolean') {
    if (value === 'true' || value === true) return true;
    if (value === 'false' || value === false) return false;
    throw new Error(`context ${key} must be true or false, got ${String(value)}`);
  }
  if (Array.isArray(like)) {
    if (Array.isArray(value)) return value.map(String);
    if (typeof value === 'string')
      return value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    throw new Error(`context ${key} must be a list, got ${String(value)}`);
  }
  return String(value);
}

/** GPUs of the GPU instance types people use (AWS's published figures). */
export const GPUS_BY_INSTANCE_TYPE: Record<string, number> = {
  ...Object.fromEntries(
    ['g4dn', 'g5', 'g6', 'g6e'].flatMap((f) =>
      ['xlarge', '2xlarge', '4xlarge', '8xlarge', '16xlarge'].map((s) => [`${f}.${s}`, 1]),
    ),
  ),
  'g4dn.12xlarge': 4,
  'g4dn.metal': 8,
  'g5.12xlarge': 4,
  'g5.24xlarge': 4,
  'g5.48xlarge': 8,
  'g6.12xlarge': 4,
  'g6.24xlarge': 4,
  'g6.48xlarge': 8,
  'g6e.12xlarge': 4,
  'g6e.24xlarge': 4,
  'g6e.48xlarge': 8,
  'p3.2xlarge': 1,
  'p3.8xlarge': 4,
  'p3.16xlarge': 8,
  'p4d.24xlarge': 8,
  'p5.48xlarge': 8,
};

export function readConfig(node: Node): TrainstackConfig {
  const out = { ...DEFAULTS } as Record<string, unknown>;
  for (const key of Object.keys(DEFAULTS)) {
    const v: unknown = node.tryGetContext(key);
    if (v !== undefined) out[key] = coerce(v, (DEFAULTS as unknown as Record<string, unknown>)[key], key);
  }
  // the instances decide how many GPUs a task may have, unless told otherwise
  if (node.tryGetContext('gpusPerInstance') === undefined) {
    const known = (out.instanceTypes as string[]).map((t) => GPUS_BY_INSTANCE_TYPE[t]);
    if (known.length && known.every((n) => n !== undefined))
      out.gpusPerInstance = Math.min(...(known as number[]));
  }
  const c = out as unknown as TrainstackConfig;
  if (c.minInstances < 0 || c.maxInstances < c.minInstances)
    throw new Error('context: need 0 <= minInstances <= maxInstances');
  if (!c.instanceTypes.length) throw new Error('context instanceTypes is empty');
  if (!Number.isInteger(c.statsShards) || c.statsShards < 1 || c.statsShards > MAX_STATS_SHARDS)
    throw new Error(
      `context statsShards must be a whole number from 1 to ${MAX_STATS_SHARDS}, got ${c.statsShards}`,
    );
  if (!/^[A-Za-z0-9_+=.@-][A-Za-z0-9/_+=.@-]*\/$/.test(c.secretsPrefix))
    throw new Error(
      `context secretsPrefix must be a path that ends in / (like trainstack/), got ${c.secretsPrefix}`,
    );
  for (const arn of c.workloadRoleArns)
    if (!/^arn:aws[a-z-]*:iam::(\d{12}|\*):role\/\S+$/.test(arn))
      throw new Error(
        `context workloadRoleArns: ${arn} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)`,
      );
  if (!TARGETS.includes(c.target))
    throw new Error(`context target must be ${TARGETS.join(' or ')}, got ${String(c.target)}`);
  return c;
}

/** The concurrency cap: as configured, or the GPUs the cluster can hold at its largest. */
export function concurrencyCap(c: TrainstackConfig): number {
  return c.maxConcurrentTasks > 0 ? c.maxConcurrentTasks : Math.max(1, c.maxInstances * c.gpusPerInstance);
}
