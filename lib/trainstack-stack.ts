/** The trainstack stack: API, queue and dispatch, workflow, GPU cluster, storage, observability. */
import { Duration, Stack, type StackProps } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { Api } from './api.ts';
import { concurrencyCap, type TrainstackConfig } from './config.ts';
import { HouseFunction } from './function.ts';
import { GpuCluster } from './gpu-cluster.ts';
import { Observability } from './observability.ts';
import { QueueDispatch } from './queue-dispatch.ts';
import { Storage } from './storage.ts';
import { Workflow } from './workflow.ts';

export interface TrainstackStackProps extends StackProps {
  readonly config: TrainstackConfig;
}

function retention(days: number): RetentionDays {
  const known = Object.values(RetentionDays).filter((v): v is RetentionDays => typeof v === 'number');
  const fit = known.filter((d) => d >= days).sort((a, b) => a - b)[0];
  return fit ?? RetentionDays.TEN_YEARS;
}

export class TrainstackStack extends Stack {
  readonly storage: Storage;
  readonly gpu: GpuCluster;
  readonly workflow: Workflow;
  readonly dispatch: QueueDispatch;
  readonly api: Api;
  readonly apiFunction: HouseFunction;
  readonly stepFunction: HouseFunction;
  readonly observability: Observability;

  constructor(scope: Construct, id: string, props: TrainstackStackProps) {
    super(scope, id, props);
    const c = props.config;
    const logRetention = retention(c.logRetentionDays);
    const cap = concurrencyCap(c);

    this.storage = new Storage(this, 'Storage', { artifactRetentionDays: c.artifactRetentionDays });
    const { table, bucket } = this.storage;
    this.gpu = new GpuCluster(this, 'Gpu', {
      table,
      bucket,
      logRetention,
      instanceTypes: c.instanceTypes,
      minInstances: c.minInstances,
      maxInstances: c.maxInstances,
      spot: c.spot,
      gpusPerInstance: c.gpusPerInstance,
    });
    this.dispatch = new QueueDispatch(this, 'Dispatch', { logRetention, maxConcurrentTasks: cap });

    this.stepFunction = new HouseFunction(this, 'WorkflowStep', {
      handlerFile: 'workflow-step',
      logRetention,
      timeout: Duration.seconds(45),
      environment: { GPU_HOURLY_USD: String(c.gpuHourlyUsd) },
    });
    this.workflow = new Workflow(this, 'Workflow', {
      stepFunction: this.stepFunction,
      cluster: this.gpu.cluster,
      runners: this.gpu.runners,
      capacityProvider: this.gpu.capacityProvider,
      logRetention,
    });

    this.apiFunction = new HouseFunction(this, 'ApiHandler', {
      handlerFile: 'api',
      logRetention,
      timeout: Duration.seconds(29),
      environment: {
        MAX_QUEUE_DEPTH: String(c.maxQueueDepth),
        MAX_CONCURRENT_TASKS: String(cap),
        MAX_GPUS_PER_TASK: String(Math.max(...this.gpu.runners.map((r) => r.gpus))),
      },
    });
    this.api = new Api(this, 'Api', {
      handler: this.apiFunction,
      logRetention,
      throttleRate: c.apiThrottleRate,
      throttleBurst: c.apiThrottleBurst,
      adminRoleArns: c.adminPrincipals,
    });

    // wiring: a grant and an environment variable, in one place
    const sm = this.workflow.stateMachine;
    for (const fn of [this.apiFunction, this.dispatch.dispatcher, this.stepFunction]) {
      table.grantReadWriteData(fn);
      fn.addEnvironment('TABLE_NAME', table.tableName);
      this.dispatch.queue.grantSendMessages(fn);
      fn.addEnvironment('QUEUE_URL', this.dispatch.queue.queueUrl);
    }
    for (const fn of [this.apiFunction, this.dispatch.dispatcher]) {
      fn.addEnvironment('STATE_MACHINE_ARN', sm.stateMachineArn);
    }
    sm.grantStartExecution(this.dispatch.dispatcher);
    sm.grantExecution(this.apiFunction, 'states:StopExecution');
    bucket.grantRead(this.apiFunction);
    this.apiFunction.addEnvironment('BUCKET_NAME', bucket.bucketName);
    this.gpu.logGroup.grantRead(this.apiFunction);
    this.apiFunction.addEnvironment('LOG_GROUP_NAME', this.gpu.logGroup.logGroupName);
    this.stepFunction.addEnvironment('BUCKET_NAME', bucket.bucketName);
    this.stepFunction.addEnvironment('CLUSTER_ARN', this.gpu.cluster.clusterArn);
    this.stepFunction.addToRolePolicy(
      new PolicyStatement({
        actions: ['ecs:StopTask'],
        resources: [
          this.formatArn({
            service: 'ecs',
            resource: 'task',
            resourceName: `${this.gpu.cluster.clusterName}/*`,
          }),
        ],
      }),
    );

    this.observability = new Observability(this, 'Observability', {
      api: this.api.httpApi,
      queue: this.dispatch.queue,
      deadLetterQueue: this.dispatch.deadLetterQueue,
      stateMachine: sm,
      stepLogGroup: this.stepFunction.logGroup,
      dispatcherLogGroup: this.dispatch.dispatcher.logGroup,
    });
  }
}
