import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { KIT_DIR, KIT_ENTRYPOINT, KIT_SOURCE } from '../../lambdas/contracts/runner-env.ts';
import { templateOf } from '../support/app.ts';

let t: ReturnType<typeof templateOf>;
beforeAll(() => {
  t = templateOf();
});

const definitionOf = () => {
  const sm = Object.values(t.findResources('AWS::StepFunctions::StateMachine'))[0] as {
    Properties: { DefinitionString: { 'Fn::Join': [string, unknown[]] } };
  };
  return sm.Properties.DefinitionString['Fn::Join'][1].map((p) => (typeof p === 'string' ? p : 'X')).join('');
};

/** The GPUs each task definition's runner container reserves, sorted. */
const gpuCounts = (t: Template) =>
  Object.values(t.findResources('AWS::ECS::TaskDefinition'))
    .map((d) => {
      const containers = (
        d.Properties as {
          ContainerDefinitions: { Name: string; ResourceRequirements?: { Type: string; Value: string }[] }[];
        }
      ).ContainerDefinitions;
      const runner = containers.find((c) => c.Name === 'runner');
      return runner?.ResourceRequirements?.find((r) => r.Type === 'GPU')?.Value ?? '0';
    })
    .sort();

describe('API', () => {
  it('puts IAM authorization on every route but GET /health', () => {
    const routes = t.findResources('AWS::ApiGatewayV2::Route');
    const byKey = Object.values(routes).map(
      (r) => r.Properties as { RouteKey: string; AuthorizationType?: string },
    );
    expect(byKey.length).toBeGreaterThan(15);
    for (const r of byKey) {
      if (r.RouteKey === 'GET /health') expect(r.AuthorizationType ?? 'NONE').toBe('NONE');
      else expect(r.AuthorizationType, r.RouteKey).toBe('AWS_IAM');
    }
  });

  it('outputs the API URL and an invoke policy to attach to callers', () => {
    const outputs = t.toJSON().Outputs as Record<string, { Value: unknown; Description?: string }>;
    expect(Object.values(outputs).some((o) => o.Description === 'trainstack API URL')).toBe(true);
    t.hasResourceProperties('AWS::IAM::ManagedPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Action: 'execute-api:Invoke', Effect: 'Allow' })]),
      },
    });
  });

  it('has access logs and throttling on its stage', () => {
    t.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      AccessLogSettings: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('requestId') },
      DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
    });
  });
});

describe('queue and dispatch', () => {
  it('gives the task queue a dead-letter queue', () => {
    t.hasResourceProperties('AWS::SQS::Queue', {
      RedrivePolicy: { maxReceiveCount: 5, deadLetterTargetArn: Match.anyValue() },
    });
  });

  it('feeds the dispatcher from the queue with partial batch failures', () => {
    t.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });

  it('ticks the dispatcher every minute', () => {
    t.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(1 minute)' });
  });
});

describe('workflow', () => {
  it('is a STANDARD state machine with logging and tracing', () => {
    t.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      LoggingConfiguration: Match.objectLike({ Level: 'ALL' }),
      TracingConfiguration: { Enabled: true },
    });
  });

  it('runs the task on the GPU capacity provider with a per-task timeout', () => {
    const def = definitionOf();
    expect(def).toContain('ecs:runTask.sync');
    expect(def).toContain('"CapacityProviderStrategy":[{"CapacityProvider":"X","Weight":1}]');
    expect(def).toContain('"TimeoutSecondsPath":"$.ctx.timeoutSeconds"');
  });

  it('passes the task id as a pointer, not the spec', () => {
    const def = definitionOf();
    expect(def).toContain('"Name":"TRAINSTACK_TASK_ID","Value.$":"$.taskId"');
    expect(def).not.toContain('$.spec');
  });

  it('loops attempts with a Choice and a Wait, not a Retry count', () => {
    const def = definitionOf();
    expect(def).toContain('"SecondsPath":"$.decision.waitSeconds"');
    expect(def).toMatch(/"StringEquals":"retry","Next":"Backoff"/);
  });

  it('uses JSONPath, not JSONata', () => {
    expect(definitionOf()).not.toContain('JSONata');
  });
});

describe('GPU cluster', () => {
  it('has no NAT gateway', () => {
    t.resourceCountIs('AWS::EC2::NatGateway', 0);
  });

  it('scales the GPU group from zero to four by default', () => {
    t.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', { MinSize: '0', MaxSize: '4' });
  });

  it('uses managed scaling and managed draining', () => {
    t.hasResourceProperties('AWS::ECS::CapacityProvider', {
      AutoScalingGroupProvider: Match.objectLike({
        ManagedScaling: Match.objectLike({ Status: 'ENABLED' }),
        ManagedDraining: 'ENABLED',
      }),
    });
  });

  it('asks for a GPU in the runner task definition and logs with awslogs', () => {
    t.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [
        Match.objectLike({
          ResourceRequirements: [{ Type: 'GPU', Value: '1' }],
          LogConfiguration: Match.objectLike({ LogDriver: 'awslogs' }),
        }),
      ],
    });
  });

  it('has a CPU-only runner task definition, so tasks without GPUs reserve none', () => {
    // CPU, the agent (CPU) and one GPU; and own images at CPU and one GPU
    expect(gpuCounts(t)).toEqual(['0', '0', '0', '1', '1']);
  });

  it('runs each task on the smallest task definition that holds its GPUs', () => {
    const def = definitionOf();
    expect(def).toContain('"Variable":"$.ctx.gpus","NumericLessThanEquals":0,"Next":"RunTaskCpu"');
    expect(def).toContain('"Variable":"$.ctx.gpus","NumericLessThanEquals":1,"Next":"RunTask1Gpu"');
    const big = templateOf({ gpusPerInstance: 4, instanceTypes: 'g5.12xlarge' });
    // 0, 1, 2, 4 GPUs, the agent's, and own images at 0, 1, 2, 4
    expect(Object.keys(big.findResources('AWS::ECS::TaskDefinition'))).toHaveLength(9);
  });

  it('tells every function that touches the counters, and the runner, over how many shards they are spread', () => {
    const shardsOf = (tpl: ReturnType<typeof templateOf>) => {
      const fns = Object.values(tpl.findResources('AWS::Lambda::Function'))
        .map(
          (f) =>
            (f.Properties as { Environment?: { Variables?: Record<string, unknown> } }).Environment
              ?.Variables,
        )
        .filter((v) => v?.TABLE_NAME !== undefined)
        .map((v) => v?.STATS_SHARDS);
      const runners = Object.values(tpl.findResources('AWS::ECS::TaskDefinition')).flatMap((d) =>
        (
          d.Properties as { ContainerDefinitions: { Environment?: { Name: string; Value: unknown }[] }[] }
        ).ContainerDefinitions.flatMap((c) =>
          (c.Environment ?? []).filter((e) => e.Name === 'TRAINSTACK_TABLE').length
            ? [(c.Environment ?? []).find((e) => e.Name === 'TRAINSTACK_STATS_SHARDS')?.Value]
            : [],
        ),
      );
      return { fns, runners };
    };
    const byDefault = shardsOf(t);
    // the API, dispatcher, workflow step and events functions; every runner task definition
    expect(byDefault.fns).toHaveLength(4);
    expect(new Set(byDefault.fns)).toEqual(new Set(['8']));
    expect(byDefault.runners.length).toBeGreaterThan(4);
    expect(new Set(byDefault.runners)).toEqual(new Set(['8']));
    const set = shardsOf(templateOf({ statsShards: 16 }));
    expect(new Set([...set.fns, ...set.runners])).toEqual(new Set(['16']));
    expect(() => templateOf({ statsShards: 33 })).toThrow(/statsShards must be a whole number from 1 to 32/);
    expect(() => templateOf({ statsShards: 0 })).toThrow(/statsShards/);
  });

  it('takes the GPUs a task may have from the instance types (seed 000\'s gpu_ids "0,1" fits a g5.12xlarge)', () => {
    const maxGpusOf = (t: ReturnType<typeof templateOf>) =>
      Object.values(t.findResources('AWS::Lambda::Function'))
        .map(
          (f) =>
            (f.Properties as { Environment?: { Variables?: Record<string, string> } }).Environment?.Variables
              ?.MAX_GPUS_PER_TASK,
        )
        .find(Boolean);
    const big = templateOf({ instanceTypes: 'g5.12xlarge' });
    expect(gpuCounts(big)).toEqual(['0', '0', '0', '1', '1', '2', '2', '4', '4']);
    expect(maxGpusOf(big)).toBe('4');
    // the fewest of several types; and an explicit gpusPerInstance wins
    expect(maxGpusOf(templateOf({ instanceTypes: 'g5.12xlarge,g5.xlarge' }))).toBe('1');
    expect(maxGpusOf(templateOf({ instanceTypes: 'g5.48xlarge' }))).toBe('8');
    expect(maxGpusOf(templateOf({ instanceTypes: 'g5.48xlarge', gpusPerInstance: 2 }))).toBe('2');
    expect(maxGpusOf(t)).toBe('1'); // g5.xlarge
  });

  it('runs trajectory tasks on the agent image, whatever their size (unless they name their own image)', () => {
    const def = definitionOf();
    const choices = (
      JSON.parse(def) as { States: Record<string, { Choices?: { Next: string }[] }> }
    ).States.PickTaskSize?.Choices?.map((c) => c.Next);
    // a task's own image first, then the agent's, then the stack's sizes
    expect(choices).toEqual([
      'RunOwnImageCpu',
      'RunOwnImage1Gpu',
      'RunTaskAgent',
      'RunTaskCpu',
      'RunTask1Gpu',
    ]);
    expect(def).toContain(
      '{"And":[{"Variable":"$.ctx.taskDefinition","IsPresent":true},{"Variable":"$.ctx.gpus","NumericLessThanEquals":1}],"Next":"RunOwnImage1Gpu"}',
    );
  });

  it("streams a task's events from a function URL with IAM auth, which the API's invoke policy may call", () => {
    t.hasResourceProperties('AWS::Lambda::Url', { AuthType: 'AWS_IAM', InvokeMode: 'RESPONSE_STREAM' });
    const policy = JSON.stringify(t.findResources('AWS::IAM::ManagedPolicy'));
    expect(policy).toMatch(
      /"Action":"lambda:InvokeFunctionUrl","Condition":\{"StringEquals":\{"lambda:FunctionUrlAuthType":"AWS_IAM"\}\}/,
    );
    expect(Object.keys(t.findOutputs('EventsUrl'))).toEqual(['EventsUrl']);
  });

  it("runs a task's own image with the runner kit an init container copies into a shared volume", () => {
    const own = Object.entries(t.findResources('AWS::ECS::TaskDefinition')).filter(([id]) =>
      id.startsWith('GpuOwnImage'),
    );
    expect(own).toHaveLength(2);
    for (const [id, d] of own) {
      const p = d.Properties as {
        Volumes: { Name: string }[];
        ContainerDefinitions: Record<string, unknown>[];
        ExecutionRoleArn: unknown;
      };
      expect(p.Volumes, id).toEqual([{ Name: 'trainstack-kit' }]);
      const init = p.ContainerDefinitions.find((c) => c.Name === 'runner-kit');
      const runner = p.ContainerDefinitions.find((c) => c.Name === 'runner');
      expect(init, id).toMatchObject({
        Essential: false,
        EntryPoint: ['cp', '-a', `${KIT_SOURCE}/.`, `${KIT_DIR}/`],
        MountPoints: [{ SourceVolume: 'trainstack-kit', ContainerPath: KIT_DIR, ReadOnly: false }],
      });
      expect(runner, id).toMatchObject({
        Essential: true,
        User: '0',
        EntryPoint: [...KIT_ENTRYPOINT],
        DependsOn: [{ ContainerName: 'runner-kit', Condition: 'SUCCESS' }],
        MountPoints: [{ SourceVolume: 'trainstack-kit', ContainerPath: KIT_DIR, ReadOnly: true }],
      });
      // the init container runs the task image, the kit's source; the workload's is swapped per task
      expect(init?.Image, id).toEqual(runner?.Image);
      expect(JSON.stringify(p.ExecutionRoleArn)).toContain('GpuOwnImageExecutionRole');
    }
    // the start step learns the templates and the family prefix, and may register and pass only its roles
    const step = Object.values(t.findResources('AWS::Lambda::Function')).find((f) =>
      JSON.stringify(f).includes('OWN_IMAGE_TEMPLATES'),
    );
    const vars =
      (step?.Properties as { Environment: { Variables: Record<string, unknown> } } | undefined)?.Environment
        .Variables ?? {};
    expect(vars.OWN_IMAGE_FAMILY_PREFIX).toBe('Trainstack-own-');
    expect(JSON.stringify(vars.OWN_IMAGE_TEMPLATES)).toContain('GpuOwnImage1Gpu');
    const policies = JSON.stringify(t.findResources('AWS::IAM::Policy'));
    expect(policies).toContain('"Sid":"RegisterOwnImageTaskDefinitions"');
    expect(policies).toMatch(
      /"Action":"iam:PassRole","Condition":\{"StringEquals":\{"iam:PassedToService":"ecs-tasks.amazonaws.com"\}\}/,
    );
    // the workflow runs registered families on this cluster only
    expect(policies).toMatch(/"Action":"ecs:RunTask","Condition":\{"ArnEquals":\{"ecs:cluster":/);
    expect(policies).toContain('task-definition/Trainstack-own-*');
  });

  it('launches g5.xlarge from the ECS GPU AMI', () => {
    t.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({
        InstanceType: 'g5.xlarge',
        MetadataOptions: { HttpTokens: 'required' },
      }),
    });
    const params = JSON.stringify(t.toJSON().Parameters ?? {});
    expect(params).toContain('amazon-linux-2023/gpu');
  });

  it('takes instance types and sizes from context', () => {
    const t2 = templateOf({ instanceTypes: 'g6.xlarge,g5.2xlarge', maxInstances: 8, spot: true });
    t2.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
      MaxSize: '8',
      MixedInstancesPolicy: Match.objectLike({
        InstancesDistribution: Match.objectLike({ OnDemandPercentageAboveBaseCapacity: 0 }),
      }),
    });
  });
});

describe('storage', () => {
  it('encrypts the table and keeps point-in-time recovery', () => {
    t.hasResourceProperties('AWS::DynamoDB::Table', {
      SSESpecification: { SSEEnabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    });
  });

  it('indexes tasks by status and time', () => {
    t.hasResourceProperties('AWS::DynamoDB::Table', {
      GlobalSecondaryIndexes: Match.arrayWith([
        Match.objectLike({
          IndexName: 'byStatus',
          KeySchema: [
            { AttributeName: 'status', KeyType: 'HASH' },
            { AttributeName: 'createdKey', KeyType: 'RANGE' },
          ],
        }),
      ]),
    });
  });

  it('blocks public access, enforces TLS and expires old checkpoints', () => {
    t.hasResourceProperties('AWS::S3::Bucket', {
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([Match.objectLike({ Prefix: 'checkpoints/', ExpirationInDays: 90 })]),
      },
    });
    t.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });
});

describe('observability', () => {
  it('keeps logs for the configured retention', () => {
    const groups = Object.values(t.findResources('AWS::Logs::LogGroup'));
    expect(groups.length).toBeGreaterThan(3);
    for (const g of groups) expect((g.Properties as { RetentionInDays?: number }).RetentionInDays).toBe(30);
    templateOf({ logRetentionDays: 7 }).allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 7 });
  });

  it('alarms on DLQ depth, failed tasks, the oldest queued task and API 5xx', () => {
    const alarms = Object.values(t.findResources('AWS::CloudWatch::Alarm')).map(
      (a) => a.Properties as Record<string, unknown>,
    );
    const metrics = alarms.map((a) => `${a.Namespace}/${a.MetricName}`);
    expect(metrics).toEqual(
      expect.arrayContaining([
        'AWS/SQS/ApproximateNumberOfMessagesVisible',
        'Trainstack/TasksFailed',
        'Trainstack/OldestQueuedTaskSeconds',
        'AWS/ApiGateway/5xx',
      ]),
    );
    for (const a of alarms) expect(a.AlarmActions).toHaveLength(1);
  });

  it('runs every function on Node 22+ arm64 with a JSON logger', () => {
    const fns = Object.values(t.findResources('AWS::Lambda::Function')).map(
      (f) => f.Properties as Record<string, unknown>,
    );
    const ours = fns.filter((f) => String(JSON.stringify(f.Environment)).includes('POWERTOOLS_SERVICE_NAME'));
    expect(ours).toHaveLength(4); // API, dispatcher, workflow step, events
    for (const f of ours) {
      expect(f.Architectures).toEqual(['arm64']);
      expect(String(f.Runtime)).toMatch(/^nodejs(2[2-9]|[3-9]\d)\.x$/);
    }
  });
});

describe('the web dashboard', () => {
  const one = (type: string) => {
    const all = Object.entries(t.findResources(type));
    expect(all, type).toHaveLength(1);
    return all[0] as [string, { Properties: Record<string, unknown> }];
  };

  it('is a private bucket behind CloudFront (origin access control, HTTPS only, a content security policy)', () => {
    // the site's own bucket (other buckets of the stack have the same settings, and would match too)
    const site = Object.entries(t.findResources('AWS::S3::Bucket')).find(([id]) =>
      id.startsWith('WebSite'),
    )?.[1] as { Properties: Record<string, unknown> } | undefined;
    expect(site?.Properties.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(site?.Properties.LoggingConfiguration).toBeTruthy();
    const [, cdn] = one('AWS::CloudFront::Distribution');
    const config = cdn.Properties.DistributionConfig as {
      DefaultRootObject: string;
      DefaultCacheBehavior: { ViewerProtocolPolicy: string; AllowedMethods?: string[] };
      Origins: { OriginAccessControlId?: unknown; S3OriginConfig?: { OriginAccessIdentity: string } }[];
      Logging?: unknown;
    };
    expect(config.DefaultRootObject).toBe('index.html');
    expect(config.DefaultCacheBehavior.ViewerProtocolPolicy).toBe('redirect-to-https');
    expect(config.Origins[0]?.OriginAccessControlId).toBeTruthy();
    expect(config.Logging).toBeTruthy();
    const [, headers] = one('AWS::CloudFront::ResponseHeadersPolicy');
    const csp = (
      headers.Properties.ResponseHeadersPolicyConfig as {
        SecurityHeadersConfig: { ContentSecurityPolicy: { ContentSecurityPolicy: unknown } };
      }
    ).SecurityHeadersConfig.ContentSecurityPolicy.ContentSecurityPolicy;
    const text = JSON.stringify(csp);
    expect(text).toContain("script-src 'self'");
    expect(text).toContain("frame-ancestors 'none'");
    expect(text).not.toContain('unsafe-inline');
  });

  it('signs people in through Cognito: invited only, MFA, a public client with the code flow, no guests', () => {
    t.hasResourceProperties('AWS::Cognito::UserPool', {
      AdminCreateUserConfig: { AllowAdminCreateUserOnly: true },
      MfaConfiguration: 'ON',
    });
    const [, client] = one('AWS::Cognito::UserPoolClient');
    expect(client.Properties.GenerateSecret).toBe(false);
    expect(client.Properties.AllowedOAuthFlows).toEqual(['code']);
    expect(JSON.stringify(client.Properties.CallbackURLs)).toContain('DomainName');
    const [, pool] = one('AWS::Cognito::IdentityPool');
    expect(pool.Properties.AllowUnauthenticatedIdentities).toBe(false);
  });

  it("gives a signed-in person the API's invoke policy and nothing else", () => {
    const [, attachment] = one('AWS::Cognito::IdentityPoolRoleAttachment');
    const authRoleId = ((attachment.Properties.Roles as { authenticated: { 'Fn::GetAtt': string[] } })
      .authenticated['Fn::GetAtt'] ?? [])[0];
    const role = t.findResources('AWS::IAM::Role')[authRoleId ?? ''] as {
      Properties: { ManagedPolicyArns?: { Ref: string }[]; Policies?: unknown[] };
    };
    const [invokeId] = Object.keys(t.findResources('AWS::IAM::ManagedPolicy')).filter((id) =>
      id.includes('InvokePolicy'),
    );
    expect(role.Properties.ManagedPolicyArns).toEqual([{ Ref: invokeId }]);
    expect(role.Properties.Policies ?? []).toEqual([]);
    const inline = Object.values(t.findResources('AWS::IAM::Policy')).filter((p) =>
      JSON.stringify((p.Properties as { Roles?: unknown }).Roles ?? []).includes(authRoleId ?? '-'),
    );
    expect(inline).toEqual([]);
  });

  it('lets the browser call the API and the events URL from its origin only, and is configured by config.json', () => {
    const [, api] = one('AWS::ApiGatewayV2::Api');
    const cors = api.Properties.CorsConfiguration as { AllowOrigins: unknown[]; AllowHeaders: string[] };
    expect(JSON.stringify(cors.AllowOrigins)).toContain('DomainName');
    expect(cors.AllowOrigins).toHaveLength(1);
    expect(cors.AllowHeaders).toEqual(
      expect.arrayContaining(['authorization', 'x-amz-date', 'x-amz-security-token']),
    );
    const [, url] = one('AWS::Lambda::Url');
    expect(JSON.stringify((url.Properties.Cors as { AllowOrigins: unknown[] }).AllowOrigins)).toContain(
      'DomainName',
    );
    const [, deploy] = one('Custom::CDKBucketDeployment');
    // the built bundle, and config.json with the API, the events URL and the sign-in
    expect(deploy.Properties.SourceObjectKeys).toHaveLength(2);
    const markers = JSON.stringify(deploy.Properties.SourceMarkers);
    for (const ref of ['HttpApi', 'EventsFunctionUrl', 'WebUsers', 'WebIdentities', 'SignIn'])
      expect(markers, ref).toContain(ref);
  });

  it('outputs its URL and user pool under plain names', () => {
    const outputs = t.toJSON().Outputs as Record<string, unknown>;
    expect(Object.keys(outputs)).toEqual(
      expect.arrayContaining(['WebUrl', 'WebUserPoolId', 'ApiUrl', 'InvokePolicyArn']),
    );
  });

  it('is left out with context dashboard=false', () => {
    const without = templateOf({ dashboard: 'false' });
    expect(Object.keys(without.findResources('AWS::CloudFront::Distribution'))).toEqual([]);
    expect(Object.keys(without.findResources('AWS::Cognito::UserPool'))).toEqual([]);
    expect(
      without.findResources('AWS::ApiGatewayV2::Api') as Record<string, { Properties: object }>,
    ).toBeTruthy();
  });
});
