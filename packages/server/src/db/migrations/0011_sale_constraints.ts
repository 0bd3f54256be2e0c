import { type Kysely, SqliteAdapter, sql } from 'kysely';

// Frozen in time: never edit a migration that has landed; add a new one.
//
// The database refuses what the sale must never do, whatever code runs against it: counters below zero
// or past capacity, refunds past what was paid, statuses outside their sets. Postgres takes CHECK
// constraints on existing tables. SQLite can add a CHECK only by rebuilding the table, and rebuilding
// events, ticket types or orders would run their ON DELETE CASCADEs (the drop of the old table deletes
// its rows first) and wipe tickets; so on SQLite each rule is a pair of BEFORE INSERT/UPDATE triggers
// that abort the statement, which is what a CHECK does. Either way the message names the rule, and the
// server answers a violation with 409 (http/errors.ts, constraintViolated).
//
// `tickets.seat_kept`: a void ticket whose seat stays off sale (refunded with return_inventory: false)
// still counts in its type's `sold`. Recorded per ticket so `sold` = tickets holding a seat can be checked.

/** Each rule: its name (in the error), its table, and the condition every row must meet. */
const RULES: [name: string, table: string, condition: string][] = [
  ['ticket_types_inventory', 'ticket_types', 'sold >= 0 and held >= 0 and sold + held <= capacity'],
  ['events_inventory', 'events', 'sold >= 0 and held >= 0 and (capacity is null or sold + held <= capacity)'],
  ['events_status', 'events', "status in ('draft', 'published', 'cancelled', 'completed')"],
  ['orders_refunded', 'orders', 'refunded_amount >= 0 and refunded_amount <= total_amount'],
  [
    'orders_status',
    'orders',
    "status in ('pending', 'paid', 'partially_refunded', 'refunded', 'expired', 'cancelled', 'failed')",
  ],
  [
    'tickets_status',
    'tickets',
    "(status = 'valid' and void_reason is null and seat_kept = 0) or (status = 'void' and void_reason is not null and void_reason in ('refunded', 'cancelled') and seat_kept in (0, 1))",
  ],
  ['refunds_amount', 'refunds', "amount >= 0 and status in ('pending', 'succeeded', 'failed')"],
];

/** The column names the rules use (nothing in their string literals matches). */
const COLUMN = /\b(sold|held|capacity|status|void_reason|seat_kept|refunded_amount|total_amount|amount)\b/g;

// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's table types
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('tickets')
    .addColumn('seat_kept', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  // Tickets voided by a refund that kept its seats off sale (by the ticket's own refund, or an order's).
  await sql`update tickets set seat_kept = 1 where status = 'void' and void_reason = 'refunded' and exists (
    select 1 from refunds r where r.returned_inventory = 0 and r.order_id = tickets.order_id
      and (r.ticket_id = tickets.id or r.ticket_id is null))`.execute(db);

  if (isSqlite(db)) {
    for (const [name, table, condition] of RULES) {
      const columns = [...new Set(condition.match(COLUMN) ?? [])];
      const row = condition.replaceAll(COLUMN, 'new.$1');
      // An update trigger only for updates of the rule's columns: the others can't break it.
      for (const when of ['insert', `update of ${columns.join(', ')}`])
        await sql
          .raw(
            `create trigger ${name}_${when.split(' ')[0]} before ${when} on ${table} when not (${row}) begin select raise(abort, 'constraint ${name} violated'); end`,
          )
          .execute(db);
    }
    return;
  }
  for (const [name, table, condition] of RULES)
    await sql.raw(`alter table ${table} add constraint ${name} check (${condition})`).execute(db);
}

// biome-ignore lint/suspicious/noExplicitAny: see above
export async function down(db: Kysely<any>): Promise<void> {
  if (isSqlite(db)) {
    for (const [name] of RULES)
      for (const when of ['insert', 'update'])
        await sql.raw(`drop trigger if exists ${name}_${when}`).execute(db);
  } else {
    for (const [name, table] of RULES)
      await sql.raw(`alter table ${table} drop constraint if exists ${name}`).execute(db);
  }
  await db.schema.alterTable('tickets').dropColumn('seat_kept').execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see above
function isSqlite(db: Kysely<any>): boolean {
  return db.getExecutor().adapter instanceof SqliteAdapter;
}
