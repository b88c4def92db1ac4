/** Entry point of the runner container: configuration from the environment only. */
import { get as httpGet } from 'node:http';
import { S3Client } from '@aws-sdk/client-s3';
import { documentClient, dynamodb } from '../../../lambdas/clients/dynamodb.ts';
import { DynamoModelRepository } from '../../../lambdas/clients/dynamodb-models.ts';
import { DynamoTaskRepository } from '../../../lambdas/clients/dynamodb-tasks.ts';
import { RUNNER_ENV, WORKLOAD_ENV } from '../../../lambdas/contracts/runner-env.ts';
import { EXIT_RUNNER_ERROR } from '../../../lambdas/domain/classify.ts';
import { parseWorkloadUser, type RunnerConfig, runTask } from './runner.ts';
import { attemptPolicy, readOnlyPolicy, scopedCredentials, temporaryCredentials } from './scope.ts';
import { awsSecretSource, localSecretSource } from './secrets.ts';

function need(name: string): string {
  const v = process.env[name];
  if (!v) {
    process.stderr.write(`[trainstack-runner] environment variable ${name} is not set\n`);
    process.exit(2);
  }
  return v;
}

const log = (msg: string) => process.stderr.write(`[trainstack-runner] ${msg}\n`);

/** The ECS task ARN and log stream, from the task metadata endpoint (v4) the ECS agent provides. */
async function ecsMetadata(): Promise<{ ecsTaskArn?: string; logStream?: string }> {
  const uri = process.env.ECS_CONTAINER_METADATA_URI_V4;
  if (!uri) return {};
  try {
    const m = (await getJson(`${uri}/task`, 2000)) as { TaskARN?: string; LogStream?: string };
    const id = m.TaskARN?.split('/').pop();
    const prefix = process.env[RUNNER_ENV.logStreamPrefix];
    return {
      ...(m.TaskARN ? { ecsTaskArn: m.TaskARN } : {}),
      ...(m.LogStream ? { logStream: m.LogStream } : prefix && id ? { logStream: `${prefix}/${id}` } : {}),
    };
  } catch {
    return {};
  }
}

/**
 * GET a JSON document over plain HTTP (the metadata endpoint's). node:http, which the SDK loads anyway,
 * rather than fetch: Node loads fetch's implementation (undici, with its WebAssembly parser) on first
 * use, and that was a sixth of every runner's start-up CPU.
 */
function getJson(url: string, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = httpGet(url, { timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('error', reject);
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`GET ${url}: ${res.statusCode}`));
        try {
          resolve(JSON.parse(body));
        } catch (e) {
          reject(e);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

// an image with no passwd entry for its user gives no HOME, and the AWS SDK looks for ~/.aws (what
// Docker gives a user it cannot find is /)
process.env.HOME ||= '/';

const stop = new AbortController();
process.on('SIGTERM', () => stop.abort());
process.on('SIGINT', () => stop.abort());

const meta = await ecsMetadata();
const config: RunnerConfig = {
  taskId: need(RUNNER_ENV.taskId),
  attempt: Number(need(RUNNER_ENV.attempt)),
  bucket: need(RUNNER_ENV.bucket),
  outputDir: process.env[RUNNER_ENV.outputDir] ?? '/work/output',
  checkpointDir: process.env[RUNNER_ENV.checkpointDir] ?? '/work/checkpoints',
  ...(process.env[RUNNER_ENV.agentCommand] ? { agentCommand: process.env[RUNNER_ENV.agentCommand] } : {}),
  ...(process.env[WORKLOAD_ENV.inputDir] ? { inputDir: process.env[WORKLOAD_ENV.inputDir] } : {}),
  ...(process.env[RUNNER_ENV.usageIntervalMs]
    ? { usageIntervalMs: Number(process.env[RUNNER_ENV.usageIntervalMs]) }
    : {}),
  ...(process.env[RUNNER_ENV.defaultCommand]
    ? { defaultCommand: process.env[RUNNER_ENV.defaultCommand] }
    : {}),
  progressIntervalMs: Number(process.env[RUNNER_ENV.progressIntervalMs] ?? 1000),
  checkpointIntervalMs: Number(process.env[RUNNER_ENV.checkpointIntervalMs] ?? 15_000),
  stopGraceSeconds: Number(process.env[RUNNER_ENV.stopGraceSeconds] ?? 20),
  gpu: process.env.CUDA_VISIBLE_DEVICES !== '',
  ...(process.env[RUNNER_ENV.workloadPidFile]
    ? { workloadPidFile: process.env[RUNNER_ENV.workloadPidFile] }
    : {}),
  ...(process.env[RUNNER_ENV.workloadUser]
    ? { workloadUser: parseWorkloadUser(process.env[RUNNER_ENV.workloadUser] ?? '') }
    : {}),
  ...meta,
};
const table = need(RUNNER_ENV.table);
const roleArn = process.env[RUNNER_ENV.dataRoleArn];

/**
 * Deployed, the runner's data access goes through credentials scoped to its task (./scope.ts): one
 * session to read the record (its owner and secrets), then one for the attempt. Without a data role
 * (the local cloud), the environment's credentials.
 */
async function taskCredentials(): Promise<ReturnType<typeof scopedCredentials> | undefined> {
  if (!roleArn) return undefined;
  const target = {
    roleArn,
    region: process.env.AWS_REGION ?? '',
    bucket: config.bucket,
    taskId: config.taskId,
  };
  const readerDoc = documentClient({ credentials: scopedCredentials(target, readOnlyPolicy(target)) });
  const reader = { doc: readerDoc, tasks: new DynamoTaskRepository(readerDoc, table) };
  const task = await reader.tasks.get(config.taskId);
  // an inference task also reads its model, and the model's API key
  const model = task?.modelId
    ? await new DynamoModelRepository(reader.doc, table).get(task.modelId)
    : undefined;
  return scopedCredentials(
    target,
    attemptPolicy(
      target,
      task?.owner ?? '',
      [...Object.values(task?.spec.secrets ?? {}), ...(model?.apiKey ? [model.apiKey] : [])],
      task?.modelId,
      task?.batchId,
    ),
  );
}

try {
  const credentials = await taskCredentials();
  const clientConfig = credentials ? { credentials } : {};
  const doc = credentials ? documentClient(clientConfig) : dynamodb;
  const store = new DynamoTaskRepository(doc, table, Number(process.env[RUNNER_ENV.statsShards] ?? 1));
  const s3 = new S3Client({ ...clientConfig, forcePathStyle: Boolean(process.env.AWS_ENDPOINT_URL) });
  // the secret store is a setting of the environment, like the endpoint: the local cloud names a file
  const secrets =
    process.env[RUNNER_ENV.localSecrets] === 'true'
      ? localSecretSource(process.env[RUNNER_ENV.secretsFile], process.env)
      : awsSecretSource(clientConfig);
  const result = await runTask(
    {
      store,
      s3,
      secrets,
      models: new DynamoModelRepository(doc, table),
      // with the runner's own credentials (the task role), never the data role's
      assumeRole: (roleArn, sessionName) =>
        temporaryCredentials({ params: { RoleArn: roleArn, RoleSessionName: sessionName.slice(0, 64) } }),
      out: process.stdout,
      err: process.stderr,
      log,
    },
    config,
    process.env,
    stop.signal,
  );
  process.exitCode = result.exitCode;
} catch (e) {
  log(`runner failed: ${(e as Error).stack ?? String(e)}`);
  process.exitCode = EXIT_RUNNER_ERROR;
}
