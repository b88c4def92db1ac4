/**
 * SDK clients are created once per module and configured only by the environment (AWS_REGION,
 * AWS_ENDPOINT_URL): the same code talks to AWS, LocalStack or the local cloud. One module per
 * service, so each function bundles only the clients it uses.
 */
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { ArtifactReader } from '../domain/ports.ts';

// path-style addressing works everywhere, AWS included; virtual hosts do not resolve off AWS
export const s3 = new S3Client({ forcePathStyle: Boolean(process.env.AWS_ENDPOINT_URL) });

export function s3ArtifactReader(bucket: string): ArtifactReader {
  return {
    async list(prefix) {
      const out: Awaited<ReturnType<ArtifactReader['list']>> = [];
      let token: string | undefined;
      do {
        const page = await s3.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
        );
        for (const o of page.Contents ?? []) {
          if (!o.Key) continue;
          const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: o.Key }), {
            expiresIn: 3600,
          });
          out.push({
            key: o.Key,
            size: o.Size ?? 0,
            ...(o.LastModified ? { lastModified: o.LastModified.toISOString() } : {}),
            url,
          });
        }
        token = page.NextContinuationToken;
      } while (token && out.length < 1000);
      return out;
    },
    async getText(key) {
      try {
        const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return await out.Body?.transformToString('utf8');
      } catch (e) {
        if (e instanceof Error && (e.name === 'NoSuchKey' || e.name === 'NotFound')) return undefined;
        throw e;
      }
    },
  };
}
