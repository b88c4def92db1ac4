/**
 * The training API of seeds 000/001 (the FastAPI training service trainstack replaces): `POST /train`,
 * `GET /train/{task_id}`, `GET /train`, `DELETE /train/{task_id}` and `GET /stats`, in those
 * documents' shapes and status words (pending, running, success, failed, cancelled), over the same
 * task service as `/v1`.
 */
import * as z from 'zod';
import type { Status, TaskRecord, TaskSpec } from '../domain/model.ts';
import { json, jsonBody } from './http.ts';
import { idParam, parseQuery, type Route } from './router.ts';

export const SEED_STATUSES = ['pending', 'running', 'success', 'failed', 'cancelled'] as const;
export type SeedStatus = (typeof SEED_STATUSES)[number];

/** `POST /train` body. */
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

export const seedListQuery = z
  .object({
    status: z.enum(SEED_STATUSES).optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(50),
  })
  .strict();

export function toSeedStatus(s: Status): SeedStatus {
  switch (s) {
    case 'QUEUED':
    case 'RETRYING':
      return 'pending';
    case 'STARTING':
    case 'RUNNING':
      return 'running';
    case 'SUCCEEDED':
      return 'success';
    case 'FAILED':
      return 'failed';
    case 'CANCELLED':
      return 'cancelled';
  }
}

const SEED_TO_STATUSES: Record<SeedStatus, Status[]> = {
  pending: ['QUEUED', 'RETRYING'],
  running: ['STARTING', 'RUNNING'],
  success: ['SUCCEEDED'],
  failed: ['FAILED'],
  cancelled: ['CANCELLED'],
};

export function fromSeedStatus(s: SeedStatus): Status[] {
  return SEED_TO_STATUSES[s];
}

export function seedTrainToSpec(b: z.output<typeof seedTrainBody>): TaskSpec {
  const gpus = b.gpu ? (b.gpu_ids ? b.gpu_ids.split(',').length : 1) : 0;
  return {
    type: 'training',
    params: { epochs: b.epochs, batchSize: b.batch_size, learningRate: b.learning_rate },
    priority: 5,
    gpus,
    timeoutSeconds: 3600,
    maxRetries: b.max_retries,
  };
}

export function toSeedTask(t: TaskRecord) {
  const p = t.spec.type === 'training' ? t.spec.params : undefined;
  const last = t.attempts.at(-1);
  return {
    task_id: t.taskId,
    status: toSeedStatus(t.status),
    epochs: p?.epochs ?? null,
    batch_size: p?.batchSize ?? null,
    learning_rate: p?.learningRate ?? null,
    gpu: (t.spec.gpus ?? 0) > 0,
    error: t.status === 'FAILED' || t.status === 'CANCELLED' ? (t.statusReason ?? null) : null,
    container_id: last?.ecsTaskArn ?? null,
    log_file: last?.logStream ?? null,
    created_at: t.createdAt,
    started_at: t.startedAt ?? null,
    completed_at: t.finishedAt ?? null,
    retry_count: t.retryCount,
    progress: t.progress,
  };
}

export const seedTrainRoutes: Route[] = [
  {
    method: 'POST',
    path: '/train',
    handler: async (event, _p, deps, actor) => {
      const body = seedTrainBody.parse(jsonBody(event));
      const { task } = await deps.service.submit(seedTrainToSpec(body), actor.id);
      return json(200, {
        task_id: task.taskId,
        status: toSeedStatus(task.status),
        message: 'Training task submitted successfully',
      });
    },
  },
  {
    method: 'GET',
    path: '/train/{task_id}',
    handler: async (_e, p, deps, actor) =>
      json(200, toSeedTask(await deps.service.get(idParam(p, 'task_id'), actor))),
  },
  {
    method: 'GET',
    path: '/train',
    handler: async (event, _p, deps, actor) => {
      const q = parseQuery(seedListQuery, event);
      const statuses: (Status | undefined)[] = q.status ? fromSeedStatus(q.status) : [undefined];
      const tasks: TaskRecord[] = [];
      for (const status of statuses) {
        const page = await deps.service.list(
          { ...(status ? { status } : {}), type: 'training', limit: q.limit },
          actor,
        );
        tasks.push(...page.items);
      }
      tasks.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
      const shown = tasks.slice(0, q.limit).map(toSeedTask);
      return json(200, { total: shown.length, tasks: shown });
    },
  },
  {
    method: 'DELETE',
    path: '/train/{task_id}',
    handler: async (_e, p, deps, actor) => {
      const task = await deps.service.cancel(idParam(p, 'task_id'), actor);
      return json(200, {
        task_id: task.taskId,
        status: toSeedStatus(task.status),
        message: 'Task cancelled successfully',
      });
    },
  },
  {
    method: 'GET',
    path: '/stats',
    handler: async (_e, _p, deps, actor) => {
      const s = await deps.service.stats(actor);
      const b = s.byStatus;
      const success = b.SUCCEEDED;
      const failed = b.FAILED;
      return json(200, {
        total: s.total,
        pending: b.QUEUED + b.RETRYING,
        running: b.STARTING + b.RUNNING,
        success,
        failed,
        cancelled: b.CANCELLED,
        success_rate: success + failed ? Math.round((success / (success + failed)) * 10_000) / 100 : 0,
      });
    },
  },
];
