import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database, OrderItemsTable, OrdersTable, OutboxTable } from '../../db/schema.js';
import type { Ga4Body } from '../../integrations/ga4.js';
import { line, totals } from '../invoices/documents.js';
import { currencyDigits } from '../reports/cells.js';
import type { Ga4EventName, Ga4Subject } from './queue.js';
import { consented } from './queue.js';

/** GA4 takes an event's time up to 72 hours back; an older one is sent as of now (still counted). */
const BACKDATE_MS = 72 * 3600_000 - 10 * 60_000;
/** GA4 cuts string parameters at 100 characters. */
const MAX_TEXT = 100;

interface Analytics {
  client_id?: string;
  session_id?: string;
  user_id?: string;
  consent?: boolean;
}

/**
 * The client id of an order whose checkout gave none (a box-office sale, an API integration): stable
 * for the order, so its purchase and its refund are one user's, and pseudonymous (a hash, in the
 * shape gtag's ids have: two decimal numbers).
 */
export function pseudonymousClientId(orderId: string): string {
  const h = createHash('sha256').update(`tickets-ga4:${orderId}`).digest();
  return `${h.readUInt32BE(0)}.${h.readUInt32BE(4)}`;
}

/** Minor units to the currency's major units, as GA4 takes `value` and `price` (EUR 2500 → 25, JPY 1500 → 1500). */
export function major(amount: number, currency: string): number {
  return Number((amount / 10 ** currencyDigits(currency)).toFixed(currencyDigits(currency)));
}

const text = (s: string) => (s.length > MAX_TEXT ? s.slice(0, MAX_TEXT) : s);

/** How the order was sold, GA4's `sales_channel` dimension. */
function channelOf(method: OrdersTable['payment_method'], createdBy: string | null): string {
  if (method === 'stripe') return 'online';
  if (method === 'manual') return 'box_office';
  return createdBy?.startsWith('usr_') ? 'box_office' : 'online';
}

type Order = Pick<
  OrdersTable,
  | 'id'
  | 'event_id'
  | 'currency'
  | 'total_amount'
  | 'payment_method'
  | 'created_by'
  | 'utm_source'
  | 'analytics'
  | 'paid_at'
  | 'created_at'
  | 'voucher_code'
>;
type Item = Pick<OrderItemsTable, 'ticket_type_id' | 'name' | 'quantity' | 'unit_amount' | 'tax_rate'> & {
  list_amount?: number | null;
};

/** GA4's items: `price` is what a ticket cost, a code's `discount` per ticket beside it (as GA4 asks). */
function itemsOf(items: Item[], eventName: string, currency: string, coupon: string | null) {
  return items.map((i) => {
    const off = i.list_amount !== null && i.list_amount !== undefined ? i.list_amount - i.unit_amount : 0;
    return {
      item_id: i.ticket_type_id,
      item_name: text(i.name),
      item_category: text(eventName),
      price: major(i.unit_amount, currency),
      quantity: i.quantity,
      ...(off > 0 && coupon ? { discount: major(off, currency), coupon: text(coupon) } : {}),
    };
  });
}

/**
 * The Measurement Protocol request of one outbox row (channel `ga4`), from the data as it is now: null
 * when there is nothing to send any more (the order is gone, the buyer declined).
 */
export async function ga4Request(
  k: Kysely<Database>,
  row: Pick<OutboxTable, 'org_id' | 'kind' | 'payload'>,
): Promise<Ga4Body | null> {
  const subject = JSON.parse(row.payload) as Ga4Subject & { occurred_at?: string };
  const name = row.kind as Ga4EventName;
  const order = await k
    .selectFrom('orders')
    .select([
      'id',
      'event_id',
      'currency',
      'total_amount',
      'payment_method',
      'created_by',
      'utm_source',
      'analytics',
      'paid_at',
      'created_at',
      'voucher_code',
    ])
    .where('org_id', '=', row.org_id)
    .where('id', '=', subject.order_id)
    .executeTakeFirst();
  if (!order || !consented(order.analytics)) return null;
  const [items, event] = await Promise.all([
    k
      .selectFrom('order_items')
      .select(['ticket_type_id', 'name', 'quantity', 'unit_amount', 'tax_rate', 'list_amount'])
      .where('order_id', '=', order.id)
      .orderBy('ticket_type_id')
      .execute(),
    k.selectFrom('events').select(['id', 'name']).where('id', '=', order.event_id).executeTakeFirst(),
  ]);
  const eventName = event?.name ?? '';
  const analytics: Analytics = order.analytics ? JSON.parse(order.analytics) : {};
  // The dimensions every event carries (register them as custom dimensions in GA4 to report on them).
  const common: Record<string, unknown> = {
    event_id: order.event_id,
    sales_channel: channelOf(order.payment_method, order.created_by),
    ...(order.utm_source ? { source: text(order.utm_source) } : {}),
    ...(analytics.session_id ? { session_id: analytics.session_id } : {}),
    // Without it, GA4 does not count the event towards the session (its documentation asks for it).
    engagement_time_msec: 1,
  };
  const lines = items.map((i) => line(i.name, i.quantity, i.unit_amount, i.tax_rate));
  let params: Record<string, unknown>;
  let at: string;
  switch (name) {
    case 'begin_checkout':
    case 'purchase': {
      at = name === 'purchase' ? (order.paid_at ?? order.created_at) : order.created_at;
      params = {
        ...(name === 'purchase' ? { transaction_id: order.id } : {}),
        currency: order.currency,
        value: major(order.total_amount, order.currency),
        tax: major(totals(lines).tax, order.currency),
        ...(order.voucher_code ? { coupon: text(order.voucher_code) } : {}),
        items: itemsOf(items, eventName, order.currency, order.voucher_code),
      };
      break;
    }
    case 'refund': {
      const refund = await k
        .selectFrom('refunds')
        .select(['id', 'amount', 'ticket_id', 'created_at', 'status'])
        .where('id', '=', subject.refund_id ?? '')
        .executeTakeFirst();
      if (!refund || refund.status !== 'succeeded') return null;
      at = refund.created_at;
      // The refunded items: the ticket's (a ticket refund), all of them (the whole order), or none
      // (an amount off the order: GA4 takes a partial refund without items).
      let refunded: Item[] = [];
      if (refund.ticket_id) {
        const ticket = await k
          .selectFrom('tickets')
          .select('ticket_type_id')
          .where('id', '=', refund.ticket_id)
          .executeTakeFirst();
        refunded = items
          .filter((i) => i.ticket_type_id === ticket?.ticket_type_id)
          .map((i) => ({ ...i, quantity: 1 }));
      } else if (refund.amount >= order.total_amount) refunded = items;
      params = {
        transaction_id: order.id,
        currency: order.currency,
        value: major(refund.amount, order.currency),
        refund_id: refund.id,
        ...(order.voucher_code ? { coupon: text(order.voucher_code) } : {}),
        ...(refunded.length
          ? { items: itemsOf(refunded, eventName, order.currency, order.voucher_code) }
          : {}),
      };
      break;
    }
    case 'ticket_checked_in': {
      const ticket = await k
        .selectFrom('tickets')
        .select(['id', 'ticket_type_id'])
        .where('id', '=', subject.ticket_id ?? '')
        .executeTakeFirst();
      if (!ticket) return null;
      at = subject.occurred_at ?? new Date().toISOString();
      params = {
        ticket_id: ticket.id,
        ticket_type: ticket.ticket_type_id,
        ticket_type_name: text(items.find((i) => i.ticket_type_id === ticket.ticket_type_id)?.name ?? ''),
        event_name: text(eventName),
      };
      break;
    }
    default:
      at = subject.occurred_at ?? new Date().toISOString();
      params = { event_name: text(eventName) };
  }
  const when = Date.parse(at);
  return {
    client_id: analytics.client_id ?? pseudonymousClientId(order.id),
    ...(analytics.user_id ? { user_id: analytics.user_id } : {}),
    ...(Date.now() - when < BACKDATE_MS ? { timestamp_micros: when * 1000 } : {}),
    events: [{ name, params: { ...params, ...common } }],
  };
}

/** A sample purchase (for `tickets integrations ga test`): what a real one of this organization looks like. */
export function samplePurchase(currency = 'EUR'): Ga4Body {
  const lines = [line('General admission', 2, 2500, 1900)];
  return {
    client_id: pseudonymousClientId('ord_sample'),
    events: [
      {
        name: 'purchase',
        params: {
          transaction_id: 'ord_sample',
          currency,
          value: major(5000, currency),
          tax: major(totals(lines).tax, currency),
          items: [
            {
              item_id: 'tt_sample',
              item_name: 'General admission',
              item_category: 'Sample event',
              price: major(2500, currency),
              quantity: 2,
            },
          ],
          event_id: 'evt_sample',
          sales_channel: 'online',
          engagement_time_msec: 1,
        },
      },
    ],
  };
}
