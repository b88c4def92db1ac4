/**
 * Tasks' own images, deployed (lambdas/domain/images.ts): task definitions registered on demand from
 * the synthesized own-image templates, reused, retired; and what the workflow does when ECS cannot pull
 * the image or refuses it. ECS is faked at its boundary (TaskDefinitionRegistry): a map of families.
 */
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MemoryModelRepository } from '../../lambdas/clients/memory-models.ts';
import { MemoryTaskRepository } from '../../lambdas/clients/memory-tasks.ts';
import { KIT_DIR, KIT_ENTRYPOINT } from '../../lambdas/contracts/runner-env.ts';
import {
  checkTemplate,
  ImageUnusable,
  OwnImages,
  type TaskDefinitionRegistry,
  type TaskDefinitionShape,
  USED_TAG,
} from '../../lambdas/domain/images.ts';
import { silentLogger } from '../../lambdas/domain/logger.ts';
import type { TaskSpec } from '../../lambdas/domain/model.ts';
import { mustGet } from '../../lambdas/domain/task-repository.ts';
import { TaskService } from '../../lambdas/domain/tasks.ts';
import { attemptFailed, type StepDeps, startAttempt } from '../../lambdas/domain/workflow-steps.ts';
import { synthTemplate } from '../../lib/local/synth.ts';
import { describedTaskDefinitionsOf } from '../../lib/local/task-definitions.ts';
import { localNames } from '../../lib/local/template.ts';

/** The own-image templates as the stack synthesizes them, described as ECS would (by the local cloud's reader). */
let templates: Record<string, TaskDefinitionShape>;
beforeAll(() => {
  const template = synthTemplate();
  const described = describedTaskDefinitionsOf(
    template,
    localNames(template, 'us-east-1', 'http://127.0.0.1:1'),
  );
  templates = Object.fromEntries(
    Object.entries(described)
      .filter(([family]) => family.includes('OwnImage'))
      .map(([family, d]) => [
        family,
        { ...d, taskDefinitionArn: `arn:td/${family}:1`, revision: 1, status: 'ACTIVE' },
      ]),
  );
});

/** ECS's task definitions, in memory, and the calls made to it. */
class FakeRegistry implements TaskDefinitionRegistry {
  readonly defs = new Map<string, { def: TaskDefinitionShape; tags: Record<string, string>; arn: string }>();
  readonly calls: string[] = [];
  refuse?: Error;
  async latest(family: string) {
    this.calls.push(`latest ${family}`);
    const f = this.defs.get(family);
    return f ? { arn: f.arn, tags: { ...f.tags } } : undefined;
  }
  async describe(arn: string) {
    this.calls.push(`describe ${arn}`);
    const t = Object.values(templates).find((x) => x.taskDefinitionArn === arn);
    if (!t) throw new Error(`no ${arn}`);
    return structuredClone(t);
  }
  async register(def: TaskDefinitionShape, tags: Record<string, string>) {
    this.calls.push(`register ${def.family}`);
    if (this.refuse) throw this.refuse;
    const arn = `arn:td/${def.family}:1`;
    this.defs.set(def.family ?? '', { def, tags, arn });
    return arn;
  }
  async tag(arn: string, tags: Record<string, string>) {
    this.calls.push(`tag ${arn}`);
    const f = [...this.defs.values()].find((x) => x.arn === arn);
    if (f) Object.assign(f.tags, tags);
  }
  async families(prefix: string) {
    return [...this.defs.keys()].filter((k) => k.startsWith(prefix));
  }
  async retire(family: string) {
    this.calls.push(`retire ${family}`);
    this.defs.delete(family);
  }
}

const SECRET_BASE = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:';
let today = '2026-11-24';
function ownImages(fake: FakeRegistry) {
  const sizes = Object.values(templates)
    .map((t) => ({
      gpus: Number(
        (t.containerDefinitions ?? [])
          .flatMap((c) => (c.resourceRequirements as { type: string; value: string }[] | undefined) ?? [])
          .find((r) => r.type === 'GPU')?.value ?? 0,
      ),
      arn: t.taskDefinitionArn ?? '',
    }))
    .sort((a, b) => a.gpus - b.gpus);
  return new OwnImages(
    fake,
    {
      familyPrefix: 'Trainstack-own-',
      templates: sizes,
      secretsPrefix: 'trainstack/',
      secretArnBase: SECRET_BASE,
    },
    () => today,
  );
}

describe("a task's own image, deployed", () => {
  beforeEach(() => {
    today = '2026-11-24';
  });

  it('registers a task definition from the template with only the workload image changed, and reuses it', async () => {
    const fake = new FakeRegistry();
    const images = ownImages(fake);
    const arn = await images.taskDefinitionFor('ghcr.io/acme/train:1.2', 1);
    const [family, registered] = [...fake.defs.entries()][0] ?? [];
    expect(arn).toBe(`arn:td/${family}:1`);
    expect(family).toMatch(/^Trainstack-own-[0-9a-f]{24}$/);
    const template = Object.values(templates).find((t) => t.taskDefinitionArn === images.templateFor(1));
    const { taskDefinitionArn: _a, revision: _r, status: _s, family: _f, ...rest } = template ?? {};
    const { family: _g, ...mine } = registered?.def ?? {};
    // everything but the workload container's image is the template's: roles, volume, init container
    const swapped = structuredClone(rest);
    for (const c of swapped.containerDefinitions ?? [])
      if (c.name === 'runner') c.image = 'ghcr.io/acme/train:1.2';
    expect(mine).toEqual(swapped);
    const workload = mine.containerDefinitions?.find((c) => c.name === 'runner');
    expect(workload?.entryPoint).toEqual([...KIT_ENTRYPOINT]);
    expect(workload?.mountPoints).toEqual([
      { containerPath: KIT_DIR, readOnly: true, sourceVolume: 'trainstack-kit' },
    ]);
    expect(workload?.dependsOn).toEqual([{ condition: 'SUCCESS', containerName: 'runner-kit' }]);
    expect(registered?.tags).toEqual({ [USED_TAG]: today, 'trainstack:image': 'ghcr.io/acme/train:1.2' });

    // the same image and size again: no call at all; another process finds it without registering
    fake.calls.length = 0;
    expect(await images.taskDefinitionFor('ghcr.io/acme/train:1.2', 1)).toBe(arn);
    expect(fake.calls).toEqual([]);
    today = '2026-11-25';
    expect(await ownImages(fake).taskDefinitionFor('ghcr.io/acme/train:1.2', 1)).toBe(arn);
    expect(fake.calls.filter((c) => c.startsWith('register'))).toEqual([]);
    expect(fake.defs.get(family ?? '')?.tags[USED_TAG]).toBe('2026-11-25');
  });

  it('gives each image and each task size its own family, on the smallest size that holds the GPUs', async () => {
    const fake = new FakeRegistry();
    const images = ownImages(fake);
    const cpu = await images.taskDefinitionFor('busybox', 0);
    const gpu = await images.taskDefinitionFor('busybox', 1);
    const other = await images.taskDefinitionFor('busybox:1.36', 1);
    expect(new Set([cpu, gpu, other]).size).toBe(3);
    const gpusOf = (arn: string) =>
      [...fake.defs.values()]
        .find((f) => f.arn === arn)
        ?.def.containerDefinitions?.find((c) => c.name === 'runner')?.resourceRequirements;
    expect(gpusOf(cpu)).toBeUndefined();
    expect(gpusOf(gpu)).toEqual([{ type: 'GPU', value: '1' }]);
    await expect(images.taskDefinitionFor('busybox', 8)).rejects.toThrow(ImageUnusable);
  });

  it('pulls from a private registry with credentials under the secrets prefix, and refuses others', async () => {
    const fake = new FakeRegistry();
    const images = ownImages(fake);
    await images.taskDefinitionFor('registry.acme.io/ml/train:3', 0, 'trainstack/acme-registry');
    const def = [...fake.defs.values()][0]?.def;
    expect(def?.containerDefinitions?.find((c) => c.name === 'runner')?.repositoryCredentials).toEqual({
      credentialsParameter: `${SECRET_BASE}trainstack/acme-registry`,
    });
    // the init container pulls the stack's own image, with no credentials
    expect(
      def?.containerDefinitions?.find((c) => c.name === 'runner-kit')?.repositoryCredentials,
    ).toBeUndefined();
    await expect(
      images.taskDefinitionFor('registry.acme.io/ml/train:3', 0, 'prod/db-password'),
    ).rejects.toThrow(/under trainstack\//);
    await expect(
      images.taskDefinitionFor('x', 0, 'arn:aws:secretsmanager:eu-west-1:999999999999:secret:trainstack/x'),
    ).rejects.toThrow(/not a secret of this account/);
  });

  it("ends with ImageUnusable when ECS refuses the definition, and lets ECS's other errors through to a retry", async () => {
    const fake = new FakeRegistry();
    fake.refuse = Object.assign(new Error('Invalid image reference'), { name: 'ClientException' });
    await expect(ownImages(fake).taskDefinitionFor('busybox', 0)).rejects.toThrow(
      /ECS refused a task definition for busybox: Invalid image reference/,
    );
    fake.refuse = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    await expect(ownImages(fake).taskDefinitionFor('busybox', 0)).rejects.toThrow(/Rate exceeded/);
  });

  it('retires families unused for 14 days when it registers a new one, and keeps those used since', async () => {
    const fake = new FakeRegistry();
    today = '2026-11-01';
    await ownImages(fake).taskDefinitionFor('old', 0);
    await ownImages(fake).taskDefinitionFor('kept', 0);
    today = '2026-11-14';
    await ownImages(fake).taskDefinitionFor('kept', 0); // used again
    today = '2026-11-24';
    await ownImages(fake).taskDefinitionFor('new', 0);
    const images = [...fake.defs.values()].map((f) => f.tags['trainstack:image']).sort();
    expect(images).toEqual(['kept', 'new']);
  });

  it('refuses a template without the init-container pattern', () => {
    const template = Object.values(templates)[0] ?? {};
    const broken = structuredClone(template);
    for (const c of broken.containerDefinitions ?? [])
      if (c.name === 'runner') c.entryPoint = ['node', 'runner.mjs'];
    expect(() => checkTemplate(template)).not.toThrow();
    expect(() => checkTemplate(broken)).toThrow(/does not start the runner kit/);
  });
});

describe('the workflow with own images', () => {
  let repo: MemoryTaskRepository;
  let deps: StepDeps;
  const images = { calls: [] as string[], taskDefinitionFor: async (_i: string, _g: number) => '' };

  beforeEach(() => {
    repo = new MemoryTaskRepository(new MemoryModelRepository());
    images.calls = [];
    images.taskDefinitionFor = async (image: string, gpus: number) => {
      images.calls.push(`${image} ${gpus}`);
      return `arn:td/own-${image}`;
    };
    deps = {
      store: repo,
      waker: { wake: async () => {} },
      containers: { stopForTask: async () => 0 },
      clock: { now: () => new Date() },
      logger: silentLogger,
      bucketName: 'b',
      random: () => 0,
      images,
    };
  });

  async function started(extra: Partial<TaskSpec> = {}) {
    const service = new TaskService(
      repo,
      { wake: async () => {} },
      { start: async () => '', stop: async () => {}, status: async () => 'MISSING' as const },
      { maxQueueDepth: 100, maxConcurrentTasks: 10 },
      { now: () => new Date() },
    );
    const spec = {
      type: 'container',
      image: 'ghcr.io/acme/x:1',
      command: ['true'],
      priority: 5,
      timeoutSeconds: 3600,
      maxRetries: 3,
      ...extra,
    };
    const { task } = await service.submit(spec as TaskSpec, 'alice');
    await repo.transition(await mustGet(repo, task.taskId), {
      from: 'QUEUED',
      to: 'STARTING',
      activeCap: 10,
    });
    return task.taskId;
  }

  it("runs a task that names an image on that image's task definition, and one that does not on the stack's", async () => {
    const own = await startAttempt(deps, await started({ gpus: 1 }));
    expect(own.taskDefinition).toBe('arn:td/own-ghcr.io/acme/x:1');
    expect(images.calls).toEqual(['ghcr.io/acme/x:1 1']);
    const stock = await startAttempt(
      deps,
      await started({
        type: 'training',
        image: undefined,
        command: undefined,
        params: { epochs: 1, batchSize: 8, learningRate: 0.1 },
      } as never),
    );
    expect(stock.taskDefinition).toBeUndefined();
  });

  it('retries an image that cannot be pulled as infrastructure twice, then ends the task naming the image', async () => {
    const id = await started();
    const pullFailed = {
      Error: 'States.TaskFailed',
      Cause: JSON.stringify({
        StopCode: 'TaskFailedToStart',
        StoppedReason:
          'CannotPullContainerError: pull image manifest has been retried 1 time(s): ghcr.io/acme/x:1: not found',
        Containers: [{ Name: 'runner-kit', ExitCode: 0 }, { Name: 'runner' }],
      }),
    };
    const decisions = [];
    for (let i = 0; i < 3; i++) {
      await startAttempt(deps, id);
      decisions.push(await attemptFailed(deps, { taskId: id, error: pullFailed }));
    }
    expect(decisions.map((d) => d.action)).toEqual(['retry', 'retry', 'done']);
    const t = await mustGet(repo, id);
    expect(t.status).toBe('FAILED');
    expect(t.retryCount).toBe(0); // pull failures do not use up maxRetries
    expect(t.statusReason).toMatch(
      /^the image ghcr\.io\/acme\/x:1 could not be pulled \(3 attempts\): CannotPullContainerError/,
    );
  });

  it('ends a task whose image ECS refuses at once, with the reason', async () => {
    const id = await started();
    images.taskDefinitionFor = async () => {
      throw new ImageUnusable('ECS refused a task definition for ghcr.io/acme/x:1: bad');
    };
    const err = await startAttempt(deps, id).catch((e: Error) => e);
    expect(err).toBeInstanceOf(ImageUnusable);
    // as Step Functions hands a Lambda's error to the Catch
    const d = await attemptFailed(deps, {
      taskId: id,
      error: {
        Error: (err as Error).name,
        Cause: JSON.stringify({ errorType: (err as Error).name, errorMessage: (err as Error).message }),
      },
    });
    expect(d.action).toBe('done');
    const t = await mustGet(repo, id);
    expect(t.status).toBe('FAILED');
    expect(t.statusReason).toBe('ECS refused a task definition for ghcr.io/acme/x:1: bad');
  });
});
