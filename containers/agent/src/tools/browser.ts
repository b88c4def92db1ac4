/**
 * `browser`: a real headless Chromium driven by Playwright (playwright-core, with the system's
 * Chromium: `TRAINSTACK_CHROMIUM`, else /usr/bin/chromium). One page per task, opened on first use.
 * Each action answers with the page's URL, title and visible text (trimmed); screenshots are saved
 * under the task's outputs (`screenshots/step-<n>.png`) and so uploaded with them.
 */
import { existsSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { AgentTool, ToolResult } from '../types.ts';

const ACTIONS = ['goto', 'click', 'type', 'extract', 'screenshot'] as const;
const SHOW_TEXT = 6000;

export function chromiumPath(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const candidates = [env.TRAINSTACK_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'];
  return candidates.find((c): c is string => Boolean(c && existsSync(c)));
}

export interface BrowserOptions {
  /** milliseconds per action @default 15000 */
  actionTimeoutMs?: number;
  executablePath?: string;
}

export function browserTool(o: BrowserOptions = {}): AgentTool {
  let browser: Browser | undefined;
  let page: Page | undefined;
  const timeout = o.actionTimeoutMs ?? 15_000;

  async function open(): Promise<Page> {
    if (page) return page;
    const executablePath = o.executablePath ?? chromiumPath();
    if (!executablePath) throw new Error('no Chromium here (set TRAINSTACK_CHROMIUM to its path)');
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath,
      headless: true,
      // the container and the workload user are the sandbox; Chromium's own needs namespaces
      // that containers do not grant, and /dev/shm is 64 MB in Docker
      args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
    });
    page = await browser.newPage();
    page.setDefaultTimeout(timeout);
    page.setDefaultNavigationTimeout(timeout * 2);
    return page;
  }

  async function describe(p: Page, text?: string): Promise<string> {
    const body =
      text ??
      (await p
        .locator('body')
        // biome-ignore lint/performance/useDomNodeTextContent: Playwright's innerText is the rendered text, what a person sees (no script or hidden text)
        .innerText({ timeout })
        .catch(() => ''));
    const trimmed = body
      .replace(/[ \t]+/g, ' ')
      .replace(/\n\s*\n+/g, '\n')
      .trim();
    const shown =
      trimmed.length > SHOW_TEXT
        ? `${trimmed.slice(0, SHOW_TEXT)}\n... [${trimmed.length - SHOW_TEXT} more characters]`
        : trimmed;
    return `URL: ${p.url()}\nTitle: ${await p.title()}\n\n${shown}`;
  }

  return {
    name: 'browser',
    actionType: 'browser_action',
    description:
      'Drives a real web browser. action: goto (url), click (selector), type (selector, text), ' +
      'extract (selector, optional: the whole page without one), screenshot. Answers with the URL, ' +
      'the title and the visible text. Selectors are CSS or Playwright selectors such as text=Next.',
    parameters: {
      type: 'object',
      properties: {
        action: { type: 'string', enum: [...ACTIONS] },
        url: { type: 'string' },
        selector: { type: 'string' },
        text: { type: 'string' },
      },
      required: ['action'],
    },
    async run(args, ctx): Promise<ToolResult> {
      const action = args.action;
      if (typeof action !== 'string' || !(ACTIONS as readonly string[]).includes(action))
        return { observation: `error: action must be one of ${ACTIONS.join(', ')}`, success: false };
      const need = (k: 'url' | 'selector' | 'text') => {
        const v = args[k];
        if (typeof v !== 'string' || !v) throw new Error(`${action} needs ${k}`);
        return v;
      };
      try {
        const p = await open();
        switch (action) {
          case 'goto': {
            const url = need('url');
            if (!/^https?:\/\//i.test(url)) throw new Error('url must start with http:// or https://');
            const r = await p.goto(url, { waitUntil: 'domcontentloaded' });
            const status = r ? `HTTP ${r.status()}\n` : '';
            return { observation: status + (await describe(p)), success: !r || r.ok() };
          }
          case 'click':
            await p.locator(need('selector')).first().click();
            await p.waitForLoadState('domcontentloaded').catch(() => undefined);
            return { observation: await describe(p), success: true };
          case 'type':
            await p.locator(need('selector')).first().fill(need('text'));
            return { observation: await describe(p), success: true };
          case 'extract': {
            const selector = typeof args.selector === 'string' && args.selector ? args.selector : undefined;
            const text = selector ? (await p.locator(selector).allInnerTexts()).join('\n') : undefined;
            if (selector && !text) return { observation: `nothing matches ${selector}`, success: false };
            return { observation: await describe(p, text), success: true };
          }
          default: {
            const rel = path.join('screenshots', `step-${ctx.stepId}.png`);
            mkdirSync(path.join(ctx.outputDir, 'screenshots'), { recursive: true });
            await p.screenshot({ path: path.join(ctx.outputDir, rel), fullPage: false });
            return {
              observation: `screenshot saved as ${rel}\n${await describe(p)}`,
              success: true,
              artifacts: [rel],
            };
          }
        }
      } catch (e) {
        return { observation: `error: ${(e as Error).message.split('\n')[0]}`, success: false };
      }
    },
    async close() {
      await browser?.close().catch(() => undefined);
      browser = undefined;
      page = undefined;
    },
  };
}
