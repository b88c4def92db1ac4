/** Builds the stack into an App, with cdk-nag's AwsSolutions checks and their written acknowledgements. */
import { type App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { readConfig } from './config.ts';
import { acknowledgeNagFindings } from './nag.ts';
import { TrainstackStack } from './trainstack-stack.ts';

export const STACK_NAME = 'Trainstack';

export function buildApp(app: App, opts: { nag?: boolean } = {}): TrainstackStack {
  const stack = new TrainstackStack(app, STACK_NAME, {
    config: readConfig(app.node),
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
    description: 'trainstack: serverless GPU jobs (API, queue, Step Functions, ECS on GPU EC2)',
  });
  acknowledgeNagFindings(stack);
  if (opts.nag !== false) Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  return stack;
}
