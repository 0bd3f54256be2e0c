import type { Page, Payout, PayoutListQuery } from '@tickets/sdk';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { Db } from '../../db/database.js';
import type { PayoutLinesTable, PayoutsTable } from '../../db/schema.js';
import { notFound } from '../../http/errors.js';
import { DEFAULT_LIMIT, decodeCursor, toPage } from '../../http/pagination.js';
import type { PaymentProvider } from '../../integrations/stripe.js';
import { nowIso } from '../../time.js';

/**
 * Lists the transactions of each payout that has arrived (or failed) and has none linked yet, and
 * links each to the order or refund it came from — by the balance transaction the fees job recorded,
 * else by the charge's PaymentIntent or the refund's id. Lines are keyed by (payout, transaction), so a
 * second run, or two servers at once, write each once.
 */
export async function linkPayouts(db: Db, stripe: PaymentProvider, log: Logger): Promise<number> {
  const k = db.kysely;
  const due = await k
    .selectFrom('payouts')
    .select('id')
    .where('lines_loaded_at', 'is', null)
    .where('status', 'in', ['paid', 'failed'])
    .orderBy('arrival_date')
    .limit(5)
    .execute();
  let linked = 0;
  for (const { id } of due) {
    try {
      const lines: PayoutLinesTable[] = [];
      for await (const t of stripe.payoutTransactions(id)) {
        let org: { org_id: string; order_id: string; refund_id: string | null } | undefined;
        if (t.refundId)
          org = await k
            .selectFrom('refunds')
            .select(['org_id', 'order_id', 'id as refund_id'])
            .where((eb) =>
              eb.or([eb('provider_ref', '=', t.refundId), eb('balance_transaction_id', '=', t.id)]),
            )
            .executeTakeFirst();
        else if (t.paymentIntentId || t.source)
          org = await k
            .selectFrom('orders')
            .select(['org_id', 'id as order_id'])
            .select((eb) => eb.val<string | null>(null).as('refund_id'))
            .where((eb) =>
              eb.or([
                eb('balance_transaction_id', '=', t.id),
                ...(t.paymentIntentId ? [eb('payment_intent_id', '=', t.paymentIntentId)] : []),
              ]),
            )
            .executeTakeFirst();
        lines.push({
          payout_id: id,
          balance_transaction_id: t.id,
          type: t.type,
          source: t.source,
          org_id: org?.org_id ?? null,
          order_id: org?.order_id ?? null,
          refund_id: org?.refund_id ?? null,
          amount: t.amount,
          fee: t.fee,
          net: t.net,
          currency: t.currency,
        });
      }
      await k.transaction().execute(async (trx) => {
        for (let i = 0; i < lines.length; i += 200)
          await trx
            .insertInto('payout_lines')
            .values(lines.slice(i, i + 200))
            .onConflict((oc) => oc.columns(['payout_id', 'balance_transaction_id']).doNothing())
            .execute();
        await trx.updateTable('payouts').set({ lines_loaded_at: nowIso() }).where('id', '=', id).execute();
      });
      linked++;
    } catch (err) {
      log.warn({ err, payout: id }, "could not list a payout's transactions");
    }
  }
  return linked;
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
