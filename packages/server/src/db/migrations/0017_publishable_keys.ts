import type { Kysely } from 'kysely';

// Frozen in time: never edit a migration that has landed; add a new one.
//
// Publishable keys (pk_…) are api_keys rows with the `publishable` scope: no change there. What they
// need is the list of web origins an organization sells from, for CORS: one row per origin, looked up
// by organization (a request with a key) and by origin alone (a preflight, which carries no key).
// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's table types
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('allowed_origins')
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('origin', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('allowed_origins_pk', ['org_id', 'origin'])
    .execute();
  await db.schema.createIndex('allowed_origins_origin_idx').on('allowed_origins').column('origin').execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see above
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('allowed_origins').execute();
}
