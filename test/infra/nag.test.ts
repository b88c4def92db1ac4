import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { describe, expect, it } from 'vitest';
import { CONCRETE_CONTEXT, CONCRETE_ENV, testApp } from '../support/app.ts';

describe('cdk-nag AwsSolutions', () => {
  it('finds nothing that is not acknowledged with a reason', () => {
    const { app } = testApp({}, { nag: true });
    expect(() => app.synth()).not.toThrow();
  });

  it('finds nothing unacknowledged for a concrete account and region, as cdk deploy synthesizes', () => {
    const { app, stack } = testApp(CONCRETE_CONTEXT, { nag: true, env: CONCRETE_ENV });
    expect(stack.account).toBe(CONCRETE_ENV.account);
    expect(() => app.synth()).not.toThrow();
  });

  it('accepts workload roles allowed by pattern, which the deployer chose', () => {
    const { app } = testApp({ workloadRoleArns: 'arn:aws:iam::123456789012:role/ml-*' }, { nag: true });
    expect(() => app.synth()).not.toThrow();
  });

  it('fails on a new wildcard permission nobody acknowledged', () => {
    const { app, stack } = testApp({}, { nag: true });
    stack.apiFunction.addToRolePolicy(new PolicyStatement({ actions: ['s3:*'], resources: ['*'] }));
    expect(() => app.synth()).toThrow(/IAM5|Validation/);
  });
});
