import type { Session } from './contract/accounts.js';
import type { RouteDef, RouteResponse } from './contract/routes.js';
import { routes } from './contract/routes.js';
import { ConnectionError, errorFromResponse, RateLimitError, type TicketsError } from './errors.js';
import { AnalyticsResource } from './resources/analytics.js';
import { ApiKeysResource } from './resources/api-keys.js';
import { AuditResource, FeedbackResource } from './resources/audit.js';
import { AuthResource } from './resources/auth.js';
import { CheckinResource } from './resources/checkin.js';
import { EventsResource } from './resources/events.js';
import { IntegrationsResource } from './resources/integrations.js';
import { InvoicesResource } from './resources/invoices.js';
import { CampaignsResource, ContactListsResource } from './resources/marketing.js';
import { MeResource } from './resources/me.js';
import { MediaResource } from './resources/media.js';
import { MessagesResource } from './resources/messages.js';
import { OrdersResource } from './resources/orders.js';
import { OrgsResource } from './resources/orgs.js';
import { PayoutsResource, ReconciliationsResource } from './resources/payouts.js';
import { RefundsResource } from './resources/refunds.js';
import { ReportsResource } from './resources/reports.js';
import { TicketTypesResource } from './resources/ticket-types.js';
import { TicketsResource } from './resources/tickets.js';
import { VouchersResource } from './resources/vouchers.js';
import { WebhookEndpointsResource } from './resources/webhooks.js';

export interface TicketsOptions {
  /** Where the API lives, e.g. `http://127.0.0.1:3000`. */
  baseUrl: string;
  /** An access token (JWT) or an API key: `tk_…`, or in a web page a publishable `pk_…` key. */
  token?: string;
  /** With a refresh token the client renews an expired access token by itself and retries. */
  refreshToken?: string;
  /** Called whenever the client obtains new tokens (sign-in or refresh), e.g. to save them. */
  onSession?: (session: Session) => void | Promise<void>;
  /** Retries of connection errors, 429 and 502/503/504 (default 2). */
  maxRetries?: number;
  /** Per-attempt timeout in milliseconds (default 30 s). */
  timeout?: number;
  /** The longest Retry-After the client waits out by itself, in seconds (default 10). */
  maxRetryAfter?: number;
  userAgent?: string;
  fetch?: typeof fetch;
}

export interface RequestOptions {
  /** Reuse a key to make a POST safe to repeat; generated once per call when not given. */
  idempotencyKey?: string;
  /** Extra headers, e.g. a caller's own x-request-id. */
  headers?: Record<string, string>;
}

export interface RequestArgs {
  params?: Record<string, string>;
  query?: Record<string, unknown>;
  body?: unknown;
}

/** Response metadata, attached to returned objects as a non-enumerable `lastResponse`. */
export interface ResponseMeta {
  status: number;
  requestId: string | undefined;
  idempotencyKey: string | undefined;
  headers: Headers;
}

/**
 * A request body sent as it is read (an upload): `open` makes it, once per attempt. It calls `touch`
 * whenever bytes go out, so a slow but moving upload is never cut off by the timeout, and `fail` with
 * the error when its source cannot be read (that error is thrown as it is, never as a ConnectionError).
 */
export interface UploadBody {
  open(hooks: {
    touch(): void;
    fail(err: unknown): void;
  }): ReadableStream<Uint8Array> | Blob | Promise<ReadableStream<Uint8Array> | Blob>;
  /** e.g. `multipart/form-data; boundary=…`. */
  contentType: string;
  /** Every byte of the body, when known: sent as Content-Length so the server can refuse early. */
  length: number | null;
  /**
   * Whether `open` can make the body again (a file, a Buffer, a Blob): then a connection error, a
   * 429/502/503/504 or an expired token is retried. A stream is read once and never retried.
   */
  replayable: boolean;
}

/** A non-JSON answer: its bytes, their type, and the response metadata. */
export interface RawResponse {
  body: Buffer;
  contentType: string;
  lastResponse: ResponseMeta;
}

/** An answer read as it arrives (a report): its body as a web stream, its type, and the response metadata. */
export interface StreamResponse {
  body: ReadableStream<Uint8Array>;
  contentType: string;
  lastResponse: ResponseMeta;
}

const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The tickets API client.
 *
 * @example
 * const tickets = new Tickets({ baseUrl: 'http://127.0.0.1:3000', token: process.env.TICKETS_API_KEY });
 * for await (const event of tickets.events.list({ status: 'published' })) console.log(event.name);
 */
export class Tickets {
  readonly auth = new AuthResource(this);
  readonly me = new MeResource(this);
  readonly orgs = new OrgsResource(this);
  readonly apiKeys = new ApiKeysResource(this);
  readonly events = new EventsResource(this);
  readonly ticketTypes = new TicketTypesResource(this);
  readonly orders = new OrdersResource(this);
  readonly refunds = new RefundsResource(this);
  readonly payouts = new PayoutsResource(this);
  readonly reconciliations = new ReconciliationsResource(this);
  readonly reports = new ReportsResource(this);
  readonly tickets = new TicketsResource(this);
  readonly invoices = new InvoicesResource(this);
  readonly audit = new AuditResource(this);
  readonly feedback = new FeedbackResource(this);
  readonly checkin = new CheckinResource(this);
  readonly messages = new MessagesResource(this);
  readonly lists = new ContactListsResource(this);
  readonly campaigns = new CampaignsResource(this);
  readonly analytics = new AnalyticsResource(this);
  readonly media = new MediaResource(this);
  readonly webhookEndpoints = new WebhookEndpointsResource(this);
  readonly integrations = new IntegrationsResource(this);
  readonly vouchers = new VouchersResource(this);

  private token: string | undefined;
  private refreshToken: string | undefined;
  private refreshing: Promise<void> | undefined;
  private readonly baseUrl: string;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly options: TicketsOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.token = options.token;
    this.refreshToken = options.refreshToken;
    // Called through a wrapper, never as this.fetchImpl(…) on the global itself: a browser's fetch
    // throws "Illegal invocation" when called with another `this` than the window.
    const fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
    this.fetchImpl = (input, init) => fetchImpl(input, init);
  }

  /** Use these tokens from now on (the auth resource calls this after signing in). */
  async setSession(session: Session): Promise<void> {
    this.token = session.access_token;
    this.refreshToken = session.refresh_token;
    await this.options.onSession?.(session);
  }

  /** Sends one contract route; the typed resources are thin wrappers over this. */
  async request<R extends RouteDef>(
    route: R,
    args: RequestArgs = {},
    options: RequestOptions = {},
  ): Promise<RouteResponse<R>> {
    const { res, body, idempotencyKey } = await this.send(route, args, options, false);
    return withMeta(body, res, idempotencyKey) as RouteResponse<R>;
  }

  /** Sends a route that answers with bytes rather than JSON (one that declares `produces`, e.g. an image). */
  async requestRaw(
    route: RouteDef,
    args: RequestArgs = {},
    options: RequestOptions = {},
  ): Promise<RawResponse> {
    const { res, body, idempotencyKey } = await this.send(route, args, options, true);
    return {
      body: body as Buffer,
      contentType: res.headers.get('content-type') ?? 'application/octet-stream',
      lastResponse: meta(res, idempotencyKey),
    };
  }

  /**
   * Sends a route whose answer is read as it arrives (a report that may be larger than memory). The
   * timeout covers the answer's headers; the body then takes as long as it takes (cancel it to stop).
   */
  async requestStream(
    route: RouteDef,
    args: RequestArgs = {},
    options: RequestOptions = {},
  ): Promise<StreamResponse> {
    const { res, body, idempotencyKey } = await this.send(route, args, options, 'stream');
    return {
      body: body as ReadableStream<Uint8Array>,
      contentType: res.headers.get('content-type') ?? 'application/octet-stream',
      lastResponse: meta(res, idempotencyKey),
    };
  }

  /**
   * Sends a route whose body is streamed (an upload, `streamBody` routes): the body is made by `upload.open`
   * and sent as it is read, with Content-Length when its size is known. The timeout is for a stall: it
   * runs again whenever bytes go out, then covers the wait for the answer. A body that cannot be made
   * again (a stream) is sent once, with no retry; a replayable one (a path, bytes) is sent again only after
   * an answer that says it was not taken (429, 503), never after a lost connection (it may have been).
   */
  async requestUpload<R extends RouteDef>(
    route: R,
    args: Omit<RequestArgs, 'body'>,
    upload: UploadBody,
    options: RequestOptions = {},
  ): Promise<RouteResponse<R>> {
    const url = this.url(route, args);
    const idempotencyKey = idempotencyKeyFor(route, options);
    const maxRetries = upload.replayable ? (this.options.maxRetries ?? 2) : 0;
    const timeout = this.options.timeout ?? 30_000;
    let refreshed = false;
    // A stream is sent once: renew an access token about to expire before, rather than fail after.
    if (!upload.replayable && this.refreshToken && route.auth !== 'public' && expiresWithin(this.token, 60)) {
      refreshed = true;
      await this.refresh();
    }
    for (let attempt = 0; ; attempt++) {
      const stall = stallDeadline(timeout);
      let sourceError: { error: unknown } | undefined;
      let body: ReadableStream<Uint8Array> | Blob;
      try {
        body = await upload.open({
          touch: stall.touch,
          fail: (error) => {
            sourceError ??= { error };
          },
        });
      } catch (err) {
        stall.done();
        throw err;
      }
      // A Blob (a browser's upload) goes out unseen: nothing tells that it still moves, so no stall timeout.
      const isBlob = typeof Blob !== 'undefined' && body instanceof Blob;
      if (isBlob) stall.done();
      let res: Response;
      try {
        const headers = this.headers(route, args, idempotencyKey, options.headers);
        headers['content-type'] = upload.contentType;
        if (upload.length !== null) headers['content-length'] = String(upload.length);
        res = await this.fetchImpl(url, {
          method: route.method,
          headers,
          body,
          signal: stall.signal,
          // A stream body must be sent "half duplex" (the answer is read once the body is sent).
          ...(isBlob ? {} : { duplex: 'half' }),
        } as RequestInit);
      } catch (err) {
        stall.done();
        // The file or stream could not be read (ENOENT, a stream that errored): that error, as it is.
        if (sourceError) throw sourceError.error;
        // An upload is not idempotent: after a lost connection or a timeout nobody knows whether the
        // server kept it, so it is not sent again (only answers that say nothing was kept are retried).
        const cause =
          (err as Error).cause instanceof Error ? ((err as Error).cause as Error) : (err as Error);
        throw new ConnectionError({
          status: 0,
          code: 'connection_failed',
          detail: `Could not send the upload to ${this.baseUrl}: ${cause.message}`,
        });
      }
      let text: string;
      try {
        text = await res.text();
      } finally {
        stall.done();
      }
      const answer = parsed(text);
      if (res.ok) return withMeta(answer, res, idempotencyKey) as RouteResponse<R>;
      const error: TicketsError = errorFromResponse(res.status, answer, res.headers);
      if (
        error.code === 'token_expired' &&
        upload.replayable &&
        this.refreshToken &&
        !refreshed &&
        route.auth !== 'public'
      ) {
        refreshed = true;
        await this.refresh();
        attempt--;
        continue;
      }
      // 429 and 503 say the upload was not taken (too many, or the provider busy): safe to send again.
      const wait =
        res.status === 429 || res.status === 503
          ? this.retryWait(error, res.status, attempt, maxRetries)
          : null;
      if (wait === null) throw error;
      await sleep(wait);
    }
  }

  /** One call with its retries; resolves to a success's body (parsed JSON, bytes when `raw`, or a stream). */
  private async send(
    route: RouteDef,
    args: RequestArgs,
    options: RequestOptions,
    raw: boolean | 'stream',
  ): Promise<{ res: Response; body: unknown; idempotencyKey: string | undefined }> {
    const url = this.url(route, args);
    const idempotencyKey = idempotencyKeyFor(route, options);
    // A POST without an idempotency key must not be resent after a failure we can't see the end of.
    const safeToResend = route.method !== 'POST' || idempotencyKey !== undefined;
    const maxRetries = this.options.maxRetries ?? 2;
    let refreshed = false;
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      const deadline = raw === 'stream' ? headersDeadline(this.options.timeout ?? 30_000) : undefined;
      try {
        res = await this.fetchImpl(url, {
          method: route.method,
          headers: this.headers(route, args, idempotencyKey, options.headers),
          body: args.body === undefined ? undefined : JSON.stringify(args.body),
          signal: deadline?.signal ?? AbortSignal.timeout(this.options.timeout ?? 30_000),
        });
        deadline?.answered();
      } catch (err) {
        deadline?.answered();
        if (safeToResend && attempt < maxRetries) {
          await sleep(backoff(attempt));
          continue;
        }
        throw new ConnectionError({
          status: 0,
          code: 'connection_failed',
          detail: `Could not reach ${this.baseUrl}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`,
        });
      }
      if (res.ok && raw === 'stream') return { res, body: res.body ?? new Blob([]).stream(), idempotencyKey };
      if (res.ok && raw) {
        // A Buffer in Node; a browser has none, and gets the same bytes as a Uint8Array.
        const bytes = await res.arrayBuffer();
        const body = typeof Buffer === 'function' ? Buffer.from(bytes) : new Uint8Array(bytes);
        return { res, body, idempotencyKey };
      }
      const body = parsed(await res.text());
      if (res.ok) return { res, body, idempotencyKey };
      const error: TicketsError = errorFromResponse(res.status, body, res.headers);
      if (error.code === 'token_expired' && this.refreshToken && !refreshed && route.auth !== 'public') {
        refreshed = true;
        await this.refresh();
        attempt--;
        continue;
      }
      const wait = this.retryWait(error, res.status, attempt, maxRetries);
      if (wait === null) throw error;
      await sleep(wait);
    }
  }

  /** How long to wait before trying a failed call again (429, 502–504: Retry-After or backoff); null: don't. */
  private retryWait(error: TicketsError, status: number, attempt: number, maxRetries: number): number | null {
    if (!RETRYABLE_STATUS.has(status) || attempt >= maxRetries) return null;
    const wait = error instanceof RateLimitError ? error.retryAfter : undefined;
    if (wait !== undefined && wait > (this.options.maxRetryAfter ?? 10)) return null;
    return wait !== undefined ? wait * 1000 : backoff(attempt);
  }

  /** Renews the access token once, however many requests found it expired at the same time. */
  private refresh(): Promise<void> {
    this.refreshing ??= (async () => {
      try {
        const session = await this.request(routes.auth.refresh, {
          body: { refresh_token: this.refreshToken! },
        });
        await this.setSession(session);
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  private url(route: RouteDef, args: RequestArgs): string {
    const path = route.path.replace(/:(\w+)/g, (_, name: string) => {
      const value = args.params?.[name];
      if (value === undefined) throw new TypeError(`Missing path parameter "${name}" for ${route.path}`);
      return encodeURIComponent(value);
    });
    const search = new URLSearchParams();
    for (const [k, v] of Object.entries(args.query ?? {}))
      if (Array.isArray(v)) for (const item of v) search.append(k, String(item));
      else if (v !== undefined && v !== null) search.set(k, String(v));
    const qs = search.toString();
    return `${this.baseUrl}${path}${qs ? `?${qs}` : ''}`;
  }

  private headers(
    route: RouteDef,
    args: RequestArgs,
    idempotencyKey: string | undefined,
    extra: Record<string, string> | undefined,
  ): Record<string, string> {
    const h: Record<string, string> = {
      accept: route.produces ? `${route.produces}, application/problem+json` : 'application/json',
      'user-agent': this.options.userAgent ?? 'tickets-sdk/0.1',
      ...extra,
    };
    if (args.body !== undefined) h['content-type'] = 'application/json';
    if (this.token && route.auth !== 'public') h.authorization = `Bearer ${this.token}`;
    if (idempotencyKey) h['idempotency-key'] = idempotencyKey;
    return h;
  }
}

/** A timeout for an answer's headers only: the body of a streamed answer may then take its time. */
function headersDeadline(ms: number): { signal: AbortSignal; answered(): void } {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError')),
    ms,
  );
  return { signal: controller.signal, answered: () => clearTimeout(timer) };
}

/**
 * A timeout for an upload that stops moving: `touch()` restarts it whenever bytes go out, so a large
 * file on a slow line takes as long as it needs; after the last byte it covers the wait for the answer.
 */
function stallDeadline(ms: number): { signal: AbortSignal; touch(): void; done(): void } {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(
      () =>
        controller.abort(
          new DOMException('The upload stalled: nothing was sent or answered', 'TimeoutError'),
        ),
      ms,
    );
  };
  arm();
  return {
    signal: controller.signal,
    touch: () => {
      if (!controller.signal.aborted) arm();
    },
    done: () => clearTimeout(timer),
  };
}

/** Whether an access token (a JWT) expires within `seconds`; false for an API key or an unreadable token. */
function expiresWithin(token: string | undefined, seconds: number): boolean {
  const payload = token?.split('.')[1];
  if (!payload) return false;
  try {
    const json = atob(
      payload
        .replace(/-/g, '+')
        .replace(/_/g, '/')
        .padEnd(Math.ceil(payload.length / 4) * 4, '='),
    );
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    return typeof exp === 'number' && exp * 1000 < Date.now() + seconds * 1000;
  } catch {
    return false;
  }
}

/** A POST's Idempotency-Key: the caller's, else one made for this call (its retries reuse it). */
function idempotencyKeyFor(route: RouteDef, options: RequestOptions): string | undefined {
  return route.method === 'POST' && route.idempotent !== false
    ? (options.idempotencyKey ?? crypto.randomUUID())
    : undefined;
}

/** An answer's body: JSON when it parses, else its text (null when empty). */
function parsed(text: string): unknown {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function backoff(attempt: number): number {
  const base = Math.min(8000, 500 * 2 ** attempt);
  return base / 2 + Math.random() * (base / 2);
}

function meta(res: Response, idempotencyKey: string | undefined): ResponseMeta {
  return {
    status: res.status,
    requestId: res.headers.get('x-request-id') ?? undefined,
    idempotencyKey,
    headers: res.headers,
  };
}

function withMeta(body: unknown, res: Response, idempotencyKey: string | undefined): unknown {
  if (body && typeof body === 'object')
    Object.defineProperty(body, 'lastResponse', { value: meta(res, idempotencyKey), enumerable: false });
  return body ?? undefined;
}
