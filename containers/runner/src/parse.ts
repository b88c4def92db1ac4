/**
 * Progress and metrics from a workload's output. Understands the runner's own line,
 * `##trainstack {"progress": 42, "metrics": {"loss": 0.31}}`, and the common forms training scripts
 * print: `Epoch 3/10`, `epoch 3 of 10`, `step 120/1000`, `loss=0.31`, `loss: 0.31`, `acc 0.9`.
 */
export interface Update {
  progress?: number;
  metrics?: Record<string, number>;
  /** why the workload is about to fail, in its words (`##trainstack {"reason": "..."}`) */
  reason?: string;
}

const MARKER = '##trainstack ';
const FRACTION = /\b(epoch|step|iter(?:ation)?|batch)\s*[:#]?\s*(\d+)\s*(?:\/|of)\s*(\d+)/i;
const METRIC =
  /\b(loss|val_loss|train_loss|accuracy|acc|val_acc|val_accuracy|lr|learning_rate|perplexity|ppl|reward|f1|samples_per_sec|throughput)\s*[=:]\s*(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)/gi;
const PERCENT = /(?:^|\s)(\d{1,3}(?:\.\d+)?)\s?%\s*(?:complete|done)?\s*$/i;

const clamp = (n: number) => Math.max(0, Math.min(100, n));

export function parseLine(line: string): Update | undefined {
  const at = line.indexOf(MARKER);
  if (at >= 0) {
    try {
      const v = JSON.parse(line.slice(at + MARKER.length)) as {
        progress?: unknown;
        metrics?: unknown;
        reason?: unknown;
      };
      const u: Update = {};
      if (typeof v.reason === 'string' && v.reason.trim()) u.reason = v.reason.trim().slice(0, 500);
      if (typeof v.progress === 'number' && Number.isFinite(v.progress)) u.progress = clamp(v.progress);
      if (v.metrics && typeof v.metrics === 'object') {
        const m: Record<string, number> = {};
        for (const [k, x] of Object.entries(v.metrics as Record<string, unknown>)) {
          if (typeof x === 'number' && Number.isFinite(x) && k.length <= 64) m[k] = x;
        }
        if (Object.keys(m).length) u.metrics = m;
      }
      return u.progress !== undefined || u.metrics || u.reason ? u : undefined;
    } catch {
      return undefined; // a malformed marker line is just output
    }
  }
  const u: Update = {};
  const f = FRACTION.exec(line);
  if (f) {
    const done = Number(f[2]);
    const total = Number(f[3]);
    if (total > 0 && done <= total) u.progress = clamp((done / total) * 100);
  } else {
    const p = PERCENT.exec(line);
    if (p) u.progress = clamp(Number(p[1]));
  }
  const metrics: Record<string, number> = {};
  for (const m of line.matchAll(METRIC)) {
    const key = (m[1] ?? '').toLowerCase();
    const value = Number(m[2]);
    if (Number.isFinite(value)) metrics[key === 'acc' ? 'accuracy' : key] = value;
  }
  if (Object.keys(metrics).length) u.metrics = metrics;
  return u.progress !== undefined || u.metrics ? u : undefined;
}

/** Fold updates: the latest progress wins, metrics accumulate by name. */
export function merge(into: Update, u: Update): Update {
  return {
    ...(u.progress !== undefined
      ? { progress: u.progress }
      : into.progress !== undefined
        ? { progress: into.progress }
        : {}),
    ...(into.metrics || u.metrics ? { metrics: { ...into.metrics, ...u.metrics } } : {}),
  };
}
