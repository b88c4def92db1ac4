/**
 * The import rules that keep the layers apart: the domain depends on no AWS package and on no adapter;
 * clients (the adapters) never reach into the API; contracts stand alone; the local cloud never writes
 * the process environment (each function gets its own), and its process never loads aws-cdk-lib; the
 * API builds its submit schema on first use.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../lib/function.ts';

function filesUnder(dir: string): string[] {
  return readdirSync(path.join(REPO_ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.(ts|mjs)$/.test(f))
    .map((f) => path.join(dir, f));
}

/** Every module a file imports (static, dynamic and type-only), relative ones resolved to repo paths. */
function importsOf(file: string, text: string): string[] {
  const specs = [...text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"]([^'"]+)['"]/g)].map(
    (m) => m[1] ?? '',
  );
  return specs.map((s) => (s.startsWith('.') ? path.join(path.dirname(file), s) : s));
}

function violations(dir: string, forbidden: (spec: string) => boolean): string[] {
  return filesUnder(dir).flatMap((file) =>
    importsOf(file, readFileSync(path.join(REPO_ROOT, file), 'utf8'))
      .filter(forbidden)
      .map((spec) => `${file} imports ${spec}`),
  );
}

const AWS = (s: string) =>
  /^@aws-sdk\/|^@smithy\/|^@aws-crypto\/|^@aws-lambda-powertools\/|^aws-cdk-lib|^aws-lambda$/.test(s);

describe('import rules', () => {
  it('the checker sees static, dynamic and type-only imports and resolves relative paths', () => {
    const text = `import { a } from '@aws-sdk/client-s3';\nimport type { B } from '../api/routes.ts';\nconst c = await import('../clients/x.ts');\nimport './side.ts';`;
    expect(importsOf('lambdas/clients/y.ts', text)).toEqual([
      '@aws-sdk/client-s3',
      'lambdas/api/routes.ts',
      'lambdas/clients/x.ts',
      'lambdas/clients/side.ts',
    ]);
  });

  it('lambdas/domain imports no AWS package and no adapter, API or handler', () => {
    expect(
      violations('lambdas/domain', (s) => AWS(s) || /^lambdas\/(clients|api|handlers)\//.test(s)),
    ).toEqual([]);
  });

  it('lambdas/clients never imports from the API or the handlers', () => {
    expect(violations('lambdas/clients', (s) => /^lambdas\/(api|handlers)\//.test(s))).toEqual([]);
  });

  it('lambdas/contracts imports nothing', () => {
    expect(violations('lambdas/contracts', () => true)).toEqual([]);
  });

  it('the API imports no SDK client (it reaches AWS through ports)', () => {
    expect(violations('lambdas/api', (s) => /^@aws-sdk\//.test(s) || /^lambdas\/clients\//.test(s))).toEqual(
      [],
    );
  });

  it('the submit schema is built when a route first takes a task, not when the API loads', () => {
    // a static value import anywhere the API's handler loads at start would build it on every cold
    // start; openapi.ts may import it, since the handler loads that module on /openapi.json only
    const staticImport = /^import\s+(?!type\b)[^;]*?from\s+['"][^'"]*\/task-spec\.ts['"]/m;
    expect(staticImport.test("import { submitSchema } from '../domain/task-spec.ts';")).toBe(true);
    expect(staticImport.test("import type { submitSchema } from './task-spec.ts';")).toBe(false);
    const importers = filesUnder('lambdas').filter((f) =>
      staticImport.test(readFileSync(path.join(REPO_ROOT, f), 'utf8')),
    );
    expect(importers).toEqual(['lambdas/api/openapi.ts']);
    expect(readFileSync(path.join(REPO_ROOT, 'lambdas/handlers/api.ts'), 'utf8')).toMatch(
      /await import\('\.\.\/api\/openapi\.ts'\)/,
    );
  });

  it('the local cloud never writes the process environment', () => {
    const writes = filesUnder('lib/local').filter((f) =>
      /process\.env(\.\w+|\[[^\]]+\])\s*(=[^=]|\?\?=)|Object\.assign\(\s*process\.env/.test(
        readFileSync(path.join(REPO_ROOT, f), 'utf8'),
      ),
    );
    expect(writes).toEqual([]);
  });

  it("the local cloud's process never loads aws-cdk-lib (the stack is synthesized in a worker thread)", () => {
    // the modules a fresh Node has loaded once it imported the local cloud: aws-cdk-lib is CommonJS,
    // so every one of its modules lands in require's cache; the CDK app does (the check can fail)
    const loaded = (entry: string) =>
      Number(
        execFileSync(
          process.execPath,
          [
            '--import',
            'tsx',
            '--input-type=module',
            '-e',
            `import { createRequire } from 'node:module';
             await import(${JSON.stringify(path.join(REPO_ROOT, entry))});
             const cache = createRequire(import.meta.url).cache;
             console.log(Object.keys(cache).filter((k) => k.includes('/node_modules/aws-cdk-lib/')).length);`,
          ],
          { cwd: REPO_ROOT, encoding: 'utf8' },
        ).trim(),
      );
    expect(loaded('lib/local/cloud.ts')).toBe(0);
    expect(loaded('lib/app.ts')).toBeGreaterThan(0);
  }, 60_000);
});
