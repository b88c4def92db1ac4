/**
 * Coalesces a stream of updates into writes at most once per interval, and one final write at the
 * end, so a workload printing thousands of lines a second costs about one write a second.
 */
import { merge, type Update } from './parse.ts';

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(t: unknown): void;
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (t) => clearTimeout(t as NodeJS.Timeout),
};

export class ProgressThrottle {
  /** everything seen so far: each write carries the latest progress and every metric's latest value */
  private state: Update = {};
  private dirty = false;
  private lastWrite = Number.NEGATIVE_INFINITY;
  private timer: unknown;
  private inflight: Promise<void> = Promise.resolve();
  writes = 0;

  constructor(
    private readonly write: (u: Update) => Promise<void>,
    private readonly intervalMs = 1000,
    private readonly clock: Clock = realClock,
  ) {}

  push(u: Update): void {
    this.state = merge(this.state, u);
    this.dirty = true;
    if (this.timer !== undefined) return;
    const wait = Math.max(0, this.lastWrite + this.intervalMs - this.clock.now());
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      void this.flushNow();
    }, wait);
  }

  private flushNow(): Promise<void> {
    if (!this.dirty) return this.inflight;
    const u = this.state;
    this.dirty = false;
    this.lastWrite = this.clock.now();
    this.writes++;
    this.inflight = this.inflight.then(() => this.write(u)).catch(() => undefined);
    return this.inflight;
  }

  /** Write whatever is pending now (at the end of the workload). */
  async close(final?: Update): Promise<void> {
    if (this.timer !== undefined) {
      this.clock.clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (final) {
      this.state = merge(this.state, final);
      this.dirty = true;
    }
    await this.flushNow();
  }
}
