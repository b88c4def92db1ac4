/**
 * The dashboard on the local cloud: built in memory on first request (dashboard/build.ts), served
 * at `/dashboard/` (and `/` leads there) by the API's own host, with a `config.json` that says the
 * API is this origin, so the page calls it unsigned as the default local user, as curl does.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as path from 'node:path';
import { buildDashboard, type DashboardFiles } from '../../dashboard/build.ts';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

let built: Promise<DashboardFiles> | undefined;

/** Answers `/`, `/dashboard` and the dashboard's files; false for any other path. */
export function serveDashboard(req: IncomingMessage, res: ServerResponse): boolean {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  if (url.pathname === '/' || url.pathname === '/dashboard') {
    res.writeHead(302, { location: '/dashboard/' });
    res.end();
    return true;
  }
  if (!url.pathname.startsWith('/dashboard/')) return false;
  const name = url.pathname.slice('/dashboard/'.length) || 'index.html';
  if (name === 'config.json') {
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify({ apiUrl: '' }));
    return true;
  }
  built ??= buildDashboard();
  built.then(
    (files) => {
      const body = files.get(name);
      if (!body) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'NotFound', message: `no ${url.pathname}`, details: [] } }));
        return;
      }
      res.writeHead(200, {
        'content-type': TYPES[path.extname(name)] ?? 'application/octet-stream',
        // chunks are named by their content; the page and the entry are not
        'cache-control': /-[A-Z0-9]{8}\.js$/.test(name) ? 'max-age=31536000, immutable' : 'no-cache',
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    },
    (e: Error) => {
      built = undefined;
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          error: { code: 'InternalError', message: `the dashboard did not build: ${e.message}`, details: [] },
        }),
      );
    },
  );
  return true;
}
