import { sql, type Transaction } from 'kysely';
import type { Logger } from 'pino';
import type Stripe from 'stripe';
import { type Db, saleTransaction } from '../../db/database.js';
import type { Database, OrderRow } from '../../db/schema.js';
import type { PaymentProvider } from '../../integrations/stripe.js';
import { ticketsSold } from '../../observability/metrics.js';
import { nowIso } from '../../time.js';
import { recordAudit } from '../audit/log.js';
import { eventNotOnSale } from '../events/service.js';
import { confirm, linesOf, restoreSeats, sell } from '../inventory/inventory.js';
import { issueInvoice } from '../invoices/ledger.js';
import { notifyQueued } from '../messaging/outbox.js';
import { ticketsHeldBy } from '../orders/purchase-store.js';
import type { Refunds } from '../orders/refunds.js';
import type { Orders } from '../orders/service.js';
import { issueTickets } from '../orders/tickets.js';

type Trx = Transaction<Database>;

/** What applying an event decided; `refund` asks for money back after the transaction commits. */
interface Outcome {
  text: string;
  /** Tickets this event sold (a payment applied), for the metrics once committed. */
  sold?: number;
  refund?: { refundId: string; orderId: string; paymentIntentId: string; amount: number };
}

/**
 * Applies Stripe's events to orders and refunds. Each event is stored by its id in the same
 * transaction that applies it, so a second delivery (or two at once, from several server processes)
 * finds it and changes nothing; every transition is conditional on the state it starts from, so
 * events arriving out of order leave the same end state.
 */
export class StripeWebhooks {
  constructor(
    private readonly db: Db,
    private readonly provider: PaymentProvider,
    private readonly orders: Orders,
    private readonly refunds: Refunds,
    private readonly log: Logger,
  ) {}

  async receive(
    rawBody: Buffer,
    signature: string | undefined,
  ): Promise<{ received: true; duplicate: boolean; outcome: string }> {
    const event = this.provider.parseWebhook(rawBody, signature);
    const orderId = orderIdOf(event);
    // Signing keys must be read outside the transaction (SQLite has one connection).
    const order = orderId
      ? await this.db.kysely
          .selectFrom('orders')
          .select('event_id')
          .where('id', '=', orderId)
          .executeTakeFirst()
      : undefined;
    const key = order ? await this.orders.keys.forEvent(order.event_id) : undefined;

    const result = await saleTransaction(this.db, async (trx) => {
      const fresh = await trx
        .insertInto('webhook_events')
        .values({
          provider: 'stripe',
          event_id: event.id,
          type: event.type,
          payload: rawBody.toString('utf8'),
          outcome: 'applying',
          received_at: nowIso(),
        })
        .onConflict((oc) => oc.columns(['provider', 'event_id']).doNothing())
        .executeTakeFirst();
      if (Number(fresh.numInsertedOrUpdatedRows ?? 0) !== 1)
        return { duplicate: true, outcome: { text: 'duplicate' } };
      const outcome = await this.apply(trx, event, orderId, key);
      await trx
        .updateTable('webhook_events')
        .set({ outcome: outcome.text })
        .where('provider', '=', 'stripe')
        .where('event_id', '=', event.id)
        .execute();
      return { duplicate: false, outcome };
    });
    if (result.outcome.sold) ticketsSold.inc({ channel: 'online' }, result.outcome.sold);
    if (result.outcome.refund) await this.refunds.sendToProvider(result.outcome.refund);
    // A payment may have queued its order's confirmation (or a refund its notice).
    if (!result.duplicate) notifyQueued(this.db);
    this.log.info(
      { stripeEvent: event.id, type: event.type, outcome: result.outcome.text },
      'stripe webhook',
    );
    return { received: true, duplicate: result.duplicate, outcome: result.outcome.text };
  }

  private async apply(
    trx: Trx,
    event: Stripe.Event,
    orderId: string | null,
    key: Awaited<ReturnType<Orders['keys']['forEvent']>> | undefined,
  ): Promise<Outcome> {
    switch (event.type) {
      case 'payment_intent.succeeded': {
        const intent = event.data.object;
        return this.paid(trx, orderId, key, intent.id, intent.amount_received, intent.currency);
      }
      case 'checkout.session.completed': {
        const session = event.data.object;
        if (session.payment_status !== 'paid')
          return { text: `ignored: payment_status ${session.payment_status}` };
        const intentId =
          typeof session.payment_intent === 'string'
            ? session.payment_intent
            : (session.payment_intent?.id ?? null);
        return this.paid(trx, orderId, key, intentId, session.amount_total ?? 0, session.currency ?? '');
      }
      case 'payout.created':
      case 'payout.updated':
      case 'payout.paid':
      case 'payout.failed':
      case 'payout.canceled':
        return recordPayout(trx, event.data.object as Stripe.Payout);
      case 'payment_intent.payment_failed':
        // A declined card is not the end: the buyer may pay the same PaymentIntent with another one.
        // The hold stands until it expires or the payment is cancelled.
        return { text: orderId ? `payment attempt failed for ${orderId}; hold kept` : 'ignored: no order' };
      case 'payment_intent.canceled':
      case 'checkout.session.expired': {
        if (!orderId) return { text: 'ignored: no order' };
        const released = await this.orders.holds.releaseIn(trx, orderId, 'failed');
        return { text: released ? `failed ${orderId}` : `ignored: ${orderId} not pending` };
      }
      case 'charge.dispute.created': {
        const dispute = event.data.object;
        const intentId =
          typeof dispute.payment_intent === 'string' ? dispute.payment_intent : dispute.payment_intent?.id;
        if (!intentId) return { text: 'ignored: no payment intent' };
        const res = await flag(
          trx,
          (q) => q.where('payment_intent_id', '=', intentId),
          `disputed: ${dispute.reason}`,
        );
        return { text: res ? `flagged ${res}` : 'ignored: unknown payment intent' };
      }
      case 'refund.created':
      case 'refund.updated':
      case 'refund.failed': {
        const refund = event.data.object;
        return {
          text: await this.refunds.applyProviderStatus(
            trx,
            refund.id,
            refund.metadata?.refund_id,
            refund.status ?? 'pending',
            undefined,
            {
              paymentIntentId:
                typeof refund.payment_intent === 'string'
                  ? refund.payment_intent
                  : (refund.payment_intent?.id ?? null),
              amount: refund.amount,
              currency: refund.currency,
            },
          ),
        };
      }
      default:
        return { text: 'ignored: not an event we act on' };
    }
  }

  /** A payment went through: the order is paid, even if its hold ran out, unless the tickets are gone. */
  private async paid(
    trx: Trx,
    orderId: string | null,
    key: Awaited<ReturnType<Orders['keys']['forEvent']>> | undefined,
    intentId: string | null,
    amount: number,
    currency: string,
  ): Promise<Outcome> {
    if (!orderId || !key) return { text: 'ignored: no order' };
    // Lock the order first: a Checkout payment sends two "paid" events, and on Postgres both may be
    // applied at the same moment; the second must wait and then see what the first one did.
    await trx
      .updateTable('orders')
      .set((eb) => ({ updated_at: eb.ref('updated_at') }))
      .where('id', '=', orderId)
      .execute();
    const order = await trx.selectFrom('orders').selectAll().where('id', '=', orderId).executeTakeFirst();
    if (!order) return { text: `ignored: unknown order ${orderId}` };
    if (order.status === 'paid' || order.status === 'partially_refunded' || order.status === 'refunded')
      return { text: `ignored: ${order.id} already ${order.status}` };
    const now = nowIso();
    if (amount !== order.total_amount || currency.toUpperCase() !== order.currency) {
      await flag(
        trx,
        (q) => q.where('id', '=', order.id),
        `payment of ${amount} ${currency.toUpperCase()} does not match the order total ${order.total_amount} ${order.currency}`,
      );
      await trx
        .updateTable('orders')
        .set({ payment_intent_id: intentId ?? order.payment_intent_id })
        .where('id', '=', order.id)
        .execute();
      return { text: `flagged ${order.id}: amount mismatch` };
    }
    const items = await trx.selectFrom('order_items').selectAll().where('order_id', '=', order.id).execute();
    if (order.status === 'pending') {
      // Conditional on pending: a sweeper expiring the hold at this instant can't also return it.
      const res = await trx
        .updateTable('orders')
        .set({
          status: 'paid',
          paid_at: now,
          payment_intent_id: intentId ?? order.payment_intent_id,
          updated_at: now,
        })
        .where('id', '=', order.id)
        .where('status', '=', 'pending')
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) === 1) {
        await confirm(trx, order.event_id, linesOf(items));
        await issueTickets(trx, order, key);
        await issueInvoice(trx, order);
        return { text: `paid ${order.id}`, sold: order.ticket_count };
      }
    }
    // Paid after the hold ended (expired or failed): sell again if there is still room. A cancelled
    // order stays cancelled — someone decided against it — and its money goes back.
    const short =
      order.status === 'cancelled' ? 'the order was cancelled' : await this.resell(trx, order, items);
    if (!short) {
      await trx
        .updateTable('orders')
        .set({
          status: 'paid',
          paid_at: now,
          payment_intent_id: intentId ?? order.payment_intent_id,
          updated_at: now,
        })
        .where('id', '=', order.id)
        .where('status', '=', order.status)
        .execute();
      await issueTickets(trx, order, key);
      await issueInvoice(trx, order);
      await recordAudit(trx, {
        orgId: order.org_id,
        by: null,
        action: 'order.paid_late',
        subject: order.id,
        before: { status: order.status },
        after: { status: 'paid' },
      });
      return { text: `paid ${order.id} after its hold ended`, sold: order.ticket_count };
    }
    // No room left: never oversell. The money goes back and the organizer is told.
    if (!intentId) return { text: `flagged ${order.id}: paid late, sold out, no payment intent to refund` };
    const why = `paid after the hold ended: ${short}`;
    const refundId = await this.refunds.recordAutomaticRefund(trx, order, intentId, why);
    return {
      text: `refunding ${order.id}: ${why}`,
      refund: { refundId, orderId: order.id, paymentIntentId: intentId, amount: order.total_amount },
    };
  }

  /**
   * A late payment is a new sale, so it meets the same rules as one: the event still on sale, room
   * for the tickets, the buyer within the per-buyer limit. Returns why not, or null (inventory taken).
   */
  private async resell(
    trx: Trx,
    order: OrderRow,
    items: { ticket_type_id: string; name: string; quantity: number }[],
  ) {
    const event = await trx
      .selectFrom('events')
      .selectAll()
      .where('id', '=', order.event_id)
      .executeTakeFirstOrThrow();
    const closed = eventNotOnSale(event, nowIso());
    if (closed) return closed.replaceAll('_', ' ');
    const lines = items.map((i) => ({ typeId: i.ticket_type_id, name: i.name, quantity: i.quantity }));
    const short = await sell(trx, order.event_id, lines);
    if (short) return short;
    if (event.max_per_buyer !== null) {
      // This order is not pending and has no tickets, so it is not in the count yet.
      const held = await ticketsHeldBy(trx, event.id, order.buyer_email);
      if (held + order.ticket_count > event.max_per_buyer) {
        await restoreSeats(trx, order.event_id, lines);
        return `the buyer already holds ${held} of the ${event.max_per_buyer} tickets allowed`;
      }
    }
    return null;
  }
}

function orderIdOf(event: Stripe.Event): string | null {
  const object = event.data.object as { metadata?: Record<string, string> | null };
  const id = object.metadata?.order_id;
  return typeof id === 'string' && id.startsWith('ord_') ? id : null;
}

async function flag(
  trx: Trx,
  // biome-ignore lint/suspicious/noExplicitAny: a where-clause on orders
  where: (q: any) => any,
  reason: string,
): Promise<string | null> {
  const rows: Pick<OrderRow, 'id'>[] = await where(
    trx.updateTable('orders').set({ flagged: 1, flag_reason: reason, updated_at: nowIso() }),
  )
    .returning(['id'])
    .execute();
  return rows[0]?.id ?? null;
}

/**
 * How far along a payout is. Stripe's lifecycle: pending → in_transit → paid, or pending/in_transit →
 * failed or canceled; and a paid payout can still fail later (the bank returned it), never the other
 * way. So failed outranks paid; paid and canceled never happen to the same payout. Events come in any
 * order: a later stage is never taken back by an earlier one.
 */
const PAYOUT_STAGE: Record<string, number> = {
  pending: 0,
  in_transit: 1,
  paid: 2,
  canceled: 2,
  failed: 3,
};

/** PAYOUT_STAGE in SQL, for the upsert's condition (an unknown status ranks as pending). */
const stageOf = (status: string) =>
  sql<number>`case ${sql.ref(status)} ${sql.join(
    Object.entries(PAYOUT_STAGE).map(([s, n]) => sql`when ${sql.lit(s)} then ${sql.lit(n)}`),
    sql` `,
  )} else 0 end`;

/**
 * Records a payout as Stripe reports it; its transactions are listed and linked to orders and
 * refunds afterwards, by a job (payments/payouts.ts), when it has arrived or failed. One statement:
 * two deliveries of a new payout at once (from several server processes) both land on it, the second
 * as an update, and an update only applies a stage at least as far along as the one stored (the same
 * stage again refreshes what Stripe may change meanwhile, such as the arrival date).
 */
async function recordPayout(trx: Trx, payout: Stripe.Payout): Promise<Outcome> {
  const now = nowIso();
  const changes = {
    status: payout.status,
    amount: payout.amount,
    currency: payout.currency,
    arrival_date: new Date(payout.arrival_date * 1000).toISOString(),
    failure_code: payout.failure_code ?? null,
    failure_message: payout.failure_message ?? null,
    // Stripe lists transactions by payout for automatic payouts only (payments/payouts.ts skips the rest).
    automatic: payout.automatic === false ? 0 : 1,
    updated_at: now,
  };
  const res = await trx
    .insertInto('payouts')
    .values({
      id: payout.id,
      ...changes,
      created_at: new Date(payout.created * 1000).toISOString(),
      lines_loaded_at: null,
    })
    .onConflict((oc) =>
      oc
        .column('id')
        .doUpdateSet(changes)
        .where(
          () => sql<boolean>`${stageOf('payouts.status')} <= ${sql.lit(PAYOUT_STAGE[payout.status] ?? 0)}`,
        ),
    )
    .executeTakeFirst();
  if (Number(res.numInsertedOrUpdatedRows ?? 0) === 0)
    return { text: `payout ${payout.id}: ${payout.status} is older news than what is recorded` };
  return { text: `payout ${payout.id} ${payout.status}` };
}
