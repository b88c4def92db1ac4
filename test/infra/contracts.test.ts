/**
 * The cross-boundary contracts against what the stack synthesizes: the state machine sends only the
 * step payloads the workflow-step function accepts and reads only result fields it answers, and the
 * runner's task definitions and overrides use only the runner's variables.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { RUNNER_ENV, WORKLOAD_ENV } from '../../lambdas/contracts/runner-env.ts';
import { CONTEXT_KEYS, DECISION_KEYS, PATH, STEP } from '../../lambdas/contracts/workflow-step.ts';
import {
  localNames,
  resourcesOfType,
  stateMachineDefinition,
  type Template,
} from '../../lib/local/template.ts';
import { templateOf } from '../support/app.ts';

type State = {
  Type: string;
  Resource?: string;
  Parameters?: Record<string, unknown>;
  ResultPath?: string;
};
let template: Template;
let states: Record<string, State>;
let text: string;

beforeAll(() => {
  template = templateOf({ gpusPerInstance: 4 }).toJSON() as Template;
  const { definition } = stateMachineDefinition(template, localNames(template, 'us-east-1', 'http://x'));
  states = definition.States as Record<string, State>;
  text = JSON.stringify(definition);
});

/** Lambda Task states (payloadResponseOnly: the Resource is the function and Parameters the payload). */
const lambdaStates = () =>
  Object.entries(states).filter(([, s]) => s.Type === 'Task' && s.Resource?.includes(':function:'));
const payload = (s: State) => s.Parameters as { action: string } & Record<string, unknown>;

describe('the workflow-step contract', () => {
  it('every step the state machine invokes sends a known action, the task id and its execution', () => {
    const actions = lambdaStates().map(([, s]) => payload(s).action);
    expect(new Set(actions)).toEqual(new Set(Object.values(STEP)));
    // the execution's name tells a step of the current run from a stale one (lambdas/domain/runs.ts)
    for (const [name, s] of lambdaStates())
      expect(payload(s), name).toMatchObject({ 'taskId.$': PATH.taskId, 'execution.$': '$$.Execution.Name' });
  });

  it('keeps the start answer at $.ctx and the decisions at $.decision', () => {
    for (const [name, s] of lambdaStates()) {
      const action = payload(s).action;
      expect(s.ResultPath, name).toBe(action === STEP.start ? PATH.ctx : PATH.decision);
    }
  });

  it('reads only fields the step answers', () => {
    const ctx = [...text.matchAll(/\$\.ctx\.(\w+)/g)].map((m) => m[1]);
    const decision = [...text.matchAll(/\$\.decision\.(\w+)/g)].map((m) => m[1]);
    expect(ctx.length).toBeGreaterThan(3);
    expect(decision.length).toBeGreaterThan(1);
    for (const f of ctx) expect(CONTEXT_KEYS).toContain(f);
    for (const f of decision) expect(DECISION_KEYS).toContain(f);
  });

  it('passes the failure to the failed step from where the catches put it', () => {
    const failed = lambdaStates().find(([, s]) => payload(s).action === STEP.failed);
    expect(failed?.[1].Parameters).toMatchObject({ 'error.$': PATH.error });
    expect(text).toContain(`"ResultPath":"${PATH.error}"`);
  });
});

describe('the runner environment contract', () => {
  // the runner's variables, and the region its SDK clients need (containers cannot ask the instance)
  // (and, in own-image task definitions, where inputs go: the task image's ENV says so for the others)
  const known = new Set<string>([...Object.values(RUNNER_ENV), 'AWS_REGION', WORKLOAD_ENV.inputDir]);

  it('the task definitions set only runner variables, and all that the runner needs from them', () => {
    const defs = resourcesOfType(template, 'AWS::ECS::TaskDefinition');
    expect(defs.length).toBeGreaterThan(1);
    for (const [id, p] of defs) {
      const names = (p.ContainerDefinitions as { Environment?: { Name: string }[] }[]).flatMap((c) =>
        (c.Environment ?? []).map((e) => e.Name),
      );
      for (const n of names) expect(known, `${id}: ${n}`).toContain(n);
      expect(names, id).toEqual(
        expect.arrayContaining([RUNNER_ENV.table, RUNNER_ENV.bucket, RUNNER_ENV.dataRoleArn, 'AWS_REGION']),
      );
    }
  });

  it('each RunTask passes the task id and the attempt as runner variables', () => {
    const runTasks = Object.entries(states).filter(([, s]) => s.Resource?.includes(':ecs:runTask'));
    // the agent, CPU, 1, 2 and 4 GPUs; and a task's own image at CPU, 1, 2 and 4 GPUs
    expect(runTasks.map(([n]) => n).sort()).toEqual(
      [
        'RunTaskAgent',
        'RunTaskCpu',
        'RunTask1Gpu',
        'RunTask2Gpu',
        'RunTask4Gpu',
        'RunOwnImageCpu',
        'RunOwnImage1Gpu',
        'RunOwnImage2Gpu',
        'RunOwnImage4Gpu',
      ].sort(),
    );
    for (const [name, s] of runTasks) {
      const overrides = s.Parameters?.Overrides as
        | { ContainerOverrides: { Environment: { Name: string }[] }[] }
        | undefined;
      const env = overrides?.ContainerOverrides.flatMap((c) => c.Environment.map((e) => e.Name));
      expect(env, name).toEqual([RUNNER_ENV.taskId, RUNNER_ENV.attempt]);
    }
  });

  it('runs CPU-only tasks on Fargate (public IP, no GPU instance) and GPU tasks on the GPU capacity provider', () => {
    const runTasks = Object.entries(states).filter(([, s]) => s.Resource?.includes(':ecs:runTask'));
    for (const [name, s] of runTasks) {
      const p = s.Parameters ?? {};
      if (name === 'RunTaskCpu' || name === 'RunTaskAgent' || name === 'RunOwnImageCpu') {
        expect(p.LaunchType, name).toBe('FARGATE');
        expect(p.CapacityProviderStrategy, name).toBeUndefined();
        expect(p.NetworkConfiguration, name).toMatchObject({
          AwsvpcConfiguration: { AssignPublicIp: 'ENABLED' },
        });
      } else {
        expect(p.LaunchType, name).toBeUndefined();
        expect(JSON.stringify(p.CapacityProviderStrategy), name).toContain('CapacityProvider');
      }
    }
    const defs = resourcesOfType(template, 'AWS::ECS::TaskDefinition');
    const fargate = defs.filter(([, d]) =>
      JSON.stringify(d.RequiresCompatibilities ?? []).includes('FARGATE'),
    );
    expect(fargate.map(([id]) => id).sort()).toEqual([
      expect.stringMatching(/^GpuOwnImageCpu/),
      expect.stringMatching(/^GpuRunnerAgent/),
      expect.stringMatching(/^GpuRunnerCpu/),
    ]);
    for (const [, d] of fargate)
      expect(d).toMatchObject({ NetworkMode: 'awsvpc', Cpu: '1024', Memory: '4096' });
    for (const [id, d] of defs.filter((x) => !fargate.includes(x)))
      expect(JSON.stringify(d.ContainerDefinitions), id).toContain('"GPU"');
  });
});
