/**
 * cdk-nag AwsSolutions findings this stack accepts, each with the reason. Anything not listed here
 * fails `cdk synth` and the nag test. Granular IAM findings are acknowledged one by one, naming the
 * exact action or resource, so a new wildcard still fails.
 */
import { type CfnResource, Token, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import type { GpuCluster } from './gpu-cluster.ts';
import type { TrainstackStack } from './trainstack-stack.ts';
import type { WebDashboard } from './web-dashboard.ts';

const S3_READ = ['s3:GetBucket*', 's3:GetObject*', 's3:List*'];
const S3_WRITE = ['s3:Abort*'];

const ack = (scope: IConstruct, id: string, reason: string) =>
  Validations.of(scope).acknowledge({ id: `AwsSolutions-${id}`, reason });

/** A Lambda function's runtime (L1, with why) and its basic execution role, which only writes its logs. */
function ackLambdaBasics(scope: IConstruct, runtimeReason: string): void {
  ack(scope, 'L1', runtimeReason);
  ack(
    scope,
    'IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
    'The basic execution role only lets the function write its own logs.',
  );
}

export function acknowledgeNagFindings(stack: TrainstackStack): void {
  // nag prints concrete values where the stack has them (`cdk deploy` names an account and region)
  // and <AWS::X> where it does not (an environment-agnostic synth): acknowledge whichever this stack has
  const region = Token.isUnresolved(stack.region) ? '<AWS::Region>' : stack.region;
  const partition = Token.isUnresolved(stack.partition) ? '<AWS::Partition>' : stack.partition;
  const account = Token.isUnresolved(stack.account) ? '<AWS::AccountId>' : stack.account;
  const arnPrefix = (service: string) => `arn:${partition}:${service}:${region}:${account}`;
  const ref = (c: IConstruct) => `<${stack.getLogicalId(c.node.defaultChild as CfnResource)}.Arn>`;
  const tableIndexes = `IAM5[Resource::${ref(stack.storage.table)}/index/*]`;
  const bucketObjects = `IAM5[Resource::${ref(stack.storage.bucket)}/*]`;

  const functions = [stack.apiFunction, stack.dispatch.dispatcher, stack.stepFunction];
  if (stack.eventsFunction) functions.push(stack.eventsFunction);
  for (const fn of functions) {
    ackLambdaBasics(fn, 'Node.js 24 is the newest Lambda runtime for Node; the rule lags behind it.');
    ack(
      fn,
      'IAM5[Resource::*]',
      'X-Ray PutTraceSegments/PutTelemetryRecords take no resource, nor do ECS DescribeTaskDefinition, ListTaskDefinition(Families) and RegisterTaskDefinition (the workflow step registers own-image task definitions, tag-conditioned) (AWS service authorization reference).',
    );
    ack(
      fn,
      tableIndexes,
      'Queries on the task table indexes (status, type, time, priority queue); the table itself is named.',
    );
  }
  for (const a of S3_READ)
    ack(
      stack.apiFunction,
      `IAM5[Action::${a}]`,
      'Read-only grant on the one artifacts bucket, to list outputs and sign download links.',
    );
  ack(
    stack.apiFunction,
    bucketObjects,
    'Objects of the one artifacts bucket (task outputs and trajectories).',
  );
  const executions = `IAM5[Resource::${arnPrefix('states')}:execution:{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"${stack.getLogicalId(stack.workflow.stateMachine.node.defaultChild as CfnResource)}"}]}]}:*]`;
  ack(
    stack.apiFunction,
    executions,
    'StopExecution on executions of the task state machine only (one execution per run of a task).',
  );
  ack(
    stack.dispatch.dispatcher,
    executions,
    'DescribeExecution on executions of the task state machine only, to reconcile active tasks.',
  );
  if (stack.gpu)
    acknowledgeGpuCluster(stack, stack.gpu, {
      arnPrefix,
      ref,
      tableIndexes,
      bucketObjects,
      secretsPrefix: stack.config.secretsPrefix,
    });

  const sm = stack.workflow;
  ack(
    sm,
    'IAM5[Resource::*]',
    'Logs delivery and X-Ray actions take no resource; ECS .sync needs the events rule it creates.',
  );
  ack(
    sm,
    `IAM5[Resource::${ref(stack.stepFunction)}:*]`,
    'Invoke any version of the one workflow-step function.',
  );
  if (stack.gpu)
    ack(
      sm,
      `IAM5[Resource::${arnPrefix('ecs')}:task/<${stack.getLogicalId(stack.gpu.cluster.node.defaultChild as CfnResource)}>/*]`,
      'The ECS .sync integration describes and stops tasks of the GPU cluster only (narrowed from *).',
    );

  if (stack.api) {
    ack(
      stack.api,
      'APIG4',
      'GET /health is public on purpose (load balancer and uptime checks); every other route uses IAM.',
    );
    ack(
      stack.api.invokePolicy,
      `IAM5[Resource::${arnPrefix('execute-api')}:<${stack.getLogicalId(stack.api.httpApi.node.defaultChild as CfnResource)}>/*/*/*]`,
      'The invoke policy grants every route of this one API to its holders.',
    );
  }
  if (stack.web) acknowledgeWebDashboard(stack, stack.web, { account, region, partition });
}

/** The web dashboard's findings: CloudFront's defaults, Cognito's plan, and CDK's deployment function. */
function acknowledgeWebDashboard(
  stack: TrainstackStack,
  web: WebDashboard,
  at: { account: string; region: string; partition: string },
): void {
  ack(web.distribution, 'CFR1', 'The dashboard is for its users wherever they are; sign-in is the gate.');
  ack(
    web.distribution,
    'CFR2',
    'Static files only (every call it makes is to the IAM-authorized API); a WAF web ACL can be attached by the operator.',
  );
  ack(
    web.distribution,
    'CFR4',
    'The default *.cloudfront.net certificate; a custom domain with an ACM certificate (and a TLS 1.2 policy) is the operator’s to add.',
  );
  ack(
    web.userPool,
    'COG8',
    'The Essentials plan: MFA is required of everyone and self sign-up is off; the Plus plan’s threat protection is an operator’s choice (it is billed per user).',
  );
  // CDK's own BucketDeployment function (one per stack) copies the built files into the site bucket
  const copier = stack.node.children.find((c) => c.node.id.startsWith('Custom::CDKBucketDeployment'));
  const deployment = [web.deployment, ...(copier ? [copier] : [])];
  for (const scope of deployment) {
    ackLambdaBasics(scope, 'CDK’s BucketDeployment function; its runtime is CDK’s to choose.');
    for (const a of ['s3:Abort*', 's3:DeleteObject*', 's3:GetBucket*', 's3:GetObject*', 's3:List*'])
      ack(
        scope,
        `IAM5[Action::${a}]`,
        'CDK’s BucketDeployment grant: read the asset, replace the site’s files.',
      );
    ack(
      scope,
      `IAM5[Resource::<${stack.getLogicalId(web.site.node.defaultChild as CfnResource)}.Arn>/*]`,
      'The dashboard’s own site bucket, whose files the deployment replaces.',
    );
    // (the concrete-environment synth names the partition, the agnostic one leaves it a token)
    for (const partition of new Set([at.partition, 'aws']))
      ack(
        scope,
        `IAM5[Resource::arn:${partition}:s3:::cdk-hnb659fds-assets-${at.account}-${at.region}/*]`,
        'CDK’s bootstrap assets bucket, where the built dashboard is staged.',
      );
    ack(
      scope,
      'IAM5[Resource::*]',
      'CloudFront CreateInvalidation takes no resource narrower than the distribution’s account (CDK’s deployment).',
    );
  }
}

/** The GPU cluster's findings (it is left out on the LocalStack target). */
function acknowledgeGpuCluster(
  stack: TrainstackStack,
  gpu: GpuCluster,
  f: {
    arnPrefix: (service: string) => string;
    ref: (c: IConstruct) => string;
    tableIndexes: string;
    bucketObjects: string;
    secretsPrefix: string;
  },
): void {
  const { arnPrefix, ref, tableIndexes, bucketObjects, secretsPrefix } = f;
  ack(
    stack.stepFunction,
    `IAM5[Resource::${arnPrefix('ecs')}:task/<${stack.getLogicalId(gpu.cluster.node.defaultChild as CfnResource)}>/*]`,
    'StopTask on tasks of the GPU cluster only, to make sure a timed-out attempt is gone.',
  );

  // the runner task definitions share one task role; each has an execution role to pull the image
  const task = gpu;
  for (const a of [...S3_READ, ...S3_WRITE])
    ack(
      task,
      `IAM5[Action::${a}]`,
      'The runner reads and writes outputs, checkpoints and trajectories in the one artifacts bucket.',
    );
  ack(
    task,
    bucketObjects,
    'Objects of the one artifacts bucket, under tasks/, checkpoints/ and trajectories/.',
  );
  ack(task, tableIndexes, 'The runner reads its task record; the grant covers the table indexes too.');
  ack(task, 'ECS2', 'Only resource names (table, bucket, log group) are set as environment; no secret is.');
  ack(
    task,
    'IAM5[Resource::*]',
    'ecr:GetAuthorizationToken takes no resource; the execution role pulls the image asset.',
  );

  ack(
    gpu,
    'IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]',
    'Session Manager access to GPU hosts for debugging, instead of SSH and an open port.',
  );
  ack(
    gpu,
    'IAM5[Action::ecs:Submit*]',
    'Granted by CDK on this cluster only, for the ECS agent to report container and task state.',
  );
  ack(
    gpu,
    'IAM5[Resource::*]',
    'ecs:DiscoverPollEndpoint and ecr:GetAuthorizationToken take no resource; Poll and telemetry are conditioned on this cluster.',
  );
  ack(
    gpu,
    `IAM5[Resource::${ref(gpu.logGroup)}]`,
    'Log streams of the one task log group (its ARN ends in :*), for the awslogs driver.',
  );
  for (const arn of stack.config.workloadRoleArns.filter((a) => a.includes('*')))
    ack(
      gpu,
      `IAM5[Resource::${arn}]`,
      'Workload roles the deployer allowed by pattern (CDK context workloadRoleArns).',
    );
  for (const [service, resource] of [
    ['ssm', `parameter/${secretsPrefix}*`],
    ['secretsmanager', `secret:${secretsPrefix}*`],
  ] as const)
    ack(
      task,
      `IAM5[Resource::${arnPrefix(service)}:${resource}]`,
      "Tasks' secrets: parameters and secrets under the stack's secretsPrefix only (CDK context).",
    );
  // tasks' own images: their execution role pulls from this account's ECR; the start step registers
  // their task definitions under the stack's family prefix, and the workflow runs them
  ack(
    gpu.ownImageExecutionRole,
    `IAM5[Resource::${arnPrefix('ecr')}:repository/*]`,
    "Tasks name their own images: any repository of this account's ECR in this region, pulled by the own-image execution role only.",
  );
  const ownFamilies = `IAM5[Resource::${arnPrefix('ecs')}:task-definition/${gpu.ownImageFamilyPrefix}*]`;
  ack(
    stack.stepFunction,
    ownFamilies,
    "Tags, deregisters and deletes only the task definitions of tasks' own images (the stack's family prefix).",
  );
  ack(
    stack.workflow,
    ownFamilies,
    "RunTask of the task definitions of tasks' own images (the stack's family prefix), on the GPU cluster only.",
  );
  ack(
    gpu,
    'AS3',
    'Scaling is managed by the ECS capacity provider; its events are on the dashboard via ECS, not SNS.',
  );
}
