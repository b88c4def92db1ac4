/**
 * One set of AWS endpoints for all integration test files; each file makes its own tables, queues and
 * buckets from the synthesized template. With AWS_ENDPOINT_URL set (LocalStack, or a running
 * `npm start`), the tests use that endpoint; otherwise they start DynamoDB Local and fauxqs.
 */
import type { TestProject } from 'vitest/node';
import { startEmulators } from '../../lib/local/emulators.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    awsEndpoint: string;
  }
}

export default async function setup(project: TestProject) {
  const given = process.env.AWS_ENDPOINT_URL;
  if (given) {
    project.provide('awsEndpoint', given);
    return;
  }
  const emulators = await startEmulators();
  project.provide('awsEndpoint', emulators.endpoint);
  return async () => {
    await emulators.stop();
  };
}
