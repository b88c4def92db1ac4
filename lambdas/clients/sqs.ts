/**
 * SDK clients are created once per module and configured only by the environment (AWS_REGION,
 * AWS_ENDPOINT_URL): the same code talks to AWS, LocalStack or the local cloud. One module per
 * service, so each function bundles only the clients it uses.
 */
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Waker } from '../domain/ports.ts';

// send to the configured endpoint, not to the host in the queue URL (which differs off AWS)
export const sqs = new SQSClient(process.env.AWS_ENDPOINT_URL ? { useQueueUrlAsEndpoint: false } : {});

export function sqsWaker(queueUrl: string): Waker {
  return {
    async wake(reason) {
      await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(reason) }));
    },
  };
}
