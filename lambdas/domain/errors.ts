/** Errors the domain raises; handlers map them to HTTP responses by `status`. */
export interface FieldIssue {
  path: string;
  message: string;
}

export class DomainError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: FieldIssue[] = [],
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export const notFound = (what: string) => new DomainError(404, 'NotFound', `${what} not found`);
export const conflict = (message: string) => new DomainError(409, 'Conflict', message);
export const badRequest = (message: string, details: FieldIssue[] = []) =>
  new DomainError(400, 'ValidationError', message, details);
export const tooManyRequests = (message: string, retryAfterSeconds: number) =>
  new DomainError(429, 'TooManyRequests', message, [], { 'Retry-After': String(retryAfterSeconds) });
