import { z } from 'zod';

/** Ids are TypeIDs: a type prefix, an underscore and 26 base32 characters (UUIDv7, so they sort by creation time). */
export const idOf = (prefix: string) =>
  z
    .string()
    .regex(new RegExp(`^${prefix}_[0-9a-hjkmnp-tv-z]{26}$`), `must be an id starting with ${prefix}_`)
    .meta({ example: `${prefix}_01jd6x3k7qf0v8c6w2x9yq4e5b` });

export const ID_PREFIXES = {
  user: 'usr',
  organization: 'org',
  membership: 'mem',
  invitation: 'inv',
  apiKey: 'key',
  refreshToken: 'rt',
  event: 'evt',
  ticketType: 'tt',
  order: 'ord',
  ticket: 'tkt',
  refund: 'ref',
  checkinList: 'cl',
  checkin: 'chk',
  audit: 'aud',
  outbox: 'msg',
  messageEvent: 'mev',
  contactList: 'lst',
  campaign: 'cmp',
  invoice: 'invc',
  passwordReset: 'pwr',
  feedback: 'fb',
  media: 'med',
  webhookEndpoint: 'we',
  reconciliation: 'rec',
  voucher: 'vch',
  redemption: 'vrd',
} as const;

export const UserId = idOf(ID_PREFIXES.user);
export const OrganizationId = idOf(ID_PREFIXES.organization);
export const EventId = idOf(ID_PREFIXES.event);
export const TicketTypeId = idOf(ID_PREFIXES.ticketType);
export const InvitationId = idOf(ID_PREFIXES.invitation);
export const ApiKeyId = idOf(ID_PREFIXES.apiKey);

const CURRENCIES = new Set<string>(Intl.supportedValuesOf('currency'));

/** ISO-4217 currency code; lower case is accepted and upper-cased. */
export const Currency = z
  .string()
  .regex(/^[A-Za-z]{3}$/, 'must be a three-letter ISO 4217 currency code')
  .transform((c) => c.toUpperCase())
  .refine((c) => CURRENCIES.has(c), 'is not an ISO 4217 currency code')
  .meta({ example: 'EUR' });

/** Money is integer minor units (cents) and a currency. Never floats. */
export const Money = z
  .object({
    // Stored as 32-bit integers: up to 21,474,836.47 in a two-decimal currency.
    amount: z.number().int().min(0).max(2_147_483_647),
    currency: Currency,
  })
  .meta({ id: 'Money', example: { amount: 2500, currency: 'EUR' } });
export type Money = z.output<typeof Money>;

/** Is this an IANA time zone the runtime knows? */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return zone.length > 0;
  } catch {
    return false;
  }
}

export const TimeZone = z
  .string()
  .refine(isTimeZone, 'is not an IANA time zone (e.g. Europe/Berlin)')
  .meta({ example: 'Europe/Berlin' });

/** Input timestamps may carry any offset; the server stores and returns UTC. */
export const TimestampInput = z.iso.datetime({ offset: true }).meta({ example: '2026-12-31T20:00:00+01:00' });
export const Timestamp = z.iso.datetime().meta({ example: '2026-12-31T19:00:00.000Z' });

export const Email = z
  .email()
  .max(254)
  .transform((e) => e.toLowerCase());

export const Limit = z.coerce.number().int().min(1).max(100).default(20);
export const ListQuery = z.object({
  limit: Limit.optional(),
  starting_after: z.string().max(500).optional().describe('The next_cursor of the previous page'),
});

export function page<T extends z.ZodType>(item: T) {
  return z.object({
    object: z.literal('list'),
    data: z.array(item),
    has_more: z.boolean(),
    next_cursor: z.string().nullable(),
  });
}
export interface Page<T> {
  object: 'list';
  data: T[];
  has_more: boolean;
  next_cursor: string | null;
}

export const FieldError = z.object({
  path: z.string().describe('Dotted path of the offending field, e.g. venue.country'),
  message: z.string(),
  code: z.string(),
});
export type FieldError = z.output<typeof FieldError>;

/** RFC 9457 problem details, with a stable machine code. */
export const Problem = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string(),
    request_id: z.string().optional(),
    errors: z.array(FieldError).optional(),
  })
  .meta({ id: 'Problem' });
export type Problem = z.output<typeof Problem>;

export const Deleted = z.object({ id: z.string(), object: z.string(), deleted: z.literal(true) });
export type Deleted = z.output<typeof Deleted>;
