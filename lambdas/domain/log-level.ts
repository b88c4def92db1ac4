/**
 * Log lines with a level (seed 000's "unified log format with levels"). The runner stores a
 * workload's stdout as it is (INFO) and tags its stderr: `[ERROR] ` for a Python traceback (from its
 * `Traceback` line to the exception line), `[WARN] ` for the rest. The logs route reads the tag back
 * into `level` and gives the line without it. No zod: the runner bundles this too.
 */
export type LogLevel = 'INFO' | 'WARN' | 'ERROR';

const TAG = /^\[(WARN|ERROR)\] /;

/** A stored line's level, and the line without its tag. */
export function levelOf(stored: string): { level: LogLevel; message: string } {
  const m = TAG.exec(stored);
  return m
    ? { level: m[1] as LogLevel, message: stored.slice(m[0].length) }
    : { level: 'INFO', message: stored };
}

/** Tags a workload's stderr lines, one stream at a time (it remembers whether it is inside a traceback). */
export class StderrTagger {
  private inTraceback = false;

  tag(line: string): string {
    if (line.startsWith('Traceback (most recent call last)')) this.inTraceback = true;
    if (this.inTraceback) {
      // the traceback's frames are indented; its last line, the exception, is not
      if (!/^(\s|Traceback|During handling|The above exception)/.test(line) && line.trim())
        this.inTraceback = false;
      return `[ERROR] ${line}`;
    }
    return `[WARN] ${line}`;
  }
}
