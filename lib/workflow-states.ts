/** The workflow's state names: what the local cloud and the tests refer to, without loading aws-cdk-lib. */
export const STATE = {
  startAttempt: 'StartAttempt',
  proceed: 'Proceed?',
  pickSize: 'PickTaskSize',
  runTask: (gpus: number) => (gpus ? `RunTask${gpus}Gpu` : 'RunTaskCpu'),
  runAgent: 'RunTaskAgent',
  runOwnImage: (gpus: number) => (gpus ? `RunOwnImage${gpus}Gpu` : 'RunOwnImageCpu'),
  succeeded: 'AttemptSucceeded',
  failed: 'AttemptFailed',
  again: 'RetryOrFinish?',
  backoff: 'Backoff',
  notStarted: 'NotStarted',
  done: 'Done',
  broken: 'BookkeepingFailed',
  noCompute: 'NoCompute',
} as const;
