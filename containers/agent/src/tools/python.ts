/**
 * `python_executor`: runs the model's Python in a subprocess with limits, the way that works in any
 * container without privileges (../../../shared/FACTS.md): rlimits set in the child before the code
 * runs (address space, CPU seconds, file size, no core files), a wall-clock kill of its whole process
 * group, an output cap, a scratch directory of the task's own, and, unless the task allows the
 * network, a seccomp filter (python3-seccomp) that refuses internet sockets. Like OpenAI's
 * human-eval, this is resource control, not a security boundary: the workload user and the container
 * are the boundary.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { AgentTool, ToolContext, ToolResult } from '../types.ts';

export interface PythonLimits {
  /** wall clock, seconds @default 30 */
  timeoutSeconds: number;
  /** address space, MiB @default 1024 */
  memoryMb: number;
  /** output read before the process is stopped, bytes @default 1 MiB */
  maxOutputBytes: number;
  /** largest file it may write, bytes @default 64 MiB */
  maxFileBytes: number;
  /** the python to run @default TRAINSTACK_PYTHON, else the system's /usr/bin/python3, else python3 */
  python: string;
}

export const DEFAULT_PYTHON_LIMITS: PythonLimits = {
  timeoutSeconds: 30,
  memoryMb: 1024,
  maxOutputBytes: 1 << 20,
  maxFileBytes: 64 << 20,
  python: process.env.TRAINSTACK_PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3'),
};

/** How much of stdout and stderr the model is shown. */
const SHOW_STDOUT = 8000;
const SHOW_STDERR = 4000;

/** Set the limits, shut the network unless allowed, then run the file as __main__. */
const SANDBOX = `
import errno, json, resource, runpy, socket, sys
lim = json.loads(sys.argv[1]); path = sys.argv[2]
mem = lim["memoryMb"] * 1024 * 1024
resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
resource.setrlimit(resource.RLIMIT_CPU, (lim["cpuSeconds"], lim["cpuSeconds"] + 1))
resource.setrlimit(resource.RLIMIT_FSIZE, (lim["fileBytes"], lim["fileBytes"]))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
if not lim["network"]:
    try:
        import seccomp
        f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
        for family in (socket.AF_INET, socket.AF_INET6, socket.AF_PACKET):
            f.add_rule(seccomp.ERRNO(errno.EACCES), "socket", seccomp.Arg(0, seccomp.EQ, family))
        f.load()
    except ImportError:
        def refuse(*a, **k):
            raise PermissionError(errno.EACCES, "network access is off for this task")
        socket.socket = refuse
        socket.create_connection = refuse
del json, resource
sys.argv = [path]
runpy.run_path(path, run_name="__main__")
`;

/** Whether the seccomp binding is there (without it the network is shut inside Python only). */
export function seccompAvailable(python = 'python3'): boolean {
  return spawnSync(python, ['-c', 'import seccomp'], { stdio: 'ignore' }).status === 0;
}

const clip = (s: string, n: number) =>
  s.length <= n ? s : `${s.slice(0, n)}\n... [${s.length - n} more characters not shown]`;

export interface PythonRun {
  stdout: string;
  stderr: string;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  outputCapped: boolean;
  outputBytes: number;
}

/** Run `code` under the limits in `dir`; never throws for what the code does. */
export async function runPython(
  code: string,
  dir: string,
  name: string,
  limits: PythonLimits,
  allowNetwork: boolean,
  signal: AbortSignal,
): Promise<PythonRun> {
  const file = path.join(dir, `${name}.py`);
  writeFileSync(file, code);
  const child = spawn(
    limits.python,
    [
      '-I',
      '-c',
      SANDBOX,
      JSON.stringify({
        memoryMb: limits.memoryMb,
        cpuSeconds: limits.timeoutSeconds + 1,
        fileBytes: limits.maxFileBytes,
        network: allowNetwork,
      }),
      file,
    ],
    {
      cwd: dir,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
        HOME: dir,
        LANG: 'C.UTF-8',
        PYTHONUNBUFFERED: '1',
        PYTHONIOENCODING: 'utf-8',
      },
    },
  );
  const killGroup = () => {
    try {
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // gone
    }
  };
  const r: PythonRun = {
    stdout: '',
    stderr: '',
    exitCode: null,
    signal: null,
    timedOut: false,
    outputCapped: false,
    outputBytes: 0,
  };
  const keep = { stdout: SHOW_STDOUT * 2, stderr: SHOW_STDERR * 2 };
  const read = (which: 'stdout' | 'stderr') => (chunk: Buffer) => {
    r.outputBytes += chunk.length;
    if (r[which].length < keep[which]) r[which] += chunk.toString('utf8');
    if (r.outputBytes > limits.maxOutputBytes && !r.outputCapped) {
      r.outputCapped = true;
      killGroup();
    }
  };
  child.stdout?.on('data', read('stdout'));
  child.stderr?.on('data', read('stderr'));
  const timer = setTimeout(() => {
    r.timedOut = true;
    killGroup();
  }, limits.timeoutSeconds * 1000);
  const onAbort = () => killGroup();
  signal.addEventListener('abort', onAbort, { once: true });
  await new Promise<void>((resolve) => {
    child.once('error', (e) => {
      r.stderr += `cannot start ${limits.python}: ${e.message}`;
      resolve();
    });
    child.once('exit', (code, sig) => {
      r.exitCode = code;
      r.signal = sig;
      // what it left running in the background goes with it (and lets go of the pipes)
      killGroup();
    });
    child.once('close', () => resolve());
  });
  clearTimeout(timer);
  signal.removeEventListener('abort', onAbort);
  return r;
}

/** What the model and the trajectory are told of a run. */
export function describeRun(r: PythonRun, limits: PythonLimits): ToolResult {
  const ok = r.exitCode === 0 && !r.timedOut && !r.outputCapped;
  const out = r.stdout.replace(/\s+$/, '');
  const err = r.stderr.replace(/\s+$/, '');
  if (ok && !err) return { observation: clip(out, SHOW_STDOUT), success: true };
  const parts: string[] = [];
  if (out) parts.push(clip(out, SHOW_STDOUT));
  if (err) parts.push(`stderr:\n${clip(err, SHOW_STDERR)}`);
  if (r.timedOut) parts.push(`stopped: the time limit of ${limits.timeoutSeconds} s was reached`);
  else if (r.outputCapped)
    parts.push(`stopped: more than ${limits.maxOutputBytes} bytes of output (the output limit)`);
  else if (r.signal) parts.push(`killed by ${r.signal}`);
  else parts.push(`exit status ${r.exitCode}`);
  return { observation: parts.join('\n'), success: ok };
}

export function pythonExecutor(limits: PythonLimits = DEFAULT_PYTHON_LIMITS): AgentTool {
  return {
    name: 'python_executor',
    actionType: 'code_execution',
    description:
      `Runs a Python 3 program and returns its stdout, stderr and exit status. Print what you need to see. ` +
      `Limits: ${limits.timeoutSeconds} s, ${limits.memoryMb} MiB of memory; files written stay for later steps.`,
    parameters: {
      type: 'object',
      properties: { code: { type: 'string', description: 'the Python program' } },
      required: ['code'],
    },
    async run(args, ctx: ToolContext) {
      if (typeof args.code !== 'string' || !args.code.trim())
        return { observation: 'error: the code argument must be a non-empty string', success: false };
      const r = await runPython(
        args.code,
        ctx.scratchDir,
        `step-${ctx.stepId}`,
        limits,
        ctx.allowNetwork,
        ctx.signal,
      );
      return describeRun(r, limits);
    },
  };
}
