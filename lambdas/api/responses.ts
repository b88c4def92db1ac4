/**
 * What each route answers when it succeeds, as zod schemas: the OpenAPI document's response schemas
 * (openapi.ts), and what a test checks every route's real answers against (test/integration/api.test.ts),
 * so the document cannot drift from the handlers. Objects are loose (a field added later is not a
 * breaking change); the fields named are required where the API always sends them.
 */
import * as z from 'zod/mini';
import { STATUSES, TASK_TYPES } from '../domain/status.ts';

const status = z.enum(STATUSES);
const counts = z.record(z.string(), z.number());

const attempt = z.looseObject({
  attempt: z.number().check(z.int()),
  startedAt: z.string(),
  endedAt: z.optional(z.string()),
  exitCode: z.optional(z.number().check(z.int())),
  outcome: z.optional(z.string()),
  reason: z.optional(z.string()),
  ecsTaskArn: z.optional(z.string()),
  logStream: z.optional(z.string()),
});

export const taskView = z
  .looseObject({
    taskId: z.string(),
    type: z.enum(TASK_TYPES),
    name: z.optional(z.string()),
    owner: z.string(),
    spec: z.looseObject({ type: z.enum(TASK_TYPES) }),
    status,
    statusReason: z.optional(z.string()),
    priority: z.number().check(z.int()),
    progress: z.number(),
    metrics: z.optional(counts),
    attempts: z.array(attempt),
    retryCount: z.number().check(z.int()),
    createdAt: z.string(),
    startedAt: z.optional(z.string()),
    finishedAt: z.optional(z.string()),
    durationSeconds: z.optional(z.number()),
    resultLocation: z.optional(z.string()),
    resourceUsage: z.optional(z.looseObject({})),
    estimatedCostUsd: z.optional(z.number()),
    modelId: z.optional(z.string()),
    otherModelIds: z.optional(z.array(z.string())),
    batchId: z.optional(z.string()),
    output: z.optional(z.string()),
    requestCounts: z.optional(z.object({ total: z.number(), completed: z.number(), failed: z.number() })),
    batchStatus: z.optional(
      z.enum(['validating', 'in_progress', 'finalizing', 'completed', 'failed', 'expired', 'cancelled']),
    ),
  })
  .check(z.describe('a task as its owner sees it (env values hidden)'));

const fieldIssue = z.object({ path: z.string(), message: z.string() });
const lineRefused = z.object({
  line: z.number().check(z.int()),
  error: z.object({ code: z.string(), message: z.string(), details: z.array(fieldIssue) }),
});

export const batchSubmitResult = z
  .looseObject({
    batchId: z.string(),
    accepted: z.array(
      z.looseObject({
        line: z.number().check(z.int()),
        taskId: z.string(),
        name: z.optional(z.string()),
        duplicate: z.optional(z.literal(true)),
      }),
    ),
    rejected: z.array(lineRefused),
  })
  .check(z.describe('each line: accepted as a task, or refused with its reasons'));

const statsView = z
  .looseObject({
    total: z.number().check(z.int()),
    byStatus: counts,
    byType: z.record(
      z.string(),
      z.looseObject({
        total: z.number().check(z.int()),
        byStatus: counts,
        successRate: z.nullable(z.number()),
      }),
    ),
    successRate: z.nullable(z.number()),
    queueDepth: z.number().check(z.int()),
    running: z.number().check(z.int()),
    runningGpus: z.number().check(z.int()),
    concurrencyCap: z.number().check(z.int()),
    meanQueueWaitSeconds: z.nullable(z.number()),
    meanRunSeconds: z.nullable(z.number()),
    estimatedCostUsd: z.number().check(z.describe('what the tasks that ended cost, estimated')),
  })
  .check(z.describe('Stats'));

const batchView = z
  .looseObject({
    batchId: z.string(),
    name: z.optional(z.string()),
    owner: z.string(),
    createdAt: z.string(),
    lines: z.object({
      received: z.number(),
      accepted: z.number(),
      duplicates: z.number(),
      rejected: z.number(),
    }),
    tasks: z.number().check(z.int()),
    byStatus: counts,
    finished: z.number().check(z.int()),
    progress: z.number(),
    done: z.boolean(),
  })
  .check(z.describe('Batch'));

const model = z
  .looseObject({
    modelId: z.string(),
    name: z.string(),
    type: z.string(),
    baseUrl: z.string(),
    model: z.string(),
    maxWorkers: z.number().check(z.int()),
    status: z.enum(['online', 'offline']),
    apiKey: z.optional(z.string()).check(z.describe('a secret reference, never the key')),
    owner: z.string(),
    createdAt: z.string(),
    updatedAt: z.string(),
    active: z.number().check(z.int()).check(z.describe('workers in use')),
  })
  .check(z.describe('Model'));

const modelStats = z
  .looseObject({
    modelId: z.string(),
    name: z.string(),
    status: z.enum(['online', 'offline']),
    workersInUse: z.number().check(z.int()),
    maxWorkers: z.number().check(z.int()),
    total: z.number().check(z.int()),
    byStatus: counts,
    successRate: z.nullable(z.number()),
    queueDepth: z.number().check(z.int()),
    promptTokens: z.number(),
    completionTokens: z.number(),
  })
  .check(z.describe('ModelStats'));

const logPage = z.looseObject({
  taskId: z.string(),
  attempt: z.optional(z.number().check(z.int())),
  lines: z.array(
    z.looseObject({ timestamp: z.number(), message: z.string(), level: z.optional(z.string()) }),
  ),
  cursor: z.optional(z.string()),
  done: z.boolean(),
});

const artifacts = z.looseObject({
  taskId: z.string(),
  artifacts: z.array(
    z.looseObject({
      key: z.string(),
      size: z.number(),
      lastModified: z.optional(z.string()),
      url: z.string().check(z.describe('a download link, valid for an hour')),
    }),
  ),
});

const trajectory = z
  .looseObject({
    task_id: z.string(),
    success: z.boolean(),
    steps: z.array(
      z.looseObject({
        step_id: z.number().check(z.int()),
        action_type: z.string(),
        action_params: z.looseObject({}),
        observation: z.string(),
        success: z.boolean(),
      }),
    ),
    final_result: z.nullable(z.string()),
  })
  .check(z.describe("seed 003's trajectory document"));

const daily = z.object({
  days: z.array(
    z.object({
      date: z.string(),
      submitted: z.number(),
      succeeded: z.number(),
      failed: z.number(),
      cancelled: z.number(),
    }),
  ),
});

const health = z.looseObject({ status: z.enum(['ok', 'degraded']) });
const page = (item: z.ZodMiniType, key: string) =>
  z.looseObject({ [key]: z.array(item), cursor: z.optional(z.string()) });
const jsonl = z.string().check(z.describe('JSON Lines, one object per line'));

// the seed documents' own shapes (their field names, as the documents give them)
const seedTask = z.looseObject({ task_id: z.string(), status: z.string() });
const seedList = z.looseObject({ total: z.number().check(z.int()), tasks: z.array(seedTask) });
const llmTask = z.looseObject({ id: z.string(), status: z.string() });
const llmModel = z.looseObject({ id: z.string(), name: z.string(), status: z.string() });

export interface RouteResponse {
  status: number;
  schema: z.ZodMiniType;
  /** the media type, when not JSON */
  mediaType?: string;
  description: string;
}

const ok = (schema: z.ZodMiniType, description: string, status = 200, mediaType?: string): RouteResponse => ({
  status,
  schema,
  description,
  ...(mediaType ? { mediaType } : {}),
});

/** Each route's success answer, by `METHOD path` as the route table names it. */
export const RESPONSES: Record<string, RouteResponse> = {
  'GET /health': ok(health, 'the API and what it depends on (503 when degraded)'),
  'GET /openapi.json': ok(z.looseObject({ openapi: z.string() }), 'this document'),
  'POST /v1/tasks': ok(taskView, 'queued (200 when the Idempotency-Key named an existing task)', 202),
  'POST /v1/tasks/batch': ok(
    batchSubmitResult,
    'the tasks it created (400 with the same body when every line was refused)',
    202,
  ),
  'GET /v1/tasks': ok(page(taskView, 'tasks'), 'newest first; pass cursor for the next page'),
  'GET /v1/tasks/{id}': ok(taskView, 'the task, with its queue position while QUEUED'),
  'DELETE /v1/tasks/{id}': ok(taskView, 'cancelled'),
  'POST /v1/tasks/{id}/cancel': ok(taskView, 'cancelled'),
  'POST /v1/tasks/{id}/retry': ok(taskView, 'queued again', 202),
  'GET /v1/tasks/{id}/logs': ok(logPage, "an attempt's log lines from the cursor"),
  'GET /v1/tasks/{id}/artifacts': ok(artifacts, "the task's outputs, with download links"),
  'GET /v1/tasks/{id}/trajectory': ok(trajectory, "an agent task's trajectory"),
  'GET /v1/stats': ok(statsView, "the caller's tasks (an admin's: every owner's)"),
  'GET /v1/stats/daily': ok(daily, 'tasks by day'),
  'POST /v1/batches': ok(batchView, 'an empty batch', 201),
  'GET /v1/batches/{id}': ok(batchView, 'lines and tasks by status'),
  'GET /v1/batches/{id}/tasks': ok(page(taskView, 'tasks'), 'the batch tasks, in order'),
  'GET /v1/batches/{id}/trajectories': ok(
    jsonl,
    'the trajectories, one per line',
    200,
    'application/x-ndjson',
  ),
  'GET /v1/batches/{id}/export': ok(
    jsonl,
    'fine-tuning JSONL (x-export-skipped: trajectories left out)',
    200,
    'application/x-ndjson',
  ),
  'POST /v1/models': ok(model, 'registered', 201),
  'GET /v1/models': ok(z.looseObject({ models: z.array(model) }), 'every model'),
  'GET /v1/models/{id}': ok(model, 'the model'),
  'PUT /v1/models/{id}': ok(model, 'replaced'),
  'PUT /v1/models/{id}/status': ok(model, 'online or offline'),
  'GET /v1/models/{id}/stats': ok(modelStats, "the model's tasks, workers and tokens"),
  'DELETE /v1/models/{id}': ok(z.undefined(), 'removed', 204),
  'POST /train': ok(
    z.looseObject({ task_id: z.string(), status: z.string(), message: z.string() }),
    'seed 000: submitted',
  ),
  'GET /train/{task_id}': ok(seedTask, 'seed 000: the task'),
  'GET /train': ok(seedList, 'seed 000: tasks'),
  'DELETE /train/{task_id}': ok(seedTask, 'seed 000: cancelled'),
  'GET /stats': ok(z.looseObject({}), 'seed 000: counts'),
  'POST /api/v1/tasks': ok(llmTask, 'seed 004: created', 201),
  'GET /api/v1/tasks': ok(
    z.looseObject({ tasks: z.array(llmTask), total: z.number(), page: z.number(), page_size: z.number() }),
    'seed 004: tasks',
  ),
  'GET /api/v1/tasks/{id}': ok(llmTask, 'seed 004: the task'),
  'DELETE /api/v1/tasks/{id}': ok(llmTask, 'seed 004: cancelled'),
  'POST /api/v1/tasks/{id}/retry': ok(llmTask, 'seed 004: queued again'),
  'POST /api/v1/models': ok(llmModel, 'seed 004: registered', 201),
  'GET /api/v1/models': ok(z.looseObject({ models: z.array(llmModel) }), 'seed 004: models'),
  'PUT /api/v1/models/{id}/status': ok(llmModel, 'seed 004: online or offline'),
  'GET /api/v1/stats/dashboard': ok(z.looseObject({}), 'seed 004: the dashboard counts'),
  'GET /api/v1/stats/tasks/date': ok(z.looseObject({}), 'seed 004: tasks by date'),
  'GET /api/v1/system/health': ok(z.looseObject({}), 'seed 004: health'),
};
