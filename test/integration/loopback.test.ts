/**
 * The local emulators answer this machine only: the endpoint and fauxqs (which hard-codes 0.0.0.0,
 * opened on 127.0.0.1 here) refuse connections to the machine's other addresses.
 */
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { describe, expect, it } from 'vitest';
import { startEmulators } from '../../lib/local/emulators.ts';

/** Whether a TCP connection to host:port is accepted. */
const accepts = (host: string, port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect({ host, port, timeout: 2000 }, () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
  });

describe('local emulators', () => {
  it('listen on 127.0.0.1 only: the endpoint and fauxqs', async () => {
    const em = await startEmulators();
    try {
      const fauxqs = new URL(em.fauxqs);
      expect(fauxqs.hostname).toBe('127.0.0.1');
      const endpointPort = Number(new URL(em.endpoint).port);
      const other = Object.values(networkInterfaces())
        .flat()
        .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
      expect(await accepts('127.0.0.1', Number(fauxqs.port))).toBe(true);
      // a machine with no other interface has nobody else to refuse
      if (other) {
        expect(await accepts(other, Number(fauxqs.port))).toBe(false);
        expect(await accepts(other, endpointPort)).toBe(false);
      }
    } finally {
      await em.stop();
    }
  });
});
