import type { Kysely } from 'kysely';

// Frozen in time: never edit a migration that has landed; add a new one.
//
// A cancelled event's cancellation: what the organizer asked for (refund all or none, a message to the
// holders) and the refund job's progress. The job goes through the event's paid orders in id order;
// `cursor` is the last order it finished, so a job interrupted by a crash or a deploy resumes where it
// stopped, in whichever process takes its lease (`locked_until`) next.
// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's table types
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('event_cancellations')
    .addColumn('event_id', 'text', (c) => c.primaryKey().references('events.id').onDelete('cascade'))
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('refund', 'text', (c) => c.notNull())
    .addColumn('message', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('orders_total', 'integer', (c) => c.notNull())
    .addColumn('orders_refunded', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('orders_failed', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('cursor', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('locked_until', 'text')
    .addColumn('created_by', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('finished_at', 'text')
    .execute();
  await db.schema
    .createIndex('event_cancellations_work_idx')
    .on('event_cancellations')
    .columns(['status', 'locked_until'])
    .execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see above
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('event_cancellations').execute();
}
