/**
 * Trajectory tasks end to end on the local cloud: the runner starts the agent runtime, which calls a
 * registered model (a scripted OpenAI-compatible server the test starts: the one fake allowed) and
 * runs real tools; the trajectory lands in S3 and behind the API; seed 003 `tasks.jsonl` lines keep
 * their own ids.
 */

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Trajectory } from '../../containers/agent/src/types.ts';
import { type MessageShape, type ShareGptTurn, shareGptProblems } from '../../lambdas/domain/export.ts';
import type { TaskRecord } from '../../lambdas/domain/model.ts';
import { REPO_ROOT } from '../../lib/function.ts';
import { type LocalCloud, startLocalCloud } from '../../lib/local/cloud.ts';
import { http, waitFor } from '../support/http.ts';
import {
  type OpenAiServer,
  observations,
  scriptedAgent,
  startOpenAiServer,
} from '../support/openai-server.ts';

const dataDir = mkdtempSync(path.join(tmpdir(), 'trainstack-trajectory-'));
let cloud: LocalCloud;
let llm: OpenAiServer;
const api = <T = Record<string, unknown>>(method: string, p: string, body?: unknown) =>
  http<T>(cloud.apiUrl, method, p, body);

beforeAll(async () => {
  llm = await startOpenAiServer();
  cloud = await startLocalCloud({
    apiPort: 0,
    awsPort: 0,
    dataDir,
    context: { maxConcurrentTasks: 8 },
    tickMs: 300,
    functionLogLevel: 'ERROR',
    progressIntervalMs: 200,
  });
  const r = await api('POST', '/v1/models', {
    name: 'agent-llm',
    type: 'local',
    baseUrl: llm.baseUrl,
    model: 'agent-llm',
    maxWorkers: 8,
  });
  expect(r.status).toBe(201);
});
afterAll(async () => {
  await cloud?.stop();
  await llm?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const get = async (id: string) => (await api<TaskRecord>('GET', `/v1/tasks/${id}`)).body;
const finished = (id: string) =>
  waitFor(
    `task ${id} to finish`,
    async () => {
      const t = await get(id);
      return ['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(t.status) ? t : undefined;
    },
    120_000,
    250,
  );

describe('trajectory tasks on the local cloud', () => {
  it('a code task runs Python through the agent and its trajectory is served', async () => {
    llm.script.set('agent-llm', {
      delayMs: 1,
      agent: scriptedAgent([
        {
          calls: [
            {
              name: 'python_executor',
              arguments: JSON.stringify({ code: 'import math\nprint(math.factorial(5))' }),
            },
          ],
        },
        (m) => ({ content: `5的阶乘是 ${observations(m).at(-1)}` }),
      ]),
    });
    const r = await api<TaskRecord>('POST', '/v1/tasks', {
      type: 'trajectory',
      params: { taskType: 'code', description: '计算5的阶乘', model: 'agent-llm', maxSteps: 4 },
    });
    expect(r.status).toBe(202);
    const t = await finished(r.body.taskId);
    expect(t.status).toBe('SUCCEEDED');
    expect(t.metrics).toMatchObject({ steps: 2, promptTokens: 200, completionTokens: 20 });
    const tr = await api<Trajectory>('GET', `/v1/tasks/${t.taskId}/trajectory`);
    expect(tr.status).toBe(200);
    expect(tr.body.task_id).toBe(t.taskId);
    expect(tr.body.steps[0]).toMatchObject({
      action_type: 'code_execution',
      observation: '120',
      success: true,
    });
    expect(tr.body.final_result).toContain('120');
    // the model's counters have the agent's tokens
    const models = await api<{ models: { name: string; modelId: string }[] }>('GET', '/v1/models');
    const id = models.body.models.find((m) => m.name === 'agent-llm')?.modelId;
    const stats = await api<{ promptTokens: number }>('GET', `/v1/models/${id}/stats`);
    expect(stats.body.promptTokens).toBeGreaterThanOrEqual(200);
  });

  it('an agent that never answers fails at max_steps with the reason, and leaves its trajectory', async () => {
    llm.script.set('agent-llm', {
      delayMs: 1,
      agent: scriptedAgent([{ calls: [{ name: 'python_executor', arguments: '{"code": "print(1)"}' }] }]),
    });
    const r = await api<TaskRecord>('POST', '/v1/tasks', {
      type: 'trajectory',
      params: { taskType: 'code', description: 'loop', model: 'agent-llm', maxSteps: 2 },
      maxRetries: 0,
    });
    const t = await finished(r.body.taskId);
    expect(t.status).toBe('FAILED');
    const tr = await api<Trajectory>('GET', `/v1/tasks/${t.taskId}/trajectory`);
    expect(tr.body).toMatchObject({ success: false, metadata: { finish_reason: 'max_steps' } });
    // the task says why, in the agent's words
    expect(t.statusReason).toMatch(/the agent: no final answer within max_steps \(2\)/);
    expect(tr.body.steps).toHaveLength(2);
  });

  it('is refused at submit without a usable model, saying how to register one', async () => {
    const none = await api<{ error: { details: { path: string; message: string }[] } }>('POST', '/v1/tasks', {
      type: 'trajectory',
      params: { taskType: 'code', description: 'x' },
    });
    expect(none.status).toBe(400);
    expect(none.body.error.details[0]).toMatchObject({ path: 'params.model' });
    expect(none.body.error.details[0]?.message).toMatch(/POST \/v1\/models/);
    const unknown = await api('POST', '/v1/tasks', {
      type: 'trajectory',
      params: { taskType: 'code', description: 'x', model: 'nope' },
    });
    expect(unknown.status).toBe(400);
  });

  it('a seed 003 tasks.jsonl, sent by the CLI into one batch, gives one trajectory per line under its own task_id', async () => {
    // the scripted agent computes n! for the n in its task, by really running Python
    llm.script.set('agent-llm', {
      delayMs: 1,
      agent: (messages) => {
        const seen = observations(messages);
        if (seen.length) return { content: `答案: ${seen.at(-1)}` };
        const n = /(\d+)的阶乘/.exec(String(messages.find((m) => m.role === 'user')?.content))?.[1];
        return {
          calls: [
            {
              name: 'python_executor',
              arguments: JSON.stringify({ code: `import math\nprint(math.factorial(${n}))` }),
            },
          ],
        };
      },
    });
    const N = 12;
    const lines = Array.from({ length: N }, (_, i) =>
      JSON.stringify({
        task_id: `阶乘-${i}`,
        task_type: 'code',
        description: `计算${i}的阶乘`,
        expected_tools: ['python_executor'],
        max_steps: 4,
        timeout: 120,
        priority: 5,
      }),
    );
    const file = path.join(dataDir, 'tasks.jsonl');
    writeFileSync(file, `${lines.join('\n')}\n\n${lines[0]}\n`); // a blank line, and the first line again
    const cli = async (...args: string[]) =>
      (
        await promisify(execFile)(
          path.join(REPO_ROOT, 'node_modules', '.bin', 'tsx'),
          [path.join(REPO_ROOT, 'bin', 'cli.ts'), '--endpoint', cloud.apiUrl, ...args],
          { encoding: 'utf8' },
        )
      ).stdout;
    const sent = JSON.parse(
      await cli('batch', file, '--model', 'agent-llm', '--chunk', '5', '--name', 'facts'),
    ) as {
      batchId: string;
      accepted: { line: number; taskId: string; duplicate?: boolean }[];
      rejected: unknown[];
    };
    expect(sent.rejected).toEqual([]);
    expect(sent.accepted).toHaveLength(N + 1);
    // the repeated line (file line N + 2) is the first line's task, not a new one
    expect(sent.accepted.at(-1)).toMatchObject({
      line: N + 2,
      taskId: sent.accepted[0]?.taskId,
      duplicate: true,
    });

    const view = await waitFor(
      'the batch to finish',
      async () => {
        const b = (
          await api<{ done: boolean; byStatus: Record<string, number> }>('GET', `/v1/batches/${sent.batchId}`)
        ).body;
        return b.done ? b : undefined;
      },
      240_000,
      500,
    );
    expect(view).toMatchObject({
      name: 'facts',
      tasks: N,
      byStatus: { SUCCEEDED: N },
      lines: { received: N + 1, accepted: N, duplicates: 1, rejected: 0 },
      progress: 100,
    });
    const out = path.join(dataDir, 'trajectories.jsonl');
    await cli('batches', 'download', sent.batchId, '--output', out);
    const trajectories = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Trajectory);
    expect(trajectories.map((t) => t.task_id).sort()).toEqual(lines.map((l) => JSON.parse(l).task_id).sort());
    for (const t of trajectories) {
      const n = Number(t.task_id.split('-')[1]);
      let f = 1n;
      for (let k = 2n; k <= BigInt(n); k++) f *= k;
      expect(t.success, t.task_id).toBe(true);
      expect(t.steps[0]).toMatchObject({ action_type: 'code_execution', observation: String(f) });
      expect(t.final_result).toBe(`答案: ${f}`);
    }

    // the same batch as fine-tuning data, in both formats, every line valid for its format
    const exported = async (format: string) => {
      const file = path.join(dataDir, `${format}.jsonl`);
      await cli('batches', 'export', sent.batchId, '--format', format, '--output', file);
      return readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
    };
    const chat = (await exported('openai-chat')) as { messages: MessageShape[]; tools: unknown[] }[];
    expect(chat).toHaveLength(N);
    for (const line of chat) {
      expect(line.messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'tool', 'assistant']);
      const n = /(\d+)的阶乘/.exec(String(line.messages[1]?.content))?.[1];
      expect(line.messages[2]?.tool_calls?.[0]?.function).toEqual({
        name: 'python_executor',
        arguments: JSON.stringify({ code: `import math\nprint(math.factorial(${n}))` }),
      });
      expect(line.messages[3]?.tool_call_id).toBe(line.messages[2]?.tool_calls?.[0]?.id);
      expect(line.messages[4]?.content).toBe(`答案: ${line.messages[3]?.content}`);
      expect(line.tools.map((t) => (t as { function: { name: string } }).function.name)).toEqual([
        'python_executor',
      ]);
    }
    const share = (await exported('sharegpt')) as { conversations: ShareGptTurn[]; system: string }[];
    expect(share).toHaveLength(N);
    for (const line of share) {
      expect(shareGptProblems(line.conversations)).toEqual([]);
      expect(line.conversations.map((t) => t.from)).toEqual(['human', 'function_call', 'observation', 'gpt']);
      expect(line.system).toBe(chat[0]?.messages[0]?.content);
    }
  });
});
