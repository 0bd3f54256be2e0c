import { hostname } from 'node:os';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { statementSpan } from '../integrations/sentry.js';

/**
 * Prometheus metrics (prom-client), one registry per process: every process (server or worker) serves
 * its own `/metrics`, labelled `instance` (TICKETS_INSTANCE, else host and pid), and Prometheus adds them
 * up. Counters are incremented where the thing happens (the sale, the door, the outbox); gauges that
 * describe the database (the outbox's depth) are read when scraped. The names are the contract of
 * deploy/prometheus/alerts.yml and deploy/grafana/tickets.json (a test checks every name they use is
 * one of these).
 */
export const registry = new Registry();

let instance: string | null = null;

/** Labels this process's series and starts the default process metrics (once; later calls keep it). */
export function startProcessMetrics(name = process.env.TICKETS_INSTANCE): string {
  if (instance) return instance;
  instance = name || `${hostname()}:${process.pid}`;
  registry.setDefaultLabels({ instance });
  // CPU, memory, handles, GC, and the event loop's lag (nodejs_eventloop_lag_*).
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 20 });
  return instance;
}

const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export const httpRequests = new Counter({
  name: 'tickets_http_requests_total',
  help: 'HTTP requests answered, by route template, method and status.',
  labelNames: ['route', 'method', 'status'] as const,
  registers: [registry],
});

export const httpDuration = new Histogram({
  name: 'tickets_http_request_duration_seconds',
  help: 'Time from a request arriving to its answer being written, by route template, method and status class.',
  labelNames: ['route', 'method', 'status'] as const,
  buckets: SECONDS,
  registers: [registry],
});

export const dbStatementDuration = new Histogram({
  name: 'tickets_db_statement_duration_seconds',
  help: 'Database statement time, by kind of statement (select, insert, update, delete, other).',
  labelNames: ['statement'] as const,
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
  registers: [registry],
});

export const ticketsSold = new Counter({
  name: 'tickets_tickets_sold_total',
  help: 'Tickets sold (paid), by channel: online, box_office, free.',
  labelNames: ['channel'] as const,
  registers: [registry],
});

export const ordersPlaced = new Counter({
  name: 'tickets_orders_total',
  help: 'Orders placed, by payment method and what became of them at once (paid, pending).',
  labelNames: ['payment_method', 'status'] as const,
  registers: [registry],
});

export const refundsMade = new Counter({
  name: 'tickets_refunds_total',
  help: 'Refunds recorded, by provider (manual, stripe) and status (succeeded, pending, failed).',
  labelNames: ['provider', 'status'] as const,
  registers: [registry],
});

export const validations = new Counter({
  name: 'tickets_validations_total',
  help: 'Online ticket validations at the door, by result (admitted, already_used, exited, …).',
  labelNames: ['result'] as const,
  registers: [registry],
});

export const offlineScans = new Counter({
  name: 'tickets_offline_scans_uploaded_total',
  help: 'Scans uploaded by doors that worked offline.',
  registers: [registry],
});

export const offlineConflicts = new Counter({
  name: 'tickets_offline_scan_conflicts_total',
  help: 'Uploaded offline scans that conflicted with another admission of the same ticket.',
  registers: [registry],
});

export const outboxMessages = new Gauge({
  name: 'tickets_outbox_messages',
  help: 'Messages in the outbox, by channel and status (read from the database when scraped).',
  labelNames: ['channel', 'status'] as const,
  registers: [registry],
});

export const outboxOldestQueued = new Gauge({
  name: 'tickets_outbox_oldest_queued_seconds',
  help: 'Age of the oldest message due and still queued (0 when none): a stuck worker shows here.',
  registers: [registry],
});

export const messageSends = new Counter({
  name: 'tickets_message_sends_total',
  help: 'Attempts to send a message, by provider and outcome (sent, retry, dead, suppressed).',
  labelNames: ['provider', 'outcome'] as const,
  registers: [registry],
});

export const webhooksReceived = new Counter({
  name: 'tickets_webhooks_received_total',
  help: 'Provider webhooks received, by provider (stripe, sendgrid, whatsapp).',
  labelNames: ['provider'] as const,
  registers: [registry],
});

export const webhooksRejected = new Counter({
  name: 'tickets_webhooks_rejected_total',
  help: 'Provider webhooks refused or not applied, by provider and reason (bad_signature, failed).',
  labelNames: ['provider', 'reason'] as const,
  registers: [registry],
});

export const loginFailures = new Counter({
  name: 'tickets_login_failures_total',
  help: 'Failed sign-ins (wrong password or unknown account).',
  registers: [registry],
});

export const loginLockouts = new Counter({
  name: 'tickets_login_lockouts_total',
  help: 'Sign-ins refused because the account or address was locked out after failures.',
  registers: [registry],
});

export const securityEvents = new Counter({
  name: 'tickets_security_events_total',
  help: 'Security events raised: login_burst, refresh_token_reuse, webhook_bad_signature, large_refund.',
  labelNames: ['kind'] as const,
  registers: [registry],
});

/** Every metric name this process can serve (the deploy files' test checks theirs against it). */
export async function metricNames(): Promise<string[]> {
  const names = new Set<string>();
  for (const m of await registry.getMetricsAsJSON()) {
    names.add(m.name);
    if (String(m.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s);
  }
  return [...names].sort();
}

/** Times every statement Kysely runs (its `log` option) into the statement-time histogram. */
export function observeStatement(
  event: { query: { sql: string; query: { kind: string } }; queryDurationMillis: number },
  system: 'sqlite' | 'postgresql',
) {
  statementSpan(event.query.sql, event.queryDurationMillis, system);
  const kind = event.query.query.kind;
  // Raw SQL (the sale's one-statement writes, the analytics) by its first word.
  const statement =
    kind === 'RawNode' ? (/^\s*(\w+)/.exec(event.query.sql)?.[1]?.toLowerCase() ?? 'other') : KINDS[kind];
  dbStatementDuration.observe(
    { statement: statement && STATEMENTS.has(statement) ? statement : 'other' },
    event.queryDurationMillis / 1000,
  );
}

const STATEMENTS = new Set(['select', 'insert', 'update', 'delete', 'with']);

const KINDS: Record<string, string> = {
  SelectQueryNode: 'select',
  InsertQueryNode: 'insert',
  UpdateQueryNode: 'update',
  DeleteQueryNode: 'delete',
};

/** The sales channel of a payment method, as the analytics name it. */
export function channelOf(method: string): 'online' | 'box_office' | 'free' {
  return method === 'stripe' ? 'online' : method === 'free' ? 'free' : 'box_office';
}
