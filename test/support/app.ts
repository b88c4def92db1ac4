/** A test App with the project's feature flags and no bundling, as FACTS.md recommends for fast CDK tests. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll } from 'vitest';
import { type BuildOptions, buildApp } from '../../lib/app.ts';
import { cdkContext } from '../../lib/local/synth.ts';
import type { TrainstackStack } from '../../lib/trainstack-stack.ts';

/** A concrete account and region, with the availability zones `cdk deploy` would look up. */
export const CONCRETE_ENV = { account: '123456789012', region: 'us-east-1' };
export const CONCRETE_CONTEXT = {
  [`availability-zones:account=${CONCRETE_ENV.account}:region=${CONCRETE_ENV.region}`]: [
    'us-east-1a',
    'us-east-1b',
    'us-east-1c',
  ],
};

/** One cloud-assembly folder for a test file's apps, removed after the file (the hook is the file's). */
let outdir: string | undefined;
function sharedOutdir(): string {
  outdir ??= mkdtempSync(path.join(tmpdir(), 'trainstack-test-'));
  return outdir;
}
afterAll(() => {
  if (outdir) rmSync(outdir, { recursive: true, force: true });
  outdir = undefined;
});

export function testApp(context: Record<string, unknown> = {}, opts: BuildOptions = {}) {
  const app = new App({
    outdir: sharedOutdir(),
    context: { ...cdkContext(), ...context, 'aws:cdk:bundling-stacks': [] },
    builtinCloudFormationValidation: false,
  });
  const stack: TrainstackStack = buildApp(app, { ...opts, nag: opts.nag ?? false });
  return { app, stack };
}

export function templateOf(context: Record<string, unknown> = {}) {
  const { stack } = testApp(context);
  return Template.fromStack(stack);
}
