import type { Page, Payout, PayoutListQuery } from '@tickets/sdk';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { Db } from '../../db/database.js';
import type { PayoutLinesTable, PayoutsTable } from '../../db/schema.js';
import { notFound } from '../../http/errors.js';
import { DEFAULT_LIMIT, decodeCursor, toPage } from '../../http/pagination.js';
import type { PaymentProvider, PayoutTransaction } from '../../integrations/stripe.js';
import { nowIso } from '../../time.js';
import { GIVE_UP, nextTryAt } from './fees.js';

/** The balance transactions of a payout looked up at once (a bound parameter each). */
const CHUNK = 200;

type Owner = { org_id: string; order_id: string; refund_id: string | null };

/**
 * Lists the transactions of each payout that has arrived (or failed) and has none linked yet, and
 * links each to the order or refund it came from — by the balance transaction the fees job recorded,
 * else by the charge's PaymentIntent or the refund's id. Lines are keyed by (payout, transaction), so a
 * second run, or two servers at once, write each once. A payout Stripe fails to list waits before its
 * next try (fees.ts, nextTryAt) and does not hold up the others; a manual payout is never asked for,
 * since Stripe lists transactions by payout only for automatic ones.
 */
export async function linkPayouts(
  db: Db,
  stripe: PaymentProvider,
  log: Logger,
  now = new Date(),
): Promise<number> {
  const k = db.kysely;
  const due = await k
    .selectFrom('payouts')
    .select(['id', 'lines_attempts as attempts'])
    .where('lines_loaded_at', 'is', null)
    .where('status', 'in', ['paid', 'failed'])
    .where('automatic', '=', 1)
    .where('lines_attempts', '<', GIVE_UP)
    .where((eb) =>
      eb.or([eb('lines_next_try_at', 'is', null), eb('lines_next_try_at', '<=', now.toISOString())]),
    )
    .orderBy('arrival_date')
    .limit(5)
    .execute();
  let linked = 0;
  for (const { id, attempts } of due) {
    try {
      const txns: PayoutTransaction[] = [];
      for await (const t of stripe.payoutTransactions(id)) txns.push(t);
      const owners = await ownersOf(db, txns);
      const lines: PayoutLinesTable[] = txns.map((t) => {
        const owner = owners.get(t.id);
        return {
          payout_id: id,
          balance_transaction_id: t.id,
          type: t.type,
          source: t.source,
          org_id: owner?.org_id ?? null,
          order_id: owner?.order_id ?? null,
          refund_id: owner?.refund_id ?? null,
          amount: t.amount,
          fee: t.fee,
          net: t.net,
          currency: t.currency,
        };
      });
      await k.transaction().execute(async (trx) => {
        for (let i = 0; i < lines.length; i += CHUNK)
          await trx
            .insertInto('payout_lines')
            .values(lines.slice(i, i + CHUNK))
            .onConflict((oc) => oc.columns(['payout_id', 'balance_transaction_id']).doNothing())
            .execute();
        await trx.updateTable('payouts').set({ lines_loaded_at: nowIso() }).where('id', '=', id).execute();
      });
      linked++;
    } catch (err) {
      const seen = Number(attempts ?? 0);
      const next = nextTryAt(seen + 1, now);
      log.warn({ err, payout: id, attempts: seen + 1 }, "could not list a payout's transactions");
      // Conditional on the count read, so two servers failing at once count it once.
      const counted = await k
        .updateTable('payouts')
        .set({ lines_attempts: seen + 1, lines_next_try_at: next })
        .where('id', '=', id)
        .where('lines_loaded_at', 'is', null)
        .where('lines_attempts', '=', seen)
        .executeTakeFirst();
      if (next === null && Number(counted.numUpdatedRows) === 1)
        log.error({ payout: id, attempts: seen + 1 }, "gave up listing a payout's transactions");
    }
  }
  return linked;
}

/**
 * Whose each transaction is: the refund it came from (by Stripe's refund id, else the balance
 * transaction the fees job recorded), or the order its charge paid (by balance transaction, else
 * PaymentIntent). A few queries per CHUNK transactions, each by an indexed column (migrations 0005,
 * 0036), not one per transaction: a payout can hold thousands.
 */
async function ownersOf(db: Db, txns: PayoutTransaction[]): Promise<Map<string, Owner>> {
  const k = db.kysely;
  const refundTxns = txns.filter((t) => t.refundId);
  const chargeTxns = txns.filter((t) => !t.refundId && (t.paymentIntentId || t.source));
  const refundsByRef = new Map<string, Owner>();
  const refundsByTxn = new Map<string, Owner>();
  const ordersByTxn = new Map<string, Owner>();
  const ordersByIntent = new Map<string, Owner>();
  for (let i = 0; i < refundTxns.length; i += CHUNK) {
    const chunk = refundTxns.slice(i, i + CHUNK);
    const refunds = k.selectFrom('refunds').select(['org_id', 'order_id', 'id as refund_id']);
    for (const r of await refunds
      .select('provider_ref')
      .where(
        'provider_ref',
        'in',
        chunk.map((t) => t.refundId!),
      )
      .execute())
      if (r.provider_ref && !refundsByRef.has(r.provider_ref)) refundsByRef.set(r.provider_ref, r);
    for (const r of await refunds
      .select('balance_transaction_id')
      .where(
        'balance_transaction_id',
        'in',
        chunk.map((t) => t.id),
      )
      .execute())
      if (r.balance_transaction_id && !refundsByTxn.has(r.balance_transaction_id))
        refundsByTxn.set(r.balance_transaction_id, r);
  }
  for (let i = 0; i < chargeTxns.length; i += CHUNK) {
    const chunk = chargeTxns.slice(i, i + CHUNK);
    const orders = k
      .selectFrom('orders')
      .select(['org_id', 'id as order_id'])
      .select((eb) => eb.val<string | null>(null).as('refund_id'));
    for (const o of await orders
      .select('balance_transaction_id')
      .where(
        'balance_transaction_id',
        'in',
        chunk.map((t) => t.id),
      )
      .execute())
      if (o.balance_transaction_id && !ordersByTxn.has(o.balance_transaction_id))
        ordersByTxn.set(o.balance_transaction_id, o);
    const intents = [...new Set(chunk.flatMap((t) => (t.paymentIntentId ? [t.paymentIntentId] : [])))];
    if (intents.length > 0)
      for (const o of await orders
        .select('payment_intent_id')
        .where('payment_intent_id', 'in', intents)
        .execute())
        if (o.payment_intent_id && !ordersByIntent.has(o.payment_intent_id))
          ordersByIntent.set(o.payment_intent_id, o);
  }
  const owners = new Map<string, Owner>();
  for (const t of txns) {
    const owner = t.refundId
      ? (refundsByRef.get(t.refundId) ?? refundsByTxn.get(t.id))
      : (ordersByTxn.get(t.id) ?? (t.paymentIntentId ? ordersByIntent.get(t.paymentIntentId) : undefined));
    if (owner)
      owners.set(t.id, { org_id: owner.org_id, order_id: owner.order_id, refund_id: owner.refund_id });
  }
  return owners;
}

interface Totals {
  gross: number;
  fees: number;
  net: number;
  lines: number;
}

function payoutView(p: PayoutsTable, totals: Totals): Payout {
  return {
    id: p.id,
    object: 'payout',
    status: p.status,
    arrival_date: p.arrival_date,
    currency: p.currency.toUpperCase(),
    amount: Number(p.amount),
    failure_code: p.failure_code,
    failure_message: p.failure_message,
    totals,
    lines_loaded: p.lines_loaded_at !== null,
    created_at: p.created_at,
  };
}

/**
 * An organization's view of Stripe's payouts: those with its transactions in them, each with its part
 * (one Stripe account may pay out several organizations' money at once).
 */
export class Payouts {
  constructor(private readonly db: Db) {}

  private totalsOf(orgId: string) {
    return this.db.kysely
      .selectFrom('payout_lines')
      .select((eb) => [
        'payout_id',
        eb.fn.sum<number | string>('amount').as('gross'),
        eb.fn.sum<number | string>('fee').as('fees'),
        eb.fn.sum<number | string>('net').as('net'),
        eb.fn.countAll<number | string>().as('lines'),
      ])
      .where('org_id', '=', orgId)
      .groupBy('payout_id');
  }

  async list(orgId: string, query: z.output<typeof PayoutListQuery>): Promise<Page<Payout>> {
    const limit = query.limit ?? DEFAULT_LIMIT;
    const after = query.starting_after ? decodeCursor(query.starting_after, 2).map(String) : null;
    const rows = await this.db.kysely
      .selectFrom('payouts as p')
      .innerJoin(this.totalsOf(orgId).as('t'), 't.payout_id', 'p.id')
      .selectAll('p')
      .select(['t.gross', 't.fees', 't.net', 't.lines'])
      .$if(query.from !== undefined, (q) => q.where('p.arrival_date', '>=', `${query.from}T00:00:00.000Z`))
      .$if(query.to !== undefined, (q) => q.where('p.arrival_date', '<', `${query.to}T00:00:00.000Z`))
      .$if(after !== null, (q) =>
        q.where((eb) =>
          eb.or([
            eb('p.arrival_date', '<', after![0]!),
            eb.and([eb('p.arrival_date', '=', after![0]!), eb('p.id', '<', after![1]!)]),
          ]),
        ),
      )
      .orderBy('p.arrival_date', 'desc')
      .orderBy('p.id', 'desc')
      .limit(limit + 1)
      .execute();
    return toPage(
      rows,
      limit,
      (r) => [r.arrival_date, r.id],
      (r) =>
        payoutView(r, {
          gross: Number(r.gross),
          fees: Number(r.fees),
          net: Number(r.net),
          lines: Number(r.lines),
        }),
    );
  }

  async get(orgId: string, id: string): Promise<Payout> {
    const payout = await this.db.kysely
      .selectFrom('payouts')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    const lines = await this.db.kysely
      .selectFrom('payout_lines')
      .selectAll()
      .where('payout_id', '=', id)
      .where('org_id', '=', orgId)
      .orderBy('balance_transaction_id')
      .execute();
    // Another organization's payout (or one not linked yet, without a line of ours) is not ours to see.
    if (!payout || lines.length === 0) throw notFound('payout');
    const sum = (f: 'amount' | 'fee' | 'net') => lines.reduce((n, l) => n + Number(l[f]), 0);
    return {
      ...payoutView(payout, { gross: sum('amount'), fees: sum('fee'), net: sum('net'), lines: lines.length }),
      lines: lines.map((l) => ({
        balance_transaction: l.balance_transaction_id,
        type: l.type,
        order_id: l.order_id,
        refund_id: l.refund_id,
        amount: Number(l.amount),
        fee: Number(l.fee),
        net: Number(l.net),
        currency: l.currency.toUpperCase(),
      })),
    };
  }
}
