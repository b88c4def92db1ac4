/**
 * SDK clients are created once per module and configured only by the environment (AWS_REGION,
 * AWS_ENDPOINT_URL): the same code talks to AWS, LocalStack or the local cloud. One module per
 * service, so each function bundles only the clients it uses.
 */
import {
  DeleteTaskDefinitionsCommand,
  DeregisterTaskDefinitionCommand,
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ECSClient,
  ListTaskDefinitionFamiliesCommand,
  ListTaskDefinitionsCommand,
  ListTasksCommand,
  RegisterTaskDefinitionCommand,
  type RegisterTaskDefinitionCommandInput,
  StopTaskCommand,
  TagResourceCommand,
} from '@aws-sdk/client-ecs';
import { RUNNER_ENV } from '../contracts/runner-env.ts';
import type { TaskDefinitionRegistry, TaskDefinitionShape } from '../domain/images.ts';
import type { Containers } from '../domain/ports.ts';

export const ecs = new ECSClient({});

/** The task's containers in the cluster; with no cluster (the LocalStack target) there is nothing to stop. */
export function ecsContainers(cluster: string | undefined): Containers {
  if (!cluster) return { stopForTask: async () => 0 };
  return {
    async stopForTask(taskId, reason, ecsTaskArn) {
      const stop = (task: string) =>
        ecs.send(new StopTaskCommand({ cluster, task, reason: reason.slice(0, 255) }));
      if (ecsTaskArn) {
        await stop(ecsTaskArn);
        return 1;
      }
      // the runner had not recorded its ECS task yet: find it by the task id in its overrides
      let stopped = 0;
      let nextToken: string | undefined;
      do {
        const page = await ecs.send(new ListTasksCommand({ cluster, desiredStatus: 'RUNNING', nextToken }));
        const arns = page.taskArns ?? [];
        for (let i = 0; i < arns.length; i += 100) {
          const out = await ecs.send(new DescribeTasksCommand({ cluster, tasks: arns.slice(i, i + 100) }));
          for (const t of out.tasks ?? []) {
            const env = t.overrides?.containerOverrides?.flatMap((c) => c.environment ?? []) ?? [];
            if (t.taskArn && env.some((e) => e.name === RUNNER_ENV.taskId && e.value === taskId)) {
              await stop(t.taskArn);
              stopped++;
            }
          }
        }
        nextToken = page.nextToken;
      } while (nextToken);
      return stopped;
    },
  };
}

const asTags = (tags: Record<string, string>) => Object.entries(tags).map(([key, value]) => ({ key, value }));

/** The task definitions of tasks' own images (lambdas/domain/images.ts), over the ECS API. */
export function ecsTaskDefinitions(): TaskDefinitionRegistry {
  return {
    async latest(family) {
      try {
        const r = await ecs.send(
          new DescribeTaskDefinitionCommand({ taskDefinition: family, include: ['TAGS'] }),
        );
        const arn = r.taskDefinition?.taskDefinitionArn;
        if (!arn || r.taskDefinition?.status !== 'ACTIVE') return undefined;
        return { arn, tags: Object.fromEntries((r.tags ?? []).map((t) => [t.key ?? '', t.value ?? ''])) };
      } catch (e) {
        // a family with no ACTIVE revision
        if ((e as Error).name === 'ClientException') return undefined;
        throw e;
      }
    },
    async describe(arnOrFamily) {
      const r = await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: arnOrFamily }));
      if (!r.taskDefinition) throw new Error(`no task definition ${arnOrFamily}`);
      return r.taskDefinition as TaskDefinitionShape;
    },
    async register(def, tags) {
      const input = { ...def, tags: asTags(tags) } as RegisterTaskDefinitionCommandInput;
      const r = await ecs.send(new RegisterTaskDefinitionCommand(input));
      const arn = r.taskDefinition?.taskDefinitionArn;
      if (!arn) throw new Error(`RegisterTaskDefinition of ${def.family} answered no ARN`);
      return arn;
    },
    async tag(arn, tags) {
      await ecs.send(new TagResourceCommand({ resourceArn: arn, tags: asTags(tags) }));
    },
    async families(familyPrefix) {
      const out: string[] = [];
      let nextToken: string | undefined;
      do {
        const r = await ecs.send(
          new ListTaskDefinitionFamiliesCommand({ familyPrefix, status: 'ACTIVE', nextToken }),
        );
        out.push(...(r.families ?? []));
        nextToken = r.nextToken;
      } while (nextToken);
      return out;
    },
    async retire(family) {
      const arns: string[] = [];
      let nextToken: string | undefined;
      do {
        const r = await ecs.send(
          new ListTaskDefinitionsCommand({ familyPrefix: family, status: 'ACTIVE', nextToken }),
        );
        // familyPrefix matches longer families too
        arns.push(
          ...(r.taskDefinitionArns ?? []).filter((a) => a.split('/').pop()?.replace(/:\d+$/, '') === family),
        );
        nextToken = r.nextToken;
      } while (nextToken);
      for (const a of arns) await ecs.send(new DeregisterTaskDefinitionCommand({ taskDefinition: a }));
      for (let i = 0; i < arns.length; i += 10)
        await ecs.send(new DeleteTaskDefinitionsCommand({ taskDefinitions: arns.slice(i, i + 10) }));
    },
  };
}
