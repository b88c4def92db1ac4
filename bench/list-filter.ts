/**
 * Filtered task lists on DynamoDB Local: a table of N tasks of which few match, listed a page at a
 * time by the API handler in this process. Prints, for each filter, the Query round trips and the
 * time a first page takes, and the pages and round trips it takes to walk every match. A filter
 * expression is applied after DynamoDB's `Limit`, so how much each round trip reads decides the cost.
 * Usage: npm run bench:list [-- --tasks 3000 --matching 30 --limit 20]
 */

import { availableParallelism, cpus } from 'node:os';
import { startEmulators } from '../lib/local/emulators.ts';
import { caller } from '../test/support/api.ts';
import { testStack } from '../test/support/stack.ts';
import { benchOptions } from './args.ts';

const {
  tasks: TASKS,
  matching: MATCHING,
  limit: LIMIT,
} = benchOptions({ tasks: 3000, matching: 30, limit: 20 });

console.log(
  `machine: ${availableParallelism()} cores (${cpus()[0]?.model.trim()}); ${new Date().toISOString().slice(0, 10)}`,
);
const emulators = await startEmulators();
try {
  await testStack(emulators.endpoint, { maxQueueDepth: 1_000_000 });
  const { route } = await import('../lambdas/handlers/api.ts');
  const { dynamodb } = await import('../lambdas/clients/dynamodb.ts');
  let queries = 0;
  dynamodb.middlewareStack.add(
    (next, context) => async (args) => {
      // the list's own reads (a queued task's queue position is read from the queue index)
      const input = args.input as { IndexName?: string };
      if (context.commandName === 'QueryCommand' && input.IndexName !== 'queue') queries++;
      return next(args);
    },
    { step: 'initialize', name: 'benchQueries' },
  );
  const api = caller(route);
  const model = await api('POST', '/v1/models', {
    name: 'bench-model',
    type: 'local',
    baseUrl: 'http://127.0.0.1:9/v1',
    model: 'm',
    maxWorkers: 1000,
  });
  if (model.status !== 201) throw new Error(`model: ${model.status}`);
  // the matching tasks spread evenly through the table's history, newest last
  const every = Math.max(1, Math.floor(TASKS / MATCHING));
  const lines = Array.from({ length: TASKS }, (_, i) =>
    i % every === 0 && Math.floor(i / every) < MATCHING
      ? { type: 'inference', params: { model: 'bench-model', kind: 'text-generation', input: 'hi' } }
      : { type: 'container', image: 'busybox', command: ['true'] },
  );
  for (let i = 0; i < lines.length; i += 1000) {
    const r = await api<{ rejected: unknown[] }>(
      'POST',
      '/v1/tasks/batch',
      lines
        .slice(i, i + 1000)
        .map((l) => JSON.stringify(l))
        .join('\n'),
      { 'content-type': 'application/x-ndjson' },
    );
    if (r.status !== 202 || r.body.rejected.length) throw new Error(`batch: ${r.status}`);
  }
  console.log(`${TASKS} tasks, ${MATCHING} of them inference tasks of one model; pages of ${LIMIT}`);
  for (const filter of ['model=bench-model', 'type=inference', 'status=QUEUED&type=inference']) {
    queries = 0;
    const t = performance.now();
    const first = await api<{ tasks: unknown[]; cursor?: string }>(
      'GET',
      `/v1/tasks?${filter}&limit=${LIMIT}`,
    );
    const firstMs = performance.now() - t;
    const firstQueries = queries;
    let seen = first.body.tasks.length;
    let pages = 1;
    let cursor = first.body.cursor;
    while (cursor) {
      const r = await api<{ tasks: unknown[]; cursor?: string }>(
        'GET',
        `/v1/tasks?${filter}&limit=${LIMIT}&cursor=${cursor}`,
      );
      seen += r.body.tasks.length;
      pages++;
      cursor = r.body.cursor;
    }
    const walkMs = performance.now() - t;
    console.log(
      `${filter.padEnd(30)} first page: ${firstQueries} queries, ${firstMs.toFixed(0)} ms; all ${seen} in ${pages} pages: ${queries} queries, ${walkMs.toFixed(0)} ms`,
    );
    if (seen !== MATCHING) throw new Error(`${filter}: listed ${seen}, expected ${MATCHING}`);
  }
} finally {
  await emulators.stop();
}
