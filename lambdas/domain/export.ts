/**
 * Trajectories as fine-tuning data (GET /v1/batches/{id}/export): each trajectory's recorded
 * conversation (the agent keeps it: system prompt, task, model turns with their tool calls, tool
 * answers, final answer; and the tools it was offered) in one of two formats:
 *
 * - `openai-chat`: OpenAI's chat fine-tuning lines, `{"messages": [...], "tools": [...]}`, assistant
 *   turns with `tool_calls` and `tool` messages with their `tool_call_id`. Lossless.
 * - `sharegpt`: ShareGPT as LLaMA-Factory documents it, `{"conversations": [{"from", "value"}],
 *   "system", "tools"}`: `human` and `observation` at odd positions, `gpt` and `function_call` at even
 *   ones. Several tool calls of one turn are one `function_call` whose value is a JSON list, answered
 *   by one `observation` whose value is the JSON list of their answers. ShareGPT has no place for the
 *   text a model writes beside its tool calls; that text is dropped (openai-chat keeps it).
 */

export type ExportFormat = 'openai-chat' | 'sharegpt';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['openai-chat', 'sharegpt'];

export interface ToolCallShape {
  id?: string;
  type?: string;
  function: { name: string; arguments: string };
}
export interface MessageShape {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string | null;
  tool_calls?: ToolCallShape[];
  tool_call_id?: string;
}
/** What an export reads of a trajectory (containers/agent/src/types.ts writes it). */
export interface ExportableTrajectory {
  task_id: string;
  success: boolean;
  conversation?: { messages: MessageShape[]; tools: unknown[] };
}

/** Why a trajectory is not in an export. */
export type Skipped = 'failed' | 'no conversation recorded' | 'does not end with an answer';

export interface ShareGptTurn {
  from: 'human' | 'gpt' | 'function_call' | 'observation';
  value: string;
}

/** The OpenAI chat fine-tuning line of a trajectory. */
export function toOpenAiChat(
  t: ExportableTrajectory,
): { messages: MessageShape[]; tools?: unknown[] } | Skipped {
  const c = t.conversation;
  if (!c?.messages.length) return 'no conversation recorded';
  // ids as fine-tuning wants them: every call has one, and its answer names it (an answer with no
  // id answers the oldest call not yet answered, as the agent answers calls in order)
  let n = 0;
  const open: string[] = [];
  const messages = c.messages.map((m): MessageShape => {
    if (m.role === 'assistant' && m.tool_calls?.length)
      return {
        role: 'assistant',
        content: m.content,
        tool_calls: m.tool_calls.map((call) => {
          const id = call.id || `call_${++n}`;
          open.push(id);
          return {
            id,
            type: 'function',
            function: { name: call.function.name, arguments: call.function.arguments },
          };
        }),
      };
    if (m.role === 'tool') {
      const id = m.tool_call_id && open.includes(m.tool_call_id) ? m.tool_call_id : (open[0] ?? '');
      if (open.includes(id)) open.splice(open.indexOf(id), 1);
      return { role: 'tool', content: m.content ?? '', tool_call_id: id };
    }
    return { role: m.role, content: m.content ?? '' };
  });
  return { messages, ...(c.tools.length ? { tools: c.tools } : {}) };
}

/** The ShareGPT (LLaMA-Factory) line of a trajectory. */
export function toShareGpt(
  t: ExportableTrajectory,
): { conversations: ShareGptTurn[]; system?: string; tools?: string } | Skipped {
  const c = t.conversation;
  if (!c?.messages.length) return 'no conversation recorded';
  const conversations: ShareGptTurn[] = [];
  let system: string | undefined;
  let pending: string[] = []; // the answers to the last function_call's calls
  const flush = () => {
    if (!pending.length) return;
    conversations.push({
      from: 'observation',
      value: pending.length === 1 ? (pending[0] ?? '') : JSON.stringify(pending),
    });
    pending = [];
  };
  for (const m of c.messages) {
    if (m.role === 'system') system = m.content ?? '';
    else if (m.role === 'user') {
      flush();
      conversations.push({ from: 'human', value: m.content ?? '' });
    } else if (m.role === 'assistant' && m.tool_calls?.length) {
      flush();
      const calls = m.tool_calls.map((call) => ({ name: call.function.name, arguments: argumentsOf(call) }));
      conversations.push({
        from: 'function_call',
        value: JSON.stringify(calls.length === 1 ? calls[0] : calls),
      });
    } else if (m.role === 'assistant') {
      flush();
      conversations.push({ from: 'gpt', value: m.content ?? '' });
    } else if (m.role === 'tool') pending.push(m.content ?? '');
  }
  flush();
  // LLaMA-Factory takes a conversation that ends with the model's turn
  if (conversations.at(-1)?.from !== 'gpt') return 'does not end with an answer';
  return {
    conversations,
    ...(system !== undefined ? { system } : {}),
    ...(c.tools.length ? { tools: JSON.stringify(c.tools.map(functionOf)) } : {}),
  };
}

/** A call's arguments as JSON when they are, else as the model wrote them. */
function argumentsOf(call: ToolCallShape): unknown {
  try {
    return JSON.parse(call.function.arguments) as unknown;
  } catch {
    return call.function.arguments;
  }
}

/** LLaMA-Factory's tools are the functions themselves ({name, description, parameters}). */
function functionOf(tool: unknown): unknown {
  const t = tool as { type?: string; function?: unknown };
  return t.type === 'function' && t.function ? t.function : tool;
}

/**
 * Where each ShareGPT turn may stand, as LLaMA-Factory's data documentation states it: human and
 * observation at odd positions (1, 3, ...), gpt and function_call at even ones. The problems, or none.
 */
export function shareGptProblems(conversations: ShareGptTurn[]): string[] {
  const problems: string[] = [];
  for (const [i, turn] of conversations.entries()) {
    const odd = i % 2 === 0; // position i + 1
    const want = odd ? ['human', 'observation'] : ['gpt', 'function_call'];
    if (!want.includes(turn.from))
      problems.push(`turn ${i + 1} is ${turn.from}, where ${want.join(' or ')} must be`);
    if (i > 0 && turn.from === 'observation' && conversations[i - 1]?.from !== 'function_call')
      problems.push(`turn ${i + 1} is an observation that answers no function_call`);
  }
  if (conversations.length % 2) problems.push('an odd number of turns (the model must speak last)');
  return problems;
}

/** One export line of a trajectory, or why it has none (failed ones only when asked for). */
export function exportLine(
  t: ExportableTrajectory,
  format: ExportFormat,
  includeFailed: boolean,
): { line: string } | { skipped: Skipped } {
  if (!t.success && !includeFailed) return { skipped: 'failed' };
  const line = format === 'openai-chat' ? toOpenAiChat(t) : toShareGpt(t);
  return typeof line === 'string' ? { skipped: line } : { line: JSON.stringify(line) };
}
