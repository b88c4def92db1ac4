/**
 * The agent runtime against a scripted OpenAI-compatible server: real tools (Python under its
 * limits, Chromium through Playwright), and the trajectory they leave. The script checks what it is
 * sent back, so a step "passes" only when the tool really produced that observation.
 */

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAgent } from '../../containers/agent/src/agent.ts';
import { loadPlugins, selectTools } from '../../containers/agent/src/registry.ts';
import { chromiumPath } from '../../containers/agent/src/tools/browser.ts';
import type { Trajectory } from '../../containers/agent/src/types.ts';
import {
  type OpenAiServer,
  observations,
  scriptedAgent,
  startOpenAiServer,
  type Turn,
} from '../support/openai-server.ts';

let llm: OpenAiServer;
let site: Server;
let siteUrl: string;
let dir: string;

beforeAll(async () => {
  llm = await startOpenAiServer();
  // the sentence is written by the page's script: only a real browser sees it
  site = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(
      req.url === '/next'
        ? '<html><head><title>Second</title></head><body><p id="fact">You followed the link.</p></body></html>'
        : `<html><head><title>Facts</title></head><body>
             <p id="fact"></p><a id="more" href="/next">more</a>
             <script>document.getElementById('fact').textContent = 'The Rhine is 1,230 km long.';</script>
           </body></html>`,
    );
  });
  await new Promise<void>((r) => site.listen(0, '127.0.0.1', r));
  siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
  dir = mkdtempSync(path.join(tmpdir(), 'agent-test-'));
});

afterAll(async () => {
  await llm.close();
  site.closeAllConnections();
  await new Promise((r) => site.close(r));
  rmSync(dir, { recursive: true, force: true });
});

const call = (name: string, args: unknown): Turn => ({
  calls: [{ name, arguments: typeof args === 'string' ? args : JSON.stringify(args) }],
});
const python = (code: string) => call('python_executor', { code });

async function run(
  modelName: string,
  turns: Parameters<typeof scriptedAgent>[0],
  o: {
    runtime?: string;
    tools?: string[];
    maxSteps?: number;
    toolTimeoutSeconds?: number;
    deadlineMs?: number;
    plugins?: string;
    allowNetwork?: boolean;
  } = {},
): Promise<Trajectory> {
  llm.script.set(modelName, { agent: scriptedAgent(turns), delayMs: 1 });
  const picked = selectTools(o.runtime ?? 'code', o.tools ?? [], await loadPlugins(o.plugins), {
    toolTimeoutSeconds: o.toolTimeoutSeconds ?? 10,
  });
  if ('error' in picked) throw new Error(picked.error);
  const out = mkdtempSync(path.join(dir, 'out-'));
  const scratch = mkdtempSync(path.join(dir, 'scratch-'));
  return runAgent(
    {
      taskId: `T-${modelName}`,
      trajectoryId: `mine-${modelName}`,
      description: 'the task',
      maxSteps: o.maxSteps ?? 10,
      allowNetwork: o.allowNetwork ?? false,
    },
    {
      model: { name: modelName, baseUrl: llm.baseUrl, model: modelName },
      runtime: picked.runtime,
      tools: picked.tools,
      scratchDir: scratch,
      outputDir: out,
      deadline: Date.now() + (o.deadlineMs ?? 60_000),
      signal: new AbortController().signal,
      log: () => undefined,
      retries: 0,
    },
  );
}

describe('the agent loop', () => {
  it('a code task (计算5的阶乘) runs Python and answers from what it printed', async () => {
    const t = await run('fact', [
      { reasoning_content: 'Use math.factorial.', ...python('import math\nprint(math.factorial(5))') },
      (m) => ({ content: `5! = ${observations(m).at(-1)}` }),
    ]);
    expect(t.success).toBe(true);
    expect(t.task_id).toBe('mine-fact');
    expect(t.steps[0]).toMatchObject({
      step_id: 1,
      action_type: 'code_execution',
      action_params: { code: 'import math\nprint(math.factorial(5))' },
      observation: '120',
      success: true,
      reasoning: 'Use math.factorial.',
    });
    expect(t.steps[0]?.timestamp).toBeGreaterThan(1.7e9);
    expect(t.steps[1]).toMatchObject({ step_id: 2, action_type: 'final_answer', observation: '5! = 120' });
    expect(t.final_result).toBe('5! = 120');
    expect(t.metadata).toMatchObject({
      finish_reason: 'final_answer',
      model: 'fact',
      runtime: 'code',
      model_calls: 2,
      prompt_tokens: 200,
      completion_tokens: 20,
      tools: ['python_executor'],
    });
    // the model was offered the tool by its seed 003 name, with a schema
    const sent = llm.requests.filter((r) => r.body.model === 'fact')[0]?.body as {
      tools: { function: { name: string } }[];
    };
    expect(sent.tools.map((x) => x.function.name)).toEqual(['python_executor']);
  });

  it.runIf(chromiumPath())(
    'a web task opens a page in real Chromium, follows a link and extracts a sentence a script wrote',
    async () => {
      const t = await run(
        'web',
        [
          call('browser', { action: 'goto', url: siteUrl }),
          call('browser', { action: 'extract', selector: '#fact' }),
          call('browser', { action: 'screenshot' }),
          call('browser', { action: 'click', selector: '#more' }),
          (m) => ({ content: `Found: ${observations(m)[1]?.split('\n\n')[1]}` }),
        ],
        { runtime: 'web' },
      );
      expect(t.success).toBe(true);
      expect(t.steps.map((s) => s.action_type)).toEqual([
        'browser_action',
        'browser_action',
        'browser_action',
        'browser_action',
        'final_answer',
      ]);
      expect(t.steps[0]?.observation).toContain('Title: Facts');
      expect(t.steps[1]?.observation).toContain('The Rhine is 1,230 km long.');
      expect(t.steps[2]?.artifacts).toEqual(['screenshots/step-3.png']);
      expect(t.steps[3]?.observation).toContain('You followed the link.');
      expect(t.steps[3]?.observation).toContain(`URL: ${siteUrl}/next`);
      expect(t.final_result).toBe('Found: The Rhine is 1,230 km long.');
    },
    60_000,
  );

  it('stops at max_steps without a final answer, and says so', async () => {
    const t = await run('loop', [python('print(1)')], { maxSteps: 3 });
    expect(t.success).toBe(false);
    expect(t.steps).toHaveLength(3);
    expect(t.final_result).toBeNull();
    expect(t.metadata.finish_reason).toBe('max_steps');
    expect(t.metadata.error).toMatch(/max_steps \(3\)/);
  });

  it('a tool that runs past its time limit fails its step; the run goes on to an answer', async () => {
    const t = await run(
      'slow',
      [
        python('while True:\n    pass'),
        (m) => ({ content: `gave up: ${observations(m).length} observation` }),
      ],
      { toolTimeoutSeconds: 1 },
    );
    expect(t.steps[0]).toMatchObject({ action_type: 'code_execution', success: false });
    expect(t.steps[0]?.observation).toMatch(/time limit of 1 s/);
    expect(t.steps[0]?.duration).toBeLessThan(5);
    expect(t.success).toBe(true);
  });

  it('malformed tool arguments fail the step with why; the model is told and the run goes on', async () => {
    const t = await run('bad-args', [
      call('python_executor', '{"code": "print(1)'),
      call('no_such_tool', { q: 'x' }),
      call('python_executor', {}),
      (m) => ({ content: observations(m).join(' | ') }),
    ]);
    expect(t.steps.slice(0, 3).map((s) => s.success)).toEqual([false, false, false]);
    expect(t.steps[0]?.observation).toMatch(/not valid JSON/);
    expect(t.steps[0]?.action_params).toEqual({ raw_arguments: '{"code": "print(1)' });
    expect(t.steps[1]?.observation).toMatch(/no tool "no_such_tool"/);
    expect(t.steps[1]).toMatchObject({ tool: 'no_such_tool', action_params: { q: 'x' } });
    expect(t.steps[2]?.observation).toMatch(/needs code/);
    expect(t.final_result).toMatch(/not valid JSON .* no tool .* needs code/);
    expect(t.success).toBe(true);
  });

  it('a model that keeps failing ends the run with its error, and the trajectory is still whole', async () => {
    llm.script.set('down', { failFirst: 100, delayMs: 1 });
    const picked = selectTools('code', [], [], {});
    if ('error' in picked) throw new Error(picked.error);
    const t = await runAgent(
      { taskId: 'T', trajectoryId: 'T', description: 'x', maxSteps: 5, allowNetwork: false },
      {
        model: { name: 'down', baseUrl: llm.baseUrl, model: 'down' },
        runtime: picked.runtime,
        tools: picked.tools,
        scratchDir: dir,
        outputDir: dir,
        deadline: Date.now() + 60_000,
        signal: new AbortController().signal,
        log: () => undefined,
        retries: 1,
        minBackoffMs: 10,
      },
    );
    expect(t).toMatchObject({ success: false, steps: [], metadata: { finish_reason: 'model_error' } });
    expect(t.metadata.error).toMatch(/HTTP 500/);
  });

  it('a plug-in adds a tool and a runtime; unknown tools and runtimes are named', async () => {
    const plugin = path.resolve('test/support/agent-plugin.mjs');
    const t = await run(
      'plugin',
      [call('word_count', { text: 'one two three' }), (m) => ({ content: observations(m)[0] ?? '' })],
      { runtime: 'counting', plugins: plugin },
    );
    expect(t.steps[0]).toMatchObject({ action_type: 'tool_call', tool: 'word_count', observation: '3' });
    expect(t.final_result).toBe('3');
    expect(selectTools('code', ['calculator'], [], {})).toEqual({
      error: expect.stringMatching(/no tool calculator here; the tools are python_executor, browser, fetch/),
    });
    expect(selectTools('code', ['search'], [], {})).toEqual({
      error: expect.stringMatching(/search needs TRAINSTACK_SEARCH_URL/),
    });
    expect(selectTools('poetry', [], [], {})).toEqual({
      error: expect.stringMatching(/no runtime poetry; there are code, web, reasoning/),
    });
    const narrowed = selectTools('reasoning', ['python_executor'], [], {});
    expect('tools' in narrowed && narrowed.tools.map((x) => x.name)).toEqual(['python_executor']);
  });
});

describe('python_executor limits: none of them takes the agent down', () => {
  it('memory, output, network and files are limited; the scratch directory is kept between steps', async () => {
    const port = (site.address() as AddressInfo).port;
    const t = await run(
      'limits',
      [
        python('x = bytearray(4 * 1024 ** 3)\nprint("allocated")'),
        python('import sys\nchunk = "x" * 1_000_000\nfor _ in range(100):\n    sys.stdout.write(chunk)'),
        python(
          `import socket\nsocket.create_connection(("127.0.0.1", ${port}), timeout=2)\nprint("connected")`,
        ),
        python('open("note.txt", "w").write("kept")'),
        python('print(open("note.txt").read())'),
        { content: 'done' },
      ],
      { maxSteps: 10 },
    );
    const [mem, out, net, write, read] = t.steps;
    expect(mem?.success).toBe(false);
    expect(mem?.observation).toMatch(/MemoryError/);
    expect(out?.success).toBe(false);
    expect(out?.observation).toMatch(/more than 1048576 bytes of output/);
    expect(out?.observation.length).toBeLessThan(20_000);
    expect(net?.success).toBe(false);
    expect(net?.observation).toMatch(/PermissionError|Permission denied/);
    expect(net?.observation).not.toMatch(/connected/);
    expect(write?.success).toBe(true);
    expect(read?.observation).toBe('kept');
    expect(t.success).toBe(true);
  });

  it('the network is open to code when the task allows it', async () => {
    const port = (site.address() as AddressInfo).port;
    const t = await run(
      'net-on',
      [
        python(
          `import urllib.request\nprint(urllib.request.urlopen("http://127.0.0.1:${port}/next").status)`,
        ),
        { content: 'ok' },
      ],
      { allowNetwork: true },
    );
    expect(t.steps[0]).toMatchObject({ observation: '200', success: true });
  });

  it('the tool refuses to run code left in the background once its step is over', async () => {
    const marker = path.join(dir, 'late.txt');
    await run('bg', [
      python(
        `import os, time\nif os.fork() == 0:\n    time.sleep(2)\n    open(${JSON.stringify(marker)}, "w").write("late")\n    os._exit(0)\nprint("parent done")`,
      ),
      { content: 'ok' },
    ]);
    await new Promise((r) => setTimeout(r, 3000));
    expect(existsSync(marker)).toBe(false);
  });
});
