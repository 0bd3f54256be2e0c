import type {
  Attendee,
  EventPublicKey,
  Order,
  OrderListQuery,
  Page,
  PurchaseInput,
  Ticket,
  TicketListQuery,
} from '@tickets/sdk';
import { routes } from '@tickets/sdk';
import { CompiledQuery, type Kysely, sql, type Transaction } from 'kysely';
import type { z } from 'zod';
import { type Db, groupedWrites, prepared, saleTransaction } from '../../db/database.js';
import type {
  Database,
  EventRow,
  OrderItemRow,
  OrderRow,
  TicketRow,
  TicketTypeRow,
} from '../../db/schema.js';
import { insertRows, run } from '../../db/statements.js';
import { byDialect } from '../../db/store.js';
import { containsAny } from '../../db/text-search.js';
import type { Principal } from '../../http/app.js';
import { ApiError, conflict, notFound, validationFailed } from '../../http/errors.js';
import {
  type Claim,
  claimAlone,
  claimRow,
  finishClaim,
  KeyTaken,
  recordOutcome,
  releaseClaim,
  storedOutcome,
} from '../../http/idempotency.js';
import { DEFAULT_LIMIT, decodeCursor, newestFirst, toPage } from '../../http/pagination.js';
import { newId } from '../../ids.js';
import type { PaymentProvider } from '../../integrations/stripe.js';
import { addSeconds, nowIso } from '../../time.js';
import { eventNotOnSale, windowReason } from '../events/service.js';
import { DEFAULT_HOLD_MINUTES } from '../events/views.js';
import { linesOf, release, SQL, takeSeats } from '../inventory/inventory.js';
import { clearInvoiceFailure, recordInvoiceFailure } from '../invoices/failures.js';
import { invoiceForSaleOnSqlite, invoiceOrder } from '../invoices/ledger.js';
import { InvoiceQueue } from '../invoices/queue.js';
import { orderPaidMessages, outboxRows, queueOrderPaid } from '../messaging/outbox.js';
import { type EventKey, EventKeys, publicKeyPem } from './keys.js';
import { attendeeView, orderView, ticketView } from './views.js';

type Purchase = z.output<typeof PurchaseInput>;
type OrderQuery = z.output<typeof OrderListQuery>;
type TicketQuery = z.output<typeof TicketListQuery>;
type Trx = Transaction<Database>;

const REASON_TEXT: Record<string, string> = {
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
 * sellAtOnce's statement text for one shape (the counter column, whether a key is claimed, the tables'
 * columns and row counts), built once: building it with Kysely on every sale cost more than the rest
 * of the request's JavaScript. Values are `$n` parameters, typed for Postgres (they would be text).
 */
const sellAtOnceTexts = new Map<string, { columns: string[][]; text: string }[]>();

function sellAtOnceText(column: 'sold' | 'held', claim: Rows | null, groups: Rows[]): string {
  const columns = [claim, ...groups].map((g) => (g?.length ? Object.keys(g[0]!) : []));
  const key = `${column} ${claim ? 1 : 0} ${groups.map((g) => g.length).join(' ')}`;
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
    `insert into ${table} (${names(columns[i]!)}) ${values(columns[i]!, [claim, ...groups][i]!.length)} where exists (select 1 from ${guard})`;
  const [, , tickets, messages] = groups;
  let text = 'with ';
  // The Idempotency-Key is claimed by the same statement, before anything else: taken already, nothing
  // of the sale happens.
  if (claim)
    text += `c as (insert into idempotency_keys (${names(columns[0]!)}) ${values(columns[0]!, 1)} on conflict (scope, key) do nothing returning 1), `;
  text += `${SQL.takeCtes(column, p, claim ? ' and exists (select 1 from c)' : '')}, `;
  text += `o as (${insert('orders', 1, 'e')} returning id), `;
  text += `i as (${insert('order_items', 2, 'o')})`;
  if (tickets?.length) text += `, k as (${insert('tickets', 3, 'o')})`;
  if (messages?.length) text += `, m as (${insert('outbox', 4, 'o')})`;
  // The ticket type's increment matched but the event's did not: fail the statement (division by
  // zero), so it undoes the type's increment too; it runs in no transaction that could.
  text += ` select ${claim ? '(select count(*) from c)' : '1'} as claimed, (select count(*) from t) as types, case when exists (select 1 from t) then 1 / (select count(*) from e) else 0 end as events`;
  // Kept for the usual small orders; a large one's text (up to 100 tickets and their messages) is
  // built each time rather than held for ever.
  if (groups.reduce((sum, g) => sum + g.length, 0) <= 40) shapes.push({ columns, text });
  return text;
}

/**
 * A whole sale of one ticket type on Postgres as one statement, so one atomic transaction with no
 * round trip inside: the ticket type's and the event's conditional increments come first (every
 * buyer's queue, locked from here to the end of the statement), and the order, its items and its
 * tickets are written only if both matched. Returns why not, or null when sold.
 */
async function sellAtOnce(
  db: Kysely<Database>,
  order: OrderRow,
  items: OrderItemRow[],
  tickets: TicketRow[],
  item: { typeId: string; name: string; quantity: number },
  column: 'sold' | 'held',
  messages: ReturnType<typeof outboxRows>,
  claim?: Claim,
): Promise<string | null> {
  const n = item.quantity;
  const claimed = claim ? [claimRow(claim)] : null;
  const groups: Rows[] = [[order], items, tickets, messages];
  const parameters: unknown[] = [];
  const add = (rows: Rows) => {
    if (!rows.length) return;
    const columns = Object.keys(rows[0]!);
    for (const row of rows)
      for (const c of columns) parameters.push((row as Record<string, unknown>)[c] ?? null);
  };
  if (claimed) add(claimed);
  parameters.push(n, item.typeId, n, n, order.event_id, n);
  for (const g of groups) add(g);
  const result = await db
    .executeQuery<{ claimed: number; types: number; events: number }>(
      CompiledQuery.raw(sellAtOnceText(column, claimed, groups), parameters),
    )
    .catch((err: unknown) => {
      if ((err as { code?: string }).code === '22012') return null;
      throw err;
    });
  if (!result) return `The event is sold out, or fewer than ${n} places are left.`;
  const row = result.rows[0]!;
  if (Number(row.claimed) !== 1) throw new KeyTaken();
  // Claimed, sold or not: a refusal is stored under the key as its answer.
  if (claim) claim.state = 'in_progress';
  if (Number(row.types) !== 1) return `${item.name} is sold out, or fewer than ${n} are left.`;
  return null;
}

/** A sale planned from the event's and its ticket types' rows: what to write. */
interface Sale {
  order: OrderRow;
  items: OrderItemRow[];
  wanted: { typeId: string; name: string; quantity: number }[];
  pending: boolean;
  column: 'sold' | 'held';
}

/** Plans a sale from the rows (throwing why it cannot be), see Orders.plan. */
type Planner = (event: SaleEvent | undefined, types: SaleType[]) => Sale;

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
async function sellOnSqlite(
  trx: Trx,
  how: { sale: Sale; event: SaleEvent } | { plan: Planner; input: Purchase; orgId: string },
  tickets: TicketRow[],
  claim: Claim | undefined,
  view: (sale: Sale, invoiceNumber: string | null) => Order,
): Promise<{ sale: Sale; event: SaleEvent; invoiceNumber: string | null; answer?: Order }> {
  let sale: Sale;
  let event: SaleEvent;
  if ('sale' in how) {
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
  if (!sale.pending)
    await insertRows(
      trx,
      'sqlite',
      'outbox',
      outboxRows(
        order.org_id,
        orderPaidMessages(
          order,
          tickets.map((t) => t.id),
        ),
      ),
    );
  if (invoice) await insertRows(trx, 'sqlite', 'invoices', [invoice]);
  if (event.max_per_buyer !== null) {
    const held = await ticketsHeldBy(trx, event.id, order.buyer_email);
    if (held > event.max_per_buyer)
      throw conflict(
        'buyer_limit_reached',
        `One buyer may hold at most ${event.max_per_buyer} tickets for this event; ${order.buyer_email} has ${held - order.ticket_count}.`,
      );
  }
  const invoiceNumber = invoice?.number ?? null;
  if (!claim) return { sale, event, invoiceNumber };
  // The Idempotency-Key, written with the sale: a paid order's with its answer, complete now; a
  // pending one's as claimed (answered once the payment is started). Taken already: all of this
  // rolls back, and the caller answers as the request holding the key did.
  const answer = sale.pending ? undefined : view(sale, invoiceNumber);
  const response = answer && { status: PURCHASED, body: JSON.stringify(answer) };
  const row = claimRow(claim, response, order.created_at);
  const taken = await run(trx, 'sqlite', CLAIM_SQLITE, [
    row.scope,
    row.key,
    row.request_hash,
    row.state,
    row.response_status,
    row.response_body,
    row.created_at,
  ]);
  if (Number(taken.numAffectedRows) !== 1) throw new KeyTaken();
  claim.response = response;
  return { sale, event, invoiceNumber, answer };
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
  plan(current.rows[0], present.rows);
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
] as const satisfies readonly (keyof EventRow)[];
type SaleEvent = Pick<EventRow, (typeof SALE_EVENT)[number]>;
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
type SaleType = Pick<TicketTypeRow, (typeof SALE_TYPE)[number]>;
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
function viewOf(
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
const SIGNED_UNREAD = 10;

/** The purchase route's status (201). */
const PURCHASED = routes.orders.purchase.status ?? 201;

const CLAIM_SQLITE =
  'insert into "idempotency_keys" ("scope", "key", "request_hash", "state", "response_status", "response_body", "created_at") ' +
  'values (?, ?, ?, ?, ?, ?, ?) on conflict ("scope", "key") do nothing';

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
async function readSaleAtOnce(
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
async function readSaleHere(
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

export class Orders {
  readonly keys: EventKeys;
  private readonly invoices: InvoiceQueue;
  private readonly write: ReturnType<typeof groupedWrites>;

  constructor(
    private readonly db: Db,
    readonly payments: PaymentProvider | null = null,
  ) {
    this.keys = new EventKeys(db);
    this.invoices = new InvoiceQueue(db);
    this.write = groupedWrites(db);
  }

  private get k() {
    return this.db.kysely;
  }

  private async event(orgId: string, id: string): Promise<EventRow> {
    const row = await this.k
      .selectFrom('events')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) throw notFound('event');
    return row;
  }

  /**
   * Sells tickets. Inventory is taken by conditional increments inside one transaction — each
   * ticket type's and the event's `sold + held + n <= capacity` — so concurrent buyers, in one process
   * or many, can never together exceed a capacity: the losing write matches no row and the order
   * is refused as sold out.
   */
  purchase(principal: Principal, input: Purchase, claim?: Claim): Promise<Order> {
    const sell = byDialect(this.db, { sqlite: this.purchaseOnSqlite, postgres: this.purchaseOnPostgres });
    return sell.call(this, principal, input, nowIso(), claim);
  }

  /**
   * A purchase on Postgres: the rows read and the order planned first, then (for one ticket type) the
   * whole sale as one statement (see sellAtOnce), so buyers queue on the counters' rows for one round trip.
   */
  private async purchaseOnPostgres(
    principal: Principal,
    input: Purchase,
    now: string,
    claim: Claim | undefined,
  ): Promise<Order> {
    const [event, types] = await this.readSale(principal.orgId, input);
    const { order, items, wanted, pending, column } = this.plan(
      principal,
      input,
      event,
      types,
      now,
      newId('order'),
    );
    const key = await this.keys.forEvent(order.event_id);
    // Signed before the transaction: it is the costly part, and needs no lock.
    const tickets = pending ? [] : await Orders.buildTickets(order, items, key);
    const count = order.ticket_count;

    // The inventory rows (the ticket types' and the event's) are the one place all buyers of an event
    // queue, so they are locked last: everything else is written first, and the lock is held only
    // for the few statements before commit (for one ticket type, the whole sale is one statement: see
    // sellAtOnce). The invoice number, another queue (per organization), is taken after this, in
    // groups (see InvoiceQueue).
    // The buyer's confirmation with the tickets, written with them: it exists exactly when the sale does.
    const messages = pending
      ? []
      : outboxRows(
          principal.orgId,
          orderPaidMessages(
            order,
            tickets.map((t) => t.id),
          ),
        );
    if (wanted.length === 1 && event!.max_per_buyer === null) {
      const short = await sellAtOnce(this.k, order, items, tickets, wanted[0]!, column, messages, claim);
      if (short) throw conflict('sold_out', short);
      if (claim) claim.saleStands = true;
    } else {
      if (claim && !(await claimAlone(this.db, claim))) throw new KeyTaken();
      const limit = event!.max_per_buyer;
      await this.write(async (trx) => {
        await trx.insertInto('orders').values(order).execute();
        await trx.insertInto('order_items').values(items).execute();
        if (tickets.length) await trx.insertInto('tickets').values(tickets).execute();
        if (messages.length) await trx.insertInto('outbox').values(messages).execute();
        const short = await takeSeats(trx, order.event_id, wanted, column);
        if (short) throw conflict('sold_out', short);
        // Checked once the event row is locked by the write above, so a buyer's parallel orders queue
        // here and each sees the ones before it (and this one's own tickets).
        if (limit !== null) {
          const held = await this.ticketsHeldBy(trx, order.event_id, order.buyer_email);
          if (held > limit)
            throw conflict(
              'buyer_limit_reached',
              `One buyer may hold at most ${limit} tickets for this event; ${order.buyer_email} has ${held - count}.`,
            );
        }
      });
      if (claim) claim.saleStands = true;
    }
    if (pending) {
      await this.startPayment(order, event!.name, input.checkout, claim);
      return this.get(principal.orgId, order.id);
    }
    // Paid: the answer is what was written (read back it would be the same), with its invoice number.
    if (order.total_amount === 0) return viewOf({ order, items }, tickets, null);
    // A claimed Idempotency-Key is answered with the invoice, in its group's transaction.
    let answer: Order | undefined;
    const respond =
      claim?.state === 'in_progress'
        ? (number: string) => {
            answer = viewOf({ order, items }, tickets, number);
            claim.response = { status: PURCHASED, body: JSON.stringify(answer) };
            return { scope: claim.scope, key: claim.key, ...claim.response };
          }
        : undefined;
    const issued = await this.invoices.issue(order.org_id, { order, items, event: event! }, respond);
    if (claim && issued.answered) claim.state = 'done';
    return issued.answered && answer ? answer : viewOf({ order, items }, tickets, issued.number);
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
    claim: Claim | undefined,
  ): Promise<Order> {
    const orderId = newId('order');
    const count = input.items.reduce((n, i) => n + i.quantity, 0);
    const plan: Planner = (event, types) => this.plan(principal, input, event, types, now, orderId);
    let key = this.keys.cached(input.event);
    let how: Parameters<typeof sellOnSqlite>[1];
    let tickets: TicketRow[];
    if (key && input.payment_method !== 'stripe' && count <= SIGNED_UNREAD) {
      tickets = await Orders.buildTickets(
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
      tickets = sale.pending ? [] : await Orders.buildTickets(sale.order, sale.items, key, now);
      how = { sale, event: event! };
    }
    const sold = await this.write((trx) =>
      sellOnSqlite(trx, how, tickets, claim, (sale, number) => viewOf(sale, tickets, number)),
    );
    if (claim) {
      claim.state = sold.sale.pending ? 'in_progress' : 'done';
      claim.saleStands = true;
    }
    if (sold.sale.pending) {
      await this.startPayment(sold.sale.order, sold.event.name, input.checkout, claim);
      return this.get(principal.orgId, orderId);
    }
    return sold.answer ?? viewOf(sold.sale, tickets, sold.invoiceNumber);
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
  ): Sale {
    if (!eventRow) throw notFound('event');
    const event = eventRow;
    // eventNotOnSale reads the status, the end and the sales window, all of them in a SaleEvent.
    const closed = eventNotOnSale(event as EventRow, now);
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

    const total = lines.reduce((sum, l) => sum + l.type.price_amount * l.quantity, 0);
    if (total > 2_147_483_647)
      throw validationFailed([
        {
          path: 'items',
          message: 'add up to more than one order may cost; split the order',
          code: 'order_total_too_large',
        },
      ]);
    const count = lines.reduce((sum, l) => sum + l.quantity, 0);
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
    const pending = method === 'stripe';

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
    };

    const items: OrderItemRow[] = lines
      .map((l) => ({
        order_id: order.id,
        ticket_type_id: l.type.id,
        name: l.type.name,
        quantity: l.quantity,
        unit_amount: l.type.price_amount,
        tax_rate: l.type.tax_rate,
        holders: l.holders.length ? JSON.stringify(l.holders) : null,
      }))
      .sort((a, b) => (a.ticket_type_id < b.ticket_type_id ? -1 : 1));
    const wanted = lines.map((l) => ({ typeId: l.type.id, name: l.type.name, quantity: l.quantity }));
    return { order, items, wanted, pending, column: pending ? 'held' : 'sold' };
  }

  /**
   * A purchase with an Idempotency-Key, keeping the key itself (the route opts out of the app's
   * generic handling, see routes.ts) with the same outcomes: a repeat of the request replays the
   * stored answer, another request under the key is refused (409), client errors are stored, server
   * errors free the key. What differs is where the key is written: on SQLite a paid order's key is
   * written with its answer by the sale's own unit (one write instead of a claim before and an answer
   * after), on Postgres it is claimed by the sale's statement and answered after the invoice.
   */
  async purchaseOnce(
    principal: Principal,
    input: Purchase,
    claim: Claim,
    requestId: string,
  ): Promise<{ status: number; body: string; replayed: boolean }> {
    let order: Order;
    try {
      order = await this.purchase(principal, input, claim);
    } catch (err) {
      if (err instanceof KeyTaken) return { ...(await storedOutcome(this.db, claim)), replayed: true };
      if (!(err instanceof ApiError) || err.status >= 500) {
        // A sale that committed and stands keeps its key "in progress" (until it expires): freed, a
        // retry would sell again (for a held order: hold the seats twice, and a second payment).
        if (!claim.saleStands) await releaseClaim(this.db, claim);
        throw err;
      }
      const body = JSON.stringify(err.toProblem(requestId));
      if (claim.state === 'in_progress') await finishClaim(this.db, claim, err.status, body);
      else if (!(await recordOutcome(this.db, claim, err.status, body)))
        return { ...(await storedOutcome(this.db, claim)), replayed: true };
      return { status: err.status, body, replayed: false };
    }
    if (claim.state === 'done' && claim.response) return { ...claim.response, replayed: false };
    // Outside the try: the sale has committed, so a failure to store its answer must not free the key
    // (a retry would sell again). The key stays "in progress" until it expires instead.
    const body = JSON.stringify(order);
    await finishClaim(this.db, claim, PURCHASED, body);
    return { status: PURCHASED, body, replayed: false };
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
    claim?: Claim,
  ): Promise<void> {
    let payment: Awaited<ReturnType<PaymentProvider['createPayment']>>;
    try {
      payment = await this.payments!.createPayment({
        orderId: order.id,
        amount: order.total_amount,
        currency: order.currency,
        email: order.buyer_email,
        description: `${order.ticket_count} × ${eventName}`,
        checkout: checkout && { successUrl: checkout.success_url, cancelUrl: checkout.cancel_url },
      });
    } catch (err) {
      await this.release(order.id, 'failed');
      // Nothing stands any more: the request may be tried again under its key.
      if (claim) claim.saleStands = false;
      throw err;
    }
    await this.k
      .updateTable('orders')
      .set({
        payment_intent_id: payment.paymentIntentId,
        client_secret: payment.clientSecret,
        checkout_session_id: payment.checkoutSessionId,
        checkout_url: payment.checkoutUrl,
        updated_at: nowIso(),
      })
      .where('id', '=', order.id)
      .execute();
  }

  /** Creates the order's tickets, one per admitted person, each with its signed code. */
  async issueTickets(
    trx: Trx,
    order: Pick<OrderRow, 'id' | 'org_id' | 'event_id' | 'buyer_name' | 'buyer_email' | 'buyer_phone'>,
    key: EventKey,
  ): Promise<void> {
    const items = await trx
      .selectFrom('order_items')
      .selectAll()
      .where('order_id', '=', order.id)
      .orderBy('ticket_type_id')
      .execute();
    const tickets = await Orders.buildTickets(order, items, key);
    if (tickets.length) await trx.insertInto('tickets').values(tickets).execute();
    // The buyer gets the tickets: queued with them, so they are sent exactly when the order is paid.
    await queueOrderPaid(
      trx,
      order.org_id,
      order,
      tickets.map((t) => t.id),
    );
  }

  /** The rows of an order's tickets, one per admitted person, each with its signed code. */
  static async buildTickets(
    order: Pick<OrderRow, 'id' | 'org_id' | 'event_id' | 'buyer_name' | 'buyer_email'>,
    items: Pick<OrderItemRow, 'ticket_type_id' | 'quantity' | 'holders'>[],
    key: EventKey,
    now = nowIso(),
  ): Promise<TicketRow[]> {
    const rows: TicketRow[] = items.flatMap((item) => {
      const holders: { name: string; email?: string }[] = item.holders ? JSON.parse(item.holders) : [];
      return Array.from({ length: item.quantity }, (_, n) => {
        const id = newId('ticket');
        const holder = holders[n];
        return {
          id,
          org_id: order.org_id,
          event_id: order.event_id,
          order_id: order.id,
          ticket_type_id: item.ticket_type_id,
          holder_name: holder?.name ?? order.buyer_name,
          holder_email: holder ? (holder.email ?? null) : order.buyer_email,
          status: 'valid' as const,
          void_reason: null,
          seat_kept: 0,
          code_version: 1,
          declined_at: null,
          code: '',
          created_at: now,
          updated_at: now,
        };
      });
    });
    const codes = await EventKeys.signAll(
      key,
      rows.map((t) => ({ ticketId: t.id, eventId: t.event_id, ticketTypeId: t.ticket_type_id, version: 1 })),
    );
    rows.forEach((t, i) => {
      t.code = codes[i]!;
    });
    return rows;
  }

  ticketsHeldBy(trx: Trx, eventId: string, email: string): Promise<number> {
    return ticketsHeldBy(trx, eventId, email);
  }

  async get(orgId: string, id: string): Promise<Order> {
    const order = await this.k
      .selectFrom('orders')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!order) throw notFound('order');
    const [items, tickets] = await Promise.all([
      this.k
        .selectFrom('order_items')
        .selectAll()
        .where('order_id', '=', id)
        .orderBy('ticket_type_id')
        .execute(),
      this.k.selectFrom('tickets').selectAll().where('order_id', '=', id).orderBy('id').execute(),
    ]);
    return orderView(order, items, tickets);
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
    if (!(await this.release(id, 'cancelled')))
      throw conflict(
        'invalid_transition',
        order.status === 'paid' || order.status === 'partially_refunded'
          ? 'A paid order cannot be cancelled; refund it instead.'
          : `The order is already ${order.status}.`,
      );
    return this.get(orgId, id);
  }

  /**
   * Ends a pending order (expired, cancelled or failed) and returns its hold to the inventory. The
   * status change is conditional on `pending`, so however many sweepers, webhooks and cancel requests
   * race, the hold is returned once. Returns whether this call did it.
   */
  async release(orderId: string, to: 'expired' | 'cancelled' | 'failed'): Promise<boolean> {
    return saleTransaction(this.db, (trx) => this.releaseIn(trx, orderId, to));
  }

  /** `release` inside the caller's transaction (webhooks apply several changes in one). */
  async releaseIn(trx: Trx, orderId: string, to: 'expired' | 'cancelled' | 'failed'): Promise<boolean> {
    const order = await trx
      .updateTable('orders')
      .set({ status: to, updated_at: nowIso() })
      .where('id', '=', orderId)
      .where('status', '=', 'pending')
      .returning('event_id')
      .executeTakeFirst();
    if (!order) return false;
    const items = await trx
      .selectFrom('order_items')
      .select(['ticket_type_id', 'quantity'])
      .where('order_id', '=', orderId)
      .execute();
    await release(trx, order.event_id, linesOf(items));
    return true;
  }

  /** Expires pending orders whose hold has run out; returns how many this call expired. */
  async expireHolds(now = nowIso()): Promise<number> {
    const due = await this.k
      .selectFrom('orders')
      .select('id')
      .where('status', '=', 'pending')
      .where('hold_expires_at', '<=', now)
      .limit(500)
      .execute();
    let expired = 0;
    for (const { id } of due) if (await this.release(id, 'expired')) expired++;
    return expired;
  }

  // Tickets

  async ticket(orgId: string, id: string): Promise<Ticket> {
    const row = await this.k
      .selectFrom('tickets')
      .innerJoin('ticket_types', 'ticket_types.id', 'tickets.ticket_type_id')
      .selectAll('tickets')
      .select('ticket_types.name as type_name')
      .where('tickets.org_id', '=', orgId)
      .where('tickets.id', '=', id)
      .executeTakeFirst();
    if (!row) throw notFound('ticket');
    return ticketView(row, row.type_name);
  }

  private attendeeQuery(orgId: string, eventId: string, query: TicketQuery) {
    const limit = query.limit ?? DEFAULT_LIMIT;
    const after = query.starting_after ? decodeCursor(query.starting_after, 1) : null;
    return {
      limit,
      rows: this.k
        .selectFrom('tickets')
        .innerJoin('orders', 'orders.id', 'tickets.order_id')
        .innerJoin('ticket_types', 'ticket_types.id', 'tickets.ticket_type_id')
        .selectAll('tickets')
        .select(['ticket_types.name as ticket_type_name', 'orders.buyer_name', 'orders.buyer_email'])
        .where('tickets.org_id', '=', orgId)
        .where('tickets.event_id', '=', eventId)
        .$if(query.status !== undefined, (q) => q.where('tickets.status', '=', query.status!))
        .$if(query.q !== undefined, (q) =>
          q.where((eb) =>
            eb.or([
              ...containsAny(
                ['tickets.holder_name', 'tickets.holder_email', 'orders.buyer_name', 'orders.buyer_email'],
                query.q!,
              ),
              // Ids are matched whole: their random letters would match any short search.
              eb('orders.id', '=', query.q!),
              eb('tickets.id', '=', query.q!),
            ]),
          ),
        )
        .$if(after !== null, (q) => q.where('tickets.id', '>', String(after![0])))
        .orderBy('tickets.id')
        .limit(limit + 1)
        .execute(),
    };
  }

  async eventTickets(orgId: string, eventId: string, query: TicketQuery): Promise<Page<Ticket>> {
    await this.event(orgId, eventId);
    const { limit, rows } = this.attendeeQuery(orgId, eventId, query);
    return toPage(
      await rows,
      limit,
      (t) => [t.id],
      (t) => ticketView(t, t.ticket_type_name),
    );
  }

  async attendees(orgId: string, eventId: string, query: TicketQuery): Promise<Page<Attendee>> {
    await this.event(orgId, eventId);
    const { limit, rows } = this.attendeeQuery(orgId, eventId, query);
    return toPage(await rows, limit, (t) => [t.id], attendeeView);
  }

  async publicKey(orgId: string, eventId: string): Promise<EventPublicKey> {
    await this.event(orgId, eventId);
    const key = await this.keys.forEvent(eventId);
    return {
      object: 'event_public_key',
      event_id: eventId,
      algorithm: 'Ed25519',
      public_key: key.publicKey,
      pem: publicKeyPem(key.publicKey),
    };
  }
}
