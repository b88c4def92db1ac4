import { describe, expect, it } from 'vitest';
import { localNames, resolve, synthInWorker, type Template } from '../../lib/local/template.ts';

const t: Template = {
  Resources: {
    Table1: { Type: 'AWS::DynamoDB::Table' },
    Queue1: { Type: 'AWS::SQS::Queue' },
    Fn1: { Type: 'AWS::Lambda::Function' },
  },
};
const n = localNames(t, 'eu-west-1', 'http://127.0.0.1:4566');

describe('resolving the template locally', () => {
  it('resolves Ref, GetAtt and pseudo parameters inside Fn::Join', () => {
    const v = resolve(
      {
        'Fn::Join': [
          '',
          ['arn:', { Ref: 'AWS::Partition' }, ':x:', { Ref: 'AWS::Region' }, ':', { Ref: 'Table1' }],
        ],
      },
      n,
    );
    expect(v).toBe('arn:aws:x:eu-west-1:trainstack-Table1');
    expect(resolve({ 'Fn::GetAtt': ['Fn1', 'Arn'] }, n)).toBe(
      'arn:aws:lambda:eu-west-1:000000000000:function:trainstack-Fn1',
    );
  });

  it('gives queues their local URL', () => {
    expect(resolve({ Ref: 'Queue1' }, n)).toBe('http://127.0.0.1:4566/000000000000/trainstack-Queue1');
  });

  it('resolves Select and Split', () => {
    expect(resolve({ 'Fn::Select': [1, { 'Fn::Split': [':', 'a:b:c'] }] }, n)).toBe('b');
  });
});

describe('the synthesis in a worker thread', () => {
  it("rejects with the stack's own message when the context is wrong (what npm start prints)", async () => {
    await expect(synthInWorker({ statsShards: 33 })).rejects.toThrow(
      /statsShards must be a whole number from 1 to 32, got 33/,
    );
  }, 60_000);
});
