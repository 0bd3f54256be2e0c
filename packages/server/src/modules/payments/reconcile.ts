import type { Reconciliation, ReconciliationLine } from '@tickets/sdk';
import type { Logger } from 'pino';
import type { Db } from '../../db/database.js';
import { isUniqueViolation } from '../../db/errors.js';
import type { Principal } from '../../http/app.js';
import { ApiError, notFound } from '../../http/errors.js';
import { newId } from '../../ids.js';
import type { PaymentProvider, PayoutTransaction } from '../../integrations/stripe.js';
import { nowIso } from '../../time.js';
import { notifyQueued, queueMessages } from '../messaging/outbox.js';

const DAY = 24 * 3600_000;
/** A reconciliation reads every Stripe transaction of its range: at most this many days at once. */
const MAX_DAYS = 92;
/**
 * Stripe's transactions are read this far beyond each end of the range too: a payment made at
 * 23:59:59 may get its balance transaction at 00:00:01 the next day (and a refund recorded here a
 * moment before Stripe makes it, likewise). Ours are looked for in all of it; Stripe's are compared
 * only when created in the range, so each is compared on one day.
 */
const MARGIN = DAY;
/** Transactions looked up at once (a bound parameter each). */
const CHUNK = 200;

type Line = ReconciliationLine;

interface OrderSeen {
  id: string;
  org_id: string;
  total_amount: number;
  currency: string;
  paid_at: string | null;
}
interface RefundSeen {
  id: string;
  org_id: string;
  order_id: string;
  amount: number;
  currency: string;
  exchange_rate: number | null | undefined;
}

/** Stripe's side of a range, read once and compared with any number of organizations. */
interface StripeSide {
  /** The transactions created in the range. */
  inRange: PayoutTransaction[];
  /** The PaymentIntents and refunds of every transaction read, margins included. */
  intents: Set<string>;
  refunds: Set<string>;
  /** Our orders and refunds the transactions in the range came from, in any organization. */
  ordersByIntent: Map<string, OrderSeen>;
  refundsByRef: Map<string, RefundSeen>;
}

/**
 * Compares an organization's Stripe payments and refunds with Stripe's balance transactions over a
 * range of days (UTC), both ways: what Stripe has that we don't (a charge with no order, a refund made
 * in Stripe's dashboard), what we have that Stripe doesn't (a paid order with no charge, a refund
 * Stripe never made), and what differs (amount, currency, a refund's amount), plus disputed charges.
 *
 * A transaction that no order of this server comes from (a charge made in Stripe's dashboard, another
 * system's payment on the same account, an order whose PaymentIntent was never saved) is shown only
 * while a single organization sells through Stripe here, and only to it. The Stripe account is the
 * server's (one key for all organizations), so such a charge carries no owner: with one organization
 * selling through it, that one is the account's only user (the usual one-organizer server), and
 * "money at Stripe that tickets does not know of" is worth its attention; with two or more, it could
 * be either's (or the account holder's), and showing it to each — as this once did — showed every
 * organization the others' amounts. Then nobody sees it here: finding it is reconciling the account
 * itself, its holder's business in Stripe's dashboard. Any Stripe order counts, paid or not (an order
 * whose PaymentIntent id was never saved looks unpaid here, yet its charge is at Stripe), so a second
 * organization's first Stripe order already hides them.
 */
export class Reconciliations {
  constructor(
    private readonly db: Db,
    private readonly stripe: PaymentProvider | null,
    private readonly log?: Logger,
  ) {}

  async run(by: Principal, input: { from: string; to: string }): Promise<Reconciliation> {
    const range = this.range(input);
    const side = await this.stripeSide(range);
    const sole = (await this.soleStripeOrganization()) === by.orgId;
    return this.compare(by.orgId, by.kind === 'user' ? by.userId : by.keyId, input, range, side, sole);
  }

  /** The one organization that has ever had a Stripe order here, if only one has (see above). */
  private async soleStripeOrganization(): Promise<string | null> {
    const k = this.db.kysely;
    const first = await k
      .selectFrom('orders')
      .select('org_id')
      .where('payment_method', '=', 'stripe')
      .limit(1)
      .executeTakeFirst();
    if (!first) return null;
    const other = await k
      .selectFrom('orders')
      .select('org_id')
      .where('payment_method', '=', 'stripe')
      .where('org_id', '<>', first.org_id)
      .limit(1)
      .executeTakeFirst();
    return other ? null : first.org_id;
  }

  /**
   * Yesterday (UTC), for every organization that took Stripe payments or made Stripe refunds then; the
   * owners are e-mailed when anything does not match. Once per organization and day, whichever server
   * runs it first (a unique index on the nightly runs). Stripe's transactions are read once for all of
   * them; one organization's failure is logged and the others go on (the run then fails, naming it,
   * and the next hour's tries it again).
   */
  async nightly(now = new Date()): Promise<number> {
    if (!this.stripe) return 0;
    const day = new Date(now.getTime() - DAY).toISOString().slice(0, 10);
    const input = { from: day, to: day };
    const range = this.range(input);
    const from = range.from.toISOString();
    const to = range.to.toISOString();
    const k = this.db.kysely;
    const orgs = await k
      .selectFrom('orders')
      .select('org_id')
      .distinct()
      .where('payment_method', '=', 'stripe')
      .where('paid_at', '>=', from)
      .where('paid_at', '<', to)
      .union(
        k
          .selectFrom('refunds')
          .select('org_id')
          .where('provider', '=', 'stripe')
          .where('created_at', '>=', from)
          .where('created_at', '<', to),
      )
      .execute();
    const done = new Set(
      (
        await k
          .selectFrom('reconciliations')
          .select('org_id')
          .where('from_date', '=', day)
          .where('created_by', 'is', null)
          .execute()
      ).map((r) => r.org_id),
    );
    const due = orgs.map((o) => o.org_id).filter((id) => !done.has(id));
    if (due.length === 0) return 0;
    // Stripe down: nothing to compare with; the next hour's run tries again.
    const side = await this.stripeSide(range);
    const sole = await this.soleStripeOrganization();
    let ran = 0;
    const failed: { org: string; err: unknown }[] = [];
    for (const org_id of due) {
      try {
        const rec = await this.compare(org_id, null, input, range, side, org_id === sole);
        ran++;
        if (rec.mismatches === 0) continue;
        const owners = await k
          .selectFrom('memberships')
          .innerJoin('users', 'users.id', 'memberships.user_id')
          .select('users.email')
          .where('memberships.org_id', '=', org_id)
          .where('memberships.role', '=', 'owner')
          .execute();
        const kinds = [...new Set(rec.lines.map((l) => l.kind))].join(', ');
        await queueMessages(
          k,
          org_id,
          owners.map((o) => ({
            template: 'reconciliation_mismatches' as const,
            channel: 'email' as const,
            recipient: o.email,
            payload: { reconciliation_id: rec.id, day, mismatches: rec.mismatches, kinds },
          })),
        );
        notifyQueued(this.db);
      } catch (err) {
        // Another server's run got there first (the unique index on the nightly runs): theirs stands.
        if (isUniqueViolation(err)) continue;
        this.log?.error({ err, org: org_id, day }, 'could not reconcile an organization with Stripe');
        failed.push({ org: org_id, err });
      }
    }
    if (failed.length > 0)
      throw new Error(
        `reconciling ${day} failed for ${failed.map((f) => f.org).join(', ')} (the other ${ran} done)`,
        { cause: failed[0]!.err },
      );
    return ran;
  }

  private range(input: { from: string; to: string }): { from: Date; to: Date } {
    if (!this.stripe)
      throw new ApiError(501, 'provider_not_configured', 'Stripe is not set up on this server.');
    const from = new Date(`${input.from}T00:00:00.000Z`);
    const to = new Date(Date.parse(`${input.to}T00:00:00.000Z`) + DAY);
    if (to.getTime() - from.getTime() > MAX_DAYS * DAY)
      throw new ApiError(422, 'range_too_long', `Reconcile at most ${MAX_DAYS} days at once.`);
    return { from, to };
  }

  /** Stripe's transactions of the range and its margins, and the orders and refunds they came from. */
  private async stripeSide({ from, to }: { from: Date; to: Date }): Promise<StripeSide> {
    const stripe = this.stripe!;
    const side: StripeSide = {
      inRange: [],
      intents: new Set(),
      refunds: new Set(),
      ordersByIntent: new Map(),
      refundsByRef: new Map(),
    };
    const see = (t: PayoutTransaction) => {
      if (t.paymentIntentId && (t.type === 'charge' || t.type === 'payment'))
        side.intents.add(t.paymentIntentId);
      if (t.refundId && t.type === 'refund') side.refunds.add(t.refundId);
    };
    // Three reads, not one wide one: the port does not say when a transaction was created.
    for await (const t of stripe.transactionsBetween(new Date(from.getTime() - MARGIN), from)) see(t);
    for await (const t of stripe.transactionsBetween(from, to)) {
      see(t);
      side.inRange.push(t);
    }
    for await (const t of stripe.transactionsBetween(to, new Date(to.getTime() + MARGIN))) see(t);

    const k = this.db.kysely;
    const intents = [...new Set(side.inRange.flatMap((t) => (t.paymentIntentId ? [t.paymentIntentId] : [])))];
    for (let i = 0; i < intents.length; i += CHUNK)
      for (const o of await k
        .selectFrom('orders')
        .select(['id', 'org_id', 'total_amount', 'currency', 'paid_at', 'payment_intent_id'])
        .where('payment_intent_id', 'in', intents.slice(i, i + CHUNK))
        .execute())
        if (!side.ordersByIntent.has(o.payment_intent_id!)) side.ordersByIntent.set(o.payment_intent_id!, o);
    const refunds = [
      ...new Set(side.inRange.flatMap((t) => (t.type === 'refund' && t.refundId ? [t.refundId] : []))),
    ];
    for (let i = 0; i < refunds.length; i += CHUNK)
      for (const r of await k
        .selectFrom('refunds')
        .select(['id', 'org_id', 'order_id', 'amount', 'currency', 'exchange_rate', 'provider_ref'])
        .where('provider_ref', 'in', refunds.slice(i, i + CHUNK))
        .execute())
        if (!side.refundsByRef.has(r.provider_ref!)) side.refundsByRef.set(r.provider_ref!, r);
    return side;
  }

  private async compare(
    orgId: string,
    createdBy: string | null,
    input: { from: string; to: string },
    { from, to }: { from: Date; to: Date },
    side: StripeSide,
    /** Whether it is the only organization selling through Stripe: it sees what no order came from. */
    sole: boolean,
  ): Promise<Reconciliation> {
    const k = this.db.kysely;
    const lines: Line[] = [];
    let matched = 0;
    for (const t of side.inRange) {
      if ((t.type === 'charge' || t.type === 'payment') && t.paymentIntentId) {
        const order = side.ordersByIntent.get(t.paymentIntentId);
        const charge = t.charge!;
        const seen = { stripe_id: t.source, amount: charge.amount, currency: charge.currency.toUpperCase() };
        if (!order) {
          // No organization's for sure: see the class's comment.
          if (sole)
            lines.push({
              kind: 'charge_without_order',
              order_id: null,
              refund_id: null,
              ...seen,
              expected_amount: null,
              expected_currency: null,
              detail: `Stripe has a charge of ${seen.amount} ${seen.currency} that no order of this server is paid by.`,
            });
          continue;
        }
        if (order.org_id !== orgId) continue;
        const expected = { expected_amount: order.total_amount, expected_currency: order.currency };
        if (charge.disputed)
          lines.push({
            kind: 'disputed',
            order_id: order.id,
            refund_id: null,
            ...seen,
            ...expected,
            detail: 'The buyer disputed the charge with their bank.',
          });
        if (seen.currency !== order.currency)
          lines.push({
            kind: 'currency_mismatch',
            order_id: order.id,
            refund_id: null,
            ...seen,
            ...expected,
            detail: `Charged in ${seen.currency}; the order is in ${order.currency}.`,
          });
        else if (seen.amount !== order.total_amount)
          lines.push({
            kind: 'amount_mismatch',
            order_id: order.id,
            refund_id: null,
            ...seen,
            ...expected,
            detail: `Charged ${seen.amount}; the order's total is ${order.total_amount}.`,
          });
        else if (!charge.disputed) matched++;
        if (!order.paid_at)
          lines.push({
            kind: 'charge_without_order',
            order_id: order.id,
            refund_id: null,
            ...seen,
            ...expected,
            detail: 'Stripe has the charge, but the order was never marked paid.',
          });
      } else if (t.type === 'refund' && t.refundId) {
        const refund = side.refundsByRef.get(t.refundId);
        // Whose it is: the order its charge paid (when the refund's source says).
        const order = t.paymentIntentId ? side.ordersByIntent.get(t.paymentIntentId) : undefined;
        // Stripe's refund transaction is money out, in the settlement currency.
        const stripeAmount = -t.amount;
        const stripeCurrency = t.currency.toUpperCase();
        if (!refund) {
          // Whose it is: the order's organization; with no order, as a charge without one (above).
          if (order ? order.org_id !== orgId : !sole) continue;
          lines.push({
            kind: 'refund_not_recorded',
            order_id: order?.id ?? null,
            refund_id: null,
            stripe_id: t.refundId,
            amount: stripeAmount,
            currency: stripeCurrency,
            expected_amount: null,
            expected_currency: null,
            detail: 'Stripe made a refund (its dashboard?) that tickets has no record of.',
          });
          continue;
        }
        if (refund.org_id !== orgId) continue;
        // Stripe's amount is the settled one: in another currency it is compared at the rate Stripe
        // used (recorded from this very transaction by the fees job, within a unit for rounding);
        // without that rate yet, only that Stripe made it can be told.
        const rate = refund.exchange_rate;
        const differs =
          stripeCurrency === refund.currency
            ? stripeAmount !== refund.amount
            : rate
              ? Math.abs(stripeAmount - Math.round(refund.amount * rate)) > 1
              : false;
        if (differs)
          lines.push({
            kind: 'amount_mismatch',
            order_id: refund.order_id,
            refund_id: refund.id,
            stripe_id: t.refundId,
            amount: stripeAmount,
            currency: stripeCurrency,
            expected_amount: refund.amount,
            expected_currency: refund.currency,
            detail: `Stripe refunded ${stripeAmount} ${stripeCurrency}; tickets recorded a refund of ${refund.amount} ${refund.currency}.`,
          });
        else matched++;
      }
    }
    // Our side: Stripe payments and refunds of the range that none of Stripe's transactions (margins
    // included) came from.
    const orders = await k
      .selectFrom('orders')
      .select(['id', 'payment_intent_id', 'total_amount', 'currency'])
      .where('org_id', '=', orgId)
      .where('payment_method', '=', 'stripe')
      .where('paid_at', '>=', from.toISOString())
      .where('paid_at', '<', to.toISOString())
      .execute();
    for (const o of orders)
      if (!o.payment_intent_id || !side.intents.has(o.payment_intent_id))
        lines.push({
          kind: 'order_without_charge',
          order_id: o.id,
          refund_id: null,
          stripe_id: o.payment_intent_id,
          amount: null,
          currency: null,
          expected_amount: o.total_amount,
          expected_currency: o.currency,
          detail: 'The order is paid, but Stripe shows no charge for it in these days.',
        });
    const refunds = await k
      .selectFrom('refunds')
      .select(['id', 'order_id', 'provider_ref', 'amount', 'currency'])
      .where('org_id', '=', orgId)
      .where('provider', '=', 'stripe')
      .where('status', '=', 'succeeded')
      .where('created_at', '>=', from.toISOString())
      .where('created_at', '<', to.toISOString())
      .execute();
    for (const r of refunds)
      if (!r.provider_ref || !side.refunds.has(r.provider_ref))
        lines.push({
          kind: 'refund_not_in_stripe',
          order_id: r.order_id,
          refund_id: r.id,
          stripe_id: r.provider_ref,
          amount: null,
          currency: null,
          expected_amount: r.amount,
          expected_currency: r.currency,
          detail: 'tickets recorded this refund as made, but Stripe shows none in these days.',
        });

    const id = newId('reconciliation');
    const createdAt = nowIso();
    await k.transaction().execute(async (trx) => {
      await trx
        .insertInto('reconciliations')
        .values({
          id,
          org_id: orgId,
          from_date: input.from,
          to_date: input.to,
          matched,
          mismatches: lines.length,
          created_by: createdBy,
          created_at: createdAt,
        })
        .execute();
      for (let i = 0; i < lines.length; i += 200)
        await trx
          .insertInto('reconciliation_lines')
          .values(lines.slice(i, i + 200).map((l, j) => ({ reconciliation_id: id, n: i + j, ...l })))
          .execute();
    });
    return {
      id,
      object: 'reconciliation',
      from: input.from,
      to: input.to,
      matched,
      mismatches: lines.length,
      lines,
      created_at: createdAt,
    };
  }

  async get(orgId: string, id: string): Promise<Reconciliation> {
    const rec = await this.db.kysely
      .selectFrom('reconciliations')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!rec) throw notFound('reconciliation');
    const lines = await this.db.kysely
      .selectFrom('reconciliation_lines')
      .selectAll()
      .where('reconciliation_id', '=', id)
      .orderBy('n')
      .execute();
    const num = (v: number | string | null) => (v === null ? null : Number(v));
    return {
      id: rec.id,
      object: 'reconciliation',
      from: rec.from_date,
      to: rec.to_date,
      matched: rec.matched,
      mismatches: rec.mismatches,
      lines: lines.map((l) => ({
        kind: l.kind as Line['kind'],
        order_id: l.order_id,
        refund_id: l.refund_id,
        stripe_id: l.stripe_id,
        amount: num(l.amount),
        currency: l.currency,
        expected_amount: num(l.expected_amount),
        expected_currency: l.expected_currency,
        detail: l.detail,
      })),
      created_at: rec.created_at,
    };
  }
}
