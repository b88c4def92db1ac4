/**
 * The agent runtime's entry point: the workload the runner starts for a trajectory task (the agent
 * image's TRAINSTACK_AGENT_COMMAND). It reads the task's parameters and model from its environment,
 * runs the loop (./agent.ts) with the runtime's tools, prints progress lines the runner reads, and
 * writes `trajectory.json` into the outputs, which the runner uploads to `trajectories/<task id>.json`.
 * It exits 0 when the agent reached a final answer, 1 otherwise (the trajectory says why), 77 when
 * the task cannot run here at all (an unknown tool or runtime).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { WORKLOAD_ENV } from '../../../lambdas/contracts/runner-env.ts';
import { type AgentModel, runAgent } from './agent.ts';
import { loadPlugins, selectTools } from './registry.ts';
import { DEFAULT_PYTHON_LIMITS, seccompAvailable } from './tools/python.ts';
import type { Trajectory } from './types.ts';

const EXIT_UNRUNNABLE = 77;

interface Params {
  taskType: string;
  description: string;
  expectedTools?: string[];
  maxSteps?: number;
  runtime?: string;
  taskId?: string;
  allowNetwork?: boolean;
  toolTimeoutSeconds?: number;
  temperature?: number;
  maxTokens?: number;
}

const env = process.env;
const log = (m: string) => process.stdout.write(`[agent] ${m}\n`);
const progress = (p: number, metrics: Record<string, number>) =>
  process.stdout.write(`##trainstack ${JSON.stringify({ progress: p, metrics })}\n`);

function required(name: string): string {
  const v = env[name];
  if (!v) {
    process.stderr.write(`[agent] ${name} is not set: this program runs under the trainstack runner\n`);
    process.exit(EXIT_UNRUNNABLE);
  }
  return v;
}

const taskId = required(WORKLOAD_ENV.taskId);
const outputDir = required(WORKLOAD_ENV.outputDir);
mkdirSync(outputDir, { recursive: true });
const params = JSON.parse(required(WORKLOAD_ENV.params)) as Params;
const model = JSON.parse(required(WORKLOAD_ENV.agentModel)) as AgentModel;
const deadline = Number(env[WORKLOAD_ENV.deadline]) || Date.now() + 3_600_000;
const maxSteps = params.maxSteps ?? 10;
const trajectoryFile = path.join(outputDir, 'trajectory.json');

const write = (t: Trajectory) => writeFileSync(trajectoryFile, `${JSON.stringify(t, null, 2)}\n`);

/** A trajectory for a run that could not start, so every task still leaves one. */
function setupFailure(error: string): never {
  log(error);
  process.stdout.write(`##trainstack ${JSON.stringify({ reason: `the agent cannot run: ${error}` })}\n`);
  write({
    task_id: params.taskId ?? taskId,
    success: false,
    steps: [],
    final_result: null,
    total_duration: 0,
    metadata: {
      runtime_id: `trainstack-${params.runtime ?? params.taskType}`,
      runtime: params.runtime ?? params.taskType,
      trainstack_task_id: taskId,
      model: model.name,
      tools: [],
      max_steps: maxSteps,
      prompt_tokens: 0,
      completion_tokens: 0,
      model_calls: 0,
      finish_reason: 'setup_error',
      error,
    },
  });
  process.exit(EXIT_UNRUNNABLE);
}

const plugins = await loadPlugins(env.TRAINSTACK_AGENT_PLUGINS).catch((e: Error) =>
  setupFailure(`a plug-in could not be loaded: ${e.message}`),
);
const picked = selectTools(params.runtime ?? params.taskType, params.expectedTools ?? [], plugins, {
  searchUrl: env.TRAINSTACK_SEARCH_URL,
  toolTimeoutSeconds: params.toolTimeoutSeconds,
});
if ('error' in picked) setupFailure(picked.error);

if (picked.tools.some((t) => t.name === 'python_executor') && !seccompAvailable(DEFAULT_PYTHON_LIMITS.python))
  log('python3-seccomp is not installed: code is kept off the network inside Python only');

const stop = new AbortController();
for (const s of ['SIGTERM', 'SIGINT'] as const)
  process.once(s, () => {
    log(`${s}: ending the run and writing the trajectory`);
    stop.abort();
  });

const scratchDir = mkdtempSync(path.join(tmpdir(), 'trainstack-agent-'));
log(
  `${picked.runtime.id} runtime, model ${model.name}, tools ${picked.tools.map((t) => t.name).join(', ')}, at most ${maxSteps} steps`,
);
const trajectory = await runAgent(
  {
    taskId,
    trajectoryId: params.taskId ?? taskId,
    description: params.description,
    maxSteps,
    allowNetwork: params.allowNetwork ?? false,
    ...(params.temperature !== undefined ? { temperature: params.temperature } : {}),
    ...(params.maxTokens !== undefined ? { maxTokens: params.maxTokens } : {}),
  },
  {
    model,
    ...(env[WORKLOAD_ENV.agentApiKey] ? { apiKey: env[WORKLOAD_ENV.agentApiKey] } : {}),
    runtime: picked.runtime,
    tools: picked.tools,
    scratchDir,
    outputDir,
    // end a little before the task's timeout, so the trajectory is written before the kill
    deadline: deadline - 5_000,
    signal: stop.signal,
    log,
    onStep: (t) => {
      write(t);
      progress(Math.min(99, Math.round((t.steps.length / maxSteps) * 100)), {
        steps: t.steps.length,
        promptTokens: t.metadata.prompt_tokens,
        completionTokens: t.metadata.completion_tokens,
      });
    },
  },
);
write(trajectory);
rmSync(scratchDir, { recursive: true, force: true });
progress(100, {
  steps: trajectory.steps.length,
  promptTokens: trajectory.metadata.prompt_tokens,
  completionTokens: trajectory.metadata.completion_tokens,
  success: trajectory.success ? 1 : 0,
});
log(
  trajectory.success
    ? `final answer after ${trajectory.steps.length} step(s) in ${trajectory.total_duration} s`
    : `no final answer (${trajectory.metadata.finish_reason}): ${trajectory.metadata.error ?? ''}`,
);
if (!trajectory.success)
  process.stdout.write(
    `##trainstack ${JSON.stringify({ reason: `the agent: ${trajectory.metadata.error ?? trajectory.metadata.finish_reason}` })}\n`,
  );
process.exit(trajectory.success ? 0 : 1);
