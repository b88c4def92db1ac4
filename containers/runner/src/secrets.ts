/**
 * The task's `secrets`: references the runner reads when an attempt starts, so values never sit in
 * the task record, the workflow's input or the container overrides. Deployed, from SSM Parameter
 * Store and Secrets Manager (the task role may read names under the stack's secretsPrefix only);
 * on the local cloud, from a JSON file (`TRAINSTACK_SECRETS_FILE`) or the environment.
 */
import { readFileSync } from 'node:fs';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SSMClient, SSMClientConfig } from '@aws-sdk/client-ssm';
import { parseSecretRef } from '../../../lambdas/domain/secret-ref.ts';

/** Reads one secret's raw value (the whole secret: a JSON key is taken out afterwards). */
export interface SecretSource {
  read(store: 'ssm' | 'secretsmanager', name: string): Promise<string>;
}

export class SecretUnavailable extends Error {
  constructor(
    readonly variable: string,
    readonly ref: string,
    why: string,
  ) {
    super(`secret ${variable} (${ref}) could not be read: ${why}`);
    this.name = 'SecretUnavailable';
  }
}

/**
 * Parameter Store and Secrets Manager, their clients loaded and made on first use: most tasks name
 * no secrets, and a runner that does not load the two SDK clients starts faster.
 */
export function awsSecretSource(config: Pick<SSMClientConfig, 'credentials'> = {}): SecretSource {
  let ssm: SSMClient | undefined;
  let sm: SecretsManagerClient | undefined;
  return {
    async read(store, name) {
      if (store === 'ssm') {
        const { GetParameterCommand, SSMClient } = await import('@aws-sdk/client-ssm');
        ssm ??= new SSMClient(config);
        const r = await ssm.send(new GetParameterCommand({ Name: name, WithDecryption: true }));
        if (r.Parameter?.Value === undefined) throw new Error('the parameter has no value');
        return r.Parameter.Value;
      }
      const { GetSecretValueCommand, SecretsManagerClient } = await import('@aws-sdk/client-secrets-manager');
      sm ??= new SecretsManagerClient(config);
      const r = await sm.send(new GetSecretValueCommand({ SecretId: name }));
      if (r.SecretString === undefined)
        throw new Error('the secret has no string value (binary secrets are not supported)');
      return r.SecretString;
    },
  };
}

/** The variable the local source also looks in: `ssm:/trainstack/hf-token` -> TRAINSTACK_SECRET_TRAINSTACK_HF_TOKEN. */
export const localSecretVariable = (name: string) =>
  `TRAINSTACK_SECRET_${name
    .replace(/^\/+/, '')
    .replace(/[^A-Za-z0-9]+/g, '_')
    .toUpperCase()}`;

/**
 * Secrets on the local cloud: a JSON file of `{"ssm:/trainstack/x": "value", "secretsmanager:trainstack/y": "..."}`
 * (read at every attempt, so edits apply to the next one), then the environment (localSecretVariable).
 */
export function localSecretSource(file: string | undefined, env: NodeJS.ProcessEnv): SecretSource {
  return {
    async read(store, name) {
      if (file) {
        const all = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
        const v = all[`${store}:${name}`];
        if (typeof v === 'string') return v;
        if (v !== undefined) return JSON.stringify(v);
      }
      const fromEnv = env[localSecretVariable(name)];
      if (fromEnv !== undefined) return fromEnv;
      throw new Error(
        `not in ${file ?? 'the secrets file (none given)'} and ${localSecretVariable(name)} is not set`,
      );
    },
  };
}

/** Every secret of the task as the workload's environment variables; the first that fails throws SecretUnavailable. */
export async function resolveSecrets(
  secrets: Record<string, string>,
  source: SecretSource,
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [variable, ref] of Object.entries(secrets)) {
    const { store, name, key } = parseSecretRef(ref);
    let raw: string;
    try {
      raw = await source.read(store, name);
    } catch (e) {
      throw new SecretUnavailable(variable, ref, `${(e as Error).name}: ${(e as Error).message}`);
    }
    if (key === undefined) {
      out[variable] = raw;
      continue;
    }
    let value: unknown;
    try {
      value = (JSON.parse(raw) as Record<string, unknown>)[key];
    } catch {
      throw new SecretUnavailable(variable, ref, `the secret is not JSON, so it has no key ${key}`);
    }
    if (value === undefined || value === null || typeof value === 'object')
      throw new SecretUnavailable(variable, ref, `the secret has no text or number at key ${key}`);
    out[variable] = String(value);
  }
  return out;
}

/** Replaces each secret value (4 characters or more) in a line of output with `***`. */
export function masker(values: string[]): (line: string) => string {
  const secrets = values.filter((v) => v.length >= 4).sort((a, b) => b.length - a.length);
  if (!secrets.length) return (line) => line;
  return (line) => secrets.reduce((l, v) => l.split(v).join('***'), line);
}
