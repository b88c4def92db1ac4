/** The OpenAPI document, generated from the same zod schemas that validate requests. */
import * as z from 'zod/mini';
import { modelSpecSchema, modelStatusSchema } from '../domain/models.ts';
import { submitSchema } from '../domain/task-spec.ts';
import { RESPONSES } from './responses.ts';
import { ROUTES } from './routes.ts';
import {
  batchCreateBody,
  batchSubmitQuery,
  dailyQuery,
  exportQuery,
  listQuery,
  logsQuery,
  pageQuery,
} from './schemas.ts';
import { createModel, createTask, llmListQuery } from './seed-llm.ts';
import { seedListQuery, seedTrainBody } from './seed-train.ts';
import { seedTrajectoryLine } from './seed-trajectory.ts';

/** The query parameters each route takes, as the zod schemas that validate them. */
const QUERIES: Record<string, z.ZodMiniObject> = {
  'GET /v1/tasks': listQuery,
  'GET /v1/tasks/{id}/logs': logsQuery,
  'GET /v1/stats/daily': dailyQuery,
  'POST /v1/tasks/batch': batchSubmitQuery,
  'GET /v1/batches/{id}/tasks': pageQuery,
  'GET /v1/batches/{id}/trajectories': pageQuery,
  'GET /v1/batches/{id}/export': exportQuery,
  'GET /train': seedListQuery,
  'GET /api/v1/tasks': llmListQuery,
};

/** Query parameters, typed from their schema (JSON Schema of each property, and whether it is required). */
function queryParameters(schema: z.ZodMiniObject): object[] {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as {
    properties?: Record<string, object>;
    required?: string[];
  };
  return Object.entries(json.properties ?? {}).map(([name, s]) => ({
    name,
    in: 'query',
    required: (json.required ?? []).includes(name),
    schema: s,
  }));
}

/** The other JSON bodies routes take, as the schemas that validate them. */
const BODIES: Record<string, object> = {
  'PUT /v1/models/{id}/status': z.toJSONSchema(modelStatusSchema, { io: 'input' }),
  'PUT /api/v1/models/{id}/status': z.toJSONSchema(modelStatusSchema, { io: 'input' }),
  'POST /api/v1/tasks': z.toJSONSchema(createTask, { io: 'input', unrepresentable: 'any' }),
  'POST /api/v1/models': z.toJSONSchema(createModel, { io: 'input', unrepresentable: 'any' }),
};

export function openapi(): object {
  const paths: Record<string, Record<string, object>> = {};
  const error = {
    description: 'an error',
    content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
  };
  for (const r of ROUTES) {
    const answer = RESPONSES[`${r.method} ${r.path}`];
    const op: Record<string, unknown> = {
      responses: {
        ...(answer
          ? {
              [String(answer.status)]:
                answer.status === 204
                  ? { description: answer.description }
                  : {
                      description: answer.description,
                      content: {
                        [answer.mediaType ?? 'application/json']: {
                          schema: z.toJSONSchema(answer.schema, { io: 'output', unrepresentable: 'any' }),
                        },
                      },
                    },
            }
          : { default: { description: 'JSON' } }),
        '4XX': error,
        '5XX': error,
      },
    };
    const pathParams = [...r.path.matchAll(/\{(\w+)\}/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }));
    const query = QUERIES[`${r.method} ${r.path}`];
    const parameters = [...pathParams, ...(query ? queryParameters(query) : [])];
    if (parameters.length) op.parameters = parameters;
    if (r.auth !== 'none') op.security = [{ sigv4: [] }];
    if (r.method === 'POST' && r.path === '/v1/tasks') {
      op.requestBody = {
        content: { 'application/json': { schema: { $ref: '#/components/schemas/TaskSubmit' } } },
      };
    }
    if (r.method === 'POST' && r.path === '/v1/tasks/batch') {
      op.requestBody = {
        description:
          'tasks: a JSON array, or JSONL (one task per line; seed 003 tasks.jsonl lines are trajectory tasks), up to 1000',
        content: {
          'application/json': {
            schema: { type: 'array', items: { $ref: '#/components/schemas/TaskSubmit' }, maxItems: 1000 },
          },
          'application/x-ndjson': {
            schema: {
              type: 'string',
              description: 'one JSON object per line: a task, or a seed 003 line (SeedTrajectoryLine)',
            },
          },
        },
      };
    }
    if (r.method === 'POST' && r.path === '/v1/batches') {
      op.requestBody = {
        content: { 'application/json': { schema: z.toJSONSchema(batchCreateBody, { io: 'input' }) } },
      };
    }
    if (r.method === 'POST' && r.path === '/train') {
      op.requestBody = {
        content: { 'application/json': { schema: { $ref: '#/components/schemas/SeedTrain' } } },
      };
    }
    const body = BODIES[`${r.method} ${r.path}`];
    if (body) op.requestBody = { content: { 'application/json': { schema: body } } };
    if (
      (r.method === 'POST' && r.path === '/v1/models') ||
      (r.method === 'PUT' && r.path === '/v1/models/{id}')
    ) {
      op.requestBody = {
        content: { 'application/json': { schema: { $ref: '#/components/schemas/ModelSpec' } } },
      };
    }
    paths[r.path] = { ...paths[r.path], [r.method.toLowerCase()]: op };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'trainstack', version: '1' },
    paths,
    components: {
      securitySchemes: {
        sigv4: {
          type: 'apiKey',
          name: 'Authorization',
          in: 'header',
          'x-amazon-apigateway-authtype': 'awsSigv4',
        },
      },
      schemas: {
        TaskSubmit: z.toJSONSchema(submitSchema, { io: 'input', unrepresentable: 'any' }),
        SeedTrain: z.toJSONSchema(seedTrainBody, { io: 'input', unrepresentable: 'any' }),
        SeedTrajectoryLine: z.toJSONSchema(seedTrajectoryLine, { io: 'input', unrepresentable: 'any' }),
        ModelSpec: z.toJSONSchema(modelSpecSchema, { io: 'input', unrepresentable: 'any' }),
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message'],
              properties: {
                code: { type: 'string' },
                message: { type: 'string' },
                details: {
                  type: 'array',
                  description: 'each field that is wrong, and why',
                  items: {
                    type: 'object',
                    properties: { path: { type: 'string' }, message: { type: 'string' } },
                  },
                },
              },
            },
          },
        },
      },
    },
  };
}
