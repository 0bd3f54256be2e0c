import * as Sentry from '@sentry/node';

/**
 * Sentry (errors, tracing, user feedback) through @sentry/node, on only when SENTRY_DSN is set: every
 * function here does nothing otherwise, so the rest of the server calls them unconditionally.
 *
 * What leaves the process is scrubbed first (`scrub`, in beforeSend, beforeSendTransaction and
 * beforeBreadcrumb): credentials in headers, bodies, query strings and messages — passwords, tokens,
 * API keys, cookies, Stripe client secrets and webhook signatures, ticket codes — and the bodies of the
 * sign-in routes whole. A user is sent as ids (user or key, organization, role), never an e-mail unless
 * SENTRY_SEND_PII is on.
 */

export interface SentryOptions {
  dsn?: string;
  environment: string;
  tracesSampleRate: number;
  sendPii: boolean;
  release: string;
  serverName?: string;
}

let enabled = false;
let tracing = false;
let sendPii = false;

/** Starts Sentry for this process (once; later calls change nothing). True when it is on. */
export function initSentry(o: SentryOptions): boolean {
  if (enabled || !o.dsn) return enabled;
  // Stack frames name the TypeScript sources (the build emits source maps next to the JavaScript).
  process.setSourceMapsEnabled(true);
  sendPii = o.sendPii;
  tracing = o.tracesSampleRate > 0;
  Sentry.init({
    dsn: o.dsn,
    release: o.release,
    environment: o.environment,
    serverName: o.serverName,
    // Unset, not 0, when off: any rate (0 too) turns on the span machinery for every request, which
    // cost ~100 µs a request here (bench/observability.mjs) for traces that are then all dropped.
    tracesSampleRate: tracing ? o.tracesSampleRate : undefined,
    sendDefaultPii: false,
    // Requests are transactions named by their route (traceRequest), not by their URL; outgoing HTTP
    // (Stripe, SendGrid, WhatsApp) is still traced by the integration.
    // Nor is a request's data attached to events (headers, cookies, body: RequestData): the tags of
    // captureRequestError say what a bug needs, and nothing there has to be scrubbed away again.
    integrations: (defaults) => [
      ...defaults.filter((i) => !['RequestData', 'Http', 'NodeFetch'].includes(i.name)),
      ...(tracing
        ? [Sentry.httpIntegration({ disableIncomingRequestSpans: true }), Sentry.nativeNodeFetchIntegration()]
        : []),
    ],
    // Without tracing, no OpenTelemetry: its context follows every promise of every request (async
    // hooks on Node 20), ~100 µs a request in bench/observability.mjs, for nothing when no span is
    // kept. Errors are captured in a scope of their own (withScope), which needs none of it.
    skipOpenTelemetrySetup: !tracing,
    // The server answers 4xx as the client's mistake: only what we did not expect is an error.
    beforeSend: (event) => scrub(event),
    beforeSendTransaction: (event) => scrub(event),
    beforeBreadcrumb: (crumb) => scrubValue(crumb) as Sentry.Breadcrumb,
  });
  // Feedback does not pass through beforeSend: scrubbed in place as it is sent.
  Sentry.getClient()?.on('beforeSendFeedback', (event) => {
    scrub(event);
  });
  enabled = true;
  return true;
}

export const sentryEnabled = () => enabled;
export const tracingEnabled = () => tracing;

/** Waits until what was captured has been sent (tests; shutdown). */
export async function flushSentry(timeoutMs = 2000): Promise<boolean> {
  return enabled ? Sentry.flush(timeoutMs) : true;
}

export interface RequestFacts {
  requestId: string;
  method: string;
  /** The route's template (`/api/orders/:id`), never the raw path. */
  route: string;
  status: number;
  principal: { kind: 'user' | 'api_key'; id: string; orgId: string; role?: string } | null;
}

/** Request id → the event id of its captured error, for feedback sent about it (the last 1,000). */
const lastErrors = new Map<string, string>();

/** An unexpected error answering a request (a 5xx), with what request it was and who made it. */
export function captureRequestError(err: unknown, r: RequestFacts): string | null {
  if (!enabled) return null;
  const id = Sentry.withScope((scope) => {
    scope.setTag('request_id', r.requestId);
    scope.setTag('route', r.route);
    scope.setTag('http.method', r.method);
    scope.setTag('http.status_code', String(r.status));
    if (r.route.startsWith('/api/webhooks/')) scope.setTag('webhook.provider', r.route.split('/')[3] ?? '');
    if (r.principal) {
      scope.setUser({ id: r.principal.id });
      scope.setTag('org_id', r.principal.orgId);
      scope.setTag('principal', r.principal.kind);
      if (r.principal.role) scope.setTag('role', r.principal.role);
    }
    scope.setTransactionName(`${r.method} ${r.route}`);
    return Sentry.captureException(err);
  });
  lastErrors.set(r.requestId, id);
  if (lastErrors.size > 1000) lastErrors.delete(lastErrors.keys().next().value as string);
  return id;
}

/** Something that went wrong off any request: a job, a message that could not be delivered. */
export function captureProblem(
  what: string,
  err: unknown,
  tags: Record<string, string> = {},
  level: 'error' | 'warning' = 'error',
): void {
  if (!enabled) return;
  Sentry.withScope((scope) => {
    scope.setTags(tags);
    scope.setLevel(level);
    if (err instanceof Error) {
      scope.setExtra('what', what);
      Sentry.captureException(err);
    } else Sentry.captureMessage(what, level);
  });
}

/** A security event as a message at warning level, tagged by its kind. */
export function captureSecurityMessage(kind: string, summary: string, data: Record<string, unknown>): void {
  if (!enabled) return;
  Sentry.captureMessage(`security: ${summary}`, { level: 'warning', tags: { security: kind }, extra: data });
}

/**
 * User feedback, linked to the error its request caused when the request id is known (and that
 * error was captured by this process). Returns the feedback's event id, or null when Sentry is off.
 */
export function sendFeedback(f: {
  message: string;
  email?: string | null;
  name?: string | null;
  requestId?: string | null;
  tags?: Record<string, string>;
}): { id: string; linkedTo: string | null } | null {
  if (!enabled) return null;
  const linkedTo = f.requestId ? (lastErrors.get(f.requestId) ?? null) : null;
  const id = Sentry.captureFeedback(
    {
      message: scrubText(f.message),
      ...(f.email && sendPii ? { email: f.email } : {}),
      ...(f.name && sendPii ? { name: f.name } : {}),
      ...(linkedTo ? { associatedEventId: linkedTo } : {}),
    },
    { captureContext: { tags: { ...f.tags, ...(f.requestId ? { request_id: f.requestId } : {}) } } },
  );
  return { id, linkedTo };
}

/**
 * Runs a request inside a transaction named by its route (continuing the trace of the `sentry-trace`
 * and `baggage` headers it came with), when tracing is on; otherwise just runs it. `named` is read
 * when the request is done (the route is known only once it was matched).
 */
export function traceRequest(
  headers: { sentryTrace?: string; baggage?: string },
  method: string,
  named: () => { route: string; status: number },
  run: () => Promise<void>,
): Promise<void> {
  if (!tracing) return run();
  return Sentry.continueTrace({ sentryTrace: headers.sentryTrace, baggage: headers.baggage }, () =>
    Sentry.startSpan(
      {
        name: `${method} (unmatched)`,
        op: 'http.server',
        forceTransaction: true,
        attributes: { 'http.request.method': method },
      },
      async (span) => {
        try {
          await run();
        } finally {
          const { route, status } = named();
          span.updateName(`${method} ${route}`);
          span.setAttribute('http.route', route);
          span.setAttribute('http.response.status_code', status);
          if (status >= 500) span.setStatus({ code: 2, message: 'internal_error' });
        }
      },
    ),
  );
}

/** A span for work done (`op`: db, pdf.render, qr.render, …), when tracing is on. */
export async function traced<T>(op: string, name: string, run: () => Promise<T>): Promise<T> {
  if (!tracing) return run();
  return Sentry.startSpan({ op, name }, run);
}

/** A database statement that just ran (its time known after the fact), as a span of the request's. */
export function statementSpan(sqlText: string, durationMs: number, system: string): void {
  if (!tracing || !Sentry.getActiveSpan()) return;
  const end = Date.now();
  Sentry.startInactiveSpan({
    op: 'db',
    name: sqlText.length > 200 ? `${sqlText.slice(0, 200)}…` : sqlText,
    startTime: (end - durationMs) / 1000,
    attributes: { 'db.system': system },
  }).end(end / 1000);
}

/** A background unit of work (a message sent) as a transaction of its own, when tracing is on. */
export function backgroundTransaction<T>(name: string, op: string, run: () => Promise<T>): Promise<T> {
  if (!tracing) return run();
  return Sentry.startNewTrace(() => Sentry.startSpan({ name, op, forceTransaction: true }, run));
}

// ---------------------------------------------------------------------------------------------------
// Scrubbing
// ---------------------------------------------------------------------------------------------------

/** Keys whose values are secret wherever they appear (headers, bodies, extras, breadcrumbs). */
const SECRET_KEY =
  /pass(word)?|token|secret|api[-_]?key|authorization|cookie|signature|client_secret|^code$|^codes$|credentials|session|jwt/i;
/** Secrets recognisable in free text (messages, URLs, exception values). */
const SECRET_TEXT: [RegExp, string][] = [
  [/\bBearer\s+[\w.~+/=-]+/gi, 'Bearer [Filtered]'],
  [/\b(tk|pk|sk|rk)_(live_|test_)?[A-Za-z0-9_-]{8,}/g, '$1_[Filtered]'],
  [/\bwhsec_[A-Za-z0-9]+/g, 'whsec_[Filtered]'],
  [/\b(pi|seti|cs)_[A-Za-z0-9]+_secret_[A-Za-z0-9]+/g, '$1_[Filtered]'],
  [/\beyJ[\w-]+\.[\w-]+\.[\w-]+/g, '[Filtered JWT]'],
  [/([?&](?:token|key|code|password|secret|signature)=)[^&#\s]+/gi, '$1[Filtered]'],
];
export function scrubText(s: string): string {
  let out = s;
  for (const [pattern, replacement] of SECRET_TEXT) out = out.replace(pattern, replacement);
  // A ticket's signed code (base64url, ~100 characters): whoever holds it gets in.
  return out.replace(/\b[A-Za-z0-9_-]{80,}\b/g, '[Filtered code]');
}

export function scrubValue(v: unknown, depth = 0): unknown {
  if (depth > 8) return '[Filtered: too deep]';
  if (typeof v === 'string') return scrubText(v);
  if (Array.isArray(v)) return v.map((x) => scrubValue(x, depth + 1));
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v))
      out[k] = SECRET_KEY.test(k) ? '[Filtered]' : scrubValue(x, depth + 1);
    return out;
  }
  return v;
}

/** An event (error, message, transaction, feedback) with nothing secret left in it. */
export function scrub<E extends Sentry.Event>(event: E): E {
  const e = event as Sentry.Event;
  if (e.request) {
    // No request body leaves: a sign-in's holds a password, a purchase's a buyer's details, and a body
    // is never needed to find a bug its route, request id and stack don't show.
    delete e.request.data;
    delete e.request.cookies;
    e.request = scrubValue(e.request) as typeof e.request;
  }
  // Ids only (the user or key, set per request), unless e-mails may be sent.
  if (e.user) e.user = sendPii ? e.user : e.user.id === undefined ? {} : { id: e.user.id };
  if (e.message) e.message = scrubText(e.message);
  for (const ex of e.exception?.values ?? []) if (ex.value) ex.value = scrubText(ex.value);
  if (e.extra) e.extra = scrubValue(e.extra) as typeof e.extra;
  if (e.contexts) e.contexts = scrubValue(e.contexts) as typeof e.contexts;
  if (e.breadcrumbs) e.breadcrumbs = e.breadcrumbs.map((b) => scrubValue(b) as Sentry.Breadcrumb);
  if (e.spans) for (const s of e.spans) if (s.description) s.description = scrubText(s.description);
  return event;
}

/**
 * A crash of the `tickets` CLI (a bug: not an API error, not a usage error), sent once the user opted in
 * (`tickets config set telemetry on`). Its own client, on no global state, scrubbed like the server's
 * events; no host name. Returns the event id, or null when it could not be sent.
 */
export async function reportCrash(
  err: unknown,
  o: { dsn: string; release: string; tags?: Record<string, string> },
): Promise<string | null> {
  const client = new Sentry.NodeClient({
    dsn: o.dsn,
    release: o.release,
    environment: 'cli',
    serverName: 'cli',
    transport: Sentry.makeNodeTransport,
    stackParser: Sentry.defaultStackParser,
    integrations: [],
    sendDefaultPii: false,
    beforeSend: (event) => scrub(event),
    beforeBreadcrumb: (crumb) => scrubValue(crumb) as Sentry.Breadcrumb,
  });
  const scope = new Sentry.Scope();
  scope.setClient(client);
  client.init();
  scope.setTags(o.tags ?? {});
  const id = scope.captureException(err);
  const sent = await client.flush(3000);
  await client.close();
  return sent ? id : null;
}
