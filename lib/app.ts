/** Builds the stack into an App, with cdk-nag's AwsSolutions checks and their written acknowledgements. */
import { type App, type Environment, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { readConfig } from './config.ts';
import { acknowledgeNagFindings } from './nag.ts';
import { TrainstackStack } from './trainstack-stack.ts';

export const STACK_NAME = 'Trainstack';

export interface BuildOptions {
  /** Run the cdk-nag AwsSolutions checks. @default true */
  readonly nag?: boolean;
  /** The account and region. @default CDK_DEFAULT_ACCOUNT and CDK_DEFAULT_REGION, as the CDK CLI sets them */
  readonly env?: Environment;
}

export function buildApp(app: App, opts: BuildOptions = {}): TrainstackStack {
  const stack = new TrainstackStack(app, STACK_NAME, {
    config: readConfig(app.node),
    env: opts.env ?? { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
    description: 'trainstack: serverless GPU jobs (API, queue, Step Functions, ECS on GPU EC2)',
  });
  acknowledgeNagFindings(stack);
  if (opts.nag !== false) Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  return stack;
}
