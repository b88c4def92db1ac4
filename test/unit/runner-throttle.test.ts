import { describe, expect, it } from 'vitest';
import type { Update } from '../../containers/runner/src/parse.ts';
import { type Clock, ProgressThrottle } from '../../containers/runner/src/throttle.ts';

/** A clock the test moves by hand. */
function manualClock() {
  let now = 0;
  let timers: { at: number; fn: () => void; id: number }[] = [];
  let next = 1;
  const clock: Clock = {
    now: () => now,
    setTimeout: (fn, ms) => {
      const id = next++;
      timers.push({ at: now + ms, fn, id });
      return id;
    },
    clearTimeout: (id) => {
      timers = timers.filter((t) => t.id !== id);
    },
  };
  const advance = async (ms: number) => {
    const end = now + ms;
    for (;;) {
      const due = timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      now = due.at;
      timers = timers.filter((t) => t !== due);
      due.fn();
      await Promise.resolve();
    }
    now = end;
    await new Promise((r) => setImmediate(r));
  };
  return { clock, advance };
}

describe('progress throttle', () => {
  it('writes a burst of thousands of lines about once a second', async () => {
    const { clock, advance } = manualClock();
    const writes: Update[] = [];
    const t = new ProgressThrottle(async (u) => void writes.push(u), 1000, clock);
    for (let ms = 0; ms < 5000; ms += 1) {
      t.push({ progress: ms / 50, metrics: { loss: 1 / (ms + 1) } });
      if (ms % 10 === 0) await advance(10);
    }
    await t.close();
    expect(writes.length).toBeGreaterThanOrEqual(5);
    expect(writes.length).toBeLessThanOrEqual(7);
  });

  it('writes the latest values at the end', async () => {
    const { clock } = manualClock();
    const writes: Update[] = [];
    const t = new ProgressThrottle(async (u) => void writes.push(u), 1000, clock);
    t.push({ progress: 10, metrics: { loss: 2 } });
    t.push({ progress: 99, metrics: { accuracy: 0.9 } });
    await t.close();
    expect(writes.at(-1)).toEqual({ progress: 99, metrics: { loss: 2, accuracy: 0.9 } });
  });

  it('keeps metrics seen in earlier windows', async () => {
    const { clock, advance } = manualClock();
    const writes: Update[] = [];
    const t = new ProgressThrottle(async (u) => void writes.push(u), 1000, clock);
    t.push({ metrics: { lr: 0.1 } });
    await advance(1500);
    t.push({ metrics: { loss: 0.5 } });
    await t.close();
    expect(writes.at(-1)?.metrics).toEqual({ lr: 0.1, loss: 0.5 });
  });

  it('does not write when nothing changed', async () => {
    const { clock } = manualClock();
    let n = 0;
    const t = new ProgressThrottle(async () => void n++, 1000, clock);
    await t.close();
    expect(n).toBe(0);
  });
});
