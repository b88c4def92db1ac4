/**
 * SDK clients are created once per module and configured only by the environment (AWS_REGION,
 * AWS_ENDPOINT_URL): the same code talks to AWS, LocalStack or the local cloud. One module per
 * service, so each function bundles only the clients it uses.
 */
import {
  DescribeExecutionCommand,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { ExecutionFinished, type ExecutionStatus, type Executions } from '../domain/ports.ts';

export const sfn = new SFNClient({});

export function sfnExecutions(stateMachineArn: string): Executions {
  const arnOf = (name: string) => `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
  const status = async (executionArn: string): Promise<ExecutionStatus> => {
    try {
      const out = await sfn.send(new DescribeExecutionCommand({ executionArn }));
      return (out.status ?? 'MISSING') as ExecutionStatus;
    } catch (e) {
      if (e instanceof Error && e.name === 'ExecutionDoesNotExist') return 'MISSING';
      throw e;
    }
  };
  return {
    async start(taskId, name) {
      try {
        const out = await sfn.send(
          new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify({ taskId }) }),
        );
        return out.executionArn ?? arnOf(name);
      } catch (e) {
        if (!(e instanceof Error && e.name === 'ExecutionAlreadyExists')) throw e;
        // the same name again: fine while it runs (a repeated start), refused once it has ended
        const arn = arnOf(name);
        const now = await status(arn);
        if (now === 'RUNNING') return arn;
        throw new ExecutionFinished(arn, now);
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
    status,
  };
}
