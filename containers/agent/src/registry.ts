/** The tools and runtimes a run may use: the built-in ones and the plug-ins' (./types.ts). */
import { pathToFileURL } from 'node:url';
import { BUILTIN_RUNTIMES } from './runtimes.ts';
import { browserTool } from './tools/browser.ts';
import { DEFAULT_PYTHON_LIMITS, pythonExecutor } from './tools/python.ts';
import { fetchTool, searchTool } from './tools/web.ts';
import type { AgentPlugin, AgentRuntime, AgentTool } from './types.ts';

/** Import the plug-in modules named (comma-separated paths). */
export async function loadPlugins(list: string | undefined): Promise<AgentPlugin[]> {
  const out: AgentPlugin[] = [];
  for (const p of (list ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)) {
    const m = (await import(pathToFileURL(p).href)) as AgentPlugin;
    out.push({ ...(m.tools ? { tools: m.tools } : {}), ...(m.runtimes ? { runtimes: m.runtimes } : {}) });
  }
  return out;
}

export interface ToolOptions {
  /** a search endpoint with {query} in it: offers the search tool */
  searchUrl?: string | undefined;
  /** the python tool's time limit @default 30 */
  toolTimeoutSeconds?: number | undefined;
}

/** The built-in tools (search only where an endpoint is configured). */
export function builtinTools(o: ToolOptions): AgentTool[] {
  return [
    pythonExecutor({ ...DEFAULT_PYTHON_LIMITS, timeoutSeconds: o.toolTimeoutSeconds ?? 30 }),
    browserTool(),
    fetchTool(),
    ...(o.searchUrl ? [searchTool(o.searchUrl)] : []),
  ];
}

/**
 * The runtime and tools of a run: the runtime by id (a task type, or a plug-in's), its default tools,
 * or exactly the `expectedTools` when the task names them. An unknown runtime or tool is an error
 * that names what there is.
 */
export function selectTools(
  runtimeId: string,
  expected: string[],
  plugins: AgentPlugin[],
  o: ToolOptions,
): { runtime: AgentRuntime; tools: AgentTool[] } | { error: string } {
  const tools = new Map<string, AgentTool>();
  for (const t of [...builtinTools(o), ...plugins.flatMap((p) => p.tools ?? [])]) tools.set(t.name, t);
  const runtimes = new Map<string, AgentRuntime>();
  for (const r of [...BUILTIN_RUNTIMES, ...plugins.flatMap((p) => p.runtimes ?? [])]) runtimes.set(r.id, r);
  const runtime = runtimes.get(runtimeId);
  if (!runtime)
    return { error: `there is no runtime ${runtimeId}; there are ${[...runtimes.keys()].join(', ')}` };
  const names = expected.length ? [...new Set(expected)] : runtime.tools;
  const unknown = names.filter((n) => !tools.has(n));
  if (unknown.length)
    return {
      error: `there is no tool ${unknown.join(', ')} here${unknown.includes('search') ? ' (search needs TRAINSTACK_SEARCH_URL)' : ''}; the tools are ${[...tools.keys()].join(', ')}`,
    };
  return { runtime, tools: names.map((n) => tools.get(n) as AgentTool) };
}
