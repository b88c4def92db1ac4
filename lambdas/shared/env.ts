/** Environment, read once and failing fast with a clear message. */
export function env(name: string): string {
  const v = process.env[name];
  if (v === undefined || v === '') throw new Error(`environment variable ${name} is not set`);
  return v;
}

/** A variable that a deployment may leave out (undefined when unset or empty). */
export function envOptional(name: string): string | undefined {
  const v = process.env[name];
  return v === undefined || v === '' ? undefined : v;
}

export function envInt(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`environment variable ${name} is not a number: ${v}`);
  return n;
}
