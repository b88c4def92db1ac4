/** The service's own routes: health (no auth: it says only which dependencies answer) and the OpenAPI document. */
import { json } from './http.ts';
import type { Route } from './router.ts';

export const metaRoutes: Route[] = [
  {
    method: 'GET',
    path: '/health',
    auth: 'none',
    handler: async (_e, _p, deps) => {
      const results = await Promise.all(
        deps.health.map(async (h) => {
          const started = Date.now();
          try {
            await h.check();
            return { name: h.name, ok: true, ms: Date.now() - started };
          } catch (e) {
            return { name: h.name, ok: false, ms: Date.now() - started, error: (e as Error).name };
          }
        }),
      );
      const ok = results.every((r) => r.ok);
      return json(ok ? 200 : 503, { status: ok ? 'ok' : 'degraded', dependencies: results });
    },
  },
  { method: 'GET', path: '/openapi.json', handler: async (_e, _p, deps) => json(200, await deps.openapi()) },
];
