/**
 * Local ECS task definitions: the template's, as DescribeTaskDefinition answers them, and those
 * registered since (the task definitions of tasks' own images, lambdas/domain/images.ts), with their
 * revisions, tags, deregistration and deletion. LocalEcs runs them; the workflow test serves them
 * beside its fake ECS.
 */
import { KIT_ENTRYPOINT } from '../../lambdas/contracts/runner-env.ts';
import { type TaskDefinitionShape, WORKLOAD_CONTAINER } from '../../lambdas/domain/images.ts';
import type { ContainerSpec } from './ecs.ts';
import { AwsError, type JsonService } from './json-service.ts';
import { type LocalNames, resolve, resourcesOfType, type Template } from './template.ts';

/** A task definition family as DescribeTaskDefinition answers it, with its tags. */
interface Family {
  def: TaskDefinitionShape & { revision: number; status: 'ACTIVE' | 'INACTIVE' };
  tags: Record<string, string>;
}

/** A CloudFormation value in the ECS API's shape: property names with a lower-case first letter. */
export function apiShape(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(apiShape);
  if (!v || typeof v !== 'object') return v;
  return Object.fromEntries(
    Object.entries(v).map(([k, x]) => [/^[A-Z]/.test(k) ? k[0]?.toLowerCase() + k.slice(1) : k, apiShape(x)]),
  );
}

/** Each ECS task definition of the template, by family, resolved to local names, as the ECS API describes it. */
export function describedTaskDefinitionsOf(t: Template, n: LocalNames): Record<string, TaskDefinitionShape> {
  const out: Record<string, TaskDefinitionShape> = {};
  for (const [id, p] of resourcesOfType(t, 'AWS::ECS::TaskDefinition')) {
    const family = String(p.Family ?? id);
    out[family] = { ...(apiShape(resolve(p, n)) as TaskDefinitionShape), family };
  }
  return out;
}

/** The container that runs a task definition (the one named `runner`, else its first), or none. */
export function containerSpecOf(def: TaskDefinitionShape, graceOverride?: number): ContainerSpec | undefined {
  type C = {
    name: string;
    image?: string;
    entryPoint?: string[];
    environment?: { name: string; value: string }[];
    logConfiguration?: { options?: Record<string, string> };
    resourceRequirements?: { type: string; value: string }[];
    stopTimeout?: number;
  };
  const containers = (def.containerDefinitions ?? []) as C[];
  const c = containers.find((x) => x.name === WORKLOAD_CONTAINER) ?? containers[0];
  if (!c) return undefined;
  const kit = JSON.stringify(c.entryPoint) === JSON.stringify(KIT_ENTRYPOINT);
  return {
    name: c.name,
    environment: Object.fromEntries((c.environment ?? []).map((e) => [e.name, String(e.value)])),
    logGroup: c.logConfiguration?.options?.['awslogs-group'] ?? `/ecs/${def.family}`,
    streamPrefix: c.logConfiguration?.options?.['awslogs-stream-prefix'] ?? 'ecs',
    gpuCount: Number(c.resourceRequirements?.find((r) => r.type === 'GPU')?.value ?? 0),
    stopTimeoutSeconds: graceOverride ?? c.stopTimeout ?? 30,
    ...(kit && c.image ? { ownImage: c.image } : {}),
  };
}

export class LocalTaskDefinitions {
  private readonly families = new Map<string, Family>();

  constructor(
    private readonly region: string,
    private readonly account: string,
    described: Record<string, TaskDefinitionShape>,
  ) {
    for (const [family, def] of Object.entries(described))
      this.families.set(family, { def: { ...def, family, revision: 1, status: 'ACTIVE' }, tags: {} });
  }

  private arnOf(family: string, revision: number) {
    return `arn:aws:ecs:${this.region}:${this.account}:task-definition/${family}:${revision}`;
  }

  private described(f: Family) {
    return { ...f.def, taskDefinitionArn: this.arnOf(f.def.family ?? '', f.def.revision) };
  }

  private family(ref: unknown): Family | undefined {
    const name = String(ref ?? '')
      .replace(/^arn:.*:task-definition\//, '')
      .replace(/:\d+$/, '');
    return this.families.get(name);
  }

  /** The container that runs an ACTIVE family, or none. */
  containerOf(family: string, graceOverride?: number): ContainerSpec | undefined {
    const f = this.families.get(family);
    return f?.def.status === 'ACTIVE' ? containerSpecOf(f.def, graceOverride) : undefined;
  }

  service(): JsonService {
    const tagsOf = (f: Family) => Object.entries(f.tags).map(([key, value]) => ({ key, value }));
    const unknown = () => new AwsError('ClientException', 'Unable to describe task definition.');
    const active = (prefix: unknown) =>
      [...this.families.entries()].filter(
        ([name, f]) => name.startsWith(String(prefix ?? '')) && f.def.status === 'ACTIVE',
      );
    return {
      DescribeTaskDefinition: (i) => {
        const f = this.family(i.taskDefinition);
        if (!f) throw unknown();
        return {
          taskDefinition: this.described(f),
          ...((i.include as string[] | undefined)?.includes('TAGS') ? { tags: tagsOf(f) } : {}),
        };
      },
      RegisterTaskDefinition: (i) => {
        const { tags, ...def } = i as TaskDefinitionShape & { tags?: { key: string; value: string }[] };
        const family = String(def.family ?? '');
        if (!/^[\w-]{1,255}$/.test(family))
          throw new AwsError(
            'ClientException',
            'Family name must be 1-255 letters, numbers, hyphens and underscores.',
          );
        if (!def.containerDefinitions?.length)
          throw new AwsError('ClientException', 'Container definitions must not be empty.');
        const before = this.families.get(family);
        const f: Family = {
          def: { ...def, family, revision: (before?.def.revision ?? 0) + 1, status: 'ACTIVE' },
          tags: { ...before?.tags, ...Object.fromEntries((tags ?? []).map((t) => [t.key, t.value])) },
        };
        this.families.set(family, f);
        return { taskDefinition: this.described(f), tags: tagsOf(f) };
      },
      TagResource: (i) => {
        const f = this.family(i.resourceArn);
        if (!f) throw new AwsError('InvalidParameterException', 'The specified resource is not found.');
        for (const t of (i.tags as { key: string; value: string }[]) ?? []) f.tags[t.key] = t.value;
        return {};
      },
      ListTaskDefinitionFamilies: (i) => ({ families: active(i.familyPrefix).map(([name]) => name) }),
      ListTaskDefinitions: (i) => ({
        taskDefinitionArns: active(i.familyPrefix).map(([name, f]) => this.arnOf(name, f.def.revision)),
      }),
      DeregisterTaskDefinition: (i) => {
        const f = this.family(i.taskDefinition);
        if (!f) throw unknown();
        f.def.status = 'INACTIVE';
        return { taskDefinition: this.described(f) };
      },
      DeleteTaskDefinitions: (i) => {
        for (const ref of (i.taskDefinitions as string[]) ?? []) {
          const f = this.family(ref);
          if (f?.def.status === 'INACTIVE') this.families.delete(f.def.family ?? '');
        }
        return { taskDefinitions: [], failures: [] };
      },
    };
  }
}
