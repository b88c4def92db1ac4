/**
 * SDK clients are created once per module and configured only by the environment (AWS_REGION,
 * AWS_ENDPOINT_URL): the same code talks to AWS, LocalStack or the local cloud. One module per
 * service, so each function bundles only the clients it uses.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export const dynamodb = DynamoDBDocumentClient.from(new DynamoDBClient({}), {
  marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: true },
});
