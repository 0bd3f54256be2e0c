import type { Kysely } from 'kysely';

// Frozen in time: never edit a migration that has landed; add a new one.
// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's table types
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('checkin_lists')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('event_id', 'text', (c) => c.notNull().references('events.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('ticket_type_ids', 'text')
    .addColumn('starts_at', 'text')
    .addColumn('ends_at', 'text')
    .addColumn('allow_reentry', 'integer', (c) => c.notNull())
    .addColumn('is_default', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('checkin_lists_event_idx')
    .on('checkin_lists')
    .columns(['event_id', 'id'])
    .execute();

  // Where each ticket stands on each list. The primary key is what makes admission exactly-once:
  // the first entry is an insert only one scan can win.
  await db.schema
    .createTable('ticket_presence')
    .addColumn('ticket_id', 'text', (c) => c.notNull().references('tickets.id'))
    .addColumn('list_id', 'text', (c) => c.notNull().references('checkin_lists.id').onDelete('cascade'))
    .addColumn('inside', 'integer', (c) => c.notNull())
    .addColumn('first_entry_at', 'text', (c) => c.notNull())
    .addColumn('first_gate', 'text')
    .addColumn('first_device', 'text', (c) => c.notNull())
    .addColumn('last_change_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('ticket_presence_pk', ['ticket_id', 'list_id'])
    .execute();

  // Every scan, admitted or refused.
  await db.schema
    .createTable('checkins')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('event_id', 'text')
    .addColumn('list_id', 'text')
    .addColumn('ticket_id', 'text')
    .addColumn('device_id', 'text', (c) => c.notNull())
    .addColumn('gate', 'text')
    .addColumn('direction', 'text', (c) => c.notNull())
    .addColumn('result', 'text', (c) => c.notNull())
    .addColumn('offline', 'integer', (c) => c.notNull())
    .addColumn('scanned_at', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('checkins_event_idx').on('checkins').columns(['event_id', 'id']).execute();
  await db.schema.createIndex('checkins_ticket_idx').on('checkins').column('ticket_id').execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see above
export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ['checkins', 'ticket_presence', 'checkin_lists']) await db.schema.dropTable(t).execute();
}
