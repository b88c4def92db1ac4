import { describe, expect, it } from 'vitest';
import { parseBenchOptions } from '../../bench/args.ts';

describe("a benchmark's options", () => {
  const defaults = { tasks: 500, cap: 32, model: 'mlp' };

  it('take numbers as numbers and strings as given, over the defaults', () => {
    expect(parseBenchOptions(defaults, [])).toEqual(defaults);
    expect(parseBenchOptions(defaults, ['--tasks', '20', '--model=resnet', '--cap', '0'])).toEqual({
      tasks: 20,
      cap: 0,
      model: 'resnet',
    });
  });

  it('refuse a mistyped option or a number that is not one, naming it, rather than run the defaults', () => {
    expect(() => parseBenchOptions(defaults, ['--task', '20'])).toThrow(
      "Unknown option '--task' (options: --tasks, --cap, --model)",
    );
    expect(() => parseBenchOptions(defaults, ['--tasks', 'many'])).toThrow(
      '--tasks must be a number of at least 0, got "many"',
    );
    expect(() => parseBenchOptions(defaults, ['--cap=-1'])).toThrow(/--cap must be a number/);
    expect(() => parseBenchOptions(defaults, ['--tasks', ''])).toThrow(/--tasks must be a number/);
  });
});
