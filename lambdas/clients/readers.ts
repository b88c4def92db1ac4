/** Log and artifact readers over CloudWatch Logs and S3. */
import { GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { ArtifactReader, LogReader } from '../api/routes.ts';
import { logs, s3 } from './aws.ts';

export function cloudWatchLogReader(logGroupName: string): LogReader {
  return {
    async read(logStreamName, { cursor, limit }) {
      try {
        const out = await logs.send(
          new GetLogEventsCommand({
            logGroupName,
            logStreamName,
            startFromHead: true,
            limit,
            ...(cursor ? { nextToken: cursor } : {}),
          }),
        );
        const lines = (out.events ?? []).map((e) => ({
          timestamp: e.timestamp ?? 0,
          message: e.message ?? '',
        }));
        // GetLogEvents returns the same forward token at the end of the stream: keep it so a client can follow
        return { lines, ...(out.nextForwardToken ? { cursor: out.nextForwardToken } : {}) };
      } catch (e) {
        if (e instanceof Error && e.name === 'ResourceNotFoundException') return { lines: [] };
        throw e;
      }
    },
  };
}

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
