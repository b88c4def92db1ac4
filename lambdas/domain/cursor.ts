/** Opaque list cursors: a repository's position, as base64url JSON; a cursor we did not give is a 400. */
import { badRequest } from './errors.ts';

export function encodeCursor(position: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(position), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw badRequest('the cursor is not valid', [{ path: 'cursor', message: 'not a cursor this API gave' }]);
}
