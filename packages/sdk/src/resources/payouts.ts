import type { RequestOptions, Tickets } from '../client.js';
import type { Payout, PayoutListQuery, Reconciliation, ReconciliationInput } from '../contract/payouts.js';
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

/** Comparisons of this organization's payments and refunds with Stripe's, over days. */
export class ReconciliationsResource {
  constructor(private readonly client: Tickets) {}

  /**
   * Compares a range of days (UTC, both included); each mismatch is a line with its kind.
   * @example const rec = await tickets.reconciliations.create({ from: '2026-11-01', to: '2026-11-30' })
   */
  create(input: ReconciliationInput, options?: RequestOptions): Promise<Reconciliation> {
    return this.client.request(routes.reconciliations.create, { body: input }, options);
  }

  get(id: string, options?: RequestOptions): Promise<Reconciliation> {
    return this.client.request(routes.reconciliations.get, { params: { id } }, options);
  }
}
