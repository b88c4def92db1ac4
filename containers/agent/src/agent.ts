/**
 * The agent loop: ask the model for the next action through the OpenAI-compatible chat-completions
 * API with tools (function calling), run the tool, feed the observation back, and stop at a final
 * answer (a turn that calls no tool), at `maxSteps` actions, or at the deadline. Every action is a
 * step of the trajectory, failed ones included (malformed arguments, an unknown tool, a tool that
 * timed out); the run goes on after a failed step, and the model sees why it failed.
 */
import { AbortError } from 'p-retry';
import { postJson, withRetries } from '../../runner/src/openai.ts';
import type { AgentRuntime, AgentTool, FinishReason, Trajectory, TrajectoryStep } from './types.ts';

export interface AgentModel {
  name: string;
  baseUrl: string;
  model: string;
  defaults?: { maxTokens?: number; temperature?: number };
}

export interface AgentTask {
  /** the trainstack task id */
  taskId: string;
  /** the id the trajectory carries: the user's own (a tasks.jsonl line's task_id) or the task id */
  trajectoryId: string;
  description: string;
  maxSteps: number;
  allowNetwork: boolean;
  temperature?: number;
  maxTokens?: number;
}

export interface AgentDeps {
  model: AgentModel;
  apiKey?: string;
  runtime: AgentRuntime;
  tools: AgentTool[];
  scratchDir: string;
  outputDir: string;
  /** epoch ms by which the run must end (it stops itself a little before the task's timeout) */
  deadline: number;
  signal: AbortSignal;
  log: (msg: string) => void;
  /** after each step */
  onStep?: (t: Trajectory) => void;
  /** per tool call, beyond the tool's own limits @default 120000 */
  toolTimeoutMs?: number;
  retries?: number;
  minBackoffMs?: number;
  now?: () => number;
}

interface ToolCall {
  id: string;
  type?: string;
  function?: { name?: string; arguments?: string };
}

interface ChatMessage {
  role: string;
  content?: string | null;
  tool_calls?: ToolCall[];
  tool_call_id?: string;
  reasoning_content?: string;
  reasoning?: string;
}

interface ChatAnswer {
  choices?: { message?: ChatMessage; finish_reason?: string }[];
  usage?: { prompt_tokens?: number; completion_tokens?: number };
}

const round3 = (n: number) => Math.round(n * 1000) / 1000;

/** Arguments of a tool call as an object, or why they are not one. */
export function parseArguments(raw: string | undefined): { args?: Record<string, unknown>; error?: string } {
  if (raw === undefined || raw === '') return { args: {} };
  try {
    const v = JSON.parse(raw) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return { args: v as Record<string, unknown> };
    return { error: 'the arguments are JSON but not an object' };
  } catch (e) {
    return { error: `the arguments are not valid JSON (${(e as Error).message})` };
  }
}

/** Required arguments the call lacks, by the tool's schema. */
function missingArguments(tool: AgentTool, args: Record<string, unknown>): string[] {
  const required = (tool.parameters.required as string[] | undefined) ?? [];
  return required.filter((k) => args[k] === undefined || args[k] === null);
}

export async function runAgent(task: AgentTask, d: AgentDeps): Promise<Trajectory> {
  const now = d.now ?? Date.now;
  const started = now();
  const base = d.model.baseUrl.replace(/\/+$/, '');
  const byName = new Map(d.tools.map((t) => [t.name, t]));
  const t: Trajectory = {
    task_id: task.trajectoryId,
    success: false,
    steps: [],
    final_result: null,
    total_duration: 0,
    metadata: {
      runtime_id: `trainstack-${d.runtime.id}`,
      runtime: d.runtime.id,
      trainstack_task_id: task.taskId,
      model: d.model.name,
      tools: d.tools.map((x) => x.name),
      max_steps: task.maxSteps,
      prompt_tokens: 0,
      completion_tokens: 0,
      model_calls: 0,
      finish_reason: 'max_steps',
    },
  };
  // the run's own clock: the deadline, or the task being stopped, ends whatever is in flight
  const timeLeft = Math.max(0, d.deadline - now());
  const timedOut = AbortSignal.timeout(timeLeft);
  const signal = AbortSignal.any([d.signal, timedOut]);
  const ended = (): FinishReason | undefined =>
    d.signal.aborted ? 'stopped' : timedOut.aborted || now() >= d.deadline ? 'timeout' : undefined;

  const messages: ChatMessage[] = [];
  const toolSpecs = d.tools.map((x) => ({
    type: 'function' as const,
    function: { name: x.name, description: x.description, parameters: x.parameters },
  }));
  // the conversation, kept in the trajectory as it grows (every message the model is sent, and its last answer)
  const conversation: NonNullable<Trajectory['conversation']> = { messages: [], tools: toolSpecs };
  t.conversation = conversation;
  const said = (m: ChatMessage) => {
    messages.push(m);
    conversation.messages.push({
      role: m.role as 'system' | 'user' | 'assistant' | 'tool',
      content: m.content ?? null,
      ...(m.tool_calls?.length
        ? {
            tool_calls: m.tool_calls.map((c) => ({
              id: c.id,
              type: 'function' as const,
              function: { name: c.function?.name ?? '', arguments: String(c.function?.arguments ?? '') },
            })),
          }
        : {}),
      ...(m.tool_call_id ? { tool_call_id: m.tool_call_id } : {}),
    });
  };
  said({ role: 'system', content: d.runtime.systemPrompt });
  said({ role: 'user', content: task.description });
  const sampling = {
    ...((task.maxTokens ?? d.model.defaults?.maxTokens) !== undefined
      ? { max_tokens: task.maxTokens ?? d.model.defaults?.maxTokens }
      : {}),
    ...((task.temperature ?? d.model.defaults?.temperature) !== undefined
      ? { temperature: task.temperature ?? d.model.defaults?.temperature }
      : {}),
  };
  const record = (s: Omit<TrajectoryStep, 'step_id'>) => {
    const step = { step_id: t.steps.length + 1, ...s };
    t.steps.push(step);
    t.total_duration = round3((now() - started) / 1000);
    d.onStep?.(t);
    return step;
  };

  try {
    while (t.steps.length < task.maxSteps) {
      const stop = ended();
      if (stop) {
        t.metadata.finish_reason = stop;
        break;
      }
      let answer: ChatAnswer;
      try {
        answer = (await withRetries(
          () =>
            postJson(
              `${base}/chat/completions`,
              {
                model: d.model.model,
                messages,
                ...(toolSpecs.length ? { tools: toolSpecs, tool_choice: 'auto' } : {}),
                ...sampling,
              },
              d.apiKey,
              signal,
            ),
          {
            signal,
            ...(d.retries !== undefined ? { retries: d.retries } : {}),
            ...(d.minBackoffMs !== undefined ? { minBackoffMs: d.minBackoffMs } : {}),
            onRetry: (m) => d.log(`model ${d.model.name}: ${m}`),
          },
        )) as ChatAnswer;
      } catch (e) {
        const stop = ended();
        t.metadata.finish_reason = stop ?? 'model_error';
        if (!stop) {
          const err = e instanceof AbortError ? e.message : `${(e as Error).name}: ${(e as Error).message}`;
          t.metadata.error = `the model ${d.model.name} failed: ${err}`.slice(0, 1000);
        }
        break;
      }
      t.metadata.model_calls++;
      t.metadata.prompt_tokens += answer.usage?.prompt_tokens ?? 0;
      t.metadata.completion_tokens += answer.usage?.completion_tokens ?? 0;
      const msg = answer.choices?.[0]?.message;
      if (!msg) {
        t.metadata.finish_reason = 'model_error';
        t.metadata.error = `the model ${d.model.name} answered without a message`;
        break;
      }
      const calls = (msg.tool_calls ?? []).filter((c) => c && typeof c === 'object');
      const reasoning = msg.reasoning_content ?? msg.reasoning ?? (calls.length ? msg.content : undefined);
      if (!calls.length) {
        const final = typeof msg.content === 'string' ? msg.content : '';
        record({
          action_type: 'final_answer',
          action_params: {},
          observation: final,
          success: true,
          timestamp: round3(now() / 1000),
          duration: 0,
          ...(msg.reasoning_content || msg.reasoning
            ? { reasoning: msg.reasoning_content ?? msg.reasoning }
            : {}),
        });
        said({ role: 'assistant', content: final });
        t.final_result = final;
        t.success = true;
        t.metadata.finish_reason = 'final_answer';
        break;
      }
      // the assistant turn goes back as the model gave it, each call answered by a tool message
      said({ role: 'assistant', content: msg.content ?? null, tool_calls: calls });
      for (const [i, call] of calls.entries()) {
        const name = call.function?.name ?? '';
        const tool = byName.get(name);
        const stepStart = now();
        let observation: string;
        let success = false;
        let params: Record<string, unknown> = {};
        let artifacts: string[] | undefined;
        const parsed = parseArguments(call.function?.arguments);
        if (t.steps.length >= task.maxSteps || ended()) {
          observation = 'not run: the run ended (max_steps or time)';
        } else if (!tool) {
          // what it asked for stays in the trajectory
          params = parsed.args ?? { raw_arguments: String(call.function?.arguments ?? '').slice(0, 4000) };
          observation = `error: there is no tool ${JSON.stringify(name)}; the tools are ${[...byName.keys()].join(', ')}`;
        } else {
          if (!parsed.args) {
            params = { raw_arguments: String(call.function?.arguments ?? '').slice(0, 4000) };
            observation = `error: ${parsed.error}; call ${name} again with a JSON object`;
          } else {
            params = parsed.args;
            const missing = missingArguments(tool, params);
            if (missing.length) {
              observation = `error: ${name} needs ${missing.join(', ')}`;
            } else {
              const toolTimeout = AbortSignal.timeout(d.toolTimeoutMs ?? 120_000);
              const toolSignal = AbortSignal.any([signal, toolTimeout]);
              try {
                const r = await Promise.race([
                  tool.run(params, {
                    stepId: t.steps.length + 1,
                    scratchDir: d.scratchDir,
                    outputDir: d.outputDir,
                    signal: toolSignal,
                    allowNetwork: task.allowNetwork,
                    log: d.log,
                  }),
                  new Promise<never>((_, reject) =>
                    toolSignal.addEventListener('abort', () => reject(toolSignal.reason), { once: true }),
                  ),
                ]);
                observation = r.observation;
                success = r.success;
                artifacts = r.artifacts;
              } catch (e) {
                observation = toolTimeout.aborted
                  ? `error: ${name} did not answer within ${(d.toolTimeoutMs ?? 120_000) / 1000} s`
                  : `error: ${name} failed: ${(e as Error).message}`;
              }
            }
          }
        }
        if (!observation.startsWith('not run')) {
          record({
            action_type: tool?.actionType ?? 'tool_call',
            action_params: params,
            observation,
            success,
            timestamp: round3(stepStart / 1000),
            duration: round3((now() - stepStart) / 1000),
            tool: name,
            ...(i === 0 && reasoning ? { reasoning } : {}),
            ...(artifacts?.length ? { artifacts } : {}),
          });
          d.log(
            `step ${t.steps.length}: ${name} ${success ? 'ok' : 'failed'} (${t.steps.at(-1)?.duration} s)`,
          );
        }
        said({ role: 'tool', tool_call_id: call.id, content: observation });
      }
    }
    if (!t.success && t.metadata.finish_reason === 'max_steps' && !t.metadata.error)
      t.metadata.error = `no final answer within max_steps (${task.maxSteps})`;
    if (!t.success && t.metadata.finish_reason === 'timeout' && !t.metadata.error)
      t.metadata.error = 'no final answer before the timeout';
    if (!t.success && t.metadata.finish_reason === 'stopped' && !t.metadata.error)
      t.metadata.error = 'the task was stopped';
  } finally {
    for (const tool of d.tools) await tool.close?.().catch(() => undefined);
  }
  t.total_duration = round3((now() - started) / 1000);
  return t;
}
