/** Directory <-> S3 prefix: upload outputs, sync checkpoints (changed files only), restore before an attempt. */
import { createReadStream, createWriteStream, mkdirSync, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

function walk(dir: string): string[] {
  let entries: import('node:fs').Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return walk(p);
    return e.isFile() ? [p] : [];
  });
}

export class DirSync {
  private readonly uploaded = new Map<string, string>();

  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly dir: string,
    private readonly prefix: string,
  ) {}

  /** Upload files that changed (size or mtime) since the last call; returns how many went up. */
  async push(filter: (rel: string) => boolean = () => true): Promise<number> {
    let n = 0;
    for (const file of walk(this.dir)) {
      const rel = path.relative(this.dir, file).split(path.sep).join('/');
      if (!filter(rel)) continue;
      let sig: string;
      try {
        const st = statSync(file);
        sig = `${st.size}:${st.mtimeMs}`;
      } catch {
        continue; // removed while we walked
      }
      if (this.uploaded.get(rel) === sig) continue;
      await new Upload({
        client: this.s3,
        params: { Bucket: this.bucket, Key: `${this.prefix}${rel}`, Body: createReadStream(file) },
      }).done();
      this.uploaded.set(rel, sig);
      n++;
    }
    return n;
  }

  /** Download every object under the prefix into the directory; returns how many came down. */
  async pull(): Promise<number> {
    let token: string | undefined;
    let n = 0;
    do {
      const page = await this.s3.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix, ContinuationToken: token }),
      );
      for (const o of page.Contents ?? []) {
        if (!o.Key || o.Key.endsWith('/')) continue;
        const rel = o.Key.slice(this.prefix.length);
        if (rel.split('/').includes('..')) continue;
        const target = path.join(this.dir, rel);
        mkdirSync(path.dirname(target), { recursive: true });
        const obj = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: o.Key }));
        await pipeline(obj.Body as NodeJS.ReadableStream, createWriteStream(target));
        const st = statSync(target);
        this.uploaded.set(rel, `${st.size}:${st.mtimeMs}`);
        n++;
      }
      token = page.NextContinuationToken;
    } while (token);
    return n;
  }
}

export async function uploadFile(s3: S3Client, bucket: string, key: string, file: string): Promise<void> {
  await new Upload({
    client: s3,
    params: { Bucket: bucket, Key: key, Body: createReadStream(file), ContentType: 'application/json' },
  }).done();
}
