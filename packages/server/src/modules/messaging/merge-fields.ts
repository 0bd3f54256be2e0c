import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.js';
import { eventTime } from './render.js';

/**
 * What a campaign's subject and body may say per recipient, as `{{name}}`. Unknown fields are refused
 * when the campaign is written (a typo would otherwise go out literally to every recipient).
 */
export const MERGE_FIELDS = {
  name: "the recipient's name",
  first_name: "the recipient's first name",
  email: "the recipient's e-mail address",
  event: "the list's event",
  event_date: "when the list's event starts, in its time zone",
  venue: "the list's event's venue",
  ticket_type: 'the ticket types the recipient holds for the event (e.g. "GA, VIP")',
  order: "the recipient's latest paid order for the event (ord_…)",
} as const;
export type MergeField = keyof typeof MERGE_FIELDS;
export type MergeValues = Record<MergeField, string>;

const FIELD = /\{\{\s*([A-Za-z_][\w]*)\s*\}\}/g;

/** The `{{fields}}` of `text` that are not merge fields. */
export function unknownMergeFields(text: string): string[] {
  const unknown = new Set<string>();
  for (const m of text.matchAll(FIELD)) if (!(m[1]! in MERGE_FIELDS)) unknown.add(m[1]!);
  return [...unknown];
}

/** `text` with each `{{field}}` replaced by the recipient's value. */
export function merge(text: string, values: MergeValues): string {
  return text.replace(FIELD, (whole, name: string) =>
    name in MERGE_FIELDS ? values[name as MergeField] : whole,
  );
}

/** The merge values of one recipient, read when the message is written (so a transfer since shows). */
export async function mergeValues(
  k: Kysely<Database>,
  orgId: string,
  eventId: string | null,
  recipient: { email: string; name: string },
): Promise<MergeValues> {
  const email = recipient.email.toLowerCase();
  const values: MergeValues = {
    name: recipient.name,
    first_name: recipient.name.trim().split(/\s+/)[0] ?? '',
    email,
    event: '',
    event_date: '',
    venue: '',
    ticket_type: '',
    order: '',
  };
  if (!eventId) return values;
  const [event, types, order] = await Promise.all([
    k
      .selectFrom('events')
      .select(['name', 'starts_at', 'timezone', 'venue_name', 'venue_city'])
      .where('id', '=', eventId)
      .where('org_id', '=', orgId)
      .executeTakeFirst(),
    k
      .selectFrom('tickets')
      .innerJoin('ticket_types', 'ticket_types.id', 'tickets.ticket_type_id')
      .innerJoin('orders', 'orders.id', 'tickets.order_id')
      .select('ticket_types.name')
      .distinct()
      .where('tickets.event_id', '=', eventId)
      .where('tickets.status', '=', 'valid')
      .where((eb) =>
        eb.or([
          eb('tickets.holder_email', '=', email),
          eb.and([eb('orders.buyer_email', '=', email), eb('tickets.holder_email', 'is', null)]),
        ]),
      )
      .orderBy('ticket_types.name')
      .execute(),
    k
      .selectFrom('orders')
      .select('id')
      .where('event_id', '=', eventId)
      .where('buyer_email', '=', email)
      .where('status', 'in', ['paid', 'partially_refunded'])
      .orderBy('id', 'desc')
      .executeTakeFirst(),
  ]);
  if (event) {
    values.event = event.name;
    values.event_date = eventTime(event.starts_at, event.timezone);
    values.venue = [event.venue_name, event.venue_city].filter(Boolean).join(', ');
  }
  values.ticket_type = types.map((t) => t.name).join(', ');
  values.order = order?.id ?? '';
  return values;
}
