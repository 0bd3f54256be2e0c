import { type Kysely, SqliteAdapter, sql } from 'kysely';

// Frozen in time: never edit a migration that has landed; add a new one.
//
// Less work for every online scan, the hottest write in the product (see bench/run.mjs):
// - The scan log's conflict index only ever looks at a few rows (conflicts). Made partial, an online
//   scan no longer writes an entry into it. (The unique index on offline scan ids stays whole: a
//   server still running the code before this migration names it in ON CONFLICT, which a partial
//   index would no longer match.)
// - The scan log's index on ticket_id serves no query (stats and conflicts go by event, offline
//   uploads by scan id), yet every scan wrote into it at a random place: dropped. A per-ticket history
//   would bring it back.
// - On SQLite, ticket_presence becomes a WITHOUT ROWID table: the primary key (ticket, list) is the
//   table, so an admission writes one b-tree instead of a table and its key index. (Postgres tables are
//   always a heap plus index; nothing to change there.)
// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's table types
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('checkins_ticket_idx').execute();
  await db.schema.dropIndex('checkins_conflict_idx').execute();
  await db.schema
    .createIndex('checkins_conflict_idx')
    .on('checkins')
    .columns(['event_id', 'id'])
    .where(sql.ref('conflict'), '=', sql.lit(1))
    .execute();

  if (!isSqlite(db)) return;
  await db.schema
    .createTable('ticket_presence_lean')
    .addColumn('ticket_id', 'text', (c) => c.notNull().references('tickets.id'))
    .addColumn('list_id', 'text', (c) => c.notNull().references('checkin_lists.id').onDelete('cascade'))
    .addColumn('inside', 'integer', (c) => c.notNull())
    .addColumn('first_entry_at', 'text', (c) => c.notNull())
    .addColumn('first_gate', 'text')
    .addColumn('first_device', 'text', (c) => c.notNull())
    .addColumn('last_change_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('ticket_presence_pk', ['ticket_id', 'list_id'])
    .modifyEnd(sql`without rowid`)
    .execute();
  await sql`insert into ticket_presence_lean
    (ticket_id, list_id, inside, first_entry_at, first_gate, first_device, last_change_at)
    select ticket_id, list_id, inside, first_entry_at, first_gate, first_device, last_change_at
    from ticket_presence`.execute(db);
  await db.schema.dropTable('ticket_presence').execute();
  await db.schema.alterTable('ticket_presence_lean').renameTo('ticket_presence').execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see above
export async function down(db: Kysely<any>): Promise<void> {
  // The presence table stays as it is: WITHOUT ROWID or not, it holds the same rows.
  await db.schema.createIndex('checkins_ticket_idx').on('checkins').column('ticket_id').execute();
  await db.schema.dropIndex('checkins_conflict_idx').execute();
  await db.schema
    .createIndex('checkins_conflict_idx')
    .on('checkins')
    .columns(['event_id', 'conflict', 'id'])
    .execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see above
function isSqlite(db: Kysely<any>): boolean {
  return db.getExecutor().adapter instanceof SqliteAdapter;
}
