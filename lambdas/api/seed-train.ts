/**
 * The training API of seeds 000/001 (the FastAPI training service trainstack replaces): `POST /train`,
 * `GET /train/{task_id}`, `GET /train`, `DELETE /train/{task_id}` and `GET /stats`, in those
 * documents' shapes and status words (pending, running, success, failed, cancelled), over the same
 * task service as `/v1`.
 */
import * as z from 'zod/mini';
import type { Status, TaskRecord, TaskSpec } from '../domain/model.ts';
import { int, queryInt } from '../domain/validation.ts';
import { json, jsonBody } from './http.ts';
import { idParam, parseQuery, type Route } from './router.ts';

export const SEED_STATUSES = ['pending', 'running', 'success', 'failed', 'cancelled'] as const;
export type SeedStatus = (typeof SEED_STATUSES)[number];

/** `POST /train` body. */
export const seedTrainBody = z.strictObject({
  epochs: int(1, 100_000),
  batch_size: z._default(int(1, 65_536), 32),
  learning_rate: z._default(z.number().check(z.gt(0), z.lte(10)), 0.001),
  gpu: z._default(z.boolean(), false),
  gpu_ids: z.optional(z.string().check(z.regex(/^\d+(,\d+)*$/, 'comma-separated GPU ids, e.g. "0,1"'))),
  max_retries: z._default(int(0, 10), 3),
});

export const seedListQuery = z.strictObject({
  status: z.optional(z.enum(SEED_STATUSES)),
  limit: z._default(queryInt(1, 1000), 50),
});

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
