import type { RequestOptions, Tickets } from '../client.js';
import type { Payout, PayoutListQuery } from '../contract/payouts.js';
import { routes } from '../contract/routes.js';
import { AutoPaginator } from '../pagination.js';

export type PayoutListParams = Omit<PayoutListQuery, 'starting_after'>;

/** Stripe's payouts that paid out this organization's money, each with its part (its orders, refunds, fees). */
export class PayoutsResource {
  constructor(private readonly client: Tickets) {}

  /**
   * Newest first; `from`/`to` are days (UTC) of arrival.
   * @example for await (const p of tickets.payouts.list({ from: '2026-11-01' })) console.log(p.id, p.totals.net)
   */
  list(params: PayoutListParams = {}): AutoPaginator<Payout> {
    return new AutoPaginator((cursor) =>
      this.client.request(routes.payouts.list, { query: { ...params, starting_after: cursor } }),
    );
  }

  /**
   * One payout, with this organization's transactions in it.
   * @example const payout = await tickets.payouts.get('po_…'); console.log(payout.lines)
   */
  get(id: string, options?: RequestOptions): Promise<Payout> {
    return this.client.request(routes.payouts.get, { params: { id } }, options);
  }
}
