/** The local reaper: process groups a container folder records are killed, and only while still that container's. */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PID_FILES, reapOrphans } from '../../lib/local/reaper.ts';
import { alive, waitFor } from '../support/http.ts';

const started: ChildProcess[] = [];
const dirs: string[] = [];
const sleeper = (cwd: string) => {
  const c = spawn('sleep', ['60'], { cwd, detached: true, stdio: 'ignore' });
  started.push(c);
  return c.pid ?? 0;
};
afterAll(() => {
  for (const c of started) if (c.pid && alive(c.pid)) process.kill(-c.pid, 'SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('reapOrphans', () => {
  it('kills the runner and workload groups left in container folders, and spares a pid that is not theirs', async () => {
    const work = mkdtempSync(path.join(tmpdir(), 'trainstack-reap-'));
    const a = path.join(work, 'task-a');
    const b = path.join(work, 'task-b');
    const elsewhere = mkdtempSync(path.join(tmpdir(), 'trainstack-other-'));
    dirs.push(work, elsewhere);
    mkdirSync(path.join(a, 'output'), { recursive: true });
    mkdirSync(b, { recursive: true });
    const runner = sleeper(a);
    const workload = sleeper(path.join(a, 'output'));
    const stranger = sleeper(elsewhere); // a reused pid: recorded in b, but working somewhere else
    writeFileSync(path.join(a, PID_FILES.runner), String(runner));
    writeFileSync(path.join(a, PID_FILES.workload), String(workload));
    writeFileSync(path.join(b, PID_FILES.workload), String(stranger));

    expect(reapOrphans(work)).toBe(2);
    await waitFor('the orphans to die', async () => !alive(runner) && !alive(workload), 5000);
    expect(alive(stranger)).toBe(true);
    expect(reapOrphans(work)).toBe(0); // the pid files are gone
  });
});
