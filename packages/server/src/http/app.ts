import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline, Readable } from 'node:stream';
import type { HttpMethod, RouteDef } from '@tickets/sdk';
import FindMyWay from 'find-my-way';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { captureRequestError, traceRequest, tracingEnabled } from '../integrations/sentry.js';
import { httpDuration, httpRequests } from '../observability/metrics.js';
import { answerPreflight, applyCors, type CorsPolicy } from './cors.js';
import { ApiError, constraintViolated, fieldErrors, validationFailed } from './errors.js';
import { checkedKey, keyedHeaders, requestHash } from './idempotency.js';

export type Principal = (
  | { kind: 'user'; userId: string; orgId: string; role: 'owner' | 'admin' | 'staff' }
  | {
      kind: 'api_key';
      keyId: string;
      orgId: string;
      scopes: string[];
      /** Its creator's current role: a key may never do more than they may (null: a key from before). */
      creatorRole: 'owner' | 'admin' | 'staff' | null;
    }
) & {
  /** The request it came with (set by the App): the audit log records it beside the actor. */
  via?: { requestId: string; ip: string };
};

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
 * PDFs), with the content-type the headers give; a Readable is streamed (reports, see sendStream);
 * anything else is sent as JSON.
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
  /** Throws a 403 ApiError unless the principal may call the route (its `auth`, and `storefront`). */
  authorize(principal: Principal, route: RouteDef): void;
  /** Who may call from web pages, and from where (publishable keys); none without it. */
  cors?: CorsPolicy;
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
  /** How long a request body may take to arrive once its headers have; then 408 (slow clients). */
  bodyTimeoutMs?: number;
  /** Check every response against its contract schema (on in tests: a drifting handler fails loudly). */
  validateResponses: boolean;
  hooks: AppHooks;
  /**
   * Answers outside the API's contract, by exact path (GET only): `/metrics` in Prometheus's text
   * format. The handler writes the whole answer itself.
   */
  plain?: Record<string, (req: IncomingMessage, res: ServerResponse) => Promise<void>>;
  /**
   * Answers outside the contract under a path prefix (GET and HEAD): the local media store's files at
   * `/media/…`. The handler answers and resolves true, or resolves false for a 404.
   */
  files?: {
    prefix: string;
    serve: (req: IncomingMessage, res: ServerResponse, path: string) => Promise<boolean>;
  };
}

/** What the App has learnt of a request so far (for its metrics, and Sentry should it fail). */
interface Seen {
  route: string;
  principal: Principal | null;
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
    // What is known of the request as it goes: its route once matched, who made it once authenticated.
    const seen: Seen = { route: '(unmatched)', principal: null };
    this.whenDone(req, res, requestId, () => seen.route);
    const run = () =>
      this.dispatch(req, res, requestId, seen).catch((err: unknown) =>
        this.fail(req, res, requestId, err, seen),
      );
    if (!tracingEnabled()) {
      void run();
      return;
    }
    const header = (name: string) => {
      const v = req.headers[name];
      return typeof v === 'string' ? v : undefined;
    };
    void traceRequest(
      { sentryTrace: header('sentry-trace'), baggage: header('baggage') },
      req.method ?? 'GET',
      () => ({ route: seen.route, status: res.statusCode }),
      run,
    );
  };

  /** When the answer is written: the request's metrics, and its log line unless the level leaves it out. */
  private whenDone(req: IncomingMessage, res: ServerResponse, requestId: string, route: () => string): void {
    const started = process.hrtime.bigint();
    const logged = this.options.log.isLevelEnabled('info');
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const method = METHODS.includes(req.method as HttpMethod) ? (req.method as string) : 'OTHER';
      // The route's template, never the raw path: one series per route, whatever ids are asked for.
      const labels = { route: route(), method, status: String(res.statusCode) };
      httpRequests.inc(labels);
      httpDuration.observe(labels, seconds);
      if (logged)
        this.options.log.info(
          {
            reqId: requestId,
            method: req.method,
            route: labels.route,
            status: res.statusCode,
            ms: Math.round(seconds * 1e4) / 10,
          },
          'request',
        );
    });
  }

  private async dispatch(
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
    seen: Seen,
  ): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (
      method === 'OPTIONS' &&
      this.options.hooks.cors &&
      (await answerPreflight(this.options.hooks.cors, req, res, (m) => {
        const at = METHODS.includes(m as HttpMethod) ? this.router.find(m as HttpMethod, path) : null;
        return at ? (at.store as Registered).route : null;
      }))
    )
      return;
    const plain = method === 'GET' ? this.options.plain?.[path] : undefined;
    if (plain) {
      seen.route = path;
      drain(req);
      return plain(req, res);
    }
    const files = this.options.files;
    if (files && path.startsWith(files.prefix)) {
      seen.route = `${files.prefix}*`;
      drain(req);
      if (method !== 'GET' && method !== 'HEAD')
        throw new ApiError(405, 'method_not_allowed', `${method} is not allowed here; use GET.`, undefined, {
          allow: 'GET, HEAD',
        });
      if (await files.serve(req, res, path)) return;
      throw new ApiError(404, 'not_found', 'No such file.');
    }
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
    seen.route = route.path;

    const badParam = badTextIn(found.params, []);
    if (badParam) {
      drain(req);
      throw badText('invalid_path', badParam);
    }
    const params = route.params ? route.params.safeParse(found.params) : undefined;
    if (params && !params.success) {
      drain(req);
      throw new ApiError(404, 'not_found', `No such ${route.tag.replace(/s$/, '').replace('-', ' ')}.`);
    }
    let query: unknown;
    if (route.query) {
      const raw = q === -1 ? {} : queryObject(new URLSearchParams(url.slice(q + 1)));
      const bad = badTextIn(raw, []);
      if (bad) {
        drain(req);
        throw badText('invalid_query', bad);
      }
      const parsed = route.query.safeParse(raw);
      if (!parsed.success) {
        drain(req);
        throw new ApiError(400, 'invalid_query', 'The query string is not valid.', fieldErrors(parsed.error));
      }
      query = parsed.data;
    }

    let principal: Principal | null = null;
    if (route.auth !== 'public') {
      const who = await this.options.hooks.authenticate(req.headers.authorization);
      principal = { ...who, via: { requestId, ip: clientIp(req, this.options.trustProxy) } };
      seen.principal = principal;
      // Before the permission check, so a page allowed to use the key can read why it was refused.
      if (this.options.hooks.cors) await applyCors(this.options.hooks.cors, req, res, route, principal);
      this.options.hooks.authorize(principal, route);
    }

    const needsBody = route.body !== undefined || route.rawBody === true;
    // A streamed body (an upload) is the handler's to read, as it arrives.
    if (!needsBody && !route.streamBody) drain(req);
    const rawBody = needsBody
      ? await readBody(req, this.options.bodyLimit, this.options.bodyTimeoutMs ?? 30_000)
      : null;
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
        const bad = badTextIn(body, []);
        if (bad) throw badText('invalid_body', bad);
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
      body: string | Buffer | Readable;
      headers?: Record<string, string>;
    }> => {
      const result = await handler(ctx);
      if (result instanceof Reply)
        return {
          status: result.status,
          body:
            Buffer.isBuffer(result.body) || result.body instanceof Readable
              ? result.body
              : JSON.stringify(result.body),
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
      // A publishable key's keys are its own: its secret is public, so nobody else's replays are its to see.
      const scope =
        principal.kind === 'api_key' && principal.scopes.includes('publishable')
          ? `${principal.orgId}/${principal.keyId}`
          : principal.orgId;
      const out = await this.options.hooks.idempotent(scope, checkedKey(key), hash, async () => {
        try {
          // Replayable responses are JSON; binary ones (images, PDFs) are never POST answers.
          const o = await run();
          if (o.body instanceof Readable) {
            // Let go of what it reads from (a report's cursor holds a connection) before refusing.
            o.body.destroy();
            throw new Error('A streamed answer cannot be kept for replay.');
          }
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
    if (out.body instanceof Readable)
      sendStream(res, out.status, out.body, (err) => {
        const gone = (err as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE';
        if (gone) this.options.log.debug({ reqId: requestId }, 'client went away mid-stream');
        else this.options.log.error({ reqId: requestId, err }, 'streamed answer failed');
      });
    else send(res, out.status, out.body, 'application/json');
  }

  private fail(req: IncomingMessage, res: ServerResponse, requestId: string, err: unknown, seen: Seen): void {
    if (err instanceof ClientGone) {
      // The client went away mid-request: nothing to answer, and nothing wrong on our side.
      this.options.log.debug({ reqId: requestId, reason: err.message }, 'client went away');
      res.destroy();
      return;
    }
    let error: ApiError;
    const refused = err instanceof ApiError ? null : constraintViolated(err);
    if (err instanceof ApiError) error = err;
    else if (refused) {
      this.options.log.warn({ reqId: requestId, err }, 'write refused by a database constraint');
      error = refused;
    } else {
      this.options.log.error({ reqId: requestId, err }, 'unhandled error');
      const p = seen.principal;
      captureRequestError(err, {
        requestId,
        method: req.method ?? 'GET',
        route: seen.route,
        status: 500,
        principal: p && {
          kind: p.kind,
          id: p.kind === 'user' ? p.userId : p.keyId,
          orgId: p.orgId,
          ...(p.kind === 'user' ? { role: p.role } : {}),
        },
      });
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

/**
 * Headers every answer carries: browsers must not sniff a type other than the one given, and nothing
 * the API answers (tokens, keys, buyers' details) may be kept by a shared or browser cache unless its
 * handler said it may (public images set their own Cache-Control). HTML (the unsubscribe page) may
 * load nothing but its own inline style, and may not be framed.
 */
function secure(res: ServerResponse): void {
  res.setHeader('x-content-type-options', 'nosniff');
  if (!res.hasHeader('cache-control')) res.setHeader('cache-control', 'no-store');
  const type = res.getHeader('content-type');
  if (typeof type === 'string' && type.startsWith('text/html') && !res.hasHeader('content-security-policy'))
    res.setHeader(
      'content-security-policy',
      "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
}

function send(res: ServerResponse, status: number, body: string | Buffer, type: string): void {
  res.statusCode = status;
  secure(res);
  if (status === 204 || body.length === 0) {
    res.end();
    return;
  }
  if (!Buffer.isBuffer(body) || !res.hasHeader('content-type'))
    res.setHeader('content-type', `${type}; charset=utf-8`);
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(body);
}

/**
 * Streams a body (a report) as fast as the client takes it: `pipeline` stops reading while the socket
 * is full, and destroys the body (closing what it reads from, e.g. a database cursor) when the client
 * goes away. A failure once the headers are out cuts the connection: the client sees a broken
 * transfer, never a file that merely looks complete.
 */
function sendStream(
  res: ServerResponse,
  status: number,
  body: Readable,
  onError: (err: Error) => void,
): void {
  res.statusCode = status;
  if (!res.hasHeader('content-type')) res.setHeader('content-type', 'application/octet-stream');
  secure(res);
  pipeline(body, res, (err) => {
    if (!err) return;
    onError(err);
    res.destroy();
  });
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

/** The client closed the connection before its request was read: nobody to answer. */
class ClientGone extends Error {}

/** Postgres text cannot hold U+0000; a lone UTF-16 surrogate is no character at all (and not UTF-8). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: U+0000 is exactly what it looks for
const BAD_TEXT = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** The first string (or object key) in a request's value that no database can store, with its path. */
function badTextIn(value: unknown, path: (string | number)[]): { path: string; key: boolean } | null {
  if (typeof value === 'string') return BAD_TEXT.test(value) ? { path: path.join('.'), key: false } : null;
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) {
      const bad = badTextIn(v, [...path, i]);
      if (bad) return bad;
    }
    return null;
  }
  if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (BAD_TEXT.test(k)) return { path: [...path, k].join('.'), key: true };
      const bad = badTextIn(v, [...path, k]);
      if (bad) return bad;
    }
  }
  return null;
}

/** 400 naming the field whose text holds a NUL or a lone surrogate (one rule for every route). */
function badText(code: string, bad: { path: string; key: boolean }): ApiError {
  const what = bad.key ? 'a field name' : 'text';
  return new ApiError(
    400,
    code,
    `${bad.path || 'The request'} contains ${what} with a NUL character (U+0000) or a lone UTF-16 surrogate, which cannot be stored.`,
    [{ path: bad.path, message: 'contains U+0000 or a lone surrogate', code: 'invalid_characters' }],
  );
}

/**
 * Reads the body up to a limit; past it, answers 413 and closes the connection. A body that has not
 * arrived within `timeoutMs` (a client sending it a byte at a time) answers 408 and closes it too.
 */
function readBody(req: IncomingMessage, limit: number, timeoutMs: number): Promise<Buffer> {
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
    const fail = (err: Error) => {
      if (failed) return;
      failed = true;
      clearTimeout(timer);
      reject(err);
    };
    const timer = setTimeout(
      () =>
        fail(
          new ApiError(
            408,
            'request_timeout',
            `The request body did not arrive within ${Math.round(timeoutMs / 1000)} s.`,
            undefined,
            { connection: 'close' },
          ),
        ),
      timeoutMs,
    );
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        fail(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (failed) return;
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    req.on('error', (err) => fail(new ClientGone(err.message)));
    req.on('close', () => {
      if (!req.complete) fail(new ClientGone('closed before the body arrived'));
    });
  });
}

/** A query string as an object; a key given more than once (`event=a&event=b`) holds all its values. */
function queryObject(params: URLSearchParams): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of params) {
    const had = out[k];
    out[k] = had === undefined ? v : Array.isArray(had) ? [...had, v] : [had, v];
  }
  return out;
}
