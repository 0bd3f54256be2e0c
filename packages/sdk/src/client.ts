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
import { InvoicesResource } from './resources/invoices.js';
import { CampaignsResource, ContactListsResource } from './resources/marketing.js';
import { MeResource } from './resources/me.js';
import { MessagesResource } from './resources/messages.js';
import { OrdersResource } from './resources/orders.js';
import { OrgsResource } from './resources/orgs.js';
import { RefundsResource } from './resources/refunds.js';
import { ReportsResource } from './resources/reports.js';
import { TicketTypesResource } from './resources/ticket-types.js';
import { TicketsResource } from './resources/tickets.js';

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

  /** One call with its retries; resolves to a success's body (parsed JSON, bytes when `raw`, or a stream). */
  private async send(
    route: RouteDef,
    args: RequestArgs,
    options: RequestOptions,
    raw: boolean | 'stream',
  ): Promise<{ res: Response; body: unknown; idempotencyKey: string | undefined }> {
    const url = this.url(route, args);
    const idempotencyKey =
      route.method === 'POST' && route.idempotent !== false
        ? (options.idempotencyKey ?? crypto.randomUUID())
        : undefined;
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
      const text = await res.text();
      let body: unknown = null;
      if (text) {
        try {
          body = JSON.parse(text);
        } catch {
          body = text;
        }
      }
      if (res.ok) return { res, body, idempotencyKey };
      const error: TicketsError = errorFromResponse(res.status, body, res.headers);
      if (error.code === 'token_expired' && this.refreshToken && !refreshed && route.auth !== 'public') {
        refreshed = true;
        await this.refresh();
        attempt--;
        continue;
      }
      if (RETRYABLE_STATUS.has(res.status) && attempt < maxRetries) {
        const wait = error instanceof RateLimitError ? error.retryAfter : undefined;
        if (wait === undefined || wait <= (this.options.maxRetryAfter ?? 10)) {
          await sleep(wait !== undefined ? wait * 1000 : backoff(attempt));
          continue;
        }
      }
      throw error;
    }
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
