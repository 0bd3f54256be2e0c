import type { RequestOptions, Tickets } from '../client.js';
import type {
  Attendee,
  Order,
  PurchaseInput,
  QrQuery,
  Refund,
  RefundInput,
  Ticket,
  TicketListQuery,
  TransferInput,
} from '../contract/orders.js';
import { routes } from '../contract/routes.js';
import { AutoPaginator } from '../pagination.js';

export type TicketListParams = Omit<TicketListQuery, 'starting_after'>;

/** Issued tickets: their codes and QR images, attendee lists, refunds and transfers. */
export class TicketsResource {
  constructor(private readonly client: Tickets) {}

  /**
   * Buys tickets: an alias of `orders.purchase`. It sends an Idempotency-Key, generated once per call and
   * reused by its retries, or `options.idempotencyKey` to make the purchase safe to repeat.
   * @example
   * const order = await tickets.tickets.purchase({ event: event.id, payment_method: 'manual',
   *   items: [{ ticket_type: ga.id, quantity: 2 }], buyer: { name: 'Bea Buyer', email: 'bea@example.com' } })
   */
  purchase(input: PurchaseInput, options?: RequestOptions): Promise<Order> {
    return this.client.orders.purchase(input, options);
  }

  /** One ticket with its signed code. @example const { code } = await tickets.tickets.get('tkt_…') */
  get(id: string): Promise<Ticket> {
    return this.client.request(routes.tickets.get, { params: { id } });
  }

  /** An event's tickets. @example for await (const t of tickets.tickets.listForEvent(event.id, { status: 'valid' })) … */
  listForEvent(eventId: string, params: TicketListParams = {}): AutoPaginator<Ticket> {
    return new AutoPaginator((cursor) =>
      this.client.request(routes.tickets.listForEvent, {
        params: { id: eventId },
        query: { ...params, starting_after: cursor },
      }),
    );
  }

  /**
   * An event's attendees, searchable by holder, buyer or order.
   * @example for await (const a of tickets.tickets.attendees(event.id, { q: 'bea' })) console.log(a.name)
   */
  attendees(eventId: string, params: TicketListParams = {}): AutoPaginator<Attendee> {
    return new AutoPaginator((cursor) =>
      this.client.request(routes.tickets.attendees, {
        params: { id: eventId },
        query: { ...params, starting_after: cursor },
      }),
    );
  }

  /** Refunds one ticket (by default its price) and voids it. @example await tickets.tickets.refund('tkt_…') */
  refund(id: string, input: RefundInput = {}, options?: RequestOptions): Promise<Refund> {
    return this.client.request(routes.tickets.refund, { params: { id }, body: input }, options);
  }

  /**
   * Gives a ticket to someone else: it gets a new code, and the old one is refused at the door.
   * @example await tickets.tickets.transfer('tkt_…', { name: 'Nia New', email: 'nia@example.com' })
   */
  transfer(id: string, to: TransferInput): Promise<Ticket> {
    return this.client.request(routes.tickets.transfer, { params: { id }, body: to });
  }

  /**
   * The ticket's code as a QR image: PNG bytes, or SVG text.
   * @example writeFileSync('ticket.png', await tickets.tickets.qr('tkt_…', 'png', { size: 600 }))
   */
  qr(id: string, format?: 'png', params?: QrQuery): Promise<Buffer>;
  qr(id: string, format: 'svg', params?: QrQuery): Promise<string>;
  async qr(id: string, format: 'png' | 'svg' = 'png', params: QrQuery = {}): Promise<Buffer | string> {
    const route = format === 'svg' ? routes.tickets.qrSvg : routes.tickets.qrPng;
    const res = await this.client.requestRaw(route, { params: { id }, query: { ...params } });
    return format === 'svg' ? res.body.toString('utf8') : res.body;
  }
}
