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

/** Every action the policies attached to roles whose logical id starts with `prefix` allow. */
function actionsOf(prefix: string): string[] {
  const roles = Object.keys(resources).filter(
    (id) => id.startsWith(prefix) && resources[id]?.Type === 'AWS::IAM::Role',
  );
  expect(roles.length, prefix).toBeGreaterThan(0);
  return Object.values(resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy')
    .filter((r) => (r.Properties.Roles as { Ref: string }[]).some((ref) => roles.includes(ref.Ref)))
    .flatMap((r) => (r.Properties.PolicyDocument as { Statement: Statement[] }).Statement)
    .flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));
}

describe('least privilege', () => {
  it.each(['ApiHandler', 'DispatchDispatcher', 'WorkflowStep', 'GpuTaskRole'])(
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
    const dynamo = actionsOf('GpuTaskRole').filter((a) => a.startsWith('dynamodb:'));
    expect(dynamo.sort()).toEqual(['dynamodb:ConditionCheckItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem']);
  });

  it('containers cannot reach the instance metadata service (IMDSv2, one hop)', () => {
    const [lt] = Object.values(resources).filter((r) => r.Type === 'AWS::EC2::LaunchTemplate');
    const data = lt?.Properties.LaunchTemplateData as { MetadataOptions?: object } | undefined;
    expect(data?.MetadataOptions).toMatchObject({
      HttpTokens: 'required',
      HttpPutResponseHopLimit: 1,
    });
  });
});
