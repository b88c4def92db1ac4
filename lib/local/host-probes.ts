/** What this machine offers tasks: a Docker engine with the task image, NVIDIA GPUs, Python with PyTorch. */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

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

/**
 * python3 that can import torch (Debian's /usr/bin/python3 when the first one on PATH cannot). Importing
 * torch takes seconds, so this runs beside the rest of a local cloud's start-up rather than before it.
 */
export async function pythonWithTorch(
  candidates = [process.env.TRAINSTACK_PYTHON, 'python3', '/usr/bin/python3'],
): Promise<string> {
  for (const py of candidates) {
    if (!py) continue;
    try {
      await run(py, ['-c', 'import torch'], { timeout: 60_000 });
      return py;
    } catch {
      // try the next one
    }
  }
  return 'python3';
}
