/** Request schemas of the `/v1` API beyond the task spec (query strings, path ids); seed formats sit beside their routes. */

import * as z from 'zod/mini';
import { EXPORT_FORMATS } from '../domain/export.ts';
import { STATUSES, TASK_TYPES } from '../domain/model.ts';
import { queryInt, str } from '../domain/validation.ts';

export const listQuery = z.strictObject({
  status: z.optional(z.enum(STATUSES)),
  type: z.optional(z.enum(TASK_TYPES)),
  limit: z._default(queryInt(1, 100), 20),
  cursor: z.optional(str(1, 2048)),
  /** admins only: one owner's tasks */
  owner: z.optional(str(1, 2048)),
  /** the tasks that call a registered model (its id or name) */
  model: z.optional(str(1, 128)),
});

export const logsQuery = z.strictObject({
  attempt: z.optional(z.coerce.number().check(z.int(), z.minimum(1))),
  cursor: z.optional(str(1, 2048)),
  limit: z._default(queryInt(1, 10_000), 1000),
});

export const dailyQuery = z.strictObject({ days: z._default(queryInt(1, 90), 7) });

export const taskId = z.string().check(z.regex(/^[0-9A-HJKMNP-TV-Z]{26}$/, 'not a task id'));

export const batchId = z.string().check(z.regex(/^[0-9A-HJKMNP-TV-Z]{26}$/, 'not a batch id'));

/** `POST /v1/tasks/batch`: the batch to add the lines to (else a new one), and defaults for its lines. */
export const batchSubmitQuery = z.strictObject({
  /** add to this batch (POST /v1/batches made it, or an earlier request) */
  batchId: z.optional(batchId),
  /** a name for the new batch */
  name: z.optional(str(1, 256)),
  /** the model of trajectory lines that name none (seed 003 lines never do) */
  model: z.optional(str(1, 128)),
});

export const batchCreateBody = z.strictObject({ name: z.optional(str(1, 256)) });

const page = {
  limit: z._default(queryInt(1, 100), 20),
  cursor: z.optional(str(1, 2048)),
};

export const pageQuery = z.strictObject(page);

/** A batch's trajectories as fine-tuning data: the format, and whether failed ones are in it. */
export const exportQuery = z.strictObject({
  ...page,
  format: z.enum(EXPORT_FORMATS),
  includeFailed: z.pipe(
    z._default(z.enum(['true', 'false']), 'false'),
    z.transform((v) => v === 'true'),
  ),
});
