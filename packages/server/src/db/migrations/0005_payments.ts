import type { Kysely } from 'kysely';

// Frozen in time: never edit a migration that has landed; add a new one.
// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's table types
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('orders').addColumn('payment_intent_id', 'text').execute();
  await db.schema.alterTable('orders').addColumn('client_secret', 'text').execute();
  await db.schema.alterTable('orders').addColumn('checkout_session_id', 'text').execute();
  await db.schema.alterTable('orders').addColumn('checkout_url', 'text').execute();
  await db.schema.createIndex('orders_payment_intent_idx').on('orders').column('payment_intent_id').execute();
  // Holder names given at purchase, kept until payment issues the tickets (JSON array).
  await db.schema.alterTable('order_items').addColumn('holders', 'text').execute();

  // Every provider event, stored by its id: a second delivery of one event finds it here and changes nothing.
  await db.schema
    .createTable('webhook_events')
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('event_id', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('received_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('webhook_events_pk', ['provider', 'event_id'])
    .execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see above
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('webhook_events').execute();
  await db.schema.dropIndex('orders_payment_intent_idx').execute();
  await db.schema.alterTable('order_items').dropColumn('holders').execute();
  for (const c of ['checkout_url', 'checkout_session_id', 'client_secret', 'payment_intent_id'])
    await db.schema.alterTable('orders').dropColumn(c).execute();
}
