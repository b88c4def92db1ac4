/** Durations of a task record (no zod: shared by the small bundles). */
import type { TaskRecord } from './model.ts';

/** What a task's compute costs an hour: its GPUs at the GPU rate, or one CPU task at the CPU rate. */
export interface Prices {
  gpuHourlyUsd?: number;
  cpuHourlyUsd?: number;
}

/** The estimated cost of `durationSeconds` of the task's compute, when there is a price for it. */
export function costOf(task: TaskRecord, durationSeconds: number | undefined, prices: Prices) {
  const gpus = task.spec.gpus ?? 0;
  const hourly = gpus ? gpus * (prices.gpuHourlyUsd ?? 0) : (prices.cpuHourlyUsd ?? 0);
  if (durationSeconds === undefined || !hourly) return {};
  return { estimatedCostUsd: Math.round(((durationSeconds * hourly) / 3600) * 10_000) / 10_000 };
}

export function durationOf(task: TaskRecord, now: Date): { durationSeconds?: number } {
  if (!task.startedAt) return {};
  return {
    durationSeconds: Math.max(0, Math.round((now.getTime() - Date.parse(task.startedAt)) / 100) / 10),
  };
}
