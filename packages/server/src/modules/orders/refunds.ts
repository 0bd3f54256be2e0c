import type { Page, Refund, RefundInput, RefundListQuery, Ticket, TransferInput } from '@tickets/sdk';
import type { Kysely, Transaction } from 'kysely';
import type { z } from 'zod';
import { type Db, saleTransaction } from '../../db/database.js';
import type { Database, OrderRow, RefundRow } from '../../db/schema.js';
import type { Principal } from '../../http/app.js';
import { ApiError, conflict, notFound, validationFailed } from '../../http/errors.js';
import { newestFirst, toPage } from '../../http/pagination.js';
import { newId } from '../../ids.js';
import { type PaymentProvider, PaymentProviderError } from '../../integrations/stripe.js';
import { nowIso } from '../../time.js';
import { actorId, recordAudit } from '../audit/log.js';
import { linesOf, restoreSeats } from '../inventory/inventory.js';
import { creditNoteNumber, issueCreditNote } from '../invoices/ledger.js';
import { formatMoney } from '../invoices/pdf.js';
import { notifyQueued, queueMessages } from '../messaging/outbox.js';
import { paymentRules } from '../payments/methods.js';
import { releaseRedemption } from '../vouchers/pricing.js';
import { queueWebhook } from '../webhooks/queue.js';
import { EventKeys } from './keys.js';
import type { Orders } from './service.js';
import { queueRefundSignals } from './signals.js';
import { stripeBalanceView, ticketView } from './views.js';

type Trx = Transaction<Database>;
type RefundRequest = { amount?: number; reason?: string; return_inventory: boolean } & Omit<
  RefundInput,
  'return_inventory'
>;

/**
 * The order's discount code gets its use back, when the organizer asks and the whole order is refunded
 * — before the tickets' seats go back: codes before inventory, as the sale takes them.
 */
async function giveCodeBack(
  trx: Trx,
  orderId: string,
  after: Parameters<typeof isRefundedInFull>[0],
  input: RefundRequest,
): Promise<void> {
  if (!input.release_voucher) return;
  if (!isRefundedInFull(after))
    throw validationFailed([
      {
        path: 'release_voucher',
        message: 'gives a code its use back only when the whole order is refunded',
        code: 'order_not_fully_refunded',
      },
    ]);
  await releaseRedemption(trx, orderId);
}

/** The statuses of an order that has been paid and has money left to refund. */
export const REFUNDABLE = ['paid', 'partially_refunded'] as const;

export const actorOf = actorId;

/**
 * Refunds and transfers. Money is guarded by one conditional write per refund — the order's
 * `refunded_amount + amount <= total_amount` — so concurrent refunds can never together exceed what
 * was paid; a ticket is voided by a write conditional on it still being valid, so it is voided (and
 * its inventory returned) once.
 */
export class Refunds {
  constructor(
    private readonly db: Db,
    private readonly orders: Orders,
    private readonly payments: PaymentProvider | null = null,
  ) {}

  private get k() {
    return this.db.kysely;
  }

  private async order(orgId: string, id: string): Promise<OrderRow> {
    const row = await this.k
      .selectFrom('orders')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) throw notFound('order');
    return row;
  }

  /** Refunds, newest first; of an event's orders, of one order, by status. */
  async list(orgId: string, query: z.output<typeof RefundListQuery>): Promise<Page<Refund>> {
    const { limit, before } = newestFirst(query);
    const rows = await this.k
      .selectFrom('refunds')
      .selectAll('refunds')
      .where('refunds.org_id', '=', orgId)
      .$if(query.order !== undefined, (q) => q.where('refunds.order_id', '=', query.order!))
      .$if(query.status !== undefined, (q) => q.where('refunds.status', '=', query.status!))
      .$if(query.event !== undefined, (q) =>
        q.where((eb) =>
          eb(
            'refunds.order_id',
            'in',
            eb.selectFrom('orders').select('orders.id').where('orders.event_id', '=', query.event!),
          ),
        ),
      )
      .$if(before !== null, (q) => q.where('refunds.id', '<', before as string))
      .orderBy('refunds.id', 'desc')
      .limit(limit + 1)
      .execute();
    const views = await refundViews(this.k, rows.slice(0, limit));
    return toPage(
      rows,
      limit,
      (r) => [r.id],
      (r) => views.get(r.id)!,
    );
  }

  async get(orgId: string, id: string): Promise<Refund> {
    const row = await this.k
      .selectFrom('refunds')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) throw notFound('refund');
    return (await refundViews(this.k, [row])).get(row.id)!;
  }

  async refundOrder(principal: Principal, orderId: string, input: RefundRequest): Promise<Refund> {
    const order = await this.order(principal.orgId, orderId);
    assertRefundable(order);
    const remaining = order.total_amount - order.refunded_amount;
    const amount = input.amount ?? remaining;
    assertAmount(amount, remaining, order.currency);
    const refund = await saleTransaction(this.db, async (trx) => {
      const after = await takeRefund(trx, order, amount);
      await giveCodeBack(trx, order.id, after, input);
      // Refunding everything that is left cancels the order's tickets; a smaller amount is a goodwill
      // partial refund and the tickets stay valid. Decided on the row this transaction just wrote, not
      // on the read above: a refund racing this one has either committed (and is in `after`) or waits.
      const voided = isRefundedInFull(after)
        ? await voidTickets(trx, order.id, null, input.return_inventory)
        : [];
      return this.record(trx, principal, order, null, amount, input, voided);
    });
    return this.settle(order, refund);
  }

  /**
   * Online payments are refunded through the provider after the refund is recorded (and the money
   * reserved) here. A refusal gives the money back to the order's refundable amount; an outage leaves
   * the refund pending for the sweeper to send again under the same idempotency key.
   */
  private async settle(order: OrderRow, refund: Refund): Promise<Refund> {
    if (refund.provider !== 'stripe' || !order.payment_intent_id) return refund;
    const status = await this.sendToProvider({
      refundId: refund.id,
      orderId: order.id,
      paymentIntentId: order.payment_intent_id,
      amount: refund.amount.amount,
    });
    const after = await this.k
      .selectFrom('orders')
      .select('status')
      .where('id', '=', order.id)
      .executeTakeFirstOrThrow();
    const credit_note_number = await creditNoteNumber(this.k, refund.id);
    return { ...refund, status, order_status: after.status, credit_note_number };
  }

  /** Sends a recorded refund to Stripe; returns the refund's status afterwards. */
  async sendToProvider(r: { refundId: string; orderId: string; paymentIntentId: string; amount: number }) {
    if (!this.payments) return 'pending' as const;
    try {
      const sent = await this.payments.refund(r);
      await this.k
        .updateTable('refunds')
        .set({ provider_ref: sent.id, updated_at: nowIso() })
        .where('id', '=', r.refundId)
        .execute();
      return await saleTransaction(this.db, async (trx) => {
        await this.applyProviderStatus(trx, sent.id, r.refundId, sent.status);
        const row = await trx
          .selectFrom('refunds')
          .select('status')
          .where('id', '=', r.refundId)
          .executeTakeFirstOrThrow();
        return row.status;
      });
    } catch (err) {
      if (err instanceof PaymentProviderError && !err.retryable) {
        await this.k
          .transaction()
          .execute((trx) => this.applyProviderStatus(trx, null, r.refundId, 'failed', err.detail));
        return 'failed' as const;
      }
      return 'pending' as const;
    }
  }

  /** Sends again the online refunds whose provider call never got an answer. */
  async retryUnsent(olderThanMs = 30_000): Promise<number> {
    const cutoff = new Date(Date.now() - olderThanMs).toISOString();
    const due = await this.k
      .selectFrom('refunds')
      .innerJoin('orders', 'orders.id', 'refunds.order_id')
      .select(['refunds.id', 'refunds.order_id', 'refunds.amount', 'orders.payment_intent_id'])
      .where('refunds.provider', '=', 'stripe')
      .where('refunds.status', '=', 'pending')
      .where('refunds.provider_ref', 'is', null)
      .where('refunds.created_at', '<', cutoff)
      .limit(100)
      .execute();
    for (const r of due)
      if (r.payment_intent_id)
        await this.sendToProvider({
          refundId: r.id,
          orderId: r.order_id,
          paymentIntentId: r.payment_intent_id,
          amount: r.amount,
        });
    return due.length;
  }

  /**
   * Applies a refund status from the provider (its answer, or a webhook). A pending refund succeeds or
   * fails; a succeeded one can still fail (Stripe reports a refund that bounced at the bank later);
   * nothing else changes, so duplicates and late events are harmless. A failed refund puts its amount
   * back into what may still be refunded and flags the order; voided tickets stay void. A refund we
   * never made (one made in the Stripe dashboard) flags its order, so the books can be put right.
   */
  async applyProviderStatus(
    trx: Trx,
    providerRef: string | null,
    refundId: string | undefined,
    status: string,
    why?: string,
    outside?: { paymentIntentId: string | null; amount: number; currency: string },
  ): Promise<string> {
    const refund = await trx
      .selectFrom('refunds')
      .selectAll()
      .$if(refundId !== undefined, (q) => q.where('id', '=', refundId!))
      .$if(refundId === undefined, (q) => q.where('provider_ref', '=', providerRef ?? ''))
      .executeTakeFirst();
    if (!refund) {
      if (!outside?.paymentIntentId || status === 'failed' || status === 'canceled')
        return 'ignored: unknown refund';
      const flagged = await trx
        .updateTable('orders')
        .set({
          flagged: 1,
          flag_reason: `refund ${providerRef} of ${outside.amount} ${outside.currency.toUpperCase()} was made outside tickets (in Stripe); record it here with a refund so tickets and credit notes match`,
          updated_at: nowIso(),
        })
        .where('payment_intent_id', '=', outside.paymentIntentId)
        .executeTakeFirst();
      return Number(flagged.numUpdatedRows)
        ? `flagged: refund ${providerRef} made outside tickets`
        : 'ignored: unknown refund';
    }
    const next =
      status === 'succeeded' ? 'succeeded' : status === 'failed' || status === 'canceled' ? 'failed' : null;
    if (!next) return `ignored: refund ${refund.id} still ${status}`;
    const res = await trx
      .updateTable('refunds')
      .set({ status: next, provider_ref: providerRef ?? refund.provider_ref, updated_at: nowIso() })
      .where('id', '=', refund.id)
      .where('status', 'in', next === 'failed' ? ['pending', 'succeeded'] : ['pending'])
      .executeTakeFirst();
    // A credit note issued for a refund that failed afterwards stands (numbers never change): the flag says so.
    if (next === 'failed' && refund.status === 'succeeded')
      why = `${why ? `${why}; ` : ''}it had succeeded before, and its credit note stands: correct it by hand`;
    if (Number(res.numUpdatedRows) !== 1) return `ignored: refund ${refund.id} already ${refund.status}`;
    if (next === 'succeeded') {
      await issueCreditNote(trx, refund);
      await queueRefundSignals(trx, refund);
    }
    if (next === 'failed') {
      const order = await trx
        .selectFrom('orders')
        .select('paid_at')
        .where('id', '=', refund.order_id)
        .executeTakeFirstOrThrow();
      if (order.paid_at === null) {
        // The automatic refund of a payment that came too late: there are no tickets to give back
        // and the money is still with the organizer, who must return it by hand.
        await trx
          .updateTable('orders')
          .set({
            flagged: 1,
            flag_reason: `automatic refund ${refund.id} failed${why ? `: ${why}` : ''}; return the money by hand`,
            updated_at: nowIso(),
          })
          .where('id', '=', refund.order_id)
          .execute();
        return `refund ${refund.id} failed`;
      }
      await trx
        .updateTable('orders')
        .set((eb) => ({
          refunded_amount: eb('refunded_amount', '-', refund.amount),
          status: 'partially_refunded',
          flagged: 1,
          flag_reason: `refund ${refund.id} failed${why ? `: ${why}` : ''}`,
          updated_at: nowIso(),
        }))
        .where('id', '=', refund.order_id)
        .execute();
      // Nothing refunded at all any more: the order is simply paid again.
      await trx
        .updateTable('orders')
        .set({ status: 'paid' })
        .where('id', '=', refund.order_id)
        .where('refunded_amount', '=', 0)
        .execute();
    }
    return `refund ${refund.id} ${next}`;
  }

  /** A payment that arrived too late for any ticket: record its full refund, flag the order. */
  async recordAutomaticRefund(
    trx: Trx,
    order: OrderRow,
    paymentIntentId: string,
    reason: string,
  ): Promise<string> {
    const now = nowIso();
    await trx
      .updateTable('orders')
      .set({
        status: 'refunded',
        refunded_amount: order.total_amount,
        payment_intent_id: paymentIntentId,
        flagged: 1,
        flag_reason: reason,
        updated_at: now,
      })
      .where('id', '=', order.id)
      .execute();
    const row: RefundRow = {
      id: newId('refund'),
      org_id: order.org_id,
      order_id: order.id,
      ticket_id: null,
      amount: order.total_amount,
      currency: order.currency,
      reason,
      status: 'pending',
      provider: 'stripe',
      provider_ref: null,
      returned_inventory: 0,
      created_by: null,
      created_at: now,
      updated_at: now,
    };
    await trx.insertInto('refunds').values(row).execute();
    await recordAudit(trx, {
      orgId: order.org_id,
      by: null,
      action: 'refund.automatic',
      subject: order.id,
      data: { refund: row.id, amount: row.amount, currency: row.currency, reason },
    });
    return row.id;
  }

  async refundTicket(principal: Principal, ticketId: string, input: RefundRequest): Promise<Refund> {
    const ticket = await this.k
      .selectFrom('tickets')
      .selectAll()
      .where('org_id', '=', principal.orgId)
      .where('id', '=', ticketId)
      .executeTakeFirst();
    if (!ticket) throw notFound('ticket');
    if (ticket.status !== 'valid')
      throw conflict('ticket_void', `This ticket is already void (${ticket.void_reason}).`);
    const order = await this.order(principal.orgId, ticket.order_id);
    assertRefundable(order);
    const item = await this.k
      .selectFrom('order_items')
      .select('unit_amount')
      .where('order_id', '=', order.id)
      .where('ticket_type_id', '=', ticket.ticket_type_id)
      .executeTakeFirstOrThrow();
    const remaining = order.total_amount - order.refunded_amount;
    // One ticket's refund is at most what that ticket cost (and what is left of the order).
    const ticketRemaining = Math.min(item.unit_amount, remaining);
    const amount = input.amount ?? ticketRemaining;
    assertAmount(amount, ticketRemaining, order.currency);
    const refund = await saleTransaction(this.db, async (trx) => {
      const after = await takeRefund(trx, order, amount);
      await giveCodeBack(trx, order.id, after, input);
      const voided = await voidTickets(trx, order.id, ticket.id, input.return_inventory);
      if (voided.length === 0) throw conflict('ticket_void', 'This ticket was voided a moment ago.');
      // This refund may be the one that completes the order (other refunds of it came first): then
      // no ticket of it stays valid.
      if (isRefundedInFull(after))
        voided.push(...(await voidTickets(trx, order.id, null, input.return_inventory)));
      return this.record(trx, principal, order, ticket.id, amount, input, voided);
    });
    return this.settle(order, refund);
  }

  private async record(
    trx: Trx,
    principal: Principal,
    order: OrderRow,
    ticketId: string | null,
    amount: number,
    input: RefundRequest,
    voided: string[],
  ): Promise<Refund> {
    const now = nowIso();
    // Fully refunded when all the money is back, or (for free orders) when no ticket is left.
    const after = await trx
      .selectFrom('orders')
      .select(['refunded_amount', 'total_amount'])
      .where('id', '=', order.id)
      .executeTakeFirstOrThrow();
    const live = await trx
      .selectFrom('tickets')
      .select('id')
      .where('order_id', '=', order.id)
      .where('status', '=', 'valid')
      .executeTakeFirst();
    const status = (after.total_amount > 0 ? after.refunded_amount >= after.total_amount : !live)
      ? 'refunded'
      : 'partially_refunded';
    await trx.updateTable('orders').set({ status, updated_at: now }).where('id', '=', order.id).execute();
    const { refundsThrough } = paymentRules(order.payment_method);
    const row: RefundRow = {
      id: newId('refund'),
      org_id: order.org_id,
      order_id: order.id,
      ticket_id: ticketId,
      amount,
      currency: order.currency,
      reason: input.reason ?? null,
      // Online payments are confirmed by the provider; cash and free orders are settled here.
      status: refundsThrough === 'manual' ? 'succeeded' : 'pending',
      provider: refundsThrough,
      provider_ref: null,
      returned_inventory: input.return_inventory ? 1 : 0,
      created_by: actorOf(principal),
      created_at: now,
      updated_at: now,
    };
    await trx.insertInto('refunds').values(row).execute();
    await issueCreditNote(trx, row);
    // Sent once the refund has succeeded (an online one waits for the provider's word).
    await queueMessages(trx, order.org_id, [
      {
        template: 'refund_confirmation',
        channel: 'email',
        recipient: order.buyer_email,
        orderId: order.id,
        eventId: order.event_id,
        ticketId,
        payload: { refund_id: row.id },
      },
    ]);
    // Like the buyer's message, organizers hear of a refund once the money is on its way back: an
    // online refund when its provider says it succeeded (applyProviderStatus), not while it may still fail.
    if (row.status === 'succeeded') await queueRefundSignals(trx, row);
    await recordAudit(trx, {
      orgId: order.org_id,
      by: principal,
      action: 'refund.created',
      subject: ticketId ?? order.id,
      data: { refund: row.id, order: order.id, amount, currency: order.currency, voided },
      before: { refunded_amount: order.refunded_amount },
      after: { refunded_amount: order.refunded_amount + amount },
    });
    return {
      id: row.id,
      object: 'refund',
      stripe: null,
      order_id: order.id,
      ticket_id: ticketId,
      amount: { amount, currency: order.currency },
      reason: row.reason,
      status: row.status,
      provider: row.provider,
      returned_inventory: input.return_inventory,
      voided_tickets: voided,
      order_status: status,
      credit_note_number: await creditNoteNumber(trx, row.id),
      created_at: now,
    };
  }

  /** Gives a ticket to someone else; the code version goes up, so the old code is refused. */
  async transfer(
    principal: Principal,
    ticketId: string,
    to: TransferInput & { email: string },
  ): Promise<Ticket> {
    const ticket = await this.k
      .selectFrom('tickets')
      .innerJoin('events', 'events.id', 'tickets.event_id')
      .innerJoin('orders', 'orders.id', 'tickets.order_id')
      .innerJoin('ticket_types', 'ticket_types.id', 'tickets.ticket_type_id')
      .selectAll('tickets')
      .select([
        'events.transferable',
        'events.status as event_status',
        'orders.status as order_status',
        'ticket_types.name as type_name',
      ])
      .where('tickets.org_id', '=', principal.orgId)
      .where('tickets.id', '=', ticketId)
      .executeTakeFirst();
    if (!ticket) throw notFound('ticket');
    if (ticket.transferable !== 1)
      throw conflict('transfer_not_allowed', 'This event does not allow ticket transfers.');
    if (ticket.status !== 'valid')
      throw conflict('ticket_void', `A void ticket (${ticket.void_reason}) cannot be transferred.`);
    if (ticket.event_status === 'cancelled' || ticket.event_status === 'completed')
      throw conflict('transfer_not_allowed', `The event is ${ticket.event_status}.`);
    if (!(REFUNDABLE as readonly string[]).includes(ticket.order_status))
      throw conflict('order_not_paid', 'Only tickets of paid orders can be transferred.');
    const key = await this.orders.keys.forEvent(ticket.event_id);
    const version = ticket.code_version + 1;
    const code = EventKeys.sign(key, {
      ticketId: ticket.id,
      eventId: ticket.event_id,
      ticketTypeId: ticket.ticket_type_id,
      version,
    });
    const now = nowIso();
    const moved = await saleTransaction(this.db, async (trx) => {
      // Conditional on the version we read: two transfers at once can't both issue a code.
      const res = await trx
        .updateTable('tickets')
        .set({ holder_name: to.name, holder_email: to.email, code_version: version, code, updated_at: now })
        .where('id', '=', ticket.id)
        .where('status', '=', 'valid')
        .where('code_version', '=', ticket.code_version)
        .returningAll()
        .executeTakeFirst();
      if (!res)
        throw conflict('ticket_changed', 'The ticket changed while transferring it; look at it again.');
      await recordAudit(trx, {
        orgId: principal.orgId,
        by: principal,
        action: 'ticket.transferred',
        subject: ticket.id,
        before: { holder: { name: ticket.holder_name, email: ticket.holder_email } },
        after: { holder: to },
        data: { code_version: version },
      });
      // The new holder gets the ticket with its new code.
      await queueMessages(trx, principal.orgId, [
        {
          template: 'transfer_notice',
          channel: 'email',
          recipient: to.email,
          ticketId: ticket.id,
          orderId: ticket.order_id,
          eventId: ticket.event_id,
          payload: { from_name: ticket.holder_name },
        },
      ]);
      await queueWebhook(trx, principal.orgId, 'ticket.transferred', { ticket_id: ticket.id });
      return res;
    });
    notifyQueued(this.db);
    // The ticket as this transfer left it (a transfer right after it must not change this answer).
    return ticketView(moved, ticket.type_name);
  }
}

function assertRefundable(order: OrderRow): void {
  if (!(REFUNDABLE as readonly string[]).includes(order.status))
    throw conflict('order_not_refundable', `Only paid orders can be refunded; this one is ${order.status}.`);
}

function assertAmount(amount: number, remaining: number, currency: string): void {
  // A conflict with what is left (which other refunds change), not a malformed request: 409, like
  // the same refusal when a concurrent refund wins the race.
  if (amount > remaining)
    throw new ApiError(
      409,
      'refund_exceeds_paid',
      // People read the detail (in the currency, as on the invoice); programs read the field's limit.
      `Only ${formatMoney(remaining, currency)} is left to refund.`,
      [
        {
          path: 'amount',
          message: `must not exceed ${remaining} (${formatMoney(remaining, currency)})`,
          code: 'refund_exceeds_paid',
        },
      ],
    );
  if (amount === 0 && remaining > 0)
    throw validationFailed([{ path: 'amount', message: 'must be more than 0', code: 'too_small' }]);
}

/**
 * The conditional write that keeps refunds within what was paid. Returns the order's amounts as this
 * write left them: every decision about the refund's effect is taken from them.
 */
async function takeRefund(
  trx: Trx,
  order: OrderRow,
  amount: number,
): Promise<Pick<OrderRow, 'refunded_amount' | 'total_amount'>> {
  const after = await trx
    .updateTable('orders')
    .set((eb) => ({ refunded_amount: eb('refunded_amount', '+', amount), updated_at: nowIso() }))
    .where('id', '=', order.id)
    .where('status', 'in', REFUNDABLE)
    .where((eb) => eb(eb('refunded_amount', '+', amount), '<=', eb.ref('total_amount')))
    .returning(['refunded_amount', 'total_amount'])
    .executeTakeFirst();
  if (!after)
    throw new ApiError(
      409,
      'refund_exceeds_paid',
      'Another refund of this order went through first; what is left to refund is less than this amount.',
    );
  return after;
}

/** All the money is back (a free order: its refund, of nothing, is a refund in full). */
const isRefundedInFull = (o: Pick<OrderRow, 'refunded_amount' | 'total_amount'>) =>
  o.refunded_amount >= o.total_amount;

/**
 * Voids the order's valid tickets (or the one named) and, if asked, puts their seats back on sale;
 * otherwise the seats stay counted as sold (`seat_kept`). Conditional on `valid`, so a ticket is voided,
 * and its seat returned, once however many refunds race. Returns the ids voided.
 */
async function voidTickets(
  trx: Trx,
  orderId: string,
  ticketId: string | null,
  returnInventory: boolean,
): Promise<string[]> {
  const rows = await trx
    .updateTable('tickets')
    .set({
      status: 'void',
      void_reason: 'refunded',
      seat_kept: returnInventory ? 0 : 1,
      updated_at: nowIso(),
    })
    .where('order_id', '=', orderId)
    .$if(ticketId !== null, (q) => q.where('id', '=', ticketId!))
    .where('status', '=', 'valid')
    .returning(['id', 'ticket_type_id', 'event_id'])
    .execute();
  if (returnInventory && rows.length) await restoreSeats(trx, rows[0]!.event_id, linesOf(rows));
  return rows.map((r) => r.id);
}

/**
 * Refunds as the API shows them, read back: the tickets each voided (from its audit entry, written in
 * the refund's transaction), its credit note, and its order's status now.
 */
async function refundViews(k: Kysely<Database>, rows: RefundRow[]): Promise<Map<string, Refund>> {
  const views = new Map<string, Refund>();
  if (rows.length === 0) return views;
  const [orders, notes, audits] = await Promise.all([
    k
      .selectFrom('orders')
      .select(['id', 'status'])
      .where('id', 'in', [...new Set(rows.map((r) => r.order_id))])
      .execute(),
    k
      .selectFrom('invoices')
      .select(['refund_id', 'number'])
      .where(
        'refund_id',
        'in',
        rows.map((r) => r.id),
      )
      .execute(),
    k
      .selectFrom('audit_log')
      .select(['data'])
      .where('action', '=', 'refund.created')
      .where('org_id', '=', rows[0]!.org_id)
      .where('subject_id', 'in', [...new Set(rows.map((r) => r.ticket_id ?? r.order_id))])
      .execute(),
  ]);
  const statusOf = new Map(orders.map((o) => [o.id, o.status]));
  const noteOf = new Map(notes.map((n) => [n.refund_id, n.number]));
  const voidedBy = new Map<string, string[]>();
  for (const a of audits) {
    const data = JSON.parse(a.data) as { refund?: string; voided?: string[] };
    if (data.refund) voidedBy.set(data.refund, data.voided ?? []);
  }
  for (const r of rows)
    views.set(r.id, {
      id: r.id,
      object: 'refund',
      stripe: stripeBalanceView(r),
      order_id: r.order_id,
      ticket_id: r.ticket_id,
      amount: { amount: r.amount, currency: r.currency },
      reason: r.reason,
      status: r.status,
      provider: r.provider,
      returned_inventory: r.returned_inventory === 1,
      voided_tickets: voidedBy.get(r.id) ?? [],
      order_status: statusOf.get(r.order_id)!,
      credit_note_number: noteOf.get(r.id) ?? null,
      created_at: r.created_at,
    });
  return views;
}
