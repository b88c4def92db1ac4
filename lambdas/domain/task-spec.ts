/**
 * The submit schema (zod/mini): what `POST /v1/tasks` and each line of a batch accept, and the
 * OpenAPI document's TaskSubmit. Building it is the largest part of the API's schemas, so it is a
 * module of its own that the routes which take a task load on first use (`loadSubmitSchema`): a cold
 * start whose first request reads a task, lists or polls does not build it. Pure: no AWS imports.
 */
import * as z from 'zod/mini';
import { IMAGE_REFERENCE } from './model.ts';
import { SECRET_REF } from './secret-ref.ts';
import { int, num, str } from './validation.ts';

const envName = z.string().check(z.regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'env names are letters, digits and _'));
const envMap = z.record(envName, z.string().check(z.maxLength(4096))).check(
  z.refine((m) => Object.keys(m).length <= 50, 'at most 50 env entries'),
  z.refine((m) => JSON.stringify(m).length <= 16_384, 'env is at most 16 KiB in all'),
);

const secretsMap = z
  .record(
    envName,
    z
      .string()
      .check(
        z.regex(SECRET_REF, 'a reference: ssm:<parameter name> or secretsmanager:<name or ARN>[#<json key>]'),
      ),
  )
  .check(z.refine((m) => Object.keys(m).length <= 50, 'at most 50 secrets'));

const tags = z
  .record(str(1, 128), z.string().check(z.maxLength(256)))
  .check(z.refine((m) => Object.keys(m).length <= 50, 'at most 50 tags'));

/** Where data comes from: an S3 object or a web URL. */
const dataUri = z
  .string()
  .check(
    z.maxLength(2048),
    z.regex(
      /^(s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\/.+|https?:\/\/[^\s/]+\/\S*)$/,
      's3://<bucket>/<key> or an http(s):// URL',
    ),
  );

const imageReference = z
  .string()
  .check(
    z.maxLength(1024),
    z.regex(
      IMAGE_REFERENCE,
      'an image reference: [registry[:port]/]repository[:tag][@sha256:digest], repository in lower case',
    ),
  );

const common = {
  name: z.optional(z.string().check(z.trim(), z.minLength(1), z.maxLength(256))),
  priority: z._default(int(1, 10), 5),
  gpus: z.optional(int(0, 8)),
  cpu: z.optional(int(128, 196_608)),
  memoryMiB: z.optional(int(128, 2_000_000)),
  timeoutSeconds: z._default(int(60, 604_800), 3600),
  maxRetries: z._default(int(0, 10), 3),
  maxQueueWaitSeconds: z.optional(int(60, 604_800)),
  stallSeconds: z.optional(int(10, 86_400)),
  env: z.optional(envMap),
  /** environment variables whose values the runner reads from a secret store at start */
  secrets: z.optional(secretsMap),
  tags: z.optional(tags),
  /**
   * The image the task runs in, with the runner around its command (deployed: any registry the
   * instances reach; ECR of this account, public registries, or a private one with imageCredentials)
   */
  image: z.optional(imageReference),
  /** A Secrets Manager secret (name under the stack's secrets prefix, or ARN) with {"username","password"} for a private registry */
  imageCredentials: z.optional(
    z.string().check(z.regex(/^[\w/+=.@:-]{1,2048}$/, 'a Secrets Manager secret name or ARN')),
  ),
  /**
   * Only one task of yours with this key is queued or running at a time (a model's name, so it is
   * never trained twice at once): another submit with it is a 409 naming the task that holds it
   */
  lockKey: z.optional(
    z.string().check(z.regex(/^[\w.:/@-]{1,256}$/, '1-256 of letters, digits and _ . : / @ -')),
  ),
  /**
   * An IAM role the workload works as (its AWS SDK finds the credentials through the runner, which
   * assumes the role and refreshes them); only roles the stack allows (CDK context workloadRoleArns).
   */
  roleArn: z.optional(
    z
      .string()
      .check(
        z.regex(
          /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/,
          'an IAM role ARN (arn:aws:iam::<account>:role/<name>)',
        ),
      ),
  ),
  command: z.optional(z.array(z.string().check(z.maxLength(8192))).check(z.minLength(1), z.maxLength(256))),
  /**
   * Data the workload needs: s3:// or http(s):// URIs, downloaded into TRAINSTACK_INPUT_DIR before it
   * starts (S3 with the task's roleArn, else from this stack's bucket under datasets/)
   */
  inputs: z.optional(z.array(dataUri).check(z.minLength(1), z.maxLength(50))),
};

const trainingParams = z.strictObject({
  epochs: int(1, 100_000),
  batchSize: int(1, 65_536),
  learningRate: z.number().check(z.gt(0), z.lte(10)),
  /** a CSV or Parquet file (s3:// or http(s)://): features and a label column; none: generated data */
  dataset: z.optional(dataUri),
  /** the dataset's label column @default its last column */
  labelColumn: z.optional(str(1, 256)),
  /** the reference image's trainers: PyTorch MLP, or scikit-learn @default torch-mlp */
  trainer: z.optional(z.enum(['torch-mlp', 'sklearn'])),
  /** sklearn: a linear model or gradient-boosted trees @default linear */
  algorithm: z.optional(z.enum(['linear', 'gbt'])),
  model: z.optional(z.string().check(z.maxLength(256))),
  checkpointEvery: z.optional(int(1, 100_000)),
});

const trajectoryParams = z.strictObject({
  /** the runtime: seed 003's task types (a plug-in runtime's id goes in `runtime`) */
  taskType: z.enum(['reasoning', 'code', 'web']),
  description: str(1, 20_000),
  /** the registered model the agent calls (id or name, GET /v1/models) */
  model: z.optional(str(1, 128)),
  /** the tools offered, exactly (python_executor, browser, fetch, search, plug-in tools); default: the runtime's */
  expectedTools: z._default(z.array(str(1, 128)).check(z.maxLength(50)), []),
  /** the most actions (tool calls and the final answer) @default 10 */
  maxSteps: z._default(int(1, 1000), 10),
  /** a plug-in runtime of the agent image, in place of taskType's */
  runtime: z.optional(z.string().check(z.regex(/^[\w.-]{1,64}$/, 'a runtime id (letters, digits, _ . -)'))),
  /** your own id for this task, carried by its trajectory (a tasks.jsonl line's task_id) */
  taskId: z.optional(str(1, 256)),
  /** let code run by python_executor reach the network @default false */
  allowNetwork: z.optional(z.boolean()),
  /** python_executor's time limit per run, seconds @default 30 */
  toolTimeoutSeconds: z.optional(int(1, 3600)),
  temperature: z.optional(num(0, 2)),
  maxTokens: z.optional(int(1, 1_000_000)),
});

const inferenceInput = z.union([z.string().check(z.maxLength(200_000)), z.record(z.string(), z.unknown())]);

const inferenceParams = z.strictObject({
  /** the registered model's id or name (GET /v1/models) */
  model: str(1, 128),
  /**
   * A provider batch file whose lines name several models: the other registered models (ids or
   * names) its lines may name. The task holds one worker of each (of its `maxWorkers`) while it runs;
   * a line naming none of them, or no model, goes to `model`.
   */
  models: z.optional(z.array(str(1, 128)).check(z.minLength(1), z.maxLength(16))),
  kind: z.enum(['text-generation', 'translation', 'summarization', 'embedding', 'custom']),
  /** one input: text, or an object (`{"text": ...}`, or for `custom` a whole chat request with `messages`) */
  input: z.optional(inferenceInput),
  /** many inputs, answered in order (one line each in results.jsonl) */
  inputs: z.optional(z.array(inferenceInput).check(z.minLength(1), z.maxLength(1000))),
  /**
   * Large jobs: an `s3://bucket/key` JSONL file of inputs (one per line, up to 100,000), read with
   * the task's `roleArn`, which must be allowed to read it
   */
  inputsUri: z.optional(
    z
      .string()
      .check(
        z.regex(/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\/.+$/, 's3://<bucket>/<key> of a JSONL file'),
        z.maxLength(2048),
      ),
  ),
  /** translation: the language to translate into @default English */
  targetLanguage: z.optional(str(1, 64)),
  /** requests in flight at once, within this task @default 4 */
  concurrency: z.optional(int(1, 64)),
  /** override the model's defaults */
  maxTokens: z.optional(int(1, 1_000_000)),
  temperature: z.optional(num(0, 2)),
  /** the share of inputs that may fail (after retries) with the task still succeeding @default 0 for one input, 0.05 for many */
  errorBudget: z.optional(num(0, 1)),
});

const containerParams = z.strictObject({});

export const submitSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('training'), params: trainingParams, ...common }),
  z.strictObject({ type: z.literal('trajectory'), params: trajectoryParams, ...common }),
  z.strictObject({ type: z.literal('inference'), params: inferenceParams, ...common }),
  z.strictObject({
    type: z.literal('container'),
    params: z._default(containerParams, {}),
    ...common,
    image: imageReference,
  }),
]);
