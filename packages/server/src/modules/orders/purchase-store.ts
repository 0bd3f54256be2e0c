// The purchase's statements and the rows it reads, one implementation per database (chosen in service.ts).

import type { Order, PurchaseInput } from '@tickets/sdk';
import { CompiledQuery, type Kysely, sql, type Transaction } from 'kysely';
import type { z } from 'zod';
import { prepared, retriedWhenLost } from '../../db/database.js';
import type {
  Database,
  EventRow,
  OrderItemRow,
  OrderRow,
  TicketRow,
  TicketTypeRow,
} from '../../db/schema.js';
import { insertRows, run } from '../../db/statements.js';
import { conflict } from '../../http/errors.js';
import { SQL, takeSeats } from '../inventory/inventory.js';
import { invoiceForSaleOnSqlite } from '../invoices/ledger.js';
import { orderPaidMessages, outboxRows } from '../messaging/outbox.js';
import { redeemWithSeats, type VoucherRow } from '../vouchers/pricing.js';
import { checkoutSignals, paidOrderSignals } from './signals.js';
import { orderView } from './views.js';

type Purchase = z.output<typeof PurchaseInput>;
type Trx = Transaction<Database>;

export const REASON_TEXT: Record<string, string> = {
  event_not_published: 'The event is not published yet.',
  event_cancelled: 'The event was cancelled.',
  event_completed: 'The event is over.',
  event_ended: 'The event is over.',
  sales_not_started: 'Sales have not started yet.',
  sales_ended: 'Sales have ended.',
};

const INTEGER_COLUMNS = new Set([
  'total_amount',
  'refunded_amount',
  'ticket_count',
  'flagged',
  'quantity',
  'unit_amount',
  'tax_rate',
  'code_version',
  'seat_kept',
  'attempts',
  'marketing_opt_in',
  'response_status',
]);

type Rows = readonly object[];

/**
 * sellAtOnce's statement text for one shape (the counter column, the tables'
 * columns and row counts), built once: building it with Kysely on every sale cost more than the rest
 * of the request's JavaScript. Values are `$n` parameters, typed for Postgres (they would be text).
 */
const sellAtOnceTexts = new Map<string, { columns: string[][]; text: string }[]>();

function sellAtOnceText(column: 'sold' | 'held', slotted: boolean, groups: Rows[]): string {
  const columns = groups.map((g) => (g.length ? Object.keys(g[0]!) : []));
  const key = `${column} ${slotted} ${groups.map((g) => g.length).join(' ')}`;
  let shapes = sellAtOnceTexts.get(key);
  if (!shapes) {
    shapes = [];
    sellAtOnceTexts.set(key, shapes);
  }
  const same = (a: string[], b: string[]) => a.length === b.length && a.every((c, i) => c === b[i]);
  const known = shapes.find((shape) => shape.columns.every((c, i) => same(c, columns[i]!)));
  if (known) return known.text;
  let n = 0;
  const p = (type: 'integer' | 'text') => `$${++n}::${type}`;
  const names = (cols: string[]) => cols.map((c) => `"${c}"`).join(', ');
  const values = (cols: string[], count: number) =>
    `select * from (values ${Array.from(
      { length: count },
      () => `(${cols.map((c) => p(INTEGER_COLUMNS.has(c) ? 'integer' : 'text')).join(', ')})`,
    ).join(', ')}) as v(${names(cols)})`;
  const insert = (table: string, i: number, guard: string) =>
    `insert into ${table} (${names(columns[i]!)}) ${values(columns[i]!, groups[i]!.length)} where exists (select 1 from ${guard})`;
  const [, , tickets, messages] = groups;
  let text = `with ${SQL.takeCtes(column, p, slotted)}, `;
  text += `o as (${insert('orders', 0, 'e')} returning id), `;
  text += `i as (${insert('order_items', 1, 'o')})`;
  if (tickets?.length) text += `, k as (${insert('tickets', 2, 'o')})`;
  if (messages?.length) text += `, m as (${insert('outbox', 3, 'o')})`;
  // The ticket type's increment matched but the event's did not: fail the statement (division by
  // zero), so it undoes the type's increment too; it runs in no transaction that could.
  text +=
    ' select (select count(*) from t) as types, case when exists (select 1 from t) then 1 / (select count(*) from e) else 0 end as events';
  // Kept for the usual small orders; a large one's text (up to 100 tickets and their messages) is
  // built each time rather than held for ever.
  if (groups.reduce((sum, g) => sum + g.length, 0) <= 40) shapes.push({ columns, text });
  return text;
}

/**
 * A whole sale of one ticket type on Postgres as one statement, so one atomic transaction with no
 * round trip inside: the ticket type's and the event's conditional increments come first (every
 * buyer's queue, locked from here to the end of the statement), and the order, its items and its
 * tickets are written only if both matched. Returns why not, or null when sold. With slots (`slots` >
 * 1, the event's as read), a refusal only means no slot had room at once: see SQL.takeCtes.
 */
export async function sellAtOnce(
  db: Kysely<Database>,
  order: OrderRow,
  items: OrderItemRow[],
  tickets: TicketRow[],
  item: { typeId: string; name: string; quantity: number },
  column: 'sold' | 'held',
  messages: ReturnType<typeof outboxRows>,
  slots: number,
): Promise<string | null> {
  const n = item.quantity;
  const groups: Rows[] = [[order], items, tickets, messages];
  const parameters: unknown[] = [];
  const add = (rows: Rows) => {
    if (!rows.length) return;
    const columns = Object.keys(rows[0]!);
    for (const row of rows)
      for (const c of columns) parameters.push((row as Record<string, unknown>)[c] ?? null);
  };
  parameters.push(...SQL.takeValues(n, item.typeId, order.event_id, slots));
  for (const g of groups) add(g);
  const statement = CompiledQuery.raw(sellAtOnceText(column, slots > 1, groups), parameters);
  // One statement, but it may meet a change of the event (new slots, a capacity) taking the same rows
  // in the other order: Postgres then fails one of them, which is run again.
  const result = await retriedWhenLost(() =>
    db.executeQuery<{ types: number; events: number }>(statement),
  ).catch((err: unknown) => {
    if ((err as { code?: string }).code === '22012') return null;
    throw err;
  });
  if (!result) return `The event is sold out, or fewer than ${n} places are left.`;
  const row = result.rows[0]!;
  if (Number(row.types) !== 1) return `${item.name} is sold out, or fewer than ${n} are left.`;
  return null;
}

/** A sale planned from the event's and its ticket types' rows: what to write. */
export interface Sale {
  order: OrderRow;
  items: OrderItemRow[];
  wanted: { typeId: string; name: string; quantity: number }[];
  pending: boolean;
  column: 'sold' | 'held';
  /** What a discount code took off (0 without one), and the code, redeemed with the sale. */
  discount: number;
  voucher?: VoucherRow;
}

/** Plans a sale from the rows (throwing why it cannot be), see Orders.plan. */
export type Planner = (event: SaleEvent | undefined, types: SaleType[]) => Sale;

/**
 * A whole sale on SQLite, as one unit of the grouped writes (see groupedWrites): there is one writer,
 * so nothing queues on rows and the order of statements is free. The counters are taken first, then
 * the invoice number, so the order is written with it and its invoice with it: the number is taken or
 * given back with the sale, and never leaves a gap. A failure anywhere rolls the whole unit back.
 * Statements go to SQLite as text (see rows.ts).
 *
 * Either the sale was planned from rows read before (`sale`), or it is planned here from the rows the
 * counters' updates return (`plan`): then the rows are read by the writes themselves, under the write
 * lock, and nothing is read before.
 */
export async function sellOnSqlite(
  trx: Trx,
  how: { sale: Sale; event: SaleEvent } | { plan: Planner; input: Purchase; orgId: string },
  tickets: TicketRow[],
): Promise<{ sale: Sale; event: SaleEvent; invoiceNumber: string | null }> {
  let sale: Sale;
  let event: SaleEvent;
  if ('sale' in how && (how.event.slots > 1 || how.sale.voucher)) {
    ({ sale, event } = how);
    // A code first (its use, and the tickets it holds for this buyer), then the seats, as on Postgres.
    const seats = sale.voucher
      ? await redeemWithSeats(trx, sale.voucher, sale.order, sale.discount, sale.wanted, sale.column)
      : sale.wanted;
    const short = await takeSeats(trx, event.id, seats, sale.column);
    if (short) throw conflict('sold_out', short);
  } else if ('sale' in how) {
    ({ sale, event } = how);
    for (const item of sale.wanted) {
      const res = await run(trx, 'sqlite', SQL.takeType[sale.column], [
        item.quantity,
        item.typeId,
        item.quantity,
      ]);
      if (Number(res.numAffectedRows) !== 1)
        throw conflict('sold_out', `${item.name} is sold out, or fewer than ${item.quantity} are left.`);
    }
    const count = sale.order.ticket_count;
    const room = await run(trx, 'sqlite', SQL.takeEvent[sale.column], [count, event.id, count]);
    if (Number(room.numAffectedRows) !== 1)
      throw conflict('sold_out', `The event is sold out, or fewer than ${count} places are left.`);
  } else ({ sale, event } = await takeAndPlan(trx, how.plan, how.input, how.orgId));
  const { order, items } = sale;
  const invoice =
    order.status === 'paid' && order.total_amount > 0
      ? await invoiceForSaleOnSqlite(trx, order.org_id, { order, items, event }, order.created_at)
      : null;
  await insertRows(trx, 'sqlite', 'orders', [{ ...order, invoice_number: invoice?.number ?? null }]);
  await insertRows(trx, 'sqlite', 'order_items', items);
  await insertRows(trx, 'sqlite', 'tickets', tickets);
  // The buyer's confirmation with the tickets, written with them: it exists exactly when the sale does.
  // An online payment's hold: the checkout has begun (Google Analytics, when the organization sends to it).
  const checkout = sale.pending ? await checkoutSignals(trx, order) : [];
  if (checkout.length) await insertRows(trx, 'sqlite', 'outbox', checkout);
  if (!sale.pending)
    await insertRows(trx, 'sqlite', 'outbox', [
      ...outboxRows(
        order.org_id,
        orderPaidMessages(
          order,
          tickets.map((t) => t.id),
        ),
      ),
      // Organizers' endpoints subscribed to order.paid, their GA4 stream (cached: none, for most, at no cost).
      ...(await paidOrderSignals(trx, order)),
    ]);
  if (invoice) await insertRows(trx, 'sqlite', 'invoices', [invoice]);
  if (event.max_per_buyer !== null) {
    const held = await ticketsHeldBy(trx, event.id, order.buyer_email);
    if (held > event.max_per_buyer)
      throw conflict(
        'buyer_limit_reached',
        `One buyer may hold at most ${event.max_per_buyer} tickets for this event; ${order.buyer_email} has ${held - order.ticket_count}.`,
      );
  }
  return { sale, event, invoiceNumber: invoice?.number ?? null };
}

/**
 * Takes a paid sale's counters, each update returning its row (ticket types, then the event, of the
 * buyer's organization), and plans the sale from those rows. Refused: the rows are read as they are and
 * planned, so a request that is wrong hears why (unknown type, not on sale, limits…) rather than
 * sold out; the unit's rollback undoes what was taken.
 */
async function takeAndPlan(
  trx: Trx,
  plan: Planner,
  input: Purchase,
  orgId: string,
): Promise<{ sale: Sale; event: SaleEvent }> {
  const wanted = input.items
    .map((i) => ({ typeId: i.ticket_type, quantity: i.quantity }))
    .sort((a, b) => (a.typeId < b.typeId ? -1 : 1));
  const types: SaleType[] = [];
  let short: (typeof wanted)[number] | undefined;
  for (const w of wanted) {
    const res = await run<SaleType>(trx, 'sqlite', TAKE_TYPE_READ, [
      w.quantity,
      w.typeId,
      input.event,
      w.quantity,
    ]);
    const row = res.rows[0];
    if (!row) {
      short = w;
      break;
    }
    types.push(row);
  }
  const count = wanted.reduce((n, w) => n + w.quantity, 0);
  const event = short
    ? undefined
    : (await run<SaleEvent>(trx, 'sqlite', TAKE_EVENT_READ, [count, input.event, orgId, count])).rows[0];
  if (event) {
    const sale = plan(event, types);
    if (sale.column !== 'sold') throw new Error('a held sale must be planned before its unit');
    return { sale, event };
  }
  const [current, present] = await Promise.all([
    run<EventRow>(trx, 'sqlite', READ_EVENT, [orgId, input.event]),
    run<TicketTypeRow>(trx, 'sqlite', readTypes(wanted.length), [
      input.event,
      ...wanted.map((w) => w.typeId),
    ]),
  ]);
  const sale = plan(current.rows[0], present.rows);
  // An event with slots: its counters are not its rows' (their updates above matched nothing).
  if (types.length === 0 && current.rows[0]!.slots > 1) {
    const why = await takeSeats(trx, input.event, sale.wanted, sale.column);
    if (why) throw conflict('sold_out', why);
    return { sale, event: current.rows[0]! };
  }
  if (short) {
    const name = present.rows.find((t) => t.id === short.typeId)?.name;
    throw conflict('sold_out', `${name} is sold out, or fewer than ${short.quantity} are left.`);
  }
  throw conflict('sold_out', `The event is sold out, or fewer than ${count} places are left.`);
}

/** What a sale needs of its event's row: the checks (see plan), the order, the invoice, the payment. */
const SALE_EVENT = [
  'id',
  'org_id',
  'name',
  'status',
  'currency',
  'starts_at',
  'ends_at',
  'timezone',
  'venue_name',
  'venue_city',
  'sales_start_at',
  'sales_end_at',
  'hold_minutes',
  'max_per_buyer',
  'slots',
] as const satisfies readonly (keyof EventRow)[];
export type SaleEvent = Pick<EventRow, (typeof SALE_EVENT)[number]>;
/** What a sale needs of a ticket type's row. */
const SALE_TYPE = [
  'id',
  'name',
  'price_amount',
  'tax_rate',
  'min_per_order',
  'max_per_order',
  'sales_start_at',
  'sales_end_at',
] as const satisfies readonly (keyof TicketTypeRow)[];
export type SaleType = Pick<TicketTypeRow, (typeof SALE_TYPE)[number]>;
const returning = (columns: readonly string[]) => columns.map((c) => `"${c}"`).join(', ');

// Only the columns a sale needs: SQLite's RETURNING costs by the column (all of them cost more than the
// update itself).
const TAKE_TYPE_READ = SQL.sellTypeReturning(returning(SALE_TYPE));
const TAKE_EVENT_READ = SQL.sellEventReturning(returning(SALE_EVENT));
const READ_EVENT = 'select * from "events" where "org_id" = ? and "id" = ?';
const READ_SALE_PG =
  'select to_jsonb(e) as event, coalesce((select jsonb_agg(t) from ticket_types t ' +
  "where t.event_id = e.id and t.id = any(?::text[])), '[]'::jsonb) as types from events e where e.org_id = ? and e.id = ?";
const readTypes = (n: number) =>
  `select * from "ticket_types" where "event_id" = ? and "id" in (${Array.from({ length: n }, () => '?').join(', ')})`;

/** The answer for a sale: what was written (read back it would be the same), with its invoice number. */
export function viewOf(
  sale: Pick<Sale, 'order' | 'items'>,
  tickets: TicketRow[],
  invoiceNumber: string | null,
): Order {
  return orderView(
    { ...sale.order, invoice_number: invoiceNumber },
    sale.items,
    tickets.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),
  );
}

/**
 * The most tickets a SQLite sale signs before its rows are read (see purchaseOnSqlite): a refused
 * request costs at most this many signatures.
 */
export const SIGNED_UNREAD = 10;

/** Tickets a buyer holds for an event: valid ones, and those of their pending orders. */
export async function ticketsHeldBy(trx: Trx, eventId: string, email: string): Promise<number> {
  const valid = await trx
    .selectFrom('tickets')
    .innerJoin('orders', 'orders.id', 'tickets.order_id')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('tickets.event_id', '=', eventId)
    .where('orders.buyer_email', '=', email)
    .where('tickets.status', '=', 'valid')
    .executeTakeFirstOrThrow();
  const pending = await trx
    .selectFrom('orders')
    .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('ticket_count'), sql<number>`0`).as('n'))
    .where('event_id', '=', eventId)
    .where('buyer_email', '=', email)
    .where('status', '=', 'pending')
    .executeTakeFirstOrThrow();
  return Number(valid.n) + Number(pending.n);
}

// Run by every purchase: compiled once (see `prepared`).
const eventOf = prepared((k, orgId: string, id: string) =>
  k.selectFrom('events').selectAll().where('org_id', '=', orgId).where('id', '=', id),
);
const typeOf = prepared((k, eventId: string, id: string) =>
  k.selectFrom('ticket_types').selectAll().where('event_id', '=', eventId).where('id', '=', id),
);

/** Postgres: the event and the ticket types in one round trip, the rows as JSON (every column is text or
 * integer: nothing changes in the trip). */
export async function readSaleAtOnce(
  k: Kysely<Database>,
  orgId: string,
  input: Purchase,
): Promise<readonly [EventRow | undefined, TicketTypeRow[]]> {
  const res = await run<{ event: EventRow; types: TicketTypeRow[] }>(k, 'postgres', READ_SALE_PG, [
    input.items.map((i) => i.ticket_type),
    orgId,
    input.event,
  ]);
  const row = res.rows[0];
  return [row?.event, row?.types ?? []] as const;
}

/** SQLite: the event and the ticket types, each by a statement compiled once (see `prepared`). */
export async function readSaleHere(
  k: Kysely<Database>,
  orgId: string,
  input: Purchase,
): Promise<readonly [EventRow | undefined, TicketTypeRow[]]> {
  const [e, t] = await Promise.all([
    eventOf(k, orgId, input.event),
    input.items.length === 1
      ? typeOf(k, input.event, input.items[0]!.ticket_type)
      : k
          .selectFrom('ticket_types')
          .selectAll()
          .where('event_id', '=', input.event)
          .where(
            'id',
            'in',
            input.items.map((i) => i.ticket_type),
          )
          .execute()
          .then((rows) => ({ rows })),
  ]);
  return [e.rows[0], t.rows] as const;
}
