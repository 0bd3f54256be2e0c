import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { Db } from '../../db/database.js';
import type { PaymentProvider } from '../../integrations/stripe.js';

/** How many payments and refunds one run reads (each a request to Stripe). */
const BATCH = 50;

/**
 * The Stripe jobs' patience with a row Stripe will not answer for (a charge without a balance transaction,
 * a payout whose transactions it fails to list): the next try 1 minute after the first failure, then
 * twice as long each time, at most 6 hours apart; the 21st try comes about 3 days (74.5 h) after the
 * first, and after it fails the row is given up (logged) — left for a person, not asked about forever.
 * Until then a failing row waits its turn instead of being taken first on every run, so however many
 * fail, newer ones are still read (a batch of the oldest would otherwise be the same failures each time).
 * GIVE_UP is also written in migration 0036's partial indexes.
 */
export const RETRY_FIRST_MS = 60_000;
export const RETRY_MAX_MS = 6 * 3600_000;
export const GIVE_UP = 21;

/** When to try again after `attempts` failed tries (1: the first failed), or null to give up. */
export function nextTryAt(attempts: number, now: Date): string | null {
  if (attempts >= GIVE_UP) return null;
  const wait = Math.min(RETRY_FIRST_MS * 2 ** (attempts - 1), RETRY_MAX_MS);
  return new Date(now.getTime() + wait).toISOString();
}

/**
 * Reads Stripe's balance transaction of each Stripe payment and refund that has none recorded yet, and
 * records its fee, net, settlement currency and exchange rate (shown on the order and the refund, and
 * as fee rows in the revenue report). A job, after the fact: the payment is applied the moment Stripe
 * says it succeeded, and nothing waits on a second request for the fee. A payment whose transaction
 * is not there yet (or that Stripe failed to answer for) is asked again later (see nextTryAt); each
 * write is conditional on what the run read, so servers running it at once record each once and
 * count each failure once.
 */
export async function recordStripeFees(
  db: Db,
  stripe: PaymentProvider,
  log: Logger,
  now = new Date(),
): Promise<number> {
  const k = db.kysely;
  const at = now.toISOString();
  // The literals (not parameters) match the partial indexes' predicates (migration 0036), so SQLite
  // uses them too.
  const orders = await k
    .selectFrom('orders')
    .select(['id', 'payment_intent_id as ref', 'fee_attempts as attempts'])
    .where('balance_transaction_id', 'is', null)
    .where('payment_intent_id', 'is not', null)
    .where('fee_attempts', '<', sql.lit(GIVE_UP))
    .where('paid_at', 'is not', null)
    .where((eb) => eb.or([eb('fee_next_try_at', 'is', null), eb('fee_next_try_at', '<=', at)]))
    .orderBy('paid_at')
    .limit(BATCH)
    .execute();
  const refunds = await k
    .selectFrom('refunds')
    .select(['id', 'provider_ref as ref', 'fee_attempts as attempts'])
    .where('balance_transaction_id', 'is', null)
    .where('provider', '=', sql.lit('stripe'))
    .where('fee_attempts', '<', sql.lit(GIVE_UP))
    .where('status', '=', 'succeeded')
    .where('provider_ref', 'is not', null)
    .where((eb) => eb.or([eb('fee_next_try_at', 'is', null), eb('fee_next_try_at', '<=', at)]))
    .orderBy('created_at')
    .limit(BATCH)
    .execute();
  return (
    (await record(db, stripe, log, now, 'orders', 'payment', orders)) +
    (await record(db, stripe, log, now, 'refunds', 'refund', refunds))
  );
}

/** Reads and records the balance transaction of each row (a payment's or a refund's), once. */
async function record(
  db: Db,
  stripe: PaymentProvider,
  log: Logger,
  now: Date,
  table: 'orders' | 'refunds',
  kind: 'payment' | 'refund',
  rows: { id: string; ref: string | null; attempts: number | undefined }[],
): Promise<number> {
  let recorded = 0;
  for (const row of rows) {
    const balance = await stripe.balanceOf(kind, row.ref as string).catch((err: unknown) => {
      log.warn({ err, [kind]: row.id }, `could not read the balance transaction of a ${kind}`);
      return null;
    });
    if (!balance) {
      const seen = Number(row.attempts ?? 0);
      const attempts = seen + 1;
      const next = nextTryAt(attempts, now);
      // Conditional on the count read: another server that failed it too in the meantime has counted it.
      const counted = await db.kysely
        .updateTable(table)
        .set({ fee_attempts: attempts, fee_next_try_at: next })
        .where('id', '=', row.id)
        .where('balance_transaction_id', 'is', null)
        .where('fee_attempts', '=', seen)
        .executeTakeFirst();
      if (next === null && Number(counted.numUpdatedRows) === 1)
        log.error(
          { [kind]: row.id, stripe: row.ref, attempts },
          `gave up reading the balance transaction of a ${kind}: its fee stays unknown`,
        );
      continue;
    }
    const done = await db.kysely
      .updateTable(table)
      .set({
        balance_transaction_id: balance.id,
        stripe_fee: balance.fee,
        stripe_net: balance.net,
        settlement_currency: balance.currency,
        exchange_rate: balance.exchangeRate,
      })
      .where('id', '=', row.id)
      .where('balance_transaction_id', 'is', null)
      .executeTakeFirst();
    recorded += Number(done.numUpdatedRows);
  }
  return recorded;
}
