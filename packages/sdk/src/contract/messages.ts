import { z } from 'zod';
import { Email, EventId, ID_PREFIXES, idOf, ListQuery, Timestamp, TimestampInput } from './common.js';
import { OrderId, TicketId } from './orders.js';

export const MessageId = idOf(ID_PREFIXES.outbox);

export const Channel = z.enum(['email', 'whatsapp']);
export type Channel = z.output<typeof Channel>;

/**
 * queued → sending → sent → delivered → opened (e-mail) / read (WhatsApp); or bounced / failed with the provider's
 * reason. `dead`: every attempt failed and the worker gave up (retry it by hand). `suppressed`: not sent, because
 * the address bounced, complained, unsubscribed or opted out. `cancelled`: no longer needed (e.g. the reminder of a
 * refunded ticket).
 */
export const MessageStatus = z.enum([
  'queued',
  'sending',
  'sent',
  'delivered',
  'opened',
  'read',
  'bounced',
  'failed',
  'dead',
  'suppressed',
  'cancelled',
]);
export type MessageStatus = z.output<typeof MessageStatus>;

/** The built-in templates; each renders an e-mail (HTML and text) and a WhatsApp message. */
export const TEMPLATE_NAMES = [
  'order_confirmation',
  'refund_confirmation',
  'transfer_notice',
  'event_reminder',
  'event_cancelled',
  'event_rescheduled',
  'campaign',
  'invitation',
  'password_reset',
  'webhook_disabled',
  'reconciliation_mismatches',
] as const;
export const TemplateName = z.enum(TEMPLATE_NAMES);
export type TemplateName = z.output<typeof TemplateName>;

export const MessageEvent = z.object({
  status: z.string().describe('A status, or a provider event such as `clicked` or `deferred`'),
  detail: z.string().nullable().describe("The provider's reason or the error, when there is one"),
  at: Timestamp,
});
export type MessageEvent = z.output<typeof MessageEvent>;

export const Message = z
  .object({
    id: MessageId,
    object: z.literal('message'),
    channel: Channel,
    template: TemplateName,
    recipient: z.string().describe('E-mail address or E.164 phone number'),
    subject: z.string().nullable().describe('As rendered when it was sent'),
    status: MessageStatus,
    attempts: z.number().int(),
    last_error: z.string().nullable(),
    provider: z.string().nullable().describe('`sendgrid`, `smtp`, `whatsapp` or `file`, once sent'),
    provider_message_id: z.string().nullable(),
    order_id: OrderId.nullable(),
    ticket_id: TicketId.nullable(),
    event_id: EventId.nullable(),
    campaign_id: idOf(ID_PREFIXES.campaign).nullable(),
    send_at: Timestamp.describe('When it is due (reminders are scheduled; retries move it later)'),
    sent_at: Timestamp.nullable(),
    created_at: Timestamp,
    updated_at: Timestamp,
    history: z
      .array(MessageEvent)
      .optional()
      .describe('Every status change, oldest first (on a single message)'),
  })
  .meta({ id: 'Message' });
export type Message = z.output<typeof Message>;

export const MessageListQuery = ListQuery.extend({
  order: OrderId.optional(),
  ticket: TicketId.optional(),
  event: EventId.optional(),
  recipient: z.string().trim().toLowerCase().min(1).max(254).optional().describe('E-mail or phone, exactly'),
  channel: Channel.optional(),
  status: MessageStatus.optional(),
  template: TemplateName.optional(),
  campaign: idOf(ID_PREFIXES.campaign).optional(),
});
export type MessageListQuery = z.input<typeof MessageListQuery>;

export const Template = z
  .object({
    object: z.literal('template'),
    name: TemplateName,
    description: z.string(),
    channels: z.array(Channel),
    sendgrid_template_id: z
      .string()
      .nullable()
      .describe("This organization's SendGrid dynamic template, used instead of the built-in one"),
  })
  .meta({ id: 'Template' });
export type Template = z.output<typeof Template>;

export const TemplateParams = z.object({ name: TemplateName });

export const TemplateUpdateInput = z.strictObject({
  sendgrid_template_id: z
    .string()
    .trim()
    .regex(/^d-[0-9a-f]{32}$/, 'must be a SendGrid dynamic template id (d- and 32 hex digits)')
    .nullable(),
});
export type TemplateUpdateInput = z.input<typeof TemplateUpdateInput>;

export const TemplatePreviewQuery = z.object({ channel: Channel.default('email') });

export const TemplatePreview = z
  .object({
    object: z.literal('template_preview'),
    name: TemplateName,
    channel: Channel,
    subject: z.string().nullable(),
    html: z.string().nullable(),
    text: z.string(),
    data: z.record(z.string(), z.unknown()).describe('The sample data it was rendered with'),
  })
  .meta({ id: 'TemplatePreview' });
export type TemplatePreview = z.output<typeof TemplatePreview>;

export const Suppression = z
  .object({
    object: z.literal('suppression'),
    channel: Channel,
    address: z.string(),
    reason: z.enum(['bounce', 'spamreport', 'unsubscribe', 'opt_out', 'manual']),
    hard: z.boolean().describe('A hard bounce: even transactional messages are not sent'),
    created_at: Timestamp,
  })
  .meta({ id: 'Suppression' });
export type Suppression = z.output<typeof Suppression>;

export const SuppressionListQuery = ListQuery.extend({ channel: Channel.optional() });

export const ResendResult = z.object({
  object: z.literal('list'),
  data: z.array(Message),
});

// Marketing: contact lists built from attendees, and campaigns sent to them through the outbox.

export const ContactListId = idOf(ID_PREFIXES.contactList);
export const CampaignId = idOf(ID_PREFIXES.campaign);

export const ContactList = z
  .object({
    id: ContactListId,
    object: z.literal('contact_list'),
    name: z.string(),
    event_id: EventId.nullable().describe("Whose attendees: one event's, or (null) every event's"),
    opted_in_only: z.boolean().describe('Only buyers who agreed to marketing e-mail at checkout'),
    contacts: z.number().int().describe('Addresses on it now, without suppressed ones'),
    sendgrid_list_id: z.string().nullable().describe('The SendGrid Marketing list it was last synced to'),
    synced_at: Timestamp.nullable(),
    created_at: Timestamp,
  })
  .meta({ id: 'ContactList' });
export type ContactList = z.output<typeof ContactList>;

export const ContactListCreateInput = z.strictObject({
  name: z.string().trim().min(1).max(200),
  event: EventId.nullish().describe('Attendees of this event; left out: of every event'),
  opted_in_only: z.boolean().default(true),
});
export type ContactListCreateInput = z.input<typeof ContactListCreateInput>;

export const Contact = z
  .object({
    object: z.literal('contact'),
    email: z.string(),
    name: z.string(),
    opted_in: z.boolean(),
  })
  .meta({ id: 'Contact' });
export type Contact = z.output<typeof Contact>;

export const ContactListSync = z.object({
  object: z.literal('contact_list_sync'),
  list_id: ContactListId,
  sendgrid_list_id: z.string(),
  contacts: z.number().int(),
  job_id: z.string().describe("SendGrid's import job"),
});
export type ContactListSync = z.output<typeof ContactListSync>;

export const CampaignStatus = z.enum(['draft', 'scheduled', 'sending', 'sent', 'cancelled']);
export type CampaignStatus = z.output<typeof CampaignStatus>;

export const Campaign = z
  .object({
    id: CampaignId,
    object: z.literal('campaign'),
    name: z.string(),
    subject: z.string(),
    body: z.string().describe('Plain text; paragraphs are separated by blank lines'),
    list_id: ContactListId,
    sendgrid_template_id: z.string().nullable(),
    status: CampaignStatus,
    send_at: Timestamp.nullable().describe('When a scheduled campaign goes out'),
    sent_at: Timestamp.nullable().describe('When its messages were queued'),
    totals: z
      .record(z.string(), z.number().int())
      .describe('Recipients by message status (queued, sent, delivered, opened, bounced, suppressed, …)'),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .meta({ id: 'Campaign' });
export type Campaign = z.output<typeof Campaign>;

export const CampaignCreateInput = z.strictObject({
  name: z.string().trim().min(1).max(200),
  subject: z.string().trim().min(1).max(200),
  body: z.string().trim().min(1).max(50_000),
  list: ContactListId,
  sendgrid_template_id: TemplateUpdateInput.shape.sendgrid_template_id.optional(),
  send_at: TimestampInput.optional().describe('Schedule it; send it later with POST …/send, or at this time'),
});
export type CampaignCreateInput = z.input<typeof CampaignCreateInput>;

export const CampaignPreviewQuery = z.object({
  email: Email.optional().describe('Preview as this contact of the list (default: its first)'),
});
export type CampaignPreviewQuery = z.input<typeof CampaignPreviewQuery>;

export const CampaignPreview = z
  .object({
    object: z.literal('campaign_preview'),
    campaign_id: CampaignId,
    as: z
      .object({ email: z.string(), name: z.string() })
      .nullable()
      .describe('The contact whose merge fields fill it (null: the list is empty; the fields are blank)'),
    merge_fields: z
      .record(z.string(), z.string())
      .describe('Each merge field and its value for this contact'),
    subject: z.string(),
    text: z.string(),
    html: z.string(),
  })
  .meta({ id: 'CampaignPreview' });
export type CampaignPreview = z.output<typeof CampaignPreview>;

export const CampaignTestInput = z.strictObject({
  email: Email.optional().describe(
    'Where the test goes (default: your own address; an API key must give one)',
  ),
});
export type CampaignTestInput = z.input<typeof CampaignTestInput>;

export const CampaignListQuery = ListQuery.extend({ status: CampaignStatus.optional() });
