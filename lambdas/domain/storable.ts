/**
 * What a task record can hold: DynamoDB stores numbers between 1e-130 and 1e126 in magnitude, maps
 * nested at most 32 deep, attribute names of at least one character, and items of at most 400 KB.
 * User input is checked against these limits at the edge, so a value DynamoDB would refuse is a 400
 * (or 413) naming its field, never a 500 after part of the work was done.
 */
import type { FieldIssue } from './errors.ts';

/** Levels of nesting a user value may have (the record adds its own levels above it). */
export const MAX_DEPTH = 16;
/** The largest spec stored, leaving room under DynamoDB's 400 KB for the record's own fields. */
export const MAX_SPEC_BYTES = 300 * 1024;

const join = (path: string, key: string | number) =>
  typeof key === 'number' ? `${path}[${key}]` : path ? `${path}.${key}` : key;

/** Every place in `value` DynamoDB could not store, with its path. */
export function storableIssues(value: unknown, path = '', depth = 0): FieldIssue[] {
  if (typeof value === 'number') {
    const a = Math.abs(value);
    if (!Number.isFinite(value)) return [{ path: path || '(body)', message: 'must be a finite number' }];
    if (a !== 0 && (a < 1e-130 || a >= 1e126))
      return [{ path: path || '(body)', message: 'must be 0 or between 1e-130 and 1e126 in magnitude' }];
    return [];
  }
  if (!value || typeof value !== 'object') return [];
  if (depth >= MAX_DEPTH)
    return [{ path: path || '(body)', message: `nested deeper than ${MAX_DEPTH} levels` }];
  if (Array.isArray(value)) return value.flatMap((v, i) => storableIssues(v, join(path, i), depth + 1));
  return Object.entries(value).flatMap(([k, v]) =>
    k === ''
      ? [{ path: path || '(body)', message: 'object keys must not be empty' }]
      : storableIssues(v, join(path, k), depth + 1),
  );
}

/** The size of the value as stored (its JSON, in bytes), and the largest top-level field. */
export function sizeOf(value: Record<string, unknown>): { bytes: number; largest?: string } {
  let largest: string | undefined;
  let most = -1;
  for (const [k, v] of Object.entries(value)) {
    const n = Buffer.byteLength(JSON.stringify(v) ?? '', 'utf8');
    if (n > most) {
      most = n;
      largest = k;
    }
  }
  return { bytes: Buffer.byteLength(JSON.stringify(value), 'utf8'), ...(largest ? { largest } : {}) };
}
