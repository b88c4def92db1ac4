/** The Lambda bundles are built as the stack builds them: ESM, minified, with every dependency inside. */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import {
  AGENT_ENTRY,
  bundleRunner,
  RUNNER_ENTRY,
  runnerBuildOptions,
} from '../../containers/runner/build.ts';
import { buildDashboard } from '../../dashboard/build.ts';
import { BUNDLING, LAMBDAS_DIR, lambdaBuildOptions } from '../../lib/function.ts';

const handlers = readdirSync(path.join(LAMBDAS_DIR, 'handlers')).filter((f) => f.endsWith('.ts'));

describe.each(handlers)('bundle of %s', (file) => {
  it('is ESM, minified and fully bundled (no package left to resolve at run time)', async () => {
    const r = await build({
      ...lambdaBuildOptions(file.replace(/\.ts$/, '')),
      write: false,
      metafile: true,
    });
    const code = r.outputFiles[0]?.text ?? '';
    expect(BUNDLING.format).toBe('esm');
    expect(code).toMatch(/export\s*\{/);
    const imports = Object.values(r.metafile.outputs)[0]?.imports ?? [];
    // only Node built-ins stay outside the bundle
    for (const i of imports) expect(i.path, i.path).toMatch(/^(node:)?[a-z_]+(\/[a-z_]+)?$/);
    expect(imports.some((i) => i.path.startsWith('@aws-sdk') || i.path === 'zod')).toBe(false);
    // minified: long lines (template literals keep a few newlines)
    expect(code.length / code.split('\n').length).toBeGreaterThan(2000);
    // every function validates with zod/mini, whose schemas tree-shake (zod classic gives every schema
    // all its methods: 45 KB more in the API's bundle, and 25 ms more to build its schemas at load)
    const inputs = Object.keys(Object.values(r.metafile.outputs)[0]?.inputs ?? {});
    // zod's 40 error-message locales (about 340 KB) stay out: `import * as z` lets them be shaken off
    expect(inputs.filter((i) => /node_modules\/zod\/v4\/locales\/(?!en\.|index\.)/.test(i))).toEqual([]);
    // Lambda's credentials are in the environment: the SDK's chain of profiles, SSO, web identity and
    // instance endpoints (with the STS and SSO clients it brings, a quarter of a bundle) stays out
    expect(
      inputs.filter((i) =>
        /node_modules\/@aws-sdk\/(credential-provider-(node|ini|sso|imds|process|web-identity|login)|nested-clients)\//.test(
          i,
        ),
      ),
    ).toEqual([]);
    expect(inputs).toContain('lambdas/shared/env-credentials.ts');
    expect(inputs.filter((i) => /node_modules\/zod\/v4\/classic\//.test(i))).toEqual([]);
    // the functions that run for every task carry no request schema at all (a value import of the
    // domain model once doubled the dispatcher's bundle)
    if (file === 'dispatcher.ts' || file === 'workflow-step.ts')
      expect(inputs).not.toContain('lambdas/domain/model.ts');
  });
});

describe('the runner bundle', () => {
  it("takes the SDK's ES modules, which tree-shake, not its CommonJS builds", async () => {
    const r = await build({ ...runnerBuildOptions('out.mjs', RUNNER_ENTRY), write: false, metafile: true });
    const inputs = Object.keys(r.metafile.inputs);
    expect(inputs.some((i) => i.includes('node_modules/@aws-sdk/'))).toBe(true);
    expect(inputs.filter((i) => /node_modules\/@(aws-sdk|smithy)\/[^/]+\/dist-cjs\//.test(i))).toEqual([]);
  });

  it('leaves no esbuild process behind once it and the dashboard are built (the local cloud keeps none alive)', async () => {
    // live children only: a stopped service that Node has not reaped yet is a zombie (state Z)
    const esbuildChildren = () =>
      execFileSync('ps', ['--ppid', String(process.pid), '-o', 'stat=,comm='], { encoding: 'utf8' })
        .split('\n')
        .map((l) => l.trim().split(/\s+/))
        .filter(([stat, comm]) => comm === 'esbuild' && !stat?.startsWith('Z'));
    const dir = mkdtempSync(path.join(tmpdir(), 'runner-bundle-'));
    try {
      // two at once, as the local cloud builds the runner and the agent; then one more, after the stop
      // and the dashboard (built on its first request), beside them: the service stops after the last
      const [, , dashboard] = await Promise.all([
        bundleRunner(path.join(dir, 'runner.mjs')),
        bundleRunner(path.join(dir, 'agent.mjs'), AGENT_ENTRY),
        buildDashboard(),
      ]);
      expect(dashboard.has('index.html')).toBe(true);
      expect(esbuildChildren()).toEqual([]);
      await bundleRunner(path.join(dir, 'again.mjs'));
      expect(existsSync(path.join(dir, 'again.mjs'))).toBe(true);
      expect(esbuildChildren()).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
