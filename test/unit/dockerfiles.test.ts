/** Lints the container images (no Docker engine here to build them): pinned bases, non-root, exec-form entry points, sources that exist. */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { DockerfileParser } from 'dockerfile-ast';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../lib/function.ts';

const files = ['containers/runner/Dockerfile', 'containers/trainer/Dockerfile'];

describe.each(files)('%s', (file) => {
  const df = DockerfileParser.parse(readFileSync(path.join(REPO_ROOT, file), 'utf8'));
  const instructions = df.getInstructions();
  const named = (k: string) => instructions.filter((i) => i.getKeyword() === k);

  it('pins every base image to a version (no latest, no bare name)', () => {
    for (const from of df.getFROMs()) {
      const tag = from.getImageTag();
      expect(from.getImageName(), from.getTextContent()).toBeTruthy();
      expect(tag, from.getTextContent()).toBeTruthy();
      expect(tag).not.toBe('latest');
    }
  });

  it('runs as a user other than root', () => {
    const users = named('USER');
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)?.getArgumentsContent()).not.toMatch(/^(root|0)$/);
  });

  it('uses an exec-form ENTRYPOINT that starts the runner', () => {
    const [entry] = named('ENTRYPOINT');
    expect(entry?.getArgumentsContent()).toMatch(/^\[\s*"node",\s*"\/opt\/trainstack\/runner\.mjs"\s*\]$/);
  });

  it('copies only files that exist in the repository, and never ADDs URLs', () => {
    expect(named('ADD')).toEqual([]);
    for (const copy of named('COPY')) {
      if (
        (copy as unknown as { getFlags(): { getName(): string }[] })
          .getFlags()
          .some((f) => f.getName() === 'from')
      )
        continue;
      const args = copy.getArguments().map((a) => a.getValue());
      for (const src of args.slice(0, -1)) expect(existsSync(path.join(REPO_ROOT, src)), src).toBe(true);
    }
  });

  it('cleans apt lists in the layer that fills them', () => {
    for (const run of named('RUN')) {
      const text = run.getArgumentsContent() ?? '';
      if (text.includes('apt-get install')) expect(text).toContain('rm -rf /var/lib/apt/lists');
    }
  });
});
