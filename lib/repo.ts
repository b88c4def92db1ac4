/**
 * Where the project's files are, and the template metadata key that names a function's source: what
 * the local cloud needs from the stack's modules without loading aws-cdk-lib (the stack is synthesized
 * in a worker thread, `lib/local/synth.ts`).
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const LAMBDAS_DIR = path.join(REPO_ROOT, 'lambdas');

/** Resource metadata key holding the function's source entry, relative to the repository root. */
export const ENTRY_METADATA = 'trainstack:entry';
