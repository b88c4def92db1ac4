/**
 * SDK clients are created once per module and configured only by the environment (AWS_REGION,
 * AWS_ENDPOINT_URL): the same code talks to AWS, LocalStack or the local cloud. One module per
 * service, so each function bundles only the clients it uses.
 */
import { SFNClient, StartExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import type { Executions } from '../domain/ports.ts';

export const sfn = new SFNClient({});

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
