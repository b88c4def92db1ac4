/**
 * Builds the dashboard: one esbuild bundle (ES modules, split so the deployed sign-in code loads only
 * where it is used), minified, with its CSS, and the page. In memory (`buildDashboard()`), for the
 * local cloud and the bundle-size benchmark, or into a folder (`writeDashboard(dir)`) for the stack's
 * static site. No configuration is bundled: `config.json` is served beside it.
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BuildOptions, build, buildSync } from 'esbuild';
import { withEsbuild } from '../containers/runner/build.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** File name (relative to the site's root) to contents. */
export type DashboardFiles = Map<string, Uint8Array>;

/** The dashboard's sources (the stack's asset hash follows them). */
export const DASHBOARD_DIR = HERE;

const options = (outdir: string, write: boolean): BuildOptions => ({
  entryPoints: { main: path.join(HERE, 'src', 'main.tsx') },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'browser',
  target: ['chrome120', 'firefox120', 'safari16'],
  minify: true,
  write,
  outdir,
  jsx: 'automatic',
  jsxImportSource: 'preact',
  loader: { '.woff2': 'file', '.svg': 'dataurl' },
  legalComments: 'none',
  logLevel: 'silent',
  define: { 'process.env.NODE_ENV': '"production"' },
});

export async function buildDashboard(): Promise<DashboardFiles> {
  const r = await withEsbuild(() => build(options('/dashboard', false)));
  const files: DashboardFiles = new Map();
  for (const f of r.outputFiles ?? []) files.set(path.relative('/dashboard', f.path), f.contents);
  files.set('index.html', readFileSync(path.join(HERE, 'index.html')));
  return files;
}

/** The same build, written into `dir` at once (the stack's asset bundling is synchronous). */
export function writeDashboardSync(dir: string): void {
  buildSync(options(dir, true));
  copyFileSync(path.join(HERE, 'index.html'), path.join(dir, 'index.html'));
}

export async function writeDashboard(dir: string): Promise<DashboardFiles> {
  const files = await buildDashboard();
  for (const [name, body] of files) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), body);
  }
  return files;
}
