import type { DoorEvent, Event, TicketType } from '@tickets/sdk';
import type { EventRow, TicketTypeRow } from '../../db/schema.js';

export const DEFAULT_HOLD_MINUTES = 15;

export function eventView(e: EventRow): Event {
  return {
    id: e.id,
    object: 'event',
    name: e.name,
    slug: e.slug,
    description: e.description,
    venue: e.venue_name
      ? { name: e.venue_name, address: e.venue_address, city: e.venue_city, country: e.venue_country }
      : null,
    timezone: e.timezone,
    starts_at: e.starts_at,
    ends_at: e.ends_at,
    status: e.status,
    currency: e.currency,
    capacity: e.capacity,
    transferable: e.transferable === 1,
    sales_start_at: e.sales_start_at,
    sales_end_at: e.sales_end_at,
    max_per_buyer: e.max_per_buyer,
    hold_minutes: e.hold_minutes ?? DEFAULT_HOLD_MINUTES,
    inventory_slots: e.slots,
    // The routes fill these in (Media.decorate): one query for a whole page of events.
    cover: null,
    gallery: [],
    created_at: e.created_at,
    updated_at: e.updated_at,
  };
}

export function ticketTypeView(t: TicketTypeRow, currency: string): TicketType {
  return {
    id: t.id,
    object: 'ticket_type',
    event_id: t.event_id,
    name: t.name,
    description: t.description,
    price: { amount: t.price_amount, currency },
    capacity: t.capacity,
    sales_start_at: t.sales_start_at,
    sales_end_at: t.sales_end_at,
    min_per_order: t.min_per_order,
    max_per_order: t.max_per_order,
    hidden: t.hidden === 1,
    sort_order: t.sort_order,
    tax_rate: t.tax_rate,
    created_at: t.created_at,
    updated_at: t.updated_at,
  };
}

/** What a door device may know of an event: enough to choose it. */
export const doorEventView = (e: Event): DoorEvent => ({
  id: e.id,
  object: 'door_event',
  name: e.name,
  starts_at: e.starts_at,
  ends_at: e.ends_at,
  timezone: e.timezone,
  venue: e.venue ? { name: e.venue.name, city: e.venue.city ?? null } : null,
});
