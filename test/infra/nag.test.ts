import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { describe, expect, it } from 'vitest';
import { testApp } from '../support/app.ts';

describe('cdk-nag AwsSolutions', () => {
  it('finds nothing that is not acknowledged with a reason', () => {
    const { app } = testApp({}, { nag: true });
    expect(() => app.synth()).not.toThrow();
  });

  it('fails on a new wildcard permission nobody acknowledged', () => {
    const { app, stack } = testApp({}, { nag: true });
    stack.apiFunction.addToRolePolicy(new PolicyStatement({ actions: ['s3:*'], resources: ['*'] }));
    expect(() => app.synth()).toThrow(/IAM5|Validation/);
  });
});
