import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { openApiDocument, routes } from '@tickets/sdk';
import pino, { type Logger } from 'pino';
import type { Config } from './config.js';
import { type Db, exposedFiles, migrateToLatest, openDatabase, pendingMigrations } from './db/database.js';
import { App, Reply } from './http/app.js';
import { ApiError } from './http/errors.js';
import { idempotent } from './http/idempotency.js';
import { Ga4Client } from './integrations/ga4.js';
import { initSentry } from './integrations/sentry.js';
import { paymentProvider } from './integrations/stripe.js';
import { runJobs } from './jobs/runner.js';
import { mediaJobs, paymentJobs, saleJobs, webhookJobs } from './jobs/sale.js';
import { ApiKeys } from './modules/accounts/api-keys.js';
import { Auth } from './modules/accounts/auth.js';
import { Members } from './modules/accounts/members.js';
import { AllowedOrigins, originRoutes } from './modules/accounts/origins.js';
import { PasswordResets } from './modules/accounts/password-reset.js';
import { authorize } from './modules/accounts/permissions.js';
import { accountRoutes } from './modules/accounts/routes.js';
import { FacebookVerifier, GoogleVerifier } from './modules/accounts/social.js';
import { analyticsRoutes } from './modules/analytics/routes.js';
import { Analytics } from './modules/analytics/service.js';
import { auditRoutes } from './modules/audit/routes.js';
import { checkinRoutes } from './modules/checkin/routes.js';
import { Checkin } from './modules/checkin/service.js';
import { Cancellations } from './modules/events/cancellation.js';
import { eventRoutes } from './modules/events/routes.js';
import { Events } from './modules/events/service.js';
import { ga4Routes } from './modules/ga4/routes.js';
import { GoogleAnalytics } from './modules/ga4/settings.js';
import { invoiceRoutes } from './modules/invoices/routes.js';
import { Invoices } from './modules/invoices/service.js';
import { mediaRoutes } from './modules/media/routes.js';
import type { Media } from './modules/media/service.js';
import { createMedia, type MediaSetup } from './modules/media/setup.js';
import { Marketing } from './modules/messaging/marketing.js';
import { messageRoutes } from './modules/messaging/routes.js';
import { Messages } from './modules/messaging/service.js';
import { createWorker, describeTransports, sendgridMarketing } from './modules/messaging/setup.js';
import { Unsubscribes } from './modules/messaging/unsubscribe.js';
import type { MessageWorker } from './modules/messaging/worker.js';
import { Refunds } from './modules/orders/refunds.js';
import { orderRoutes } from './modules/orders/routes.js';
import { Orders } from './modules/orders/service.js';
import { Payouts } from './modules/payments/payouts.js';
import { Reconciliations } from './modules/payments/reconcile.js';
import { StripeWebhooks } from './modules/payments/webhooks.js';
import { rowCursors } from './modules/reports/cursor.js';
import { reportRoutes } from './modules/reports/routes.js';
import { Reports } from './modules/reports/service.js';
import { voucherRoutes } from './modules/vouchers/routes.js';
import { Vouchers } from './modules/vouchers/service.js';
import { WebhookSender } from './modules/webhooks/deliver.js';
import { WebhookEndpoints } from './modules/webhooks/endpoints.js';
import { webhookRoutes } from './modules/webhooks/routes.js';
import { startProcessMetrics } from './observability/metrics.js';
import { metricsRoute, oldestQueued } from './observability/metrics-route.js';
import { release, VERSION } from './observability/release.js';
import { countedWebhook } from './observability/webhooks.js';
import { configureRenderPool } from './render/pool.js';

export { VERSION };

export interface RunningServer {
  url: string;
  server: Server;
  app: App;
  db: Db;
  log: Logger;
  /** The in-process message worker, unless TICKETS_WORKER=off. */
  worker: MessageWorker | null;
  /** Media (its provider, its upkeep). */
  media: Media;
  /** Stops accepting, lets in-flight requests finish (up to the shutdown timeout), closes the database. */
  close(): Promise<void>;
}

/** The services the sale's routes and its background jobs share. */
export function saleServices(db: Db, config: Config) {
  const payments = paymentProvider(config);
  const orders = new Orders(db, payments);
  const refunds = new Refunds(db, orders, payments);
  const cancellations = new Cancellations(db, orders, refunds);
  return { payments, orders, refunds, cancellations };
}

type SaleServices = ReturnType<typeof saleServices>;

/** Builds the application on an open, migrated database. */
export async function buildApp(
  db: Db,
  config: Config,
  log: Logger,
): Promise<{ app: App; release: () => Promise<void>; media: MediaSetup } & SaleServices> {
  const auth = await Auth.create(db, config);
  const origins = new AllowedOrigins(db);
  const mediaSetup = await createMedia(db, config.media, log);
  const { media, local } = mediaSetup;
  const app = new App({
    log,
    bodyLimit: config.bodyLimit,
    bodyTimeoutMs: config.limits.bodyTimeoutMs,
    trustProxy: config.trustProxy,
    validateResponses: process.env.NODE_ENV === 'test',
    plain: config.metrics.token ? { '/metrics': metricsRoute(db, config.metrics.token) } : {},
    files: local ? { prefix: '/media/', serve: (req, res, path) => local.serve(req, res, path) } : undefined,
    hooks: {
      authenticate: (header) => auth.authenticate(header),
      authorize,
      cors: origins,
      idempotent: (scope, key, hash, run) => idempotent(db, scope, key, hash, run),
    },
  });

  app.handle(routes.health.live, async () => ({ status: 'ok' as const }));
  app.handle(routes.health.ready, async () => {
    let pending: string[];
    try {
      pending = await pendingMigrations(db);
    } catch {
      return new Reply(503, {
        status: 'not_ready',
        database: 'unreachable',
        migrations: { current: false, pending: [] },
      });
    }
    const ready = pending.length === 0;
    const oldest = ready ? await oldestQueued(db) : 0;
    const transports = describeTransports(config.messaging);
    return new Reply(ready ? 200 : 503, {
      status: ready ? 'ready' : 'not_ready',
      database: 'ok',
      migrations: { current: ready, pending },
      outbox: { oldest_queued_seconds: oldest },
      providers: {
        payments: config.stripe.secretKey ? 'stripe' : 'manual',
        // Names only: the local outbox's folder is this machine's business.
        email: transports.email.startsWith('local') ? 'local outbox' : transports.email,
        whatsapp: transports.whatsapp,
        errors: config.sentry.dsn ? 'sentry' : 'off',
        metrics: config.metrics.token ? 'on' : 'off',
      },
    });
  });
  app.handle(routes.health.openapi, async () => openApiDocument({ version: VERSION }));

  accountRoutes(app, {
    auth,
    members: new Members(db),
    passwordResets: new PasswordResets(db, (userId) => auth.endSessions(userId)),
    apiKeys: new ApiKeys(db),
    google: new GoogleVerifier(config.google),
    facebook: new FacebookVerifier(config.facebook),
  });
  originRoutes(app, origins);
  auditRoutes(app, db);
  invoiceRoutes(app, new Invoices(db), db);
  analyticsRoutes(app, new Analytics(db.kysely));
  const sale = saleServices(db, config);
  const { payments, orders, refunds, cancellations } = sale;
  eventRoutes(app, new Events(db), cancellations, media);
  mediaRoutes(app, media);
  ga4Routes(app, new GoogleAnalytics(db, new Ga4Client(config.messaging.ga4Url)));
  voucherRoutes(app, db, new Vouchers(db));
  const webhookEndpoints = new WebhookEndpoints(db, config.webhooks);
  webhookRoutes(
    app,
    webhookEndpoints,
    new WebhookSender(db, { allowPrivate: config.webhooks.allowPrivate, timeoutMs: 10_000 }),
  );
  orderRoutes(app, orders, refunds, {
    db,
    perMinute: config.storefrontPurchasesPerMinute,
    largeRefund: config.largeRefundThreshold,
  });
  const cursors = rowCursors(config.databaseUrl);
  reportRoutes(app, new Reports(db, cursors));
  checkinRoutes(app, new Checkin(db, orders.keys));
  messageRoutes(
    app,
    new Messages(db),
    new Marketing(db, sendgridMarketing(config.messaging)),
    // Only checks tokens here; the worker makes the links.
    new Unsubscribes(db, config.messaging.publicUrl ?? ''),
    db,
    config.messaging,
    log,
  );
  const reconciliations = new Reconciliations(db, payments);
  app.handle(routes.reconciliations.create, ({ principal, body }) => reconciliations.run(principal, body));
  app.handle(routes.reconciliations.get, ({ principal, params }) =>
    reconciliations.get(principal.orgId, params.id),
  );
  const payouts = new Payouts(db);
  app.handle(routes.payouts.list, ({ principal, query }) => payouts.list(principal.orgId, query));
  app.handle(routes.payouts.get, ({ principal, params }) => payouts.get(principal.orgId, params.id));
  const stripeWebhooks = payments && new StripeWebhooks(db, payments, orders, refunds, log);
  app.handle(routes.webhooks.stripe, async ({ rawBody, req, requestId, ip }) => {
    if (!stripeWebhooks)
      throw new ApiError(501, 'provider_not_configured', 'Stripe is not set up on this server.');
    const signature = req.headers['stripe-signature'];
    return countedWebhook(db.kysely, 'stripe', { requestId, ip }, () =>
      stripeWebhooks.receive(
        rawBody ?? Buffer.alloc(0),
        typeof signature === 'string' ? signature : undefined,
      ),
    );
  });
  return { app, release: () => cursors.close(), media: mediaSetup, ...sale };
}

/** Sentry for this process, when SENTRY_DSN is set (the server's and the worker's). */
export function startSentry(config: Config): void {
  initSentry({
    dsn: config.sentry.dsn,
    environment: config.sentry.environment,
    tracesSampleRate: config.sentry.tracesSampleRate,
    sendPii: config.sentry.sendPii,
    release: release(),
    serverName: config.metrics.instance,
  });
}

/** Opens the database, applies migrations, and listens. */
export async function startServer(config: Config, options: { log?: Logger } = {}): Promise<RunningServer> {
  const log = options.log ?? pino({ level: config.logLevel, base: { service: 'tickets' } });
  startProcessMetrics(config.metrics.instance);
  startSentry(config);
  configureRenderPool({ threads: config.renderThreads });
  const db = openDatabase(config.databaseUrl, { backgroundCheckpoints: true });
  const exposed = exposedFiles(config.databaseUrl);
  if (exposed.length)
    log.warn(
      { files: exposed },
      'the database holds the signing secret and event keys, but others on this machine may read it: chmod 700 the folder and 600 the file',
    );
  try {
    const applied = await migrateToLatest(db);
    if (applied.length) log.info({ applied }, 'migrations applied');
  } catch (err) {
    await db.close();
    throw err;
  }
  const { app, release, media, ...sale } = await buildApp(db, config, log);
  const server = createServer(
    {
      keepAliveTimeout: 5000,
      // Slowloris: a request whose headers have not all arrived in time is answered 408 and closed
      // (node checks every connectionsCheckingInterval). The body has its own deadline (readBody).
      headersTimeout: config.limits.headersTimeoutMs,
      requestTimeout: config.limits.headersTimeoutMs + config.limits.bodyTimeoutMs,
      connectionsCheckingInterval: Math.min(1000, config.limits.headersTimeoutMs),
    },
    app.listener,
  );
  limitConnectionsPerAddress(server, config.limits.connectionsPerIp, log);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => resolve());
    });
  } catch (err) {
    // Nothing may keep the process alive (the database's checkpoint thread) doing nothing.
    await db.close();
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE')
      throw new Error(
        `port ${config.port} on ${config.host} is already in use (another tickets server?); choose another with --port or PORT`,
        { cause: err },
      );
    if (code === 'EACCES')
      throw new Error(
        `not allowed to listen on port ${config.port}; choose one above 1023 with --port or PORT`,
        {
          cause: err,
        },
      );
    throw err;
  }
  const { port } = server.address() as AddressInfo;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
  media.listening(url);
  log.info(
    {
      url,
      database: db.dialect,
      providers: {
        payments: config.stripe.secretKey ? 'stripe' : 'manual (box office)',
        ...describeTransports(config.messaging),
      },
    },
    'tickets server listening',
  );

  const jobs = runJobs(
    [
      ...saleJobs(db, sale, config),
      ...paymentJobs(db, sale.payments, config, log),
      ...mediaJobs(media.media),
      ...webhookJobs(db, config),
    ],
    log,
  );
  const worker = config.messaging.inProcessWorker
    ? createWorker(db, config.messaging, log, url, media.media, config.webhooks)
    : null;
  worker?.start();

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      const drained = new Promise<void>((resolve) => server.close(() => resolve()));
      // Keep-alive connections become idle as their last response ends; close them as they do, so
      // the drain takes as long as the slowest request rather than the keep-alive timeout.
      const sweep = setInterval(() => server.closeIdleConnections(), 50);
      server.closeIdleConnections();
      const timeout = new Promise<void>((resolve) => setTimeout(resolve, config.shutdownTimeoutMs).unref());
      await Promise.race([drained, timeout]);
      clearInterval(sweep);
      server.closeAllConnections();
      await jobs.stop();
      await worker?.stop();
      await release();
      await db.close();
      log.info('tickets server stopped');
    })();
    return closing;
  };
  return { url, server, app, db, log, worker, media: media.media, close };
}

/**
 * At most `max` open connections per client address: the next is answered 429 and closed at once, so
 * one client cannot hold every socket the process can open. (Behind a proxy every connection comes from
 * the proxy: give this room for all of them, and limit per client at the proxy; deploy/nginx.conf does.)
 */
function limitConnectionsPerAddress(server: Server, max: number, log: Logger): void {
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? 'unknown';
    const count = (open.get(address) ?? 0) + 1;
    if (count > max) {
      log.warn({ address, open: max }, 'connection refused: too many open from one address');
      socket.end(
        'HTTP/1.1 429 Too Many Requests\r\nconnection: close\r\ncontent-type: application/problem+json\r\n' +
          `content-length: ${TOO_MANY.length}\r\nretry-after: 1\r\n\r\n${TOO_MANY}`,
      );
      socket.destroySoon();
      return;
    }
    open.set(address, count);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left <= 0) open.delete(address);
      else open.set(address, left);
    });
  });
}

const TOO_MANY = JSON.stringify({
  type: 'about:blank',
  title: 'Too Many Requests',
  status: 429,
  code: 'too_many_connections',
  detail: 'Too many open connections from your address; close some and try again.',
});
