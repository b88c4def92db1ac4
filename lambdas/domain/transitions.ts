/**
 * The task life cycle as data: which status may follow which, and what each change does to the
 * stats counters. Pure, so the rules are tested without AWS and shared by API, dispatcher and workflow.
 */
import { ACTIVE, type Status, type TaskType, TERMINAL } from './status.ts';

export const ALLOWED: Record<Status, readonly Status[]> = {
  QUEUED: ['STARTING', 'CANCELLED', 'FAILED'],
  STARTING: ['RUNNING', 'RETRYING', 'SUCCEEDED', 'FAILED', 'CANCELLED'],
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
