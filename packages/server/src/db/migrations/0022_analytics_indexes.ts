import type { Kysely } from 'kysely';

// Frozen in time: never edit a migration that has landed; add a new one.
//
// Analytics sum sales by when they were paid and refunds by when they were made: the time series join
// each bucket to a range of these indexes (per event, or across the organization).
// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's table types
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createIndex('orders_event_paid_idx')
    .on('orders')
    .columns(['event_id', 'paid_at'])
    .execute();
  await db.schema.createIndex('orders_org_paid_idx').on('orders').columns(['org_id', 'paid_at']).execute();
  await db.schema
    .createIndex('refunds_org_created_idx')
    .on('refunds')
    .columns(['org_id', 'created_at'])
    .execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see above
export async function down(db: Kysely<any>): Promise<void> {
  for (const index of ['orders_event_paid_idx', 'orders_org_paid_idx', 'refunds_org_created_idx'])
    await db.schema.dropIndex(index).execute();
}
