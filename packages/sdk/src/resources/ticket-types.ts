import type { RequestOptions, Tickets } from '../client.js';
import type { Deleted } from '../contract/common.js';
import type {
  Availability,
  TicketType,
  TicketTypeCreateInput,
  TicketTypeUpdateInput,
} from '../contract/events.js';
import { routes } from '../contract/routes.js';

export class TicketTypesResource {
  constructor(private readonly client: Tickets) {}

  /** An event's ticket types in sort order; hidden ones only when asked. */
  async list(eventId: string, params: { includeHidden?: boolean } = {}): Promise<TicketType[]> {
    const page = await this.client.request(routes.ticketTypes.list, {
      query: { event: eventId, include_hidden: params.includeHidden ? 'true' : undefined },
    });
    return page.data;
  }

  /**
   * @example
   * await tickets.ticketTypes.create(event.id, { name: 'GA', price: { amount: 2500, currency: 'EUR' }, capacity: 200 })
   */
  create(eventId: string, input: TicketTypeCreateInput, options?: RequestOptions): Promise<TicketType> {
    return this.client.request(routes.ticketTypes.create, { params: { id: eventId }, body: input }, options);
  }

  get(id: string): Promise<TicketType> {
    return this.client.request(routes.ticketTypes.get, { params: { id } });
  }

  update(id: string, input: TicketTypeUpdateInput): Promise<TicketType> {
    return this.client.request(routes.ticketTypes.update, { params: { id }, body: input });
  }

  /** Deletes a type nothing was sold or held of. */
  delete(id: string): Promise<Deleted> {
    return this.client.request(routes.ticketTypes.delete, { params: { id } });
  }

  /** Capacity, sold, held and available per type, and whether each is on sale now. */
  availability(eventId: string): Promise<Availability> {
    return this.client.request(routes.ticketTypes.availability, { query: { event: eventId } });
  }
}
