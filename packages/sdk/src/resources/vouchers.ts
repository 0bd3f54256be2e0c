import type { RequestOptions, Tickets } from '../client.js';
import type { Deleted } from '../contract/common.js';
import { routes } from '../contract/routes.js';
import type {
  Voucher,
  VoucherCheck,
  VoucherCreated,
  VoucherCreateInput,
  VoucherRedemption,
  VoucherUpdateInput,
} from '../contract/vouchers.js';
import { AutoPaginator } from '../pagination.js';

export interface VoucherListParams {
  event?: string;
  active?: 'true' | 'false';
  code?: string;
  limit?: number;
}

/**
 * Discount codes: a percentage or an amount off, a fixed price, or access to hidden ticket types, with
 * a number of uses (in all and per buyer), a validity window, for an event or every event. A buyer
 * gives one with `tickets.purchase({ …, voucher: 'JAZZ-7K2M9Q' })`.
 */
export class VouchersResource {
  constructor(private readonly client: Tickets) {}

  /**
   * One code, or `count` generated ones (with a `prefix`).
   * @example const { data } = await tickets.vouchers.create({ event: 'evt_…', count: 50, prefix: 'JAZZ', discount: { percent: 20 }, max_uses: 1 })
   */
  create(input: VoucherCreateInput, options?: RequestOptions): Promise<VoucherCreated> {
    return this.client.request(routes.vouchers.create, { body: input }, options);
  }

  /** @example for await (const v of tickets.vouchers.list({ event: 'evt_…' })) console.log(v.code, v.uses) */
  list(params: VoucherListParams = {}): AutoPaginator<Voucher> {
    return new AutoPaginator((cursor) =>
      this.client.request(routes.vouchers.list, { query: { ...params, starting_after: cursor } }),
    );
  }

  /** @example const v = await tickets.vouchers.get('vch_…') */
  get(id: string): Promise<Voucher> {
    return this.client.request(routes.vouchers.get, { params: { id } });
  }

  /** @example await tickets.vouchers.update('vch_…', { active: false }) */
  update(id: string, input: VoucherUpdateInput): Promise<Voucher> {
    return this.client.request(routes.vouchers.update, { params: { id }, body: input });
  }

  /** Deletes a code nobody used (409 for one that was: deactivate it instead). */
  delete(id: string): Promise<Deleted> {
    return this.client.request(routes.vouchers.delete, { params: { id } });
  }

  /** @example for await (const r of tickets.vouchers.redemptions('vch_…')) console.log(r.order_id, r.discount) */
  redemptions(id: string, params: { limit?: number } = {}): AutoPaginator<VoucherRedemption> {
    return new AutoPaginator((cursor) =>
      this.client.request(routes.vouchers.redemptions, {
        params: { id },
        query: { ...params, starting_after: cursor },
      }),
    );
  }

  /**
   * What a code does at an event's checkout (no credentials needed; rate-limited).
   * @example const check = await tickets.vouchers.check('evt_…', 'JAZZ-7K2M9Q')
   */
  check(eventId: string, code: string): Promise<VoucherCheck> {
    return this.client.request(routes.vouchers.check, { params: { id: eventId, code } });
  }
}
