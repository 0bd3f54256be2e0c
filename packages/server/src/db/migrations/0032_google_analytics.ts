import type { Kysely } from 'kysely';

// Frozen in time: never edit a migration that has landed; add a new one.
//
// Google Analytics 4, server-side (issue 16): an organization's web stream (measurement id and
// Measurement Protocol API secret), and on each order the buyer's GA4 session as the checkout passed
// it (JSON: client_id, session_id, user_id, consent), so the server's purchase joins the browser's
// session — or, with consent false, nothing about the order is sent. Events go through the outbox
// (channel `ga4`), like webhooks.
// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's table types
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('ga4_settings')
    .addColumn('org_id', 'text', (c) => c.primaryKey().references('organizations.id').onDelete('cascade'))
    .addColumn('measurement_id', 'text', (c) => c.notNull())
    .addColumn('api_secret', 'text', (c) => c.notNull())
    .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.alterTable('orders').addColumn('analytics', 'text').execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see above
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('orders').dropColumn('analytics').execute();
  await db.schema.dropTable('ga4_settings').execute();
}
