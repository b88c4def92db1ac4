/** The OpenAPI document, generated from the same zod schemas that validate requests. */
import { z } from 'zod';
import { submitSchema } from '../domain/model.ts';
import { modelSpecSchema } from '../domain/models.ts';
import { ROUTES } from './routes.ts';
import { listQuery } from './schemas.ts';
import { seedTrainBody } from './seed-train.ts';

export function openapi(): object {
  const paths: Record<string, Record<string, object>> = {};
  for (const r of ROUTES) {
    const op: Record<string, unknown> = {
      responses: { default: { description: 'JSON; errors as {"error": {"code", "message", "details"}}' } },
    };
    if (r.auth !== 'none') op.security = [{ sigv4: [] }];
    if (r.method === 'POST' && r.path === '/v1/tasks') {
      op.requestBody = {
        content: { 'application/json': { schema: { $ref: '#/components/schemas/TaskSubmit' } } },
      };
    }
    if (r.method === 'POST' && r.path === '/train') {
      op.requestBody = {
        content: { 'application/json': { schema: { $ref: '#/components/schemas/SeedTrain' } } },
      };
    }
    if (
      (r.method === 'POST' && r.path === '/v1/models') ||
      (r.method === 'PUT' && r.path === '/v1/models/{id}')
    ) {
      op.requestBody = {
        content: { 'application/json': { schema: { $ref: '#/components/schemas/ModelSpec' } } },
      };
    }
    if (r.method === 'GET' && r.path === '/v1/tasks') {
      op.parameters = Object.keys(listQuery.shape).map((name) => ({ name, in: 'query', required: false }));
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
        ModelSpec: z.toJSONSchema(modelSpecSchema, { io: 'input', unrepresentable: 'any' }),
      },
    },
  };
}
