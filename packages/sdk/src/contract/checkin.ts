import { z } from 'zod';
import { EventId, idOf, TicketTypeId, Timestamp, TimestampInput } from './common.js';
import { OrderId, TicketId } from './orders.js';

export const CheckinListId = idOf('cl');

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
