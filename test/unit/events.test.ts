/** A task's live events over a scripted task and log: order, pages, attempts, resumption, the end. */
import { describe, expect, it } from 'vitest';
import {
  decodeEventId,
  type EventLogPage,
  type EventTask,
  type TaskEvent,
  taskEvents,
} from '../../lambdas/domain/events.ts';

/** Logs paged two lines at a time, cursors as CloudWatch gives them (the position after a page). */
function source(lines: Record<number, string[]>, states: EventTask[]) {
  let read = 0;
  return {
    task: async () => states[Math.min(read++, states.length - 1)] as EventTask,
    logs: async (attempt: number, cursor?: string): Promise<EventLogPage> => {
      const all = lines[attempt] ?? [];
      const from = cursor ? Number(cursor) : 0;
      const page = all.slice(from, from + 2);
      return {
        lines: page.map((message, i) => ({ timestamp: from + i, message })),
        ...(page.length ? { cursor: String(from + page.length) } : cursor ? { cursor } : {}),
        done: true,
      };
    },
  };
}

async function collect(src: ReturnType<typeof source>, last?: string) {
  const out: TaskEvent[] = [];
  for await (const e of taskEvents(src, last, { pollMs: 1, signal: new AbortController().signal }))
    out.push(e);
  return out;
}

const running: EventTask = { status: 'RUNNING', progress: 10, attempts: [{}] };
const retrying: EventTask = { status: 'RUNNING', progress: 50, attempts: [{}, {}] };
const done: EventTask = { status: 'SUCCEEDED', progress: 100, attempts: [{}, {}] };
const lines = { 1: ['a1', 'a2', 'a3'], 2: ['b1', 'b2', 'b3', 'b4', 'b5'] };

describe('task events', () => {
  it('gives every line of every attempt once, in order, with status and progress changes, then ends', async () => {
    const all = await collect(source(lines, [running, retrying, done]));
    expect(all.filter((e) => e.event === 'log').map((e) => `${e.data.attempt}:${e.data.message}`)).toEqual([
      '1:a1',
      '1:a2',
      '1:a3',
      '2:b1',
      '2:b2',
      '2:b3',
      '2:b4',
      '2:b5',
    ]);
    expect(all.filter((e) => e.event === 'status').map((e) => e.data.status)).toEqual([
      'RUNNING',
      'SUCCEEDED',
    ]);
    expect(all.filter((e) => e.event === 'progress').map((e) => e.data.progress)).toEqual([10, 50, 100]);
    expect(all.at(-1)).toMatchObject({ event: 'end', data: { status: 'SUCCEEDED' } });
  });

  it('resumes after any event id with exactly the lines after it', async () => {
    const all = await collect(source(lines, [running, retrying, done]));
    const logs = all.filter((e) => e.event === 'log');
    for (const [i, e] of logs.entries()) {
      const rest = (await collect(source(lines, [done]), e.id)).filter((x) => x.event === 'log');
      expect(
        rest.map((x) => x.data.message),
        String(e.data.message),
      ).toEqual(logs.slice(i + 1).map((x) => x.data.message));
    }
  });

  it('starts from the beginning on an id it did not give', () => {
    expect(decodeEventId('not-ours')).toBeUndefined();
    expect(decodeEventId(Buffer.from('{"a":0,"k":1}').toString('base64url'))).toBeUndefined();
    expect(decodeEventId(Buffer.from('{"a":2,"k":1,"c":"4"}').toString('base64url'))).toEqual({
      a: 2,
      k: 1,
      c: '4',
    });
  });
});
