/**
 * Trajectories as fine-tuning data: OpenAI chat lines that keep the whole conversation, and ShareGPT
 * lines in the alternation LLaMA-Factory's documentation states.
 */
import { describe, expect, it } from 'vitest';
import {
  type ExportableTrajectory,
  exportLine,
  type MessageShape,
  shareGptProblems,
  toOpenAiChat,
  toShareGpt,
} from '../../lambdas/domain/export.ts';

const tools = [
  {
    type: 'function',
    function: {
      name: 'python_executor',
      description: 'Run Python',
      parameters: { type: 'object', properties: { code: { type: 'string' } }, required: ['code'] },
    },
  },
  {
    type: 'function',
    function: { name: 'fetch', description: 'GET a URL', parameters: { type: 'object', properties: {} } },
  },
];

const conversation: MessageShape[] = [
  { role: 'system', content: 'You solve tasks with tools.' },
  { role: 'user', content: 'What is 12! and the title of example.com?' },
  {
    role: 'assistant',
    content: 'I will compute and fetch at once.',
    tool_calls: [
      {
        id: 'call_a',
        type: 'function',
        function: { name: 'python_executor', arguments: '{"code":"print(479001600)"}' },
      },
      {
        id: 'call_b',
        type: 'function',
        function: { name: 'fetch', arguments: '{"url":"https://example.com"}' },
      },
    ],
  },
  { role: 'tool', tool_call_id: 'call_a', content: '479001600' },
  { role: 'tool', tool_call_id: 'call_b', content: '<title>Example Domain</title>' },
  {
    role: 'assistant',
    content: null,
    tool_calls: [
      { id: 'call_c', type: 'function', function: { name: 'python_executor', arguments: '{code: oops' } },
    ],
  },
  { role: 'tool', tool_call_id: 'call_c', content: 'error: the arguments are not valid JSON' },
  { role: 'assistant', content: '479001600; the title is Example Domain.' },
];
const done: ExportableTrajectory = {
  task_id: 't-1',
  success: true,
  conversation: { messages: conversation, tools },
};
const failed: ExportableTrajectory = {
  task_id: 't-2',
  success: false,
  conversation: { messages: conversation.slice(0, 5), tools },
};

/** OpenAI's chat fine-tuning line, as its documentation describes one with tools. */
function openAiProblems(line: { messages: MessageShape[]; tools?: unknown[] }): string[] {
  const problems: string[] = [];
  const open = new Set<string>();
  for (const [i, m] of line.messages.entries()) {
    if (!['system', 'user', 'assistant', 'tool'].includes(m.role)) problems.push(`${i}: role ${m.role}`);
    if (m.role === 'assistant')
      for (const c of m.tool_calls ?? []) {
        if (!c.id || c.type !== 'function' || !c.function.name || typeof c.function.arguments !== 'string')
          problems.push(`${i}: a tool call without id, type, name or string arguments`);
        open.add(c.id ?? '');
      }
    if (m.role === 'tool' && !open.delete(m.tool_call_id ?? '')) problems.push(`${i}: answers no open call`);
    if (m.role !== 'tool' && m.role !== 'assistant' && typeof m.content !== 'string')
      problems.push(`${i}: no content`);
  }
  if (open.size) problems.push(`calls never answered: ${[...open].join(', ')}`);
  return problems;
}

describe('fine-tuning export', () => {
  it('openai-chat keeps the whole conversation: system, task, text beside calls, every call and answer, the answer', () => {
    const line = toOpenAiChat(done);
    if (typeof line === 'string') throw new Error(line);
    expect(line.messages).toEqual(conversation);
    expect(line.tools).toEqual(tools);
    expect(openAiProblems(line)).toEqual([]);
  });

  it('openai-chat gives calls without ids one, and their answers name it', () => {
    const noIds = conversation.map((m) => ({
      ...m,
      ...(m.tool_calls ? { tool_calls: m.tool_calls.map(({ id: _, ...c }) => c) } : {}),
      ...(m.tool_call_id ? { tool_call_id: undefined } : {}),
    })) as MessageShape[];
    const line = toOpenAiChat({ ...done, conversation: { messages: noIds, tools } });
    if (typeof line === 'string') throw new Error(line);
    expect(line.messages[2]?.tool_calls?.map((c) => c.id)).toEqual(['call_1', 'call_2']);
    expect(line.messages.slice(3, 5).map((m) => m.tool_call_id)).toEqual(['call_1', 'call_2']);
    expect(line.messages[5]?.tool_calls?.[0]?.id).toBe('call_3');
    expect(line.messages[6]?.tool_call_id).toBe('call_3');
    expect(openAiProblems(line)).toEqual([]);
  });

  it('sharegpt follows LLaMA-Factory: human and observation at odd positions, gpt and function_call at even', () => {
    const line = toShareGpt(done);
    if (typeof line === 'string') throw new Error(line);
    expect(line.system).toBe('You solve tasks with tools.');
    expect(line.conversations.map((t) => t.from)).toEqual([
      'human',
      'function_call',
      'observation',
      'function_call',
      'observation',
      'gpt',
    ]);
    expect(shareGptProblems(line.conversations)).toEqual([]);
    // two calls of one turn: one function_call with a list, one observation with the list of answers
    expect(JSON.parse(line.conversations[1]?.value ?? '')).toEqual([
      { name: 'python_executor', arguments: { code: 'print(479001600)' } },
      { name: 'fetch', arguments: { url: 'https://example.com' } },
    ]);
    expect(JSON.parse(line.conversations[2]?.value ?? '')).toEqual([
      '479001600',
      '<title>Example Domain</title>',
    ]);
    // arguments that are not JSON stay as the model wrote them
    expect(JSON.parse(line.conversations[3]?.value ?? '')).toEqual({
      name: 'python_executor',
      arguments: '{code: oops',
    });
    expect(line.conversations.at(-1)).toEqual({
      from: 'gpt',
      value: '479001600; the title is Example Domain.',
    });
    expect(JSON.parse(line.tools ?? '')).toEqual(tools.map((t) => t.function));
  });

  it('the alternation check finds what LLaMA-Factory would refuse', () => {
    expect(shareGptProblems([{ from: 'gpt', value: 'hi' }])).toEqual([
      'turn 1 is gpt, where human or observation must be',
      'an odd number of turns (the model must speak last)',
    ]);
    expect(
      shareGptProblems([
        { from: 'human', value: 'q' },
        { from: 'gpt', value: 'a' },
        { from: 'observation', value: 'o' },
        { from: 'gpt', value: 'b' },
      ]),
    ).toEqual(['turn 3 is an observation that answers no function_call']);
  });

  it('leaves out failed trajectories unless asked, and says why a line is missing', () => {
    expect(exportLine(failed, 'openai-chat', false)).toEqual({ skipped: 'failed' });
    const included = exportLine(failed, 'openai-chat', true);
    expect('line' in included && JSON.parse(included.line).messages).toHaveLength(5);
    // a ShareGPT conversation must end with the model's turn: a failed one that does not is left out
    expect(exportLine(failed, 'sharegpt', true)).toEqual({ skipped: 'does not end with an answer' });
    expect(exportLine({ task_id: 'old', success: true }, 'sharegpt', false)).toEqual({
      skipped: 'no conversation recorded',
    });
  });
});
