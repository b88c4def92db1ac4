/**
 * The runner bundle recipe, in one place: one self-contained ESM file for Node 22. The local cloud and
 * the benchmarks import `bundleRunner`; the image build runs this file (`containers/Dockerfile`:
 * `node --experimental-strip-types containers/runner/build.ts /out/runner.mjs`), so the image the CDK
 * asset builds carries the same bundle. Plain type annotations only, so Node runs it without a compiler.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BuildOptions, build, stop } from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
export const RUNNER_ENTRY = path.join(here, 'src', 'main.ts');
/** The agent runtime (trajectory tasks), bundled by the same recipe. */
export const AGENT_ENTRY = path.join(here, '..', 'agent', 'src', 'main.ts');

/** ESM bundles need a `require` for the few CommonJS dependencies that call it (the Lambda bundles too). */
export const ESM_REQUIRE_SHIM =
  "import{createRequire as __cr}from'module';const require=__cr(import.meta.url);";

/** The esbuild options of the runner bundle (or another entry's, by the same recipe). */
export function runnerBuildOptions(outfile: string, entry: string = RUNNER_ENTRY): BuildOptions {
  return {
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    minify: true,
    // the packages' ES modules first (esbuild's default for Node is CommonJS first): the SDK's ES
    // builds tree-shake, which takes a sixth off the bundle and a quarter off the runner's start-up
    mainFields: ['module', 'main'],
    outfile,
    logLevel: 'silent',
    banner: { js: ESM_REQUIRE_SHIM },
  };
}

let building = 0;
/**
 * Run esbuild calls of this process (its JS API shares one service), and stop the service once none is
 * in flight: the child process keeps about 200 MB after building the runner and the agent, and 50 MB
 * after the dashboard, and the local cloud builds them once (esbuild starts it again on the next call).
 */
export async function withEsbuild<T>(f: () => Promise<T>): Promise<T> {
  building++;
  try {
    return await f();
  } finally {
    if (--building === 0) await stop();
  }
}

/** Bundle the runner (or another entry) to `outfile`, which it returns. */
export async function bundleRunner(outfile: string, entry: string = RUNNER_ENTRY): Promise<string> {
  await withEsbuild(() => build(runnerBuildOptions(outfile, entry)));
  return outfile;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [out, entry] = process.argv.slice(2);
  if (!out) {
    process.stderr.write(
      'usage: node --experimental-strip-types containers/runner/build.ts <outfile> [entry]\n',
    );
    process.exit(2);
  }
  await bundleRunner(path.resolve(out), entry ? path.resolve(entry) : RUNNER_ENTRY);
  process.stdout.write(`bundled: ${out}\n`);
}
