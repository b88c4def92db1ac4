/**
 * Assembles the runner kit (lambdas/contracts/runner-env.ts): Node, the shared libraries `ldd` says it
 * needs, its dynamic loader as `lib/ld.so`, and the runner bundle. Started through that loader with
 * `--library-path`, Node finds nothing in the image it runs in, and the workload it starts gets the
 * image's own libraries (no LD_LIBRARY_PATH is set). The image build runs this file
 * (`node --experimental-strip-types containers/runner/kit.ts <out> <runner.mjs>`); the local cloud
 * and the tests call `assembleKit`. Plain type annotations only, so Node runs it without a compiler.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The files `ldd` lists for a binary: its libraries, and (last) its dynamic loader. */
export function sharedLibraries(binary: string): { libs: string[]; loader: string } {
  const out = execFileSync('ldd', [binary], { encoding: 'utf8' });
  const libs: string[] = [];
  let loader = '';
  for (const line of out.split('\n')) {
    const linked = /=>\s*(\/\S+)/.exec(line);
    if (linked?.[1]) libs.push(linked[1]);
    else if (/^\s*\/\S*ld-\S+\.so/.test(line)) loader = line.trim().split(/\s+/)[0] ?? '';
  }
  if (!loader) throw new Error(`ldd ${binary}: no dynamic loader in its output:\n${out}`);
  return { libs, loader };
}

/** Writes the kit into `out` (Node, lib/, runner.mjs) and returns the files it holds. */
export function assembleKit(out: string, nodeBinary: string, runnerBundle: string): string[] {
  mkdirSync(path.join(out, 'lib'), { recursive: true });
  const { libs, loader } = sharedLibraries(nodeBinary);
  const files: [string, string][] = [
    [nodeBinary, 'node'],
    [runnerBundle, 'runner.mjs'],
    [loader, 'lib/ld.so'],
    ...libs.map((l): [string, string] => [l, `lib/${path.basename(l)}`]),
  ];
  // copyFileSync follows links: the kit holds the files themselves
  for (const [from, to] of files) copyFileSync(from, path.join(out, to));
  chmodSync(path.join(out, 'node'), 0o755);
  chmodSync(path.join(out, 'lib', 'ld.so'), 0o755);
  return files.map(([, to]) => to);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [out, bundle, node = process.execPath] = process.argv.slice(2);
  if (!out || !bundle) {
    process.stderr.write(
      'usage: node --experimental-strip-types containers/runner/kit.ts <outdir> <runner.mjs> [node]\n',
    );
    process.exit(2);
  }
  const files = assembleKit(path.resolve(out), path.resolve(node), path.resolve(bundle));
  process.stdout.write(`runner kit in ${out}: ${files.join(' ')}\n`);
}
