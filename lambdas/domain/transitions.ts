/**
 * The task life cycle as data: which status may follow which, and what each change does to the
 * stats counters. Pure, so the rules are tested without AWS and shared by API, dispatcher and workflow.
 */
import { conflict } from './errors.ts';
import type { TaskRecord } from './model.ts';
import { ACTIVE, type Status, type TaskType, TERMINAL } from './status.ts';
import type { BatchRecord, BatchState, DailyCounts, Stats, TransitionRequest } from './task-repository.ts';

export const ALLOWED: Record<Status, readonly Status[]> = {
  QUEUED: ['STARTING', 'CANCELLED', 'FAILED'],
  // STARTING -> QUEUED: a claim whose workflow never started is undone by the reconciler
  STARTING: ['RUNNING', 'RETRYING', 'SUCCEEDED', 'FAILED', 'CANCELLED', 'QUEUED'],
  RUNNING: ['SUCCEEDED', 'FAILED', 'RETRYING', 'CANCELLED'],
  RETRYING: ['STARTING', 'FAILED', 'CANCELLED'],
  SUCCEEDED: [],
  FAILED: ['QUEUED'],
  CANCELLED: ['QUEUED'],
};

export function canTransition(from: Status, to: Status): boolean {
  return ALLOWED[from].includes(to);
}

/** Attribute names of the stats item; flat so that `ADD` works without creating maps first. */
export const statusKey = (s: Status) => `status_${s}`;
export const typeKey = (t: TaskType) => `type_${t}`;
export const typeStatusKey = (t: TaskType, s: Status) => `typeStatus_${t}_${s}`;

export interface StatsDelta {
  /** counter name -> increment */
  add: Record<string, number>;
  /** change of the `active` counter (slots held against the concurrency cap) */
  active: number;
  /** which daily counter this change bumps, if any */
  daily?: 'succeeded' | 'failed' | 'cancelled' | 'requeued';
}

/** What a status change from `from` to `to` does to the counters. */
export function statsDelta(type: TaskType, from: Status, to: Status): StatsDelta {
  const add: Record<string, number> = {
    [statusKey(from)]: -1,
    [statusKey(to)]: 1,
    [typeStatusKey(type, from)]: -1,
    [typeStatusKey(type, to)]: 1,
  };
  const active = (ACTIVE.has(to) ? 1 : 0) - (ACTIVE.has(from) ? 1 : 0);
  let daily: StatsDelta['daily'];
  if (to === 'SUCCEEDED') daily = 'succeeded';
  else if (to === 'FAILED') daily = 'failed';
  else if (to === 'CANCELLED') daily = 'cancelled';
  else if (to === 'QUEUED' && TERMINAL.has(from)) daily = 'requeued';
  return { add, active, ...(daily ? { daily } : {}) };
}

/** Counters a new submission adds. */
export function submitDelta(type: TaskType): Record<string, number> {
  return { total: 1, [statusKey('QUEUED')]: 1, [typeKey(type)]: 1, [typeStatusKey(type, 'QUEUED')]: 1 };
}

/** What one transition writes: the record after it, the stats increments, the daily counter, the cap. */
export interface TransitionPlan {
  next: TaskRecord;
  /** increments of the stats counters */
  counters: Record<string, number>;
  /** the daily counter this change bumps, if any */
  daily?: string;
  /** refuse the change if it would leave `active` above this */
  cap?: number;
  /**
   * A task of registered models takes or frees one worker of each (its model, and the other models of
   * a mixed-model batch file): `delta` is +1 or -1, and a claim (`claim: true`) must find every one of
   * them online with a worker free, in the same write.
   */
  models?: { modelIds: string[]; delta: number; claim: boolean };
  /**
   * The task's lockKey: released when it ends, taken again when it is queued once more (a retry); a
   * claim fails (LockHeld) while another task holds it.
   */
  lock?: { owner: string; key: string; taskId: string; claim: boolean };
  /** increments of the task's model's counters (its tasks by status, run time, and tokens when it ends) */
  modelCounters?: { modelId: string; add: Record<string, number> };
  now: string;
}

/**
 * Plan a status change (every repository applies the same plan): the next record, and what the
 * change does to the counters (status and type counts, slots and GPUs held, run and wait times).
 */
export function planTransition(task: TaskRecord, req: TransitionRequest): TransitionPlan {
  if (!canTransition(req.from, req.to))
    throw conflict(`task ${task.taskId} cannot go from ${req.from} to ${req.to}`);
  const now = req.now ?? new Date().toISOString();
  const delta = statsDelta(task.type, req.from, req.to);
  const set = Object.fromEntries(Object.entries(req.set ?? {}).filter(([, v]) => v !== undefined));
  const next = { ...task, ...set, status: req.to, updatedAt: now } as TaskRecord;
  if (req.reason !== undefined) next.statusReason = req.reason;
  else delete next.statusReason;
  const attempts = [...task.attempts];
  if (req.endAttempt) attempts[req.endAttempt.index] = req.endAttempt.attempt;
  if (req.appendAttempt) attempts.push(req.appendAttempt);
  next.attempts = attempts;

  const counters: Record<string, number> = { ...delta.add };
  if (delta.active) {
    counters.active = delta.active;
    const gpus = task.spec.gpus ?? 0;
    if (gpus) counters.activeGpus = delta.active * gpus;
  }
  if (TERMINAL.has(req.to) && next.durationSeconds !== undefined) {
    counters.runSecondsSum = next.durationSeconds;
    // what ended tasks cost, summed (in micro-dollars: counters add integers exactly)
    if (next.estimatedCostUsd !== undefined)
      counters.costMicroUsd = Math.round(next.estimatedCostUsd * 1_000_000);
    counters.runCount = 1;
  }
  // a task that ended is queued again (a retry): its cost counts again only when it ends again
  if (TERMINAL.has(req.from) && !TERMINAL.has(req.to) && task.estimatedCostUsd !== undefined)
    counters.costMicroUsd = -Math.round(task.estimatedCostUsd * 1_000_000);
  if (req.from === 'QUEUED' && req.to === 'STARTING') {
    counters.waitSecondsSum = Math.max(0, (Date.parse(now) - Date.parse(task.createdAt)) / 1000);
    counters.waitCount = 1;
  }
  return {
    next,
    counters,
    ...(delta.daily ? { daily: delta.daily } : {}),
    ...(req.activeCap !== undefined && delta.active > 0 ? { cap: req.activeCap } : {}),
    ...(task.modelId && delta.active
      ? {
          models: {
            modelIds: [task.modelId, ...(task.otherModelIds ?? [])],
            delta: delta.active,
            claim: delta.active > 0,
          },
        }
      : {}),
    ...(task.spec.lockKey && TERMINAL.has(req.to) !== TERMINAL.has(req.from)
      ? {
          lock: {
            owner: task.owner,
            key: task.spec.lockKey,
            taskId: task.taskId,
            claim: !TERMINAL.has(req.to),
          },
        }
      : {}),
    ...(task.modelId
      ? {
          modelCounters: {
            modelId: task.modelId,
            add: {
              ...counters,
              ...(TERMINAL.has(req.to)
                ? {
                    promptTokens: next.metrics?.promptTokens ?? 0,
                    completionTokens: next.metrics?.completionTokens ?? 0,
                    requestsSucceeded: next.metrics?.succeeded ?? 0,
                    latencyMsSum: next.metrics?.latencyMsSum ?? 0,
                  }
                : {}),
            },
          },
        }
      : {}),
    now,
  };
}

/** The stats, read back from the flat counters (absent counters are zero). */
export function statsFromCounters(item: Record<string, unknown>): Stats {
  const num = (k: string) => (typeof item[k] === 'number' ? (item[k] as number) : 0);
  const s: Stats = {
    total: num('total'),
    byStatus: {},
    byType: {},
    byTypeStatus: {},
    active: num('active'),
    activeGpus: num('activeGpus'),
    runSecondsSum: num('runSecondsSum'),
    runCount: num('runCount'),
    costMicroUsd: num('costMicroUsd'),
    waitSecondsSum: num('waitSecondsSum'),
    waitCount: num('waitCount'),
  };
  for (const [k, v] of Object.entries(item)) {
    if (typeof v !== 'number') continue;
    if (k.startsWith('status_')) s.byStatus[k.slice(7)] = v;
    else if (k.startsWith('typeStatus_')) {
      const [type, status] = k.slice(11).split('_') as [string, string];
      const forType = s.byTypeStatus[type] ?? {};
      forType[status] = v;
      s.byTypeStatus[type] = forType;
    } else if (k.startsWith('type_')) s.byType[k.slice(5)] = v;
  }
  return s;
}

/** The ISO dates of the last `days` days, oldest first, ending with `now`'s. */
export function lastDays(days: number, now: Date): string[] {
  const out: string[] = [];
  for (let i = days - 1; i >= 0; i--)
    out.push(new Date(now.getTime() - i * 86_400_000).toISOString().slice(0, 10));
  return out;
}

/** One day's row from its counters. */
export function dailyRow(date: string, item: Record<string, unknown> = {}): DailyCounts {
  const n = (k: string) => (typeof item[k] === 'number' ? (item[k] as number) : 0);
  return {
    date,
    submitted: n('submitted'),
    succeeded: n('succeeded'),
    failed: n('failed'),
    cancelled: n('cancelled'),
  };
}

/** A batch's state from its item: the record, the line counts and its tasks' counters. */
export function batchState(b: BatchRecord, item: Record<string, unknown>): BatchState {
  const num = (k: string) => (typeof item[k] === 'number' ? (item[k] as number) : 0);
  return {
    ...b,
    lines: num('lines_lines'),
    accepted: num('lines_accepted'),
    duplicates: num('lines_duplicates'),
    rejected: num('lines_rejected'),
    stats: statsFromCounters(item),
  };
}
