import { z } from 'zod';
import { Email, EventId, ListQuery, Timestamp, TimestampInput } from './common.js';
import { OrderId } from './orders.js';

export const AuditEntry = z
  .object({
    id: z.string(),
    object: z.literal('audit_entry'),
    action: z.string().describe('What was done, as `<noun>.<verb>`: refund.created, member.role_changed, …'),
    actor: z
      .object({
        kind: z.enum(['user', 'api_key', 'system']),
        id: z.string().nullable().describe('usr_… or key_…; null for the system (webhooks, the worker)'),
      })
      .describe('Who did it'),
    target: z.string().describe('The id of what it was done to'),
    before: z.record(z.string(), z.unknown()).nullable().describe('The changed fields as they were'),
    after: z.record(z.string(), z.unknown()).nullable().describe('The changed fields as they became'),
    data: z.record(z.string(), z.unknown()).describe('Details of the action (an amount, a reason)'),
    request_id: z.string().nullable().describe('The request that did it (its x-request-id)'),
    ip: z.string().nullable().describe("The client's address"),
    created_at: Timestamp,
  })
  .meta({ id: 'AuditEntry' });
export type AuditEntry = z.output<typeof AuditEntry>;

export const AuditListQuery = ListQuery.extend({
  actor: z
    .string()
    .regex(/^(usr|key)_\w+$/, 'must be a user id (usr_…) or an API key id (key_…)')
    .optional()
    .describe("Only this user's or key's actions"),
  action: z
    .string()
    .regex(/^[a-z_]+(\.[a-z_]+)*\.?$/, 'must look like refund.created, or a prefix ending in a dot (refund.)')
    .max(100)
    .optional()
    .describe('Only this action, or every action under a prefix ending in a dot (`refund.`)'),
  target: z.string().min(1).max(100).optional().describe('Only actions on this id'),
  from: TimestampInput.optional().describe('At or after this time'),
  to: TimestampInput.optional().describe('Before this time'),
});
export type AuditListQuery = z.input<typeof AuditListQuery>;

export const FeedbackInput = z.strictObject({
  message: z.string().trim().min(1).max(5000).describe('What happened, or what you would like'),
  email: Email.optional().describe('Where to answer you (sent to Sentry only when SENTRY_SEND_PII is on)'),
  event: EventId.optional().describe('The event it is about'),
  order: OrderId.optional().describe('The order it is about'),
  request_id: z
    .string()
    .regex(/^[\w.:-]{1,128}$/)
    .optional()
    .describe('The x-request-id of a request that went wrong: the feedback is linked to its error'),
});
export type FeedbackInput = z.input<typeof FeedbackInput>;

export const Feedback = z
  .object({
    id: z.string(),
    object: z.literal('feedback'),
    message: z.string(),
    request_id: z.string().nullable(),
    sent_to_sentry: z.boolean().describe('Whether it went to Sentry (on when the server has a SENTRY_DSN)'),
    linked_error: z
      .string()
      .nullable()
      .describe("Sentry's id of the error it was linked to (the request's), when there was one"),
    created_at: Timestamp,
  })
  .meta({ id: 'Feedback' });
export type Feedback = z.output<typeof Feedback>;
