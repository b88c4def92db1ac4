/**
 * A task's own `image`, deployed. ECS RunTask cannot override a container's image, so each (image,
 * task size) gets a task definition of its own, registered on demand from the stack's template for that
 * size and reused after. The template (lib/gpu-cluster.ts, `OwnImage*`) has the init-container
 * pattern: an init container from the task image copies the runner kit into a shared volume, and the
 * workload container (named `runner`) starts once it succeeded, with the kit as its entry point. Only
 * the workload container's image (and its registry credentials) differ from the template, so a task
 * definition here is exactly what the stack synthesized, with the user's image in it.
 *
 * Families are named from a hash of the template revision, the image and the credentials: a new stack
 * version (new runner) gets new families, and families unused for `retireAfterDays` are deregistered
 * and deleted when a new one is registered.
 */
import { createHash } from 'node:crypto';
import { KIT_DIR, KIT_ENTRYPOINT } from '../contracts/runner-env.ts';
import { IMAGE_UNUSABLE_ERROR } from './classify.ts';

/** The workload container of every runner task definition */
export const WORKLOAD_CONTAINER = 'runner';
/** The tag that says when a family was last used (YYYY-MM-DD) */
export const USED_TAG = 'trainstack:used';
export const IMAGE_TAG = 'trainstack:image';

/** The fields of an ECS container definition this module reads or sets; the rest is carried as it is. */
export interface ContainerShape {
  name?: string;
  image?: string;
  entryPoint?: string[];
  dependsOn?: { containerName?: string; condition?: string }[];
  mountPoints?: { sourceVolume?: string; containerPath?: string; readOnly?: boolean }[];
  repositoryCredentials?: { credentialsParameter?: string };
  [k: string]: unknown;
}

/** An ECS task definition as DescribeTaskDefinition gives it and RegisterTaskDefinition takes it. */
export interface TaskDefinitionShape {
  family?: string;
  taskDefinitionArn?: string;
  containerDefinitions?: ContainerShape[];
  [k: string]: unknown;
}

/** What this module needs from ECS (lambdas/clients/ecs.ts over the SDK; a map in tests). */
export interface TaskDefinitionRegistry {
  /** The latest ACTIVE revision of a family with its tags, or undefined when there is none. */
  latest(family: string): Promise<{ arn: string; tags: Record<string, string> } | undefined>;
  /** A task definition by ARN (or family) */
  describe(arnOrFamily: string): Promise<TaskDefinitionShape>;
  register(def: TaskDefinitionShape, tags: Record<string, string>): Promise<string>;
  tag(arn: string, tags: Record<string, string>): Promise<void>;
  /** ACTIVE families whose names start with the prefix */
  families(prefix: string): Promise<string[]>;
  /** Deregister and delete every revision of a family */
  retire(family: string): Promise<void>;
}

/** The image cannot be used: a reference ECS refuses, credentials that are not allowed. Ends the task. */
export class ImageUnusable extends Error {
  constructor(message: string) {
    super(message);
    // what Step Functions reports as the Error of the failed step
    this.name = IMAGE_UNUSABLE_ERROR;
  }
}

/** Fields DescribeTaskDefinition answers that RegisterTaskDefinition does not take */
const DESCRIBED_ONLY = new Set([
  'taskDefinitionArn',
  'revision',
  'status',
  'requiresAttributes',
  'compatibilities',
  'registeredAt',
  'registeredBy',
  'deregisteredAt',
  'deleteRequestedAt',
]);

/** Checks that a template has the init-container pattern this module relies on; throws if not. */
export function checkTemplate(t: TaskDefinitionShape): void {
  const where = t.taskDefinitionArn ?? t.family ?? 'template';
  const workload = t.containerDefinitions?.find((c) => c.name === WORKLOAD_CONTAINER);
  if (!workload) throw new Error(`${where}: no container named ${WORKLOAD_CONTAINER}`);
  if (JSON.stringify(workload.entryPoint) !== JSON.stringify(KIT_ENTRYPOINT))
    throw new Error(`${where}: the ${WORKLOAD_CONTAINER} container does not start the runner kit`);
  const kit = workload.mountPoints?.find((m) => m.containerPath === KIT_DIR);
  if (!kit?.readOnly) throw new Error(`${where}: the runner kit is not mounted read-only at ${KIT_DIR}`);
  const init = workload.dependsOn?.find((d) => d.condition === 'SUCCESS');
  if (!init || !t.containerDefinitions?.some((c) => c.name === init.containerName))
    throw new Error(`${where}: the ${WORKLOAD_CONTAINER} container does not wait for an init container`);
}

/** The task definition for `image`: the template with the workload container's image swapped. */
export function ownImageDefinition(
  template: TaskDefinitionShape,
  family: string,
  image: string,
  credentialsArn?: string,
): TaskDefinitionShape {
  checkTemplate(template);
  const def: TaskDefinitionShape = {};
  for (const [k, v] of Object.entries(template)) if (!DESCRIBED_ONLY.has(k) && v !== undefined) def[k] = v;
  def.family = family;
  def.containerDefinitions = (template.containerDefinitions ?? []).map((c) => {
    if (c.name !== WORKLOAD_CONTAINER) return c;
    const { repositoryCredentials: _, ...rest } = c;
    return {
      ...rest,
      image,
      ...(credentialsArn ? { repositoryCredentials: { credentialsParameter: credentialsArn } } : {}),
    };
  });
  return def;
}

/** The family of (template revision, image, credentials): letters, digits, - and _ as ECS allows. */
export function familyFor(prefix: string, templateArn: string, image: string, credentialsArn?: string) {
  const h = createHash('sha256')
    .update(JSON.stringify([templateArn, image, credentialsArn ?? '']))
    .digest('hex');
  return `${prefix}${h.slice(0, 24)}`;
}

export interface OwnImageOptions {
  /** family names start with this (the stack's, so its permissions can name them) */
  familyPrefix: string;
  /** the template task definition ARN for each task size (GPUs), smallest first */
  templates: { gpus: number; arn: string }[];
  /** registry credentials secrets must be named under this (CDK context secretsPrefix) */
  secretsPrefix: string;
  /** a Secrets Manager ARN without the name: `arn:aws:secretsmanager:<region>:<account>:secret:` */
  secretArnBase: string;
  /** families unused this long are retired when a new one is registered. @default 14 */
  retireAfterDays?: number;
}

/** Registers, reuses and retires the task definitions of tasks' own images. */
export class OwnImages {
  /** family -> ARN, the day it was tagged used: what this process already knows */
  private readonly known = new Map<string, { arn: string; used: string }>();

  constructor(
    private readonly registry: TaskDefinitionRegistry,
    private readonly o: OwnImageOptions,
    private readonly today: () => string = () => new Date().toISOString().slice(0, 10),
  ) {}

  /** The template for a task of this many GPUs: the smallest size that holds them. */
  templateFor(gpus: number): string {
    const t = this.o.templates.find((x) => x.gpus >= gpus);
    if (!t) throw new ImageUnusable(`no task size holds ${gpus} GPUs`);
    return t.arn;
  }

  /** A secret name or ARN for registry credentials, as an ARN, if the stack allows it. */
  credentialsArn(ref: string): string {
    const name = ref.startsWith('arn:') ? ref.slice(this.o.secretArnBase.length) : ref;
    if (ref.startsWith('arn:') && !ref.startsWith(this.o.secretArnBase))
      throw new ImageUnusable(`imageCredentials ${ref} is not a secret of this account and region`);
    if (!name.startsWith(this.o.secretsPrefix))
      throw new ImageUnusable(
        `imageCredentials must name a Secrets Manager secret under ${this.o.secretsPrefix} (CDK context secretsPrefix), not ${name}`,
      );
    return `${this.o.secretArnBase}${name}`;
  }

  /** The task definition ARN that runs `image` with the runner at this size: found, or registered now. */
  async taskDefinitionFor(image: string, gpus: number, credentials?: string): Promise<string> {
    const templateArn = this.templateFor(gpus);
    const credentialsArn = credentials ? this.credentialsArn(credentials) : undefined;
    const family = familyFor(this.o.familyPrefix, templateArn, image, credentialsArn);
    const today = this.today();
    const cached = this.known.get(family);
    if (cached?.used === today) return cached.arn;
    const found = await this.registry.latest(family);
    if (found) {
      if (found.tags[USED_TAG] !== today) await this.registry.tag(found.arn, { [USED_TAG]: today });
      this.known.set(family, { arn: found.arn, used: today });
      return found.arn;
    }
    const def = ownImageDefinition(await this.registry.describe(templateArn), family, image, credentialsArn);
    let arn: string;
    try {
      arn = await this.registry.register(def, { [USED_TAG]: today, [IMAGE_TAG]: image.slice(0, 256) });
    } catch (e) {
      // ECS refuses what it cannot use (ClientException): the task cannot run; anything else is retried
      if ((e as Error).name === 'ClientException')
        throw new ImageUnusable(`ECS refused a task definition for ${image}: ${(e as Error).message}`);
      throw e;
    }
    this.known.set(family, { arn, used: today });
    await this.retireUnused(family);
    return arn;
  }

  /** Deregisters and deletes families not used for retireAfterDays (not `keep`); returns them. */
  async retireUnused(keep?: string): Promise<string[]> {
    const days = this.o.retireAfterDays ?? 14;
    const cutoff = new Date(Date.parse(`${this.today()}T00:00:00Z`) - days * 86_400_000)
      .toISOString()
      .slice(0, 10);
    const retired: string[] = [];
    for (const family of await this.registry.families(this.o.familyPrefix)) {
      if (family === keep) continue;
      const latest = await this.registry.latest(family);
      const used = latest?.tags[USED_TAG];
      if (latest && used && used >= cutoff) continue;
      await this.registry.retire(family);
      this.known.delete(family);
      retired.push(family);
    }
    return retired;
  }
}
