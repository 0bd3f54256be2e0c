import { type Kysely, SqliteAdapter, sql } from 'kysely';

// Frozen in time: never edit a migration that has landed; add a new one.
//
// The audit log becomes what an owner reads (GET /api/audit-log) and what security monitoring writes:
// - `request_id` and `ip`: which request did it, from which client address (null for the system: the
//   worker, a webhook's own changes, the sweeper);
// - `org_id` may be null: a security event that belongs to no organization (a webhook with a bad
//   signature, a failed sign-in for an address that is no account) is still recorded;
// - listed newest first per organization, and by action.
// SQLite cannot drop a NOT NULL in place: the table is rebuilt (nothing references it, so no cascade).
// It stays append-only: nothing in the server updates or deletes its rows.

// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's table types
export async function up(db: Kysely<any>): Promise<void> {
  if (db.getExecutor().adapter instanceof SqliteAdapter) {
    await db.schema
      .createTable('audit_log_new')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('org_id', 'text', (c) => c.references('organizations.id').onDelete('cascade'))
      .addColumn('actor', 'text')
      .addColumn('action', 'text', (c) => c.notNull())
      .addColumn('subject_id', 'text', (c) => c.notNull())
      .addColumn('data', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('request_id', 'text')
      .addColumn('ip', 'text')
      .execute();
    await sql`insert into audit_log_new (id, org_id, actor, action, subject_id, data, created_at)
      select id, org_id, actor, action, subject_id, data, created_at from audit_log`.execute(db);
    await db.schema.dropTable('audit_log').execute();
    await db.schema.alterTable('audit_log_new').renameTo('audit_log').execute();
    await db.schema
      .createIndex('audit_log_subject_idx')
      .on('audit_log')
      .columns(['subject_id', 'id'])
      .execute();
  } else {
    await sql`alter table audit_log alter column org_id drop not null`.execute(db);
    await db.schema.alterTable('audit_log').addColumn('request_id', 'text').execute();
    await db.schema.alterTable('audit_log').addColumn('ip', 'text').execute();
  }
  await db.schema.createIndex('audit_log_org_idx').on('audit_log').columns(['org_id', 'id']).execute();
  await db.schema
    .createIndex('audit_log_action_idx')
    .on('audit_log')
    .columns(['org_id', 'action', 'id'])
    .execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see above
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('audit_log_action_idx').execute();
  await db.schema.dropIndex('audit_log_org_idx').execute();
  await db.schema.alterTable('audit_log').dropColumn('ip').execute();
  await db.schema.alterTable('audit_log').dropColumn('request_id').execute();
}
