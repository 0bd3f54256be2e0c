import {
  type Message,
  type MessageListQuery,
  type Page,
  type Suppression,
  TEMPLATE_NAMES,
  type Template,
  type TemplateName,
  type TemplatePreview,
} from '@tickets/sdk';
import type { Selectable } from 'kysely';
import type { z } from 'zod';
import type { Db } from '../../db/database.js';
import { isUniqueViolation } from '../../db/errors.js';
import { FIRST_CODE_VERSION, type MessageStatus, type SuppressionsTable } from '../../db/schema.js';
import { conflict, notFound } from '../../http/errors.js';
import { DEFAULT_LIMIT, decodeCursor, newestFirst, toPage } from '../../http/pagination.js';
import { newId } from '../../ids.js';
import { nowIso } from '../../time.js';
import { notifyQueued, queueMessages, queueOrderPaid } from './outbox.js';
import type { OutboxRow } from './render.js';
import { renderEmail, sampleData, TEMPLATES, whatsappParameters } from './templates.js';
import type { ProviderEvent } from './transport.js';

/** How far along a message is: provider events never move it backwards (an `opened` stays opened). */
const RANK: Partial<Record<MessageStatus, number>> = {
  sent: 1,
  delivered: 2,
  opened: 3,
  read: 3,
  bounced: 4,
  failed: 4,
};
const EVENT_STATUS: Partial<Record<ProviderEvent['status'], MessageStatus>> = {
  sent: 'sent',
  delivered: 'delivered',
  opened: 'opened',
  clicked: 'opened',
  read: 'read',
  bounced: 'bounced',
  dropped: 'failed',
  failed: 'failed',
};
/** The statuses a provider event may move a message on from: those ranked below it, once sent. */
const BEFORE = Object.fromEntries(
  Object.entries(RANK).map(([status, rank]) => [
    status,
    Object.entries(RANK)
      .filter(([, r]) => r < rank)
      .map(([s]) => s as MessageStatus),
  ]),
) as Partial<Record<MessageStatus, MessageStatus[]>>;
const RETRYABLE: MessageStatus[] = ['failed', 'dead', 'bounced', 'suppressed', 'cancelled'];

/** What organizers and the API see of the outbox: messages, their history, templates and suppressions. */
export class Messages {
  constructor(private readonly db: Db) {}

  private get k() {
    return this.db.kysely;
  }

  async list(orgId: string, query: z.output<typeof MessageListQuery>): Promise<Page<Message>> {
    const { limit, before } = newestFirst(query);
    const rows = await this.k
      .selectFrom('outbox')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('channel', 'in', ['email', 'whatsapp'])
      .$if(query.order !== undefined, (q) => q.where('order_id', '=', query.order as string))
      .$if(query.ticket !== undefined, (q) => q.where('ticket_id', '=', query.ticket as string))
      .$if(query.event !== undefined, (q) => q.where('event_id', '=', query.event as string))
      .$if(query.recipient !== undefined, (q) => q.where('recipient', '=', query.recipient as string))
      .$if(query.channel !== undefined, (q) => q.where('channel', '=', query.channel as 'email'))
      .$if(query.status !== undefined, (q) => q.where('status', '=', query.status as MessageStatus))
      .$if(query.template !== undefined, (q) => q.where('kind', '=', query.template as string))
      .$if(query.campaign !== undefined, (q) => q.where('campaign_id', '=', query.campaign as string))
      .$if(before !== null, (q) => q.where('id', '<', before as string))
      .orderBy('id', 'desc')
      .limit(limit + 1)
      .execute();
    return toPage(
      rows,
      limit,
      (r) => [r.id],
      (r) => messageView(r),
    );
  }

  async get(orgId: string, id: string): Promise<Message> {
    const row = await this.row(orgId, id);
    const events = await this.k
      .selectFrom('message_events')
      .select(['status', 'detail', 'at'])
      .where('message_id', '=', id)
      .orderBy('id')
      .execute();
    return messageView(row, [{ status: 'queued', detail: null, at: row.created_at }, ...events]);
  }

  /** Queues a failed, dead, bounced, suppressed or cancelled message again, with its attempts starting over. */
  async retry(orgId: string, id: string): Promise<Message> {
    const row = await this.row(orgId, id);
    if (!RETRYABLE.includes(row.status))
      throw conflict(
        'message_not_retryable',
        `Only failed, dead, bounced, suppressed or cancelled messages can be retried; this one is ${row.status}.`,
      );
    const now = nowIso();
    await this.k.transaction().execute(async (trx) => {
      const done = await trx
        .updateTable('outbox')
        .set({
          status: 'queued',
          attempts: 0,
          available_at: now,
          updated_at: now,
          last_error: null,
          // A retry by hand sends this one message past a suppression; the address stays suppressed for the rest.
          ...(row.status === 'suppressed'
            ? { payload: JSON.stringify({ ...JSON.parse(row.payload), override_suppression: true }) }
            : {}),
        })
        .where('id', '=', id)
        .where('status', '=', row.status)
        .executeTakeFirst();
      if (!done.numUpdatedRows)
        throw conflict('message_changed', 'The message changed meanwhile; look at it again.');
      await trx
        .insertInto('message_events')
        .values({
          id: newId('messageEvent'),
          message_id: id,
          status: 'queued',
          detail: 'retried by hand',
          provider_event_id: null,
          at: now,
        })
        .execute();
    });
    notifyQueued(this.db);
    return this.get(orgId, id);
  }

  /** Queues the order confirmation again (e-mail, and WhatsApp per ticket when the buyer gave a phone). */
  async resend(orgId: string, orderId: string): Promise<{ object: 'list'; data: Message[] }> {
    const order = await this.k
      .selectFrom('orders')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('id', '=', orderId)
      .executeTakeFirst();
    if (!order) throw notFound('order');
    if (!['paid', 'partially_refunded'].includes(order.status))
      throw conflict('order_not_paid', `Only paid orders have tickets to send; this one is ${order.status}.`);
    const before = nowIso();
    const tickets = await this.k
      .selectFrom('tickets')
      .select(['id', 'code_version', 'holder_email'])
      .where('order_id', '=', orderId)
      .where('status', '=', 'valid')
      .orderBy('id')
      .execute();
    // The buyer gets what is still theirs; each transferred ticket goes to its holder only.
    const kept = tickets.filter((t) => t.code_version === FIRST_CODE_VERSION);
    const moved = tickets.filter((t) => t.code_version > FIRST_CODE_VERSION && t.holder_email);
    if (kept.length)
      await queueOrderPaid(
        this.k,
        orgId,
        order,
        kept.map((t) => t.id),
      );
    await queueMessages(
      this.k,
      orgId,
      moved.map((t) => ({
        template: 'transfer_notice' as const,
        channel: 'email' as const,
        recipient: t.holder_email as string,
        ticketId: t.id,
        orderId: order.id,
        eventId: order.event_id,
        payload: { from_name: order.buyer_name },
      })),
    );
    notifyQueued(this.db);
    const rows = await this.k
      .selectFrom('outbox')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('order_id', '=', orderId)
      .where('created_at', '>=', before)
      .orderBy('id')
      .execute();
    return { object: 'list', data: rows.map((r) => messageView(r)) };
  }

  async templates(orgId: string): Promise<Page<Template>> {
    const mapped = await this.k
      .selectFrom('message_templates')
      .selectAll()
      .where('org_id', '=', orgId)
      .execute();
    const byName = new Map(mapped.map((m) => [m.template, m.sendgrid_template_id]));
    return {
      object: 'list',
      data: TEMPLATE_NAMES.map((name) => templateView(name, byName.get(name) ?? null)),
      has_more: false,
      next_cursor: null,
    };
  }

  async updateTemplate(
    orgId: string,
    name: TemplateName,
    sendgridTemplateId: string | null,
  ): Promise<Template> {
    if (sendgridTemplateId === null)
      await this.k
        .deleteFrom('message_templates')
        .where('org_id', '=', orgId)
        .where('template', '=', name)
        .execute();
    else
      await this.k
        .insertInto('message_templates')
        .values({
          org_id: orgId,
          template: name,
          sendgrid_template_id: sendgridTemplateId,
          updated_at: nowIso(),
        })
        .onConflict((oc) =>
          oc
            .columns(['org_id', 'template'])
            .doUpdateSet({ sendgrid_template_id: sendgridTemplateId, updated_at: nowIso() }),
        )
        .execute();
    return templateView(name, sendgridTemplateId);
  }

  preview(name: TemplateName, channel: 'email' | 'whatsapp'): TemplatePreview {
    const data = sampleData();
    if (channel === 'whatsapp') {
      if (!TEMPLATES[name].channels.includes('whatsapp'))
        throw conflict('channel_not_supported', `The ${name} template is sent by e-mail only.`);
      const ticket = data.tickets?.[0];
      const { text } = whatsappParameters(name, { ...data, ...(ticket ? { ticket } : {}) });
      return {
        object: 'template_preview',
        name,
        channel,
        subject: null,
        html: null,
        text,
        data: { ...data },
      };
    }
    const { subject, html, text } = renderEmail(name, data);
    return { object: 'template_preview', name, channel, subject, html, text, data: { ...data } };
  }

  async suppressions(
    orgId: string,
    query: { channel?: 'email' | 'whatsapp'; limit?: number; starting_after?: string },
  ): Promise<Page<Suppression>> {
    const limit = query.limit ?? DEFAULT_LIMIT;
    const after = query.starting_after ? decodeCursor(query.starting_after, 2) : null;
    const rows = await this.k
      .selectFrom('suppressions')
      .selectAll()
      .where('org_id', '=', orgId)
      .$if(query.channel !== undefined, (q) => q.where('channel', '=', query.channel as 'email'))
      .$if(after !== null, (q) =>
        q.where((eb) =>
          eb.or([
            eb('created_at', '<', String(after?.[0])),
            eb.and([eb('created_at', '=', String(after?.[0])), eb('address', '<', String(after?.[1]))]),
          ]),
        ),
      )
      .orderBy('created_at', 'desc')
      .orderBy('address', 'desc')
      .limit(limit + 1)
      .execute();
    return toPage(rows, limit, (r) => [r.created_at, r.address], suppressionView);
  }

  /**
   * Applies provider events (webhooks) to messages: each event once (by its id), statuses only forwards, and
   * bounces, spam reports, unsubscribes and opt-outs added to the organization's suppressions.
   */
  async applyProviderEvents(provider: string, events: ProviderEvent[]): Promise<number> {
    let applied = 0;
    for (const event of events) {
      const message = await this.k
        .selectFrom('outbox')
        .selectAll()
        .$if(event.messageId !== undefined, (q) => q.where('id', '=', event.messageId as string))
        .$if(event.messageId === undefined, (q) =>
          q.where('provider_message_id', '=', event.providerMessageId ?? '').where('provider', '=', provider),
        )
        .executeTakeFirst();
      if (!message) continue;
      const at = event.at.toISOString();
      try {
        await this.k.transaction().execute(async (trx) => {
          await trx
            .insertInto('message_events')
            .values({
              id: newId('messageEvent'),
              message_id: message.id,
              status: event.status,
              detail: event.reason ?? null,
              provider_event_id: event.eventId ? `${provider}:${event.eventId}` : null,
              at,
            })
            .execute();
          // Only forwards, decided in the update itself (two events applied at once can't move it back), and only
          // once the worker has recorded the send: an event that overtakes it stays in the history alone.
          const next = EVENT_STATUS[event.status];
          const below = (next && BEFORE[next]) || [];
          if (next && below.length)
            await trx
              .updateTable('outbox')
              .set({
                status: next,
                updated_at: nowIso(),
                ...(next === 'bounced' || next === 'failed'
                  ? { last_error: event.reason ?? event.status }
                  : {}),
              })
              .where('id', '=', message.id)
              .where('status', 'in', below)
              .execute();
          const reason = suppressionReason(event);
          if (reason && (message.channel === 'email' || message.channel === 'whatsapp') && message.recipient)
            await suppress(
              trx,
              message.org_id,
              message.channel,
              event.address?.toLowerCase() ?? message.recipient,
              reason,
              event.hard === true,
            );
        });
        applied++;
      } catch (err) {
        // The same provider event delivered again: already applied.
        if (!isUniqueViolation(err)) throw err;
      }
    }
    return applied;
  }

  private async row(orgId: string, id: string): Promise<OutboxRow> {
    const row = await this.k
      .selectFrom('outbox')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('id', '=', id)
      .where('channel', 'in', ['email', 'whatsapp'])
      .executeTakeFirst();
    if (!row) throw notFound('message');
    return row;
  }
}

function suppressionReason(event: ProviderEvent): SuppressionsTable['reason'] | null {
  switch (event.status) {
    case 'bounced':
      return 'bounce';
    case 'spamreport':
      return 'spamreport';
    case 'unsubscribed':
      return 'unsubscribe';
    default:
      return null;
  }
}

/** Adds an address to the organization's suppressions; a hard bounce hardens an existing entry. */
export async function suppress(
  db: Pick<Db['kysely'], 'insertInto'>,
  orgId: string,
  channel: 'email' | 'whatsapp',
  address: string,
  reason: SuppressionsTable['reason'],
  hard: boolean,
): Promise<void> {
  await db
    .insertInto('suppressions')
    .values({ org_id: orgId, channel, address, reason, hard: hard ? 1 : 0, created_at: nowIso() })
    .onConflict((oc) =>
      oc.columns(['org_id', 'channel', 'address']).doUpdateSet(hard ? { hard: 1, reason } : { reason }),
    )
    .execute();
}

export function messageView(
  row: OutboxRow,
  history?: { status: string; detail: string | null; at: string }[],
): Message {
  return {
    id: row.id,
    object: 'message',
    channel: row.channel as 'email' | 'whatsapp',
    template: row.kind as TemplateName,
    recipient: row.recipient ?? '',
    subject: row.subject,
    status: row.status,
    attempts: row.attempts,
    last_error: row.last_error,
    provider: row.provider,
    provider_message_id: row.provider_message_id,
    order_id: row.order_id,
    ticket_id: row.ticket_id,
    event_id: row.event_id,
    campaign_id: row.campaign_id,
    send_at: row.available_at,
    sent_at: row.sent_at,
    created_at: row.created_at,
    updated_at: row.updated_at,
    ...(history ? { history } : {}),
  };
}

const templateView = (name: TemplateName, sendgridTemplateId: string | null): Template => ({
  object: 'template',
  name,
  description: TEMPLATES[name].description,
  channels: TEMPLATES[name].channels,
  sendgrid_template_id: sendgridTemplateId,
});

const suppressionView = (r: Selectable<SuppressionsTable>): Suppression => ({
  object: 'suppression',
  channel: r.channel,
  address: r.address,
  reason: r.reason,
  hard: r.hard === 1,
  created_at: r.created_at,
});
