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
    // A discount code's use comes back (the order never happened), and the tickets the order had from
    // its reservation go back to it while it can still be used — first, codes before inventory, as the
    // sale takes them; the rest of the hold goes back on sale.
    const toCode = await releaseRedemption(trx, orderId, true);
    const items = await trx
      .selectFrom('order_items')
      .select(['ticket_type_id', 'quantity'])
      .where('order_id', '=', orderId)
      .execute();
    const lines = linesOf(items)
      .map((l) => (l.typeId === toCode?.typeId ? { ...l, quantity: l.quantity - toCode.quantity } : l))
      .filter((l) => l.quantity > 0);
    await release(trx, order.event_id, lines);
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
