import type { Kysely } from 'kysely';

// Frozen in time: never edit a migration that has landed; add a new one.
//
// Organizers' webhook endpoints (issue 16). Deliveries are outbox rows (channel `webhook`, recipient the
// endpoint's id), sent, retried and recorded by the message worker; what each attempt got back (the
// endpoint's status code, how long it took) goes on the message's history, which e-mail and WhatsApp
// sends may fill in too.
// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's table types
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('webhook_endpoints')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    // push: POSTed to url; poll: no url, fetched by `tickets webhooks listen` (temporary: swept when
    // not polled for a while).
    .addColumn('mode', 'text', (c) => c.notNull().defaultTo('push'))
    .addColumn('url', 'text')
    .addColumn('last_polled_at', 'text')
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    // JSON array of event types, or ["*"].
    .addColumn('events', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('enabled'))
    .addColumn('disabled_reason', 'text')
    // Signing secrets: the current one and, for a day after a rotation, the one before (both sign).
    .addColumn('secret', 'text', (c) => c.notNull())
    .addColumn('previous_secret', 'text')
    .addColumn('previous_secret_until', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('webhook_endpoints_org_idx')
    .on('webhook_endpoints')
    .columns(['org_id', 'id'])
    .execute();
  await db.schema.alterTable('message_events').addColumn('response_code', 'integer').execute();
  await db.schema.alterTable('message_events').addColumn('duration_ms', 'integer').execute();
  // An endpoint's deliveries, newest first.
  await db.schema.createIndex('outbox_webhook_idx').on('outbox').columns(['recipient', 'id']).execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see above
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('outbox_webhook_idx').execute();
  await db.schema.alterTable('message_events').dropColumn('duration_ms').execute();
  await db.schema.alterTable('message_events').dropColumn('response_code').execute();
  await db.schema.dropTable('webhook_endpoints').execute();
}
