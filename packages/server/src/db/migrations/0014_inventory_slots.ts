import { type Kysely, SqliteAdapter, sql } from 'kysely';

// Frozen in time: never edit a migration that has landed; add a new one.
//
// A hot event's counters spread over several rows (modules/inventory/inventory.ts explains why and how).
// `slots` on an event and on each of its ticket types: 1, the counters are the row's own `sold` and
// `held` (as before); k > 1, they are the sum of the owner's k rows here (slot 0 … k-1), the row's own
// are 0, and the row's `capacity` is the sum of the slots' capacities. Each slot refuses to exceed its
// own capacity (a CHECK, native here since the table is new), so no sum can exceed the owner's.
// `owner_id` is an event's or a ticket type's id (their prefixes differ).
//
// Postgres: `take_slot(owner, counter, n, start)` takes n as `counter` ('sold' or 'held') from one of
// the owner's slots with room and returns its number, or null when it found none at once (the caller
// then takes the slow way). First a slot no other transaction holds (SKIP LOCKED), beginning at
// `start`; when every slot with room is busy, the first with room as last committed, waiting for that
// one row only: the update rechecks the room once it has the row, and never goes on to lock another
// (a scan that did could hold one row while waiting for the next: a deadlock with another such scan).
// A function because one SQL statement could not do this: its sub-selects that lock rows must not
// depend on other parts of the statement (rechecked after a wait, they found nothing and locked on).
const TAKE_SLOT = `
create function take_slot(p_owner text, p_counter text, p_n integer, p_start integer) returns integer
language plpgsql as $$
declare
  s integer;
begin
  select slot into s from inventory_slots
    where owner_id = p_owner and (capacity is null or sold + held + p_n <= capacity)
    order by slot >= p_start desc, slot limit 1 for update skip locked;
  if s is null then
    select slot into s from inventory_slots
      where owner_id = p_owner and (capacity is null or sold + held + p_n <= capacity)
      order by slot >= p_start desc, slot limit 1;
  end if;
  if s is null then
    return null;
  end if;
  if p_counter = 'sold' then
    update inventory_slots set sold = sold + p_n
      where owner_id = p_owner and slot = s and (capacity is null or sold + held + p_n <= capacity);
  else
    update inventory_slots set held = held + p_n
      where owner_id = p_owner and slot = s and (capacity is null or sold + held + p_n <= capacity);
  end if;
  if not found then
    return null;
  end if;
  return s;
end
$$`;

// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's table types
export async function up(db: Kysely<any>): Promise<void> {
  for (const table of ['events', 'ticket_types'])
    await db.schema
      .alterTable(table)
      .addColumn('slots', 'integer', (c) => c.notNull().defaultTo(1))
      .execute();
  await db.schema
    .createTable('inventory_slots')
    .addColumn('owner_id', 'text', (c) => c.notNull())
    .addColumn('slot', 'integer', (c) => c.notNull())
    .addColumn('capacity', 'integer')
    .addColumn('sold', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('held', 'integer', (c) => c.notNull().defaultTo(0))
    .addPrimaryKeyConstraint('inventory_slots_pkey', ['owner_id', 'slot'])
    .addCheckConstraint(
      'inventory_slots_inventory',
      sql`sold >= 0 and held >= 0 and (capacity is null or sold + held <= capacity)`,
    )
    .execute();
  if (!(db.getExecutor().adapter instanceof SqliteAdapter)) await sql.raw(TAKE_SLOT).execute(db);
}

// biome-ignore lint/suspicious/noExplicitAny: see above
export async function down(db: Kysely<any>): Promise<void> {
  if (!(db.getExecutor().adapter instanceof SqliteAdapter))
    await sql.raw('drop function if exists take_slot(text, text, integer, integer)').execute(db);
  // The slots' counts go back to their rows first.
  for (const table of ['events', 'ticket_types'])
    await sql
      .raw(
        `update ${table} set ${['sold', 'held'].map((c) => `${c} = ${c} + coalesce((select sum(s.${c}) from inventory_slots s where s.owner_id = ${table}.id), 0)`).join(', ')}`,
      )
      .execute(db);
  await db.schema.dropTable('inventory_slots').execute();
  for (const table of ['events', 'ticket_types'])
    await db.schema.alterTable(table).dropColumn('slots').execute();
}
