// A plug-in for the agent runtime (containers/agent/src/types.ts), as a user's image would add one.
export const tools = [
  {
    name: 'word_count',
    actionType: 'tool_call',
    description: 'Counts the words of a text.',
    parameters: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
    async run({ text }) {
      return { observation: String(String(text).split(/\s+/).filter(Boolean).length), success: true };
    },
  },
];
export const runtimes = [{ id: 'counting', systemPrompt: 'You count words.', tools: ['word_count'] }];
