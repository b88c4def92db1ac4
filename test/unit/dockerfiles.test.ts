/**
 * Lints the container images (no Docker engine here to build them): pinned bases, a non-root workload, exec-form
 * entry points, sources that exist, and the targets the stack and the README name.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { DockerfileParser } from 'dockerfile-ast';
import { describe, expect, it } from 'vitest';
import { KIT_SOURCE, RUNNER_ENV } from '../../lambdas/contracts/runner-env.ts';
import { REPO_ROOT } from '../../lib/function.ts';

const FILE = 'containers/Dockerfile';
const df = DockerfileParser.parse(readFileSync(path.join(REPO_ROOT, FILE), 'utf8'));
const instructions = df.getInstructions();
const named = (k: string) => instructions.filter((i) => i.getKeyword() === k);

/** The instructions of one stage (from its FROM to the next). */
function stage(name: string) {
  const froms = df.getFROMs();
  const i = froms.findIndex((f) => f.getBuildStage() === name);
  if (i < 0) throw new Error(`${FILE} has no stage ${name}`);
  const start = froms[i]?.getRange().start.line ?? 0;
  const end = froms[i + 1]?.getRange().start.line ?? Number.POSITIVE_INFINITY;
  return instructions.filter((x) => x.getRange().start.line >= start && x.getRange().start.line < end);
}

describe.each(['runner', 'trainer', 'agent'])('the %s image', (target) => {
  const own = (k: string) => stage(target).filter((i) => i.getKeyword() === k);

  it('runs the workload as a user other than root (the runner drops to it)', () => {
    const env = own('ENV')
      .map((e) => e.getArgumentsContent() ?? '')
      .join(' ');
    const user = new RegExp(`${RUNNER_ENV.workloadUser}=(\\d+):(\\d+)`).exec(env);
    expect(user, env).not.toBeNull();
    expect(Number(user?.[1])).toBeGreaterThan(0);
    expect(Number(user?.[2])).toBeGreaterThan(0);
    // the runner must be root to switch users: a USER other than root would make every spawn fail
    expect(own('USER').at(-1)?.getArgumentsContent()).toBe('root');
  });

  it('uses an exec-form ENTRYPOINT that starts the runner', () => {
    const [entry] = own('ENTRYPOINT');
    expect(entry?.getArgumentsContent()).toMatch(/^\[\s*"node",\s*"\/opt\/trainstack\/runner\.mjs"\s*\]$/);
  });

  it('carries the bundle the build stage made with the shared recipe', () => {
    expect(own('COPY').map((c) => c.getTextContent())).toContain(
      'COPY --from=build /out/runner.mjs /opt/trainstack/runner.mjs',
    );
  });
});

describe(FILE, () => {
  it('assembles the runner kit from the bundle and gives it to the trainer image, where init containers copy it from', () => {
    expect(stage('build').map((i) => i.getArgumentsContent())).toContain(
      'node --experimental-strip-types containers/runner/kit.ts /out/kit /out/runner.mjs',
    );
    expect(
      stage('trainer')
        .filter((i) => i.getKeyword() === 'COPY')
        .map((c) => c.getTextContent()),
    ).toContain(`COPY --from=build /out/kit ${KIT_SOURCE}`);
  });

  it('bundles the runner with containers/runner/build.ts', () => {
    expect(stage('build').map((i) => i.getArgumentsContent())).toContain(
      'node --experimental-strip-types containers/runner/build.ts /out/runner.mjs',
    );
  });

  it('bundles the agent runtime with the same recipe, and the agent image runs it for trajectory tasks', () => {
    expect(stage('build').map((i) => i.getArgumentsContent())).toContain(
      'node --experimental-strip-types containers/runner/build.ts /out/agent.mjs containers/agent/src/main.ts',
    );
    const env = stage('agent')
      .filter((i) => i.getKeyword() === 'ENV')
      .map((e) => e.getArgumentsContent() ?? '')
      .join(' ');
    expect(env).toContain(`${RUNNER_ENV.agentCommand}="node /opt/trainstack/agent.mjs"`);
    expect(env).toContain('TRAINSTACK_CHROMIUM=/usr/bin/chromium');
    const install = stage('agent')
      .filter((i) => i.getKeyword() === 'RUN')
      .map((r) => r.getArgumentsContent() ?? '')
      .join(' ');
    for (const pkg of ['chromium', 'python3', 'python3-seccomp'])
      expect(install).toMatch(new RegExp(`\\s${pkg}\\s`));
  });

  it('is the trainer and agent targets the stack builds', () => {
    const source = readFileSync(path.join(REPO_ROOT, 'lib', 'gpu-cluster.ts'), 'utf8');
    expect(source).toContain(`file: '${FILE}'`);
    expect(source).toMatch(/asset\('trainer'\)/);
    expect(source).toMatch(/asset\('agent'\)/);
    expect(source).toMatch(
      /fromAsset\(path\.join\(REPO_ROOT\), \{\s*file: 'containers\/Dockerfile',\s*target,/,
    );
  });

  it('pins every base image to a version (no latest, no bare name)', () => {
    for (const from of df.getFROMs()) {
      const tag = from.getImageTag();
      expect(from.getImageName(), from.getTextContent()).toBeTruthy();
      expect(tag, from.getTextContent()).toBeTruthy();
      expect(tag).not.toBe('latest');
    }
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
