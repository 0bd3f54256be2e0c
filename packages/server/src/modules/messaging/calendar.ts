import { createEvent } from 'ics';

/** What a calendar entry of an event needs. */
export interface CalendarEvent {
  id: string;
  name: string;
  starts_at: string;
  ends_at: string;
  venue: string | null;
  updated_at: string;
}

/**
 * The event as an iCalendar file (RFC 5545), with the `ics` package. Its UID is the event's, and its
 * SEQUENCE the time of its last change, so a calendar that imported an earlier one updates the entry
 * instead of adding a second.
 */
export function eventCalendar(event: CalendarEvent, organizer: string): Buffer {
  const { error, value } = createEvent({
    uid: `${event.id}@tickets`,
    title: event.name,
    start: Date.parse(event.starts_at),
    end: Date.parse(event.ends_at),
    startInputType: 'utc',
    startOutputType: 'utc',
    endInputType: 'utc',
    endOutputType: 'utc',
    ...(event.venue ? { location: event.venue } : {}),
    organizer: { name: organizer },
    sequence: Math.floor(Date.parse(event.updated_at) / 1000),
    productId: 'tickets',
    method: 'PUBLISH',
  });
  if (error || !value) throw error ?? new Error('could not build the calendar file');
  return Buffer.from(value, 'utf8');
}
