/** Durations of a task record (no zod: shared by the small bundles). */
import type { TaskRecord } from './model.ts';

export function durationOf(task: TaskRecord, now: Date): { durationSeconds?: number } {
  if (!task.startedAt) return {};
  return {
    durationSeconds: Math.max(0, Math.round((now.getTime() - Date.parse(task.startedAt)) / 100) / 10),
  };
}
