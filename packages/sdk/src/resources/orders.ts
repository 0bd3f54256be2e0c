import type { RequestOptions, Tickets } from '../client.js';
import type { Message } from '../contract/messages.js';
import type { Order, OrderListQuery, PurchaseInput, Refund, RefundInput } from '../contract/orders.js';
import { routes } from '../contract/routes.js';
import { AutoPaginator } from '../pagination.js';

export type OrderListParams = Omit<OrderListQuery, 'starting_after'>;

/** Selling: orders, their payment, cancellation and refunds. */
export class OrdersResource {
  constructor(private readonly client: Tickets) {}

  /**
   * Buys tickets. Free and manual (box-office) orders come back paid, with their tickets; a retry after
   * a lost response reuses the idempotency key, so it never buys twice. Pass your own key to make a
   * purchase safe to repeat across processes (e.g. your checkout's id).
   * @example
   * const order = await tickets.orders.purchase({ event: event.id, payment_method: 'manual',
   *   items: [{ ticket_type: ga.id, quantity: 2 }], buyer: { name: 'Bea Buyer', email: 'bea@example.com' } })
   */
  purchase(input: PurchaseInput, options?: RequestOptions): Promise<Order> {
    return this.client.request(routes.orders.purchase, { body: input }, options);
  }

  /** Orders, newest first. @example for await (const o of tickets.orders.list({ event: event.id, status: 'paid' })) … */
  list(params: OrderListParams = {}): AutoPaginator<Order> {
    return new AutoPaginator((cursor) =>
      this.client.request(routes.orders.list, { query: { ...params, starting_after: cursor } }),
    );
  }

  /** One order with its items and tickets. @example await tickets.orders.get('ord_…') */
  get(id: string): Promise<Order> {
    return this.client.request(routes.orders.get, { params: { id } });
  }

  /** Cancels a pending order; its held tickets go back on sale. @example await tickets.orders.cancel('ord_…') */
  cancel(id: string, options?: RequestOptions): Promise<Order> {
    return this.client.request(routes.orders.cancel, { params: { id } }, options);
  }

  /**
   * Refunds what is left of a paid order, or `amount` minor units of it; a full refund voids its tickets.
   * @example await tickets.orders.refund('ord_…', { amount: 1000, reason: 'Late start' })
   */
  refund(id: string, input: RefundInput = {}, options?: RequestOptions): Promise<Refund> {
    return this.client.request(routes.orders.refund, { params: { id }, body: input }, options);
  }

  /**
   * Queues a paid order's confirmation with its tickets again: by e-mail, and by WhatsApp per ticket when the
   * buyer gave a phone. Resolves to the messages queued (ConflictError `order_not_paid` for an unpaid order).
   * @example const [email] = await tickets.orders.resend('ord_…')
   */
  async resend(id: string, options?: RequestOptions): Promise<Message[]> {
    const queued = await this.client.request(routes.messages.resend, { params: { id } }, options);
    return queued.data;
  }
}
