/** The domain ports implemented over the AWS SDK. */
import { DescribeTasksCommand, ListTasksCommand, StopTaskCommand } from '@aws-sdk/client-ecs';
import { StartExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import type { Containers, Executions, Waker } from '../domain/ports.ts';
import { ecs, sfn, sqs } from './aws.ts';

export function sqsWaker(queueUrl: string): Waker {
  return {
    async wake(reason) {
      await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(reason) }));
    },
  };
}

export function sfnExecutions(stateMachineArn: string): Executions {
  return {
    async start(taskId) {
      try {
        const out = await sfn.send(
          new StartExecutionCommand({ stateMachineArn, name: taskId, input: JSON.stringify({ taskId }) }),
        );
        return out.executionArn ?? '';
      } catch (e) {
        // same name, different input: cannot happen (the input is the name), but never start twice
        if (e instanceof Error && e.name === 'ExecutionAlreadyExists') {
          return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${taskId}`;
        }
        throw e;
      }
    },
    async stop(executionArn, cause) {
      try {
        await sfn.send(new StopExecutionCommand({ executionArn, cause, error: 'Cancelled' }));
      } catch (e) {
        if (e instanceof Error && e.name === 'ExecutionDoesNotExist') return;
        throw e;
      }
    },
  };
}

export function ecsContainers(cluster: string): Containers {
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
            if (t.taskArn && env.some((e) => e.name === 'TRAINSTACK_TASK_ID' && e.value === taskId)) {
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
