import type { Kysely } from 'kysely';

// Frozen in time: never edit a migration that has landed; add a new one.
//
// Where a purchase came from (UTM parameters and the referring page), as the buyer's storefront passes
// it: the `source` dimension of analytics and reports. Null when the purchase said nothing.
// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's table types
export async function up(db: Kysely<any>): Promise<void> {
  for (const column of ['utm_source', 'utm_medium', 'utm_campaign', 'referrer'])
    await db.schema.alterTable('orders').addColumn(column, 'text').execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see above
export async function down(db: Kysely<any>): Promise<void> {
  for (const column of ['utm_source', 'utm_medium', 'utm_campaign', 'referrer'])
    await db.schema.alterTable('orders').dropColumn(column).execute();
}
