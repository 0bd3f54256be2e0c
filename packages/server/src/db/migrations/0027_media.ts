import { type Kysely, sql } from 'kysely';

// Frozen in time: never edit a migration that has landed; add a new one.
//
// Media assets (issue 15): images and video of an organization, optionally of one of its events, kept by a
// provider (the local store under $TICKETS_DATA_DIR/media, or Cloudinary). An event has at most one cover:
// a partial unique index, so two racing "set cover" requests can't both win; replacing a cover swaps the
// rows in one transaction and deletes the old asset at its provider afterwards.
// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's table types
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('media_assets')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('event_id', 'text', (c) => c.references('events.id').onDelete('cascade'))
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('alt', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('position', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('failure_reason', 'text')
    .addColumn('resource_type', 'text', (c) => c.notNull())
    .addColumn('format', 'text', (c) => c.notNull())
    .addColumn('width', 'integer')
    .addColumn('height', 'integer')
    .addColumn('bytes', 'bigint', (c) => c.notNull())
    .addColumn('duration', 'double precision')
    .addColumn('hash', 'text', (c) => c.notNull())
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('provider_id', 'text', (c) => c.notNull())
    .addColumn('version', 'text', (c) => c.notNull())
    // The provider's renditions of a video (JSON: mp4, hls, poster URLs or keys), once made.
    .addColumn('renditions', 'text')
    // JSON array of what the provider could not do (e.g. no poster frame without ffmpeg).
    .addColumn('notes', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('created_by', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addCheckConstraint('media_role_check', sql`role in ('cover', 'gallery', 'logo', 'video')`)
    .addCheckConstraint('media_status_check', sql`status in ('processing', 'ready', 'failed')`)
    .addCheckConstraint('media_type_check', sql`resource_type in ('image', 'video')`)
    .addCheckConstraint('media_bytes_check', sql`bytes >= 0`)
    .execute();
  await db.schema.createIndex('media_org_idx').on('media_assets').columns(['org_id', 'id']).execute();
  await db.schema
    .createIndex('media_event_idx')
    .on('media_assets')
    .columns(['event_id', 'role', 'position'])
    .execute();
  await db.schema
    .createIndex('media_provider_idx')
    .unique()
    .on('media_assets')
    .columns(['provider', 'provider_id'])
    .execute();
  await db.schema
    .createIndex('media_one_cover_idx')
    .unique()
    .on('media_assets')
    .column('event_id')
    .where(sql.ref('role'), '=', 'cover')
    .execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see above
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('media_assets').execute();
}
