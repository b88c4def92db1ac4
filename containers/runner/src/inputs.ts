/**
 * A task's data in: its `dataset` and `inputs` (s3:// or http(s):// URIs) downloaded into the input
 * directory before the workload starts, with progress in the log. An object that is not there, or
 * cannot be read, ends the attempt before any work with a reason that names it.
 */
import { createWriteStream, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';

export class InputUnavailable extends Error {
  constructor(
    readonly uri: string,
    why: string,
  ) {
    super(`the input ${uri} could not be read: ${why}`);
    this.name = 'InputUnavailable';
  }
}

const S3_URI = /^s3:\/\/([^/]+)\/(.+)$/;

/** A file name for the URI in the input directory: its last path segment, made unique. */
function fileNameFor(uri: string, taken: Set<string>): string {
  const last = decodeURIComponent(new URL(uri.replace(/^s3:/, 'http:')).pathname.split('/').pop() || 'input');
  const base = last.replace(/[^\w.-]/g, '_') || 'input';
  let name = base;
  for (let i = 2; taken.has(name); i++) name = `${i}-${base}`;
  taken.add(name);
  return name;
}

const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`;

/** Counts bytes as they pass, and logs at every quarter of a large file. */
function progress(uri: string, total: number | undefined, log: (m: string) => void): Transform {
  let seen = 0;
  let nextQuarter = 1;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (total && total > 10 * 1048576 && seen >= (total * nextQuarter) / 4 && nextQuarter < 4) {
        log(`input ${uri}: ${mb(seen)} of ${mb(total)}`);
        nextQuarter++;
      }
      done(null, chunk);
    },
  });
}

export interface InputDeps {
  /** the S3 client to read a bucket with (the task's role when it has one) */
  s3: S3Client;
  log: (msg: string) => void;
  signal: AbortSignal;
}

/** Download each URI into `dir`; the local path of each, by URI. */
export async function downloadInputs(
  uris: readonly string[],
  dir: string,
  deps: InputDeps,
): Promise<Map<string, string>> {
  mkdirSync(dir, { recursive: true });
  const taken = new Set<string>();
  const out = new Map<string, string>();
  for (const [i, uri] of uris.entries()) {
    if (out.has(uri)) continue;
    const file = path.join(dir, fileNameFor(uri, taken));
    const started = Date.now();
    let body: Readable;
    let size: number | undefined;
    const m = S3_URI.exec(uri);
    try {
      if (m?.[1] && m[2]) {
        const r = await deps.s3.send(new GetObjectCommand({ Bucket: m[1], Key: m[2] }), {
          abortSignal: deps.signal,
        });
        size = r.ContentLength;
        body = r.Body as Readable;
      } else if (/^https?:\/\//i.test(uri)) {
        const r = await fetch(uri, { signal: deps.signal });
        if (!r.ok || !r.body) throw new Error(`HTTP ${r.status} ${r.statusText}`);
        size = Number(r.headers.get('content-length')) || undefined;
        body = Readable.fromWeb(r.body as import('node:stream/web').ReadableStream);
      } else throw new Error('not an s3:// or http(s):// URI');
    } catch (e) {
      if (deps.signal.aborted) throw e;
      const err = e as Error & { Code?: string };
      throw new InputUnavailable(uri, `${err.name === 'Error' ? '' : `${err.name}: `}${err.message}`);
    }
    deps.log(`input ${i + 1}/${uris.length}: ${uri}${size !== undefined ? ` (${mb(size)})` : ''} -> ${file}`);
    try {
      await pipeline(body, progress(uri, size, deps.log), createWriteStream(file), { signal: deps.signal });
    } catch (e) {
      if (deps.signal.aborted) throw e;
      throw new InputUnavailable(uri, `the download broke off: ${(e as Error).message}`);
    }
    deps.log(`input ${uri}: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    out.set(uri, file);
  }
  return out;
}
