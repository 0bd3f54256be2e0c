/**
 * The sale's invariants, read from the database itself (never from an API answer): what must hold after
 * any sequence of sales, holds, payments, refunds, transfers and cancellations, however they raced.
 * `startTestServer(...).stop()` checks them for every test server, so every database test proves them.
 */

import type { CheckinBundleTicket } from '@tickets/sdk';
import { type Kysely, sql } from 'kysely';
import { expect } from 'vitest';
import type { Db } from '../src/db/database.js';
import type { Database } from '../src/db/schema.js';
import { OfflineCheckin } from '../src/modules/checkin/offline.js';
import { Checkin } from '../src/modules/checkin/service.js';
import { EventKeys } from '../src/modules/orders/keys.js';

/**
 * Every broken invariant, as a sentence naming the rows; [] when all hold. Given the database itself
 * (not only its Kysely), the offline doors' bundles are checked against it too.
 */
export async function invariantViolations(database: Db | Kysely<Database>): Promise<string[]> {
  const k = 'kysely' in database ? database.kysely : database;
  const broken: string[] = [];
  const n = (v: unknown) => Number(v ?? 0);

  // A ticket type's `sold` counts the tickets that take a seat: valid ones, and void ones whose seat was
  // kept off sale (a refund with return_inventory: false). `held` counts the tickets of pending orders
  // and those discount codes hold for their holders.
  const types = await k
    .selectFrom('ticket_types as t')
    .select([
      't.id',
      't.event_id',
      't.capacity',
      't.sold',
      't.held',
      't.slots',
      (eb) =>
        eb
          .selectFrom('tickets')
          .select(eb.fn.countAll<number>().as('n'))
          .whereRef('tickets.ticket_type_id', '=', 't.id')
          .where((w) => w.or([w('tickets.status', '=', 'valid'), w('tickets.seat_kept', '=', 1)]))
          .as('seats'),
      (eb) =>
        eb
          .selectFrom('order_items')
          .innerJoin('orders', 'orders.id', 'order_items.order_id')
          .select((s) => s.fn.coalesce(s.fn.sum<number>('order_items.quantity'), sql<number>`0`).as('n'))
          .whereRef('order_items.ticket_type_id', '=', 't.id')
          .where('orders.status', '=', 'pending')
          .as('pending'),
      // A discount code's reservation is held too (migration 0035): its one type's tickets, still held.
      (eb) =>
        eb
          .selectFrom('vouchers')
          .select((s) => s.fn.coalesce(s.fn.sum<number>('vouchers.reserved_left'), sql<number>`0`).as('n'))
          .where('vouchers.reserved_left', '>', 0)
          .where(sql<boolean>`vouchers.ticket_type_ids = '["' || t.id || '"]'`)
          .as('reserved'),
    ])
    .execute();
  // Slots (a hot event's counters, spread): an owner with k > 1 slots has exactly k, its own counters
  // are 0, its slots' capacities add up to its capacity (all null for an event without one) and each
  // stays within its own; an owner with 1 has none. Its true counters are the slots' sums.
  const slots = await k
    .selectFrom('inventory_slots')
    .selectAll()
    .orderBy('owner_id')
    .orderBy('slot')
    .execute();
  const counted = <
    R extends { id: string; slots: number; sold: number; held: number; capacity: number | null },
  >(
    kind: string,
    rows: R[],
  ): R[] =>
    rows.map((r) => {
      const own = slots.filter((s) => s.owner_id === r.id);
      const want = r.slots > 1 ? r.slots : 0;
      if (own.length !== want) broken.push(`${kind} ${r.id}: ${r.slots} slots but ${own.length} slot rows`);
      if (own.length === 0) return r;
      if (r.sold !== 0 || r.held !== 0)
        broken.push(`${kind} ${r.id}: has slots but counts sold ${r.sold} held ${r.held} on its row`);
      const capacities = own.map((s) => s.capacity);
      const sum = capacities.every((c) => c === null)
        ? null
        : capacities.reduce<number>((a, c) => a + n(c), 0);
      if (sum !== r.capacity)
        broken.push(`${kind} ${r.id}: capacity ${r.capacity} but its slots' add up to ${sum}`);
      for (const s of own)
        if (s.sold < 0 || s.held < 0 || (s.capacity !== null && s.sold + s.held > s.capacity))
          broken.push(
            `${kind} ${r.id} slot ${s.slot}: sold ${s.sold} + held ${s.held} outside 0..${s.capacity}`,
          );
      return {
        ...r,
        sold: r.sold + own.reduce((a, s) => a + s.sold, 0),
        held: r.held + own.reduce((a, s) => a + s.held, 0),
      };
    });
  const owners = new Set<string>();
  const typeCounts = counted('ticket type', types);
  for (const t of typeCounts) {
    owners.add(t.id);
    if (n(t.sold) !== n(t.seats))
      broken.push(`ticket type ${t.id}: sold ${t.sold} but ${t.seats} tickets hold a seat`);
    if (n(t.held) !== n(t.pending) + n(t.reserved))
      broken.push(
        `ticket type ${t.id}: held ${t.held} but pending orders hold ${t.pending} and codes ${t.reserved}`,
      );
    if (t.sold < 0 || t.held < 0 || t.sold + t.held > t.capacity)
      broken.push(`ticket type ${t.id}: sold ${t.sold} + held ${t.held} outside 0..${t.capacity}`);
  }

  const events = counted(
    'event',
    await k.selectFrom('events').select(['id', 'capacity', 'sold', 'held', 'slots']).execute(),
  );
  for (const e of events) {
    owners.add(e.id);
    const own = typeCounts.filter((t) => t.event_id === e.id);
    const sold = own.reduce((s, t) => s + n(t.sold), 0);
    const held = own.reduce((s, t) => s + n(t.held), 0);
    if (e.sold !== sold || e.held !== held)
      broken.push(`event ${e.id}: sold ${e.sold} held ${e.held}, its ticket types ${sold} and ${held}`);
    if (e.capacity !== null && e.sold + e.held > e.capacity)
      broken.push(`event ${e.id}: sold ${e.sold} + held ${e.held} over capacity ${e.capacity}`);
  }

  for (const s of slots)
    if (!owners.has(s.owner_id)) broken.push(`slot ${s.owner_id}/${s.slot}: its owner does not exist`);

  // Money: what an order has refunded is its refunds that stand (succeeded, or pending at the provider,
  // whose money is reserved); never more than it was paid.
  const orders = await k
    .selectFrom('orders as o')
    .select([
      'o.id',
      'o.status',
      'o.total_amount',
      'o.refunded_amount',
      'o.paid_at',
      (eb) =>
        eb
          .selectFrom('refunds')
          .select((s) => s.fn.coalesce(s.fn.sum<number>('refunds.amount'), sql<number>`0`).as('n'))
          .whereRef('refunds.order_id', '=', 'o.id')
          .where('refunds.status', 'in', ['succeeded', 'pending'])
          .as('refunds'),
      (eb) =>
        eb
          .selectFrom('tickets')
          .select(eb.fn.countAll<number>().as('n'))
          .whereRef('tickets.order_id', '=', 'o.id')
          .where('tickets.status', '=', 'valid')
          .as('valid'),
    ])
    .execute();
  for (const o of orders) {
    if (o.refunded_amount !== n(o.refunds))
      broken.push(
        `order ${o.id}: refunded_amount ${o.refunded_amount} but its refunds add up to ${o.refunds}`,
      );
    if (o.refunded_amount < 0 || o.refunded_amount > o.total_amount)
      broken.push(`order ${o.id}: refunded ${o.refunded_amount} of ${o.total_amount}`);
    if (o.status === 'refunded' && n(o.valid) > 0)
      broken.push(`order ${o.id} is refunded in full but ${o.valid} of its tickets are still valid`);
    if (o.status !== 'paid' && o.status !== 'partially_refunded' && o.status !== 'refunded' && n(o.valid) > 0)
      broken.push(`order ${o.id} is ${o.status} but ${o.valid} of its tickets are valid`);
  }

  // One credit note per refund; every refund that succeeded on an invoiced order has one.
  const notes = await k
    .selectFrom('refunds as r')
    .select([
      'r.id',
      'r.status',
      (eb) =>
        eb
          .selectFrom('invoices')
          .select(eb.fn.countAll<number>().as('n'))
          .whereRef('invoices.refund_id', '=', 'r.id')
          .where('invoices.kind', '=', 'credit_note')
          .as('notes'),
      (eb) =>
        eb
          .selectFrom('invoices')
          .select(eb.fn.countAll<number>().as('n'))
          .whereRef('invoices.order_id', '=', 'r.order_id')
          .where('invoices.kind', '=', 'invoice')
          .as('invoiced'),
    ])
    .execute();
  for (const r of notes) {
    if (n(r.notes) > 1) broken.push(`refund ${r.id} has ${r.notes} credit notes`);
    if (r.status === 'succeeded' && n(r.invoiced) > 0 && n(r.notes) === 0)
      broken.push(`refund ${r.id} succeeded on an invoiced order but has no credit note`);
  }
  // The books of each invoiced order balance: its invoices (re-issued ones too) less its credit notes
  // (of refunds, and those cancelling an invoice to re-issue it) come to what was paid less what was
  // refunded for good. Flagged orders are left out: a refund that failed after its credit note (which
  // stands) is flagged for a person to correct.
  const books = await k
    .selectFrom('orders as o')
    .innerJoin('invoices as i', 'i.order_id', 'o.id')
    .select([
      'o.id',
      'o.total_amount',
      (eb) =>
        eb.fn
          .sum<number>(eb.case().when('i.kind', '=', 'invoice').then(eb.ref('i.gross_amount')).else(0).end())
          .as('invoiced'),
      (eb) =>
        eb.fn
          .sum<number>(
            eb.case().when('i.kind', '=', 'credit_note').then(eb.ref('i.gross_amount')).else(0).end(),
          )
          .as('credited'),
      (eb) =>
        eb.fn
          .sum<number>(
            eb
              .case()
              .when(eb.and([eb('i.kind', '=', 'invoice'), eb('i.cancelled_by', 'is', null)]))
              .then(1)
              .else(0)
              .end(),
          )
          .as('standing'),
      (eb) =>
        eb
          .selectFrom('refunds')
          .select(sql<number>`coalesce(sum(amount), 0)`.as('n'))
          .whereRef('refunds.order_id', '=', 'o.id')
          .where('refunds.status', '=', 'succeeded')
          .as('refunded'),
    ])
    .where('o.flagged', '=', 0)
    .groupBy(['o.id', 'o.total_amount'])
    .execute();
  for (const b of books) {
    if (n(b.standing) !== 1) broken.push(`order ${b.id} has ${b.standing} invoices not cancelled`);
    if (n(b.invoiced) - n(b.credited) !== b.total_amount - n(b.refunded))
      broken.push(
        `order ${b.id}: invoiced ${b.invoiced} less credited ${b.credited} is not its total ${b.total_amount} less refunds ${b.refunded}`,
      );
  }
  const cancelled = await k
    .selectFrom('invoices as i')
    .leftJoin('invoices as cn', 'cn.id', 'i.cancelled_by')
    .select(['i.id', 'cn.kind', 'cn.invoice_id'])
    .where('i.cancelled_by', 'is not', null)
    .execute();
  for (const c of cancelled)
    if (c.kind !== 'credit_note' || c.invoice_id !== c.id)
      broken.push(`invoice ${c.id} is cancelled by a document that is not its credit note`);

  // A discount code's uses are its redemptions that stand, never more than it may have; an order that
  // redeemed one names it, and a pending or paid order's redemption stands.
  const vouchers = await k
    .selectFrom('vouchers as v')
    .select([
      'v.id',
      'v.uses',
      'v.max_uses',
      (eb) =>
        eb
          .selectFrom('voucher_redemptions as r')
          .select(eb.fn.countAll<number>().as('n'))
          .whereRef('r.voucher_id', '=', 'v.id')
          .where('r.status', '=', 'active')
          .as('standing'),
    ])
    .execute();
  for (const v of vouchers) {
    if (n(v.uses) !== n(v.standing))
      broken.push(`voucher ${v.id}: uses ${v.uses}, redemptions standing ${v.standing}`);
    if (v.max_uses !== null && n(v.uses) > v.max_uses)
      broken.push(`voucher ${v.id}: ${v.uses} uses of ${v.max_uses}`);
  }
  const unnamed = await k
    .selectFrom('voucher_redemptions as r')
    .innerJoin('orders as o', 'o.id', 'r.order_id')
    .select(['r.id', 'o.status', 'r.status as use'])
    .where((eb) =>
      eb.or([
        eb('o.voucher_id', 'is', null),
        eb.and([
          eb('o.status', 'in', ['pending', 'paid', 'partially_refunded']),
          eb('r.status', '<>', 'active'),
        ]),
        eb.and([eb('o.status', 'in', ['expired', 'failed', 'cancelled']), eb('r.status', '=', 'active')]),
      ]),
    )
    .execute();
  for (const r of unnamed) broken.push(`redemption ${r.id}: ${r.use} for an order that is ${r.status}`);

  broken.push(...(await rollupViolations(k)));
  if ('kysely' in database) broken.push(...(await bundleViolations(database)));
  return broken;
}

/**
 * The analytics' hourly rollups (migration 0023's triggers) equal what they sum: every paid order's
 * sale, its lines' tax, every succeeded refund, hour by hour (a hot event's spread rows added up).
 */
async function rollupViolations(k: Kysely<Database>): Promise<string[]> {
  const paid = "o.status in ('paid', 'partially_refunded', 'refunded') and o.paid_at is not null";
  const hour = (c: string) => `substr(${c}, 1, 13) || ':00:00.000Z'`;
  const compare = async (what: string, truth: string, rollup: string) => {
    const key = (r: Record<string, unknown>) => String(r.k);
    const [want, have] = await Promise.all([
      sql.raw<Record<string, unknown>>(truth).execute(k),
      sql.raw<Record<string, unknown>>(rollup).execute(k),
    ]);
    const norm = (r: Record<string, unknown>) =>
      JSON.stringify(Object.entries(r).map(([c, v]) => [c, c === 'k' ? v : Number(v ?? 0)]));
    // Rows summing to nothing (an order counted, then not) are left in the rollup: not a difference.
    const haveBy = new Map(
      have.rows
        .filter((r) => Object.entries(r).some(([c, v]) => c !== 'k' && Number(v) !== 0))
        .map((r) => [key(r), norm(r)]),
    );
    const out: string[] = [];
    for (const r of want.rows) {
      const h = haveBy.get(key(r));
      if (h !== norm(r)) out.push(`${what} ${key(r)}: the rollup has ${h ?? 'nothing'}, the rows ${norm(r)}`);
      haveBy.delete(key(r));
    }
    for (const [kk, h] of haveBy) out.push(`${what} ${kk}: the rollup has ${h}, the rows nothing`);
    return out;
  };
  const salesKey = (o: string, h: string) =>
    `${o}.org_id || ' ' || ${h} || ' ' || ${o}.currency || ' ' || o.payment_method || ' ' || coalesce(o.utm_source, '')`;
  return [
    ...(await compare(
      'sales',
      `select ${salesKey('o', hour('o.paid_at'))} as k, count(*) as orders, sum(o.ticket_count) as tickets,
        sum(o.total_amount) as gross from orders o where ${paid} group by 1`,
      `select org_id || ' ' || hour || ' ' || currency || ' ' || payment_method || ' ' || source as k,
        sum(orders) as orders, sum(tickets) as tickets, sum(gross) as gross from sales_hourly group by 1`,
    )),
    ...(await compare(
      'tax',
      `select o.org_id || ' ' || ${hour('o.paid_at')} || ' ' || o.currency || ' ' || i.tax_rate as k,
        sum(i.quantity * i.unit_amount) as gross
        from orders o join order_items i on i.order_id = o.id where ${paid} group by 1`,
      `select org_id || ' ' || hour || ' ' || currency || ' ' || tax_rate as k, sum(gross) as gross
        from tax_hourly group by 1`,
    )),
    ...(await compare(
      'refunds',
      `select ${salesKey('r', hour('r.created_at'))} as k, count(*) as refunds, sum(r.amount) as amount
        from refunds r join orders o on o.id = r.order_id where r.status = 'succeeded' group by 1`,
      `select org_id || ' ' || hour || ' ' || currency || ' ' || payment_method || ' ' || source as k,
        sum(refunds) as refunds, sum(amount) as amount from refunds_hourly group by 1`,
    )),
    // Stripe's fees (migration 0034), in the order's currency at the payment's exchange rate.
    ...(await compare(
      'fees',
      `select k, sum(payments) as payments, sum(fees) as fees from (
        select o.org_id || ' ' || ${hour('o.paid_at')} || ' ' || o.currency as k, 1 as payments,
          ${feeIn('o', 'o')} as fees
        from orders o where o.stripe_fee is not null and ${paid}
        union all
        select r.org_id || ' ' || ${hour('r.created_at')} || ' ' || o.currency as k, 0 as payments,
          ${feeIn('r', 'o')} as fees
        from refunds r join orders o on o.id = r.order_id where r.stripe_fee is not null
      ) f group by k`,
      `select org_id || ' ' || hour || ' ' || currency as k, sum(payments) as payments, sum(fees) as fees
        from fees_hourly group by 1`,
    )),
  ];
}

/** A fee in its order's currency, as migration 0034 converts it. */
const feeIn = (t: string, o: string) => `case
    when ${t}.settlement_currency is null or lower(${t}.settlement_currency) = lower(${o}.currency)
      or ${t}.exchange_rate is null or ${t}.exchange_rate = 0 then ${t}.stripe_fee
    else cast(round(${t}.stripe_fee / ${t}.exchange_rate) as integer) end`;

/** The most events whose bundles are rebuilt per check (a test leaves a handful). */
const BUNDLE_EVENTS = 50;

/**
 * What a door would download (the full offline bundle of each event's default list, all pages) agrees
 * with the database: every ticket of the event once, with its status, void reason and code version; the
 * event's status (a cancelled event's bundle says so); admitted exactly when the ticket is present on
 * the list.
 */
async function bundleViolations(db: Db): Promise<string[]> {
  const broken: string[] = [];
  const k = db.kysely;
  const events = await k
    .selectFrom('events')
    .select(['id', 'org_id', 'status'])
    .where((eb) =>
      eb.exists(eb.selectFrom('tickets').select('id').whereRef('tickets.event_id', '=', 'events.id')),
    )
    .orderBy('id')
    .limit(BUNDLE_EVENTS)
    .execute();
  const offline = new OfflineCheckin(new Checkin(db, new EventKeys(db)));
  for (const e of events) {
    const shown: CheckinBundleTicket[] = [];
    let since: string | undefined;
    let status: string | undefined;
    let listId = '';
    let reentry = false;
    for (;;) {
      const page = await offline.bundle(e.org_id, e.id, { since, limit: 5000 });
      shown.push(...page.tickets);
      status = page.event_status;
      listId = page.list.id;
      reentry = page.list.allow_reentry;
      since = page.cursor;
      if (!page.has_more) break;
    }
    if (status !== e.status) broken.push(`event ${e.id} is ${e.status} but its bundle says ${status}`);
    const rows = await k
      .selectFrom('tickets')
      .leftJoin('ticket_presence', (j) =>
        j.onRef('ticket_presence.ticket_id', '=', 'tickets.id').on('ticket_presence.list_id', '=', listId),
      )
      .select([
        'tickets.id',
        'tickets.status',
        'tickets.void_reason',
        'tickets.code_version',
        'ticket_presence.ticket_id as present',
        'ticket_presence.inside',
      ])
      .where('tickets.event_id', '=', e.id)
      .execute();
    const inBundle = new Map(shown.map((t) => [t.id, t]));
    if (inBundle.size !== shown.length) broken.push(`event ${e.id}: its bundle lists a ticket twice`);
    for (const t of rows) {
      const b = inBundle.get(t.id);
      if (!b) {
        broken.push(`ticket ${t.id} of event ${e.id} is missing from its bundle`);
        continue;
      }
      if (b.status !== t.status || b.void_reason !== t.void_reason || b.code_version !== t.code_version)
        broken.push(
          `ticket ${t.id}: the bundle says ${b.status}/${b.void_reason}/v${b.code_version}, the database ${t.status}/${t.void_reason}/v${t.code_version}`,
        );
      // Used on the list: present on it, and (where re-entry is allowed) inside now.
      const admitted = t.present !== null && (!reentry || t.inside === 1);
      if (b.admitted !== admitted)
        broken.push(`ticket ${t.id}: the bundle says admitted ${b.admitted}, the database ${admitted}`);
    }
    if (shown.length !== rows.length)
      broken.push(`event ${e.id}: its bundle lists ${shown.length} tickets, the database has ${rows.length}`);
  }
  return broken;
}

/** Fails the test with every broken invariant listed. */
export async function expectInvariants(database: Db | Kysely<Database>): Promise<void> {
  expect(await invariantViolations(database)).toEqual([]);
}
