/** What this machine offers tasks: a Docker engine with the task image, NVIDIA GPUs, Python with PyTorch. */
import { execFileSync } from 'node:child_process';

/** Docker is used when an engine answers and the task image has been built. */
export function dockerAvailable(image: string, bin = 'docker'): boolean {
  try {
    execFileSync(bin, ['info'], { stdio: 'ignore', timeout: 5000 });
    execFileSync(bin, ['image', 'inspect', image], { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

/** NVIDIA GPUs nvidia-smi lists (0 without the tool or a driver). */
export function gpusOnThisMachine(): number {
  try {
    const out = execFileSync('nvidia-smi', ['--query-gpu=index', '--format=csv,noheader'], {
      encoding: 'utf8',
      timeout: 5000,
    });
    return out.split('\n').filter((l) => l.trim()).length;
  } catch {
    return 0;
  }
}

/** python3 that can import torch (Debian's /usr/bin/python3 when the first one on PATH cannot). */
export function pythonWithTorch(
  candidates = [process.env.TRAINSTACK_PYTHON, 'python3', '/usr/bin/python3'],
): string {
  for (const py of candidates) {
    if (!py) continue;
    try {
      execFileSync(py, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 });
      return py;
    } catch {
      // try the next one
    }
  }
  return 'python3';
}
