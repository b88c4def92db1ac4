/**
 * SDK clients are created once per module and configured only by the environment (AWS_REGION,
 * AWS_ENDPOINT_URL): the same code talks to AWS, LocalStack or the local cloud. One module per
 * service, so each function bundles only the clients it uses.
 */
import { CloudWatchLogsClient, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { badRequest } from '../domain/errors.ts';
import type { LogReader } from '../domain/ports.ts';

export const logs = new CloudWatchLogsClient({});

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
        // a token CloudWatch did not give (or one for another stream)
        if (e instanceof Error && e.name === 'InvalidParameterException' && cursor)
          throw badRequest('the cursor is not valid', [
            { path: 'cursor', message: 'not a cursor of this log' },
          ]);
        throw e;
      }
    },
  };
}
