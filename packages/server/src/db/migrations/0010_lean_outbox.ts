import type { Kysely } from 'kysely';

// Frozen in time: never edit a migration that has landed; add a new one.
//
// Every paid order writes its confirmation into the outbox, which has eight indexes. Three of them only
// ever look up rows that have the column set: a ticket's own messages (transfers, WhatsApp tickets), a
// provider's message id (set once sent, for its webhooks) and a campaign's messages. Made partial, an
// order's confirmation no longer writes an entry into any of the three. Every query that uses them
// compares the column with `=`, which implies `is not null`, so both databases still use them.
// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's table types
export async function up(db: Kysely<any>): Promise<void> {
  for (const [name, columns, column] of PARTIAL) {
    await db.schema.dropIndex(name).execute();
    await db.schema.createIndex(name).on('outbox').columns(columns).where(column, 'is not', null).execute();
  }
}

// biome-ignore lint/suspicious/noExplicitAny: see above
export async function down(db: Kysely<any>): Promise<void> {
  for (const [name, columns] of PARTIAL) {
    await db.schema.dropIndex(name).execute();
    await db.schema.createIndex(name).on('outbox').columns(columns).execute();
  }
}

const PARTIAL: [name: string, columns: string[], column: string][] = [
  ['outbox_ticket_idx', ['ticket_id'], 'ticket_id'],
  ['outbox_provider_idx', ['provider_message_id'], 'provider_message_id'],
  ['outbox_campaign_idx', ['campaign_id', 'status'], 'campaign_id'],
];
