import type { Transaction } from 'kysely';
import type { Database } from '../../db/schema.js';

type Trx = Transaction<Database>;

/**
 * Called in the transaction that makes an order paid, so the invoice number is taken (or not) with
 * the payment itself: a rolled-back payment leaves no gap in the sequence.
 */
export async function issueInvoice(_trx: Trx, _order: { id: string; org_id: string }): Promise<void> {}

/** Called in the transaction that records a refund: the refund gets a credit note number. */
export async function issueCreditNote(
  _trx: Trx,
  _refund: { id: string; org_id: string; order_id: string },
): Promise<void> {}
