/** Create the template's tables, queues (with redrive policies) and buckets on the local endpoint. */
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DynamoDBClient,
  ResourceInUseException,
} from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { type LocalNames, resolve, resourcesOfType, type Template } from './template.ts';

const creds = { accessKeyId: 'local', secretAccessKey: 'local' };

export async function createResources(t: Template, n: LocalNames, endpoint: string): Promise<void> {
  const common = { region: n.region, endpoint, credentials: creds };
  const ddb = new DynamoDBClient(common);
  const sqs = new SQSClient({ ...common, useQueueUrlAsEndpoint: false });
  const s3 = new S3Client({ ...common, forcePathStyle: true });
  try {
    for (const [id, p] of resourcesOfType(t, 'AWS::DynamoDB::Table')) {
      const input: CreateTableCommandInput = {
        TableName: n.names[id],
        KeySchema: p.KeySchema as CreateTableCommandInput['KeySchema'],
        AttributeDefinitions: p.AttributeDefinitions as CreateTableCommandInput['AttributeDefinitions'],
        BillingMode: 'PAY_PER_REQUEST',
        ...(p.GlobalSecondaryIndexes
          ? {
              GlobalSecondaryIndexes:
                p.GlobalSecondaryIndexes as CreateTableCommandInput['GlobalSecondaryIndexes'],
            }
          : {}),
      };
      try {
        await ddb.send(new CreateTableCommand(input));
      } catch (e) {
        if (!(e instanceof ResourceInUseException)) throw e; // kept from an earlier run (--data-dir)
      }
    }
    // dead-letter queues first, so that redrive policies can name them
    const queues = resourcesOfType(t, 'AWS::SQS::Queue').sort(
      ([, a], [, b]) => Number(Boolean(a.RedrivePolicy)) - Number(Boolean(b.RedrivePolicy)),
    );
    for (const [id, p] of queues) {
      const attributes: Record<string, string> = {};
      if (p.VisibilityTimeout !== undefined) attributes.VisibilityTimeout = String(p.VisibilityTimeout);
      if (p.MessageRetentionPeriod !== undefined)
        attributes.MessageRetentionPeriod = String(p.MessageRetentionPeriod);
      if (p.RedrivePolicy) attributes.RedrivePolicy = JSON.stringify(resolve(p.RedrivePolicy, n));
      await sqs.send(new CreateQueueCommand({ QueueName: n.names[id], Attributes: attributes }));
    }
    for (const [id] of resourcesOfType(t, 'AWS::S3::Bucket')) {
      try {
        await s3.send(new CreateBucketCommand({ Bucket: n.names[id] }));
      } catch (e) {
        if (!(e instanceof Error) || !/BucketAlready/.test(e.name)) throw e;
      }
    }
  } finally {
    ddb.destroy();
    sqs.destroy();
    s3.destroy();
  }
}
