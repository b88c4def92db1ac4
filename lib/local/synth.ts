/**
 * Synthesizing the stack for the local cloud: the same app `cdk synth` builds, with no bundling, no
 * Docker and no AWS. The local cloud runs this in a worker thread (`synthInWorker` in `template.ts`);
 * tests and benchmarks call it directly.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { buildApp, STACK_NAME } from '../app.ts';
import { REPO_ROOT } from '../repo.ts';
import type { Template } from './template.ts';

export function cdkContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(path.join(REPO_ROOT, 'cdk.json'), 'utf8')) as {
    context?: Record<string, unknown>;
  };
  return cdkJson.context ?? {};
}

/** Synthesize the stack and return its template, in this thread. */
export function synthTemplate(context: Record<string, unknown> = {}): Template {
  const outdir = mkdtempSync(path.join(tmpdir(), 'trainstack-synth-'));
  try {
    const app = new App({
      outdir,
      context: { ...cdkContext(), ...context, 'aws:cdk:bundling-stacks': [] },
      builtinCloudFormationValidation: false,
    });
    buildApp(app, { nag: false });
    return app.synth().getStackByName(STACK_NAME).template as Template;
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}
