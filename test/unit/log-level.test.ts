import { describe, expect, it } from 'vitest';
import { levelOf, StderrTagger } from '../../lambdas/domain/log-level.ts';

describe('log levels', () => {
  it('tags stderr WARN, a Python traceback ERROR through its exception line, and reads the tags back', () => {
    const t = new StderrTagger();
    const stderr = [
      'UserWarning: the learning rate is high',
      'Traceback (most recent call last):',
      '  File "train.py", line 3, in <module>',
      '    main()',
      'ZeroDivisionError: division by zero',
      'after the traceback',
    ];
    const stored = stderr.map((l) => t.tag(l));
    expect(stored.map((s) => levelOf(s).level)).toEqual(['WARN', 'ERROR', 'ERROR', 'ERROR', 'ERROR', 'WARN']);
    expect(stored.map((s) => levelOf(s).message)).toEqual(stderr);
    // stdout is stored as it is, and a line that only looks tagged in the middle stays INFO
    expect(levelOf('Epoch 1/3 loss=0.5')).toEqual({ level: 'INFO', message: 'Epoch 1/3 loss=0.5' });
    expect(levelOf('x [ERROR] y')).toEqual({ level: 'INFO', message: 'x [ERROR] y' });
  });
});
