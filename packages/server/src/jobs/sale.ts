import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Db } from '../db/database.js';
import { purgeExpiredIdempotencyKeys } from '../http/idempotency.js';
import type { PaymentProvider } from '../integrations/stripe.js';
import { purgeStaleCounters } from '../modules/accounts/throttle.js';
import type { Cancellations } from '../modules/events/cancellation.js';
import type { Media } from '../modules/media/service.js';
import type { Refunds } from '../modules/orders/refunds.js';
import type { Orders } from '../modules/orders/service.js';
import { recordStripeFees } from '../modules/payments/fees.js';
import { linkPayouts } from '../modules/payments/payouts.js';
import { Reconciliations } from '../modules/payments/reconcile.js';
import { dropExpiredReservations } from '../modules/vouchers/pricing.js';
import { WebhookEndpoints } from '../modules/webhooks/endpoints.js';
import type { Job } from './runner.js';

/**
 * The sale's background work, run by `tickets server start` and by `tickets server worker` alike (any
 * number of each: every job decides by conditional writes, so two processes never do one thing twice).
 */
export function saleJobs(
  db: Db,
  services: { orders: Orders; refunds: Refunds; cancellations: Cancellations },
  config: Pick<Config, 'holdSweepMs'>,
): Job[] {
  const { orders, refunds, cancellations } = services;
  const every = config.holdSweepMs;
  return [
    // Releasing a hold is conditional on the order still being pending: returned once, whoever sweeps.
    { name: 'expire unpaid holds', everyMs: every, run: () => orders.holds.expireHolds() },
    { name: 'resend unsent refunds', everyMs: every, run: () => refunds.retryUnsent() },
    { name: 'complete invoices', everyMs: every, run: () => orders.ensureInvoices() },
    { name: 'refund cancelled events', everyMs: every, run: () => cancellations.work() },
    // An expired code's reserved tickets go back on sale (conditional on what it still holds: once).
    { name: 'release expired codes', everyMs: every, run: () => dropExpiredReservations(db) },
    { name: 'purge idempotency keys', everyMs: 3600_000, run: () => purgeExpiredIdempotencyKeys(db) },
    { name: 'purge rate-limit counters', everyMs: 3600_000, run: () => purgeStaleCounters(db) },
  ];
}

/** Media's upkeep: what the provider holds that no asset names, removed a day on (see Media.sweep). */
export function mediaJobs(media: Media): Job[] {
  return [{ name: 'sweep unregistered media', everyMs: 3600_000, run: () => media.sweep() }];
}

/** Webhooks' upkeep: poll endpoints whose `tickets webhooks listen` went away are deleted. */
export function webhookJobs(db: Db, config: Pick<Config, 'webhooks'>): Job[] {
  const endpoints = new WebhookEndpoints(db, config.webhooks);
  return [{ name: 'sweep idle listeners', everyMs: 60_000, run: () => endpoints.sweepPollEndpoints() }];
}

/** Stripe's fees of payments and refunds, read after the fact (see payments/fees.ts); none without Stripe. */
export function paymentJobs(
  db: Db,
  payments: PaymentProvider | null,
  config: Pick<Config, 'holdSweepMs'>,
  log: Logger,
): Job[] {
  if (!payments) return [];
  return [
    {
      name: 'record Stripe fees',
      everyMs: config.holdSweepMs,
      run: () => recordStripeFees(db, payments, log),
    },
    { name: 'link Stripe payouts', everyMs: config.holdSweepMs, run: () => linkPayouts(db, payments, log) },
    // Yesterday's reconciliation, once per organization (an hourly look: a server down at midnight still does it).
    {
      name: 'reconcile yesterday',
      everyMs: 3600_000,
      run: () => new Reconciliations(db, payments).nightly(),
    },
  ];
}
