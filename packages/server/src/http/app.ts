import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpMethod, RouteDef } from '@tickets/sdk';
import FindMyWay from 'find-my-way';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { ApiError, constraintViolated, fieldErrors, forbidden, validationFailed } from './errors.js';
import { checkedKey, keyedHeaders, requestHash } from './idempotency.js';

export type Principal =
  | { kind: 'user'; userId: string; orgId: string; role: 'owner' | 'admin' | 'staff' }
  | { kind: 'api_key'; keyId: string; orgId: string; scopes: string[] };

type Out<S> = S extends z.ZodType ? z.output<S> : undefined;

export interface RequestContext<R extends RouteDef> {
  params: Out<R['params']>;
  query: Out<R['query']>;
  body: Out<R['body']>;
  /** Null only on public routes. */
  principal: R['auth'] extends 'public' ? Principal | null : Principal;
  requestId: string;
  ip: string;
  req: IncomingMessage;
  rawBody: Buffer | null;
}

export type Handler<R extends RouteDef> = (
  ctx: RequestContext<R>,
) => Promise<(R['response'] extends z.ZodType ? z.input<R['response']> : undefined) | Reply>;

/**
 * A handler may return a Reply to choose the status or add headers. A Buffer body is sent as is (images,
 * PDFs), with the content-type the headers give; anything else is sent as JSON.
 */
export class Reply {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {}
}

export interface AppHooks {
  /** Resolves the Authorization header to a principal, or throws a 401 ApiError. */
  authenticate(header: string | undefined): Promise<Principal>;
  /** Whether the principal holds a permission (route.auth values other than public/session/any). */
  allows(principal: Principal, permission: string): boolean;
  /** Runs a POST once per Idempotency-Key within a scope (the organization). */
  idempotent(
    scope: string,
    key: string,
    requestHash: string,
    run: () => Promise<{ status: number; body: string }>,
  ): Promise<{ status: number; body: string; replayed: boolean }>;
}

export interface AppOptions {
  log: Logger;
  bodyLimit: number;
  trustProxy: boolean;
  /** Check every response against its contract schema (on in tests: a drifting handler fails loudly). */
  validateResponses: boolean;
  hooks: AppHooks;
}

interface Registered {
  route: RouteDef;
  handler: Handler<RouteDef>;
}

// Request ids: a random per-process prefix and a counter, unique across processes without a
// random draw per request.
const PROCESS_TAG = randomBytes(6).toString('base64url');
let requestCounter = 0;
const nextRequestId = () => `req_${PROCESS_TAG}${(++requestCounter).toString(36)}`;

const METHODS: HttpMethod[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
const REQUEST_ID = /^[\w.:-]{1,128}$/;
const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

export class App {
  private readonly router = FindMyWay({ ignoreTrailingSlash: true, ignoreDuplicateSlashes: true });
  /** Every route this app serves, in registration order (the OpenAPI test compares these to the contract). */
  readonly served: RouteDef[] = [];

  constructor(private readonly options: AppOptions) {}

  handle<R extends RouteDef>(route: R, handler: Handler<R>): void {
    const registered: Registered = { route, handler: handler as unknown as Handler<RouteDef> };
    this.router.on(route.method, route.path, () => {}, registered);
    this.served.push(route);
  }

  /** The node:http request listener. */
  readonly listener = (req: IncomingMessage, res: ServerResponse): void => {
    const incoming = req.headers['x-request-id'];
    const requestId = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : nextRequestId();
    res.setHeader('x-request-id', requestId);
    let routePath = '(unmatched)';
    // The request log line, unless the level leaves it out (then neither the clock nor the listener).
    if (this.options.log.isLevelEnabled('info')) this.logWhenDone(req, res, requestId, () => routePath);
    this.dispatch(req, res, requestId, (p) => {
      routePath = p;
    }).catch((err: unknown) => this.fail(res, requestId, err));
  };

  private logWhenDone(
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
    route: () => string,
  ): void {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      this.options.log.info(
        {
          reqId: requestId,
          method: req.method,
          route: route(),
          status: res.statusCode,
          ms: Math.round(ms * 10) / 10,
        },
        'request',
      );
    });
  }

  private async dispatch(
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
    setRoute: (p: string) => void,
  ): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const found = this.router.find(method as HttpMethod, path);
    if (!found) {
      const allowed = METHODS.filter((m) => m !== method && this.router.find(m, path));
      drain(req);
      if (allowed.length)
        throw new ApiError(
          405,
          'method_not_allowed',
          `${method} is not allowed here; use ${allowed.join(', ')}.`,
          undefined,
          {
            allow: allowed.join(', '),
          },
        );
      throw new ApiError(404, 'route_not_found', `No route for ${method} ${path}.`);
    }
    const { route, handler } = found.store as Registered;
    setRoute(route.path);

    const params = route.params ? route.params.safeParse(found.params) : undefined;
    if (params && !params.success) {
      drain(req);
      throw new ApiError(404, 'not_found', `No such ${route.tag.replace(/s$/, '').replace('-', ' ')}.`);
    }
    let query: unknown;
    if (route.query) {
      const parsed = route.query.safeParse(
        q === -1 ? {} : Object.fromEntries(new URLSearchParams(url.slice(q + 1))),
      );
      if (!parsed.success) {
        drain(req);
        throw new ApiError(400, 'invalid_query', 'The query string is not valid.', fieldErrors(parsed.error));
      }
      query = parsed.data;
    }

    let principal: Principal | null = null;
    if (route.auth !== 'public') {
      principal = await this.options.hooks.authenticate(req.headers.authorization);
      if (route.auth === 'session' && principal.kind !== 'user')
        throw forbidden('This needs a signed-in user, not an API key.', 'user_required');
      if (
        route.auth !== 'session' &&
        route.auth !== 'any' &&
        !this.options.hooks.allows(principal, route.auth)
      )
        throw forbidden(
          `Your ${principal.kind === 'user' ? 'role' : 'API key'} does not allow ${route.auth}.`,
          'insufficient_permission',
        );
    }

    const needsBody = route.body !== undefined || route.rawBody === true;
    if (!needsBody) drain(req);
    const rawBody = needsBody ? await readBody(req, this.options.bodyLimit) : null;
    let body: unknown;
    if (route.body) {
      const text = rawBody && rawBody.length > 0 ? rawBody.toString('utf8') : '';
      if (text.trim() === '') body = {};
      else {
        const type = req.headers['content-type'];
        if (!type || !JSON_TYPE.test(type))
          throw new ApiError(415, 'unsupported_media_type', 'Send the body as application/json.');
        try {
          body = JSON.parse(text);
        } catch {
          throw new ApiError(400, 'invalid_json', 'The body is not valid JSON.');
        }
      }
      const parsed = route.body.safeParse(body);
      if (!parsed.success) throw validationFailed(fieldErrors(parsed.error));
      body = parsed.data;
    }

    const ctx = {
      params: params?.data,
      query,
      body,
      principal,
      requestId,
      ip: clientIp(req, this.options.trustProxy),
      req,
      rawBody,
    } as RequestContext<RouteDef>;

    const run = async (): Promise<{
      status: number;
      body: string | Buffer;
      headers?: Record<string, string>;
    }> => {
      const result = await handler(ctx);
      if (result instanceof Reply)
        return {
          status: result.status,
          body: Buffer.isBuffer(result.body) ? result.body : JSON.stringify(result.body),
          headers: result.headers,
        };
      if (route.response === null) return { status: 204, body: '' };
      if (this.options.validateResponses) {
        const checked = route.response.safeParse(result);
        if (!checked.success)
          throw new Error(
            `Response of ${route.method} ${route.path} breaks its contract: ${checked.error.message}`,
          );
      }
      return { status: route.status ?? 200, body: JSON.stringify(result) };
    };

    const key = req.headers['idempotency-key'];
    if (method === 'POST' && route.idempotent !== false && typeof key === 'string' && principal) {
      const hash = requestHash(method, path, rawBody);
      const out = await this.options.hooks.idempotent(principal.orgId, checkedKey(key), hash, async () => {
        try {
          // Replayable responses are JSON; binary ones (images, PDFs) are never POST answers.
          const o = await run();
          return { status: o.status, body: o.body.toString() };
        } catch (err) {
          // Client errors are part of the outcome and replay as such; server errors may be retried.
          if (err instanceof ApiError && err.status < 500)
            return { status: err.status, body: JSON.stringify(err.toProblem(requestId)) };
          throw err;
        }
      });
      for (const [k, v] of Object.entries(keyedHeaders(key, out))) res.setHeader(k, v);
      send(res, out.status, out.body, out.status >= 400 ? 'application/problem+json' : 'application/json');
      return;
    }
    const out = await run();
    for (const [k, v] of Object.entries(out.headers ?? {})) res.setHeader(k, v);
    send(res, out.status, out.body, 'application/json');
  }

  private fail(res: ServerResponse, requestId: string, err: unknown): void {
    let error: ApiError;
    const refused = err instanceof ApiError ? null : constraintViolated(err);
    if (err instanceof ApiError) error = err;
    else if (refused) {
      this.options.log.warn({ reqId: requestId, err }, 'write refused by a database constraint');
      error = refused;
    } else {
      this.options.log.error({ reqId: requestId, err }, 'unhandled error');
      error = new ApiError(
        500,
        'internal_error',
        `Something went wrong on our side; quote request id ${requestId}.`,
      );
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    for (const [k, v] of Object.entries(error.headers ?? {})) res.setHeader(k, v);
    send(res, error.status, JSON.stringify(error.toProblem(requestId)), 'application/problem+json');
  }
}

function send(res: ServerResponse, status: number, body: string | Buffer, type: string): void {
  res.statusCode = status;
  if (status === 204 || body.length === 0) {
    res.end();
    return;
  }
  if (!Buffer.isBuffer(body) || !res.hasHeader('content-type'))
    res.setHeader('content-type', `${type}; charset=utf-8`);
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(body);
}

function drain(req: IncomingMessage): void {
  req.resume();
}

function clientIp(req: IncomingMessage, trustProxy: boolean): string {
  if (trustProxy) {
    // The right-most address is the one our proxy added; those left of it are whatever the client sent.
    const fwd = req.headers['x-forwarded-for'];
    const last = (Array.isArray(fwd) ? fwd.join(',') : fwd)?.split(',').pop()?.trim();
    if (last) return last;
  }
  return req.socket.remoteAddress ?? 'unknown';
}

/** Reads the body up to a limit; past it, answers 413 and closes the connection. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const tooLarge = () =>
    new ApiError(413, 'payload_too_large', `The body is larger than ${limit} bytes.`, undefined, {
      connection: 'close',
    });
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    return Promise.reject(tooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!failed) resolve(Buffer.concat(chunks));
    });
    req.on('error', (err) => {
      if (!failed) reject(err);
    });
  });
}
