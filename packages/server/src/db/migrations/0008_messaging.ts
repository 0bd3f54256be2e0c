import type { Kysely } from 'kysely';

// Frozen in time: never edit a migration that has landed; add a new one.
// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's table types
export async function up(db: Kysely<any>): Promise<void> {
  // The outbox row is the message: `kind` names its template, and these say to whom, over what, and how it went.
  // Rows without a channel stay possible for side effects that are not messages.
  const add = (column: string) => db.schema.alterTable('outbox').addColumn(column, 'text').execute();
  for (const column of [
    'channel',
    'recipient',
    'subject',
    'order_id',
    'ticket_id',
    'event_id',
    'provider',
    'provider_message_id',
    'last_error',
    // While a worker sends it: another worker may take it over after this time (the first one died).
    'lease_until',
    'sent_at',
  ]) {
    await add(column);
  }
  // Transfers queued before messaging existed become transfer notices by e-mail to the new holder.
  const old = await db
    .selectFrom('outbox')
    .select(['id', 'payload'])
    .where('kind', '=', 'ticket.transferred')
    .execute();
  for (const row of old as { id: string; payload: string }[]) {
    const payload = JSON.parse(row.payload) as { ticket_id?: string; to?: { email?: string } };
    const ticket = payload.ticket_id
      ? ((await db
          .selectFrom('tickets')
          .select(['order_id', 'event_id'])
          .where('id', '=', payload.ticket_id)
          .executeTakeFirst()) as { order_id: string; event_id: string } | undefined)
      : undefined;
    await db
      .updateTable('outbox')
      .set({
        kind: 'transfer_notice',
        channel: 'email',
        recipient: payload.to?.email?.toLowerCase() ?? null,
        ticket_id: payload.ticket_id ?? null,
        order_id: ticket?.order_id ?? null,
        event_id: ticket?.event_id ?? null,
      })
      .where('id', '=', row.id)
      .execute();
  }
  await db.schema.createIndex('outbox_org_idx').on('outbox').columns(['org_id', 'id']).execute();
  await db.schema.createIndex('outbox_order_idx').on('outbox').columns(['order_id']).execute();
  await db.schema.createIndex('outbox_ticket_idx').on('outbox').columns(['ticket_id']).execute();
  await db.schema.createIndex('outbox_recipient_idx').on('outbox').columns(['org_id', 'recipient']).execute();
  await db.schema.createIndex('outbox_provider_idx').on('outbox').columns(['provider_message_id']).execute();

  // Every status a message went through, with the provider's reason.
  await db.schema
    .createTable('message_events')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('message_id', 'text', (c) => c.notNull().references('outbox.id').onDelete('cascade'))
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('detail', 'text')
    .addColumn('provider_event_id', 'text')
    .addColumn('at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('message_events_message_idx')
    .on('message_events')
    .columns(['message_id', 'id'])
    .execute();
  // A provider event (SendGrid sg_event_id, WhatsApp status id) is applied once, however often it is delivered.
  await db.schema
    .createIndex('message_events_provider_idx')
    .unique()
    .on('message_events')
    .columns(['provider_event_id'])
    .execute();

  // Addresses we must not write to (bounced, complained, unsubscribed, opted out), per organization.
  await db.schema
    .createTable('suppressions')
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('channel', 'text', (c) => c.notNull())
    .addColumn('address', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('hard', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('suppressions_pk', ['org_id', 'channel', 'address'])
    .execute();

  // An organization's SendGrid dynamic template per built-in template.
  await db.schema
    .createTable('message_templates')
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('template', 'text', (c) => c.notNull())
    .addColumn('sendgrid_template_id', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('message_templates_pk', ['org_id', 'template'])
    .execute();

  // When this event's reminders were queued: once per event, by whichever worker gets there first.
  await db.schema.alterTable('events').addColumn('reminders_queued_at', 'text').execute();

  // Marketing: the buyer's consent, contact lists built from attendees, and campaigns sent through the outbox.
  await db.schema
    .alterTable('orders')
    .addColumn('marketing_opt_in', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .createTable('contact_lists')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('event_id', 'text', (c) => c.references('events.id').onDelete('cascade'))
    .addColumn('opted_in_only', 'integer', (c) => c.notNull())
    .addColumn('sendgrid_list_id', 'text')
    .addColumn('synced_at', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('contact_lists_org_idx')
    .on('contact_lists')
    .columns(['org_id', 'id'])
    .execute();
  await db.schema
    .createTable('campaigns')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('list_id', 'text', (c) => c.notNull().references('contact_lists.id'))
    .addColumn('sendgrid_template_id', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('send_at', 'text')
    .addColumn('sent_at', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('campaigns_org_idx').on('campaigns').columns(['org_id', 'id']).execute();
  await db.schema.createIndex('campaigns_due_idx').on('campaigns').columns(['status', 'send_at']).execute();
  await db.schema.alterTable('outbox').addColumn('campaign_id', 'text').execute();
  await db.schema
    .createIndex('outbox_campaign_idx')
    .on('outbox')
    .columns(['campaign_id', 'status'])
    .execute();

  // "I can't come", pressed on a WhatsApp message: shown to the organizer on the ticket.
  await db.schema.alterTable('tickets').addColumn('declined_at', 'text').execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see above
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('tickets').dropColumn('declined_at').execute();
  await db.schema.alterTable('events').dropColumn('reminders_queued_at').execute();
  await db.schema.alterTable('outbox').dropColumn('campaign_id').execute();
  await db.schema.dropTable('campaigns').execute();
  await db.schema.dropTable('contact_lists').execute();
  await db.schema.alterTable('orders').dropColumn('marketing_opt_in').execute();
  await db.schema.dropTable('message_templates').execute();
  await db.schema.dropTable('suppressions').execute();
  await db.schema.dropTable('message_events').execute();
}
