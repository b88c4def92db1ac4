/**
 * Seed 003's wire format: a line of the agent data platform's `tasks.jsonl` (`task_id`, `task_type`,
 * `description`, `expected_tools`, `max_steps`, `timeout`, `priority`), accepted by
 * `POST /v1/tasks/batch` and mapped onto a trajectory task.
 */
import { z } from 'zod';
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
  })
  .strict();

/** A batch line is in seed 003's format when it names a `task_type`. */
export const isSeedTrajectoryLine = (line: unknown): boolean =>
  Boolean(line && typeof line === 'object' && 'task_type' in line);

export function seedTrajectoryToSpec(l: z.output<typeof seedTrajectoryLine>): TaskSpec {
  return {
    type: 'trajectory',
    name: l.task_id,
    params: {
      taskType: l.task_type,
      description: l.description,
      expectedTools: l.expected_tools,
      maxSteps: l.max_steps,
    },
    priority: l.priority ?? 5,
    timeoutSeconds: Math.max(60, l.timeout ?? 3600),
    maxRetries: 3,
  };
}
