/**
 * The API's docs on the local cloud: Swagger UI (the maintained `swagger-ui-dist` build) at `/docs`,
 * reading the same `/openapi.json` the API serves, which is generated from the schemas that validate
 * requests (lambdas/api/openapi.ts). Static files only; nothing from the page reaches the handler.
 */
import { createReadStream, existsSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import * as path from 'node:path';

const require = createRequire(import.meta.url);
const ASSETS = path.dirname(require.resolve('swagger-ui-dist/package.json'));
const FILES: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'swagger-ui-standalone-preset.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>trainstack API</title>
  <link rel="icon" href="/docs/favicon-32x32.png">
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/swagger-ui-standalone-preset.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
`;
// the page's own script, as a file (no inline script)
const INIT = `window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: 'StandaloneLayout',
});
`;

/** Answers `/docs` and its files; false for any other path. */
export function serveDocs(req: IncomingMessage, res: ServerResponse): boolean {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (req.method !== 'GET' || !(url.pathname === '/docs' || url.pathname.startsWith('/docs/'))) return false;
  const name = url.pathname.replace(/^\/docs\/?/, '');
  const send = (type: string, body: string) => {
    res.writeHead(200, { 'content-type': type, 'cache-control': 'no-cache' });
    res.end(body);
  };
  if (name === '' || name === 'index.html') send('text/html; charset=utf-8', PAGE);
  else if (name === 'init.js') send('text/javascript; charset=utf-8', INIT);
  else if (FILES[name] && existsSync(path.join(ASSETS, name))) {
    res.writeHead(200, { 'content-type': FILES[name], 'cache-control': 'max-age=3600' });
    createReadStream(path.join(ASSETS, name)).pipe(res);
  } else {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { code: 'NotFound', message: `no ${url.pathname}`, details: [] } }));
  }
  return true;
}
