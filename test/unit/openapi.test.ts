/** The OpenAPI document: valid by a maintained validator, and every route of the router in it. */
import SwaggerParser from '@apidevtools/swagger-parser';
import { describe, expect, it } from 'vitest';
import { openapi } from '../../lambdas/api/openapi.ts';
import { ROUTES } from '../../lambdas/api/routes.ts';

type Op = { parameters?: { name: string; in: string }[]; security?: unknown[] };

describe('the OpenAPI document', () => {
  const doc = openapi() as { paths: Record<string, Record<string, Op>> };

  it('is valid OpenAPI 3.1 (@apidevtools/swagger-parser)', async () => {
    await expect(SwaggerParser.validate(structuredClone(doc) as never)).resolves.toBeDefined();
  });

  it('has every route of the router, with its path parameters and its security', () => {
    for (const r of ROUTES) {
      const op = doc.paths[r.path]?.[r.method.toLowerCase()];
      expect(op, `${r.method} ${r.path}`).toBeDefined();
      for (const [, name] of r.path.matchAll(/\{(\w+)\}/g))
        expect(
          op?.parameters?.some((p) => p.in === 'path' && p.name === name),
          `${r.path} ${name}`,
        ).toBe(true);
      expect(Boolean(op?.security?.length), `${r.method} ${r.path} security`).toBe(r.auth !== 'none');
    }
    const operations = Object.values(doc.paths).reduce((n, ops) => n + Object.keys(ops).length, 0);
    expect(operations).toBe(ROUTES.length);
  });

  it('gives every route its success answer with a schema, and every body-taking route its body', () => {
    const full = openapi() as {
      paths: Record<
        string,
        Record<string, { responses: Record<string, { content?: object }>; requestBody?: object }>
      >;
    };
    for (const r of ROUTES) {
      const op = full.paths[r.path]?.[r.method.toLowerCase()];
      const success = Object.entries(op?.responses ?? {}).filter(([code]) => /^2\d\d$/.test(code));
      expect(success, `${r.method} ${r.path}`).toHaveLength(1);
      const [code, answer] = success[0] ?? [];
      if (code !== '204') expect(answer?.content, `${r.method} ${r.path}`).toBeDefined();
      expect(op?.responses.default, `${r.method} ${r.path}`).toBeUndefined();
      if (r.method === 'POST' || r.method === 'PUT') {
        const bodiless = r.path.endsWith('/cancel') || r.path.endsWith('/retry');
        expect(Boolean(op?.requestBody), `${r.method} ${r.path} body`).toBe(!bodiless);
      }
    }
  });

  it('types the export query from the schema that validates it', () => {
    const params = doc.paths['/v1/batches/{id}/export']?.get?.parameters ?? [];
    expect(params.map((p) => p.name).sort()).toEqual(['cursor', 'format', 'id', 'includeFailed', 'limit']);
  });
});
