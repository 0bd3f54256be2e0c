import type { FieldError } from '@tickets/sdk';
import type { z } from 'zod';

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  408: 'Request Timeout',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

/** An error the client is told about, as RFC 9457 problem+json. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    readonly errors?: FieldError[],
    readonly headers?: Record<string, string>,
  ) {
    super(detail);
    this.name = 'ApiError';
  }

  get title(): string {
    return TITLES[this.status] ?? 'Error';
  }

  toProblem(requestId: string) {
    return {
      type: `https://tickets.dev/problems/${this.code.replaceAll('_', '-')}`,
      title: this.title,
      status: this.status,
      detail: this.detail,
      code: this.code,
      request_id: requestId,
      ...(this.errors ? { errors: this.errors } : {}),
    };
  }
}

export const notFound = (what: string) => new ApiError(404, 'not_found', `No such ${what}.`);
export const conflict = (code: string, detail: string) => new ApiError(409, code, detail);
export const unauthenticated = (detail = 'Authentication required: send Authorization: Bearer <token>.') =>
  new ApiError(401, 'unauthenticated', detail, undefined, { 'www-authenticate': 'Bearer' });
export const forbidden = (detail: string, code = 'forbidden') => new ApiError(403, code, detail);
export const validationFailed = (errors: FieldError[], detail?: string) =>
  new ApiError(422, 'validation_failed', detail ?? summarize(errors), errors);

function summarize(errors: FieldError[]): string {
  const first = errors[0];
  if (!first) return 'The request is not valid.';
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : '';
  return `${first.path || 'body'}: ${first.message}${more}`;
}

export function fieldErrors(error: z.ZodError): FieldError[] {
  return error.issues.map((i) => ({
    path: i.path.map(String).join('.'),
    message: i.message,
    code: i.code,
  }));
}

/**
 * The database refused a write that would break a rule of the sale (migration 0011: counters within
 * capacity and never below zero, refunds within what was paid, statuses in their sets): Postgres's CHECK
 * violation (23514), or the abort of SQLite's trigger for the same rule. The code that allowed it has
 * a bug, but the request is answered as the conflict it is, and nothing was written. Null for any other
 * error.
 */
export function constraintViolated(err: unknown): ApiError | null {
  const e = err as { code?: string; constraint?: string; message?: string };
  const rule =
    e?.code === '23514'
      ? e.constraint
      : e?.code === 'SQLITE_CONSTRAINT_TRIGGER' || e?.code === 'SQLITE_CONSTRAINT_CHECK'
        ? /constraint (\w+) violated/.exec(e.message ?? '')?.[1]
        : undefined;
  if (e?.code !== '23514' && rule === undefined) return null;
  return new ApiError(
    409,
    'constraint_violated',
    `This change would break a rule the database enforces${rule ? ` (${rule})` : ''}, so nothing was changed. Look at the current state and try again.`,
  );
}
