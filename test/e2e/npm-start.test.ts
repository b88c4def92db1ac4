/**
 * `npm start` itself: it prints its URLs when ready, serves the API, and Ctrl-C leaves no process
 * behind; SIGKILLed and started again on its data folder, it loses nothing and leaves no orphan.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../lib/function.ts';
import { DEFAULT_TASK_NICE } from '../../lib/local/cloud.ts';
import { freePort } from '../../lib/local/net.ts';
import { alive, http, waitFor } from '../support/http.ts';

/** Every process below `pid`. */
function descendants(pid: number): number[] {
  const out = execFileSync('ps', ['-e', '-o', 'pid=,ppid='], { encoding: 'utf8' });
  const children = new Map<number, number[]>();
  for (const line of out.trim().split('\n')) {
    const [p, pp] = line.trim().split(/\s+/).map(Number) as [number, number];
    children.set(pp, [...(children.get(pp) ?? []), p]);
  }
  const all: number[] = [];
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop() as number;
    for (const c of children.get(p) ?? []) {
      all.push(c);
      stack.push(c);
    }
  }
  return all;
}

/**
 * Start `bin/local.ts` and wait for its ready message. `launcher` runs it: `tsx`, as `npm start` does,
 * or this Node with tsx as a loader (one process, so a SIGKILL hits the local cloud itself).
 */
async function startCloud(
  args: string[],
  launcher: string[] = [process.execPath, '--import', 'tsx'],
  env: NodeJS.ProcessEnv = {},
) {
  const [port, awsPort] = [await freePort(), await freePort()];
  const [bin, ...pre] = launcher as [string, ...string[]];
  const child = spawn(
    bin,
    [
      ...pre,
      path.join(REPO_ROOT, 'bin', 'local.ts'),
      '--port',
      String(port),
      '--aws-port',
      String(awsPort),
      '--quiet',
      ...args,
    ],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } },
  );
  let out = '';
  child.stdout?.on('data', (d) => {
    out += String(d);
  });
  child.stderr?.on('data', (d) => {
    out += String(d);
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  await waitFor(
    'the ready message',
    async () => out.includes('ready') || (child.exitCode !== null && Promise.reject(new Error(out))),
    90_000,
  );
  return { child, port, awsPort, api: `http://127.0.0.1:${port}`, exited, output: () => out };
}

describe('npm start', () => {
  it('prints its URLs, answers on them, and stops everything on Ctrl-C', async () => {
    const { child, port, awsPort, exited, output, api } = await startCloud(
      [],
      [path.join(REPO_ROOT, 'node_modules', '.bin', 'tsx')],
      { TRAINSTACK_MAX_CONCURRENT: '3' },
    );
    const out = output();
    expect(out).toContain(`API            http://127.0.0.1:${port}`);
    expect(out).toContain(`AWS endpoint   http://127.0.0.1:${awsPort}`);
    const health = await fetch(`http://127.0.0.1:${port}/health`);
    expect(health.status).toBe(200);
    // told by the environment how many tasks run at once; unless told, the cores (at least 4)
    const stats = await http<{ concurrencyCap: number }>(api, 'GET', '/v1/stats');
    expect(stats.body.concurrencyCap).toBe(3);
    const help = execFileSync(
      process.execPath,
      ['--import', 'tsx', path.join(REPO_ROOT, 'bin', 'local.ts'), '--help'],
      {
        cwd: REPO_ROOT,
        env: Object.fromEntries(
          Object.entries(process.env).filter(([k]) => k !== 'TRAINSTACK_MAX_CONCURRENT'),
        ),
        encoding: 'utf8',
      },
    );
    expect(/--max-concurrent <n>[\s\S]*?\(default:\s*"(\d+)"\)/.exec(help)?.[1]).toBe(
      String(Math.max(4, availableParallelism())),
    );
    expect(/--task-nice <n>[\s\S]*?\(default:\s*"(\d+)"\)/.exec(help)?.[1]).toBe(String(DEFAULT_TASK_NICE));
    // the environment's niceness is the default, as the help says
    const niceHelp = execFileSync(
      process.execPath,
      ['--import', 'tsx', path.join(REPO_ROOT, 'bin', 'local.ts'), '--help'],
      { cwd: REPO_ROOT, env: { ...process.env, TRAINSTACK_TASK_NICE: '7' }, encoding: 'utf8' },
    );
    expect(/--task-nice <n>[\s\S]*?\(default:\s*"(\d+)"\)/.exec(niceHelp)?.[1]).toBe('7');
    // a value it cannot use, by flag or by environment, is refused before anything starts, naming both
    for (const [args, env, says] of [
      [
        ['--task-nice', '20'],
        {},
        /--task-nice \(TRAINSTACK_TASK_NICE\) must be a whole number from 0 to 19, not 20/,
      ],
      [[], { TRAINSTACK_TASK_NICE: '-1' }, /--task-nice \(TRAINSTACK_TASK_NICE\) must be .* not -1/],
      [
        ['--max-concurrent', '0'],
        {},
        /--max-concurrent \(TRAINSTACK_MAX_CONCURRENT\) must be a whole number of at least 1, not 0/,
      ],
      [
        [],
        { TRAINSTACK_MAX_CONCURRENT: 'many' },
        /--max-concurrent \(TRAINSTACK_MAX_CONCURRENT\) must be .* not many/,
      ],
    ] as const) {
      const bad = spawnSync(
        process.execPath,
        ['--import', 'tsx', path.join(REPO_ROOT, 'bin', 'local.ts'), ...args],
        {
          cwd: REPO_ROOT,
          env: { ...process.env, ...env },
          encoding: 'utf8',
        },
      );
      expect(bad.status, bad.stderr).toBe(2);
      expect(bad.stderr).toMatch(says);
    }
    const family = descendants(child.pid ?? 0);
    expect(family.length).toBeGreaterThan(1); // tsx, node, DynamoDB Local's java

    child.kill('SIGINT');
    expect(await exited).toBe(0);
    await waitFor('every process to be gone', async () => family.every((p) => !alive(p)), 15_000);
    await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow();
  });
});

/** Alive and not a zombie (an orphan's zombie waits for whoever adopted it; it runs nothing). */
/** A process's command line, its arguments joined by spaces ('' once it is gone). */
function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

function running(pid: number): boolean {
  if (!alive(pid)) return false;
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

interface TaskView {
  taskId: string;
  status: string;
  name: string;
  attempts: { outcome?: string }[];
}

describe('npm start, killed', () => {
  it('SIGKILLed and started again on its data folder: every task ends, none lost or run twice, stats match, no orphan', async () => {
    const clouds: ChildProcess[] = [];
    const root = mkdtempSync(path.join(tmpdir(), 'trainstack-kill-'));
    const dataDir = path.join(root, 'data');
    const marks = path.join(root, 'marks');
    mkdirSync(marks);
    try {
      const first = await startCloud(['--data-dir', dataDir, '--max-concurrent', '2']);
      clouds.push(first.child);
      // each run that completes its work leaves one mark; a task whose work were done twice leaves two.
      // A long task's first run outlasts the test (the kill ends it) and its second is quick: however
      // long the second start takes on a busy machine, the killed run cannot finish its work meanwhile
      const work = (seconds: number) => [
        'sh',
        '-c',
        `m=${marks}/$TRAINSTACK_TASK_ID; if [ -e $m.started ]; then sleep 0.2; else touch $m.started; sleep ${seconds}; fi; echo done >> $m`,
      ];
      const submit = (name: string, seconds: number, priority: number) =>
        http<TaskView>(first.api, 'POST', '/v1/tasks', {
          type: 'container',
          image: 'x',
          name,
          priority,
          command: work(seconds),
        });
      const ids: string[] = [];
      for (const [name, seconds, priority] of [
        ['quick-1', 0.2, 9],
        ['quick-2', 0.2, 9],
        ['long-1', 600, 5],
        ['long-2', 600, 5],
        ['queued-1', 0.2, 1],
        ['queued-2', 0.2, 1],
      ] as const) {
        const r = await submit(name, seconds, priority);
        expect(r.status).toBe(202);
        ids.push(r.body.taskId);
      }
      const list = async (api: string) =>
        (await http<{ tasks: TaskView[] }>(api, 'GET', '/v1/tasks?limit=100')).body.tasks;
      await waitFor(
        'the quick tasks done and the long ones running',
        async () => {
          const items = await list(first.api);
          const by = (n: string) => items.find((t) => t.name === n)?.status;
          return (
            by('quick-1') === 'SUCCEEDED' &&
            by('quick-2') === 'SUCCEEDED' &&
            by('long-1') === 'RUNNING' &&
            by('long-2') === 'RUNNING'
          );
        },
        60_000,
      );
      const family = descendants(first.child.pid ?? 0);
      expect(family.length).toBeGreaterThan(4); // DynamoDB Local, two runners, their workloads
      const jvm = family.filter((p) => /^java .*DynamoDBLocal\.jar/.test(commandOf(p)));
      expect(jvm).toHaveLength(1);

      first.child.kill('SIGKILL');
      await first.exited;
      expect(family.filter(running).length).toBeGreaterThan(0); // orphans: what the next start must end
      // DynamoDB Local ends with its owner on its own (its watchdog sees the owner gone): a local cloud
      // killed and never started again leaves no JVM behind
      await waitFor('DynamoDB Local to end with its owner', async () => !jvm.some(running), 15_000);

      const second = await startCloud(['--data-dir', dataDir, '--max-concurrent', '2']);
      clouds.push(second.child);
      // the previous run's processes are gone as soon as it is up, long before their sleep would end
      expect(family.filter(running)).toEqual([]);
      const done = await waitFor(
        'every task to end',
        async () => {
          const items = await list(second.api);
          return (
            items.length === ids.length &&
            items.every((t) => ['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(t.status)) &&
            items
          );
        },
        120_000,
        500,
      );
      expect(done.map((t) => t.status)).toEqual(ids.map(() => 'SUCCEEDED'));
      for (const id of ids) expect(readFileSync(path.join(marks, id), 'utf8'), id).toBe('done\n');
      const long = done.filter((t) => t.name.startsWith('long'));
      for (const t of long) expect(t.attempts.map((a) => a.outcome)).toEqual(['infrastructure', 'succeeded']);
      const stats = (
        await http<{ total: number; byStatus: Record<string, number> }>(second.api, 'GET', '/v1/stats')
      ).body;
      expect(stats.total).toBe(ids.length);
      expect(stats.byStatus.SUCCEEDED).toBe(ids.length);
      expect(Object.entries(stats.byStatus).filter(([s, n]) => s !== 'SUCCEEDED' && n !== 0)).toEqual([]);

      const secondFamily = descendants(second.child.pid ?? 0);
      second.child.kill('SIGINT');
      expect(await second.exited).toBe(0);
      await waitFor(
        'every process to be gone',
        async () => [...family, ...secondFamily].every((p) => !running(p)),
        15_000,
      );
      expect(existsSync(path.join(dataDir, 'dynamodb', 'dynamodb-local.pid'))).toBe(false);
    } finally {
      // a failed assertion must not leave a local cloud (and its DynamoDB Local and tasks) running
      for (const c of clouds) {
        for (const p of descendants(c.pid ?? 0)) {
          try {
            process.kill(p, 'SIGKILL');
          } catch {
            // gone
          }
        }
        if (c.exitCode === null) c.kill('SIGKILL');
      }
      rmSync(root, { recursive: true, force: true, maxRetries: 5 });
    }
  });
});
