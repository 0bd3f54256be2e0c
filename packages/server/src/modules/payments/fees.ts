import type { Logger } from 'pino';
import type { Db } from '../../db/database.js';
import type { PaymentProvider } from '../../integrations/stripe.js';

/** How many payments and refunds one run reads (each a request to Stripe). */
const BATCH = 50;

/**
 * Reads Stripe's balance transaction of each Stripe payment and refund that has none recorded yet, and
 * records its fee, net, settlement currency and exchange rate (shown on the order and the refund, and
 * as fee rows in the revenue report). A job, after the fact: the payment is applied the moment Stripe
 * says it succeeded, and nothing waits on a second request for the fee. A payment whose transaction
 * is not there yet is asked again at the next run; each write is conditional on none being recorded,
 * so servers running it at once record each once.
 */
export async function recordStripeFees(db: Db, stripe: PaymentProvider, log: Logger): Promise<number> {
  const k = db.kysely;
  const orders = await k
    .selectFrom('orders')
    .select(['id', 'payment_intent_id as ref'])
    .where('balance_transaction_id', 'is', null)
    .where('payment_intent_id', 'is not', null)
    .where('paid_at', 'is not', null)
    .orderBy('paid_at')
    .limit(BATCH)
    .execute();
  const refunds = await k
    .selectFrom('refunds')
    .select(['id', 'provider_ref as ref'])
    .where('balance_transaction_id', 'is', null)
    .where('provider', '=', 'stripe')
    .where('status', '=', 'succeeded')
    .where('provider_ref', 'is not', null)
    .orderBy('created_at')
    .limit(BATCH)
    .execute();
  return (
    (await record(db, stripe, log, 'orders', 'payment', orders)) +
    (await record(db, stripe, log, 'refunds', 'refund', refunds))
  );
}

/** Reads and records the balance transaction of each row (a payment's or a refund's), once. */
async function record(
  db: Db,
  stripe: PaymentProvider,
  log: Logger,
  table: 'orders' | 'refunds',
  kind: 'payment' | 'refund',
  rows: { id: string; ref: string | null }[],
): Promise<number> {
  let recorded = 0;
  for (const row of rows) {
    const balance = await stripe.balanceOf(kind, row.ref as string).catch((err: unknown) => {
      log.warn({ err, [kind]: row.id }, `could not read the balance transaction of a ${kind}`);
      return null;
    });
    if (!balance) continue;
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
