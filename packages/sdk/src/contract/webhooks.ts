import { z } from 'zod';
import { ID_PREFIXES, idOf, ListQuery, Timestamp } from './common.js';

export const WebhookEndpointId = idOf(ID_PREFIXES.webhookEndpoint);

/** What an organizer's endpoint may subscribe to; `*` is everything, now and later. */
export const WEBHOOK_EVENT_TYPES = [
  'order.paid',
  'order.refunded',
  'ticket.transferred',
  'ticket.checked_in',
  'event.published',
  'event.cancelled',
] as const;
export const WebhookEventType = z.enum(WEBHOOK_EVENT_TYPES);
export type WebhookEventType = z.output<typeof WebhookEventType>;

/** The version of the payloads' shape; a delivery says which it was made with. */
export const WEBHOOK_API_VERSION = '2026-12-01';

export const WebhookEndpoint = z
  .object({
    id: WebhookEndpointId,
    object: z.literal('webhook_endpoint'),
    mode: z
      .enum(['push', 'poll'])
      .describe('push: POSTed to its URL; poll: fetched by `tickets webhooks listen` (no URL, temporary)'),
    url: z.string().nullable(),
    description: z.string(),
    events: z.array(z.union([WebhookEventType, z.literal('*')])),
    status: z.enum(['enabled', 'disabled']),
    disabled_reason: z.string().nullable(),
    secret: z
      .string()
      .optional()
      .describe('The signing secret (whsec_…): only in the answers that create or rotate it. Keep it'),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .meta({ id: 'WebhookEndpoint' });
export type WebhookEndpoint = z.output<typeof WebhookEndpoint>;

const url = z
  .url({ protocol: /^https?$/ })
  .max(2000)
  .describe('Where deliveries are POSTed: https (http only on a server that allows it, for development)');
const events = z
  .array(z.union([WebhookEventType, z.literal('*')]))
  .min(1)
  .max(50)
  .transform((e) => [...new Set(e)])
  .describe('The event types it receives, or ["*"] for all');

export const WebhookEndpointCreateInput = z
  .strictObject({
    url: url.optional(),
    events,
    description: z.string().trim().max(500).default(''),
    mode: z
      .enum(['push', 'poll'])
      .default('push')
      .describe('poll: no URL; deliveries are fetched with GET …/poll (what `tickets webhooks listen` does)'),
  })
  .superRefine((v, ctx) => {
    if (v.mode === 'push' && !v.url) ctx.addIssue({ code: 'custom', path: ['url'], message: 'is required' });
    if (v.mode === 'poll' && v.url)
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'a poll endpoint has no URL' });
  });
export type WebhookEndpointCreateInput = z.input<typeof WebhookEndpointCreateInput>;

export const WebhookEndpointUpdateInput = z.strictObject({
  url: url.optional(),
  events: events.optional(),
  description: z.string().trim().max(500).optional(),
  status: z.enum(['enabled', 'disabled']).optional().describe('enabled again resumes deliveries'),
});
export type WebhookEndpointUpdateInput = z.input<typeof WebhookEndpointUpdateInput>;

export const WebhookDelivery = z
  .object({
    id: z.string().describe('msg_…: also the `webhook-id` header, the same on every attempt'),
    object: z.literal('webhook_delivery'),
    endpoint: WebhookEndpointId,
    type: WebhookEventType,
    status: z.enum(['queued', 'sending', 'sent', 'failed', 'dead', 'cancelled']),
    attempts: z.number().int(),
    response_code: z
      .number()
      .int()
      .nullable()
      .describe("The endpoint's last answer (null: none, or no answer)"),
    duration_ms: z.number().int().nullable().describe('How long the last attempt took'),
    last_error: z.string().nullable(),
    next_attempt_at: Timestamp.nullable(),
    delivered_at: Timestamp.nullable(),
    created_at: Timestamp,
  })
  .meta({ id: 'WebhookDelivery' });
export type WebhookDelivery = z.output<typeof WebhookDelivery>;

export const WebhookDeliveryListQuery = ListQuery.extend({
  status: z.enum(['queued', 'sending', 'sent', 'failed', 'dead', 'cancelled']).optional(),
});
export type WebhookDeliveryListQuery = z.input<typeof WebhookDeliveryListQuery>;

/** What an endpoint receives (the body of each delivery). */
export interface WebhookEvent<T = unknown> {
  id: string;
  object: 'event';
  type: WebhookEventType;
  api_version: string;
  created_at: string;
  data: { object: T };
}

export const WebhookPollQuery = z.object({
  wait: z.coerce
    .number()
    .int()
    .min(0)
    .max(30)
    .default(25)
    .describe('Seconds to wait for a delivery when none is waiting (long polling)'),
  ack: z
    .string()
    .optional()
    .transform((v, ctx) => {
      const ids = v ? v.split(',').filter(Boolean) : [];
      const bad = ids.find((id) => !idOf(ID_PREFIXES.outbox).safeParse(id).success);
      if (bad) ctx.addIssue({ code: 'custom', message: `${bad} is not a delivery id (msg_…)` });
      if (ids.length > 100) ctx.addIssue({ code: 'custom', message: 'at most 100 deliveries at once' });
      return ids;
    })
    .describe(
      'Comma-separated ids of deliveries relayed since the last poll: those are done. One handed out and not acknowledged within a minute is handed out again',
    ),
});

export const WebhookPolled = z.object({
  object: z.literal('list'),
  data: z.array(
    z.object({
      id: z.string(),
      type: WebhookEventType,
      headers: z.record(z.string(), z.string()).describe('webhook-id, webhook-timestamp, webhook-signature'),
      body: z.string().describe('Exactly the bytes a pushed delivery would carry'),
    }),
  ),
});
export type WebhookPolled = z.output<typeof WebhookPolled>;
