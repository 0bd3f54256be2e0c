import type { Channel, TemplateName } from '@tickets/sdk';
import { type Kysely, sql, type Transaction } from 'kysely';
import type { Db } from '../../db/database.js';
import { type Database, FIRST_CODE_VERSION, type OrdersTable, type OutboxTable } from '../../db/schema.js';
import { storeOf } from '../../db/store.js';
import { newId } from '../../ids.js';
import { nowIso } from '../../time.js';

type Executor = Transaction<Database> | Kysely<Database>;

/** One message to queue. What it says is rendered when it is sent, from the ids it carries. */
export interface QueuedMessage {
  template: TemplateName;
  channel: Channel;
  recipient: string;
  orderId?: string | null;
  ticketId?: string | null;
  eventId?: string | null;
  campaignId?: string | null;
  /** When it is due; now unless scheduled (reminders). */
  sendAt?: string;
  payload?: Record<string, unknown>;
}

/** In-process listeners told after a commit that something is due (the worker wakes at once instead of polling). */
const listeners = new Set<() => void>();
export const onQueued = (listener: () => void) => {
  listeners.add(listener);
  return () => listeners.delete(listener);
};

/** The Postgres channel workers of this database listen on (one per schema: schemas are separate installs). */
export const queuedChannel = (db: Db) => `tickets_outbox:${db.schema ?? 'public'}`;

/** How often at most this process tells other processes' workers (a NOTIFY) that messages are due. */
const NOTIFY_EVERY_MS = 50;
const notifying = new WeakMap<Db, boolean>();

/**
 * Call after the transaction that queued messages has committed: the workers of this process wake at
 * once, and on Postgres those of other processes too (`tickets server worker`, through NOTIFY), instead
 * of finding the messages at their next poll. At 1,000 orders a second that is one NOTIFY every 50 ms,
 * not one per order; a worker that misses one (its connection dropped) still polls.
 */
export const notifyQueued = (db?: Db) => {
  for (const listener of listeners) listener();
  if (!db || !storeOf(db).remote || notifying.get(db)) return;
  notifying.set(db, true);
  setTimeout(() => {
    notifying.delete(db);
    sql`select pg_notify(${queuedChannel(db)}, '')`.execute(db.kysely).catch(() => {});
  }, NOTIFY_EVERY_MS).unref();
};

/**
 * Writes messages to the outbox in the caller's transaction — one statement however many — so a message exists
 * exactly when the change that causes it committed.
 */
export async function queueMessages(
  trx: Executor,
  orgId: string,
  messages: QueuedMessage[],
): Promise<string[]> {
  if (!messages.length) return [];
  const rows = outboxRows(orgId, messages);
  await trx.insertInto('outbox').values(rows).execute();
  return rows.map((r) => r.id);
}

/** The outbox rows for messages, for callers that insert them in a statement of their own. */
export function outboxRows(orgId: string, messages: QueuedMessage[]): OutboxTable[] {
  const now = nowIso();
  return messages.map((m) => ({
    id: newId('outbox'),
    org_id: orgId,
    kind: m.template,
    payload: JSON.stringify(m.payload ?? {}),
    status: 'queued' as const,
    attempts: 0,
    available_at: m.sendAt ?? now,
    created_at: now,
    updated_at: now,
    channel: m.channel,
    recipient: m.channel === 'email' ? m.recipient.toLowerCase() : m.recipient,
    subject: null,
    order_id: m.orderId ?? null,
    ticket_id: m.ticketId ?? null,
    event_id: m.eventId ?? null,
    provider: null,
    provider_message_id: null,
    last_error: null,
    lease_until: null,
    sent_at: null,
    campaign_id: m.campaignId ?? null,
  }));
}

/**
 * An outbox row that is not a buyer's message (a webhook delivery, a Google Analytics event): tied to
 * no order, ticket or event column, so it stays out of GET /api/messages; sent as soon as possible.
 */
export function sideEffectRow(
  orgId: string,
  r: {
    kind: string;
    payload: object;
    channel: NonNullable<OutboxTable['channel']>;
    recipient: string | null;
  },
): OutboxTable {
  const now = nowIso();
  return {
    id: newId('outbox'),
    org_id: orgId,
    kind: r.kind,
    payload: JSON.stringify({ ...r.payload, occurred_at: now }),
    status: 'queued',
    attempts: 0,
    available_at: now,
    created_at: now,
    updated_at: now,
    channel: r.channel,
    recipient: r.recipient,
    subject: null,
    order_id: null,
    ticket_id: null,
    event_id: null,
    provider: null,
    provider_message_id: null,
    last_error: null,
    lease_until: null,
    sent_at: null,
    campaign_id: null,
  };
}

type OrderForMessages = Pick<OrdersTable, 'id' | 'event_id' | 'buyer_email' | 'buyer_phone'>;

/**
 * The messages a paid order causes: the confirmation with the tickets by e-mail, and one WhatsApp message per
 * ticket when the buyer gave a phone number. One insert, in the transaction that issued the tickets.
 */
export async function queueOrderPaid(
  trx: Executor,
  orgId: string,
  order: OrderForMessages,
  ticketIds: readonly string[],
): Promise<void> {
  await queueMessages(trx, orgId, orderPaidMessages(order, ticketIds));
}

/** What {@link queueOrderPaid} queues, for a caller that writes the rows itself. */
export function orderPaidMessages(order: OrderForMessages, ticketIds: readonly string[]): QueuedMessage[] {
  const base = { orderId: order.id, eventId: order.event_id, template: 'order_confirmation' as const };
  const messages: QueuedMessage[] = [{ ...base, channel: 'email', recipient: order.buyer_email }];
  if (order.buyer_phone)
    for (const ticketId of ticketIds)
      messages.push({ ...base, ticketId, channel: 'whatsapp', recipient: order.buyer_phone });
  return messages;
}

const CHUNK = 500;

/**
 * Messages to every paid order of an event (reminders, cancellation notices): one e-mail per order, and one
 * WhatsApp message per valid ticket of buyers who gave a phone. Queued in chunks, in the caller's transaction.
 */
export async function queueForEventOrders(
  trx: Executor,
  orgId: string,
  eventId: string,
  template: TemplateName,
  payload?: Record<string, string>,
): Promise<number> {
  const orders = await trx
    .selectFrom('orders')
    .select(['id', 'buyer_email', 'buyer_phone'])
    .where('event_id', '=', eventId)
    .where('status', 'in', ['paid', 'partially_refunded'])
    .orderBy('id')
    .execute();
  const phones = new Map(orders.filter((o) => o.buyer_phone).map((o) => [o.id, o.buyer_phone as string]));
  const tickets = phones.size
    ? await trx
        .selectFrom('tickets')
        .select(['id', 'order_id'])
        .where('event_id', '=', eventId)
        .where('status', '=', 'valid')
        .orderBy('id')
        .execute()
    : [];
  const messages: QueuedMessage[] = orders.map((o) => ({
    template,
    channel: 'email',
    recipient: o.buyer_email,
    orderId: o.id,
    eventId,
    ...(payload ? { payload } : {}),
  }));
  // Per ticket: a cancellation names the event only, so once per order is enough there.
  const perTicket = template !== 'event_cancelled';
  const told = new Set<string>();
  for (const t of tickets) {
    const phone = phones.get(t.order_id);
    if (!phone || (!perTicket && told.has(t.order_id))) continue;
    told.add(t.order_id);
    messages.push({
      template,
      channel: 'whatsapp',
      recipient: phone,
      orderId: t.order_id,
      eventId,
      ...(perTicket ? { ticketId: t.id } : {}),
    });
  }
  // Transferred tickets belong to their holders: each is told by e-mail, with its ticket (the buyer's
  // message leaves it out).
  const transferred = await trx
    .selectFrom('tickets')
    .innerJoin('orders', 'orders.id', 'tickets.order_id')
    .select(['tickets.id', 'tickets.order_id', 'tickets.holder_email'])
    .where('tickets.event_id', '=', eventId)
    .where('tickets.status', '=', 'valid')
    .where('tickets.code_version', '>', FIRST_CODE_VERSION)
    .where('tickets.holder_email', 'is not', null)
    .where('orders.status', 'in', ['paid', 'partially_refunded'])
    .orderBy('tickets.id')
    .execute();
  for (const t of transferred)
    messages.push({
      template,
      channel: 'email',
      recipient: t.holder_email as string,
      orderId: t.order_id,
      eventId,
      ticketId: t.id,
      ...(payload ? { payload } : {}),
    });
  for (let i = 0; i < messages.length; i += CHUNK)
    await queueMessages(trx, orgId, messages.slice(i, i + CHUNK));
  return messages.length;
}

/**
 * Queues the reminders of events starting within `hours`: once per event — the event is claimed by a conditional
 * write, so several workers never queue one event's reminders twice — for every paid order at that moment.
 */
export async function queueDueReminders(db: Kysely<Database>, hours: number): Promise<number> {
  if (hours <= 0) return 0;
  const now = new Date();
  const soon = new Date(now.getTime() + hours * 3600_000).toISOString();
  const due = await db
    .selectFrom('events')
    .select(['id', 'org_id'])
    .where('status', '=', 'published')
    .where('reminders_queued_at', 'is', null)
    .where('starts_at', '<=', soon)
    .where('starts_at', '>', now.toISOString())
    .limit(20)
    .execute();
  let queued = 0;
  for (const event of due) {
    queued += await db.transaction().execute(async (trx) => {
      const claimed = await trx
        .updateTable('events')
        .set({ reminders_queued_at: nowIso() })
        .where('id', '=', event.id)
        .where('reminders_queued_at', 'is', null)
        .executeTakeFirst();
      if (!claimed.numUpdatedRows) return 0;
      return queueForEventOrders(trx, event.org_id, event.id, 'event_reminder');
    });
  }
  return queued;
}
