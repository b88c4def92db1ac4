/** The built-in runtimes: seed 003's task types, each a system prompt and default tools. */
import type { AgentRuntime } from './types.ts';

const RULES =
  'Work step by step. Use a tool whenever it can check or compute something instead of guessing; ' +
  'read each observation before deciding the next step. When you are done, answer with the final ' +
  'result in plain text and call no tool.';

export const BUILTIN_RUNTIMES: AgentRuntime[] = [
  {
    id: 'code',
    systemPrompt: `You are a programming agent. Solve the task by writing and running Python with the python_executor tool (print what you need to see). ${RULES}`,
    tools: ['python_executor'],
  },
  {
    id: 'web',
    systemPrompt: `You are a web agent. Complete the task in a real browser with the browser tool: goto a URL, click, type, extract text, take screenshots. ${RULES}`,
    tools: ['browser'],
  },
  {
    id: 'reasoning',
    systemPrompt: `You are a research agent. Gather facts with the browser and compute or verify with python_executor, then reason to an answer. ${RULES}`,
    tools: ['browser', 'python_executor'],
  },
];
