import type { Transaction } from 'kysely';
import { type Db, saleTransaction } from '../../db/database.js';
import type { Database } from '../../db/schema.js';
import { nowIso } from '../../time.js';
import { linesOf, release } from '../inventory/inventory.js';
import { releaseRedemption } from '../vouchers/pricing.js';

type Trx = Transaction<Database>;

/**
 * Holds: a pending order's tickets, held from the inventory until it is paid, and given back when it
 * expires, fails or is cancelled.
 */
export class Holds {
  constructor(private readonly db: Db) {}

  private get k() {
    return this.db.kysely;
  }

  /**
   * Ends a pending order (expired, cancelled or failed) and returns its hold to the inventory. The
   * status change is conditional on `pending`, so however many sweepers, webhooks and cancel requests
   * race, the hold is returned once. Returns whether this call did it.
   */
  async release(orderId: string, to: 'expired' | 'cancelled' | 'failed'): Promise<boolean> {
    return saleTransaction(this.db, (trx) => this.releaseIn(trx, orderId, to));
  }

  /** `release` inside the caller's transaction (webhooks apply several changes in one). */
  async releaseIn(trx: Trx, orderId: string, to: 'expired' | 'cancelled' | 'failed'): Promise<boolean> {
    const order = await trx
      .updateTable('orders')
      .set({ status: to, updated_at: nowIso() })
      .where('id', '=', orderId)
      .where('status', '=', 'pending')
      .returning('event_id')
      .executeTakeFirst();
    if (!order) return false;
    const items = await trx
      .selectFrom('order_items')
      .select(['ticket_type_id', 'quantity'])
      .where('order_id', '=', orderId)
      .execute();
    await release(trx, order.event_id, linesOf(items));
    // A discount code's use comes back with the seats (the order never happened).
    await releaseRedemption(trx, orderId);
    return true;
  }

  /** Expires pending orders whose hold has run out; returns how many this call expired. */
  async expireHolds(now = nowIso()): Promise<number> {
    const due = await this.k
      .selectFrom('orders')
      .select('id')
      .where('status', '=', 'pending')
      .where('hold_expires_at', '<=', now)
      .limit(500)
      .execute();
    let expired = 0;
    for (const { id } of due) if (await this.release(id, 'expired')) expired++;
    return expired;
  }
}
