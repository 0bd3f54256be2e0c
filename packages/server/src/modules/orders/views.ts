import type { Attendee, Order, StripeBalance, Ticket } from '@tickets/sdk';
import type { OrderItemRow, OrderRow, TicketRow } from '../../db/schema.js';

export function ticketView(t: TicketRow, typeName: string): Ticket {
  return {
    id: t.id,
    object: 'ticket',
    event_id: t.event_id,
    order_id: t.order_id,
    ticket_type_id: t.ticket_type_id,
    ticket_type_name: typeName,
    holder: { name: t.holder_name, email: t.holder_email },
    status: t.status,
    void_reason: t.void_reason,
    code: t.code,
    code_version: t.code_version,
    declined_at: t.declined_at ?? null,
    created_at: t.created_at,
    updated_at: t.updated_at,
  };
}

export function orderView(o: OrderRow, items: OrderItemRow[], tickets: TicketRow[]): Order {
  const money = (amount: number) => ({ amount, currency: o.currency });
  const names = new Map(items.map((i) => [i.ticket_type_id, i.name]));
  return {
    id: o.id,
    object: 'order',
    event_id: o.event_id,
    status: o.status,
    buyer: { name: o.buyer_name, email: o.buyer_email, phone: o.buyer_phone },
    payment_method: o.payment_method,
    items: items.map((i) => ({
      ticket_type_id: i.ticket_type_id,
      name: i.name,
      quantity: i.quantity,
      unit_price: money(i.unit_amount),
      original_unit_price:
        i.list_amount === null || i.list_amount === undefined ? null : money(i.list_amount),
      total: money(i.unit_amount * i.quantity),
      tax_rate: i.tax_rate,
    })),
    total: money(o.total_amount),
    refunded: money(o.refunded_amount),
    hold_expires_at: o.status === 'pending' ? o.hold_expires_at : null,
    paid_at: o.paid_at,
    flagged: o.flagged === 1,
    flag_reason: o.flag_reason,
    payment:
      o.payment_method === 'stripe'
        ? {
            provider: 'stripe',
            payment_intent_id: o.payment_intent_id,
            client_secret: o.status === 'pending' ? o.client_secret : null,
            checkout_url: o.status === 'pending' ? o.checkout_url : null,
          }
        : null,
    invoice_number: o.invoice_number ?? null,
    attribution:
      o.utm_source || o.utm_medium || o.utm_campaign || o.referrer
        ? {
            source: o.utm_source ?? null,
            medium: o.utm_medium ?? null,
            campaign: o.utm_campaign ?? null,
            referrer: o.referrer ?? null,
          }
        : null,
    voucher:
      o.voucher_id && o.voucher_code
        ? { id: o.voucher_id, code: o.voucher_code, discount: money(o.discount_amount ?? 0) }
        : null,
    tickets: tickets.map((t) => ticketView(t, names.get(t.ticket_type_id) ?? '')),
    stripe: stripeBalanceView(o),
    created_at: o.created_at,
    updated_at: o.updated_at,
  };
}

/** Stripe's figures of a payment or refund row, once read (null before, and without Stripe). */
export function stripeBalanceView(r: {
  balance_transaction_id?: string | null;
  stripe_fee?: number | null;
  stripe_net?: number | null;
  settlement_currency?: string | null;
  exchange_rate?: number | null;
}): StripeBalance | null {
  if (!r.balance_transaction_id) return null;
  return {
    balance_transaction: r.balance_transaction_id,
    fee: r.stripe_fee ?? 0,
    net: r.stripe_net ?? 0,
    currency: (r.settlement_currency ?? '').toUpperCase(),
    exchange_rate: r.exchange_rate === null || r.exchange_rate === undefined ? null : Number(r.exchange_rate),
  };
}

export function attendeeView(
  t: TicketRow & { ticket_type_name: string; buyer_name: string; buyer_email: string },
): Attendee {
  return {
    object: 'attendee',
    ticket_id: t.id,
    order_id: t.order_id,
    name: t.holder_name,
    email: t.holder_email,
    ticket_type_id: t.ticket_type_id,
    ticket_type_name: t.ticket_type_name,
    buyer_name: t.buyer_name,
    buyer_email: t.buyer_email,
    status: t.status,
    declined_at: t.declined_at ?? null,
  };
}
