/**
 * The GPU cluster: a VPC without NAT, an auto scaling group of GPU instances on the AL2023 NVIDIA ECS
 * AMI that scales to zero behind a capacity provider, and the runner's task definition.
 */
import * as path from 'node:path';
import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { AutoScalingGroup, BlockDeviceVolume, EbsDeviceVolumeType } from 'aws-cdk-lib/aws-autoscaling';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import {
  FlowLogDestination,
  GatewayVpcEndpointAwsService,
  InstanceType,
  LaunchTemplate,
  SecurityGroup,
  SubnetType,
  UserData,
  Vpc,
} from 'aws-cdk-lib/aws-ec2';
import {
  AmiHardwareType,
  AsgCapacityProvider,
  Cluster,
  type ContainerDefinition,
  ContainerDependencyCondition,
  ContainerImage,
  ContainerInsights,
  Ec2TaskDefinition,
  EcsOptimizedImage,
  FargateTaskDefinition,
  LogDrivers,
  NetworkMode,
  type TaskDefinition,
} from 'aws-cdk-lib/aws-ecs';
import {
  ArnPrincipal,
  ManagedPolicy,
  Policy,
  PolicyStatement,
  Role,
  ServicePrincipal,
} from 'aws-cdk-lib/aws-iam';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import {
  KIT_DIR,
  KIT_ENTRYPOINT,
  KIT_SOURCE,
  RUNNER_ENV,
  WORKLOAD_ENV,
} from '../lambdas/contracts/runner-env.ts';
import { REPO_ROOT } from './function.ts';
import { narrowWildcard } from './narrow.ts';
import { RUNNER_TABLE_ACTIONS } from './storage.ts';

export const RUNNER_CONTAINER = 'runner';
/** The init container of own-image task definitions: it copies the runner kit into KIT_VOLUME */
export const KIT_CONTAINER = 'runner-kit';
export const KIT_VOLUME = 'trainstack-kit';

/**
 * A task definition of the runner for a number of GPUs. 0 is CPU only, and runs on Fargate: CPU
 * capacity that scales to zero on its own, so a task with no GPU never takes (or starts) a GPU instance.
 */
export interface RunnerTask {
  readonly gpus: number;
  readonly taskDefinition: TaskDefinition;
  readonly container: ContainerDefinition;
  /** Fargate (CPU only), or the GPU instances' capacity provider */
  readonly fargate: boolean;
}
export const LOG_STREAM_PREFIX = 'task';

/** The task sizes (GPUs) a cluster of instances with this many GPUs offers: CPU only (Fargate), then 1, 2, 4, 8. */
export function taskSizes(gpusPerInstance: number): number[] {
  return [0, ...[1, 2, 4, 8].filter((n) => n <= Math.max(1, gpusPerInstance))];
}

export interface GpuClusterProps {
  readonly table: ITable;
  /** the stack's `statsShards`: the runner adds to the counters' shards */
  readonly statsShards: number;
  readonly bucket: IBucket;
  readonly logRetention: RetentionDays;
  /** @default ['g5.xlarge'] */
  readonly instanceTypes?: string[];
  /** @default 0 */
  readonly minInstances?: number;
  /** @default 4 */
  readonly maxInstances?: number;
  /** @default false */
  readonly spot?: boolean;
  /** GPUs one instance holds: task definitions exist for 0, 1, 2, 4 and 8 GPUs up to this. @default 1 */
  readonly gpusPerInstance?: number;
  /** The agent image (trajectory tasks) already in a registry, instead of building its target. @default build the asset */
  readonly agentImage?: string;
  /** A task image already in a registry, instead of building containers/Dockerfile. @default build the asset */
  readonly taskImage?: string;
  /** The SSM parameters and Secrets Manager secrets tasks may read start with this. @default trainstack/ */
  readonly secretsPrefix?: string;
  /** Roles workloads may work as (tasks' roleArn). @default none */
  readonly workloadRoleArns?: readonly string[];
  /** vCPU units and memory of a CPU-only (Fargate) task. @default 1024 and 4096 */
  readonly cpuTaskCpu?: number;
  readonly cpuTaskMemoryMiB?: number;
}

export class GpuCluster extends Construct {
  readonly vpc: Vpc;
  readonly cluster: Cluster;
  readonly capacityProvider: AsgCapacityProvider;
  /** the runner's task definitions, by GPU count, smallest first */
  readonly runners: RunnerTask[];
  /** the agent image's task definition (Fargate), which runs trajectory tasks */
  readonly agentRunner: RunnerTask;
  /**
   * Templates of tasks' own images, by GPU count: the init-container pattern, with the task image as
   * the workload's image until lambdas/domain/images.ts registers a copy with the task's own
   */
  readonly ownImageRunners: RunnerTask[];
  /** the families of own-image task definitions start with this */
  readonly ownImageFamilyPrefix: string;
  /** pulls tasks' own images: the account's ECR repositories, and registry credentials under the secrets prefix */
  readonly ownImageExecutionRole: Role;
  readonly taskRole: Role;
  /** what runners may do; each assumes it narrowed to its own task */
  readonly dataRole: Role;
  readonly logGroup: LogGroup;
  readonly autoScalingGroup: AutoScalingGroup;
  /** CPU-only tasks (Fargate, in the public subnets): egress only */
  readonly fargateSecurityGroup: SecurityGroup;

  constructor(scope: Construct, id: string, props: GpuClusterProps) {
    super(scope, id);
    const types = props.instanceTypes ?? ['g5.xlarge'];

    // Public subnets only: instances reach ECS, ECR and CloudWatch directly, with no ingress allowed.
    // No NAT gateway and no interface endpoints, so an idle stack costs nothing but storage.
    this.vpc = new Vpc(this, 'Vpc', {
      maxAzs: 3,
      natGateways: 0,
      subnetConfiguration: [{ name: 'public', subnetType: SubnetType.PUBLIC, cidrMask: 20 }],
      gatewayEndpoints: {
        S3: { service: GatewayVpcEndpointAwsService.S3 },
        DynamoDB: { service: GatewayVpcEndpointAwsService.DYNAMODB },
      },
    });
    this.vpc.addFlowLog('FlowLogs', {
      destination: FlowLogDestination.toCloudWatchLogs(
        new LogGroup(this, 'FlowLogGroup', {
          retention: props.logRetention,
          removalPolicy: RemovalPolicy.DESTROY,
        }),
      ),
    });

    this.cluster = new Cluster(this, 'Cluster', {
      vpc: this.vpc,
      containerInsightsV2: ContainerInsights.ENABLED,
      enableFargateCapacityProviders: true,
    });
    this.fargateSecurityGroup = new SecurityGroup(this, 'CpuTaskSg', {
      vpc: this.vpc,
      description:
        'CPU-only tasks on Fargate: no ingress, egress to AWS APIs, registries and model endpoints',
      allowAllOutbound: true,
    });

    const securityGroup = new SecurityGroup(this, 'InstanceSg', {
      vpc: this.vpc,
      description: 'GPU instances: no ingress, egress to AWS APIs and registries',
      allowAllOutbound: true,
    });
    // The ECS agent's permissions come from the cluster (CDK adds them, on this cluster), not from
    // AmazonEC2ContainerServiceforEC2Role, which grants them on '*'. CDK's own logs statement is
    // narrowed below to the task log group, once that exists.
    const stack = Stack.of(this);
    const instanceRole = new Role(this, 'InstanceRole', {
      assumedBy: new ServicePrincipal('ec2.amazonaws.com'),
      managedPolicies: [ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore')],
    });
    const launchTemplate = new LaunchTemplate(this, 'LaunchTemplate', {
      machineImage: EcsOptimizedImage.amazonLinux2023(AmiHardwareType.GPU),
      instanceType: new InstanceType(types[0] ?? 'g5.xlarge'),
      securityGroup,
      role: instanceRole,
      requireImdsv2: true,
      // one hop: the host reaches the instance metadata service, containers on the bridge network do not
      httpPutResponseHopLimit: 1,
      associatePublicIpAddress: true,
      userData: UserData.forLinux(),
      blockDevices: [
        {
          deviceName: '/dev/xvda',
          volume: BlockDeviceVolume.ebs(100, { encrypted: true, volumeType: EbsDeviceVolumeType.GP3 }),
        },
      ],
      ...(props.spot && types.length === 1 ? { spotOptions: {} } : {}),
    });
    this.autoScalingGroup = new AutoScalingGroup(this, 'Asg', {
      vpc: this.vpc,
      vpcSubnets: { subnetType: SubnetType.PUBLIC },
      minCapacity: props.minInstances ?? 0,
      maxCapacity: props.maxInstances ?? 4,
      newInstancesProtectedFromScaleIn: true,
      ...(types.length > 1
        ? {
            mixedInstancesPolicy: {
              launchTemplate,
              launchTemplateOverrides: types.map((t) => ({ instanceType: new InstanceType(t) })),
              instancesDistribution: props.spot
                ? {
                    onDemandPercentageAboveBaseCapacity: 0,
                    spotAllocationStrategy: 'price-capacity-optimized' as never,
                  }
                : { onDemandPercentageAboveBaseCapacity: 100 },
            },
          }
        : { launchTemplate }),
    });
    this.capacityProvider = new AsgCapacityProvider(this, 'CapacityProvider', {
      autoScalingGroup: this.autoScalingGroup,
      enableManagedScaling: true,
      enableManagedTerminationProtection: true,
      enableManagedDraining: true,
      targetCapacityPercent: 100,
      minimumScalingStepSize: 1,
      maximumScalingStepSize: Math.max(1, props.maxInstances ?? 4),
      instanceWarmupPeriod: 180,
    });
    this.cluster.addAsgCapacityProvider(this.capacityProvider);

    this.logGroup = new LogGroup(this, 'TaskLogs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const instancePolicy = instanceRole.node.tryFindChild('DefaultPolicy');
    if (instancePolicy instanceof Policy)
      narrowWildcard(
        instancePolicy,
        ['logs:CreateLogStream', 'logs:PutLogEvents'],
        [this.logGroup.logGroupArn],
      );
    // one image and one task role for every GPU size: the sizes differ only in what they reserve
    // the trainer image: built from the repository at deploy time (needs Docker), or one already pushed
    const asset = (target: 'trainer' | 'agent') =>
      ContainerImage.fromAsset(path.join(REPO_ROOT), {
        file: 'containers/Dockerfile',
        target,
        exclude: ['node_modules', 'cdk.out', '.local', '.git', '.device', 'test', 'bench', 'docs'],
      });
    const image = props.taskImage ? ContainerImage.fromRegistry(props.taskImage) : asset('trainer');
    // the agent runtime of trajectory tasks: Node, Python and Chromium, no CUDA
    const agentImage = props.agentImage ? ContainerImage.fromRegistry(props.agentImage) : asset('agent');
    // The task role can do one thing: assume the data role. The runner assumes it with a session
    // policy naming its own task (containers/runner/src/scope.ts), so the credentials it works with
    // reach its record, its prefixes and its secrets only. The workload, another user in the
    // container, never sees either.
    this.taskRole = new Role(this, 'TaskRole', {
      assumedBy: new ServicePrincipal('ecs-tasks.amazonaws.com'),
    });
    this.dataRole = new Role(this, 'DataRole', {
      assumedBy: new ArnPrincipal(this.taskRole.roleArn),
      description: 'What runners may do, before each narrows it to its own task with a session policy',
    });
    this.dataRole.grantAssumeRole(this.taskRole);
    // the roles workloads may work as (tasks' roleArn): the runner assumes one for its workload
    if (props.workloadRoleArns?.length)
      this.taskRole.addToPolicy(
        new PolicyStatement({
          sid: 'AssumeWorkloadRoles',
          actions: ['sts:AssumeRole'],
          resources: [...props.workloadRoleArns],
        }),
      );
    // the runner reads and updates records and writes objects; it never deletes either
    props.table.grant(this.dataRole, ...RUNNER_TABLE_ACTIONS);
    props.bucket.grantRead(this.dataRole);
    props.bucket.grantPut(this.dataRole);
    // the tasks' `secrets`: parameters and secrets under the prefix, read at the start of an attempt
    const prefix = props.secretsPrefix ?? 'trainstack/';
    this.dataRole.addToPolicy(
      new PolicyStatement({
        sid: 'ReadTaskSecrets',
        actions: ['ssm:GetParameter', 'secretsmanager:GetSecretValue'],
        resources: [
          stack.formatArn({ service: 'ssm', resource: 'parameter', resourceName: `${prefix}*` }),
          stack.formatArn({
            service: 'secretsmanager',
            resource: 'secret',
            resourceName: `${prefix}*`,
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        ],
      }),
    );
    const cpuTaskDefinition = (id: string) =>
      new FargateTaskDefinition(this, id, {
        cpu: props.cpuTaskCpu ?? 1024,
        memoryLimitMiB: props.cpuTaskMemoryMiB ?? 4096,
        taskRole: this.taskRole,
        ephemeralStorageGiB: 40,
      });
    const runnerContainer = (
      taskDefinition: TaskDefinition,
      containerImage: ContainerImage,
      gpus: number,
      fargate: boolean,
      own:
        | { entryPoint: string[]; user: string; environment: Record<string, string> }
        | undefined = undefined,
    ) =>
      taskDefinition.addContainer(RUNNER_CONTAINER, {
        image: containerImage,
        ...(own ? { entryPoint: own.entryPoint, user: own.user } : {}),
        ...(fargate ? {} : { memoryReservationMiB: 2048 }),
        ...(gpus ? { gpuCount: gpus } : {}),
        essential: true,
        stopTimeout: Duration.seconds(120),
        logging: LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix: LOG_STREAM_PREFIX }),
        environment: {
          [RUNNER_ENV.table]: props.table.tableName,
          [RUNNER_ENV.statsShards]: String(props.statsShards),
          [RUNNER_ENV.bucket]: props.bucket.bucketName,
          [RUNNER_ENV.logGroup]: this.logGroup.logGroupName,
          [RUNNER_ENV.logStreamPrefix]: `${LOG_STREAM_PREFIX}/${RUNNER_CONTAINER}`,
          [RUNNER_ENV.dataRoleArn]: this.dataRole.roleArn,
          // containers cannot reach the instance metadata service (one hop), so the SDK needs it here
          AWS_REGION: stack.region,
          ...own?.environment,
        },
      });
    this.runners = taskSizes(props.gpusPerInstance ?? 1).map((gpus) => {
      const fargate = gpus === 0;
      // CPU only: Fargate (awsvpc, scales to zero by itself); GPUs: the GPU instances (bridge)
      const taskDefinition = fargate
        ? cpuTaskDefinition('RunnerCpu')
        : new Ec2TaskDefinition(this, `Runner${gpus}Gpu`, {
            networkMode: NetworkMode.BRIDGE,
            taskRole: this.taskRole,
          });
      const container = runnerContainer(taskDefinition, image, gpus, fargate);
      return { gpus, taskDefinition, container, fargate };
    });
    // trajectory tasks: the agent image on Fargate, with the same runner, role and log group
    const agentTaskDefinition = cpuTaskDefinition('RunnerAgent');
    this.agentRunner = {
      gpus: 0,
      taskDefinition: agentTaskDefinition,
      container: runnerContainer(agentTaskDefinition, agentImage, 0, true),
      fargate: true,
    };

    // Tasks' own images: the init-container pattern (Argo's emissary executor does the same). The
    // init container, from the task image, copies the runner kit into a volume; the workload container
    // starts after it succeeded, with the kit as its entry point and as root (the runner drops the
    // workload to uid 1000), so any Linux image runs with the runner around its command.
    this.ownImageFamilyPrefix = `${stack.stackName.slice(0, 100)}-own-`;
    this.ownImageExecutionRole = new Role(this, 'OwnImageExecutionRole', {
      assumedBy: new ServicePrincipal('ecs-tasks.amazonaws.com'),
      description:
        "Pulls tasks' own images: this account's ECR, public registries, private ones with credentials",
    });
    this.ownImageExecutionRole.addToPolicy(
      new PolicyStatement({
        sid: 'PullOwnImagesFromThisAccount',
        actions: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability'],
        resources: [stack.formatArn({ service: 'ecr', resource: 'repository', resourceName: '*' })],
      }),
    );
    this.ownImageExecutionRole.addToPolicy(
      // (CDK grants it too when the task image is an asset; not for a taskImage from a registry)
      new PolicyStatement({ sid: 'EcrToken', actions: ['ecr:GetAuthorizationToken'], resources: ['*'] }),
    );
    this.ownImageExecutionRole.addToPolicy(
      new PolicyStatement({
        sid: 'PrivateRegistryCredentials',
        actions: ['secretsmanager:GetSecretValue'],
        resources: [
          stack.formatArn({
            service: 'secretsmanager',
            resource: 'secret',
            resourceName: `${prefix}*`,
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        ],
      }),
    );
    const logging = (streamPrefix: string) => LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix });
    this.ownImageRunners = taskSizes(props.gpusPerInstance ?? 1).map((gpus) => {
      const fargate = gpus === 0;
      const taskDefinition = fargate
        ? new FargateTaskDefinition(this, 'OwnImageCpu', {
            cpu: props.cpuTaskCpu ?? 1024,
            memoryLimitMiB: props.cpuTaskMemoryMiB ?? 4096,
            taskRole: this.taskRole,
            executionRole: this.ownImageExecutionRole,
            ephemeralStorageGiB: 40,
          })
        : new Ec2TaskDefinition(this, `OwnImage${gpus}Gpu`, {
            networkMode: NetworkMode.BRIDGE,
            taskRole: this.taskRole,
            executionRole: this.ownImageExecutionRole,
          });
      taskDefinition.addVolume({ name: KIT_VOLUME });
      const kit = taskDefinition.addContainer(KIT_CONTAINER, {
        image,
        essential: false,
        user: '0',
        entryPoint: ['cp', '-a', `${KIT_SOURCE}/.`, `${KIT_DIR}/`],
        ...(fargate ? {} : { memoryReservationMiB: 64 }),
        logging: logging('kit'),
      });
      kit.addMountPoints({ sourceVolume: KIT_VOLUME, containerPath: KIT_DIR, readOnly: false });
      const container = runnerContainer(taskDefinition, image, gpus, fargate, {
        entryPoint: [...KIT_ENTRYPOINT],
        // the runner starts as root whatever the image's USER, to run the workload as another user
        user: '0',
        environment: {
          [RUNNER_ENV.outputDir]: '/work/output',
          [RUNNER_ENV.checkpointDir]: '/work/checkpoints',
          [WORKLOAD_ENV.inputDir]: '/work/input',
          [RUNNER_ENV.workloadUser]: '1000:1000',
        },
      });
      container.addMountPoints({ sourceVolume: KIT_VOLUME, containerPath: KIT_DIR, readOnly: true });
      container.addContainerDependencies({ container: kit, condition: ContainerDependencyCondition.SUCCESS });
      return { gpus, taskDefinition, container, fargate };
    });
  }
}
