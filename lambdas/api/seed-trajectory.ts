/**
 * Seed 003's wire format: a line of the agent data platform's `tasks.jsonl` (`task_id`, `task_type`,
 * `description`, `expected_tools`, `max_steps`, `timeout`, `priority`), accepted by
 * `POST /v1/tasks/batch` and mapped onto a trajectory task.
 */
import { createHash } from 'node:crypto';
import * as z from 'zod/mini';
import type { TaskSpec } from '../domain/model.ts';
import { int, str } from '../domain/validation.ts';

export const seedTrajectoryLine = z.strictObject({
  task_id: str(1, 256),
  task_type: z.enum(['reasoning', 'code', 'web']),
  description: str(1, 20_000),
  expected_tools: z._default(z.array(z.string()).check(z.maxLength(50)), []),
  max_steps: z._default(int(1, 1000), 10),
  timeout: z.optional(int(1, 604_800)),
  priority: z.optional(int(1, 10)),
  /** not in the seed: the registered model the agent calls (else the batch's ?model=) */
  model: z.optional(str(1, 128)),
});

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
