/** One set of emulators for all integration test files; each file makes its own tables and queues. */
import type { TestProject } from 'vitest/node';
import { startEmulators } from './emulators.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    awsEndpoint: string;
  }
}

export default async function setup(project: TestProject) {
  const emulators = await startEmulators();
  project.provide('awsEndpoint', emulators.endpoint);
  return async () => {
    await emulators.stop();
  };
}
