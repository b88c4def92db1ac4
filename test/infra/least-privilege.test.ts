/** The stack's IAM and host settings that keep tasks and functions to what they do. */
import { beforeAll, describe, expect, it } from 'vitest';
import { testApp } from '../support/app.ts';

type Statement = { Action: string | string[]; Effect: string; Resource: unknown };
type Resource = { Type: string; Properties: Record<string, unknown> };
let resources: Record<string, Resource>;

beforeAll(() => {
  const { app, stack } = testApp({}, { nag: true });
  resources = app.synth().getStackByName(stack.stackName).template.Resources;
});

/** The statements of the policies attached to roles whose logical id starts with `prefix`. */
function statementsOf(prefix: string, of = resources): Statement[] {
  const roles = Object.keys(of).filter((id) => id.startsWith(prefix) && of[id]?.Type === 'AWS::IAM::Role');
  expect(roles.length, prefix).toBeGreaterThan(0);
  return Object.values(of)
    .filter((r) => r.Type === 'AWS::IAM::Policy')
    .filter((r) => (r.Properties.Roles as { Ref: string }[]).some((ref) => roles.includes(ref.Ref)))
    .flatMap((r) => (r.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}
const actionList = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);
/** Every action the policies attached to roles whose logical id starts with `prefix` allow. */
function actionsOf(prefix: string): string[] {
  return statementsOf(prefix).flatMap(actionList);
}
/** The resources every statement allowing `action` names, as JSON (intrinsics included). */
function resourcesFor(prefix: string, action: string, of = resources): string[] {
  return statementsOf(prefix, of)
    .filter((s) => actionList(s).includes(action))
    .flatMap((s) => (Array.isArray(s.Resource) ? s.Resource : [s.Resource]))
    .map((r) => JSON.stringify(r));
}

describe('least privilege', () => {
  it.each(['ApiHandler', 'DispatchDispatcher', 'WorkflowStep', 'GpuDataRole'])(
    '%s can neither delete task records nor objects, nor use wildcard table actions',
    (role) => {
      const actions = actionsOf(role);
      expect(actions.some((a) => a.startsWith('dynamodb:'))).toBe(true);
      expect(
        actions.filter((a) => /^dynamodb:(DeleteItem|BatchWriteItem|\*)|^s3:(DeleteObject|\*)/.test(a)),
      ).toEqual([]);
    },
  );

  it('the runner reads and updates records but cannot create, query or scan them', () => {
    const dynamo = actionsOf('GpuDataRole').filter((a) => a.startsWith('dynamodb:'));
    expect(dynamo.sort()).toEqual(['dynamodb:ConditionCheckItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem']);
  });

  it('the task role can only assume the data role, and only the task role can assume it', () => {
    const statements = statementsOf('GpuTaskRole');
    expect(statements.flatMap(actionList)).toEqual(['sts:AssumeRole']);
    expect(JSON.stringify(statements[0]?.Resource)).toMatch(
      /^\{"Fn::GetAtt":\["GpuDataRole[0-9A-F]+","Arn"\]\}$/,
    );
    const dataRole = Object.entries(resources).find(
      ([id, r]) => id.startsWith('GpuDataRole') && r.Type === 'AWS::IAM::Role',
    )?.[1];
    const trust = (dataRole?.Properties.AssumeRolePolicyDocument as { Statement?: { Principal: unknown }[] })
      ?.Statement;
    expect(trust).toHaveLength(1);
    expect(JSON.stringify(trust?.[0]?.Principal)).toMatch(
      /^\{"AWS":\{"Fn::GetAtt":\["GpuTaskRole[0-9A-F]+","Arn"\]\}\}$/,
    );
  });

  it('the task role may assume the workload roles the stack allows, and no others', () => {
    const allowed = 'arn:aws:iam::123456789012:role/ml-*';
    const { app, stack } = testApp({ workloadRoleArns: allowed });
    const other = app.synth().getStackByName(stack.stackName).template.Resources as Record<string, Resource>;
    const found = resourcesFor('GpuTaskRole', 'sts:AssumeRole', other);
    expect(found).toContain(JSON.stringify(allowed));
    expect(found).toHaveLength(2); // the data role, and the allowed workload roles
    expect(() => testApp({ workloadRoleArns: 'ml-reader' })).toThrow('not an IAM role ARN');
  });

  it('containers cannot reach the instance metadata service (IMDSv2, one hop)', () => {
    const [lt] = Object.values(resources).filter((r) => r.Type === 'AWS::EC2::LaunchTemplate');
    const data = lt?.Properties.LaunchTemplateData as { MetadataOptions?: object } | undefined;
    expect(data?.MetadataOptions).toMatchObject({
      HttpTokens: 'required',
      HttpPutResponseHopLimit: 1,
    });
  });

  it.each(['ecs:StopTask', 'ecs:DescribeTasks'])(
    'the workflow may %s on tasks of the GPU cluster only',
    (action) => {
      const found = resourcesFor('WorkflowStateMachineRole', action);
      expect(found.length).toBeGreaterThan(0);
      for (const r of found) expect(r).toMatch(/:task\/",\{"Ref":"GpuCluster[0-9A-F]+"\},"\/\*"/);
    },
  );

  it('GPU instances write logs to the task log group only, and carry no policy with ECS agent actions on *', () => {
    for (const action of ['logs:CreateLogStream', 'logs:PutLogEvents']) {
      const found = resourcesFor('GpuInstanceRole', action);
      expect(found).toHaveLength(1);
      expect(found[0]).toMatch(/^\{"Fn::GetAtt":\["GpuTaskLogs[0-9A-F]+","Arn"\]\}$/);
    }
    const role = Object.entries(resources).find(
      ([id, r]) => id.startsWith('GpuInstanceRole') && r.Type === 'AWS::IAM::Role',
    )?.[1];
    expect(JSON.stringify(role?.Properties.ManagedPolicyArns)).not.toContain(
      'AmazonEC2ContainerServiceforEC2Role',
    );
  });

  it("the runner reads secrets under the stack's secretsPrefix only", () => {
    for (const action of ['ssm:GetParameter', 'secretsmanager:GetSecretValue']) {
      const found = resourcesFor('GpuDataRole', action);
      expect(found.length).toBe(2);
      expect(found.join()).toContain(':parameter/trainstack/*');
      expect(found.join()).toContain(':secret:trainstack/*');
    }
    const { app, stack } = testApp({ secretsPrefix: 'ml-team/' });
    const other = app.synth().getStackByName(stack.stackName).template.Resources as Record<string, Resource>;
    const found = resourcesFor('GpuDataRole', 'ssm:GetParameter', other).join();
    expect(found).toContain(':parameter/ml-team/*');
    expect(found).not.toContain('trainstack/');
  });
});
