import type { FieldError } from './contract/common.js';

interface ErrorInit {
  status: number;
  code: string;
  detail: string;
  requestId?: string;
  errors?: FieldError[];
  headers?: Headers;
  raw?: unknown;
}

/** Base of every error the SDK throws for a failed request. */
export class TicketsError extends Error {
  /** HTTP status; 0 when no response arrived. */
  readonly status: number;
  /** Stable machine code, e.g. `validation_failed`, `slug_taken`. */
  readonly code: string;
  /** The server's explanation, meant for people. */
  readonly detail: string;
  /** Quote this when asking for help; it is in the server's logs. */
  readonly requestId: string | undefined;
  /** Per-field problems, for validation failures. */
  readonly errors: FieldError[];
  readonly headers: Headers | undefined;
  /** The problem+json body as received. */
  readonly raw: unknown;

  constructor(init: ErrorInit) {
    super(init.detail);
    this.name = new.target.name;
    this.status = init.status;
    this.code = init.code;
    this.detail = init.detail;
    this.requestId = init.requestId;
    this.errors = init.errors ?? [];
    this.headers = init.headers;
    this.raw = init.raw;
  }
}

/** The request was malformed or failed validation (400, 413, 415, 422); see `errors` for fields. */
export class ValidationError extends TicketsError {}
/** Missing, invalid or expired credentials (401). */
export class AuthenticationError extends TicketsError {}
/** The credential is valid but lacks the role or scope the call needs (403). */
export class PermissionError extends TicketsError {}
/** No such resource in your organization (404). */
export class NotFoundError extends TicketsError {}
/** The change conflicts with the current state (409), e.g. an invalid status transition. */
export class ConflictError extends TicketsError {}
/** An Idempotency-Key was reused with a different request, or its first request is still running (409). */
export class IdempotencyError extends ConflictError {}
/** Too many requests (429); `retryAfter` says how many seconds to wait. */
export class RateLimitError extends TicketsError {
  get retryAfter(): number | undefined {
    const v = Number(this.headers?.get('retry-after'));
    return Number.isFinite(v) && v >= 0 ? v : undefined;
  }
}
/** The server could not be reached, or did not answer in time. */
export class ConnectionError extends TicketsError {}
/** Any other failure, including 5xx answers. */
export class ApiError extends TicketsError {}

export function errorFromResponse(status: number, body: unknown, headers: Headers): TicketsError {
  const problem = (body && typeof body === 'object' ? body : {}) as {
    code?: string;
    detail?: string;
    title?: string;
    request_id?: string;
    errors?: FieldError[];
  };
  const init: ErrorInit = {
    status,
    code: problem.code ?? `http_${status}`,
    detail: problem.detail ?? problem.title ?? `The server answered ${status}.`,
    requestId: problem.request_id ?? headers.get('x-request-id') ?? undefined,
    errors: problem.errors,
    headers,
    raw: body,
  };
  switch (status) {
    case 400:
    case 413:
    case 415:
    case 422:
      return new ValidationError(init);
    case 401:
      return new AuthenticationError(init);
    case 403:
      return new PermissionError(init);
    case 404:
      return new NotFoundError(init);
    case 409:
      return init.code.startsWith('idempotency_') ? new IdempotencyError(init) : new ConflictError(init);
    case 429:
      return new RateLimitError(init);
    default:
      return new ApiError(init);
  }
}
