import { type Kysely, SqliteAdapter, sql } from 'kysely';

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
  // Covering: an organization's year of sales is summed from the index alone, without a visit to each
  // order's row (400,000 of them for a million tickets).
  const covered = [
    'status',
    'currency',
    'ticket_count',
    'total_amount',
    'refunded_amount',
    'payment_method',
    'event_id',
  ];
  if (db.getExecutor().adapter instanceof SqliteAdapter)
    await db.schema
      .createIndex('orders_org_paid_idx')
      .on('orders')
      .columns(['org_id', 'paid_at', ...covered])
      .execute();
  else
    await sql
      .raw(`create index orders_org_paid_idx on orders (org_id, paid_at) include (${covered.join(', ')})`)
      .execute(db);
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
