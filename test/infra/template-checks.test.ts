/**
 * The synthesized templates checked the way AWS checks them: cfn-lint (the CloudFormation resource
 * specification and rules) over both targets with zero errors and only the warnings listed below,
 * and each state machine definition against the Amazon States Language schema.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localNames, stateMachineDefinition, type Template } from '../../lib/local/template.ts';
import { testApp } from '../support/app.ts';

const validateAsl = createRequire(import.meta.url)('asl-validator') as (
  definition: object,
  opts?: { checkPaths?: boolean; checkArn?: boolean },
) => { isValid: boolean; errors: { message?: string; path?: string }[] };

/** Warnings accepted, each with its reason. */
const ACCEPTED_WARNINGS: Record<string, string> = {
  W3005:
    'CDK adds a DependsOn on the role next to the GetAtt of its ARN, so the role policy exists before the function or state machine uses it; the redundancy is harmless.',
};

interface Finding {
  Rule: { Id: string };
  Level: string;
  Message: string;
  Filename: string;
}

const TARGETS = { aws: {}, localstack: { target: 'localstack' } } as const;
const dir = mkdtempSync(path.join(tmpdir(), 'trainstack-cfn-lint-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const templates: Record<string, Template> = {};
let findings: Finding[] = [];

beforeAll(() => {
  for (const [name, context] of Object.entries(TARGETS)) {
    const { app, stack } = testApp(context);
    templates[name] = app.synth().getStackByName(stack.stackName).template as Template;
    writeFileSync(path.join(dir, `${name}.json`), JSON.stringify(templates[name]));
  }
  const files = Object.keys(TARGETS).map((n) => path.join(dir, `${n}.json`));
  try {
    findings = JSON.parse(execFileSync('cfn-lint', ['--format', 'json', ...files], { encoding: 'utf8' }));
  } catch (e) {
    // cfn-lint exits non-zero when it finds anything; its findings are still on stdout
    const out = (e as { stdout?: string; code?: string }).stdout;
    if (!out) throw new Error(`cfn-lint did not run (pip install cfn-lint): ${(e as Error).message}`);
    findings = JSON.parse(out);
  }
}, 60_000);

describe('cfn-lint', () => {
  it.each(Object.keys(TARGETS))('finds no error in the %s template', (name) => {
    const errors = findings.filter((f) => f.Level === 'Error' && f.Filename.endsWith(`${name}.json`));
    expect(errors.map((f) => `${f.Rule.Id} ${f.Message}`)).toEqual([]);
  });

  it('warns only of what is accepted with a reason', () => {
    const other = findings.filter((f) => f.Level !== 'Error' && !(f.Rule.Id in ACCEPTED_WARNINGS));
    expect(other.map((f) => `${f.Rule.Id} ${f.Message}`)).toEqual([]);
  });
});

describe('Amazon States Language', () => {
  it.each(Object.keys(TARGETS))('the %s state machine is a valid definition', (name) => {
    const t = templates[name] as Template;
    const { definition } = stateMachineDefinition(t, localNames(t, 'us-east-1', 'http://x'));
    const result = validateAsl(definition, { checkPaths: true, checkArn: true });
    expect(result.errors.map((e) => `${e.path ?? ''} ${e.message ?? JSON.stringify(e)}`)).toEqual([]);
    expect(result.isValid).toBe(true);
  });
});
