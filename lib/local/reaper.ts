/**
 * Process groups that outlive their container. In ECS a container's processes die together; locally
 * the runner and its workload are two process groups. Each container folder records both pids
 * (`runner.pid`, and `workload.pid` while the workload runs); when a runner ends for any reason, or
 * when the local cloud starts again after being killed, what is left is killed. A pid is only acted on
 * while its process still works in that container's folder, so a reused pid is never hit.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import * as path from 'node:path';

export const PID_FILES = { runner: 'runner.pid', workload: 'workload.pid' } as const;

function stillOurs(pid: number, dir: string): boolean {
  try {
    const cwd = readlinkSync(`/proc/${pid}/cwd`);
    return cwd === dir || cwd.startsWith(`${dir}${path.sep}`);
  } catch {
    return false; // gone, or not ours to look at
  }
}

/** Kill the process groups a container folder records; returns how many were still there. */
export function killContainerGroups(dir: string): number {
  let killed = 0;
  for (const file of Object.values(PID_FILES)) {
    const at = path.join(dir, file);
    if (!existsSync(at)) continue;
    const pid = Number(readFileSync(at, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 1 && stillOurs(pid, dir)) {
      try {
        process.kill(-pid, 'SIGKILL');
        killed++;
      } catch {
        // it ended on its own meanwhile
      }
    }
    rmSync(at, { force: true });
  }
  return killed;
}

/** Every container folder under the local ECS work folder: kill what a killed local cloud left running. */
export function reapOrphans(workDir: string): number {
  if (!existsSync(workDir)) return 0;
  let killed = 0;
  for (const entry of readdirSync(workDir, { withFileTypes: true }))
    if (entry.isDirectory()) killed += killContainerGroups(path.join(workDir, entry.name));
  return killed;
}
