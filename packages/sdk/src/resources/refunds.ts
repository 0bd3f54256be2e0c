import type { Tickets } from '../client.js';
import type { Refund, RefundListQuery } from '../contract/orders.js';
import { routes } from '../contract/routes.js';
import { AutoPaginator } from '../pagination.js';

export type RefundListParams = Omit<RefundListQuery, 'starting_after'>;

/** Refunds already made (to make one: `orders.refund`, `tickets.refund`). */
export class RefundsResource {
  constructor(private readonly client: Tickets) {}

  /**
   * Refunds, newest first; filter by event, order or status.
   * @example for await (const r of tickets.refunds.list({ event: event.id })) console.log(r.id, r.amount)
   */
  list(params: RefundListParams = {}): AutoPaginator<Refund> {
    return new AutoPaginator((cursor) =>
      this.client.request(routes.refunds.list, { query: { ...params, starting_after: cursor } }),
    );
  }

  /** One refund: amount, status, the tickets it voided, its credit note. @example await tickets.refunds.get('ref_…') */
  get(id: string): Promise<Refund> {
    return this.client.request(routes.refunds.get, { params: { id } });
  }
}
