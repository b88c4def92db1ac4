/** What the benchmarks read about processes: CPU seconds from /proc, and the process tree's RSS. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** CPU seconds (user + system) of a process, from /proc; 0 once it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

/** The machine's busy CPU seconds (every core), from /proc/stat. */
export function machineCpuSeconds(): number {
  const [, ...f] = readFileSync('/proc/stat', 'utf8').split('\n')[0]?.trim().split(/\s+/) ?? [];
  const [user, nice, system, , , irq, softirq, steal] = f.map(Number) as number[];
  return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / 100;
}

/** This process and every process below it: pid, parent, command, RSS in KiB. */
export function processTree(): { pid: number; ppid: number; comm: string; rss: number }[] {
  const rows = execFileSync('ps', ['-e', '-o', 'pid=,ppid=,rss=,comm='], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .map(([pid, ppid, rss, comm]) => ({
      pid: Number(pid),
      ppid: Number(ppid),
      rss: Number(rss),
      comm: comm ?? '',
    }));
  const out = rows.filter((r) => r.pid === process.pid);
  for (let i = 0; i < out.length; i++)
    for (const r of rows) if (r.ppid === out[i]?.pid && r.pid !== process.pid) out.push(r);
  return out;
}

/** The p-th percentile of xs (nearest rank). */
export function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
}

/**
 * A process's proportional set size in KiB (/proc/PID/smaps_rollup): its private pages, plus each
 * page it shares (the Node binary's code, mapped by every runner) divided by the processes sharing
 * it. Summed over a process tree, this counts what the tree holds once; summed RSS counts the shared
 * pages once per process. 0 once the process is gone.
 */
export function pssKiB(pid: number): number {
  try {
    return Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}
