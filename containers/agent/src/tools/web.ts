/**
 * `fetch` (an HTTP GET whose answer is given as text) and `search` (only where a search endpoint is
 * configured: `TRAINSTACK_SEARCH_URL`, a URL with `{query}` in it that answers JSON or text, such as
 * a SearXNG instance's `/search?format=json&q={query}`).
 */
import type { AgentTool, ToolResult } from '../types.ts';

const SHOW = 8000;

/** Visible text of an HTML page, roughly: scripts and styles dropped, tags removed, entities decoded. */
export function htmlText(html: string): string {
  return html
    .replace(/<(script|style|noscript)[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<br\s*\/?>|<\/(p|div|li|h[1-6]|tr)>/gi, '\n')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&nbsp;/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&')
    .replace(/[ \t]+/g, ' ')
    .replace(/\n\s*\n+/g, '\n')
    .trim();
}

async function get(url: string, signal: AbortSignal, timeoutMs: number): Promise<ToolResult> {
  if (!/^https?:\/\//i.test(url))
    return { observation: 'error: url must start with http:// or https://', success: false };
  try {
    const r = await fetch(url, {
      signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
      headers: { 'user-agent': 'trainstack-agent/1' },
    });
    const type = r.headers.get('content-type') ?? '';
    const body = await r.text();
    const text = /html/i.test(type) ? htmlText(body) : body;
    const shown =
      text.length > SHOW ? `${text.slice(0, SHOW)}\n... [${text.length - SHOW} more characters]` : text;
    return { observation: `HTTP ${r.status} ${type}\n\n${shown}`, success: r.ok };
  } catch (e) {
    return { observation: `error: ${(e as Error).name}: ${(e as Error).message}`, success: false };
  }
}

export function fetchTool(timeoutMs = 20_000): AgentTool {
  return {
    name: 'fetch',
    actionType: 'tool_call',
    description: 'HTTP GET a URL and return its status and text (HTML reduced to its visible text).',
    parameters: {
      type: 'object',
      properties: { url: { type: 'string' } },
      required: ['url'],
    },
    run: (args, ctx) => get(String(args.url ?? ''), ctx.signal, timeoutMs),
  };
}

export function searchTool(template: string, timeoutMs = 20_000): AgentTool {
  return {
    name: 'search',
    actionType: 'tool_call',
    description: 'Searches the web and returns the results.',
    parameters: {
      type: 'object',
      properties: { query: { type: 'string' } },
      required: ['query'],
    },
    run: (args, ctx) =>
      get(template.replace('{query}', encodeURIComponent(String(args.query ?? ''))), ctx.signal, timeoutMs),
  };
}
