import type { Channel, TemplateName } from '@tickets/sdk';
import Handlebars from 'handlebars';

/**
 * The built-in messages. Each is Handlebars — the language SendGrid dynamic templates use — rendered from the same
 * data an organization's dynamic template receives, so a mapped SendGrid template can say exactly what ours says.
 */

export interface TicketData {
  id: string;
  holder_name: string;
  type_name: string;
  code: string;
  /** `cid:` of the inline QR image (e-mail). */
  qr_cid: string;
}

export interface MessageData {
  org: { name: string };
  event: {
    id: string;
    name: string;
    starts: string;
    venue: string | null;
    cancelled: boolean;
    /** The event's cover as the e-mail's banner (its `email` preset, attached inline under this cid). */
    banner?: { cid: string; alt: string };
    /** The cover at its `card` preset, as JPEG, for the ticket PDF. */
    cover?: Uint8Array;
  };
  buyer: { name: string };
  order?: { id: string; total: string; ticket_count: number };
  tickets?: TicketData[];
  refund?: { amount: string; reason: string | null };
  transfer?: { holder_name: string; type_name: string; from_name: string };
  cancellation?: { message: string | undefined; refunding: boolean };
  reminder?: { hours: number };
  campaign?: { subject: string; paragraphs: string[]; unsubscribe_url: string };
  invitation?: { inviter: string; role: string; token: string; expires: string };
  reset?: { token: string; expires: string; url: string };
  webhook?: { url: string; reason: string };
  reconciliation?: { id: string; day: string; mismatches: number; kinds: string };
}

/** The `event` of a message that is not about one (a campaign, an account e-mail). */
export const NO_EVENT: MessageData['event'] = { id: '', name: '', starts: '', venue: null, cancelled: false };

interface TemplateDef {
  description: string;
  channels: Channel[];
  subject: string;
  html: string;
  text: string;
  /** WhatsApp: the approved template's body parameters, in order, and whether its header carries the QR image. */
  whatsapp: { body: string[]; qrHeader: boolean; buttons?: { id: string; title: string }[] };
}

const layout = (body: string) => `<!doctype html>
<html><body style="font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#1a1a1a;max-width:600px;margin:auto;padding:24px">
${body}
<p style="color:#666;font-size:12px;margin-top:32px">{{org.name}} · sent with tickets</p>
</body></html>`;

const ticketsHtml = `{{#each tickets}}
<div style="border:1px solid #ddd;border-radius:8px;padding:16px;margin:16px 0">
<p style="margin:0"><strong>{{holder_name}}</strong> · {{type_name}}</p>
{{#if qr_cid}}<img src="cid:{{qr_cid}}" width="240" height="240" alt="Ticket code for {{holder_name}}">{{else}}<p style="margin:0;color:#666">Its code is on its page of the attached PDF.</p>{{/if}}
<p style="font-family:monospace;font-size:10px;word-break:break-all;color:#666">{{id}}</p>
</div>
{{/each}}`;

const ticketsText = `{{#each tickets}}
- {{holder_name}} · {{type_name}} ({{id}})
{{/each}}`;

export const TEMPLATES: Record<TemplateName, TemplateDef> = {
  order_confirmation: {
    description: 'Order paid: the tickets, each with its QR code, and a PDF to print',
    channels: ['email', 'whatsapp'],
    subject: 'Your tickets for {{event.name}}',
    html: layout(`{{#if event.banner}}<img src="cid:{{event.banner.cid}}" width="600" alt="{{event.banner.alt}}" style="display:block;width:100%;max-width:600px;height:auto;border-radius:8px">
{{/if}}<h1>Your tickets for {{event.name}}</h1>
<p>Hello {{buyer.name}}, thank you for your order {{order.id}} ({{order.total}}).</p>
<p><strong>{{event.starts}}</strong>{{#if event.venue}} · {{event.venue}}{{/if}}</p>
<p>Show the code at the entrance, on your phone or printed (the PDF is attached).</p>
${ticketsHtml}`),
    text: `Hello {{buyer.name}},

thank you for your order {{order.id}} ({{order.total}}). Your tickets for {{event.name}}:
${ticketsText}
When: {{event.starts}}{{#if event.venue}}
Where: {{event.venue}}{{/if}}

Show the QR code at the entrance, on your phone or printed (the PDF is attached).
-- {{org.name}}`,
    whatsapp: {
      body: ['event.name', 'event.starts', 'ticket.holder_name', 'ticket.type_name'],
      qrHeader: true,
    },
  },
  refund_confirmation: {
    description: 'A refund was made: how much and why',
    channels: ['email'],
    subject: 'Your refund for {{event.name}}',
    html: layout(`<h1>Refund of {{refund.amount}}</h1>
<p>Hello {{buyer.name}}, we have refunded {{refund.amount}} for order {{order.id}} ({{event.name}}).</p>
{{#if refund.reason}}<p>Reason: {{refund.reason}}</p>{{/if}}
<p>It may take a few days to show on your statement.</p>`),
    text: `Hello {{buyer.name}},

we have refunded {{refund.amount}} for order {{order.id}} ({{event.name}}).{{#if refund.reason}}
Reason: {{refund.reason}}{{/if}}
It may take a few days to show on your statement.
-- {{org.name}}`,
    whatsapp: { body: ['event.name', 'refund.amount'], qrHeader: false },
  },
  transfer_notice: {
    description: 'A ticket was transferred: the new holder gets it, with its new code',
    channels: ['email'],
    subject: '{{transfer.from_name}} sent you a ticket for {{event.name}}',
    html: layout(`<h1>A ticket for {{event.name}}</h1>
<p>Hello {{transfer.holder_name}}, {{transfer.from_name}} transferred a {{transfer.type_name}} ticket to you.</p>
<p><strong>{{event.starts}}</strong>{{#if event.venue}} · {{event.venue}}{{/if}}</p>
${ticketsHtml}`),
    text: `Hello {{transfer.holder_name}},

{{transfer.from_name}} transferred a {{transfer.type_name}} ticket for {{event.name}} to you.
When: {{event.starts}}{{#if event.venue}}
Where: {{event.venue}}{{/if}}
${ticketsText}
-- {{org.name}}`,
    whatsapp: { body: ['event.name', 'event.starts', 'transfer.holder_name'], qrHeader: true },
  },
  event_reminder: {
    description: 'Sent a set number of hours before the event starts, with the tickets again',
    channels: ['email', 'whatsapp'],
    subject: 'Reminder: {{event.name}} starts {{event.starts}}',
    html: layout(`<h1>See you soon at {{event.name}}</h1>
<p>Hello {{buyer.name}}, {{event.name}} starts {{event.starts}}{{#if event.venue}} at {{event.venue}}{{/if}}.</p>
${ticketsHtml}`),
    text: `Hello {{buyer.name}},

{{event.name}} starts {{event.starts}}{{#if event.venue}} at {{event.venue}}{{/if}}.
${ticketsText}
-- {{org.name}}`,
    whatsapp: {
      body: ['event.name', 'event.starts', 'ticket.holder_name'],
      qrHeader: true,
      buttons: [
        { id: 'calendar', title: 'Add to calendar' },
        { id: 'decline', title: "I can't come" },
      ],
    },
  },
  event_cancelled: {
    description: 'The event was cancelled',
    channels: ['email', 'whatsapp'],
    subject: '{{event.name}} is cancelled',
    html: layout(`<h1>{{event.name}} is cancelled</h1>
<p>Hello {{buyer.name}}, we are sorry: {{event.name}} ({{event.starts}}) will not take place.</p>
{{#if cancellation.message}}<p>{{cancellation.message}}</p>{{/if}}
<p>{{#if cancellation.refunding}}Your order {{order.id}} is being refunded in full; your tickets are no longer valid.{{else}}{{org.name}} will be in touch about your order {{order.id}}.{{/if}}</p>`),
    text: `Hello {{buyer.name}},

we are sorry: {{event.name}} ({{event.starts}}) will not take place.
{{#if cancellation.message}}{{cancellation.message}}
{{/if}}{{#if cancellation.refunding}}Your order {{order.id}} is being refunded in full; your tickets are no longer valid.{{else}}{{org.name}} will be in touch about your order {{order.id}}.{{/if}}
-- {{org.name}}`,
    whatsapp: { body: ['event.name', 'event.starts'], qrHeader: false },
  },
  event_rescheduled: {
    description: 'The event moved (a new start or venue), with the new details as a calendar file',
    channels: ['email', 'whatsapp'],
    subject: '{{event.name}} has moved: {{event.starts}}',
    html: layout(`<h1>{{event.name}} has moved</h1>
<p>Hello {{buyer.name}}, {{event.name}} now takes place on <strong>{{event.starts}}</strong>{{#if event.venue}} at <strong>{{event.venue}}</strong>{{/if}}.</p>
<p>Your tickets for order {{order.id}} stay valid. The attached calendar file has the new details.</p>`),
    text: `Hello {{buyer.name}},

{{event.name}} now takes place on {{event.starts}}{{#if event.venue}} at {{event.venue}}{{/if}}.
Your tickets for order {{order.id}} stay valid. The attached calendar file has the new details.
-- {{org.name}}`,
    whatsapp: { body: ['event.name', 'event.starts'], qrHeader: false },
  },
  campaign: {
    description: "A campaign's message to a contact list, with its unsubscribe link",
    channels: ['email'],
    subject: '{{campaign.subject}}',
    html: layout(`{{#each campaign.paragraphs}}<p>{{this}}</p>
{{/each}}
<p style="color:#666;font-size:12px">You get this because you bought tickets from {{org.name}}.
<a href="{{campaign.unsubscribe_url}}">Unsubscribe</a></p>`),
    text: `{{#each campaign.paragraphs}}{{this}}

{{/each}}--
You get this because you bought tickets from {{org.name}}. Unsubscribe: {{campaign.unsubscribe_url}}`,
    whatsapp: { body: [], qrHeader: false },
  },
  invitation: {
    description: 'A member invitation: who invited whom, to which organization, and how to accept',
    channels: ['email'],
    subject: '{{invitation.inviter}} invited you to {{org.name}}',
    html: layout(`<h1>Join {{org.name}}</h1>
<p>Hello, {{invitation.inviter}} invited you to help run {{org.name}}'s events as <strong>{{invitation.role}}</strong>.</p>
<p>Your invitation token (valid until {{invitation.expires}}):</p>
<p style="font-family:monospace;font-size:14px;word-break:break-all;background:#f4f4f4;padding:8px">{{invitation.token}}</p>
<p>New to tickets? <code>tickets signup --invitation {{invitation.token}}</code><br>
Already have an account? <code>tickets orgs members accept {{invitation.token}}</code></p>
<p style="color:#666">Not expecting this? Ignore it: nothing happens unless the token is used.</p>`),
    text: `Hello,

{{invitation.inviter}} invited you to help run {{org.name}}'s events as {{invitation.role}}.

Your invitation token (valid until {{invitation.expires}}):
{{invitation.token}}

New to tickets?           tickets signup --invitation {{invitation.token}}
Already have an account?  tickets orgs members accept {{invitation.token}}

Not expecting this? Ignore it: nothing happens unless the token is used.
-- {{org.name}}`,
    whatsapp: { body: [], qrHeader: false },
  },
  reconciliation_mismatches: {
    description: "To the organization's owners: last night's reconciliation with Stripe found mismatches",
    channels: ['email'],
    subject:
      'Stripe and tickets disagree on {{reconciliation.mismatches}} payment(s) of {{reconciliation.day}}',
    html: layout(`<h1>Payments to look at</h1>
<p>Comparing {{org.name}}'s payments and refunds of {{reconciliation.day}} (UTC) with Stripe's found
<strong>{{reconciliation.mismatches}}</strong> that do not match: {{reconciliation.kinds}}.</p>
<p>See each one: <code>tickets payments reconcile --from {{reconciliation.day}} --to {{reconciliation.day}}</code>
(or <code>GET /api/reconciliations/{{reconciliation.id}}</code>).</p>`),
    text: `Comparing {{org.name}}'s payments and refunds of {{reconciliation.day}} (UTC) with Stripe's found
{{reconciliation.mismatches}} that do not match: {{reconciliation.kinds}}.

See each one: tickets payments reconcile --from {{reconciliation.day}} --to {{reconciliation.day}}
(or GET /api/reconciliations/{{reconciliation.id}}).
-- tickets`,
    whatsapp: { body: [], qrHeader: false },
  },
  webhook_disabled: {
    description: "To the organization's owners: a webhook endpoint failed for three days and was disabled",
    channels: ['email'],
    subject: 'Webhook endpoint disabled: {{webhook.url}}',
    html: layout(`<h1>A webhook endpoint was disabled</h1>
<p>Deliveries to <strong>{{webhook.url}}</strong> failed for three days, so {{org.name}}'s endpoint was disabled: nothing more is sent to it.</p>
<p>The last failure: {{webhook.reason}}</p>
<p>Once it answers again, enable it (<code>tickets webhooks update … --enable</code>) and send again what it missed
(<code>tickets webhooks deliveries … --status dead</code>, then <code>tickets webhooks retry msg_…</code>).</p>`),
    text: `Deliveries to {{webhook.url}} failed for three days, so {{org.name}}'s endpoint was disabled: nothing
more is sent to it.

The last failure: {{webhook.reason}}

Once it answers again, enable it (tickets webhooks update … --enable) and send again what it missed
(tickets webhooks deliveries … --status dead, then tickets webhooks retry msg_…).
-- tickets`,
    whatsapp: { body: [], qrHeader: false },
  },
  password_reset: {
    description: 'A password reset: a single-use token, valid for an hour',
    channels: ['email'],
    subject: 'Reset your password',
    html: layout(`<h1>Reset your password</h1>
<p>Hello {{buyer.name}}, someone (we hope you) asked to reset the password of this account.</p>
<p>Your reset token, valid once, until {{reset.expires}}:</p>
<p style="font-family:monospace;font-size:14px;word-break:break-all;background:#f4f4f4;padding:8px">{{reset.token}}</p>
<p><a href="{{reset.url}}" style="display:inline-block;background:#222;color:#fff;padding:10px 16px;text-decoration:none;border-radius:4px">Choose a new password</a></p>
<p>Or in a terminal: <code>tickets password reset --token {{reset.token}}</code>. Every session of the
account ends when it is changed.</p>
<p style="color:#666">Did not ask for this? Ignore it: your password stays as it is.</p>`),
    text: `Hello {{buyer.name}},

someone (we hope you) asked to reset the password of this account. Your reset token, valid once,
until {{reset.expires}}:

{{reset.token}}

Choose a new password here:  {{reset.url}}
or in a terminal:  tickets password reset --token {{reset.token}}
Every session of the account ends when it is changed.

Did not ask for this? Ignore it: your password stays as it is.
-- {{org.name}}`,
    whatsapp: { body: [], qrHeader: false },
  },
};

type Compiled = {
  subject: HandlebarsTemplateDelegate;
  html: HandlebarsTemplateDelegate;
  text: HandlebarsTemplateDelegate;
};
const compiled = new Map<TemplateName, Compiled>();

function compile(name: TemplateName): Compiled {
  let c = compiled.get(name);
  if (!c) {
    const def = TEMPLATES[name];
    // strict: a misspelt field fails the render (and the test) instead of printing nothing.
    c = {
      subject: Handlebars.compile(def.subject, { noEscape: true, strict: true }),
      html: Handlebars.compile(def.html, { strict: false }),
      text: Handlebars.compile(def.text, { noEscape: true }),
    };
    compiled.set(name, c);
  }
  return c;
}

export interface RenderedEmail {
  subject: string;
  html: string;
  text: string;
}

export function renderEmail(name: TemplateName, data: MessageData): RenderedEmail {
  const c = compile(name);
  return { subject: c.subject(data).replace(/\s+/g, ' ').trim(), html: c.html(data), text: c.text(data) };
}

/** A WhatsApp template's body parameters, read from the data by the template's paths. */
export function whatsappParameters(
  name: TemplateName,
  data: MessageData & { ticket?: TicketData },
): { text: string; body: string[] } {
  const def = TEMPLATES[name].whatsapp;
  const body = def.body.map((path) => {
    let value: unknown = data;
    for (const key of path.split('.')) value = (value as Record<string, unknown> | undefined)?.[key];
    return value == null ? '' : String(value);
  });
  return { body, text: `${renderEmail(name, data).subject}\n${body.filter(Boolean).join(' · ')}` };
}

/** Sample data for previews: what a real order for a real event would fill in. */
export function sampleData(): MessageData {
  const tickets: TicketData[] = [
    {
      id: 'tkt_01jd6x3k7qf0v8c6w2x9yq4e5b',
      holder_name: 'Ada Lovelace',
      type_name: 'General admission',
      code: 'SAMPLE',
      qr_cid: 'qr-1',
    },
    {
      id: 'tkt_01jd6x3k7qf0v8c6w2x9yq4e5c',
      holder_name: 'Charles Babbage',
      type_name: 'General admission',
      code: 'SAMPLE',
      qr_cid: 'qr-2',
    },
  ];
  return {
    org: { name: 'Analytical Events' },
    event: {
      id: 'evt_01jd6x3k7qf0v8c6w2x9yq4e5b',
      name: 'Difference Engine Live',
      starts: 'Sat 12 Dec 2026, 20:00 (Europe/London)',
      venue: 'Royal Albert Hall, London',
      cancelled: false,
    },
    buyer: { name: 'Ada Lovelace' },
    order: { id: 'ord_01jd6x3k7qf0v8c6w2x9yq4e5b', total: '€50.00', ticket_count: 2 },
    tickets,
    refund: { amount: '€25.00', reason: 'Cannot attend' },
    transfer: { holder_name: 'Charles Babbage', type_name: 'General admission', from_name: 'Ada Lovelace' },
    reminder: { hours: 24 },
    invitation: {
      inviter: 'Ada Lovelace',
      role: 'staff',
      token: 'inv_SAMPLE',
      expires: 'Sat 19 Dec 2026, 20:00 (UTC)',
    },
    webhook: { url: 'https://crm.example.com/tickets', reason: 'the endpoint answered 503' },
    reconciliation: {
      id: 'rec_01jd6x3k7qf0v8c6w2x9yq4e5b',
      day: '2026-12-03',
      mismatches: 2,
      kinds: 'refund_not_recorded, disputed',
    },
    reset: {
      token: 'pwr_SAMPLE',
      expires: 'Sat 12 Dec 2026, 21:00 (UTC)',
      url: 'https://tickets.example.com/api/auth/password-reset/page?token=pwr_SAMPLE',
    },
    campaign: {
      subject: 'Early birds: our spring season is on sale',
      paragraphs: [
        'Hello!',
        'The spring season is on sale, and as an earlier guest you get a week before everyone else.',
      ],
      unsubscribe_url: 'https://tickets.example.com/api/unsubscribe?token=SAMPLE',
    },
  };
}
