/** AWS JSON-protocol plumbing: errors as 400 {"__type","message"}, as the SDKs expect. */
export class AwsError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = type;
  }
}

export type JsonOperation = (input: Record<string, unknown>) => Promise<unknown> | unknown;
export type JsonService = Record<string, JsonOperation>;
