import type { Reconciliation, ReconciliationLine } from '@tickets/sdk';
import type { Db } from '../../db/database.js';
import type { Principal } from '../../http/app.js';
import { ApiError, constraintViolated, notFound } from '../../http/errors.js';
import { newId } from '../../ids.js';
import type { PaymentProvider } from '../../integrations/stripe.js';
import { nowIso } from '../../time.js';
import { notifyQueued, queueMessages } from '../messaging/outbox.js';

const DAY = 24 * 3600_000;
/** A reconciliation reads every Stripe transaction of its range: at most this many days at once. */
const MAX_DAYS = 92;

type Line = ReconciliationLine;

/**
 * Compares an organization's Stripe payments and refunds with Stripe's balance transactions over a
 * range of days (UTC), both ways: what Stripe has that we don't (a charge with no order, a refund made
 * in Stripe's dashboard), what we have that Stripe doesn't (a paid order with no charge, a refund
 * Stripe never made), and what differs (amount, currency), plus disputed charges. A charge with no
 * order in any organization is shown to every organization that reconciles (it is the account's).
 */
export class Reconciliations {
  constructor(
    private readonly db: Db,
    private readonly stripe: PaymentProvider | null,
  ) {}

  run(by: Principal, input: { from: string; to: string }): Promise<Reconciliation> {
    return this.compare(by.orgId, by.kind === 'user' ? by.userId : by.keyId, input);
  }

  /**
   * Yesterday (UTC), for every organization that took Stripe payments or made Stripe refunds then; the
   * owners are e-mailed when anything does not match. Once per organization and day, whichever server
   * runs it first (a unique index on the nightly runs).
   */
  async nightly(now = new Date()): Promise<number> {
    if (!this.stripe) return 0;
    const day = new Date(now.getTime() - DAY).toISOString().slice(0, 10);
    const from = `${day}T00:00:00.000Z`;
    const to = new Date(Date.parse(from) + DAY).toISOString();
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
    let ran = 0;
    for (const { org_id } of orgs) {
      const done = await k
        .selectFrom('reconciliations')
        .select('id')
        .where('org_id', '=', org_id)
        .where('from_date', '=', day)
        .where('created_by', 'is', null)
        .executeTakeFirst();
      if (done) continue;
      const rec = await this.compare(org_id, null, { from: day, to: day }).catch((err: unknown) => {
        // Another server's run got there first (the unique index), or Stripe failed: next hour.
        if (constraintViolated(err)) return null;
        throw err;
      });
      if (!rec) continue;
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
    }
    return ran;
  }

  private async compare(
    orgId: string,
    createdBy: string | null,
    input: { from: string; to: string },
  ): Promise<Reconciliation> {
    const by = { orgId };
    if (!this.stripe)
      throw new ApiError(501, 'provider_not_configured', 'Stripe is not set up on this server.');
    const from = new Date(`${input.from}T00:00:00.000Z`);
    const to = new Date(Date.parse(`${input.to}T00:00:00.000Z`) + DAY);
    if (to.getTime() - from.getTime() > MAX_DAYS * DAY)
      throw new ApiError(422, 'range_too_long', `Reconcile at most ${MAX_DAYS} days at once.`);
    const k = this.db.kysely;
    const lines: Line[] = [];
    let matched = 0;
    const seenIntents = new Set<string>();
    const seenRefunds = new Set<string>();
    for await (const t of this.stripe.transactionsBetween(from, to)) {
      if ((t.type === 'charge' || t.type === 'payment') && t.paymentIntentId) {
        seenIntents.add(t.paymentIntentId);
        const order = await k
          .selectFrom('orders')
          .select(['id', 'org_id', 'total_amount', 'currency', 'paid_at'])
          .where('payment_intent_id', '=', t.paymentIntentId)
          .executeTakeFirst();
        const charge = t.charge!;
        const seen = { stripe_id: t.source, amount: charge.amount, currency: charge.currency.toUpperCase() };
        if (!order) {
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
        if (order.org_id !== by.orgId) continue;
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
        seenRefunds.add(t.refundId);
        const refund = await k
          .selectFrom('refunds')
          .select(['id', 'org_id', 'order_id', 'amount', 'currency'])
          .where('provider_ref', '=', t.refundId)
          .executeTakeFirst();
        const order = t.paymentIntentId
          ? await k
              .selectFrom('orders')
              .select(['id', 'org_id'])
              .where('payment_intent_id', '=', t.paymentIntentId)
              .executeTakeFirst()
          : undefined;
        if (!refund) {
          // Whose it is: the order its charge paid (when the refund's source says), else the account's.
          if (order && order.org_id !== by.orgId) continue;
          lines.push({
            kind: 'refund_not_recorded',
            order_id: order?.id ?? null,
            refund_id: null,
            stripe_id: t.refundId,
            amount: -t.amount,
            currency: t.currency.toUpperCase(),
            expected_amount: null,
            expected_currency: null,
            detail: 'Stripe made a refund (its dashboard?) that tickets has no record of.',
          });
          continue;
        }
        if (refund.org_id !== by.orgId) continue;
        matched++;
      }
    }
    // Our side: Stripe payments and refunds of the range that Stripe's transactions did not show.
    const orders = await k
      .selectFrom('orders')
      .select(['id', 'payment_intent_id', 'total_amount', 'currency'])
      .where('org_id', '=', by.orgId)
      .where('payment_method', '=', 'stripe')
      .where('paid_at', '>=', from.toISOString())
      .where('paid_at', '<', to.toISOString())
      .execute();
    for (const o of orders)
      if (!o.payment_intent_id || !seenIntents.has(o.payment_intent_id))
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
      .where('org_id', '=', by.orgId)
      .where('provider', '=', 'stripe')
      .where('status', '=', 'succeeded')
      .where('created_at', '>=', from.toISOString())
      .where('created_at', '<', to.toISOString())
      .execute();
    for (const r of refunds)
      if (!r.provider_ref || !seenRefunds.has(r.provider_ref))
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
          org_id: by.orgId,
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
