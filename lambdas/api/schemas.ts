/** Request schemas of the HTTP API beyond the task spec (query strings, seed-compatible bodies). */
import { z } from 'zod';
import { STATUSES, TASK_TYPES } from '../domain/model.ts';

export const listQuery = z
  .object({
    status: z.enum(STATUSES).optional(),
    type: z.enum(TASK_TYPES).optional(),
    limit: z.coerce.number().int().min(1).max(100).default(20),
    cursor: z.string().min(1).max(2048).optional(),
  })
  .strict();

export const logsQuery = z
  .object({
    attempt: z.coerce.number().int().min(1).optional(),
    cursor: z.string().min(1).max(2048).optional(),
    limit: z.coerce.number().int().min(1).max(10_000).default(1000),
  })
  .strict();

export const dailyQuery = z.object({ days: z.coerce.number().int().min(1).max(90).default(7) }).strict();

export const taskId = z.string().regex(/^[0-9A-HJKMNP-TV-Z]{26}$/, 'not a task id');

/** Seed 000/001 `POST /train` body. */
export const seedTrainBody = z
  .object({
    epochs: z.number().int().min(1).max(100_000),
    batch_size: z.number().int().min(1).max(65_536).default(32),
    learning_rate: z.number().gt(0).lte(10).default(0.001),
    gpu: z.boolean().default(false),
    gpu_ids: z
      .string()
      .regex(/^\d+(,\d+)*$/, 'comma-separated GPU ids, e.g. "0,1"')
      .optional(),
    max_retries: z.number().int().min(0).max(10).default(3),
  })
  .strict();

export const SEED_STATUSES = ['pending', 'running', 'success', 'failed', 'cancelled'] as const;
export const seedListQuery = z
  .object({
    status: z.enum(SEED_STATUSES).optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(50),
  })
  .strict();

/** A line of seed 003's tasks.jsonl. */
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
