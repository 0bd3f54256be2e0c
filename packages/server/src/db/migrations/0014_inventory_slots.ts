import { type Kysely, sql } from 'kysely';

// Frozen in time: never edit a migration that has landed; add a new one.
//
// A hot event's counters spread over several rows (modules/inventory/inventory.ts explains why and how).
// `slots` on an event and on each of its ticket types: 1, the counters are the row's own `sold` and
// `held` (as before); k > 1, they are the sum of the owner's k rows here (slot 0 … k-1), the row's own
// are 0, and the row's `capacity` is the sum of the slots' capacities. Each slot refuses to exceed its
// own capacity (a CHECK, native here since the table is new), so no sum can exceed the owner's.
// `owner_id` is an event's or a ticket type's id (their prefixes differ).
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
}

// biome-ignore lint/suspicious/noExplicitAny: see above
export async function down(db: Kysely<any>): Promise<void> {
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
