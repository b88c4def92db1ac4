/**
 * The runner's environment variables: set by the task definition (CDK), by the workflow's container
 * overrides per run, by the image, and passed on to the workload. One list, imported by the stack, the
 * ECS client, the local cloud and the runner.
 */
export const RUNNER_ENV = {
  // the task definition (lib/gpu-cluster.ts)
  table: 'TRAINSTACK_TABLE',
  bucket: 'TRAINSTACK_BUCKET',
  logGroup: 'TRAINSTACK_LOG_GROUP',
  logStreamPrefix: 'TRAINSTACK_LOG_STREAM_PREFIX',
  /** the role the runner assumes with a session policy scoped to its task (containers/runner/src/scope.ts) */
  dataRoleArn: 'TRAINSTACK_DATA_ROLE_ARN',
  /** how many shard items the counters are spread over (the stack's `statsShards`) */
  statsShards: 'TRAINSTACK_STATS_SHARDS',
  // the workflow's container overrides, per run: pointers only (overrides are capped at 8 KB)
  taskId: 'TRAINSTACK_TASK_ID',
  attempt: 'TRAINSTACK_ATTEMPT',
  // the image (Dockerfiles), or the local cloud
  outputDir: 'TRAINSTACK_OUTPUT_DIR',
  checkpointDir: 'TRAINSTACK_CHECKPOINT_DIR',
  defaultCommand: 'TRAINSTACK_DEFAULT_COMMAND',
  /** the command that runs trajectory tasks (the agent runtime, containers/agent); its image sets it */
  agentCommand: 'TRAINSTACK_AGENT_COMMAND',
  // tuning, rarely set
  progressIntervalMs: 'TRAINSTACK_PROGRESS_INTERVAL_MS',
  checkpointIntervalMs: 'TRAINSTACK_CHECKPOINT_INTERVAL_MS',
  /** how often the resource usage so far is written to the record while the workload runs */
  usageIntervalMs: 'TRAINSTACK_USAGE_INTERVAL_MS',
  stopGraceSeconds: 'TRAINSTACK_STOP_GRACE_SECONDS',
  /** where the runner records its workload's process id (the local cloud's ECS reaps it with the runner) */
  workloadPidFile: 'TRAINSTACK_WORKLOAD_PID_FILE',
  /**
   * `uid:gid` the workload runs as, other than the runner's: it then cannot read the runner's
   * environment (`/proc/<pid>/environ`, where the task role's credentials URI is) or signal it. The
   * images set it; the runner, root in its container, drops to it. Unset: the runner's own user.
   */
  workloadUser: 'TRAINSTACK_WORKLOAD_USER',
  /**
   * Where the task's `secrets` come from when there is no secret store: a JSON file of reference to
   * value (the local cloud's `--secrets`). Unset: SSM Parameter Store and Secrets Manager.
   */
  secretsFile: 'TRAINSTACK_SECRETS_FILE',
  /** the local cloud: read secrets from the file and the environment, not from AWS */
  localSecrets: 'TRAINSTACK_LOCAL_SECRETS',
} as const;

/** What the runner gives the workload beyond its own env: where to write, and the task's parameters. */
export const WORKLOAD_ENV = {
  taskId: RUNNER_ENV.taskId,
  attempt: RUNNER_ENV.attempt,
  outputDir: RUNNER_ENV.outputDir,
  checkpointDir: RUNNER_ENV.checkpointDir,
  /** where the task's dataset and inputs were downloaded */
  inputDir: 'TRAINSTACK_INPUT_DIR',
  /** the dataset's URI (TRAINSTACK_DATASET is its downloaded file) */
  datasetUri: 'TRAINSTACK_DATASET_URI',
  /** every parameter, as JSON */
  params: 'TRAINSTACK_PARAMS',
  // training parameters one by one (containers/trainer/train.py reads these)
  epochs: 'TRAINSTACK_EPOCHS',
  batchSize: 'TRAINSTACK_BATCH_SIZE',
  learningRate: 'TRAINSTACK_LEARNING_RATE',
  checkpointEvery: 'TRAINSTACK_CHECKPOINT_EVERY',
  dataset: 'TRAINSTACK_DATASET',
  model: 'TRAINSTACK_MODEL',
  /** trajectory tasks: the registered model the agent calls (JSON: name, baseUrl, model, defaults) */
  agentModel: 'TRAINSTACK_AGENT_MODEL',
  /** trajectory tasks: the model's API key, when it has one (masked in the log) */
  agentApiKey: 'TRAINSTACK_AGENT_API_KEY',
  /** epoch milliseconds by which the attempt must end (the task's timeout from the attempt's start) */
  deadline: 'TRAINSTACK_DEADLINE',
} as const;

/**
 * The runner kit: the runner with its own Node and Node's shared libraries and dynamic loader, in one
 * folder, so it starts in any Linux image (glibc, musl or none) without the image adding anything.
 * A task's own image runs with the kit on a shared volume at KIT_DIR and KIT_ENTRYPOINT as its entry
 * point (the init-container pattern: lib/gpu-cluster.ts, lambdas/domain/images.ts); the task images
 * carry it at KIT_SOURCE for the init container to copy.
 */
export const KIT_DIR = '/trainstack';
/** Where the task images keep the kit (containers/Dockerfile) */
export const KIT_SOURCE = '/opt/trainstack/kit';
export const KIT_ENTRYPOINT = [
  `${KIT_DIR}/lib/ld.so`,
  '--library-path',
  `${KIT_DIR}/lib`,
  `${KIT_DIR}/node`,
  `${KIT_DIR}/runner.mjs`,
] as const;
