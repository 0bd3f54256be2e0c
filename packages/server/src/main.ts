import { type Config, ConfigError, loadConfig } from './config.js';
import { openDatabase, pendingMigrations } from './db/database.js';
import { runJobs } from './jobs/runner.js';
import { mediaJobs, paymentJobs, saleJobs, webhookJobs } from './jobs/sale.js';
import { createLogger } from './logging.js';
import { createMedia } from './modules/media/setup.js';
import { createWorker, describeTransports } from './modules/messaging/setup.js';
import { startProcessMetrics } from './observability/metrics.js';
import { serveMetrics } from './observability/metrics-route.js';
import { type RunningServer, saleServices, startSentry, startServer } from './server.js';

function configOrExit(env: NodeJS.ProcessEnv): Config {
  try {
    return loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

/**
 * Runs the background work without serving the API until SIGTERM/SIGINT (`tickets server worker`): the
 * message worker and the sale's jobs (see jobs/sale.ts). Start several against one Postgres, and set
 * TICKETS_WORKER=off on the API servers. The database must be migrated already.
 */
export async function runWorker(env: NodeJS.ProcessEnv = process.env): Promise<{ stop(): Promise<void> }> {
  const config = configOrExit(env);
  const log = await createLogger(config, 'tickets-worker');
  startProcessMetrics(config.metrics.instance);
  startSentry(config);
  const db = openDatabase(config.databaseUrl, { backgroundCheckpoints: true });
  const pending = await pendingMigrations(db);
  if (pending.length) {
    await db.close();
    process.stderr.write(
      `The database needs migrating first (tickets server migrate): ${pending.join(', ')}\n`,
    );
    process.exit(1);
  }
  // The media provider too: confirmations show the event's cover (banner, PDF, WhatsApp header).
  const { media } = await createMedia(db, config.media, log);
  const worker = createWorker(
    db,
    config.messaging,
    log,
    `http://${config.host}:${config.port}`,
    media,
    config.webhooks,
  );
  worker.start();
  // To try error reporting end to end: one rejection nothing handles (Sentry's handler reports it).
  if (env.TICKETS_DEBUG_UNHANDLED_REJECTION)
    void Promise.reject(new Error('an unhandled rejection on purpose (TICKETS_DEBUG_UNHANDLED_REJECTION)'));
  // The sale's background work too (holds, refunds, invoices, cancelled events), as every server runs it.
  const sale = saleServices(db, config);
  const jobs = runJobs(
    [
      ...saleJobs(db, sale, config),
      ...paymentJobs(db, sale.payments, config, log),
      ...mediaJobs(media),
      ...webhookJobs(db, config),
    ],
    log,
  );
  // Its own /metrics (it serves no API): on TICKETS_METRICS_PORT, with the same bearer token.
  const metrics = config.metrics.token
    ? await serveMetrics(db, config.metrics.token, config.host, config.metrics.workerPort)
    : null;
  log.info(
    { database: db.dialect, ...describeTransports(config.messaging), metrics: metrics?.url ?? 'off' },
    'tickets message worker running',
  );
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      metrics?.server.close();
      await jobs.stop();
      await worker.stop();
      await db.close();
    })();
    return stopping;
  };
  const onSignal = (signal: string) => {
    log.info({ signal }, 'worker stopping');
    stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  return { stop };
}

/**
 * Runs the server until SIGTERM/SIGINT: loads configuration from the environment (overridden by the
 * given values), prints where it listens, and shuts down gracefully.
 */
export async function runServer(env: NodeJS.ProcessEnv = process.env): Promise<RunningServer> {
  const config = configOrExit(env);
  const running = await startServer(config, { log: await createLogger(config, 'tickets') });
  process.stderr.write(
    `\ntickets API listening on ${running.url}  (${running.db.dialect}: ${config.databaseUrl.replace(/\/\/[^@]*@/, '//***@')})\n` +
      `Create an account:  tickets signup --api-url ${running.url}\n` +
      `Or sign in:         tickets login --api-url ${running.url}\n` +
      `API reference:      ${running.url}/api/openapi.json\n\n`,
  );
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    running.log.info({ signal }, 'shutting down');
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return running;
}

if (import.meta.url === `file://${process.argv[1]}`) await runServer();
