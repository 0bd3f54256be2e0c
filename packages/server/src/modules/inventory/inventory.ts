/**
 * The one owner of inventory: the only code that writes the `sold` and `held` counters of ticket types
 * and events (test/inventory-owner.test.ts fails if another file does). pretix guards its quotas in one
 * place; this is that place.
 *
 * Every change is a conditional write per table that checks capacity itself (`sold + held + n <=
 * capacity`) — and, for seats taken, that the event is still published — never a decision from a read
 * taken before: the losing side of a race (another buyer, a cancellation) matches no row. The
 * database refuses the impossible besides (CHECK constraints on Postgres, triggers on SQLite; migration
 * 0011), so a bug here surfaces as a 409, not as an oversold event.
 *
 * The moves, for a set of (ticket type, quantity) lines of one event:
 *   takeSeats     a pending order holds seats, a paid one buys them  held or sold += n (guarded)
 *   sell          takeSeats as sold (a late payment's new sale)      sold += n (guarded)
 *   confirm       a pending order is paid                            held -= n, sold += n
 *   release       a pending order ends unpaid (expired, …)           held -= n
 *   restoreSeats  sold seats go back on sale (refund, undo)          sold -= n
 * Rows are always written in ticket-type id order, then the event, so two transactions never lock the
 * same rows in opposite orders (a deadlock on Postgres).
 *
 * The purchase's hot paths run these same writes as precompiled text (SQL below): built by Kysely on
 * every sale they cost more than the database running them (measured; see orders/service.ts).
 */
import type { Transaction } from 'kysely';
import type { Database } from '../../db/schema.js';

type Trx = Transaction<Database>;
export type Counter = 'sold' | 'held';

export interface Line {
  typeId: string;
  quantity: number;
  /** For the sold-out message. */
  name?: string;
}

/** Lines from rows that name a ticket type (tickets, order items): per type, in id order. */
export function linesOf(rows: readonly { ticket_type_id: string; quantity?: number }[]): Line[] {
  const perType = new Map<string, number>();
  for (const row of rows)
    perType.set(row.ticket_type_id, (perType.get(row.ticket_type_id) ?? 0) + (row.quantity ?? 1));
  return inOrder([...perType].map(([typeId, quantity]) => ({ typeId, quantity })));
}

/** The counters of a new event or ticket type. */
export const NOTHING_SOLD = { sold: 0, held: 0 } as const;

const inOrder = <T extends { typeId: string }>(lines: readonly T[]): T[] =>
  [...lines].sort((a, b) => (a.typeId < b.typeId ? -1 : a.typeId > b.typeId ? 1 : 0));

const total = (lines: readonly Line[]) => lines.reduce((n, l) => n + l.quantity, 0);

/**
 * Takes seats for the lines as `counter` (`held` or `sold`) if every ticket type and the event
 * have room. Returns null when taken, or why not — after giving back what it took, so the caller may go
 * on in the same transaction.
 */
async function take(
  trx: Trx,
  eventId: string,
  lines: readonly Line[],
  counter: Counter,
): Promise<string | null> {
  const taken: Line[] = [];
  for (const line of inOrder(lines)) {
    const res = await trx
      .updateTable('ticket_types')
      .set((eb) => ({ [counter]: eb(counter, '+', line.quantity) }))
      .where('id', '=', line.typeId)
      .where((eb) => eb(eb(eb('sold', '+', eb.ref('held')), '+', line.quantity), '<=', eb.ref('capacity')))
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) !== 1) {
      await addToTypes(trx, taken, counter, -1);
      return `${line.name ?? 'This ticket type'} is sold out, or fewer than ${line.quantity} are left.`;
    }
    taken.push(line);
  }
  const count = total(lines);
  const room = await trx
    .updateTable('events')
    .set((eb) => ({ [counter]: eb(counter, '+', count) }))
    .where('id', '=', eventId)
    .where('status', '=', 'published')
    .where((eb) =>
      eb.or([
        eb('capacity', 'is', null),
        eb(eb(eb('sold', '+', eb.ref('held')), '+', count), '<=', eb.ref('capacity')),
      ]),
    )
    .executeTakeFirst();
  if (Number(room.numUpdatedRows) !== 1) {
    await addToTypes(trx, taken, counter, -1);
    return `The event is sold out (or fewer than ${count} places are left), or no longer on sale.`;
  }
  return null;
}

/** Unconditional moves (giving back what is held or sold can't exceed a capacity; CHECKs forbid < 0). */
async function addToTypes(trx: Trx, lines: readonly Line[], counter: Counter, sign: 1 | -1): Promise<void> {
  for (const line of inOrder(lines))
    await trx
      .updateTable('ticket_types')
      .set((eb) => ({ [counter]: eb(counter, '+', sign * line.quantity) }))
      .where('id', '=', line.typeId)
      .execute();
}

async function move(
  trx: Trx,
  eventId: string,
  lines: readonly Line[],
  from: Counter | null,
  to: Counter | null,
) {
  if (lines.length === 0) return;
  const count = total(lines);
  for (const line of inOrder(lines))
    await trx
      .updateTable('ticket_types')
      .set((eb) => ({
        ...(from ? { [from]: eb(from, '-', line.quantity) } : {}),
        ...(to ? { [to]: eb(to, '+', line.quantity) } : {}),
      }))
      .where('id', '=', line.typeId)
      .execute();
  await trx
    .updateTable('events')
    .set((eb) => ({
      ...(from ? { [from]: eb(from, '-', count) } : {}),
      ...(to ? { [to]: eb(to, '+', count) } : {}),
    }))
    .where('id', '=', eventId)
    .execute();
}

/** A paid sale takes seats. Null when sold, or why not. */
export const sell = (trx: Trx, eventId: string, lines: readonly Line[]) => take(trx, eventId, lines, 'sold');

/** Takes seats as `counter`: `held` for a pending order, `sold` for a paid one. Null when taken, or why not. */
export const takeSeats = take;

/** A pending order was paid: its held seats become sold. */
export const confirm = (trx: Trx, eventId: string, lines: readonly Line[]) =>
  move(trx, eventId, lines, 'held', 'sold');

/** A pending order ended unpaid: its held seats go back on sale. */
export const release = (trx: Trx, eventId: string, lines: readonly Line[]) =>
  move(trx, eventId, lines, 'held', null);

/** Sold seats go back on sale: their tickets were voided (refund), or a sale in progress is undone. */
export const restoreSeats = (trx: Trx, eventId: string, lines: readonly Line[]) =>
  move(trx, eventId, lines, 'sold', null);

/**
 * The same conditional writes as SQL text, for the purchase's precompiled hot paths (see the module
 * comment). SQLite's `?` placeholders; `rows.ts` numbers them for Postgres.
 */
export const SQL = {
  /** [n, type id, n]: takes n of a ticket type as `counter` if it has room. */
  takeType: {
    sold: 'update "ticket_types" set "sold" = "sold" + ? where "id" = ? and "sold" + "held" + ? <= "capacity"',
    held: 'update "ticket_types" set "held" = "held" + ? where "id" = ? and "sold" + "held" + ? <= "capacity"',
  },
  /** [n, event id, n]: takes n of the event as `counter` if it has room. */
  takeEvent: {
    sold: 'update "events" set "sold" = "sold" + ? where "id" = ? and "status" = \'published\' and ("capacity" is null or "sold" + "held" + ? <= "capacity")',
    held: 'update "events" set "held" = "held" + ? where "id" = ? and "status" = \'published\' and ("capacity" is null or "sold" + "held" + ? <= "capacity")',
  },
  /** [n, type id, event id, n]: sells n of a ticket type of the event, returning `columns` of its row. */
  sellTypeReturning: (columns: string) =>
    `update "ticket_types" set "sold" = "sold" + ? where "id" = ? and "event_id" = ? and "sold" + "held" + ? <= "capacity" returning ${columns}`,
  /** [n, event id, org id, n]: sells n of the organization's event, returning `columns` of its row. */
  sellEventReturning: (columns: string) =>
    `update "events" set "sold" = "sold" + ? where "id" = ? and "org_id" = ? and "status" = 'published' and ("capacity" is null or "sold" + "held" + ? <= "capacity") returning ${columns}`,
  /**
   * Postgres CTEs `t` (the ticket type) and `e` (the event, only if `t` matched) taking n as `counter`,
   * for a sale that is one statement. `p` makes the next typed `$n` parameter; they are taken in the
   * order [n, type id, n, n, event id, n]. `guard`: a further condition on the type's update.
   */
  takeCtes: (counter: Counter, p: (type: 'integer' | 'text') => string, guard: string) => {
    const c = `"${counter}"`;
    return (
      `t as (update ticket_types set ${c} = ${c} + ${p('integer')} where id = ${p('text')} and sold + held + ${p('integer')} <= capacity${guard} returning id), ` +
      `e as (update events set ${c} = ${c} + ${p('integer')} where id = ${p('text')} and status = 'published' and (capacity is null or sold + held + ${p('integer')} <= capacity) and exists (select 1 from t) returning id)`
    );
  },
} as const;
