import type { Kysely, Transaction } from 'kysely';
import type { Database, OutboxTable } from '../../db/schema.js';
import { sideEffectRow } from '../messaging/outbox.js';

type Executor = Kysely<Database> | Transaction<Database>;

/** The events sent to Google Analytics: GA4's recommended e-commerce events, and two of our own. */
export const GA4_EVENTS = [
  'begin_checkout',
  'purchase',
  'refund',
  'ticket_checked_in',
  'waitlist_joined',
] as const;
export type Ga4EventName = (typeof GA4_EVENTS)[number];

/** What an event is about (its data is read when it is sent). */
export interface Ga4Subject {
  order_id: string;
  refund_id?: string;
  ticket_id?: string;
}

/**
 * Whether an organization sends to Google Analytics, kept for two seconds: the sale asks on every
 * order, and most organizations have not set it up. Changed here, forgotten at once (forgetGa4).
 */
const TTL_MS = 2000;
const known = new Map<string, { at: number; on: Promise<boolean> }>();

export function forgetGa4(orgId: string): void {
  known.delete(orgId);
}

function sendsToGa4(k: Executor, orgId: string): Promise<boolean> {
  const hit = known.get(orgId);
  if (hit && Date.now() - hit.at < TTL_MS) return hit.on;
  const on = k
    .selectFrom('ga4_settings')
    .select('enabled')
    .where('org_id', '=', orgId)
    .executeTakeFirst()
    .then((row) => row?.enabled === 1);
  if (known.size > 10_000) known.clear();
  known.set(orgId, { at: Date.now(), on });
  on.catch(() => known.delete(orgId));
  return on;
}

/** Whether the buyer let this order be measured: anything but an explicit `analytics_consent: false`. */
export function consented(analytics: string | null | undefined): boolean {
  if (!analytics) return true;
  return (JSON.parse(analytics) as { consent?: boolean }).consent !== false;
}

/**
 * The outbox row sending one event to the organization's GA4 stream (none when it has none, or when
 * the buyer declined: `analytics` is the order's column, read here when the caller has not), for the
 * caller to insert in the transaction of the change: the event exists exactly when the change
 * committed, and is sent once (GA4 also drops a second purchase with the same transaction_id).
 */
export async function ga4Rows(
  k: Executor,
  orgId: string,
  name: Ga4EventName,
  subject: Ga4Subject,
  analytics?: string | null,
): Promise<OutboxTable[]> {
  if (!(await sendsToGa4(k, orgId))) return [];
  const given =
    analytics !== undefined
      ? analytics
      : ((
          await k
            .selectFrom('orders')
            .select('analytics')
            .where('id', '=', subject.order_id)
            .executeTakeFirst()
        )?.analytics ?? null);
  if (!consented(given)) return [];
  return [sideEffectRow(orgId, { kind: name, payload: subject, channel: 'ga4', recipient: null })];
}

/** Queues an event in the caller's transaction. */
export async function queueGa4(
  trx: Executor,
  orgId: string,
  name: Ga4EventName,
  subject: Ga4Subject,
  analytics?: string | null,
): Promise<number> {
  const rows = await ga4Rows(trx, orgId, name, subject, analytics);
  if (rows.length) await trx.insertInto('outbox').values(rows).execute();
  return rows.length;
}
