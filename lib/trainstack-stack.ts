/**
 * The trainstack stack: API, queue and dispatch, workflow, GPU cluster, storage, observability.
 * With CDK context `target=localstack` it leaves out what LocalStack Community cannot create (the GPU
 * cluster with its VPC, image and ECS resources, and the HTTP API); the workflow then fails each task
 * with a reason that says so, and the API function is reached by Lambda invoke.
 */
import { ArnFormat, CfnOutput, Duration, Fn, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import type { CfnApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { type CfnUrl, type FunctionUrl, FunctionUrlAuthType, InvokeMode } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { Api } from './api.ts';
import { concurrencyCap, type TrainstackConfig } from './config.ts';
import { HouseFunction } from './function.ts';
import { GpuCluster, LOG_STREAM_PREFIX, RUNNER_CONTAINER, taskSizes } from './gpu-cluster.ts';
import { Observability } from './observability.ts';
import { QueueDispatch } from './queue-dispatch.ts';
import { FUNCTION_TABLE_ACTIONS, Storage } from './storage.ts';
import { WebDashboard } from './web-dashboard.ts';
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
  /** absent on the LocalStack target */
  readonly gpu?: GpuCluster;
  readonly workflow: Workflow;
  readonly dispatch: QueueDispatch;
  /** absent on the LocalStack target */
  readonly api?: Api;
  /** where task containers write their logs (the GPU cluster's, or a log group of its own without one) */
  readonly taskLogs: LogGroup;
  readonly apiFunction: HouseFunction;
  /** a task's live events (server-sent events), behind a streaming function URL: on AWS only */
  readonly eventsFunction?: HouseFunction;
  /** the events function's URL (with the API) */
  readonly eventsUrl?: FunctionUrl;
  /** the web dashboard (with the API, unless context dashboard is false) */
  readonly web?: WebDashboard;
  readonly stepFunction: HouseFunction;
  readonly observability: Observability;
  /** the settings it was built with (CDK context and defaults) */
  readonly config: TrainstackConfig;

  constructor(scope: Construct, id: string, props: TrainstackStackProps) {
    super(scope, id, props);
    const c = props.config;
    this.config = c;
    const logRetention = retention(c.logRetentionDays);
    const cap = concurrencyCap(c);

    this.storage = new Storage(this, 'Storage', { artifactRetentionDays: c.artifactRetentionDays });
    const { table, bucket } = this.storage;
    const onAws = c.target === 'aws';
    if (onAws) {
      this.gpu = new GpuCluster(this, 'Gpu', {
        table,
        statsShards: c.statsShards,
        bucket,
        logRetention,
        instanceTypes: c.instanceTypes,
        minInstances: c.minInstances,
        maxInstances: c.maxInstances,
        spot: c.spot,
        gpusPerInstance: c.gpusPerInstance,
        ...(c.taskImage ? { taskImage: c.taskImage } : {}),
        ...(c.agentImage ? { agentImage: c.agentImage } : {}),
        secretsPrefix: c.secretsPrefix,
        workloadRoleArns: c.workloadRoleArns,
        cpuTaskCpu: c.cpuTaskCpu,
        cpuTaskMemoryMiB: c.cpuTaskMemoryMiB,
      });
    }
    this.taskLogs =
      this.gpu?.logGroup ??
      new LogGroup(this, 'TaskLogs', { retention: logRetention, removalPolicy: RemovalPolicy.DESTROY });
    this.dispatch = new QueueDispatch(this, 'Dispatch', { logRetention, maxConcurrentTasks: cap });

    this.stepFunction = new HouseFunction(this, 'WorkflowStep', {
      handlerFile: 'workflow-step',
      logRetention,
      timeout: Duration.seconds(45),
      environment: {
        GPU_HOURLY_USD: String(c.gpuHourlyUsd),
        CPU_HOURLY_USD: String(c.cpuHourlyUsd),
        // where an attempt's log is when its runner died before saying so
        TASK_LOG_STREAM_PREFIX: `${LOG_STREAM_PREFIX}/${RUNNER_CONTAINER}`,
      },
    });
    this.workflow = new Workflow(this, 'Workflow', {
      stepFunction: this.stepFunction,
      ...(this.gpu
        ? {
            compute: {
              cluster: this.gpu.cluster,
              runners: this.gpu.runners,
              agentRunner: this.gpu.agentRunner,
              ownImageRunners: this.gpu.ownImageRunners,
              ownImageFamilyPrefix: this.gpu.ownImageFamilyPrefix,
              fargateSecurityGroup: this.gpu.fargateSecurityGroup,
              capacityProvider: this.gpu.capacityProvider,
            },
          }
        : {}),
      logRetention,
    });

    const apiEnvironment = {
      MAX_QUEUE_DEPTH: String(c.maxQueueDepth),
      // the running cost of tasks that have not ended
      GPU_HOURLY_USD: String(c.gpuHourlyUsd),
      CPU_HOURLY_USD: String(c.cpuHourlyUsd),
      MAX_CONCURRENT_TASKS: String(cap),
      MAX_GPUS_PER_TASK: String(Math.max(...taskSizes(c.gpusPerInstance))),
      SECRETS_PREFIX: c.secretsPrefix,
      WORKLOAD_ROLE_ARNS: c.workloadRoleArns.join(','),
      // who sees and acts on every owner's tasks
      ADMIN_PRINCIPALS: c.adminPrincipals.join(','),
    };
    this.apiFunction = new HouseFunction(this, 'ApiHandler', {
      handlerFile: 'api',
      logRetention,
      timeout: Duration.seconds(29),
      environment: apiEnvironment,
    });
    if (onAws) {
      this.api = new Api(this, 'Api', {
        handler: this.apiFunction,
        logRetention,
        throttleRate: c.apiThrottleRate,
        throttleBurst: c.apiThrottleBurst,
        adminRoleArns: c.adminPrincipals,
      });
    }

    // wiring: a grant and an environment variable, in one place
    const sm = this.workflow.stateMachine;
    for (const fn of [this.apiFunction, this.dispatch.dispatcher, this.stepFunction]) {
      table.grant(fn, ...FUNCTION_TABLE_ACTIONS);
      fn.addEnvironment('TABLE_NAME', table.tableName);
      fn.addEnvironment('STATS_SHARDS', String(c.statsShards));
      this.dispatch.queue.grantSendMessages(fn);
      fn.addEnvironment('QUEUE_URL', this.dispatch.queue.queueUrl);
    }
    for (const fn of [this.apiFunction, this.dispatch.dispatcher]) {
      fn.addEnvironment('STATE_MACHINE_ARN', sm.stateMachineArn);
    }
    sm.grantStartExecution(this.dispatch.dispatcher);
    // the reconciler looks at the executions of active tasks
    sm.grantExecution(this.dispatch.dispatcher, 'states:DescribeExecution');
    sm.grantExecution(this.apiFunction, 'states:StopExecution');
    bucket.grantRead(this.apiFunction);
    this.apiFunction.addEnvironment('BUCKET_NAME', bucket.bucketName);
    this.taskLogs.grantRead(this.apiFunction);
    this.apiFunction.addEnvironment('LOG_GROUP_NAME', this.taskLogs.logGroupName);
    this.stepFunction.addEnvironment('BUCKET_NAME', bucket.bucketName);
    if (this.gpu) {
      this.stepFunction.addEnvironment('CLUSTER_ARN', this.gpu.cluster.clusterArn);
      // tasks' own images: task definitions registered from these templates (lambdas/domain/images.ts)
      const own = this.gpu.ownImageRunners;
      this.stepFunction.addEnvironment(
        'OWN_IMAGE_TEMPLATES',
        this.toJsonString(own.map((r) => ({ gpus: r.gpus, arn: r.taskDefinition.taskDefinitionArn }))),
      );
      this.stepFunction.addEnvironment('OWN_IMAGE_FAMILY_PREFIX', this.gpu.ownImageFamilyPrefix);
      this.stepFunction.addEnvironment('SECRETS_PREFIX', c.secretsPrefix);
      this.stepFunction.addEnvironment(
        'SECRET_ARN_BASE',
        this.formatArn({
          service: 'secretsmanager',
          resource: 'secret',
          resourceName: '',
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        }),
      );
      const ownFamilies = this.formatArn({
        service: 'ecs',
        resource: 'task-definition',
        resourceName: `${this.gpu.ownImageFamilyPrefix}*`,
      });
      this.stepFunction.addToRolePolicy(
        new PolicyStatement({
          sid: 'ReadTaskDefinitions',
          // DescribeTaskDefinition and ListTaskDefinitionFamilies take no resource; RegisterTaskDefinition
          // neither, but only with the tags its families carry (lambdas/domain/images.ts)
          actions: [
            'ecs:DescribeTaskDefinition',
            'ecs:ListTaskDefinitionFamilies',
            'ecs:ListTaskDefinitions',
          ],
          resources: ['*'],
        }),
      );
      this.stepFunction.addToRolePolicy(
        new PolicyStatement({
          sid: 'RegisterOwnImageTaskDefinitions',
          actions: ['ecs:RegisterTaskDefinition'],
          resources: ['*'],
          conditions: { 'ForAllValues:StringLike': { 'aws:TagKeys': ['trainstack:*'] } },
        }),
      );
      this.stepFunction.addToRolePolicy(
        new PolicyStatement({
          sid: 'ManageOwnImageTaskDefinitions',
          actions: ['ecs:TagResource', 'ecs:DeregisterTaskDefinition', 'ecs:DeleteTaskDefinitions'],
          resources: [ownFamilies],
        }),
      );
      // the registered task definitions use the templates' roles
      this.stepFunction.addToRolePolicy(
        new PolicyStatement({
          sid: 'PassOwnImageRoles',
          actions: ['iam:PassRole'],
          resources: [this.gpu.taskRole.roleArn, this.gpu.ownImageExecutionRole.roleArn],
          conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
        }),
      );
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
    }

    // a task's live events: a streaming function URL beside the API (HTTP APIs buffer responses), with
    // the API's handler inside it, so who may see a task is decided as the API decides it
    if (this.api) {
      this.eventsFunction = new HouseFunction(this, 'Events', {
        handlerFile: 'events',
        logRetention,
        timeout: Duration.minutes(15),
        environment: {
          ...apiEnvironment,
          TABLE_NAME: table.tableName,
          STATS_SHARDS: String(c.statsShards),
          QUEUE_URL: this.dispatch.queue.queueUrl,
          STATE_MACHINE_ARN: sm.stateMachineArn,
          BUCKET_NAME: bucket.bucketName,
          LOG_GROUP_NAME: this.taskLogs.logGroupName,
        },
      });
      // it reads tasks and their logs, nothing else
      table.grantReadData(this.eventsFunction);
      this.taskLogs.grantRead(this.eventsFunction);
      const url = this.eventsFunction.addFunctionUrl({
        authType: FunctionUrlAuthType.AWS_IAM,
        invokeMode: InvokeMode.RESPONSE_STREAM,
      });
      this.eventsUrl = url;
      this.api.invokePolicy.addStatements(
        new PolicyStatement({
          actions: ['lambda:InvokeFunctionUrl'],
          resources: [this.eventsFunction.functionArn],
          conditions: { StringEquals: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' } },
        }),
      );
      new CfnOutput(this, 'EventsUrl', {
        value: url.url,
        description: "a task's live events: GET <EventsUrl>v1/tasks/<id>/events (SigV4, service lambda)",
      });
    }

    if (this.api && c.dashboard) {
      this.web = new WebDashboard(this, 'Web', {
        apiUrl: this.api.httpApi.apiEndpoint,
        ...(this.eventsUrl ? { eventsUrl: this.eventsUrl.url } : {}),
        invokePolicy: this.api.invokePolicy,
        signInDomainPrefix:
          c.dashboardDomainPrefix || Fn.join('-', [this.stackName.toLowerCase(), this.account]),
        accessLogs: this.storage.accessLogs,
      });
      // the browser calls the API and the events URL from the dashboard's origin
      const origin = `https://${this.web.distribution.distributionDomainName}`;
      const allowHeaders = [
        'authorization',
        'content-type',
        'x-amz-date',
        'x-amz-security-token',
        'x-amz-content-sha256',
        'last-event-id',
        'accept',
      ];
      (this.api.httpApi.node.defaultChild as CfnApi).corsConfiguration = {
        allowOrigins: [origin],
        allowMethods: ['GET', 'POST', 'PUT', 'DELETE'],
        allowHeaders,
        exposeHeaders: ['x-export-skipped', 'content-disposition'],
        maxAge: 3600,
      };
      if (this.eventsUrl)
        (this.eventsUrl.node.defaultChild as CfnUrl).cors = {
          allowOrigins: [origin],
          allowMethods: ['GET'],
          allowHeaders,
          maxAge: 3600,
        };
    }

    this.observability = new Observability(this, 'Observability', {
      ...(this.api ? { api: this.api.httpApi } : {}),
      queue: this.dispatch.queue,
      deadLetterQueue: this.dispatch.deadLetterQueue,
      stateMachine: sm,
      stepLogGroup: this.stepFunction.logGroup,
      dispatcherLogGroup: this.dispatch.dispatcher.logGroup,
    });

    // what a user needs after a deploy and cannot guess (the API URL and invoke policy are the Api's)
    const out = (id: string, value: string, description: string) =>
      new CfnOutput(this, id, { value, description });
    out('BucketName', bucket.bucketName, 'task outputs (tasks/<id>/), checkpoints and trajectories');
    out('TableName', table.tableName, 'task records and stats');
    out('TaskLogGroup', this.taskLogs.logGroupName, "task containers' logs");
    out('StateMachineArn', sm.stateMachineArn, 'the task workflow');
    if (this.gpu)
      out(
        'TaskRoleArn',
        this.gpu.taskRole.roleArn,
        "the role to trust in a workload role's trust policy (tasks' roleArn, context workloadRoleArns)",
      );
    out(
      'DashboardUrl',
      `https://${this.region}.console.aws.amazon.com/cloudwatch/home?region=${this.region}#dashboards:name=${this.observability.dashboard.dashboardName}`,
      'the CloudWatch dashboard',
    );
    if (!this.api)
      out(
        'ApiFunctionName',
        this.apiFunction.functionName,
        'the API handler (no HTTP API on this target): invoke it with an API Gateway v2 event',
      );
  }
}
