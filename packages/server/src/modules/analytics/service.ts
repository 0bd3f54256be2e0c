import type {
  Breakdown,
  EventAnalytics,
  EventRow,
  GroupBy,
  Interval,
  Page,
  RevenueAnalytics,
  SalesAnalytics,
  SalesChannel,
  SalesPoint,
  UsersAnalytics,
} from '@tickets/sdk';
import { type Kysely, type RawBuilder, type SqlBool, sql } from 'kysely';
import { parsePhoneNumberFromString } from 'libphonenumber-js';
import { DateTime } from 'luxon';
import type { Database } from '../../db/schema.js';
import { notFound as missing } from '../../http/errors.js';
import { decodeCursor, encodeCursor } from '../../http/pagination.js';
import { nowIso } from '../../time.js';
import { withCounts } from '../inventory/inventory.js';
import { netOf } from '../invoices/documents.js';
import { type Bucket, resolveWindow, type Window } from './window.js';

/**
 * The organizer's numbers, each answer from a handful of aggregate queries: the database sums, JavaScript
 * only shapes. Time series join the orders (or refunds, or admissions) to a list of buckets computed
 * here (so both dialects bucket alike, in any time zone, DST included) on `paid_at` ranges, which the
 * indexes of migration 0022 serve.
 */

/** Orders that were paid (refunds later do not unmake a sale; they are counted as refunds). */
const PAID = ['paid', 'partially_refunded', 'refunded'] as const;

const n = (v: unknown) => Number(v ?? 0);
const rate = (part: number, whole: number) => (whole > 0 ? part / whole : null);
const CHANNEL: Record<string, SalesChannel> = { manual: 'box_office', stripe: 'online', free: 'free' };
const CHANNEL_NAME: Record<SalesChannel, string> = {
  box_office: 'Box office',
  online: 'Online',
  free: 'Free',
};

type Query = {
  from?: string;
  to?: string;
  interval?: Interval;
  timezone?: string;
  event?: string[];
  currency?: string;
};

/**
 * Orders paid in [from, to) of the organization (and of the events and currency given): the sales an
 * answer counts. `o` is the orders table. Given events (already checked to be the organization's), the
 * organization is not named: the planner then takes the (event, paid_at) index rather than the
 * organization's, which would read every order it has in the range. Without a window (`null`), the
 * caller bounds paid_at itself (a join to buckets, which are clipped to the window).
 */
function paidWhere(
  orgId: string,
  w: { from: string; to: string } | null,
  events: string[] | null,
  currency?: string,
): RawBuilder<SqlBool> {
  const whose = events ? sql`o.event_id in (${sql.join(events)})` : sql`o.org_id = ${orgId}`;
  // `o.status || ''`: the same test, but one no index serves, so SQLite (which has no statistics)
  // doesn't take the (event, status) index and then visit each order; it takes (event, paid_at), which
  // covers what the figures read (at a million tickets, 20 events' money: 244 ms → 14 ms).
  return sql<SqlBool>`${whose} and (o.status || '') in ('paid', 'partially_refunded', 'refunded')${
    w ? sql` and o.paid_at >= ${w.from} and o.paid_at < ${w.to}` : sql``
  }${currency ? sql` and o.currency = ${currency}` : sql``}`;
}

/**
 * A Stripe fee (of `t`: an order, or a refund of order `o`) in the order's currency: Stripe keeps it in
 * the settlement currency, converted back here at the payment's own exchange rate when they differ
 * (migration 0034's rollup holds the same figure).
 */
function feeIn(t: string, o: string): RawBuilder<number> {
  const [tr, or] = [sql.ref(t), sql.ref(o)];
  return sql<number>`case
    when ${tr}.settlement_currency is null or lower(${tr}.settlement_currency) = lower(${or}.currency)
      or ${tr}.exchange_rate is null or ${tr}.exchange_rate = 0 then ${tr}.stripe_fee
    else cast(round(${tr}.stripe_fee / ${tr}.exchange_rate) as integer) end`;
}

/** A phone number's country from its leading digits (libphonenumber's metadata), or null. */
function countryOf(prefix: string | null): string | null {
  if (!prefix) return null;
  // Padded to lengths a number of most plans has, until one parses to a country.
  for (const length of [12, 13, 11, 14, 10]) {
    const n = parsePhoneNumberFromString(prefix.padEnd(length, '0'));
    const country = n?.country ?? n?.getPossibleCountries()[0];
    if (country) return country;
  }
  return null;
}

function byCountry(rows: { prefix: string | null; buyers: unknown }[]) {
  const by = new Map<string | null, number>();
  for (const r of rows) {
    const c = countryOf(r.prefix);
    by.set(c, (by.get(c) ?? 0) + n(r.buyers));
  }
  return (
    [...by]
      .map(([country, buyers]) => ({ country, buyers }))
      // Most buyers first; the unknown last among equals.
      .sort(
        (a, b) =>
          b.buyers - a.buyers ||
          (a.country === null ? 1 : 0) - (b.country === null ? 1 : 0) ||
          String(a.country).localeCompare(String(b.country)),
      )
  );
}

/** A bucket's range `[s, e)` (UTC ISO), `i` its place in the series. */
type Range = { i: number; s: string; e: string };

/** The buckets as ranges, the first and last clipped to the window when given. */
function rangesOf(buckets: Bucket[], clip?: { from: string; to: string }): Range[] {
  return buckets.map((b, i) => ({
    i,
    s: clip && clip.from > b.start ? clip.from : b.start,
    e: clip && clip.to < b.end ? clip.to : b.end,
  }));
}

/**
 * Ranges as a table `b(i, s, e)` to join on: each join then reads the index range of its bucket alone
 * (with the window beside it, SQLite used the window's range for every bucket).
 */
function rangeTable(ranges: Range[]): RawBuilder<unknown> {
  return sql`b(i, s, e) as (values ${sql.join(
    ranges.map((r) => sql`(cast(${r.i} as integer), cast(${r.s} as text), cast(${r.e} as text))`),
  )})`;
}

const HOUR = 3_600_000;

/**
 * Each range split into its whole UTC hours, summed from the hourly rollups (migration 0023), and what
 * is left at either end (a zone half an hour off UTC, a window from 10:20, up to now), summed from the
 * rows themselves. Without a rollup for the question (`rollup` false: a filter or grouping the rollups
 * don't keep), every range is read from the rows.
 */
function byHours(ranges: Range[], rollup: boolean): { hours: Range[]; rest: Range[] } {
  if (!rollup) return { hours: [], rest: ranges };
  const hours: Range[] = [];
  const rest: Range[] = [];
  const at = (ms: number) => new Date(ms).toISOString();
  for (const r of ranges) {
    const s = Date.parse(r.s);
    const e = Date.parse(r.e);
    const hs = Math.ceil(s / HOUR) * HOUR;
    const he = Math.floor(e / HOUR) * HOUR;
    if (hs >= he) {
      rest.push(r);
      continue;
    }
    hours.push({ i: r.i, s: at(hs), e: at(he) });
    if (s < hs) rest.push({ i: r.i, s: r.s, e: at(hs) });
    if (he < e) rest.push({ i: r.i, s: at(he), e: r.e });
  }
  return { hours, rest };
}

/** Rows from the rollups for `hours` and from the rows for `rest`, each query only when it has ranges. */
async function twoWays<T>(
  split: { hours: Range[]; rest: Range[] },
  fromRollup: (b: RawBuilder<unknown>) => Promise<{ rows: T[] }>,
  fromRows: (b: RawBuilder<unknown>) => Promise<{ rows: T[] }>,
): Promise<T[]> {
  const [a, b] = await Promise.all([
    split.hours.length ? fromRollup(rangeTable(split.hours)) : { rows: [] },
    split.rest.length ? fromRows(rangeTable(split.rest)) : { rows: [] },
  ]);
  return [...a.rows, ...b.rows];
}

/** Rows with the same key (`keyOf`) added up, their numeric fields `fields`. */
function merged<T extends Record<string, unknown>>(
  rows: T[],
  keyOf: (r: T) => string,
  fields: (keyof T)[],
): T[] {
  const by = new Map<string, T>();
  for (const r of rows) {
    const k = keyOf(r);
    const had = by.get(k);
    if (!had) by.set(k, { ...r });
    else for (const f of fields) (had as Record<keyof T, unknown>)[f] = n(had[f]) + n(r[f]);
  }
  return [...by.values()];
}

/** Money per currency from rows of { currency, amount }, currencies in order. */
function sums(rows: { currency: string | null; amount: unknown }[]): { currency: string; amount: number }[] {
  const by = new Map<string, number>();
  for (const r of rows) if (r.currency) by.set(r.currency, (by.get(r.currency) ?? 0) + n(r.amount));
  return [...by].sort(([a], [b]) => (a < b ? -1 : 1)).map(([currency, amount]) => ({ currency, amount }));
}

/** Points of a series from per-bucket, per-currency rows; cumulative sums run through the series. */
function points(
  window: Window,
  rows: { i: unknown; currency: string | null; orders: unknown; tickets: unknown; gross: unknown }[],
): SalesPoint[] {
  const byBucket = new Map<number, typeof rows>();
  for (const r of rows) {
    const i = n(r.i);
    byBucket.set(i, [...(byBucket.get(i) ?? []), r]);
  }
  let tickets = 0;
  const running = new Map<string, number>();
  return window.buckets.map((b, i) => {
    const here = byBucket.get(i) ?? [];
    const gross = sums(here.map((r) => ({ currency: r.currency, amount: r.gross })));
    for (const g of gross) running.set(g.currency, (running.get(g.currency) ?? 0) + g.amount);
    const t = here.reduce((s, r) => s + n(r.tickets), 0);
    tickets += t;
    return {
      start: b.start,
      label: b.label,
      tickets: t,
      orders: here.reduce((s, r) => s + n(r.orders), 0),
      cumulative_tickets: tickets,
      gross,
      cumulative_gross: [...running]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([currency, amount]) => ({ currency, amount })),
    };
  });
}

function taxLines(rows: { currency: string; tax_rate: unknown; gross: unknown }[]) {
  return rows
    .map((r) => {
      const gross = n(r.gross);
      const net = netOf(gross, n(r.tax_rate));
      return { currency: r.currency, rate: n(r.tax_rate), gross, net, tax: gross - net };
    })
    .sort((a, b) => (a.currency < b.currency ? -1 : a.currency > b.currency ? 1 : b.rate - a.rate));
}

export class Analytics {
  constructor(private readonly k: Kysely<Database>) {}

  /** The organization's events named by `event` (404 for one it does not have), or null for all. */
  private async events(orgId: string, ids: string[] | undefined): Promise<string[] | null> {
    if (!ids?.length) return null;
    const found = await this.k
      .selectFrom('events')
      .select('id')
      .where('org_id', '=', orgId)
      .where('id', 'in', ids)
      .execute();
    if (found.length !== new Set(ids).size) throw missing('event');
    return found.map((e) => e.id);
  }

  /** Org-wide defaults: the last 30 days, in the time zone of the organization's latest event. */
  private async orgWindow(orgId: string, query: Query): Promise<Window> {
    const latest = await this.k
      .selectFrom('events')
      .select('timezone')
      .where('org_id', '=', orgId)
      .orderBy('starts_at', 'desc')
      .limit(1)
      .executeTakeFirst();
    const now = nowIso();
    return resolveWindow(query, {
      timezone: latest?.timezone ?? 'UTC',
      from: new Date(Date.parse(now) - 30 * 86_400_000).toISOString(),
      to: now,
    });
  }

  async event(orgId: string, eventId: string, query: Query): Promise<EventAnalytics> {
    const event = await this.k
      .selectFrom('events')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('id', '=', eventId)
      .executeTakeFirst();
    if (!event) throw missing('event');
    const now = nowIso();
    // Its whole selling life by default: from its creation to a day after it ends (or now, if sooner).
    const dayAfter = new Date(Date.parse(event.ends_at) + 86_400_000).toISOString();
    const w = resolveWindow(query, {
      timezone: event.timezone,
      from: event.created_at,
      // biome-ignore lint/complexity/useMathMinMax: ISO strings, which Math.min would make NaN
      to: now < dayAfter ? now : dayAfter,
    });
    const inWindow = paidWhere(orgId, w, [eventId]);

    // `v`: the event's valid tickets; `a`: those admitted, with their first admission and whether they
    // are inside now (over all of the event's lists).
    const presence = sql`v as (select t.id from tickets t where t.event_id = ${eventId} and t.status = 'valid'),
      p as (select p.ticket_id, max(p.inside) as inside, min(p.first_entry_at) as first from ticket_presence p
        where p.list_id in (select l.id from checkin_lists l where l.event_id = ${eventId}) group by p.ticket_id),
      a as (select p.* from p join v on v.id = p.ticket_id)`;
    // A handful of queries over the event's orders, each read from the covering index on (event, paid)
    // (migration 0024) or the order lines' on their ticket type, never the rows: at a million tickets
    // an event's orders lie scattered over the whole table, and a visit to each is what was slow.
    const [[counted], types, series, byOrder, items, checkins, refunds, holds, lists] = await Promise.all([
      withCounts(this.k, [event]),
      this.k
        .selectFrom('ticket_types')
        .select(['id', 'name', 'capacity', 'sold', 'held', 'slots'])
        .where('event_id', '=', eventId)
        .orderBy('sort_order')
        .orderBy('id')
        .execute()
        .then((rows) => withCounts(this.k, rows)),
      // count(o.paid_at), not count(o.id): a left join counts only the orders found, from the index.
      sql<{ i: number; currency: string | null; orders: unknown; tickets: unknown; gross: unknown }>`
          with ${rangeTable(rangesOf(w.buckets, w))}
          select b.i, o.currency, count(o.paid_at) as orders, sum(o.ticket_count) as tickets, sum(o.total_amount) as gross
          from b left join orders o on ${paidWhere(orgId, null, [eventId])} and o.paid_at >= b.s and o.paid_at < b.e
          group by b.i, o.currency`.execute(this.k),
      // Per channel and source; the totals are their sums.
      sql<{
        method: string;
        source: string;
        currency: string;
        orders: unknown;
        tickets: unknown;
        gross: unknown;
        refunded: unknown;
        fees: unknown;
        with_fee: unknown;
      }>`
          select o.payment_method as method, coalesce(o.utm_source, '') as source, o.currency, count(*) as orders,
            sum(o.ticket_count) as tickets, sum(o.total_amount) as gross, sum(o.refunded_amount) as refunded,
            coalesce(sum(${feeIn('o', 'o')}), 0) as fees, count(o.stripe_fee) as with_fee
          from orders o where ${inWindow}
          group by o.payment_method, coalesce(o.utm_source, ''), o.currency`.execute(this.k),
      // Per ticket type and tax rate (a type's lines all have one rate, so an order counts once per
      // type): by type, and tax per rate, are their sums.
      sql<{
        key: string;
        currency: string;
        tax_rate: unknown;
        orders: unknown;
        tickets: unknown;
        gross: unknown;
      }>`
          select i.ticket_type_id as key, o.currency, i.tax_rate, count(*) as orders,
            sum(i.quantity) as tickets, sum(i.quantity * i.unit_amount) as gross
          from order_items i join orders o on o.id = i.order_id
          where i.ticket_type_id in (select id from ticket_types where event_id = ${eventId}) and ${inWindow}
          group by i.ticket_type_id, o.currency, i.tax_rate`.execute(this.k),
      // The event's valid tickets with their first admission and whether they are inside now, read by
      // the event's check-in lists (migration 0024's index), not ticket by ticket.
      sql<{ valid: unknown; admitted: unknown; inside: unknown }>`
          with ${presence}
          select (select count(*) from v) as valid, count(*) as admitted, sum(a.inside) as inside from a`.execute(
        this.k,
      ),
      sql<{ count: unknown; amount: unknown; orders: unknown }>`
          select count(*) as count, sum(r.amount) as amount, count(distinct r.order_id) as orders
          from refunds r where r.status = 'succeeded' and r.order_id in (select o.id from orders o where ${inWindow})`.execute(
        this.k,
      ),
      sql<{ status: string; orders: unknown }>`
          select o.status, count(*) as orders from orders o
          where o.event_id = ${eventId} and o.payment_method = 'stripe' and o.created_at >= ${w.from} and o.created_at < ${w.to}
          group by o.status`.execute(this.k),
      this.k
        .selectFrom('checkin_lists')
        .select(['starts_at', 'is_default'])
        .where('event_id', '=', eventId)
        .execute(),
    ]);
    const typeName = new Map(types.map((tt) => [tt.id, tt.name]));
    const totals = {
      rows: [
        byOrder.rows.reduce(
          (a, r) => ({
            orders: a.orders + n(r.orders),
            tickets: a.tickets + n(r.tickets),
            gross: a.gross + n(r.gross),
            refunded: a.refunded + n(r.refunded),
            fees: a.fees + n(r.fees),
            // Stripe payments whose fee is not recorded yet (the fees job reads it a moment later).
            unknownFees: a.unknownFees + (r.method === 'stripe' ? n(r.orders) - n(r.with_fee) : 0),
          }),
          { orders: 0, tickets: 0, gross: 0, refunded: 0, fees: 0, unknownFees: 0 },
        ),
      ],
    };
    const tax = { rows: merged(items.rows, (r) => `${r.currency} ${n(r.tax_rate)}`, ['gross']) };
    const byType = {
      rows: merged(
        items.rows.map((r) => ({ ...r, name: typeName.get(r.key) ?? r.key })),
        (r) => `${r.key} ${r.currency}`,
        ['orders', 'tickets', 'gross'],
      ),
    };

    // Arrivals: first admissions per 15 minutes, from an hour before the doors to three hours after.
    const doors = lists.find((l) => l.is_default)?.starts_at ?? event.starts_at;
    const quarter = 15 * 60_000;
    const arrivalBuckets: Bucket[] = Array.from({ length: 16 }, (_, i) => {
      const start = new Date(Date.parse(doors) - 60 * 60_000 + i * quarter);
      return {
        start: start.toISOString(),
        end: new Date(start.getTime() + quarter).toISOString(),
        label: '',
      };
    });
    const arrivals = await sql<{ i: unknown; admitted: unknown }>`
      with ${rangeTable(rangesOf(arrivalBuckets))}, ${presence}
      select b.i, count(a.first) as admitted from b left join a on a.first >= b.s and a.first < b.e group by b.i`.execute(
      this.k,
    );
    const admittedAt = new Map(arrivals.rows.map((r) => [n(r.i), n(r.admitted)]));
    const label = (iso: string) => DateTime.fromISO(iso).setZone(w.timezone).toFormat("yyyy-MM-dd'T'HH:mmZZ");

    const t = totals.rows[0]!;
    const gross = n(t.gross);
    const refunded = n(t.refunded);
    const orderCount = n(t.orders);
    const c = checkins.rows[0]!;
    const valid = n(c.valid);
    const admitted = n(c.admitted);
    const byStatus = new Map(holds.rows.map((h) => [h.status, n(h.orders)]));
    const holdsPaid = PAID.reduce((s, st) => s + (byStatus.get(st) ?? 0), 0);
    const expired =
      (byStatus.get('expired') ?? 0) + (byStatus.get('cancelled') ?? 0) + (byStatus.get('failed') ?? 0);
    const breakdown = (
      rows: {
        key: string;
        name: string;
        currency: string;
        orders: unknown;
        tickets: unknown;
        gross: unknown;
      }[],
    ): Breakdown[] => {
      const by = new Map<string, Breakdown>();
      for (const r of rows) {
        const b = by.get(r.key) ?? { key: r.key, name: r.name, orders: 0, tickets: 0, gross: [] };
        b.orders += n(r.orders);
        b.tickets += n(r.tickets);
        b.gross = sums([...b.gross, { currency: r.currency, amount: r.gross }]);
        by.set(r.key, b);
      }
      return [...by.values()].sort((a, b) => b.tickets - a.tickets || (a.key < b.key ? -1 : 1));
    };
    const sold = counted!.sold;
    const capacity = counted!.capacity;
    return {
      object: 'event_analytics',
      event_id: eventId,
      timezone: w.timezone,
      interval: w.interval,
      from: w.from,
      to: w.to,
      inventory: {
        capacity,
        sold,
        held: counted!.held,
        available: capacity === null ? null : Math.max(0, capacity - sold - counted!.held),
        sell_through: capacity === null ? null : rate(sold, capacity),
        ticket_types: types.map((tt) => ({
          id: tt.id,
          name: tt.name,
          capacity: tt.capacity,
          sold: tt.sold,
          held: tt.held,
          available: tt.capacity === null ? null : Math.max(0, tt.capacity - tt.sold - tt.held),
          sell_through: tt.capacity === null ? null : rate(tt.sold, tt.capacity),
        })),
      },
      money: {
        currency: event.currency,
        gross,
        refunded,
        net: gross - refunded,
        tax: taxLines(tax.rows),
        fees: t.unknownFees > 0 ? null : t.fees,
      },
      sales: points(w, series.rows),
      by_ticket_type: breakdown(byType.rows),
      by_channel: breakdown(
        byOrder.rows.map((r) => ({
          ...r,
          key: CHANNEL[r.method] ?? r.method,
          name: CHANNEL_NAME[CHANNEL[r.method] ?? 'free'],
        })),
      ),
      by_source: breakdown(
        byOrder.rows.map((r) => ({ ...r, key: r.source || 'direct', name: r.source || 'direct' })),
      ),
      orders: {
        count: orderCount,
        average_tickets: orderCount ? n(t.tickets) / orderCount : null,
        average_value: orderCount ? gross / orderCount : null,
      },
      checkins: {
        valid_tickets: valid,
        admitted,
        inside: n(c.inside),
        checkin_rate: rate(admitted, valid),
        no_shows: now >= event.ends_at ? valid - admitted : null,
        doors,
        arrivals: arrivalBuckets.map((b, i) => ({
          start: b.start,
          label: label(b.start),
          admitted: admittedAt.get(i) ?? 0,
        })),
      },
      refunds: {
        count: n(refunds.rows[0]?.count),
        amount: n(refunds.rows[0]?.amount),
        orders_refunded: n(refunds.rows[0]?.orders),
        rate: rate(n(refunds.rows[0]?.orders), orderCount),
      },
      holds: {
        paid: holdsPaid,
        expired,
        pending: byStatus.get('pending') ?? 0,
        conversion: rate(holdsPaid, holdsPaid + expired),
      },
    };
  }

  /** Tickets and orders over time across events, optionally split by event, ticket type, channel or source. */
  async sales(orgId: string, query: Query & { group_by?: GroupBy }): Promise<SalesAnalytics> {
    const [events, w] = await Promise.all([this.events(orgId, query.event), this.orgWindow(orgId, query)]);
    const by = query.group_by ?? null;
    const perItem = by === 'ticket_type';
    const key =
      by === 'event'
        ? sql`o.event_id`
        : by === 'channel'
          ? sql`o.payment_method`
          : by === 'source'
            ? sql`coalesce(o.utm_source, '')`
            : by === 'ticket_type'
              ? sql`i.ticket_type_id`
              : // Not grouped: a constant (Postgres refuses one in GROUP BY, so it is left out there).
                sql`''`;
    type Row = {
      i: unknown;
      key: string;
      name: string | null;
      currency: string;
      orders: unknown;
      tickets: unknown;
      gross: unknown;
    };
    // The rollup keeps method and source, not events or ticket types.
    const rollupKey =
      by === 'channel' ? sql`r.payment_method` : by === 'source' ? sql`r.source` : by ? null : sql`''`;
    const rows = {
      rows: await twoWays<Row>(
        byHours(rangesOf(w.buckets, w), events === null && rollupKey !== null),
        (b) =>
          sql<Row>`
          with ${b}
          select b.i, ${rollupKey} as key, null as name, r.currency, sum(r.orders) as orders,
            sum(r.tickets) as tickets, sum(r.gross) as gross
          from b join sales_hourly r on r.org_id = ${orgId} and r.hour >= b.s and r.hour < b.e
            ${query.currency ? sql`and r.currency = ${query.currency}` : sql``}
          group by b.i, ${by ? sql`${rollupKey}, ` : sql``}r.currency`.execute(this.k),
        // count(*), not count(o.id): the id is not in the covering index, and reading it visits every row.
        (b) =>
          sql<Row>`
          with ${b}
          select b.i, ${key} as key, ${perItem ? sql`min(i.name)` : sql`null`} as name, o.currency,
            ${perItem ? sql`count(distinct o.id)` : sql`count(*)`} as orders,
            sum(${perItem ? sql`i.quantity` : sql`o.ticket_count`}) as tickets,
            sum(${perItem ? sql`i.quantity * i.unit_amount` : sql`o.total_amount`}) as gross
          from b join orders o on ${paidWhere(orgId, null, events, query.currency)} and o.paid_at >= b.s and o.paid_at < b.e
          ${perItem ? sql`join order_items i on i.order_id = o.id` : sql``}
          group by b.i, ${by ? sql`${key}, ` : sql``}o.currency`.execute(this.k),
      ),
    };
    const keys = [...new Set(rows.rows.map((r) => r.key))].sort();
    const names = new Map<string, string>();
    if (by === 'event' && keys.length)
      for (const e of await this.k
        .selectFrom('events')
        .select(['id', 'name'])
        .where('id', 'in', keys)
        .execute())
        names.set(e.id, e.name);
    for (const r of rows.rows) if (r.name) names.set(r.key, r.name);
    const nameOf = (k: string) =>
      by === 'channel'
        ? CHANNEL_NAME[CHANNEL[k] ?? 'free']
        : by === 'source'
          ? k || 'direct'
          : (names.get(k) ?? k);
    const keyOf = (k: string) => (by === 'channel' ? (CHANNEL[k] ?? k) : by === 'source' ? k || 'direct' : k);
    const all = points(w, rows.rows);
    const last = all.at(-1);
    return {
      object: 'sales_analytics',
      timezone: w.timezone,
      interval: w.interval,
      from: w.from,
      to: w.to,
      group_by: by,
      totals: {
        tickets: last?.cumulative_tickets ?? 0,
        orders: all.reduce((s, p) => s + p.orders, 0),
        gross: last?.cumulative_gross ?? [],
      },
      series: by
        ? keys.map((k) => ({
            key: keyOf(k),
            name: nameOf(k),
            points: points(
              w,
              rows.rows.filter((r) => r.key === k),
            ),
          }))
        : [{ key: null, name: null, points: all }],
    };
  }

  /**
   * One row per event: capacity, sold, sell-through, money in the range, check-in rate; sorted, paged.
   * The events are read and sorted first; the costly figures (money, tickets admitted) are summed for the
   * page alone — unless the sort is by net, which needs the money of every event (one grouped query).
   */
  async eventsList(
    orgId: string,
    query: Query & { sort?: string; limit?: number; starting_after?: string },
  ): Promise<Page<EventRow>> {
    const [events, w] = await Promise.all([this.events(orgId, query.event), this.orgWindow(orgId, query)]);
    const rows = await withCounts(
      this.k,
      await this.k
        .selectFrom('events')
        .select(['id', 'name', 'status', 'starts_at', 'currency', 'capacity', 'sold', 'held', 'slots'])
        .where('org_id', '=', orgId)
        .$if(events !== null, (q) => q.where('id', 'in', events!))
        .execute(),
    );
    const money = async (ids: string[] | null) => {
      if (ids?.length === 0) return new Map<string, { gross: number; net: number }>();
      const sums = await sql<{ event_id: string; gross: unknown; refunded: unknown }>`
        select o.event_id, sum(o.total_amount) as gross, sum(o.refunded_amount) as refunded
        from orders o where ${paidWhere(orgId, w, ids, query.currency)} group by o.event_id`.execute(this.k);
      return new Map(
        sums.rows.map((r) => [r.event_id, { gross: n(r.gross), net: n(r.gross) - n(r.refunded) }]),
      );
    };
    const sort = query.sort ?? '-starts_at';
    const field = sort.replace(/^-/, '') as 'name' | 'starts_at' | 'sold' | 'net';
    const dir = sort.startsWith('-') ? -1 : 1;
    const all = field === 'net' ? await money(events) : null;
    const key = (e: (typeof rows)[number]) =>
      field === 'net' ? (all?.get(e.id)?.net ?? 0) : field === 'sold' ? e.sold : e[field];
    rows.sort((a, b) => {
      const x = key(a);
      const y = key(b);
      return (x < y ? -1 : x > y ? 1 : 0) * dir || (a.id < b.id ? -1 : 1);
    });
    const limit = query.limit ?? 20;
    let offset = 0;
    if (query.starting_after) {
      const [at] = decodeCursor(query.starting_after, 1);
      offset = typeof at === 'number' && at >= 0 ? at : 0;
    }
    const page = rows.slice(offset, offset + limit);
    const ids = page.map((e) => e.id);
    const [sums, checked] = await Promise.all([
      all ?? money(ids),
      ids.length
        ? sql<{ event_id: string; valid: unknown; admitted: unknown }>`
            with p as (select distinct p.ticket_id from ticket_presence p
              where p.list_id in (select l.id from checkin_lists l where l.event_id in (${sql.join(ids)})))
            select t.event_id, count(*) as valid, count(p.ticket_id) as admitted
            from tickets t left join p on p.ticket_id = t.id
            where t.event_id in (${sql.join(ids)}) and t.status = 'valid'
            group by t.event_id`.execute(this.k)
        : Promise.resolve({ rows: [] }),
    ]);
    const tickets = new Map(checked.rows.map((r) => [r.event_id, r]));
    const data: EventRow[] = page.map((e) => {
      const m = sums.get(e.id) ?? { gross: 0, net: 0 };
      const t = tickets.get(e.id);
      return {
        object: 'event_summary',
        event_id: e.id,
        name: e.name,
        status: e.status,
        starts_at: e.starts_at,
        currency: e.currency,
        capacity: e.capacity,
        sold: e.sold,
        sell_through: e.capacity === null ? null : rate(e.sold, e.capacity),
        gross: m.gross,
        net: m.net,
        checkin_rate: rate(n(t?.admitted), n(t?.valid)),
      };
    });
    const more = offset + limit < rows.length;
    return {
      object: 'list',
      data,
      has_more: more,
      next_cursor: more ? encodeCursor([offset + limit]) : null,
    };
  }

  /** Buyers: how many, new or returning, repeat rate, tickets per buyer, opt-ins, the top ten by spend. */
  async users(orgId: string, query: Query): Promise<UsersAnalytics> {
    const [events, w] = await Promise.all([this.events(orgId, query.event), this.orgWindow(orgId, query)]);
    const inRange = paidWhere(orgId, w, events, query.currency);
    const [summary, top, phones] = await Promise.all([
      // Every paid order of the organization before `to`: a buyer is new when their first is in range.
      sql<{ buyers: unknown; new_buyers: unknown; repeaters: unknown; tickets: unknown; opted: unknown }>`
        with buyers as (
          select o.buyer_email, min(o.paid_at) as first_paid,
            sum(case when ${inRange} then 1 else 0 end) as orders,
            sum(case when ${inRange} then o.ticket_count else 0 end) as tickets,
            max(case when ${inRange} then o.marketing_opt_in else 0 end) as opted
          from orders o
          where o.org_id = ${orgId} and o.status in ('paid', 'partially_refunded', 'refunded') and o.paid_at < ${w.to}
          group by o.buyer_email)
        select count(*) as buyers, sum(case when first_paid >= ${w.from} then 1 else 0 end) as new_buyers,
          sum(case when orders > 1 then 1 else 0 end) as repeaters, sum(tickets) as tickets, sum(opted) as opted
        from buyers where orders > 0`.execute(this.k),
      sql<{
        email: string;
        name: string;
        currency: string;
        orders: unknown;
        tickets: unknown;
        spent: unknown;
      }>`
        select o.buyer_email as email, max(o.buyer_name) as name, o.currency, count(*) as orders,
          sum(o.ticket_count) as tickets, sum(o.total_amount) as spent
        from orders o where ${inRange}
        group by o.buyer_email, o.currency
        order by spent desc, email limit 10`.execute(this.k),
      // Buyers per leading digits of their phone (calling code and a few more: enough to tell a
      // country, few enough groups), each buyer once (their latest phone in range).
      sql<{ prefix: string | null; buyers: unknown }>`
        with phones as (
          select o.buyer_email, max(o.buyer_phone) as phone from orders o where ${inRange} group by o.buyer_email)
        select substr(phone, 1, 7) as prefix, count(*) as buyers from phones group by substr(phone, 1, 7)`.execute(
        this.k,
      ),
    ]);
    const r = summary.rows[0]!;
    const buyers = n(r.buyers);
    return {
      object: 'users_analytics',
      timezone: w.timezone,
      interval: w.interval,
      from: w.from,
      to: w.to,
      buyers,
      new_buyers: n(r.new_buyers),
      returning_buyers: buyers - n(r.new_buyers),
      repeat_rate: rate(n(r.repeaters), buyers),
      tickets_per_buyer: buyers ? n(r.tickets) / buyers : null,
      marketing_opt_in_rate: rate(n(r.opted), buyers),
      by_country: byCountry(phones.rows),
      top_buyers: top.rows.map((b) => ({
        email: b.email,
        name: b.name,
        orders: n(b.orders),
        tickets: n(b.tickets),
        spent: [{ currency: b.currency, amount: n(b.spent) }],
      })),
    };
  }

  /** Money in and out per bucket and currency: paid, refunded, net; tax per rate; payments by method. */
  async revenue(orgId: string, query: Query): Promise<RevenueAnalytics> {
    const [events, w] = await Promise.all([this.events(orgId, query.event), this.orgWindow(orgId, query)]);
    const buckets = byHours(rangesOf(w.buckets, w), events === null);
    const whole = byHours([{ i: 0, s: w.from, e: w.to }], events === null);
    const inCurrency = (t: string) =>
      query.currency ? sql`and ${sql.ref(t)}.currency = ${query.currency}` : sql``;
    const paidJoin = (b: RawBuilder<unknown>) =>
      sql`${b} join orders o on ${paidWhere(orgId, null, events, query.currency)} and o.paid_at >= b.s and o.paid_at < b.e`;
    const fromHours = (b: RawBuilder<unknown>, table: string) =>
      sql`${b} join ${sql.table(table)} r on r.org_id = ${orgId} and r.hour >= b.s and r.hour < b.e ${inCurrency('r')}`;
    // Sales per bucket, currency and method in one read: the series sums the methods, `by_method` the
    // buckets (which tile the window).
    type Paid = { i: unknown; currency: string; method: string; orders: unknown; gross: unknown };
    type Fees = { i: unknown; currency: string; payments: unknown; fees: unknown };
    const [paidRows, refundRows, taxRows, feeRows] = await Promise.all([
      twoWays<Paid>(
        buckets,
        (b) =>
          sql<Paid>`with ${b} select b.i, r.currency, r.payment_method as method, sum(r.orders) as orders,
            sum(r.gross) as gross
          from ${fromHours(sql`b`, 'sales_hourly')} group by b.i, r.currency, r.payment_method`.execute(
            this.k,
          ),
        (b) =>
          sql<Paid>`with ${b} select b.i, o.currency, o.payment_method as method, count(*) as orders,
            sum(o.total_amount) as gross
          from ${paidJoin(sql`b`)} group by b.i, o.currency, o.payment_method`.execute(this.k),
      ),
      twoWays<{ i: unknown; currency: string; amount: unknown }>(
        buckets,
        (b) =>
          sql<{
            i: unknown;
            currency: string;
            amount: unknown;
          }>`with ${b} select b.i, r.currency, sum(r.amount) as amount
          from ${fromHours(sql`b`, 'refunds_hourly')} group by b.i, r.currency`.execute(this.k),
        (b) =>
          sql<{ i: unknown; currency: string; amount: unknown }>`
          with ${b}
          select b.i, r.currency, sum(r.amount) as amount
          from b join refunds r on r.org_id = ${orgId} and r.status = 'succeeded' and r.created_at >= b.s and r.created_at < b.e
            ${inCurrency('r')}
          ${events ? sql`join orders o on o.id = r.order_id and o.event_id in (${sql.join(events)})` : sql``}
          group by b.i, r.currency`.execute(this.k),
      ),
      twoWays<{ currency: string; tax_rate: unknown; gross: unknown }>(
        whole,
        (b) =>
          sql<{ currency: string; tax_rate: unknown; gross: unknown }>`with ${b}
          select r.currency, r.tax_rate, sum(r.gross) as gross
          from ${fromHours(sql`b`, 'tax_hourly')} group by r.currency, r.tax_rate`.execute(this.k),
        (b) =>
          sql<{ currency: string; tax_rate: unknown; gross: unknown }>`with ${b}
          select o.currency, i.tax_rate, sum(i.quantity * i.unit_amount) as gross
          from ${paidJoin(sql`b`)} join order_items i on i.order_id = o.id
          group by o.currency, i.tax_rate`.execute(this.k),
      ),
      // Stripe's fees: a payment's in the hour it was paid, a refund's in the hour it was made.
      twoWays<Fees>(
        buckets,
        (b) =>
          sql<Fees>`with ${b} select b.i, r.currency, sum(r.payments) as payments, sum(r.fees) as fees
          from ${fromHours(sql`b`, 'fees_hourly')} group by b.i, r.currency`.execute(this.k),
        (b) =>
          sql<Fees>`with ${b}
          select i, currency, sum(payments) as payments, sum(fees) as fees from (
            select b.i, o.currency, count(*) as payments, sum(${feeIn('o', 'o')}) as fees
            from ${paidJoin(sql`b`)} and o.stripe_fee is not null group by b.i, o.currency
            union all
            select b.i, o.currency, 0 as payments, sum(${feeIn('r', 'o')}) as fees
            from b join refunds r on r.org_id = ${orgId} and r.stripe_fee is not null
              and r.created_at >= b.s and r.created_at < b.e
            join orders o on o.id = r.order_id ${inCurrency('o')}
              ${events ? sql`and o.event_id in (${sql.join(events)})` : sql``}
            group by b.i, o.currency
          ) f group by i, currency`.execute(this.k),
      ),
    ]);
    const paid = { rows: paidRows };
    const refunded = { rows: refundRows };
    const tax = { rows: merged(taxRows, (r) => `${r.currency} ${n(r.tax_rate)}`, ['gross']) };
    const methods = { rows: merged(paidRows, (r) => `${r.method} ${r.currency}`, ['orders', 'gross']) };
    const currencies = [...new Set([...paid.rows, ...refunded.rows].map((r) => r.currency))].sort();
    type Cell = { gross: number; refunds: number; fees: number; stripe: number; feesKnown: number };
    const empty = (): Cell => ({ gross: 0, refunds: 0, fees: 0, stripe: 0, feesKnown: 0 });
    const cell = new Map<string, Cell>();
    const at = (i: unknown, c: string) => {
      const key = `${n(i)} ${c}`;
      const v = cell.get(key) ?? empty();
      cell.set(key, v);
      return v;
    };
    for (const r of paid.rows) {
      const v = at(r.i, r.currency);
      v.gross += n(r.gross);
      if (r.method === 'stripe') v.stripe += n(r.orders);
    }
    for (const r of refunded.rows) at(r.i, r.currency).refunds += n(r.amount);
    for (const r of feeRows) {
      const v = at(r.i, r.currency);
      v.fees += n(r.fees);
      v.feesKnown += n(r.payments);
    }
    const series = w.buckets.flatMap((b, i) =>
      currencies.map((currency) => {
        const v = cell.get(`${i} ${currency}`) ?? empty();
        // Null while a Stripe payment's fee is still to be read; the net then leaves out only those known.
        return {
          start: b.start,
          label: b.label,
          currency,
          gross: v.gross,
          refunds: v.refunds,
          fees: v.feesKnown < v.stripe ? null : v.fees,
          net: v.gross - v.refunds - v.fees,
        };
      }),
    );
    const feesOf = (points: typeof series) =>
      points.some((p) => p.fees === null) ? null : points.reduce((s, p) => s + (p.fees ?? 0), 0);
    return {
      object: 'revenue_analytics',
      timezone: w.timezone,
      interval: w.interval,
      from: w.from,
      to: w.to,
      totals: currencies.map((currency) => {
        const mine = series.filter((p) => p.currency === currency);
        const gross = mine.reduce((s, p) => s + p.gross, 0);
        const refunds = mine.reduce((s, p) => s + p.refunds, 0);
        const net = mine.reduce((s, p) => s + p.net, 0);
        return { currency, gross, refunds, fees: feesOf(mine), net };
      }),
      series,
      tax: taxLines(tax.rows),
      by_method: methods.rows
        .map((m) => ({ method: m.method, currency: m.currency, orders: n(m.orders), gross: n(m.gross) }))
        .sort((a, b) => b.gross - a.gross),
    };
  }
}
