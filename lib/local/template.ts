/**
 * The synthesized template is the local cloud's source of truth: the app is synthesized in-process
 * (no bundling, no Docker, no AWS), and names, ARNs and the state machine definition are resolved
 * from it for the local endpoint.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { buildApp, STACK_NAME } from '../app.ts';
import { REPO_ROOT } from '../function.ts';

export type Template = { Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }> };

export function cdkContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(path.join(REPO_ROOT, 'cdk.json'), 'utf8')) as {
    context?: Record<string, unknown>;
  };
  return cdkJson.context ?? {};
}

/** Synthesize the stack and return its template (the same app `cdk synth` builds). */
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

export const ACCOUNT = '000000000000';

export interface LocalNames {
  region: string;
  /** logical id -> physical name (table, queue, bucket, cluster, function, log group, state machine) */
  names: Record<string, string>;
  /** logical id -> ARN */
  arns: Record<string, string>;
  /** logical id -> queue URL */
  queueUrls: Record<string, string>;
}

/** Local physical names: `<stack>-<logicalId>` lower-cased where AWS requires it. */
export function localNames(
  template: Template,
  region: string,
  endpoint: string,
  prefix = 'trainstack',
): LocalNames {
  const names: Record<string, string> = {};
  const arns: Record<string, string> = {};
  const queueUrls: Record<string, string> = {};
  for (const [id, r] of Object.entries(template.Resources)) {
    const base = `${prefix}-${id}`;
    switch (r.Type) {
      case 'AWS::DynamoDB::Table':
        names[id] = base;
        arns[id] = `arn:aws:dynamodb:${region}:${ACCOUNT}:table/${base}`;
        break;
      case 'AWS::SQS::Queue':
        names[id] = base;
        arns[id] = `arn:aws:sqs:${region}:${ACCOUNT}:${base}`;
        queueUrls[id] = `${endpoint}/${ACCOUNT}/${base}`;
        break;
      case 'AWS::S3::Bucket':
        names[id] = base.toLowerCase();
        arns[id] = `arn:aws:s3:::${base.toLowerCase()}`;
        break;
      case 'AWS::Lambda::Function':
        names[id] = base;
        arns[id] = `arn:aws:lambda:${region}:${ACCOUNT}:function:${base}`;
        break;
      case 'AWS::ECS::Cluster':
        names[id] = base;
        arns[id] = `arn:aws:ecs:${region}:${ACCOUNT}:cluster/${base}`;
        break;
      case 'AWS::ECS::CapacityProvider':
        names[id] = base;
        break;
      case 'AWS::ECS::TaskDefinition':
        names[id] = base;
        arns[id] = `arn:aws:ecs:${region}:${ACCOUNT}:task-definition/${base}:1`;
        break;
      case 'AWS::Logs::LogGroup':
        names[id] = (r.Properties?.LogGroupName as string | undefined) ?? `/trainstack/${id}`;
        arns[id] = `arn:aws:logs:${region}:${ACCOUNT}:log-group:${names[id]}`;
        break;
      case 'AWS::StepFunctions::StateMachine':
        names[id] = base;
        arns[id] = `arn:aws:states:${region}:${ACCOUNT}:stateMachine:${base}`;
        break;
      default:
        break;
    }
  }
  return { region, names, arns, queueUrls };
}

/** Resolve an intrinsic (Ref, Fn::GetAtt, Fn::Join, Fn::Select, Fn::Split, pseudo parameters) to a local value. */
export function resolve(value: unknown, n: LocalNames): unknown {
  if (Array.isArray(value)) return value.map((v) => resolve(v, n));
  if (!value || typeof value !== 'object') return value;
  const o = value as Record<string, unknown>;
  if ('Ref' in o) {
    const ref = o.Ref as string;
    if (ref === 'AWS::Region') return n.region;
    if (ref === 'AWS::AccountId') return ACCOUNT;
    if (ref === 'AWS::Partition') return 'aws';
    if (ref === 'AWS::URLSuffix') return 'amazonaws.com';
    if (ref === 'AWS::StackName') return 'Trainstack';
    if (n.queueUrls[ref]) return n.queueUrls[ref];
    if (ref.includes('StateMachine') && n.arns[ref]) return n.arns[ref];
    if (ref.includes('TaskDefinition') || ref.includes('RunnerTask')) return n.arns[ref] ?? n.names[ref];
    return n.names[ref] ?? ref;
  }
  if ('Fn::GetAtt' in o) {
    const [id, attr] = o['Fn::GetAtt'] as [string, string];
    if (attr === 'Arn') return n.arns[id] ?? `arn:aws:local:${n.region}:${ACCOUNT}:${id}`;
    if (attr === 'QueueUrl') return n.queueUrls[id];
    if (attr === 'QueueName' || attr === 'Name') return n.names[id];
    return n.names[id] ?? id;
  }
  if ('Fn::Join' in o) {
    const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
    return (resolve(parts, n) as unknown[]).map(String).join(sep);
  }
  if ('Fn::Select' in o) {
    const [i, list] = o['Fn::Select'] as [number, unknown];
    return (resolve(list, n) as unknown[])[Number(i)];
  }
  if ('Fn::Split' in o) {
    const [sep, s] = o['Fn::Split'] as [string, unknown];
    return String(resolve(s, n)).split(sep);
  }
  if ('Fn::Sub' in o) {
    const sub = o['Fn::Sub'];
    const text = Array.isArray(sub) ? (sub[0] as string) : (sub as string);
    return text.replace(/\$\{([^}]+)\}/g, (_m, k: string) => {
      const [id, attr] = k.split('.');
      return String(attr ? resolve({ 'Fn::GetAtt': [id, attr] }, n) : resolve({ Ref: id }, n));
    });
  }
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, resolve(v, n)]));
}

export function resourcesOfType(t: Template, type: string): [string, Record<string, unknown>][] {
  return Object.entries(t.Resources)
    .filter(([, r]) => r.Type === type)
    .map(([id, r]) => [id, r.Properties ?? {}]);
}

/** The state machine definition as plain ASL, resolved to local names. */
export function stateMachineDefinition(
  t: Template,
  n: LocalNames,
): { logicalId: string; definition: Record<string, unknown> } {
  const [entry] = resourcesOfType(t, 'AWS::StepFunctions::StateMachine');
  if (!entry) throw new Error('the template has no state machine');
  const [logicalId, props] = entry;
  const text = resolve(props.DefinitionString, n) as string;
  return { logicalId, definition: JSON.parse(text) as Record<string, unknown> };
}

/**
 * The environment of the stack's own functions (those with a trainstack Powertools service name),
 * resolved to local names: every function's variables, and which handler file each function runs.
 */
export function functionEnvironment(
  t: Template,
  n: LocalNames,
): { env: Record<string, string>; handlers: Record<string, string> } {
  const env: Record<string, string> = {};
  const handlers: Record<string, string> = {};
  for (const [id, p] of resourcesOfType(t, 'AWS::Lambda::Function')) {
    const vars = (resolve((p.Environment as { Variables?: object } | undefined)?.Variables ?? {}, n) ??
      {}) as Record<string, string>;
    const service = vars.POWERTOOLS_SERVICE_NAME;
    if (!service?.startsWith('trainstack-')) continue;
    for (const [k, v] of Object.entries(vars))
      if (k !== 'POWERTOOLS_SERVICE_NAME' && k !== 'NODE_OPTIONS') env[k] = String(v);
    handlers[id] = service.slice('trainstack-'.length);
  }
  return { env, handlers };
}
