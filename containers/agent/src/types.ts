/**
 * The agent runtime's plug-in interface (seed 003's `CustomRuntime`) and the trajectory it writes.
 *
 * A plug-in is an ES module named in `TRAINSTACK_AGENT_PLUGINS` (comma-separated paths, in the image
 * or the task's env) that exports `tools` and/or `runtimes`:
 *
 * ```js
 * export const tools = [{
 *   name: 'calculator', actionType: 'tool_call',
 *   description: 'Evaluates an arithmetic expression.',
 *   parameters: { type: 'object', properties: { expression: { type: 'string' } }, required: ['expression'] },
 *   async run({ expression }) { return { observation: String(eval(expression)), success: true }; },
 * }];
 * export const runtimes = [{ id: 'math', systemPrompt: 'You solve arithmetic.', tools: ['calculator'] }];
 * ```
 *
 * A task picks a plug-in runtime with `params.runtime` and tools with `params.expectedTools`.
 */

/** What a tool gets besides its arguments. */
export interface ToolContext {
  /** the step's number in the trajectory */
  stepId: number;
  /** a directory of the task's own for scratch files (kept between steps) */
  scratchDir: string;
  /** the task's outputs (uploaded to S3 when the task ends): screenshots and the like */
  outputDir: string;
  /** aborted when the task is stopped or runs out of time */
  signal: AbortSignal;
  /** whether the task allows code it runs to reach the network */
  allowNetwork: boolean;
  log: (msg: string) => void;
}

export interface ToolResult {
  /** what the model is told, and what the trajectory records */
  observation: string;
  success: boolean;
  /** files written under the outputs (relative paths) */
  artifacts?: string[];
}

export interface AgentTool {
  /** the name the model calls it by */
  name: string;
  description: string;
  /** JSON Schema of the arguments (an object) */
  parameters: Record<string, unknown>;
  /** the trajectory's `action_type` for this tool's steps: code_execution, browser_action, tool_call... */
  actionType: string;
  run(args: Record<string, unknown>, ctx: ToolContext): Promise<ToolResult>;
  /** release what the tool holds (a browser) when the run ends */
  close?(): Promise<void>;
}

export interface AgentRuntime {
  id: string;
  systemPrompt: string;
  /** the tools it offers when the task names none */
  tools: string[];
}

export interface AgentPlugin {
  tools?: AgentTool[];
  runtimes?: AgentRuntime[];
}

/** One step of a trajectory, in seed 003's format (plus the model's reasoning where it gave one). */
export interface TrajectoryStep {
  step_id: number;
  action_type: string;
  action_params: Record<string, unknown>;
  observation: string;
  success: boolean;
  /** seconds since the epoch, when the step started */
  timestamp: number;
  /** seconds */
  duration: number;
  tool?: string;
  reasoning?: string;
  artifacts?: string[];
}

export type FinishReason =
  | 'final_answer'
  | 'max_steps'
  | 'timeout'
  | 'stopped'
  | 'model_error'
  | 'setup_error';

/** A message of the conversation, as the OpenAI chat completions API has it. */
export interface ConversationMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string | null;
  tool_calls?: { id: string; type: 'function'; function: { name: string; arguments: string } }[];
  tool_call_id?: string;
}

export interface Trajectory {
  task_id: string;
  success: boolean;
  steps: TrajectoryStep[];
  final_result: string | null;
  total_duration: number;
  metadata: {
    runtime_id: string;
    runtime: string;
    trainstack_task_id: string;
    model: string;
    tools: string[];
    max_steps: number;
    prompt_tokens: number;
    completion_tokens: number;
    model_calls: number;
    finish_reason: FinishReason;
    error?: string;
  };
  /**
   * The conversation as the model had it (system prompt, task, each model turn with its tool calls,
   * each tool's answer, the final answer) and the tools it was offered: what fine-tuning exports are
   * made of (GET /v1/batches/{id}/export)
   */
  conversation?: {
    messages: ConversationMessage[];
    tools: {
      type: 'function';
      function: { name: string; description: string; parameters: Record<string, unknown> };
    }[];
  };
}
