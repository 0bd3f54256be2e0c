import { type Kysely, sql, type Updateable } from 'kysely';
import type { Logger } from 'pino';
import { type Db, groupedWrites } from '../../db/database.js';
import type { Database, MessageStatus, OutboxTable } from '../../db/schema.js';
import { byDialect, storeOf } from '../../db/store.js';
import { newId } from '../../ids.js';
import { backgroundTransaction, captureProblem } from '../../integrations/sentry.js';
import { messageSends } from '../../observability/metrics.js';
import { nowIso } from '../../time.js';
import { recordAudit } from '../audit/log.js';
import type { Ga4Sender } from '../ga4/settings.js';
import { WEBHOOK_GIVE_UP_MS, type WebhookSender, webhookBackoffMs } from '../webhooks/deliver.js';
import { forgetEndpoints } from '../webhooks/queue.js';
import type { Marketing } from './marketing.js';
import { onQueued, queueDueReminders, queuedChannel, queueMessages } from './outbox.js';
import type { OutboxRow, Renderer } from './render.js';
import { DeliveryError, type EmailTransport, type WhatsAppTransport } from './transport.js';

export interface WorkerOptions {
  /** Messages sent at the same time (providers answer in tens of milliseconds; this keeps them busy). */
  concurrency: number;
  /** How often to look for due messages when nothing woke the worker. */
  pollMs: number;
  maxAttempts: number;
  /** First retry after about this long; each later one waits twice as long (with full jitter), up to an hour. */
  retryBaseMs: number;
  /** A claimed message another worker may take over after this long (its worker died mid-send). */
  leaseMs: number;
  sendTimeoutMs: number;
  /** Event reminders are queued this many hours before the start (0: none). */
  reminderHours: number;
}

const MAX_BACKOFF_MS = 3600_000;

/** The outbox channels this worker sends (a polled webhook waits for its listener instead). */
const SENT_HERE = ['email', 'whatsapp', 'webhook', 'ga4'] as const;

/** Exponential backoff with full jitter (AWS architecture blog): spreads retries of a provider outage out. */
export function backoffMs(attempt: number, baseMs: number, random = Math.random): number {
  const ceiling = Math.min(MAX_BACKOFF_MS, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * Delivers the outbox. Any number of workers may run against one Postgres: each claims due rows with
 * `FOR UPDATE SKIP LOCKED` and marks them `sending` with a lease, so a row goes to one worker at a time and a
 * worker that dies mid-batch only delays its rows until the lease ends. On SQLite run one worker (the server's).
 *
 * Delivery is at least once: a worker killed after the provider accepted a message but before it recorded that
 * will send it again when the lease ends. Neither SendGrid nor the WhatsApp API takes an idempotency key, so this
 * window (one send's duration) is the least the providers allow; failures, timeouts of unanswered requests and
 * restarts otherwise never duplicate a message.
 */
export class MessageWorker {
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private pending = false;
  private unsubscribe: (() => void) | undefined;
  private stopListening: Promise<() => Promise<void>> | undefined;
  private remindersCheckedAt = 0;

  constructor(
    private readonly db: Db,
    private readonly deps: {
      renderer: Renderer;
      marketing: Marketing;
      email: EmailTransport;
      whatsapp: WhatsAppTransport;
      log: Logger;
      /** Organizers' webhook endpoints (outbox rows of channel `webhook`). */
      webhooks?: WebhookSender;
      /** Organizations' Google Analytics streams (channel `ga4`). */
      ga4?: Ga4Sender;
    },
    private readonly options: WorkerOptions,
  ) {}

  private get k() {
    return this.db.kysely;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.unsubscribe = onQueued(() => this.kick());
    // Other processes' messages (Postgres): woken by their NOTIFY rather than the next poll.
    this.stopListening =
      this.db
        .listen?.(queuedChannel(this.db), () => this.kick())
        .catch((err: unknown) => {
          this.deps.log.warn({ err }, 'message worker: cannot listen for new messages; polling only');
          return async () => {};
        }) ?? Promise.resolve(async () => {});
    this.loop = this.run();
  }

  /** Look for work now rather than at the next poll. */
  kick(): void {
    this.pending = true;
    this.wake?.();
  }

  /** Finishes the messages being sent (their sends are aborted after the send timeout), then stops. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.unsubscribe?.();
    this.wake?.();
    await this.loop;
    await (await this.stopListening)?.();
  }

  private async run(): Promise<void> {
    while (this.running) {
      let handled = 0;
      try {
        handled = await this.runOnce();
      } catch (err) {
        this.deps.log.error({ err }, 'message worker: claiming failed');
      }
      if (!this.running) break;
      if (handled > 0 || this.pending) {
        this.pending = false;
        continue;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.options.pollMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  /** Claims one batch of due messages and delivers it; the number handled (0: nothing due). */
  async runOnce(): Promise<number> {
    if (Date.now() - this.remindersCheckedAt >= this.options.pollMs) {
      this.remindersCheckedAt = Date.now();
      // Each on its own: a reminder or campaign that cannot be queued must not stop delivery of the rest.
      try {
        const reminders = await queueDueReminders(this.k, this.options.reminderHours);
        if (reminders) this.deps.log.info({ reminders }, 'event reminders queued');
      } catch (err) {
        this.deps.log.error({ err }, 'message worker: queueing reminders failed');
      }
      try {
        const campaigns = await this.deps.marketing.sendDue();
        if (campaigns) this.deps.log.info({ campaigns }, 'scheduled campaigns queued');
      } catch (err) {
        this.deps.log.error({ err }, 'message worker: queueing scheduled campaigns failed');
      }
    }
    await this.buryAbandoned();
    const rows = await this.claim(this.options.concurrency * 2);
    if (!rows.length) return 0;
    let next = 0;
    const lanes = Array.from({ length: Math.min(this.options.concurrency, rows.length) }, async () => {
      while (next < rows.length) {
        const row = rows[next++] as OutboxRow;
        await this.deliver(row).catch((err: unknown) =>
          this.deps.log.error({ err, message: row.id }, 'message worker: recording a result failed'),
        );
      }
    });
    await Promise.all(lanes);
    return rows.length;
  }

  /**
   * A message whose worker died while sending it on its last attempt is dead, not taken over again: a message that
   * crashes every worker that renders it must not do so forever.
   */
  private async buryAbandoned(): Promise<void> {
    const now = nowIso();
    await this.k
      .updateTable('outbox')
      .set({
        status: 'dead',
        lease_until: null,
        updated_at: now,
        last_error: `the worker sending it stopped on each of its ${this.options.maxAttempts} attempts`,
      })
      .where('status', '=', 'sending')
      .where('lease_until', '<', now)
      .where('attempts', '>=', this.options.maxAttempts)
      // What this worker sends (a polled webhook's lease is its listener's: see WebhookEndpoints.poll).
      .where('channel', 'in', SENT_HERE)
      // Webhooks are tried for days, not a number of times: theirs is buried only once that is over.
      .where((eb) => eb.or([eb('channel', '<>', 'webhook'), eb('created_at', '<', webhookGiveUpBefore())]))
      .execute();
  }

  /** Due messages, and messages whose worker's lease ran out, marked as this worker's. */
  private async claim(limit: number): Promise<OutboxRow[]> {
    const now = nowIso();
    const leaseUntil = new Date(Date.now() + this.options.leaseMs).toISOString();
    const due = this.k
      .selectFrom('outbox')
      .select('id')
      .where('channel', 'in', SENT_HERE)
      .where((eb) =>
        eb.or([
          eb.and([eb('status', '=', 'queued'), eb('available_at', '<=', now)]),
          // A lapsed lease is taken over only with attempts left: one out of them is buried instead
          // (buryAbandoned), even when it lapses between that statement and this one.
          eb.and([
            eb('status', '=', 'sending'),
            eb('lease_until', '<', now),
            eb.or([
              eb('attempts', '<', this.options.maxAttempts),
              eb.and([eb('channel', '=', 'webhook'), eb('created_at', '>=', webhookGiveUpBefore())]),
            ]),
          ]),
        ]),
      )
      .orderBy('available_at')
      .limit(limit)
      .$call((q) => storeOf(this.db).forClaim(q));
    return this.k
      .updateTable('outbox')
      .set((eb) => ({
        status: 'sending',
        lease_until: leaseUntil,
        attempts: eb('attempts', '+', 1),
        updated_at: now,
      }))
      .where('id', 'in', due)
      .returningAll()
      .execute();
  }

  /**
   * Whether this worker still holds the row, renewing its lease when half of it is gone. A batch is
   * claimed at once but sent a few rows at a time, and drawing waits its turn on the render threads:
   * without renewal, a row still waiting here could outlive its lease, be claimed by another worker, and
   * go out twice. Conditional on the claim (`attempts`), so a row another worker has taken is left to it.
   */
  private async stillMine(row: OutboxRow): Promise<boolean> {
    const left = Date.parse(row.lease_until ?? '') - Date.now();
    if (left > this.options.leaseMs / 2) return true;
    return this.renewLease(row);
  }

  /** Extends this worker's lease on the row by a whole lease; false when another worker has taken it. */
  private async renewLease(row: OutboxRow): Promise<boolean> {
    const leaseUntil = new Date(Date.now() + this.options.leaseMs).toISOString();
    const renewed = await this.k
      .updateTable('outbox')
      .set({ lease_until: leaseUntil })
      .where('id', '=', row.id)
      .where('status', '=', 'sending')
      .where('attempts', '=', row.attempts)
      .executeTakeFirst();
    if (Number(renewed.numUpdatedRows) !== 1) return false;
    row.lease_until = leaseUntil;
    return true;
  }

  private deliver(row: OutboxRow): Promise<void> {
    // Each send is a transaction of its own in Sentry's tracing (when on): the work off any request.
    return backgroundTransaction(`send ${row.kind}`, 'queue.process', () => this.deliverNow(row));
  }

  private async deliverNow(row: OutboxRow): Promise<void> {
    if (!(await this.stillMine(row))) return;
    if (row.channel === 'webhook') return this.deliverWebhook(row);
    if (row.channel === 'ga4') return this.deliverGa4(row);
    const suppressed = await this.suppressed(row);
    if (suppressed) return this.finish(row, 'suppressed', { detail: suppressed });
    let rendered: Awaited<ReturnType<Renderer['render']>>;
    try {
      rendered = await this.deps.renderer.render(row);
    } catch (err) {
      // The database may have hiccupped (rendering reads it): retried like a provider failure, and dead after the
      // last attempt, kept to look at.
      this.deps.log.error({ err, message: row.id }, 'message worker: rendering failed');
      return this.failed(
        row,
        new DeliveryError(`rendering failed: ${(err as Error).message}`, true, { cause: err }),
      );
    }
    if ('cancel' in rendered) return this.finish(row, 'cancelled', { detail: rendered.cancel });
    if ('defer' in rendered) return this.defer(row, rendered.defer);
    if (!(await this.stillMine(row))) return;

    const transport = rendered.channel === 'email' ? this.deps.email : this.deps.whatsapp;
    try {
      const result = await this.sending(row, (signal) =>
        rendered.channel === 'email'
          ? this.deps.email.send(rendered.email, signal)
          : this.deps.whatsapp.send(rendered.whatsapp, signal),
      );
      const subject = rendered.channel === 'email' ? rendered.email.subject : rendered.whatsapp.template.name;
      await this.finish(row, 'sent', {
        provider: transport.name,
        providerMessageId: result.providerMessageId,
        subject,
      });
    } catch (err) {
      await this.failed(row, err as DeliveryError, transport.name);
    }
  }

  /**
   * Runs a send under the send timeout, keeping the row's lease alive while it is in flight (a third of
   * it at a time): a send longer than what was left of the lease — 700 ms with 510 ms left of a 1 s
   * lease — let another worker take the row over mid-send and send it again. A worker that dies stops
   * renewing, and its row is taken over when the lease ends, as before. Failures come out as DeliveryErrors.
   */
  private async sending<T>(row: OutboxRow, send: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.options.sendTimeoutMs);
    const heartbeat = setInterval(
      () => void this.renewLease(row).catch(() => {}),
      Math.max(50, Math.floor(this.options.leaseMs / 3)),
    );
    try {
      return await send(controller.signal);
    } catch (err) {
      throw err instanceof DeliveryError
        ? err
        : controller.signal.aborted
          ? new DeliveryError(`timed out after ${this.options.sendTimeoutMs} ms`, true)
          : new DeliveryError((err as Error).message ?? String(err), true, { cause: err });
    } finally {
      clearTimeout(timer);
      clearInterval(heartbeat);
    }
  }

  /** A delivery to an organizer's webhook endpoint: its answer's status and time go on the history. */
  private async deliverWebhook(row: OutboxRow): Promise<void> {
    const sender = this.deps.webhooks;
    if (!sender) return this.finish(row, 'cancelled', { detail: 'this worker does not deliver webhooks' });
    try {
      const out = await this.sending(row, (signal) => sender.send(row, signal));
      if ('cancel' in out) return this.finish(row, 'cancelled', { detail: out.cancel });
      await this.finish(row, 'sent', {
        provider: sender.name,
        detail: `answered ${out.status} in ${out.durationMs} ms`,
        responseCode: out.status,
        durationMs: out.durationMs,
      });
    } catch (err) {
      await this.failed(row, err as DeliveryError, sender.name);
    }
  }

  /** An event for the organization's Google Analytics stream. */
  private async deliverGa4(row: OutboxRow): Promise<void> {
    const sender = this.deps.ga4;
    if (!sender)
      return this.finish(row, 'cancelled', { detail: 'this worker does not send to Google Analytics' });
    try {
      const out = await this.sending(row, (signal) => sender.send(row, signal));
      if ('cancel' in out) return this.finish(row, 'cancelled', { detail: out.cancel });
      await this.finish(row, 'sent', { provider: sender.name, responseCode: out.status });
    } catch (err) {
      await this.failed(row, err as DeliveryError, sender.name);
    }
  }

  /**
   * Not yet (a refund the provider has not confirmed): due again later without using up an attempt — for up to
   * three days after it was queued, when waiting any longer would tell the buyer something stale.
   */
  private async defer(row: OutboxRow, why: string): Promise<void> {
    if (Date.now() - Date.parse(row.created_at) > 3 * 24 * 3600_000)
      return this.finish(row, 'dead', { detail: `gave up waiting: ${why}` });
    const wait = backoffMs(Math.min(row.attempts, 6), this.options.retryBaseMs);
    await this.finish(row, 'queued', {
      detail: why,
      retryAt: new Date(Date.now() + wait).toISOString(),
      keepAttempt: true,
    });
  }

  /** A failed attempt; `provider`: the transport that failed it (none when rendering did). */
  private async failed(row: OutboxRow, err: DeliveryError, provider?: string): Promise<void> {
    const detail = err.options.status ? `${err.options.status}: ${err.message}` : err.message;
    const outcome = { responseCode: err.options.status ?? null, durationMs: err.options.durationMs ?? null };
    if (!err.retryable) return this.finish(row, 'failed', { detail, provider, ...outcome });
    // Webhooks are tried for three days (endpoints go down for a deploy, a weekend); messages for their
    // number of attempts.
    const webhook = row.channel === 'webhook';
    const spent = webhook
      ? Date.now() - Date.parse(triedSince(row)) >= WEBHOOK_GIVE_UP_MS
      : row.attempts >= this.options.maxAttempts;
    if (spent) {
      await this.finish(row, 'dead', {
        detail: `gave up after ${row.attempts} attempts; last: ${detail}`,
        provider,
        ...outcome,
      });
      if (webhook) await disableFailingEndpoint(this.k, row, detail, this.deps.log);
      return;
    }
    const wait = Math.max(
      err.options.retryAfterMs ?? 0,
      webhook
        ? webhookBackoffMs(row.attempts, this.options.retryBaseMs)
        : backoffMs(row.attempts, this.options.retryBaseMs),
    );
    this.deps.log.warn(
      { message: row.id, attempt: row.attempts, wait, err: detail },
      'message delivery will be retried',
    );
    await this.finish(row, 'queued', {
      detail,
      provider,
      retryAt: new Date(Date.now() + wait).toISOString(),
      ...outcome,
    });
  }

  /** Records an attempt's outcome, if this worker still holds the message (its lease was not taken over). */
  private async finish(
    row: OutboxRow,
    status: MessageStatus,
    r: {
      detail?: string;
      provider?: string;
      providerMessageId?: string | null;
      subject?: string;
      retryAt?: string;
      /** This attempt does not count (a deferral). */
      keepAttempt?: boolean;
      /** What the attempt got back: an HTTP status, and how long it took. */
      responseCode?: number | null;
      durationMs?: number | null;
    },
  ): Promise<void> {
    const now = nowIso();
    const provider = r.provider ?? row.provider ?? row.channel ?? 'none';
    messageSends.inc({ provider, outcome: status === 'queued' ? 'retry' : status });
    // Given up on after its last attempt: someone must look (deploy/sentry alerts on this message).
    if (status === 'dead')
      captureProblem('message dead-lettered', null, {
        'message.kind': row.kind,
        'message.channel': row.channel ?? 'none',
        'message.id': row.id,
        provider,
      });
    const changes = {
      status,
      lease_until: null,
      updated_at: now,
      ...(r.retryAt ? { available_at: r.retryAt } : {}),
      ...(r.keepAttempt ? { attempts: row.attempts - 1 } : {}),
      ...(status === 'sent'
        ? {
            sent_at: now,
            provider: r.provider ?? null,
            provider_message_id: r.providerMessageId ?? null,
            subject: r.subject ?? null,
            last_error: null,
          }
        : { last_error: r.detail ?? null }),
    };
    const event = {
      id: newId('messageEvent'),
      status: status === 'queued' ? 'retrying' : status,
      detail:
        r.detail ?? (r.providerMessageId ? `${r.provider} ${r.providerMessageId}` : (r.provider ?? null)),
      at: now,
      response_code: r.responseCode ?? null,
      duration_ms: r.durationMs ?? null,
    };
    // Conditional on this worker still holding the message: one whose lease ran out belongs to another now.
    await byDialect(this.db, { postgres: finishInOneStatement, sqlite: finishGrouped })(
      this.db,
      row,
      changes,
      event,
    );
  }

  /** Why this message must not be sent, or null. Transactional e-mail still goes unless the address hard-bounced. */
  private async suppressed(row: OutboxRow): Promise<string | null> {
    const s = await this.k
      .selectFrom('suppressions')
      .select(['reason', 'hard'])
      .where('org_id', '=', row.org_id)
      .where('channel', '=', row.channel as 'email' | 'whatsapp')
      .where('address', '=', row.recipient as string)
      .executeTakeFirst();
    if (!s) return null;
    if ((JSON.parse(row.payload) as { override_suppression?: boolean }).override_suppression) return null;
    const marketing = row.kind === 'campaign';
    if (row.channel === 'whatsapp' || marketing || s.hard)
      return `${row.recipient} is suppressed (${s.reason})`;
    return null;
  }
}

/** Webhook deliveries created before this have had their three days (buried when abandoned). */
function webhookGiveUpBefore(): string {
  return new Date(Date.now() - WEBHOOK_GIVE_UP_MS).toISOString();
}

/** Since when a webhook delivery has been tried: its creation, or the organizer's last manual retry. */
function triedSince(row: Pick<OutboxRow, 'payload' | 'created_at'>): string {
  return (JSON.parse(row.payload) as { retried_at?: string }).retried_at ?? row.created_at;
}

type Changes = Updateable<OutboxTable>;
type HistoryRow = {
  id: string;
  status: string;
  detail: string | null;
  at: string;
  response_code: number | null;
  duration_ms: number | null;
};

/** Postgres: one statement (no BEGIN/COMMIT round trips); the history row is written only if the update matched. */
async function finishInOneStatement(db: Db, row: OutboxRow, changes: Changes, event: HistoryRow) {
  await db.kysely
    .with('u', (db) =>
      db
        .updateTable('outbox')
        .set(changes)
        .where('id', '=', row.id)
        .where('status', '=', 'sending')
        .where('attempts', '=', row.attempts)
        .returning('id'),
    )
    .insertInto('message_events')
    .columns([
      'id',
      'message_id',
      'status',
      'detail',
      'provider_event_id',
      'at',
      'response_code',
      'duration_ms',
    ])
    .expression((eb) =>
      eb
        .selectFrom('u')
        .select([
          sql.val(event.id).as('id'),
          'u.id as message_id',
          sql.val(event.status).as('status'),
          sql.val(event.detail).as('detail'),
          sql.val<string | null>(null).as('provider_event_id'),
          sql.val(event.at).as('at'),
          sql.val(event.response_code).as('response_code'),
          sql.val(event.duration_ms).as('duration_ms'),
        ]),
    )
    .execute();
}

/**
 * SQLite (no writable CTEs): the update, then the history row if it matched, as one unit of the grouped
 * writes: the outcomes of the worker's sends of the moment (and the sales of the moment) share one commit.
 */
async function finishGrouped(db: Db, row: OutboxRow, changes: Changes, event: HistoryRow) {
  await groupedWrites(db)(async (trx) => {
    const updated = await trx
      .updateTable('outbox')
      .set(changes)
      .where('id', '=', row.id)
      .where('status', '=', 'sending')
      .where('attempts', '=', row.attempts)
      .executeTakeFirst();
    if (!updated.numUpdatedRows) return;
    await trx
      .insertInto('message_events')
      .values({ ...event, message_id: row.id, provider_event_id: null })
      .execute();
  });
}

/**
 * An endpoint whose delivery failed for three days is disabled (its later deliveries are cancelled as
 * they come up); the audit log says so, and an organizer enables it again with PUT … { status: enabled }.
 */
async function disableFailingEndpoint(
  k: Kysely<Database>,
  row: OutboxRow,
  lastError: string,
  log: Logger,
): Promise<void> {
  const reason = `deliveries failed for 3 days (last: ${lastError})`;
  const changed = await k
    .updateTable('webhook_endpoints')
    .set({ status: 'disabled', disabled_reason: reason, updated_at: nowIso() })
    .where('id', '=', row.recipient ?? '')
    .where('status', '=', 'enabled')
    .executeTakeFirst();
  if (Number(changed.numUpdatedRows) === 0) return;
  forgetEndpoints(row.org_id);
  log.warn(
    { endpoint: row.recipient, org: row.org_id },
    'webhook endpoint disabled: deliveries failed for 3 days',
  );
  captureProblem('webhook endpoint disabled', null, {
    'endpoint.id': row.recipient ?? '',
    'org.id': row.org_id,
  });
  // The owners are told (by e-mail, through this outbox).
  const [endpoint, owners] = await Promise.all([
    k
      .selectFrom('webhook_endpoints')
      .select('url')
      .where('id', '=', row.recipient ?? '')
      .executeTakeFirst(),
    k
      .selectFrom('memberships')
      .innerJoin('users', 'users.id', 'memberships.user_id')
      .select('users.email')
      .where('memberships.org_id', '=', row.org_id)
      .where('memberships.role', '=', 'owner')
      .execute(),
  ]);
  await queueMessages(
    k,
    row.org_id,
    owners.map((o) => ({
      template: 'webhook_disabled' as const,
      channel: 'email' as const,
      recipient: o.email,
      payload: { endpoint_id: row.recipient, url: endpoint?.url ?? '', reason: lastError },
    })),
  );
  await recordAudit(k, {
    orgId: row.org_id,
    by: null,
    action: 'webhook_endpoint.disabled',
    subject: row.recipient ?? '',
    data: { reason },
  });
}
