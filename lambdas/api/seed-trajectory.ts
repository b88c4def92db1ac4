/**
 * Seed 003's wire format: a line of the agent data platform's `tasks.jsonl` (`task_id`, `task_type`,
 * `description`, `expected_tools`, `max_steps`, `timeout`, `priority`), accepted by
 * `POST /v1/tasks/batch` and mapped onto a trajectory task.
 */
import { createHash } from 'node:crypto';
import * as z from 'zod';
import type { TaskSpec } from '../domain/model.ts';

export const seedTrajectoryLine = z
  .object({
    task_id: z.string().min(1).max(256),
    task_type: z.enum(['reasoning', 'code', 'web']),
    description: z.string().min(1).max(20_000),
    expected_tools: z.array(z.string()).max(50).default([]),
    max_steps: z.number().int().min(1).max(1000).default(10),
    timeout: z.number().int().min(1).max(604_800).optional(),
    priority: z.number().int().min(1).max(10).optional(),
    /** not in the seed: the registered model the agent calls (else the batch's ?model=) */
    model: z.string().min(1).max(128).optional(),
  })
  .strict();

/**
 * The idempotency key of a line's task_id: a resubmitted line (same owner, same task_id) is the same
 * task, not a second one. Hashed, since task_ids may be any text (seed 003's are Chinese).
 */
export const seedLineKey = (taskId: string) =>
  `task_id:${createHash('sha256').update(taskId).digest('hex').slice(0, 48)}`;

/** A batch line is in seed 003's format when it names a `task_type`. */
export const isSeedTrajectoryLine = (line: unknown): boolean =>
  Boolean(line && typeof line === 'object' && 'task_type' in line);

/**
 * The trajectory task of a line. Its task_id names the task and is carried by its trajectory. A run
 * that ends without an answer is a result (its trajectory says why), so it is not run again
 * (maxRetries 0); infrastructure losses still are.
 */
export function seedTrajectoryToSpec(l: z.output<typeof seedTrajectoryLine>, model?: string): TaskSpec {
  const m = l.model ?? model;
  return {
    type: 'trajectory',
    name: l.task_id,
    params: {
      taskType: l.task_type,
      description: l.description,
      expectedTools: l.expected_tools,
      maxSteps: l.max_steps,
      taskId: l.task_id,
      ...(m ? { model: m } : {}),
    },
    priority: l.priority ?? 5,
    timeoutSeconds: Math.max(60, l.timeout ?? 3600),
    maxRetries: 0,
  };
}
