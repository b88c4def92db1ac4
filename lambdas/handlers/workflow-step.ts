/** The workflow's bookkeeping step: one Lambda, the action chosen by the state that calls it. */
// zod/mini: the same validation, a fraction of the bundle (this function runs on every attempt)
import * as z from 'zod/mini';
import { dynamodb } from '../clients/dynamodb.ts';
import { DynamoTaskRepository } from '../clients/dynamodb-tasks.ts';
import { ecsContainers, ecsTaskDefinitions } from '../clients/ecs.ts';
import { sqsWaker } from '../clients/sqs.ts';
import { type AttemptContext, type Decision, STEP, type StepEvent } from '../contracts/workflow-step.ts';
import { OwnImages } from '../domain/images.ts';
import { systemClock } from '../domain/ports.ts';
import { attemptFailed, attemptSucceeded, type StepDeps, startAttempt } from '../domain/workflow-steps.ts';
import { env, envInt, envOptional } from '../shared/env.ts';
import { logger } from '../shared/logger.ts';

// tasks' own images: the templates to register their task definitions from (none without a cluster)
const templates = envOptional('OWN_IMAGE_TEMPLATES');
const images = templates
  ? new OwnImages(ecsTaskDefinitions(), {
      familyPrefix: env('OWN_IMAGE_FAMILY_PREFIX'),
      templates: JSON.parse(templates) as { gpus: number; arn: string }[],
      secretsPrefix: env('SECRETS_PREFIX'),
      secretArnBase: env('SECRET_ARN_BASE'),
    })
  : undefined;

const deps: StepDeps = {
  store: new DynamoTaskRepository(dynamodb, env('TABLE_NAME')),
  waker: sqsWaker(env('QUEUE_URL')),
  // a deployment without a GPU cluster (the LocalStack target) has no containers to stop
  containers: ecsContainers(envOptional('CLUSTER_ARN')),
  clock: systemClock,
  logger,
  bucketName: env('BUCKET_NAME'),
  gpuHourlyUsd: envInt('GPU_HOURLY_USD', 0),
  cpuHourlyUsd: envInt('CPU_HOURLY_USD', 0),
  ...(process.env.TASK_LOG_STREAM_PREFIX ? { logStreamPrefix: process.env.TASK_LOG_STREAM_PREFIX } : {}),
  ...(images ? { images } : {}),
};

const input: z.ZodMiniType<StepEvent> = z.discriminatedUnion('action', [
  z.object({ action: z.literal(STEP.start), taskId: z.string(), execution: z.optional(z.string()) }),
  z.object({
    action: z.literal(STEP.failed),
    taskId: z.string(),
    execution: z.optional(z.string()),
    error: z.optional(z.object({ Error: z.optional(z.string()), Cause: z.optional(z.unknown()) })),
  }),
  z.object({ action: z.literal(STEP.succeeded), taskId: z.string(), execution: z.optional(z.string()) }),
]);

export const handler = async (event: unknown): Promise<AttemptContext | Decision> => {
  const e = input.parse(event);
  const result =
    e.action === STEP.start
      ? await startAttempt(deps, e.taskId, e.execution)
      : e.action === STEP.failed
        ? await attemptFailed(deps, e)
        : await attemptSucceeded(deps, e);
  if ('action' in result && result.action === 'done') {
    // the metric filters for failed and succeeded tasks read this line
    logger.info('task finished', { taskId: e.taskId, status: result.status, reason: result.reason });
  } else logger.info('workflow step', { taskId: e.taskId, step: e.action, result });
  return result;
};
