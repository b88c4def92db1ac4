/**
 * The dispatcher, fed by the task queue (wake-ups) and a periodic tick. Messages only wake it: the
 * order and the cap come from the task table, so duplicates and lost messages change nothing. The
 * tick also reconciles: no task holds a slot without a running workflow execution.
 */
import type { ScheduledEvent, SQSEvent } from 'aws-lambda';
import { dynamodb } from '../clients/dynamodb.ts';
import { DynamoTaskRepository } from '../clients/dynamodb-tasks.ts';
import { sfnExecutions } from '../clients/sfn.ts';
import { sqsWaker } from '../clients/sqs.ts';
import { dispatch } from '../domain/dispatch.ts';
import { systemClock } from '../domain/ports.ts';
import { reconcile } from '../domain/reconcile.ts';
import { env, envInt } from '../shared/env.ts';
import { logger } from '../shared/logger.ts';

const store = new DynamoTaskRepository(dynamodb, env('TABLE_NAME'));
const executions = sfnExecutions(env('STATE_MACHINE_ARN'));
const waker = sqsWaker(env('QUEUE_URL'));
const maxConcurrentTasks = envInt('MAX_CONCURRENT_TASKS', 4);

export const handler = async (event: SQSEvent | ScheduledEvent | Record<string, never>) => {
  const wakeups = 'Records' in event ? event.Records.length : 1;
  const deps = { store, executions, waker, clock: systemClock, logger };
  if ('detail-type' in event && event['detail-type'] === 'Scheduled Event') await reconcile(deps);
  const result = await dispatch(deps, { maxConcurrentTasks });
  const head = await store.nextQueued(1);
  const oldest = head[0] ? Math.round((Date.now() - Date.parse(head[0].createdAt)) / 1000) : 0;
  // the oldest-queued-task metric filter reads oldestQueuedSeconds
  logger.info('dispatch pass', { wakeups, ...result, oldestQueuedSeconds: oldest });
  // nothing in the batch failed on its own: an error above fails the batch, and SQS redelivers it
  return { batchItemFailures: [] };
};
