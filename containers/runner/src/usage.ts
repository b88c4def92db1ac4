/**
 * Resource usage of the workload's process tree (Linux /proc: CPU seconds, peak resident memory) and,
 * where nvidia-smi exists, GPU utilisation and memory sampled while it runs, and GPU-seconds.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);
const TICKS = 100; // USER_HZ on Linux
const PAGE = 4096;

interface ProcStat {
  pid: number;
  ppid: number;
  cpuTicks: number;
  rssBytes: number;
}

function readStat(pid: number): ProcStat | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // fields after the command: state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17) ... rss(24)
    return {
      pid,
      ppid: Number(rest[1]),
      cpuTicks: Number(rest[11]) + Number(rest[12]) + Number(rest[13]) + Number(rest[14]),
      rssBytes: Number(rest[21]) * PAGE,
    };
  } catch {
    return undefined;
  }
}

/** The process and all its descendants. */
export function processTree(root: number): ProcStat[] {
  let pids: number[];
  try {
    pids = readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .map(Number);
  } catch {
    return [];
  }
  const stats = pids.map(readStat).filter((s): s is ProcStat => Boolean(s));
  const children = new Map<number, ProcStat[]>();
  for (const s of stats) children.set(s.ppid, [...(children.get(s.ppid) ?? []), s]);
  const out: ProcStat[] = [];
  const rootStat = stats.find((s) => s.pid === root);
  const stack = rootStat ? [rootStat] : [];
  while (stack.length) {
    const s = stack.pop() as ProcStat;
    out.push(s);
    stack.push(...(children.get(s.pid) ?? []));
  }
  return out;
}

export interface GpuSample {
  utilization: number;
  memoryMiB: number;
}

export async function sampleGpus(): Promise<GpuSample[] | undefined> {
  try {
    const { stdout } = await run(
      'nvidia-smi',
      ['--query-gpu=utilization.gpu,memory.used', '--format=csv,noheader,nounits'],
      {
        timeout: 5000,
      },
    );
    return stdout
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => {
        const [u, m] = l.split(',').map((x) => Number(x.trim()));
        return { utilization: u ?? 0, memoryMiB: m ?? 0 };
      });
  } catch {
    return undefined;
  }
}

export interface Usage {
  cpuSeconds: number;
  peakMemoryMiB: number;
  gpuUtilizationPct?: number;
  gpuMemoryMiB?: number;
  gpuSeconds?: number;
  gpuSamples?: number;
}

/** Samples the tree every `intervalMs`; CPU time of exited children is kept in their parent's cutime. */
export class UsageSampler {
  private cpuTicksMax = 0;
  private seen = new Map<number, number>();
  private peakRss = 0;
  private gpuUtilSum = 0;
  private gpuSamples = 0;
  private gpuMemPeak = 0;
  private gpuCount = 0;
  private timer: NodeJS.Timeout | undefined;
  private gpuTimer: NodeJS.Timeout | undefined;
  private started = Date.now();
  private gpuBusy = false;

  constructor(
    private readonly rootPid: number,
    private readonly intervalMs = 1000,
    private readonly gpuIntervalMs = 2000,
    private readonly withGpu = true,
  ) {}

  start(): void {
    this.started = Date.now();
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
    if (this.withGpu) {
      void this.sampleGpu();
      this.gpuTimer = setInterval(() => void this.sampleGpu(), this.gpuIntervalMs);
      this.gpuTimer.unref();
    }
  }

  sample(): void {
    const tree = processTree(this.rootPid);
    let rss = 0;
    for (const p of tree) {
      this.seen.set(p.pid, Math.max(this.seen.get(p.pid) ?? 0, p.cpuTicks));
      rss += p.rssBytes;
    }
    this.cpuTicksMax = Math.max(
      this.cpuTicksMax,
      [...this.seen.values()].reduce((a, b) => a + b, 0),
    );
    this.peakRss = Math.max(this.peakRss, rss);
  }

  private async sampleGpu(): Promise<void> {
    if (this.gpuBusy) return;
    this.gpuBusy = true;
    try {
      const s = await sampleGpus();
      if (!s?.length) return;
      this.gpuCount = s.length;
      this.gpuUtilSum += s.reduce((a, g) => a + g.utilization, 0) / s.length;
      this.gpuMemPeak = Math.max(
        this.gpuMemPeak,
        s.reduce((a, g) => a + g.memoryMiB, 0),
      );
      this.gpuSamples++;
    } finally {
      this.gpuBusy = false;
    }
  }

  /** The usage so far, while it runs (peaks and means up to now). */
  snapshot(): Usage {
    return this.summary();
  }

  stop(): Usage {
    if (this.timer) clearInterval(this.timer);
    if (this.gpuTimer) clearInterval(this.gpuTimer);
    return this.summary();
  }

  private summary(): Usage {
    const seconds = (Date.now() - this.started) / 1000;
    const u: Usage = {
      cpuSeconds: Math.round((this.cpuTicksMax / TICKS) * 100) / 100,
      peakMemoryMiB: Math.round(this.peakRss / 1048576),
    };
    if (this.gpuSamples) {
      u.gpuUtilizationPct = Math.round((this.gpuUtilSum / this.gpuSamples) * 10) / 10;
      u.gpuMemoryMiB = this.gpuMemPeak;
      u.gpuSeconds = Math.round(seconds * this.gpuCount * 10) / 10;
      u.gpuSamples = this.gpuSamples;
    }
    return u;
  }
}
