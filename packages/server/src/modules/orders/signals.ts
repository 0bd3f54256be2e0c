import type { Kysely, Transaction } from 'kysely';
import type { Database, OrderRow, OutboxTable } from '../../db/schema.js';
import { ga4Rows, queueGa4 } from '../ga4/queue.js';
import { queueWebhook, webhookRows } from '../webhooks/queue.js';

type Executor = Kysely<Database> | Transaction<Database>;
type OrderRef = Pick<OrderRow, 'id' | 'org_id'> & { analytics?: string | null };

/**
 * What the organizer's other systems hear of an order, as outbox rows for the transaction of the
 * change (so each exists exactly when the change committed): its webhooks (order.paid, …) and its
 * Google Analytics events. Each costs a cached lookup when the organization has neither.
 */
export async function paidOrderSignals(k: Executor, order: OrderRef): Promise<OutboxTable[]> {
  return [
    ...(await webhookRows(k, order.org_id, 'order.paid', { order_id: order.id })),
    ...(await ga4Rows(k, order.org_id, 'purchase', { order_id: order.id }, order.analytics)),
  ];
}

/** A checkout started (an online payment's hold): GA4's begin_checkout. */
export function checkoutSignals(k: Executor, order: OrderRef): Promise<OutboxTable[]> {
  return ga4Rows(k, order.org_id, 'begin_checkout', { order_id: order.id }, order.analytics);
}

/** A refund that has succeeded (the money is on its way back): order.refunded, and GA4's refund. */
export async function queueRefundSignals(
  trx: Executor,
  refund: { id: string; org_id: string; order_id: string },
): Promise<void> {
  await queueWebhook(trx, refund.org_id, 'order.refunded', { order_id: refund.order_id });
  await queueGa4(trx, refund.org_id, 'refund', { order_id: refund.order_id, refund_id: refund.id });
}
