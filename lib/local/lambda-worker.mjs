// One Lambda function in its own thread: its own process.env (the Worker's `env`), its own module
// instances (SDK clients, logger), its handler imported once and invoked per message, as in Lambda.
// Plain JavaScript, so it starts without a loader; it registers tsx for the TypeScript it imports.
import { pathToFileURL } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';

const port = parentPort;
if (!port) throw new Error('lambda-worker runs only as a worker thread');

try {
  const { register } = await import('tsx/esm/api');
  register();
  const mod = await import(pathToFileURL(workerData.entry).href);
  const handler = mod[workerData.exportName];
  if (typeof handler !== 'function')
    throw new Error(`${workerData.entry} exports no ${workerData.exportName}`);
  port.on('message', ({ id, event, context }) => {
    Promise.resolve()
      .then(() => handler(event, context))
      .then(
        (result) => port.postMessage({ id, ok: true, result }),
        (e) =>
          port.postMessage({ id, ok: false, error: { name: e?.name, message: e?.message, stack: e?.stack } }),
      );
  });
  port.postMessage({ ready: true });
} catch (e) {
  port.postMessage({ ready: false, error: { name: e?.name, message: e?.message, stack: e?.stack } });
}
