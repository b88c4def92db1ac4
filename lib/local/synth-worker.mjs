// The stack's synthesis in a worker thread (lib/local/synth.ts): plain JavaScript, so it starts
// without a loader; it registers tsx for the TypeScript it imports, posts the template and exits.
import { parentPort, workerData } from 'node:worker_threads';

const port = parentPort;
if (!port) throw new Error('synth-worker runs only as a worker thread');

try {
  const { register } = await import('tsx/esm/api');
  register();
  const { synthTemplate } = await import('./synth.ts');
  port.postMessage({ template: synthTemplate(workerData.context) });
} catch (e) {
  port.postMessage({ error: { message: e?.message ?? String(e), stack: e?.stack } });
}
