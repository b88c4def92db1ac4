/**
 * The SQS event source mapping, locally: long-poll the queue, hand each batch to the function as an
 * SQS event, delete what it processed (all of the batch unless it names `batchItemFailures`), and
 * leave failed batches to come back after the visibility timeout, as Lambda's poller does.
 */
import { DeleteMessageBatchCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';

export interface EventSourceOptions {
  readonly sqs: SQSClient;
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly region: string;
  /** @default 10 */
  readonly batchSize?: number;
  readonly invoke: (event: SQSEvent) => Promise<unknown>;
  readonly log: (msg: string, extra?: object) => void;
}

export interface EventSource {
  stop(): Promise<void>;
}

export function startEventSource(o: EventSourceOptions): EventSource {
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        const out = await o.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: o.queueUrl,
            MaxNumberOfMessages: Math.min(10, o.batchSize ?? 10),
            WaitTimeSeconds: 1,
          }),
        );
        const msgs = out.Messages ?? [];
        if (!msgs.length) continue;
        const result = (await o.invoke({
          Records: msgs.map((m) => ({
            messageId: m.MessageId ?? '',
            receiptHandle: m.ReceiptHandle ?? '',
            body: m.Body ?? '',
            attributes: {} as never,
            messageAttributes: {},
            md5OfBody: m.MD5OfBody ?? '',
            eventSource: 'aws:sqs',
            eventSourceARN: o.queueArn,
            awsRegion: o.region,
          })),
        })) as { batchItemFailures?: { itemIdentifier: string }[] } | undefined;
        const failed = new Set((result?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
        const done = msgs.filter((m) => !failed.has(m.MessageId ?? ''));
        if (done.length) {
          await o.sqs.send(
            new DeleteMessageBatchCommand({
              QueueUrl: o.queueUrl,
              Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })),
            }),
          );
        }
      } catch (e) {
        if (running) o.log('event source failed', { queue: o.queueUrl, error: (e as Error).message });
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
    },
  };
}
