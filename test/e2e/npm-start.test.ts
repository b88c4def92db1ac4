/** `npm start` itself: it prints its URLs when ready, serves the API, and Ctrl-C leaves no process behind. */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../lib/function.ts';
import { freePort } from '../../lib/local/net.ts';
import { alive, waitFor } from '../support/http.ts';

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

describe('npm start', () => {
  it('prints its URLs, answers on them, and stops everything on Ctrl-C', async () => {
    const [port, awsPort] = [await freePort(), await freePort()];
    const child: ChildProcess = spawn(
      path.join(REPO_ROOT, 'node_modules', '.bin', 'tsx'),
      [
        path.join(REPO_ROOT, 'bin', 'local.ts'),
        '--port',
        String(port),
        '--aws-port',
        String(awsPort),
        '--quiet',
      ],
      { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout?.on('data', (d) => {
      out += String(d);
    });
    child.stderr?.on('data', (d) => {
      out += String(d);
    });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    await waitFor('the ready message', async () => out.includes('ready'), 90_000);
    expect(out).toContain(`API            http://127.0.0.1:${port}`);
    expect(out).toContain(`AWS endpoint   http://127.0.0.1:${awsPort}`);
    const health = await fetch(`http://127.0.0.1:${port}/health`);
    expect(health.status).toBe(200);
    const family = descendants(child.pid ?? 0);
    expect(family.length).toBeGreaterThan(1); // tsx, node, DynamoDB Local's java

    child.kill('SIGINT');
    expect(await exited).toBe(0);
    await waitFor('every process to be gone', async () => family.every((p) => !alive(p)), 15_000);
    await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow();
  });
});
