/** The README against the code: its first lines are the two commands, and it documents every setting and script. */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../lib/config.ts';
import { REPO_ROOT } from '../../lib/function.ts';

const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>;
};

describe('README.md', () => {
  it('starts with the two commands', () => {
    const first = /```bash\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    expect(first).toMatch(/^npm ci && npm start\b/m);
    expect(first).toMatch(/^npm ci && npm test\b/m);
  });

  it.each(Object.entries(DEFAULTS))('documents the context key %s with its default', (key, value) => {
    const row = readme.split('\n').find((l) => l.startsWith(`| \`${key}\``));
    expect(row, key).toBeDefined();
    const shown = Array.isArray(value)
      ? value.length
        ? value.join(',')
        : 'none'
      : value === ''
        ? 'none'
        : String(value);
    expect(row).toContain(shown === 'none' ? 'none' : `\`${shown}\``);
  });

  it.each(Object.keys(pkg.scripts))('lists the npm script %s', (script) => {
    if (script === 'start' || script === 'test') expect(readme).toContain(`npm ci && npm ${script}`);
    else
      expect(readme.slice(readme.indexOf('## Scripts'))).toMatch(new RegExp(`\`(npm run )?${script}[\` ]`));
  });

  it('names no document outside the repository', () => {
    expect(readme).not.toMatch(/SPEC|FACTS\.md|DEVELOPERS\.md|§/);
  });
});
