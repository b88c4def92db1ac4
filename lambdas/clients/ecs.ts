/**
 * SDK clients are created once per module and configured only by the environment (AWS_REGION,
 * AWS_ENDPOINT_URL): the same code talks to AWS, LocalStack or the local cloud. One module per
 * service, so each function bundles only the clients it uses.
 */
import { DescribeTasksCommand, ECSClient, ListTasksCommand, StopTaskCommand } from '@aws-sdk/client-ecs';
import { RUNNER_ENV } from '../contracts/runner-env.ts';
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
