/** Request schemas of the `/v1` API beyond the task spec (query strings, path ids); seed formats sit beside their routes. */

import * as z from 'zod';
import { EXPORT_FORMATS } from '../domain/export.ts';
import { STATUSES, TASK_TYPES } from '../domain/model.ts';

export const listQuery = z
  .object({
    status: z.enum(STATUSES).optional(),
    type: z.enum(TASK_TYPES).optional(),
    limit: z.coerce.number().int().min(1).max(100).default(20),
    cursor: z.string().min(1).max(2048).optional(),
    /** admins only: one owner's tasks */
    owner: z.string().min(1).max(2048).optional(),
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

export const batchId = z.string().regex(/^[0-9A-HJKMNP-TV-Z]{26}$/, 'not a batch id');

/** `POST /v1/tasks/batch`: the batch to add the lines to (else a new one), and defaults for its lines. */
export const batchSubmitQuery = z
  .object({
    /** add to this batch (POST /v1/batches made it, or an earlier request) */
    batchId: batchId.optional(),
    /** a name for the new batch */
    name: z.string().min(1).max(256).optional(),
    /** the model of trajectory lines that name none (seed 003 lines never do) */
    model: z.string().min(1).max(128).optional(),
  })
  .strict();

export const batchCreateBody = z.object({ name: z.string().min(1).max(256).optional() }).strict();

export const pageQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(100).default(20),
    cursor: z.string().min(1).max(2048).optional(),
  })
  .strict();

/** A batch's trajectories as fine-tuning data: the format, and whether failed ones are in it. */
export const exportQuery = pageQuery
  .extend({
    format: z.enum(EXPORT_FORMATS),
    includeFailed: z
      .enum(['true', 'false'])
      .default('false')
      .transform((v) => v === 'true'),
  })
  .strict();
