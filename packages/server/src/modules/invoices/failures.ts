import type { InvoiceFailure, Page } from '@tickets/sdk';
import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.js';
import { newestFirst, toPage } from '../../http/pagination.js';

/**
 * Keeps why a paid order's invoice could not be issued, instead of swallowing it: the order is listed
 * (GET /api/invoices/failed) until the sweeper (Orders.ensureInvoices) issues the invoice. Recording it
 * must not fail its caller, whose sale has committed: a failure to record is left to the next attempt.
 */
export async function recordInvoiceFailure(
  k: Kysely<Database>,
  orderId: string,
  err: unknown,
): Promise<void> {
  const why = (err instanceof Error ? err.message : String(err)).slice(0, 500) || 'unknown error';
  await k
    .updateTable('orders')
    .set({ invoice_error: why })
    .where('id', '=', orderId)
    .where('invoice_number', 'is', null)
    .execute()
    .catch(() => {});
}

/** The invoice was issued after all: the order leaves the list. */
export async function clearInvoiceFailure(k: Kysely<Database>, orderId: string): Promise<void> {
  await k
    .updateTable('orders')
    .set({ invoice_error: null })
    .where('id', '=', orderId)
    .where('invoice_error', 'is not', null)
    .execute();
}

/** The organization's paid orders whose invoice could not be issued yet, newest first. */
export async function failedInvoices(
  k: Kysely<Database>,
  orgId: string,
  query: { limit?: number; starting_after?: string },
): Promise<Page<InvoiceFailure>> {
  const { limit, before } = newestFirst(query);
  const rows = await k
    .selectFrom('orders')
    .select(['id', 'event_id', 'buyer_email', 'total_amount', 'currency', 'paid_at', 'invoice_error'])
    .where('org_id', '=', orgId)
    .where('invoice_error', 'is not', null)
    .where('invoice_number', 'is', null)
    .$if(before !== null, (q) => q.where('id', '<', before!))
    .orderBy('id', 'desc')
    .limit(limit + 1)
    .execute();
  return toPage(
    rows,
    limit,
    (r) => [r.id],
    (r) => ({
      object: 'invoice_failure',
      order_id: r.id,
      event_id: r.event_id,
      buyer_email: r.buyer_email,
      total: { amount: r.total_amount, currency: r.currency },
      paid_at: r.paid_at,
      error: r.invoice_error ?? '',
    }),
  );
}
