import type { WebhookEventType } from '@tickets/sdk';
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../../db/schema.js';
import { sideEffectRow } from '../messaging/outbox.js';

type Executor = Kysely<Database> | Transaction<Database>;

/**
 * An organization's enabled endpoints and what each subscribes to, kept for two seconds: the sale
 * asks on every paid order, and almost every organization has none. An endpoint created in this
 * process is seen at once (forgetEndpoints); one created by another server within two seconds.
 */
const TTL_MS = 2000;
const known = new Map<
  string,
  { at: number; endpoints: Promise<{ id: string; events: string[]; mode: 'push' | 'poll' }[]> }
>();

export function forgetEndpoints(orgId: string): void {
  known.delete(orgId);
}

function endpointsOf(k: Executor, orgId: string) {
  const hit = known.get(orgId);
  if (hit && Date.now() - hit.at < TTL_MS) return hit.endpoints;
  const endpoints = k
    .selectFrom('webhook_endpoints')
    .select(['id', 'events', 'mode'])
    .where('org_id', '=', orgId)
    .where('status', '=', 'enabled')
    .execute()
    .then((rows) => rows.map((r) => ({ id: r.id, mode: r.mode, events: JSON.parse(r.events) as string[] })));
  if (known.size > 10_000) known.clear();
  known.set(orgId, { at: Date.now(), endpoints });
  endpoints.catch(() => known.delete(orgId));
  return endpoints;
}

/** What a delivery carries: the resource's id (the object itself is read when it is sent). */
export interface WebhookSubject {
  order_id?: string;
  event_id?: string;
  ticket_id?: string;
}

/**
 * The outbox rows delivering one event to every endpoint subscribed to it (none, mostly), for the
 * caller to insert in the transaction that made the change: a delivery exists exactly when the change
 * committed. Not tied to an order or event column, so they stay out of the buyer's messages.
 */
export async function webhookRows(
  k: Executor,
  orgId: string,
  type: WebhookEventType,
  subject: WebhookSubject,
): Promise<Database['outbox'][]> {
  const endpoints = (await endpointsOf(k, orgId)).filter(
    (e) => e.events.includes('*') || e.events.includes(type),
  );
  if (endpoints.length === 0) return [];
  return endpoints.map((e) =>
    sideEffectRow(orgId, {
      kind: type,
      payload: subject,
      // A poll endpoint's wait to be fetched; the worker sends the others.
      channel: e.mode === 'poll' ? 'webhook_poll' : 'webhook',
      recipient: e.id,
    }),
  );
}

/** Queues an event's deliveries in the caller's transaction (call notifyQueued after it commits). */
export async function queueWebhook(
  trx: Executor,
  orgId: string,
  type: WebhookEventType,
  subject: WebhookSubject,
): Promise<number> {
  const rows = await webhookRows(trx, orgId, type, subject);
  if (rows.length) await trx.insertInto('outbox').values(rows).execute();
  return rows.length;
}
