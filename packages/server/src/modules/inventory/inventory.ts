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
 *
 * Slots: a hot event. Every sale of an event writes its ticket type's row and the event's row, and on
 * Postgres the row stays locked until the sale commits, so all buyers of an event queue on one row,
 * one commit at a time, however many processes sell. An event with `slots` = k > 1 spreads each
 * counter (each ticket type's and the event's) over k rows of `inventory_slots`, each with its share of
 * the capacity and its own CHECK (migration 0014): a sale takes from one slot, starting at a random one
 * and skipping slots another sale has locked (SKIP LOCKED), so k sales of one type commit side by side.
 * When no single slot has room for it (the last tickets, spread over slots, or every slot busy) the
 * sale locks all of the owner's slots in order, waiting for the others, and takes what each has: so the
 * last tickets sell exactly as without slots. Giving back (release, refund) takes from any slot that
 * has enough, the same way: only the sums mean anything. With slots the row's own counters are 0 and
 * stay so (every row write here requires `slots = 1`, a condition on the row itself, so a write racing
 * a change of slots matches nothing rather than counting twice), the event's "on sale" is checked by a
 * shared lock on its row (a cancellation's update waits for the sales in flight, and a sale after it
 * sees it), and readers add the slots up (`withCounts`). On SQLite, one writer, slots change nothing
 * but work the same (its tests run them on both databases).
 */
import { type Kysely, sql, type Transaction } from 'kysely';
import type { Database } from '../../db/schema.js';
import { locksOf } from '../../db/store.js';

type Trx = Transaction<Database>;
export type Counter = 'sold' | 'held';

/** The most slots an event may spread its counters over. */
export const MAX_SLOTS = 64;

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

/** What holds counters: a ticket type, or an event (whose seats are taken only while it is on sale). */
interface Owner {
  table: 'ticket_types' | 'events';
  id: string;
}
const typeOwner = (id: string): Owner => ({ table: 'ticket_types', id });
const eventOwner = (id: string): Owner => ({ table: 'events', id });

const affected = (res: { numAffectedRows?: bigint }) => Number(res.numAffectedRows ?? 0);
/** `capacity` has room for n more (an event's may be null: no limit of its own). */
const roomFor = (n: number) => sql<boolean>`(capacity is null or sold + held + ${n} <= capacity)`;

/** The SET list moving n out of `from` (if given) and into `to` (if given). */
const moving = (from: Counter | null, to: Counter | null, n: number) =>
  sql.join([
    ...(from ? [sql`${sql.ref(from)} = ${sql.ref(from)} - ${n}`] : []),
    ...(to ? [sql`${sql.ref(to)} = ${sql.ref(to)} + ${n}`] : []),
  ]);

/**
 * Changes an owner's row: n from `from` (if given) to `to` (if given), checked against its capacity
 * (and for an event, that it is on sale) when `checked`. Only while the row holds its counters itself
 * (`slots = 1`); false when it does not, or has no room.
 */
async function changeRow(
  trx: Trx,
  o: Owner,
  from: Counter | null,
  to: Counter | null,
  n: number,
  checked: boolean,
): Promise<boolean> {
  const onSale = checked && o.table === 'events' ? sql` and status = 'published'` : sql``;
  const guard = checked ? sql` and ${roomFor(n)}${onSale}` : sql``;
  const res =
    await sql`update ${sql.table(o.table)} set ${moving(from, to, n)} where id = ${o.id} and slots = 1${guard}`.execute(
      trx,
    );
  return affected(res) === 1;
}

/**
 * The same change over the owner's slots. Taking (`from` null) needs room in a slot; giving back needs
 * that much counted in a slot. First one slot that can, starting at a random one and skipping those
 * another transaction has locked; else all of them locked in order (waiting) and split across them.
 * False when they have not enough together; 'unslotted' when the owner has no slots (any more).
 */
async function changeSlots(
  trx: Trx,
  ownerId: string,
  slots: number,
  from: Counter | null,
  to: Counter | null,
  n: number,
): Promise<boolean | 'unslotted'> {
  const locks = locksOf(trx);
  const fits = (x: number) => (from ? sql<boolean>`${sql.ref(from)} >= ${x}` : roomFor(x));
  const change = (slot: number | ReturnType<typeof pick>, x: number) => {
    return sql`update inventory_slots set ${moving(from, to, x)} where owner_id = ${ownerId} and slot = ${slot} and ${fits(x)}`.execute(
      trx,
    );
  };
  const start = Math.floor(Math.random() * slots);
  const pick = () =>
    locks.forClaim(
      trx
        .selectFrom('inventory_slots')
        .select('slot')
        .where('owner_id', '=', ownerId)
        .where(fits(n))
        .orderBy(sql`slot >= ${start}`, 'desc')
        .orderBy('slot')
        .limit(1),
    );
  if (affected(await change(pick(), n)) === 1) return true;

  const all = await locks
    .forUpdate(trx.selectFrom('inventory_slots').selectAll().where('owner_id', '=', ownerId).orderBy('slot'))
    .execute();
  if (all.length === 0) return 'unslotted';
  const has = (s: (typeof all)[number]) =>
    from ? s[from] : s.capacity === null ? n : s.capacity - s.sold - s.held;
  if (all.reduce((sum, s) => sum + Math.max(0, has(s)), 0) < n) return false;
  let left = n;
  for (const s of [...all.slice(start), ...all.slice(0, start)]) {
    const x = Math.min(left, has(s));
    if (x <= 0) continue;
    if (affected(await change(s.slot, x)) !== 1)
      throw new Error(`slot ${ownerId}/${s.slot} changed under its lock`);
    left -= x;
    if (left === 0) break;
  }
  return true;
}

/** An owner's number of slots (1: its row holds the counters), or undefined when it does not exist. */
async function slotsOf(trx: Trx, o: Owner): Promise<number | undefined> {
  const row = await trx.selectFrom(o.table).select('slots').where('id', '=', o.id).executeTakeFirst();
  return row?.slots;
}

/**
 * Takes n as `counter` from an owner if it has room (and, an event, is on sale): from its row, or its
 * slots. An event's slots are taken under a shared lock on its row that holds it on sale until the
 * transaction ends (see the module comment).
 */
async function takeFrom(trx: Trx, o: Owner, counter: Counter, n: number): Promise<boolean> {
  for (let attempt = 0; attempt < 3; attempt++) {
    if (await changeRow(trx, o, null, counter, n, true)) return true;
    const slots = await slotsOf(trx, o);
    if (slots === undefined || slots === 1) return false;
    if (o.table === 'events') {
      const onSale = await locksOf(trx)
        .forShare(
          trx.selectFrom('events').select('id').where('id', '=', o.id).where('status', '=', 'published'),
        )
        .executeTakeFirst();
      if (!onSale) return false;
    }
    const took = await changeSlots(trx, o.id, slots, null, counter, n);
    if (took !== 'unslotted') return took;
    // Its slots were folded back into the row since: take from the row.
  }
  return false;
}

/** Moves n from `from` to `to` (or out) of an owner, its row's or its slots'; never fails for room. */
async function moveIn(trx: Trx, o: Owner, from: Counter, to: Counter | null, n: number): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    if (await changeRow(trx, o, from, to, n, false)) return;
    const slots = await slotsOf(trx, o);
    if (slots === undefined) return;
    if (slots === 1) continue;
    const moved = await changeSlots(trx, o.id, slots, from, to, n);
    if (moved === true) return;
    if (moved === false) throw new Error(`${o.id} has fewer than ${n} ${from} to move`);
  }
  throw new Error(`${o.id}: its slots kept changing`);
}

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
  const giveBack = async () => {
    for (const line of taken) await moveIn(trx, typeOwner(line.typeId), counter, null, line.quantity);
  };
  for (const line of inOrder(lines)) {
    if (!(await takeFrom(trx, typeOwner(line.typeId), counter, line.quantity))) {
      await giveBack();
      return `${line.name ?? 'This ticket type'} is sold out, or fewer than ${line.quantity} are left.`;
    }
    taken.push(line);
  }
  const count = total(lines);
  if (!(await takeFrom(trx, eventOwner(eventId), counter, count))) {
    await giveBack();
    return `The event is sold out (or fewer than ${count} places are left), or no longer on sale.`;
  }
  return null;
}

async function move(trx: Trx, eventId: string, lines: readonly Line[], from: Counter, to: Counter | null) {
  if (lines.length === 0) return;
  for (const line of inOrder(lines)) await moveIn(trx, typeOwner(line.typeId), from, to, line.quantity);
  await moveIn(trx, eventOwner(eventId), from, to, total(lines));
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

/** Shares of a capacity over k slots, with the counts placed where they fit (they always do). */
function spread(capacity: number | null, sold: number, held: number, k: number) {
  const rows = Array.from({ length: k }, (_, slot) => ({
    slot,
    capacity: capacity === null ? null : Math.floor(capacity / k) + (slot < capacity % k ? 1 : 0),
    sold: 0,
    held: 0,
  }));
  for (const [counter, count] of [
    ['sold', sold],
    ['held', held],
  ] as const) {
    let left = count;
    for (const row of rows) {
      const x = row.capacity === null ? left : Math.min(left, row.capacity - row.sold - row.held);
      row[counter] += x;
      left -= x;
    }
    if (left > 0) throw new Error(`${count} ${counter} do not fit in a capacity of ${capacity}`);
  }
  return rows;
}

/**
 * Sets an owner's capacity and its number of slots, moving its counts between its row and its slots
 * with all of them locked. False when what is sold and held exceeds the capacity (nothing changed).
 */
async function reshape(trx: Trx, o: Owner, capacity: number | null, k: number): Promise<boolean> {
  const locks = locksOf(trx);
  const row = await locks
    .forUpdate(trx.selectFrom(o.table).select(['sold', 'held']).where('id', '=', o.id))
    .executeTakeFirst();
  if (!row) return false;
  const slots = await locks
    .forUpdate(trx.selectFrom('inventory_slots').selectAll().where('owner_id', '=', o.id).orderBy('slot'))
    .execute();
  const sold = row.sold + slots.reduce((n, s) => n + s.sold, 0);
  const held = row.held + slots.reduce((n, s) => n + s.held, 0);
  if (capacity !== null && sold + held > capacity) return false;
  await trx.deleteFrom('inventory_slots').where('owner_id', '=', o.id).execute();
  const own = k === 1 ? { sold, held } : NOTHING_SOLD;
  await sql`update ${sql.table(o.table)} set capacity = ${capacity}, slots = ${k}, sold = ${own.sold}, held = ${own.held} where id = ${o.id}`.execute(
    trx,
  );
  if (k > 1)
    await trx
      .insertInto('inventory_slots')
      .values(spread(capacity, sold, held, k).map((s) => ({ owner_id: o.id, ...s })))
      .execute();
  return true;
}

/**
 * Spreads an event's counters (its own and each of its ticket types') over k slots, or (k = 1) brings
 * them back to their rows. Call it with the event's row already locked by the transaction (the update
 * that records the new number), so a ticket type created meanwhile waits and then follows it.
 */
export async function setSlots(trx: Trx, eventId: string, k: number): Promise<void> {
  const types = await trx
    .selectFrom('ticket_types')
    .select(['id', 'capacity'])
    .where('event_id', '=', eventId)
    .orderBy('id')
    .execute();
  for (const t of types) await reshape(trx, typeOwner(t.id), t.capacity, k);
  const event = await trx
    .selectFrom('events')
    .select('capacity')
    .where('id', '=', eventId)
    .executeTakeFirstOrThrow();
  await reshape(trx, eventOwner(eventId), event.capacity, k);
}

/**
 * A new capacity for a ticket type or an event, checked against what is sold and held with the
 * counters locked (a sale racing the change cannot slip past it). False when below.
 */
export async function setCapacity(
  trx: Trx,
  owner: { type: string } | { event: string },
  capacity: number | null,
): Promise<boolean> {
  const o = 'type' in owner ? typeOwner(owner.type) : eventOwner(owner.event);
  const slots = (await slotsOf(trx, o)) ?? 1;
  if (slots === 1) {
    const fits = capacity === null ? sql`` : sql` and sold + held <= ${capacity}`;
    const res =
      await sql`update ${sql.table(o.table)} set capacity = ${capacity} where id = ${o.id} and slots = 1${fits}`.execute(
        trx,
      );
    if (affected(res) === 1) return true;
    if ((await slotsOf(trx, o)) === 1) return false;
  }
  return reshape(trx, o, capacity, (await slotsOf(trx, o)) ?? 1);
}

/** A ticket type just created follows its event's slots (see setSlots: the event's row is locked first). */
export async function followEvent(trx: Trx, typeId: string, eventId: string): Promise<void> {
  const event = await locksOf(trx)
    .forShare(trx.selectFrom('events').select('slots').where('id', '=', eventId))
    .executeTakeFirst();
  if (event && event.slots > 1) {
    const t = await trx
      .selectFrom('ticket_types')
      .select('capacity')
      .where('id', '=', typeId)
      .executeTakeFirstOrThrow();
    await reshape(trx, typeOwner(typeId), t.capacity, event.slots);
  }
}

/** An event or ticket type is deleted (nothing sold or held): its slots go with it. */
export async function forgetSlots(trx: Trx, ownerIds: string[]): Promise<void> {
  if (ownerIds.length) await trx.deleteFrom('inventory_slots').where('owner_id', 'in', ownerIds).execute();
}

/**
 * Rows (events or ticket types) with their true counters: a row with slots has its slots' sums. Costs
 * nothing (no query) when no row has slots.
 */
export async function withCounts<R extends { id: string; slots: number; sold: number; held: number }>(
  k: Kysely<Database>,
  rows: R[],
): Promise<R[]> {
  const slotted = rows.filter((r) => r.slots > 1).map((r) => r.id);
  if (slotted.length === 0) return rows;
  const sums = await k
    .selectFrom('inventory_slots')
    .select((eb) => ['owner_id', eb.fn.sum<number>('sold').as('sold'), eb.fn.sum<number>('held').as('held')])
    .where('owner_id', 'in', slotted)
    .groupBy('owner_id')
    .execute();
  const byOwner = new Map(sums.map((s) => [s.owner_id, s]));
  return rows.map((r) => {
    const s = byOwner.get(r.id);
    return s ? { ...r, sold: r.sold + Number(s.sold), held: r.held + Number(s.held) } : r;
  });
}

/**
 * The same conditional writes as SQL text, for the purchase's precompiled hot paths (see the module
 * comment). SQLite's `?` placeholders; `rows.ts` numbers them for Postgres. Each writes a row's own
 * counters only while it has no slots (`slots = 1`).
 */
export const SQL = {
  /** [n, type id, n]: takes n of a ticket type as `counter` if it has room. */
  takeType: {
    sold: 'update "ticket_types" set "sold" = "sold" + ? where "id" = ? and "slots" = 1 and "sold" + "held" + ? <= "capacity"',
    held: 'update "ticket_types" set "held" = "held" + ? where "id" = ? and "slots" = 1 and "sold" + "held" + ? <= "capacity"',
  },
  /** [n, event id, n]: takes n of the event as `counter` if it has room. */
  takeEvent: {
    sold: 'update "events" set "sold" = "sold" + ? where "id" = ? and "slots" = 1 and "status" = \'published\' and ("capacity" is null or "sold" + "held" + ? <= "capacity")',
    held: 'update "events" set "held" = "held" + ? where "id" = ? and "slots" = 1 and "status" = \'published\' and ("capacity" is null or "sold" + "held" + ? <= "capacity")',
  },
  /** [n, type id, event id, n]: sells n of a ticket type of the event, returning `columns` of its row. */
  sellTypeReturning: (columns: string) =>
    `update "ticket_types" set "sold" = "sold" + ? where "id" = ? and "event_id" = ? and "slots" = 1 and "sold" + "held" + ? <= "capacity" returning ${columns}`,
  /** [n, event id, org id, n]: sells n of the organization's event, returning `columns` of its row. */
  sellEventReturning: (columns: string) =>
    `update "events" set "sold" = "sold" + ? where "id" = ? and "org_id" = ? and "slots" = 1 and "status" = 'published' and ("capacity" is null or "sold" + "held" + ? <= "capacity") returning ${columns}`,
  /**
   * Postgres CTEs `t` (the ticket type) and `e` (the event, only if `t` matched) taking n as `counter`,
   * for a sale that is one statement. `p` makes the next typed `$n` parameter; their values are
   * `takeValues`'s, in order.
   *
   * With slots, each takes from one slot with room (take_slot, migration 0014: starting at a random
   * one, skipping slots that other sales hold, waiting for one only when all those with room are busy),
   * under a shared lock on the event's row (`g`) that holds it on sale (see the module comment). When
   * none had room for all n at once, `t` or `e` is empty as without slots, and the caller takes the
   * slow way (takeSeats), which waits for all the slots and splits across them.
   */
  takeCtes: (counter: Counter, p: (type: 'integer' | 'text') => string, slotted: boolean) => {
    const c = `"${counter}"`;
    if (!slotted)
      return (
        `t as (update ticket_types set ${c} = ${c} + ${p('integer')} where id = ${p('text')} and slots = 1 and sold + held + ${p('integer')} <= capacity returning id), ` +
        `e as (update events set ${c} = ${c} + ${p('integer')} where id = ${p('text')} and slots = 1 and status = 'published' and (capacity is null or sold + held + ${p('integer')} <= capacity) and exists (select 1 from t) returning id)`
      );
    // take_slot (migration 0014) takes from one slot, or returns null; the event's only once the
    // type's has taken. `t` and `e` have a row when taken, as without slots.
    const take = (after: string) =>
      `select take_slot(${p('text')}, '${counter}', ${p('integer')}, ${p('integer')}) as slot from ${after}`;
    return (
      `g as (select 1 from events where id = ${p('text')} and status = 'published' for share), ` +
      `ts as (${take('g')}), t as (select slot from ts where slot is not null), ` +
      `es as (${take('t')}), e as (select slot from es where slot is not null)`
    );
  },
  /** The values of takeCtes's parameters, in order. */
  takeValues: (n: number, typeId: string, eventId: string, slots: number): unknown[] => {
    if (slots === 1) return [n, typeId, n, n, eventId, n];
    const start = () => Math.floor(Math.random() * slots);
    return [eventId, typeId, n, start(), eventId, n, start()];
  },
} as const;
