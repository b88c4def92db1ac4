#!/usr/bin/env node
/** `npm start`: the local cloud, with the API on it. */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Command } from 'commander';
import * as z from 'zod';
import { DEFAULT_TASK_NICE, startLocalCloud } from '../lib/local/cloud.ts';

const program = new Command()
  .name('trainstack-local')
  .description('Run trainstack on this machine: API, queue, workflow and tasks, no AWS needed')
  .option('--port <port>', 'API port', process.env.PORT ?? '3000')
  .option('--aws-port <port>', 'AWS-compatible endpoint port', process.env.AWS_PORT ?? '4566')
  .option(
    '--data-dir <dir>',
    'keep state here across restarts (default: in memory)',
    process.env.TRAINSTACK_DATA_DIR,
  )
  .option(
    '--max-concurrent <n>',
    'tasks running at once (CDK context maxConcurrentTasks); each is a process here, so the default follows the cores, at least 4',
    process.env.TRAINSTACK_MAX_CONCURRENT || String(Math.max(4, availableParallelism())),
  )
  .option(
    '--task-nice <n>',
    'how much lower the CPU priority of tasks is than the API and the control plane (niceness, 0 to 19; 0: the same)',
    process.env.TRAINSTACK_TASK_NICE || String(DEFAULT_TASK_NICE),
  )
  .option(
    '--gpu-policy <policy>',
    'tasks asking for GPUs on a machine without: cpu (run on CPU) or wait',
    'cpu',
  )
  .option(
    '--docker-image <image>',
    'run tasks in Docker with this image when an engine answers',
    'trainstack-trainer:local',
  )
  .option('--no-docker', 'always run tasks as local processes')
  .option(
    '--identities <file>',
    'JSON list of {accessKeyId, secretAccessKey, arn}: local credentials whose SigV4-signed requests act as that principal',
    process.env.TRAINSTACK_IDENTITIES,
  )
  .option(
    '--secrets <file>',
    'JSON file of secret reference to value ({"ssm:/trainstack/hf-token": "..."}) that tasks\' secrets are read from',
    process.env.TRAINSTACK_SECRETS_FILE,
  )
  .option(
    '--workload-user <uid:gid>',
    'run workloads as this user, apart from the runner (the local cloud must run as root)',
    process.env.TRAINSTACK_WORKLOAD_USER,
  )
  .option('--verbose', "print the functions' INFO logs too")
  .option('--quiet', 'print only the URLs')
  .parse();

const opts = program.opts<{
  port: string;
  awsPort: string;
  dataDir?: string;
  maxConcurrent: string;
  taskNice: string;
  gpuPolicy: string;
  docker: boolean;
  dockerImage: string;
  quiet?: boolean;
  verbose?: boolean;
  identities?: string;
  secrets?: string;
  workloadUser?: string;
}>();
const log = opts.quiet
  ? () => {}
  : (msg: string, extra?: object) =>
      console.error(`[local] ${msg}${extra ? ` ${JSON.stringify(extra)}` : ''}`);

const maxConcurrent = Number(opts.maxConcurrent);
if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) {
  console.error(
    `--max-concurrent (TRAINSTACK_MAX_CONCURRENT) must be a whole number of at least 1, not ${opts.maxConcurrent}`,
  );
  process.exit(2);
}
const taskNice = Number(opts.taskNice);
if (!Number.isInteger(taskNice) || taskNice < 0 || taskNice > 19) {
  console.error(
    `--task-nice (TRAINSTACK_TASK_NICE) must be a whole number from 0 to 19, not ${opts.taskNice}`,
  );
  process.exit(2);
}
if (opts.gpuPolicy !== 'cpu' && opts.gpuPolicy !== 'wait') {
  console.error(`--gpu-policy must be cpu or wait, not ${opts.gpuPolicy}`);
  process.exit(2);
}
const identitiesFile = z.array(
  z.object({
    accessKeyId: z.string().min(1),
    secretAccessKey: z.string().min(1),
    arn: z.string().startsWith('arn:'),
  }),
);
let identities: z.output<typeof identitiesFile> = [];
if (opts.identities) {
  try {
    identities = identitiesFile.parse(JSON.parse(readFileSync(opts.identities, 'utf8')));
  } catch (e) {
    console.error(`--identities ${opts.identities}: ${(e as Error).message}`);
    process.exit(2);
  }
}
if (opts.workloadUser && !/^\d+:\d+$/.test(opts.workloadUser)) {
  console.error(`--workload-user must be uid:gid (numbers), not ${opts.workloadUser}`);
  process.exit(2);
}
if (opts.workloadUser && process.getuid?.() !== 0) {
  console.error('--workload-user needs the local cloud to run as root (to start workloads as another user)');
  process.exit(2);
}
const started = Date.now();
let cloud: Awaited<ReturnType<typeof startLocalCloud>>;
try {
  cloud = await startLocalCloud({
    apiPort: Number(opts.port),
    awsPort: Number(opts.awsPort),
    ...(opts.dataDir ? { dataDir: opts.dataDir } : {}),
    context: { maxConcurrentTasks: maxConcurrent },
    taskNice,
    gpuPolicy: opts.gpuPolicy,
    identities,
    // the functions' Powertools loggers: warnings and errors unless asked for more
    functionLogLevel: opts.verbose ? 'INFO' : 'WARN',
    dockerImage: opts.docker ? opts.dockerImage : false,
    ...(opts.secrets ? { secretsFile: opts.secrets } : {}),
    ...(opts.workloadUser ? { workloadUser: opts.workloadUser } : {}),
    log,
  });
} catch (e) {
  console.error(`trainstack local cloud failed to start: ${(e as Error).message}`);
  process.exit(1);
}

console.log(`trainstack local cloud ready in ${((Date.now() - started) / 1000).toFixed(1)} s
  API            ${cloud.apiUrl}          (try: curl ${cloud.apiUrl}/health)
  dashboard      ${cloud.apiUrl}/         (API docs: ${cloud.apiUrl}/docs)
  AWS endpoint   ${cloud.endpoint}        (aws --endpoint-url ${cloud.endpoint} s3 ls)
  bucket         ${cloud.bucketName}
  table          ${cloud.tableName}
  task logs      ${cloud.logGroupName}
  state          ${opts.dataDir ? `persisted in ${opts.dataDir}` : 'in memory (use --data-dir to keep it)'}
Ctrl-C stops everything.`);

let stopping = false;
const shutdown = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  console.error(`\n${signal}: stopping (running tasks get SIGTERM, then SIGKILL)...`);
  await cloud.stop();
  console.error('stopped.');
  process.exit(0);
};
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
