import type { Kysely } from 'kysely';

// Frozen in time: never edit a migration that has landed; add a new one.
//
// Refunds are listed per organization, newest first (GET /api/refunds, `tickets refunds list`): without
// this index that walked every organization's refunds.
// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's table types
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('refunds_org_idx').on('refunds').columns(['org_id', 'id']).execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see above
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('refunds_org_idx').execute();
}
