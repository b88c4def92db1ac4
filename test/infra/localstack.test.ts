/**
 * The LocalStack target (`-c target=localstack`): a template LocalStack Community deploys as it is.
 * Every resource is of a type it creates, every reference names a resource in the template, the
 * AwsSolutions checks still pass, and the workflow fails tasks with a reason instead of running them.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { NO_COMPUTE_ERROR } from '../../lambdas/contracts/workflow-step.ts';
import { localNames, stateMachineDefinition, type Template } from '../../lib/local/template.ts';
import { NO_COMPUTE_CAUSE, STATE } from '../../lib/workflow.ts';
import { testApp } from '../support/app.ts';

/**
 * Types LocalStack Community (4.x) creates through CloudFormation, as a deploy of this stack there
 * showed: DynamoDB, S3, SQS, Lambda, Step Functions, IAM, CloudWatch Logs and alarms, SNS and
 * EventBridge. (ECR, ECS, Auto Scaling and API Gateway v2 become no-ops whose Ref is `unknown`.)
 */
const LOCALSTACK_COMMUNITY_TYPES = new Set([
  'AWS::CDK::Metadata',
  'AWS::DynamoDB::Table',
  'AWS::S3::Bucket',
  'AWS::S3::BucketPolicy',
  'AWS::SQS::Queue',
  'AWS::SQS::QueuePolicy',
  'AWS::Lambda::Function',
  'AWS::Lambda::EventSourceMapping',
  'AWS::Lambda::Permission',
  'AWS::StepFunctions::StateMachine',
  'AWS::IAM::Role',
  'AWS::IAM::Policy',
  'AWS::IAM::ManagedPolicy',
  'AWS::Logs::LogGroup',
  'AWS::Logs::MetricFilter',
  'AWS::CloudWatch::Alarm',
  'AWS::CloudWatch::Dashboard',
  'AWS::SNS::Topic',
  'AWS::SNS::TopicPolicy',
  'AWS::Events::Rule',
]);
const PSEUDO = /^AWS::(AccountId|Region|Partition|URLSuffix|StackName|StackId|NoValue)$/;

let template: Template & { Outputs?: Record<string, unknown>; Conditions?: Record<string, unknown> };

/** Every logical id a Ref, Fn::GetAtt or Fn::Sub in `value` names. */
function references(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) references(v, out);
  else if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (typeof o.Ref === 'string') out.push(o.Ref);
    const att = o['Fn::GetAtt'];
    if (Array.isArray(att) && typeof att[0] === 'string') out.push(att[0]);
    const sub = o['Fn::Sub'];
    const text = Array.isArray(sub) ? sub[0] : sub;
    if (typeof text === 'string')
      for (const m of text.matchAll(/\$\{([^}.!]+)[^}]*\}/g)) if (m[1]) out.push(m[1]);
    for (const v of Object.values(o)) references(v, out);
  }
  return out;
}

beforeAll(() => {
  const { app, stack } = testApp({ target: 'localstack' }, { nag: true });
  app.synth(); // the AwsSolutions checks throw on an unacknowledged finding
  template = app.synth().getStackByName(stack.stackName).template as typeof template;
});

describe('the LocalStack target', () => {
  it('uses only resource types LocalStack Community creates', () => {
    const types = [...new Set(Object.values(template.Resources).map((r) => r.Type))];
    expect(types.filter((t) => !LOCALSTACK_COMMUNITY_TYPES.has(t))).toEqual([]);
    expect(types).toEqual(
      expect.arrayContaining(['AWS::DynamoDB::Table', 'AWS::StepFunctions::StateMachine']),
    );
  });

  it('refers to no resource that is not in the template, in resources or outputs', () => {
    const known = new Set([
      ...Object.keys(template.Resources),
      ...Object.keys((template as { Parameters?: object }).Parameters ?? {}),
    ]);
    const dangling = references({ r: template.Resources, o: template.Outputs }).filter(
      (id) => !known.has(id) && !PSEUDO.test(id),
    );
    expect(dangling).toEqual([]);
  });

  it('fails each attempt with the reason instead of running it', () => {
    const { definition } = stateMachineDefinition(template, localNames(template, 'us-east-1', 'http://x'));
    const states = definition.States as Record<string, { Type: string; Resource?: string; Result?: object }>;
    expect(Object.values(states).some((s) => s.Resource?.includes(':ecs:'))).toBe(false);
    expect(states[STATE.noCompute]).toMatchObject({
      Type: 'Pass',
      Result: { Error: NO_COMPUTE_ERROR, Cause: NO_COMPUTE_CAUSE },
    });
  });

  it('outputs what a user reaches it by, with no HTTP API', () => {
    expect(Object.keys(template.Outputs ?? {})).toEqual(
      expect.arrayContaining(['ApiFunctionName', 'BucketName', 'TableName', 'StateMachineArn']),
    );
    expect(Object.keys(template.Outputs ?? {}).some((k) => k.includes('ApiUrl'))).toBe(false);
  });
});

describe('the AWS target', () => {
  it('runs prebuilt images named by taskImage and agentImage instead of building them', () => {
    const image = '123456789012.dkr.ecr.us-east-1.amazonaws.com/trainstack-trainer:1';
    const agent = '123456789012.dkr.ecr.us-east-1.amazonaws.com/trainstack-agent:1';
    const { app, stack } = testApp({ taskImage: image, agentImage: agent });
    const resources = app.synth().getStackByName(stack.stackName).template.Resources as Record<
      string,
      { Type: string; Properties: { ContainerDefinitions?: { Image: unknown }[] } }
    >;
    const images = Object.entries(resources)
      .filter(([, r]) => r.Type === 'AWS::ECS::TaskDefinition')
      .flatMap(([id, r]) => r.Properties.ContainerDefinitions?.map((c) => [id, c.Image] as const) ?? []);
    expect(images.length).toBeGreaterThan(2);
    for (const [id, i] of images) expect(i, id).toBe(id.includes('RunnerAgent') ? agent : image);
    expect(images.filter(([id]) => id.includes('RunnerAgent'))).toHaveLength(1);
  });

  it('outputs the API URL, the invoke policy, the bucket and the dashboard URL', () => {
    const { app, stack } = testApp();
    const outputs = Object.keys(app.synth().getStackByName(stack.stackName).template.Outputs ?? {});
    for (const key of ['ApiUrl', 'InvokePolicyArn', 'BucketName', 'DashboardUrl'])
      expect(
        outputs.some((o) => o.includes(key)),
        key,
      ).toBe(true);
  });
});
