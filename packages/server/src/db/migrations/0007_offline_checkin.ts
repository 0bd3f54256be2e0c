import type { Kysely } from 'kysely';

// Frozen in time: never edit a migration that has landed; add a new one.
// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's table types
export async function up(db: Kysely<any>): Promise<void> {
  // Offline scans carry the device's own id for each scan, so an upload repeated after a dropped
  // connection applies every scan once: the unique index lets only the first upload claim it.
  await db.schema.alterTable('checkins').addColumn('scan_id', 'text').execute();
  // What the device decided at the door, offline.
  await db.schema.alterTable('checkins').addColumn('offline_result', 'text').execute();
  // The device let someone in whom the server found already admitted: two doors admitted one ticket.
  await db.schema
    .alterTable('checkins')
    .addColumn('conflict', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  // JSON { at, gate, device_id }: the answer's first_used, kept so a re-upload gets the same answer.
  await db.schema.alterTable('checkins').addColumn('first_used', 'text').execute();
  await db.schema
    .createIndex('checkins_scan_idx')
    .unique()
    .on('checkins')
    .columns(['org_id', 'scan_id'])
    .execute();
  await db.schema
    .createIndex('checkins_conflict_idx')
    .on('checkins')
    .columns(['event_id', 'conflict', 'id'])
    .execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see above
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('checkins_conflict_idx').execute();
  await db.schema.dropIndex('checkins_scan_idx').execute();
  for (const c of ['first_used', 'conflict', 'offline_result', 'scan_id'])
    await db.schema.alterTable('checkins').dropColumn(c).execute();
}
