/** The session policies the runner narrows its credentials with (containers/runner/src/scope.ts). */
import { describe, expect, it } from 'vitest';
import {
  attemptPolicy,
  leadingKeys,
  MAX_SESSION_POLICY,
  readOnlyPolicy,
  secretArn,
} from '../../containers/runner/src/scope.ts';
import { batchPk, modelStatsPk, shardPk, statsPk } from '../../lambdas/clients/task-table.ts';
import { iamPattern } from '../support/iam.ts';

const target = {
  roleArn: 'arn:aws-cn:iam::123456789012:role/trainstack-data',
  region: 'cn-north-1',
  bucket: 'artifacts',
  taskId: '01JTASK0000000000000000000',
};
const owner = 'arn:aws-cn:iam::123456789012:role/ml-engineers-with-a-rather-long-role-name';

describe('session policies', () => {
  it('first only reads the own record and the registered models', () => {
    expect(readOnlyPolicy(target).Statement).toEqual([
      expect.objectContaining({
        Action: ['dynamodb:GetItem'],
        Condition: {
          'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`TASK#${target.taskId}`, 'MODEL#*'] },
        },
      }),
    ]);
  });

  it('for the attempt names the own record and counters, the own prefixes, in the role ARN partition', () => {
    const p = attemptPolicy(target, owner, []);
    expect(leadingKeys(target.taskId, owner)).toEqual([
      `TASK#${target.taskId}`,
      'STATS@??',
      `STATS@??#${owner}`,
    ]);
    expect(leadingKeys(target.taskId, owner, '01MODEL')).toContain('MODELSTATS@??#01MODEL');
    expect(JSON.stringify(attemptPolicy(target, owner, [], '01MODEL'))).toContain('"MODEL#01MODEL"');
    expect(JSON.stringify(p)).toContain(`arn:aws-cn:s3:::artifacts/tasks/${target.taskId}/*`);
    expect(p.Statement.flatMap((s) => s.Action)).not.toContain('ssm:GetParameter');
    expect(JSON.stringify(p)).not.toMatch(/DeleteItem|DeleteObject|PutItem|Query|Scan/);
  });

  it("matches every shard of its own counters, and nobody else's, nor the cap item (IAM's StringLike)", () => {
    const allowed = (tricky: string, key: string) =>
      leadingKeys(target.taskId, tricky, '01MODEL', '01BATCH').some((p) => iamPattern(p).test(key));
    for (const who of [owner, 'arn:aws:sts::1:assumed-role/r/a*b?c$d']) {
      for (const shard of [0, 7, 31]) {
        expect(allowed(who, shardPk(statsPk(), shard))).toBe(true);
        expect(allowed(who, shardPk(statsPk(who), shard))).toBe(true);
        expect(allowed(who, shardPk(modelStatsPk('01MODEL'), shard))).toBe(true);
        expect(allowed(who, shardPk(batchPk('01BATCH'), shard))).toBe(true);
        expect(allowed(who, shardPk(statsPk(`${who}x`), shard))).toBe(false);
        expect(allowed(who, shardPk(batchPk('01OTHER'), shard))).toBe(false);
      }
      // the cap item, and another owner whose name the wildcards of this one would have matched
      expect(allowed(who, 'STATS')).toBe(false);
      expect(allowed(who, `TASK#${target.taskId}x`)).toBe(false);
    }
    expect(allowed('a*b', shardPk(statsPk('aXXb'), 1))).toBe(false);
  });

  it("names each secret's ARN: parameters by path, secrets with AWS's random suffix, ARNs as given", () => {
    expect(secretArn('ssm:/trainstack/hf', target)).toBe(
      'arn:aws-cn:ssm:cn-north-1:123456789012:parameter/trainstack/hf',
    );
    expect(secretArn('secretsmanager:trainstack/db#password', target)).toBe(
      'arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:trainstack/db-??????',
    );
    const arn = 'arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:trainstack/x-AbCdEf';
    expect(secretArn(`secretsmanager:${arn}`, target)).toBe(arn);
  });

  it('stays within the 2,048 characters STS takes, however many secrets a task names', () => {
    const few = attemptPolicy(target, owner, ['ssm:/trainstack/a', 'secretsmanager:trainstack/b']);
    expect(JSON.stringify(few.Statement.at(-1)?.Resource)).toContain('parameter/trainstack/a');
    const many = Array.from({ length: 50 }, (_, i) => `ssm:/trainstack/team/project/secret-number-${i}`);
    const p = attemptPolicy(target, owner, many);
    expect(JSON.stringify(p).length).toBeLessThanOrEqual(MAX_SESSION_POLICY);
    expect(p.Statement.at(-1)?.Resource).toBe('*');
  });
});
