import type { Order, OrderListQuery, Page, PurchaseInput } from '@tickets/sdk';
import type { Kysely } from 'kysely';
import type { z } from 'zod';
import { type Db, groupedWrites } from '../../db/database.js';
import type {
  Database,
  EventRow,
  OrderItemRow,
  OrderRow,
  TicketRow,
  TicketTypeRow,
} from '../../db/schema.js';
import { byDialect, locksOf } from '../../db/store.js';
import { containsAny } from '../../db/text-search.js';
import type { Principal } from '../../http/app.js';
import { ApiError, conflict, forbidden, notFound, validationFailed } from '../../http/errors.js';
import { afterCommit } from '../../http/idempotency.js';
import { newestFirst, toPage } from '../../http/pagination.js';
import { newId } from '../../ids.js';
import type { PaymentProvider } from '../../integrations/stripe.js';
import { channelOf, ordersPlaced, ticketsSold } from '../../observability/metrics.js';
import { addSeconds, nowIso } from '../../time.js';
import { isPublishable } from '../accounts/permissions.js';
import { eventNotOnSale, windowReason } from '../events/service.js';
import { DEFAULT_HOLD_MINUTES } from '../events/views.js';
import { takeSeats } from '../inventory/inventory.js';
import { clearInvoiceFailure, recordInvoiceFailure } from '../invoices/failures.js';
import { invoiceOrder } from '../invoices/ledger.js';
import { InvoiceQueue } from '../invoices/queue.js';
import { notifyQueued, orderPaidMessages, outboxRows } from '../messaging/outbox.js';
import { paymentRules } from '../payments/methods.js';
import {
  priceLines,
  redeemWithSeats,
  typesOf,
  type VoucherRow,
  voucherProblem,
  voucherRefused,
} from '../vouchers/pricing.js';
import { Holds } from './holds.js';
import { EventKeys } from './keys.js';
import {
  type Planner,
  REASON_TEXT,
  readSaleAtOnce,
  readSaleHere,
  type Sale,
  type SaleEvent,
  type SaleType,
  SIGNED_UNREAD,
  sellAtOnce,
  sellOnSqlite,
  ticketsHeldBy,
  viewOf,
} from './purchase-store.js';
import { checkoutSignals, paidOrderSignals } from './signals.js';
import { buildTickets, Tickets } from './tickets.js';
import { orderView } from './views.js';

type Purchase = z.output<typeof PurchaseInput>;
type OrderQuery = z.output<typeof OrderListQuery>;
type Payment = Awaited<ReturnType<PaymentProvider['createPayment']>>;

export class Orders {
  readonly keys: EventKeys;
  readonly holds: Holds;
  readonly tickets: Tickets;
  private readonly invoices: InvoiceQueue;
  private readonly write: ReturnType<typeof groupedWrites>;

  constructor(
    private readonly db: Db,
    readonly payments: PaymentProvider | null = null,
  ) {
    this.keys = new EventKeys(db);
    this.holds = new Holds(db);
    this.tickets = new Tickets(db, this.keys);
    this.invoices = new InvoiceQueue(db);
    this.write = groupedWrites(db);
  }

  private get k() {
    return this.db.kysely;
  }

  /**
   * Sells tickets. Inventory is taken by conditional increments inside one transaction — each
   * ticket type's and the event's `sold + held + n <= capacity` — so concurrent buyers, in one process
   * or many, can never together exceed a capacity: the losing write matches no row and the order
   * is refused as sold out.
   */
  async purchase(principal: Principal, input: Purchase): Promise<Order> {
    const now = nowIso();
    const voucher = input.voucher ? await this.voucherFor(principal.orgId, input, now) : null;
    if (isPublishable(principal)) await this.storefrontOnly(principal.orgId, input, voucher);
    const sell = byDialect(this.db, { sqlite: this.purchaseOnSqlite, postgres: this.purchaseOnPostgres });
    const order = await sell.call(this, principal, input, now, voucher);
    ordersPlaced.inc({ payment_method: order.payment_method, status: order.status });
    if (order.status === 'paid')
      ticketsSold.inc({ channel: channelOf(order.payment_method) }, order.tickets.length);
    return order;
  }

  /**
   * What a publishable key (anyone with the web page) may buy: only an order that payment completes.
   * Box-office sales would hand out tickets unpaid, and so would a free order (refused in `plan`, where
   * the total is known: whoever holds the page could take every free ticket). Hidden types are not for
   * sale to the public: to the key they do not exist.
   */
  /**
   * The code a purchase gives, usable at its event now (422 why not). Whether a use is left is decided
   * by the redemption's conditional write in the selling transaction, not here.
   */
  private async voucherFor(orgId: string, input: Purchase, now: string): Promise<VoucherRow> {
    const v = await this.k
      .selectFrom('vouchers')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('code', '=', input.voucher!)
      .executeTakeFirst();
    if (!v) throw voucherRefused({ code: 'voucher_not_found', detail: `No such code: ${input.voucher}.` });
    const problem = voucherProblem(v, input.event, now);
    if (problem) throw voucherRefused(problem);
    return v;
  }

  private async storefrontOnly(orgId: string, input: Purchase, voucher: VoucherRow | null): Promise<void> {
    if (input.payment_method !== 'stripe')
      throw forbidden(
        'A publishable key can only start an online payment: use payment_method stripe. Box-office sales need a secret key.',
        'payment_method_not_allowed',
      );
    const hidden = await this.k
      .selectFrom('ticket_types')
      .select('id')
      .where('org_id', '=', orgId)
      .where(
        'id',
        'in',
        input.items.map((i) => i.ticket_type),
      )
      .where('hidden', '=', 1)
      .execute();
    // A code may unlock hidden types (those it is valid for).
    const unlocked = (typeId: string) =>
      voucher !== null && voucher.unlocks_hidden === 1 && (typesOf(voucher)?.includes(typeId) ?? true);
    const index = input.items.findIndex(
      (i) => hidden.some((h) => h.id === i.ticket_type) && !unlocked(i.ticket_type),
    );
    if (index !== -1)
      throw validationFailed([
        {
          path: `items.${index}.ticket_type`,
          message: 'is not a ticket type of this event',
          code: 'unknown_ticket_type',
        },
      ]);
  }

  /**
   * A purchase on Postgres: the rows read and the order planned first, then (for one ticket type) the
   * whole sale as one statement (see sellAtOnce), so buyers queue on the counters' rows for one round trip.
   */
  private async purchaseOnPostgres(
    principal: Principal,
    input: Purchase,
    now: string,
    voucher: VoucherRow | null,
  ): Promise<Order> {
    const [event, types] = await this.readSale(principal.orgId, input);
    const { order, items, wanted, pending, column, discount } = this.plan(
      principal,
      input,
      event,
      types,
      now,
      newId('order'),
      voucher,
    );
    const key = await this.keys.forEvent(order.event_id);
    // Signed before the transaction: it is the costly part, and needs no lock.
    const tickets = pending ? [] : await buildTickets(order, items, key);
    const count = order.ticket_count;

    // The inventory rows (the ticket types' and the event's) are the one place all buyers of an event
    // queue, so they are locked last: everything else is written first, and the lock is held only
    // for the few statements before commit (for one ticket type, the whole sale is one statement: see
    // sellAtOnce). The invoice number, another queue (per organization), is taken after this, in
    // groups (see InvoiceQueue).
    // The buyer's confirmation with the tickets, written with them: it exists exactly when the sale does.
    const messages = pending
      ? await checkoutSignals(this.k, order)
      : [
          ...outboxRows(
            principal.orgId,
            orderPaidMessages(
              order,
              tickets.map((t) => t.id),
            ),
          ),
          ...(await paidOrderSignals(this.k, order)),
        ];
    const slots = event!.slots;
    let sold = false;
    // A code's use is another conditional write: the general path, in one transaction with the seats.
    if (wanted.length === 1 && event!.max_per_buyer === null && !voucher) {
      const short = await sellAtOnce(this.k, order, items, tickets, wanted[0]!, column, messages, slots);
      // With slots, no slot with room at once: the last tickets, split over slots, or all busy.
      if (short && slots === 1) throw conflict('sold_out', short);
      sold = short === null;
    }
    if (!sold) {
      const limit = event!.max_per_buyer;
      await this.write(async (trx) => {
        await trx.insertInto('orders').values(order).execute();
        await trx.insertInto('order_items').values(items).execute();
        if (tickets.length) await trx.insertInto('tickets').values(tickets).execute();
        if (messages.length) await trx.insertInto('outbox').values(messages).execute();
        // A code first (its use, and the tickets it holds for this buyer), then the seats: codes before
        // inventory everywhere (holds ending, refunds), so two transactions never wait on each other.
        const seats = voucher ? await redeemWithSeats(trx, voucher, order, discount, wanted, column) : wanted;
        const short = await takeSeats(trx, order.event_id, seats, column);
        if (short) throw conflict('sold_out', short);
        // Checked once the event row is locked by the write above, so a buyer's parallel orders queue
        // here and each sees the ones before it (and this one's own tickets).
        if (limit !== null) {
          // With slots the event's row is not locked (shared): the buyer's orders queue on a lock of their own.
          if (slots > 1) await locksOf(trx).byKey(trx, `buyer ${order.event_id} ${order.buyer_email}`);
          const held = await ticketsHeldBy(trx, order.event_id, order.buyer_email);
          if (held > limit)
            throw conflict(
              'buyer_limit_reached',
              `One buyer may hold at most ${limit} tickets for this event; ${order.buyer_email} has ${held - count}.`,
            );
        }
      });
    }
    // Sold: what follows must not sell again if it fails (see afterCommit).
    if (pending) return this.awaitPayment(principal.orgId, order, event!.name, input.checkout);
    notifyQueued(this.db);
    // Paid: the answer is what was written (read back it would be the same), with its invoice number.
    if (order.total_amount === 0) return viewOf({ order, items }, tickets, null);
    return afterCommit(async () => {
      const issued = await this.invoices.issue(order.org_id, { order, items, event: event! });
      return viewOf({ order, items }, tickets, issued.number);
    });
  }

  /**
   * A purchase on SQLite: one unit of the grouped writes does all of it (see sellOnSqlite). A small paid
   * order of an event whose key this process holds reads nothing before: its tickets are signed from
   * the request (ids, types, holders), and the rows come back from the counters' updates. Others (the
   * event's first sale here, online payments, large orders, whose signing should not be spent on a
   * request that may be refused) read and check the rows first, as on Postgres.
   */
  private async purchaseOnSqlite(
    principal: Principal,
    input: Purchase,
    now: string,
    voucher: VoucherRow | null,
  ): Promise<Order> {
    const orderId = newId('order');
    const count = input.items.reduce((n, i) => n + i.quantity, 0);
    const plan: Planner = (event, types) => this.plan(principal, input, event, types, now, orderId, voucher);
    let key = this.keys.cached(input.event);
    let how: Parameters<typeof sellOnSqlite>[1];
    let tickets: TicketRow[];
    // Unread only at list prices: a code's prices are planned from the rows read first.
    if (
      key &&
      paymentRules(input.payment_method ?? 'free').paidAtOnce &&
      count <= SIGNED_UNREAD &&
      !voucher
    ) {
      tickets = await buildTickets(
        {
          id: orderId,
          org_id: principal.orgId,
          event_id: input.event,
          buyer_name: input.buyer.name,
          buyer_email: input.buyer.email,
        },
        input.items
          .map((i) => ({
            ticket_type_id: i.ticket_type,
            quantity: i.quantity,
            holders: i.holders?.length ? JSON.stringify(i.holders) : null,
          }))
          .sort((a, b) => (a.ticket_type_id < b.ticket_type_id ? -1 : 1)),
        key,
        now,
      );
      how = { plan, input, orgId: principal.orgId };
    } else {
      const [event, types] = await this.readSale(principal.orgId, input);
      const sale = plan(event, types);
      key ??= await this.keys.forEvent(input.event);
      tickets = sale.pending ? [] : await buildTickets(sale.order, sale.items, key, now);
      how = { sale, event: event! };
    }
    const sold = await this.write((trx) => sellOnSqlite(trx, how, tickets));
    if (sold.sale.pending)
      return this.awaitPayment(principal.orgId, sold.sale.order, sold.event.name, input.checkout);
    notifyQueued(this.db);
    return viewOf(sold.sale, tickets, sold.invoiceNumber);
  }

  /**
   * A held order's payment, started once its hold has committed: if the provider refuses, the hold is
   * given back and the purchase fails as if it never happened; once the provider has the payment, a
   * failure to record it (or to read the order back) is `Committed`, so a retry does not hold twice.
   */
  private async awaitPayment(
    orgId: string,
    order: OrderRow,
    eventName: string,
    checkout: Purchase['checkout'],
  ): Promise<Order> {
    const payment = await this.startPayment(order, eventName, checkout);
    return afterCommit(async () => {
      await this.recordPayment(order.id, payment);
      return this.get(orgId, order.id);
    });
  }

  /** The event (of the organization) and the ticket types a purchase names, as they are now. */
  private readSale(
    orgId: string,
    input: Purchase,
  ): Promise<readonly [EventRow | undefined, TicketTypeRow[]]> {
    return byDialect(this.db, { postgres: readSaleAtOnce, sqlite: readSaleHere })(this.k, orgId, input);
  }

  /**
   * Checks a purchase against its event's and ticket types' rows — on sale, sales windows, per-order
   * limits, payment method — and plans the order, or throws why not. Availability is not checked here:
   * the counters' conditional writes do that.
   */
  private plan(
    principal: Principal,
    input: Purchase,
    eventRow: SaleEvent | undefined,
    types: SaleType[],
    now: string,
    orderId: string,
    voucher: VoucherRow | null = null,
  ): Sale {
    if (!eventRow) throw notFound('event');
    const event = eventRow;
    // eventNotOnSale reads the status, the end and the sales window, all of them in a SaleEvent.
    const closed = eventNotOnSale(event as EventRow, now);
    // A draft does not exist for a web page (see the events' storefront routes).
    if (closed === 'event_not_published' && isPublishable(principal)) throw notFound('event');
    if (closed) throw conflict(closed, REASON_TEXT[closed] ?? 'Tickets for this event are not on sale.');

    const byId = new Map(types.map((t) => [t.id, t]));
    const seen = new Set<string>();
    const lines: { type: SaleType; quantity: number; holders: { name: string; email?: string }[] }[] = [];
    input.items.forEach((item, i) => {
      const type = byId.get(item.ticket_type);
      const path = `items.${i}`;
      if (!type)
        throw validationFailed([
          {
            path: `${path}.ticket_type`,
            message: 'is not a ticket type of this event',
            code: 'unknown_ticket_type',
          },
        ]);
      if (seen.has(type.id))
        throw validationFailed([
          {
            path: `${path}.ticket_type`,
            message: 'appears twice; add the quantities',
            code: 'duplicate_ticket_type',
          },
        ]);
      seen.add(type.id);
      const window = windowReason(type.sales_start_at, type.sales_end_at, now);
      if (window) throw conflict(window, `${type.name}: ${REASON_TEXT[window]}`);
      if (item.quantity < type.min_per_order)
        throw validationFailed([
          {
            path: `${path}.quantity`,
            message: `must be at least ${type.min_per_order} for ${type.name}`,
            code: 'below_min_per_order',
          },
        ]);
      if (type.max_per_order !== null && item.quantity > type.max_per_order)
        throw validationFailed([
          {
            path: `${path}.quantity`,
            message: `must be at most ${type.max_per_order} for ${type.name}`,
            code: 'above_max_per_order',
          },
        ]);
      if ((item.holders?.length ?? 0) > item.quantity)
        throw validationFailed([
          { path: `${path}.holders`, message: 'has more holders than tickets', code: 'too_many_holders' },
        ]);
      lines.push({ type, quantity: item.quantity, holders: item.holders ?? [] });
    });

    // With a code: each line's price as it makes it (the list price where it does not apply).
    const prices = voucher
      ? priceLines(
          voucher,
          lines.map((l) => ({ typeId: l.type.id, price: l.type.price_amount, quantity: l.quantity })),
        )
      : null;
    if (voucher) {
      const only = typesOf(voucher);
      if (only && !lines.some((l) => only.includes(l.type.id)))
        throw voucherRefused({
          code: 'voucher_not_applicable',
          detail: `The code ${voucher.code} is not valid for the ticket types of this order.`,
        });
    }
    const priceOf = (l: (typeof lines)[number]) => prices?.get(l.type.id) ?? l.type.price_amount;
    const total = lines.reduce((sum, l) => sum + priceOf(l) * l.quantity, 0);
    const discount = lines.reduce((sum, l) => sum + (l.type.price_amount - priceOf(l)) * l.quantity, 0);
    if (total > 2_147_483_647)
      throw validationFailed([
        {
          path: 'items',
          message: 'add up to more than one order may cost; split the order',
          code: 'order_total_too_large',
        },
      ]);
    const count = lines.reduce((sum, l) => sum + l.quantity, 0);
    if (total === 0 && isPublishable(principal))
      throw forbidden(
        'A publishable key cannot place a free order: nothing would check who takes the tickets. Issue free tickets with a secret key from your server.',
        'free_order_not_allowed',
      );
    const method = total === 0 ? 'free' : input.payment_method;
    if (!method)
      throw validationFailed([
        { path: 'payment_method', message: 'is required for an order that costs money', code: 'required' },
      ]);
    if (method === 'stripe' && !this.payments)
      throw new ApiError(
        501,
        'provider_not_configured',
        'Online payment with Stripe is not set up on this server (STRIPE_SECRET_KEY).',
      );
    if (input.checkout && method !== 'stripe')
      throw validationFailed([
        { path: 'checkout', message: 'is only for payment_method stripe', code: 'checkout_needs_stripe' },
      ]);
    // Online orders hold their tickets until the payment is confirmed; the rest are paid now.
    const pending = !paymentRules(method).paidAtOnce;

    const order: OrderRow = {
      id: orderId,
      org_id: principal.orgId,
      event_id: event.id,
      status: pending ? 'pending' : 'paid',
      buyer_name: input.buyer.name,
      buyer_email: input.buyer.email,
      buyer_phone: input.buyer.phone ?? null,
      marketing_opt_in: input.buyer.marketing_opt_in ? 1 : 0,
      payment_method: method,
      currency: event.currency,
      total_amount: total,
      refunded_amount: 0,
      ticket_count: count,
      hold_expires_at: pending ? addSeconds(now, 60 * (event.hold_minutes ?? DEFAULT_HOLD_MINUTES)) : null,
      paid_at: pending ? null : now,
      flagged: 0,
      flag_reason: null,
      payment_intent_id: null,
      client_secret: null,
      checkout_session_id: null,
      checkout_url: null,
      created_by: principal.kind === 'user' ? principal.userId : principal.keyId,
      created_at: now,
      updated_at: now,
      // Only when given, so the usual sale's statement keeps its shape (see sellAtOnceText).
      ...(input.attribution
        ? {
            utm_source: input.attribution.source ?? null,
            utm_medium: input.attribution.medium ?? null,
            utm_campaign: input.attribution.campaign ?? null,
            referrer: input.attribution.referrer ?? null,
          }
        : {}),
      // The buyer's GA4 session, or that the buyer declined analytics (nothing about the order is sent).
      ...(input.analytics || input.analytics_consent === false
        ? {
            analytics: JSON.stringify({
              ...input.analytics,
              ...(input.analytics_consent === false ? { consent: false } : {}),
            }),
          }
        : {}),
      ...(voucher ? { voucher_id: voucher.id, voucher_code: voucher.code, discount_amount: discount } : {}),
    };

    const items: OrderItemRow[] = lines
      .map((l) => ({
        order_id: order.id,
        ticket_type_id: l.type.id,
        name: l.type.name,
        quantity: l.quantity,
        unit_amount: priceOf(l),
        // Only with a code (every line then has the key: the rows are written with one column list).
        ...(voucher ? { list_amount: priceOf(l) === l.type.price_amount ? null : l.type.price_amount } : {}),
        tax_rate: l.type.tax_rate,
        holders: l.holders.length ? JSON.stringify(l.holders) : null,
      }))
      .sort((a, b) => (a.ticket_type_id < b.ticket_type_id ? -1 : 1));
    const wanted = lines.map((l) => ({ typeId: l.type.id, name: l.type.name, quantity: l.quantity }));
    return {
      order,
      items,
      wanted,
      pending,
      column: pending ? 'held' : 'sold',
      discount,
      ...(voucher ? { voucher } : {}),
    };
  }

  /**
   * Gives a paid order its invoice, in a transaction of its own: the number is taken with the invoice
   * (so the sequence stays gapless), and a failure here leaves a paid order that `ensureInvoices`
   * picks up, never a lost sale.
   */
  async invoice(order: Pick<OrderRow, 'id' | 'org_id'>): Promise<void> {
    try {
      await this.k.transaction().execute((trx) => invoiceOrder(trx, order));
      await clearInvoiceFailure(this.k, order.id);
    } catch (err) {
      // The sale has committed: an answer of 500 now would free its Idempotency-Key and invite a
      // second purchase. The failure is kept (and listed) and the sweeper (ensureInvoices) retries it.
      await recordInvoiceFailure(this.k, order.id, err);
    }
  }

  /** Invoices paid orders that have none yet (after a crash between payment and invoice). */
  async ensureInvoices(): Promise<number> {
    const due = await this.k
      .selectFrom('orders')
      .select(['id', 'org_id'])
      .where('status', 'in', ['paid', 'partially_refunded', 'refunded'])
      .where('total_amount', '>', 0)
      .where('invoice_number', 'is', null)
      .where('paid_at', '<', new Date(Date.now() - 10_000).toISOString())
      .limit(100)
      .execute();
    for (const order of due) await this.invoice(order);
    return due.length;
  }

  /** Asks the provider for a payment; if it can't, the order fails and its hold is returned at once. */
  private async startPayment(
    order: OrderRow,
    eventName: string,
    checkout?: { success_url: string; cancel_url: string },
  ): Promise<Payment> {
    try {
      return await this.payments!.createPayment({
        orderId: order.id,
        amount: order.total_amount,
        currency: order.currency,
        email: order.buyer_email,
        description: `${order.ticket_count} × ${eventName}`,
        checkout: checkout && { successUrl: checkout.success_url, cancelUrl: checkout.cancel_url },
      });
    } catch (err) {
      // Nothing stands any more: the request may be tried again (under its Idempotency-Key too).
      await this.holds.release(order.id, 'failed');
      throw err;
    }
  }

  /** The provider's payment, on its order. */
  private async recordPayment(orderId: string, payment: Payment): Promise<void> {
    await this.k
      .updateTable('orders')
      .set({
        payment_intent_id: payment.paymentIntentId,
        client_secret: payment.clientSecret,
        checkout_session_id: payment.checkoutSessionId,
        checkout_url: payment.checkoutUrl,
        updated_at: nowIso(),
      })
      .where('id', '=', orderId)
      .execute();
  }

  get(orgId: string, id: string): Promise<Order> {
    return readOrder(this.k, orgId, id);
  }

  async list(orgId: string, query: OrderQuery): Promise<Page<Order>> {
    const { limit, before } = newestFirst(query);
    const rows = await this.k
      .selectFrom('orders')
      .selectAll()
      .where('org_id', '=', orgId)
      .$if(query.event !== undefined, (q) => q.where('event_id', '=', query.event!))
      .$if(query.status !== undefined, (q) => q.where('status', '=', query.status!))
      .$if(query.email !== undefined, (q) => q.where('buyer_email', '=', query.email!))
      .$if(query.q !== undefined, (q) =>
        q.where((eb) =>
          eb.or([...containsAny(['buyer_name', 'buyer_email'], query.q!), eb('id', '=', query.q!)]),
        ),
      )
      .$if(before !== null, (q) => q.where('id', '<', before as string))
      .orderBy('id', 'desc')
      .limit(limit + 1)
      .execute();
    const shown = rows.slice(0, limit);
    const ids = shown.map((o) => o.id);
    const [items, tickets] = ids.length
      ? await Promise.all([
          this.k.selectFrom('order_items').selectAll().where('order_id', 'in', ids).execute(),
          this.k.selectFrom('tickets').selectAll().where('order_id', 'in', ids).orderBy('id').execute(),
        ])
      : [[], []];
    return toPage(
      rows,
      limit,
      (o) => [o.id],
      (o) =>
        orderView(
          o,
          items.filter((i) => i.order_id === o.id),
          tickets.filter((t) => t.order_id === o.id),
        ),
    );
  }

  /** Cancels a pending order and returns what it held. Paid orders are refunded instead. */
  async cancel(orgId: string, id: string): Promise<Order> {
    const order = await this.k
      .selectFrom('orders')
      .select(['status'])
      .where('org_id', '=', orgId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!order) throw notFound('order');
    if (!(await this.holds.release(id, 'cancelled')))
      throw conflict(
        'invalid_transition',
        order.status === 'paid' || order.status === 'partially_refunded'
          ? 'A paid order cannot be cancelled; refund it instead.'
          : `The order is already ${order.status}.`,
      );
    return this.get(orgId, id);
  }
}

/** An order as the API answers it (also what an `order.*` webhook carries). */
export async function readOrder(k: Kysely<Database>, orgId: string, id: string): Promise<Order> {
  const order = await k
    .selectFrom('orders')
    .selectAll()
    .where('org_id', '=', orgId)
    .where('id', '=', id)
    .executeTakeFirst();
  if (!order) throw notFound('order');
  const [items, tickets] = await Promise.all([
    k.selectFrom('order_items').selectAll().where('order_id', '=', id).orderBy('ticket_type_id').execute(),
    k.selectFrom('tickets').selectAll().where('order_id', '=', id).orderBy('id').execute(),
  ]);
  return orderView(order, items, tickets);
}
