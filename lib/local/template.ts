/**
 * The synthesized template is the local cloud's source of truth (`synth.ts` synthesizes it): names,
 * ARNs and the state machine definition are resolved from it for the local endpoint.
 */
import { Worker } from 'node:worker_threads';
import { ENTRY_METADATA } from '../repo.ts';

export type Template = {
  Resources: Record<
    string,
    { Type: string; Properties?: Record<string, unknown>; Metadata?: Record<string, unknown> }
  >;
};

const WORKER = new URL('./synth-worker.mjs', import.meta.url);

/**
 * Synthesize the stack (`synth.ts`) in a worker thread that exits afterwards: the local cloud's
 * process never loads aws-cdk-lib (about 100 MB it would keep for nothing), and it builds the runner's
 * bundles meanwhile. The synthesis's errors are this promise's.
 */
export function synthInWorker(context: Record<string, unknown> = {}): Promise<Template> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER, { execArgv: [], workerData: { context } });
    let settled = false;
    worker.once('message', (m: { template?: Template; error?: { message: string; stack?: string } }) => {
      settled = true;
      if (m.template) resolve(m.template);
      else
        reject(Object.assign(new Error(m.error?.message ?? 'synthesis failed'), { stack: m.error?.stack }));
    });
    worker.once('error', (e) => {
      settled = true;
      reject(e);
    });
    worker.once('exit', (code) => {
      if (!settled) reject(new Error(`the synthesis worker exited (${code}) without a template`));
    });
  });
}

export const ACCOUNT = '000000000000';

/** Types whose `Ref` is the ARN (for the rest it is the name, or a queue's URL). */
const REF_IS_ARN = new Set(['AWS::StepFunctions::StateMachine', 'AWS::ECS::TaskDefinition']);

export interface LocalNames {
  region: string;
  /** logical id -> resource type */
  types: Record<string, string>;
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
  const types: Record<string, string> = {};
  for (const [id, r] of Object.entries(template.Resources)) {
    types[id] = r.Type;
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
        // a task definition is named by its family, as the state machine's RunTask names it
        names[id] = (r.Properties?.Family as string | undefined) ?? base;
        arns[id] = `arn:aws:ecs:${region}:${ACCOUNT}:task-definition/${names[id]}:1`;
        break;
      case 'AWS::Logs::LogGroup':
        names[id] = (r.Properties?.LogGroupName as string | undefined) ?? `/trainstack/${id}`;
        arns[id] = `arn:aws:logs:${region}:${ACCOUNT}:log-group:${names[id]}`;
        break;
      case 'AWS::StepFunctions::StateMachine':
        names[id] = base;
        arns[id] = `arn:aws:states:${region}:${ACCOUNT}:stateMachine:${base}`;
        break;
      case 'AWS::IAM::Role':
        names[id] = base;
        arns[id] = `arn:aws:iam::${ACCOUNT}:role/${base}`;
        break;
      default:
        break;
    }
  }
  return { region, types, names, arns, queueUrls };
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
    // what Ref returns depends on the resource type, as in CloudFormation
    if (n.queueUrls[ref]) return n.queueUrls[ref];
    if (REF_IS_ARN.has(n.types[ref] ?? '')) return n.arns[ref] ?? n.names[ref];
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

/** A Lambda function of the stack, as the local cloud runs it. */
export interface LocalFunction {
  logicalId: string;
  name: string;
  arn: string;
  /** source entry, from the function's `trainstack:entry` metadata, relative to the repository root */
  entry: string;
  /** the exported handler, from `Handler` (`index.handler` -> `handler`) */
  exportName: string;
  /** its own environment variables, resolved to local names */
  environment: Record<string, string>;
}

/**
 * The stack's own functions (those with a source entry in their metadata; CDK's custom-resource
 * functions have none and do not run locally), each with its own environment.
 */
export function functionsOf(t: Template, n: LocalNames): LocalFunction[] {
  const out: LocalFunction[] = [];
  // a function behind a streaming function URL (a task's events) is the local API server's own stream
  const streaming = new Set(
    Object.values(t.Resources)
      .filter((r) => r.Type === 'AWS::Lambda::Url' && r.Properties?.InvokeMode === 'RESPONSE_STREAM')
      .map(
        (r) =>
          (r.Properties?.TargetFunctionArn as { 'Fn::GetAtt'?: string[] } | undefined)?.['Fn::GetAtt']?.[0],
      ),
  );
  for (const [id, r] of Object.entries(t.Resources)) {
    if (r.Type !== 'AWS::Lambda::Function' || streaming.has(id)) continue;
    const entry = r.Metadata?.[ENTRY_METADATA];
    if (typeof entry !== 'string') continue;
    const p = r.Properties ?? {};
    const vars = resolve((p.Environment as { Variables?: object } | undefined)?.Variables ?? {}, n) as Record<
      string,
      unknown
    >;
    out.push({
      logicalId: id,
      name: n.names[id] ?? id,
      arn: n.arns[id] ?? id,
      entry,
      exportName:
        String(p.Handler ?? 'index.handler')
          .split('.')
          .pop() ?? 'handler',
      environment: Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, String(v)])),
    });
  }
  return out;
}

/** The logical id a `Ref` or `Fn::GetAtt` points at. */
export function refOf(value: unknown): string | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const o = value as Record<string, unknown>;
  if (typeof o.Ref === 'string') return o.Ref;
  const att = o['Fn::GetAtt'];
  return Array.isArray(att) && typeof att[0] === 'string' ? att[0] : undefined;
}

/** What the template wires to each function: the queues that feed it, the API that calls it, schedules. */
export function wiring(t: Template) {
  const eventSources = resourcesOfType(t, 'AWS::Lambda::EventSourceMapping').map(([, p]) => ({
    functionId: refOf(p.FunctionName) ?? '',
    queueId: refOf(p.EventSourceArn) ?? '',
    batchSize: typeof p.BatchSize === 'number' ? p.BatchSize : 10,
  }));
  const apiFunctions = new Set(
    resourcesOfType(t, 'AWS::ApiGatewayV2::Integration')
      .map(([, p]) => refOf(p.IntegrationUri))
      .filter((id): id is string => Boolean(id)),
  );
  const schedules = resourcesOfType(t, 'AWS::Events::Rule').flatMap(([, p]) =>
    ((p.Targets as { Arn?: unknown }[] | undefined) ?? []).map((target) => ({
      functionId: refOf(target.Arn) ?? '',
      expression: String(p.ScheduleExpression ?? ''),
    })),
  );
  return { eventSources, apiFunctions: [...apiFunctions], schedules };
}
