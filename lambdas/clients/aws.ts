/**
 * SDK clients, created once per module and configured only by the environment
 * (AWS_REGION, AWS_ENDPOINT_URL): the same code talks to AWS, LocalStack or the local cloud.
 */
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ECSClient } from '@aws-sdk/client-ecs';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

const endpoint = process.env.AWS_ENDPOINT_URL;

export const dynamodb = DynamoDBDocumentClient.from(new DynamoDBClient({}), {
  marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: true },
});
// SQS: send to the configured endpoint, not to the host in the queue URL (which differs off AWS)
export const sqs = new SQSClient(endpoint ? { useQueueUrlAsEndpoint: false } : {});
export const sfn = new SFNClient({});
export const ecs = new ECSClient({});
export const logs = new CloudWatchLogsClient({});
// path-style addressing works everywhere, AWS included; virtual hosts do not resolve off AWS
export const s3 = new S3Client({ forcePathStyle: Boolean(endpoint) });
