/**
 * The task workflow: a STANDARD state machine in JSONPath. One attempt is
 * StartAttempt -> RunTask (.sync, per-task timeout) -> Succeeded | AttemptFailed; AttemptFailed
 * classifies the failure and either loops back after a backoff wait or ends the task.
 * Retry counts are per task, so the loop is a Choice, not a Retry field.
 */
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { type ISecurityGroup, SubnetType } from 'aws-cdk-lib/aws-ec2';
import { type AsgCapacityProvider, type Cluster, FargatePlatformVersion } from 'aws-cdk-lib/aws-ecs';
import { Policy, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import {
  Choice,
  Condition,
  DefinitionBody,
  Fail,
  type IChainable,
  IntegrationPattern,
  JsonPath,
  LogLevel,
  Pass,
  type QueryLanguage,
  Result,
  StateMachine,
  StateMachineType,
  Succeed,
  TaskInput,
  Timeout,
  Wait,
  WaitTime,
} from 'aws-cdk-lib/aws-stepfunctions';
import {
  CapacityProviderOptions,
  EcsEc2LaunchTarget,
  EcsFargateLaunchTarget,
  EcsRunTask,
  LambdaInvoke,
} from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { RUNNER_ENV } from '../lambdas/contracts/runner-env.ts';
import {
  ctxPath,
  decisionPath,
  NO_COMPUTE_ERROR,
  PATH,
  STEP,
  type StepAction,
} from '../lambdas/contracts/workflow-step.ts';
import type { RunnerTask } from './gpu-cluster.ts';
import { narrowWildcard } from './narrow.ts';
import { STATE } from './workflow-states.ts';

/**
 * RunTask of the task definition the start step chose (`$.ctx.taskDefinition`), otherwise as EcsRunTask
 * renders it for the template it was given (launch target, network, overrides, IAM for the roles).
 */
class RunRegisteredTask extends EcsRunTask {
  protected override _renderTask(topLevelQueryLanguage?: QueryLanguage): unknown {
    const t = super._renderTask(topLevelQueryLanguage) as { Parameters: Record<string, unknown> };
    const { TaskDefinition: _, ...rest } = t.Parameters;
    return { ...t, Parameters: { ...rest, 'TaskDefinition.$': ctxPath('taskDefinition') } };
  }
}

export { STATE };

/** What runs attempts: the GPU cluster's capacity provider and the runner's task definitions. */
export interface WorkflowCompute {
  readonly cluster: Cluster;
  /** the runner's task definitions by GPU count, smallest first */
  readonly runners: RunnerTask[];
  /** the agent image's task definition: trajectory tasks with no command of their own */
  readonly agentRunner?: RunnerTask;
  /**
   * Templates of tasks' own images by GPU count: a task naming an image runs the task definition the
   * start step registered for it (`$.ctx.taskDefinition`), at the size of the smallest that holds it
   */
  readonly ownImageRunners?: RunnerTask[];
  /** the families the start step registers own-image task definitions under start with this */
  readonly ownImageFamilyPrefix?: string;
  /** the security group of CPU-only (Fargate) tasks */
  readonly fargateSecurityGroup: ISecurityGroup;
  readonly capacityProvider: AsgCapacityProvider;
}

/** Why a deployment without compute fails its tasks (what the user reads as the task's reason). */
export const NO_COMPUTE_CAUSE =
  'this deployment has no GPU cluster (CDK context target=localstack: LocalStack Community cannot run ECS); ' +
  'tasks run end to end on the embedded local cloud (npm start) or on AWS';

export interface WorkflowProps {
  readonly stepFunction: IFunction;
  /** Where attempts run. @default none: every attempt fails at once with NO_COMPUTE_CAUSE */
  readonly compute?: WorkflowCompute;
  readonly logRetention: RetentionDays;
}

export class Workflow extends Construct {
  readonly stateMachine: StateMachine;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: WorkflowProps) {
    super(scope, id);
    const step = (name: string, action: StepAction, extra: Record<string, unknown>, resultPath: string) =>
      new LambdaInvoke(this, name, {
        stateName: name,
        lambdaFunction: props.stepFunction,
        payload: TaskInput.fromObject({
          action,
          taskId: JsonPath.stringAt(PATH.taskId),
          execution: JsonPath.stringAt(PATH.execution),
          ...extra,
        }),
        payloadResponseOnly: true,
        resultPath,
        retryOnServiceExceptions: true,
        taskTimeout: Timeout.duration(Duration.seconds(60)),
      });

    const startAttempt = step(STATE.startAttempt, STEP.start, {}, PATH.ctx);
    const failed = step(STATE.failed, STEP.failed, { error: JsonPath.objectAt(PATH.error) }, PATH.decision);
    const done = new Succeed(this, STATE.done);
    const notStarted = new Succeed(this, STATE.notStarted, {
      comment: 'cancelled or finished before it could start',
    });
    const broken = new Fail(this, STATE.broken, {
      error: 'BookkeepingFailed',
      cause: 'the workflow could not record the end of an attempt',
    });

    // one RunTask per task size; a task runs on the smallest that holds its GPUs
    const compute = props.compute;
    let run: IChainable;
    if (compute) {
      const succeeded = step(STATE.succeeded, STEP.succeeded, {}, PATH.decision);
      succeeded.addCatch(failed, { errors: ['States.ALL'], resultPath: PATH.error });
      succeeded.next(done);
      const pick = new Choice(this, STATE.pickSize);
      for (const r of compute.ownImageRunners ?? [])
        pick.when(
          Condition.and(
            Condition.isPresent(ctxPath('taskDefinition')),
            Condition.numberLessThanEquals(ctxPath('gpus'), r.gpus),
          ),
          this.runTask(compute, r, failed, succeeded, STATE.runOwnImage(r.gpus), true),
        );
      if (compute.agentRunner)
        pick.when(
          Condition.stringEquals(ctxPath('runtime'), 'agent'),
          this.runTask(compute, compute.agentRunner, failed, succeeded, STATE.runAgent),
        );
      for (const r of compute.runners)
        pick.when(
          Condition.numberLessThanEquals(ctxPath('gpus'), r.gpus),
          this.runTask(compute, r, failed, succeeded),
        );
      run = pick;
    } else {
      run = new Pass(this, STATE.noCompute, {
        comment: 'no compute in this deployment: the attempt fails with the reason',
        result: Result.fromObject({ Error: NO_COMPUTE_ERROR, Cause: NO_COMPUTE_CAUSE }),
        resultPath: PATH.error,
      }).next(failed);
    }
    startAttempt.addCatch(failed, { errors: ['States.ALL'], resultPath: PATH.error });
    failed.addCatch(broken, { errors: ['States.ALL'], resultPath: PATH.error });

    const backoff = new Wait(this, STATE.backoff, {
      time: WaitTime.secondsPath(decisionPath('waitSeconds')),
    });
    const definition = startAttempt.next(
      new Choice(this, STATE.proceed)
        .when(Condition.booleanEquals(ctxPath('proceed'), false), notStarted)
        .otherwise(run),
    );
    failed.next(
      new Choice(this, STATE.again)
        .when(Condition.stringEquals(decisionPath('action'), 'retry'), backoff.next(startAttempt))
        .otherwise(done),
    );

    this.logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stateMachine = new StateMachine(this, 'StateMachine', {
      stateMachineType: StateMachineType.STANDARD,
      definitionBody: DefinitionBody.fromChainable(definition),
      tracingEnabled: true,
      logs: { destination: this.logGroup, level: LogLevel.ALL, includeExecutionData: true },
      timeout: Duration.days(30),
    });
    if (props.compute?.ownImageFamilyPrefix)
      // the task definitions of tasks' own images, registered by the start step under this prefix
      this.stateMachine.addToRolePolicy(
        new PolicyStatement({
          sid: 'RunOwnImageTaskDefinitions',
          actions: ['ecs:RunTask'],
          resources: [
            Stack.of(this).formatArn({
              service: 'ecs',
              resource: 'task-definition',
              resourceName: `${props.compute.ownImageFamilyPrefix}*`,
            }),
          ],
          conditions: { ArnEquals: { 'ecs:cluster': props.compute.cluster.clusterArn } },
        }),
      );
    if (props.compute) {
      // the ECS integration stops and describes tasks on '*': only this cluster's tasks are its to touch
      const policy = this.stateMachine.role.node.tryFindChild('DefaultPolicy');
      if (policy instanceof Policy)
        narrowWildcard(
          policy,
          ['ecs:StopTask', 'ecs:DescribeTasks'],
          [
            Stack.of(this).formatArn({
              service: 'ecs',
              resource: 'task',
              resourceName: `${props.compute.cluster.clusterName}/*`,
            }),
          ],
        );
    }
  }
  /** RunTask (.sync) of one task size, with the per-task timeout; its end goes to the step that records it. */
  private runTask(
    compute: WorkflowCompute,
    r: RunnerTask,
    failed: LambdaInvoke,
    succeeded: LambdaInvoke,
    name = STATE.runTask(r.gpus),
    ownImage = false,
  ) {
    const runTask = new (ownImage ? RunRegisteredTask : EcsRunTask)(this, name, {
      stateName: name,
      integrationPattern: IntegrationPattern.RUN_JOB,
      cluster: compute.cluster,
      taskDefinition: r.taskDefinition,
      // CPU only: Fargate in the public subnets (no NAT: a public IP reaches AWS, registries and model
      // endpoints); GPUs: the GPU instances' capacity provider
      launchTarget: r.fargate
        ? new EcsFargateLaunchTarget({ platformVersion: FargatePlatformVersion.LATEST })
        : new EcsEc2LaunchTarget({
            capacityProviderOptions: CapacityProviderOptions.custom([
              { capacityProvider: compute.capacityProvider.capacityProviderName, weight: 1 },
            ]),
          }),
      ...(r.fargate
        ? {
            assignPublicIp: true,
            subnets: { subnetType: SubnetType.PUBLIC },
            securityGroups: [compute.fargateSecurityGroup],
          }
        : {}),
      containerOverrides: [
        {
          containerDefinition: r.container,
          environment: [
            // pointers only: the runner reads the spec from the task record (overrides are capped at 8 KB)
            { name: RUNNER_ENV.taskId, value: JsonPath.stringAt(PATH.taskId) },
            {
              name: RUNNER_ENV.attempt,
              value: JsonPath.format('{}', JsonPath.stringAt(ctxPath('attempt'))),
            },
          ],
          // a Fargate task has the memory of its size; on instances, the task's memoryMiB is reserved
          ...(r.fargate ? {} : { memoryReservation: JsonPath.numberAt(ctxPath('memoryMiB')) }),
        },
      ],
      taskTimeout: Timeout.at(ctxPath('timeoutSeconds')),
      resultPath: JsonPath.DISCARD,
    });
    runTask.addCatch(failed, { errors: ['States.ALL'], resultPath: PATH.error });
    runTask.next(succeeded);
    return runTask;
  }
}
