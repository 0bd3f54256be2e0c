import { z } from 'zod';
import { EventId, idOf, TicketTypeId, Timestamp, TimestampInput } from './common.js';
import { OrderId, TicketId } from './orders.js';

export const CheckinListId = idOf('cl');

/** What a door device may know of an event: enough to choose it, nothing about sales or buyers. */
export const DoorEvent = z
  .object({
    id: EventId,
    object: z.literal('door_event'),
    name: z.string(),
    starts_at: Timestamp,
    ends_at: Timestamp,
    timezone: z.string(),
    venue: z.object({ name: z.string(), city: z.string().nullable() }).nullable(),
  })
  .meta({ id: 'DoorEvent' });
export type DoorEvent = z.output<typeof DoorEvent>;

export const CheckinList = z
  .object({
    id: CheckinListId,
    object: z.literal('checkin_list'),
    event_id: EventId,
    name: z.string(),
    ticket_type_ids: z.array(TicketTypeId).nullable().describe('Types admitted through this list; null: all'),
    starts_at: Timestamp.nullable().describe('Admission opens; null: any time'),
    ends_at: Timestamp.nullable().describe('Admission closes; null: any time'),
    allow_reentry: z.boolean().describe('Whether a ticket scanned out may come in again'),
    is_default: z.boolean(),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .meta({ id: 'CheckinList' });
export type CheckinList = z.output<typeof CheckinList>;

const listFields = {
  name: z.string().trim().min(1).max(200),
  ticket_type_ids: z.array(TicketTypeId).min(1).max(200).nullish(),
  starts_at: TimestampInput.nullish(),
  ends_at: TimestampInput.nullish(),
  allow_reentry: z.boolean().optional(),
};

export const CheckinListCreateInput = z.strictObject(listFields);
export type CheckinListCreateInput = z.input<typeof CheckinListCreateInput>;
export const CheckinListUpdateInput = z.strictObject({ ...listFields, name: listFields.name.optional() });
export type CheckinListUpdateInput = z.input<typeof CheckinListUpdateInput>;

export const ValidationResult = z.enum([
  'admitted',
  'exited',
  'valid',
  'already_used',
  'not_inside',
  'invalid',
  'revoked',
  'wrong_event',
  'wrong_list',
  'not_yet_valid',
  'expired',
  'order_not_paid',
]);
export type ValidationResult = z.output<typeof ValidationResult>;

export const ValidateInput = z.strictObject({
  code: z.string().trim().min(1).max(1000),
  list: CheckinListId.optional().describe("The gate's check-in list; the event's default list when omitted"),
  device_id: z.string().trim().min(1).max(100),
  gate: z.string().trim().min(1).max(100).optional(),
  direction: z.enum(['entry', 'exit']).default('entry'),
  dry_run: z.boolean().default(false).describe('Look the ticket up without admitting it'),
  event: EventId.optional().describe(
    "The door's event: a ticket of another event (even of this organization) is refused `wrong_event`",
  ),
});
export type ValidateInput = z.input<typeof ValidateInput>;

export const Validation = z
  .object({
    object: z.literal('validation'),
    result: ValidationResult,
    admitted: z.boolean().describe('Let this person through'),
    message: z.string().describe('One line for the person at the door'),
    ticket: z
      .object({
        id: TicketId,
        order_id: OrderId,
        holder_name: z.string(),
        ticket_type_id: TicketTypeId,
        ticket_type_name: z.string(),
      })
      .nullable(),
    event: z
      .object({ id: EventId, name: z.string() })
      .nullable()
      .describe('The event the ticket is for (null: not a ticket of ours)'),
    revoked_reason: z.enum(['refunded', 'cancelled', 'transferred']).nullable(),
    first_used: z
      .object({ at: Timestamp, gate: z.string().nullable(), device_id: z.string() })
      .nullable()
      .describe('For already_used: when and where the ticket came in'),
    list_id: CheckinListId.nullable(),
    scanned_at: Timestamp,
  })
  .meta({ id: 'Validation' });
export type Validation = z.output<typeof Validation>;

const Count = z.number().int().min(0);

/** Results that refuse entry; `exited` and `valid` (a look-up) are not refusals. */
export const REFUSALS = [
  'already_used',
  'not_inside',
  'invalid',
  'revoked',
  'wrong_event',
  'wrong_list',
  'not_yet_valid',
  'expired',
  'order_not_paid',
] as const satisfies readonly ValidationResult[];

export const CheckinStats = z
  .object({
    object: z.literal('checkin_stats'),
    event_id: EventId,
    admitted: Count.describe('Distinct tickets admitted on any list'),
    inside: Count.describe('Tickets inside now (one per list they are in on)'),
    refused: Count.describe('Scans that refused entry'),
    refused_by_reason: z
      .array(z.object({ reason: z.enum(REFUSALS), count: Count }))
      .describe('Refused scans by result, most frequent first'),
    lists: z.array(
      z.object({
        id: CheckinListId,
        name: z.string(),
        admitted: Count.describe('Distinct tickets admitted on this list'),
        inside: Count,
        refused: Count,
      }),
    ),
    gates: z
      .array(
        z.object({
          gate: z.string().nullable().describe('null: scans that named no gate'),
          admitted: Count.describe('Admissions through this gate (a re-entry counts again)'),
          refused: Count,
        }),
      )
      .describe('By gate name, as the scanners report it'),
    admissions: z
      .array(z.object({ start: Timestamp, count: Count }))
      .describe(
        'Admissions per 5-minute window (UTC), from the first to the last; empty windows included when they span two days or less',
      ),
    generated_at: Timestamp,
  })
  .meta({ id: 'CheckinStats' });
export type CheckinStats = z.output<typeof CheckinStats>;

// Offline doors: a bundle to validate without the network, and the upload of what was scanned.

const FirstUsed = z.object({ at: Timestamp, gate: z.string().nullable(), device_id: z.string() });

export const CheckinBundleQuery = z.object({
  list: CheckinListId.optional().describe("The gate's check-in list; the event's default list when omitted"),
  since: z
    .string()
    .max(500)
    .optional()
    .describe('The cursor of the previous bundle (or page): only tickets changed since then'),
  limit: z.coerce.number().int().min(1).max(5000).default(1000).describe('Tickets per page'),
});
export type CheckinBundleQuery = z.input<typeof CheckinBundleQuery>;

export const CheckinBundleTicket = z
  .object({
    id: TicketId,
    ticket_type_id: TicketTypeId,
    holder_name: z.string(),
    status: z.enum(['valid', 'void']),
    void_reason: z.enum(['refunded', 'cancelled']).nullable(),
    code_version: z.number().int().describe('Codes with a lower version were revoked by a transfer'),
    admitted: z.boolean().describe('Already used on this list: admitted, and may not come in again now'),
  })
  .meta({ id: 'CheckinBundleTicket' });
export type CheckinBundleTicket = z.output<typeof CheckinBundleTicket>;

export const CheckinBundle = z
  .object({
    object: z.literal('checkin_bundle'),
    event_id: EventId,
    event_name: z.string(),
    list: CheckinList,
    public_key: z.string().describe('Ed25519, base64url of the raw key: verifies ticket codes offline'),
    event_status: z
      .enum(['draft', 'published', 'cancelled', 'completed'])
      .describe('cancelled: refuse every ticket of the event, whatever the bundle says of it'),
    tickets: z.array(CheckinBundleTicket).describe('Oldest change first'),
    cursor: z
      .string()
      .describe('Pass as `since`: the next page while has_more, afterwards the next sync (changes only)'),
    has_more: z.boolean(),
    full: z.boolean().describe('true: asked without `since`, a fresh start; false: changes to merge'),
    generated_at: Timestamp,
  })
  .meta({ id: 'CheckinBundle' });
export type CheckinBundle = z.output<typeof CheckinBundle>;

export const OfflineScanResult = z.enum([...ValidationResult.options, 'refused']);

export const OfflineScan = z.strictObject({
  id: z.uuid().describe("The device's id for this scan: an upload repeated applies it once"),
  code: z.string().trim().min(1).max(1000),
  list: CheckinListId.optional(),
  gate: z.string().trim().min(1).max(100).optional(),
  direction: z.enum(['entry', 'exit']).default('entry'),
  scanned_at: TimestampInput.describe('When the device scanned it'),
  offline_result: OfflineScanResult.describe('What the device decided at the door'),
});
export type OfflineScan = z.input<typeof OfflineScan>;

export const CheckinBatchInput = z.strictObject({
  device_id: z.string().trim().min(1).max(100),
  scans: z.array(OfflineScan).min(1).max(500),
});
export type CheckinBatchInput = z.input<typeof CheckinBatchInput>;

export const CheckinBatchResult = z
  .object({
    object: z.literal('checkin_batch'),
    results: z
      .array(
        z.object({
          id: z.string().describe('The scan id'),
          result: ValidationResult.describe("The server's verdict, as of when it was scanned"),
          conflict: z
            .boolean()
            .describe('The device admitted it, but the ticket had already been admitted on the list'),
          first_used: FirstUsed.nullable(),
          ticket_id: TicketId.nullable(),
          list_id: CheckinListId.nullable(),
        }),
      )
      .describe('One per scan, in the order sent'),
    conflicts: z.number().int().min(0),
  })
  .meta({ id: 'CheckinBatchResult' });
export type CheckinBatchResult = z.output<typeof CheckinBatchResult>;

export const CheckinConflict = z
  .object({
    object: z.literal('checkin_conflict'),
    id: z.string().describe('The check-in'),
    scan_id: z.string(),
    event_id: EventId,
    list_id: CheckinListId,
    ticket_id: TicketId,
    device_id: z.string(),
    gate: z.string().nullable(),
    scanned_at: Timestamp,
    uploaded_at: Timestamp,
    first_used: FirstUsed.nullable().describe('The admission it collided with'),
  })
  .meta({ id: 'CheckinConflict' });
export type CheckinConflict = z.output<typeof CheckinConflict>;
