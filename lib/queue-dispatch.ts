/** Queue and dispatch: the wake-up queue with its DLQ, and the dispatcher fed by it and by a tick. */
import { Duration } from 'aws-cdk-lib';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { HouseFunction } from './function.ts';

export interface QueueDispatchProps {
  readonly logRetention: RetentionDays;
  /** Tasks running at once. */
  readonly maxConcurrentTasks: number;
  /** How often the dispatcher looks at the queue with no wake-up. @default 1 minute */
  readonly tick?: Duration;
}

export class QueueDispatch extends Construct {
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;
  readonly dispatcher: HouseFunction;

  constructor(scope: Construct, id: string, props: QueueDispatchProps) {
    super(scope, id);
    this.deadLetterQueue = new Queue(this, 'Dlq', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.queue = new Queue(this, 'Queue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(180),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: 5 },
    });
    this.dispatcher = new HouseFunction(this, 'Dispatcher', {
      handlerFile: 'dispatcher',
      logRetention: props.logRetention,
      timeout: Duration.seconds(30),
      environment: { MAX_CONCURRENT_TASKS: String(props.maxConcurrentTasks) },
    });
    this.dispatcher.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: 10,
        maxBatchingWindow: Duration.seconds(1),
        reportBatchItemFailures: true,
        // claims are conditional writes, so parallel passes are safe; two keeps them from contending
        maxConcurrency: 2,
      }),
    );
    new Rule(this, 'Tick', {
      schedule: Schedule.rate(props.tick ?? Duration.minutes(1)),
      targets: [new LambdaFunction(this.dispatcher)],
    });
  }
}
