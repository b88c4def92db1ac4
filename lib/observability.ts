/** Observability: a dashboard and alarms on DLQ depth, failed tasks, the oldest queued task and API 5xx. */
import { Duration } from 'aws-cdk-lib';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  Alarm,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type Metric,
  SingleValueWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { FilterPattern, type ILogGroup, MetricFilter } from 'aws-cdk-lib/aws-logs';
import { Topic } from 'aws-cdk-lib/aws-sns';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import type { StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';

export const METRIC_NAMESPACE = 'Trainstack';

export interface ObservabilityProps {
  /** The HTTP API, for its 5xx alarm and graphs. @default none (the LocalStack target has no HTTP API) */
  readonly api?: HttpApi;
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;
  readonly stateMachine: StateMachine;
  /** log group of the workflow-step function, which logs "task finished" with the status */
  readonly stepLogGroup: ILogGroup;
  /** log group of the dispatcher, which logs the age of the task at the head of the queue */
  readonly dispatcherLogGroup: ILogGroup;
  /** Seconds a task may wait at the head of the queue before the alarm fires. @default 3600 */
  readonly oldestQueuedAlarmSeconds?: number;
}

export class Observability extends Construct {
  readonly alarmTopic: Topic;
  readonly dashboard: Dashboard;
  readonly alarms: Alarm[] = [];

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    this.alarmTopic = new Topic(this, 'Alarms', { enforceSSL: true });

    const failed = new MetricFilter(this, 'TasksFailedFilter', {
      logGroup: props.stepLogGroup,
      filterPattern: FilterPattern.all(
        FilterPattern.stringValue('$.message', '=', 'task finished'),
        FilterPattern.stringValue('$.status', '=', 'FAILED'),
      ),
      metricNamespace: METRIC_NAMESPACE,
      metricName: 'TasksFailed',
      metricValue: '1',
      defaultValue: 0,
    }).metric({ statistic: 'Sum', period: Duration.minutes(5) });
    const succeeded = new MetricFilter(this, 'TasksSucceededFilter', {
      logGroup: props.stepLogGroup,
      filterPattern: FilterPattern.all(
        FilterPattern.stringValue('$.message', '=', 'task finished'),
        FilterPattern.stringValue('$.status', '=', 'SUCCEEDED'),
      ),
      metricNamespace: METRIC_NAMESPACE,
      metricName: 'TasksSucceeded',
      metricValue: '1',
      defaultValue: 0,
    }).metric({ statistic: 'Sum', period: Duration.minutes(5) });
    const oldest = new MetricFilter(this, 'OldestQueuedFilter', {
      logGroup: props.dispatcherLogGroup,
      filterPattern: FilterPattern.exists('$.oldestQueuedSeconds'),
      metricNamespace: METRIC_NAMESPACE,
      metricName: 'OldestQueuedTaskSeconds',
      metricValue: '$.oldestQueuedSeconds',
    }).metric({ statistic: 'Maximum', period: Duration.minutes(5) });

    const dlqDepth = props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
      period: Duration.minutes(5),
    });
    const api5xx = props.api?.metricServerError({ period: Duration.minutes(5), statistic: 'Sum' });
    const add = (name: string, metric: Metric, threshold: number, description: string) => {
      const alarm = new Alarm(this, name, {
        metric,
        threshold,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      });
      alarm.addAlarmAction(new SnsAction(this.alarmTopic));
      this.alarms.push(alarm);
    };
    add('DlqDepthAlarm', dlqDepth, 1, 'Dispatcher wake-ups are landing in the dead-letter queue');
    add('TasksFailedAlarm', failed, 1, 'Tasks ended FAILED');
    add(
      'OldestQueuedAlarm',
      oldest,
      props.oldestQueuedAlarmSeconds ?? 3600,
      'A task has waited in the queue too long',
    );
    if (api5xx) add('Api5xxAlarm', api5xx, 1, 'The API answered 5xx');

    this.dashboard = new Dashboard(this, 'Dashboard');
    this.dashboard.addWidgets(
      new GraphWidget({ title: 'Tasks finished', left: [succeeded, failed], width: 12 }),
      new GraphWidget({ title: 'Oldest queued task (s)', left: [oldest], width: 12 }),
      new GraphWidget({
        title: 'Workflow executions',
        left: [
          props.stateMachine.metricStarted(),
          props.stateMachine.metricSucceeded(),
          props.stateMachine.metricFailed(),
          props.stateMachine.metricAborted(),
        ],
        width: 12,
      }),
      ...(props.api && api5xx
        ? [
            new GraphWidget({
              title: 'API',
              left: [props.api.metricCount(), props.api.metricClientError(), api5xx],
              right: [props.api.metricLatency()],
              width: 12,
            }),
          ]
        : []),
      new SingleValueWidget({
        title: 'Queues',
        metrics: [props.queue.metricApproximateNumberOfMessagesVisible(), dlqDepth],
        width: 24,
      }),
    );
  }
}
