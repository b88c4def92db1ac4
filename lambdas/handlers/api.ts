/** The HTTP API: one handler behind every route, thin over the domain. */
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { type ApiEvent, type ApiResult, errorBody, json, toResponse } from '../api/http.ts';
import { type ApiDeps, dispatchRoute } from '../api/router.ts';
import { COMPILED_ROUTES } from '../api/routes.ts';
import { dynamodb } from '../clients/dynamodb.ts';
import { DynamoModelRepository } from '../clients/dynamodb-models.ts';
import { DynamoTaskRepository } from '../clients/dynamodb-tasks.ts';
import { cloudWatchLogReader } from '../clients/logs.ts';
import { s3ArtifactReader } from '../clients/s3.ts';
import { sfnExecutions } from '../clients/sfn.ts';
import { sqs, sqsWaker } from '../clients/sqs.ts';
import { ModelService } from '../domain/models.ts';
import { systemClock } from '../domain/ports.ts';
import { DEFAULT_SECRETS_PREFIX, TaskService } from '../domain/tasks.ts';
import { env, envInt } from '../shared/env.ts';
import { logger } from '../shared/logger.ts';

const tableName = env('TABLE_NAME');
const queueUrl = env('QUEUE_URL');
const store = new DynamoTaskRepository(dynamodb, tableName);
const modelStore = new DynamoModelRepository(dynamodb, tableName);
let cachedOpenapi: object | undefined;

export const deps: ApiDeps = {
  store,
  service: new TaskService(
    store,
    sqsWaker(queueUrl),
    sfnExecutions(env('STATE_MACHINE_ARN')),
    {
      maxQueueDepth: envInt('MAX_QUEUE_DEPTH', 10_000),
      maxConcurrentTasks: envInt('MAX_CONCURRENT_TASKS', 4),
      maxGpusPerTask: envInt('MAX_GPUS_PER_TASK', 8),
      secretsPrefix: process.env.SECRETS_PREFIX ?? DEFAULT_SECRETS_PREFIX,
      workloadRoleArns: (process.env.WORKLOAD_ROLE_ARNS ?? '').split(',').filter(Boolean),
      prices: { gpuHourlyUsd: envInt('GPU_HOURLY_USD', 0), cpuHourlyUsd: envInt('CPU_HOURLY_USD', 0) },
    },
    systemClock,
    modelStore,
  ),
  models: new ModelService(modelStore, systemClock, store, sqsWaker(queueUrl)),
  logs: cloudWatchLogReader(env('LOG_GROUP_NAME')),
  artifacts: s3ArtifactReader(env('BUCKET_NAME')),
  health: [
    {
      name: 'dynamodb',
      check: async () => void (await dynamodb.send(new DescribeTableCommand({ TableName: tableName }))),
    },
    {
      name: 'sqs',
      check: async () =>
        void (await sqs.send(
          new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
        )),
    },
  ],
  admins: (process.env.ADMIN_PRINCIPALS ?? '').split(',').filter(Boolean),
  // the document (its schemas built on first use): off the cold start of every other route
  openapi: async () => {
    cachedOpenapi ??= (await import('../api/openapi.ts')).openapi();
    return cachedOpenapi;
  },
};

export async function route(event: ApiEvent): Promise<ApiResult> {
  try {
    return await dispatchRoute(COMPILED_ROUTES, event, deps);
  } catch (e) {
    try {
      return toResponse(e);
    } catch {
      logger.error('unhandled error', { error: e as Error, path: event.rawPath });
      return json(500, errorBody('InternalError', 'something went wrong; the request id is in the logs'), {
        'x-request-id': event.requestContext.requestId,
      });
    }
  }
}

export const handler = async (event: ApiEvent, context: import('aws-lambda').Context) => {
  logger.addContext(context);
  logger.appendKeys({ path: event.rawPath, method: event.requestContext.http.method });
  return route(event);
};
