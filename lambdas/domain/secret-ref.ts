/**
 * A secret reference, `ssm:<parameter name>` or `secretsmanager:<name or ARN>[#<json key>]`: what
 * tasks' `secrets` and models' `apiKey` hold in place of a value. Plain code, no schema library: the
 * runner reads references on every start, and keeps its bundle small to start fast.
 */
export const SECRET_REF =
  /^(ssm|secretsmanager):([A-Za-z0-9/_+=.@:-]{1,2048})(?:#([A-Za-z0-9_.+-]{1,256}))?$/;

export function parseSecretRef(ref: string): { store: 'ssm' | 'secretsmanager'; name: string; key?: string } {
  const m = SECRET_REF.exec(ref);
  if (!m?.[1] || !m[2]) throw new Error(`not a secret reference: ${ref}`);
  return { store: m[1] as 'ssm' | 'secretsmanager', name: m[2], ...(m[3] ? { key: m[3] } : {}) };
}
