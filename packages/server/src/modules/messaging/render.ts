import type { TemplateName } from '@tickets/sdk';
import type { Selectable } from 'kysely';
import sharp from 'sharp';
import type { Db } from '../../db/database.js';
import { FIRST_CODE_VERSION, type OutboxTable } from '../../db/schema.js';
import { memoize } from '../../memo.js';
import { qrPng, ticketsPdf } from '../../render/pool.js';
import { accountToken } from '../accounts/account-tokens.js';
import { formatMoney } from '../invoices/pdf.js';
import { eventCalendar } from './calendar.js';
import { type MergeValues, merge, mergeValues } from './merge-fields.js';
import {
  type MessageData,
  NO_EVENT,
  renderEmail,
  TEMPLATES,
  type TicketData,
  whatsappParameters,
} from './templates.js';
import type { Attachment, EmailMessage, WhatsAppRequest } from './transport.js';
import type { Unsubscribes } from './unsubscribe.js';

/** An event's cover as messages show it: JPEG at the `email` preset (a banner) and at the `card` preset. */
export interface Covers {
  forMessages(eventId: string): Promise<{ alt: string; email: Buffer | null; card: Buffer | null } | null>;
}

/** Orders of more tickets than this get their codes in the PDF only, not as inline images too. */
export const INLINE_CODES = 10;

export type OutboxRow = Selectable<OutboxTable>;

/** What the worker sends for a row, or why it should not be sent any more. */
export type Rendered =
  | { channel: 'email'; email: EmailMessage }
  | { channel: 'whatsapp'; whatsapp: WhatsAppRequest }
  | { cancel: string }
  /** Not yet: try again later (a refund the provider has not confirmed). */
  | { defer: string };

/** Inline QR images' size; the pool keeps them (a confirmation, its reminder and a resend show the same codes). */
const QR_SIZE = 360;

// Making a DateTimeFormat costs far more than using one: one per time zone, kept.
const formatIn = memoize(
  500,
  (timeZone) =>
    new Intl.DateTimeFormat('en-GB', {
      weekday: 'short',
      day: 'numeric',
      month: 'short',
      year: 'numeric',
      hour: '2-digit',
      minute: '2-digit',
      timeZone,
    }),
);
/** "Sat, 12 Dec 2026, 20:00 (Europe/London)": in the event's own time zone, where the buyer will be. */
export function eventTime(iso: string, timeZone: string): string {
  return `${formatIn(timeZone).format(new Date(iso))} (${timeZone})`;
}

/** A campaign's name as a `utm_campaign` value: lower case, words joined by hyphens. */
export const campaignSlug = (name: string): string =>
  name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 100) || 'campaign';

/**
 * The web links in a campaign's text, tagged with where the reader came from (utm_source=tickets,
 * utm_medium=email, utm_campaign=<its name>), so a purchase they lead to is attributed to the campaign
 * (the storefront passes them on as `attribution`). Parameters a link already has are kept.
 */
export function tagLinks(text: string, campaignName: string): string {
  return text.replace(/\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/g, (link) => {
    let url: URL;
    try {
      url = new URL(link);
    } catch {
      return link;
    }
    const tags = { utm_source: 'tickets', utm_medium: 'email', utm_campaign: campaignSlug(campaignName) };
    for (const [k, v] of Object.entries(tags)) if (!url.searchParams.has(k)) url.searchParams.set(k, v);
    return url.toString();
  });
}

/** A campaign's message data for one recipient: its subject and paragraphs with their merge fields filled. */
export function campaignData(
  campaign: { name: string; subject: string; body: string; org_name: string },
  values: MergeValues,
  unsubscribeUrl: string,
): MessageData {
  return {
    org: { name: campaign.org_name },
    event: NO_EVENT,
    buyer: { name: values.name },
    campaign: {
      subject: merge(campaign.subject, values),
      paragraphs: tagLinks(merge(campaign.body, values), campaign.name)
        .split(/\n\s*\n/)
        .map((p) => p.trim())
        .filter(Boolean),
      unsubscribe_url: unsubscribeUrl,
    },
  };
}

/**
 * Renders outbox rows into messages from the data as it is when they are sent — so a ticket transferred or
 * refunded since the order shows its current state, and a reminder for a refunded order is not sent at all.
 */
export class Renderer {
  constructor(
    private readonly db: Db,
    private readonly options: {
      from: string;
      language: string;
      unsubscribes: Unsubscribes;
      /** Where links in e-mails point (TICKETS_PUBLIC_URL, or the server's own address). */
      baseUrl: string;
      /** Events' covers (the media provider): the confirmation's banner, the PDF's, WhatsApp's header. */
      covers?: Covers;
    },
  ) {}

  private get k() {
    return this.db.kysely;
  }

  async render(row: OutboxRow): Promise<Rendered> {
    const template = row.kind as TemplateName;
    if (!(template in TEMPLATES) || !row.channel || !row.recipient)
      return { cancel: `unknown message kind ${row.kind}` };
    if (template === 'campaign') return this.campaign(row);
    if (template === 'invitation' || template === 'password_reset') return this.account(row, template);
    if (template === 'webhook_disabled' || template === 'reconciliation_mismatches')
      return this.notice(row, template);
    const loaded = await this.load(row, template);
    if ('cancel' in loaded || 'defer' in loaded) return loaded;
    const { data, orgName } = loaded;
    if (row.channel === 'whatsapp')
      return { channel: 'whatsapp', whatsapp: await this.whatsapp(row, template, data) };
    return { channel: 'email', email: await this.email(row, template, data, orgName) };
  }

  private async email(
    row: OutboxRow,
    template: TemplateName,
    data: MessageData,
    orgName: string,
  ): Promise<EmailMessage> {
    // A large order's codes travel only in its PDF (one page each): an inline image per ticket made a
    // 500-ticket e-mail 7 MB, rendered on the server's main thread.
    if ((data.tickets?.length ?? 0) > INLINE_CODES)
      data = { ...data, tickets: data.tickets!.map((t) => ({ ...t, qr_cid: '' })) };
    const attachments: Attachment[] = [];
    if (template === 'order_confirmation') {
      // The cover as the banner, attached inline (shown without "load remote images", and from a
      // server on a private network too), and on the PDF's pages.
      const cover = await this.options.covers?.forMessages(data.event.id);
      if (cover?.email) {
        const cid = `cover-${data.event.id}`;
        attachments.push({
          filename: 'cover.jpg',
          contentType: 'image/jpeg',
          content: cover.email,
          contentId: cid,
        });
        data = { ...data, event: { ...data.event, banner: { cid, alt: cover.alt || data.event.name } } };
      }
      if (cover?.card) data = { ...data, event: { ...data.event, cover: cover.card } };
    }
    const { subject, html, text } = renderEmail(template, data);
    for (const ticket of (data.tickets ?? []).filter((t) => t.qr_cid)) {
      const png = await qrPng(ticket.code, QR_SIZE);
      attachments.push({
        filename: `${ticket.id}.png`,
        contentType: 'image/png',
        content: png,
        contentId: ticket.qr_cid,
      });
    }
    if (template === 'event_rescheduled') {
      const event = await this.k
        .selectFrom('events')
        .select(['id', 'name', 'starts_at', 'ends_at', 'venue_name', 'venue_city', 'updated_at'])
        .where('id', '=', data.event.id)
        .executeTakeFirstOrThrow();
      const venue = [event.venue_name, event.venue_city].filter(Boolean).join(', ') || null;
      attachments.push({
        filename: 'event.ics',
        contentType: 'text/calendar; method=PUBLISH',
        content: eventCalendar({ ...event, venue }, orgName),
      });
    }
    if (template === 'order_confirmation' && data.tickets?.length)
      attachments.push({
        filename: `tickets-${data.order?.id ?? row.id}.pdf`,
        contentType: 'application/pdf',
        content: await ticketsPdf(data),
      });
    const mapped = await this.k
      .selectFrom('message_templates')
      .select('sendgrid_template_id')
      .where('org_id', '=', row.org_id)
      .where('template', '=', template)
      .executeTakeFirst();
    const replyTo = await this.replyTo(row.org_id);
    return {
      messageId: row.id,
      to: { email: row.recipient as string },
      from: { email: this.options.from, name: orgName },
      ...(replyTo ? { replyTo } : {}),
      subject,
      html,
      text,
      attachments,
      categories: [template],
      ...(mapped
        ? {
            dynamicTemplate: {
              id: mapped.sendgrid_template_id,
              // The PDF's cover bytes are no template's business.
              data: { ...data, event: { ...data.event, cover: undefined }, subject },
            },
          }
        : {}),
    };
  }

  /**
   * A campaign's e-mail: the organizer's text with the recipient's merge fields, and an unsubscribe link
   * (also as List-Unsubscribe, one click). A test send (payload.test_of) is marked and merged with a
   * contact of the list, so the organizer sees what a recipient will.
   */
  private async campaign(row: OutboxRow): Promise<Rendered> {
    const payload = JSON.parse(row.payload) as {
      name?: string;
      test_of?: string;
      as_email?: string;
      as_name?: string;
    };
    const found = await this.k
      .selectFrom('campaigns')
      .innerJoin('organizations', 'organizations.id', 'campaigns.org_id')
      .select([
        'campaigns.name',
        'campaigns.subject',
        'campaigns.body',
        'campaigns.status',
        'campaigns.sendgrid_template_id',
        'organizations.name as org_name',
      ])
      .where('campaigns.id', '=', row.campaign_id ?? payload.test_of ?? '')
      .executeTakeFirst();
    if (!found) return { cancel: 'campaign deleted' };
    if (found.status === 'cancelled' && !payload.test_of) return { cancel: 'campaign cancelled' };
    const recipient = row.recipient as string;
    const unsubscribeUrl = await this.options.unsubscribes.url(row.org_id, recipient);
    const values = await mergeValues(
      this.k,
      row.org_id,
      row.event_id,
      payload.as_email
        ? { email: payload.as_email, name: payload.as_name ?? '' }
        : { email: recipient, name: payload.name ?? '' },
    );
    const data = campaignData(found, values, unsubscribeUrl);
    if (payload.test_of) data.campaign!.subject = `[Test] ${data.campaign!.subject}`;
    const { subject, html, text } = renderEmail('campaign', data);
    const replyTo = await this.replyTo(row.org_id);
    return {
      channel: 'email',
      email: {
        messageId: row.id,
        to: { email: recipient, ...(payload.name ? { name: payload.name } : {}) },
        from: { email: this.options.from, name: found.org_name },
        ...(replyTo ? { replyTo } : {}),
        subject,
        html,
        text,
        attachments: [],
        categories: ['campaign'],
        unsubscribeUrl,
        ...(found.sendgrid_template_id
          ? { dynamicTemplate: { id: found.sendgrid_template_id, data: { ...data, subject } } }
          : {}),
      },
    };
  }

  /**
   * Where a buyer's reply goes: the organization's contact address, or else its owner (the first one),
   * so an answer to a confirmation or a campaign reaches a person rather than the no-reply sender.
   * Looked up once a minute at most.
   */
  private readonly replyTo = memoize(
    1000,
    (orgId: string) =>
      this.k
        .selectFrom('organizations')
        .select((eb) => [
          'organizations.contact_email',
          eb
            .selectFrom('memberships')
            .innerJoin('users', 'users.id', 'memberships.user_id')
            .select('users.email')
            .whereRef('memberships.org_id', '=', 'organizations.id')
            .where('memberships.role', '=', 'owner')
            .orderBy('memberships.created_at')
            .limit(1)
            .as('owner_email'),
        ])
        .where('organizations.id', '=', orgId)
        .executeTakeFirst()
        .then((r) => r?.contact_email ?? r?.owner_email ?? null),
    { ttlMs: 60_000 },
  );

  /**
   * A notice to an owner, its facts in the payload: a webhook endpoint disabled (its URL and why), or
   * last night's reconciliation's mismatches.
   */
  private async notice(
    row: OutboxRow,
    template: 'webhook_disabled' | 'reconciliation_mismatches',
  ): Promise<Rendered> {
    const payload = JSON.parse(row.payload) as {
      url?: string;
      reason?: string;
      reconciliation_id?: string;
      day?: string;
      mismatches?: number;
      kinds?: string;
    };
    const org = await this.k
      .selectFrom('organizations')
      .select('name')
      .where('id', '=', row.org_id)
      .executeTakeFirst();
    if (!org) return { cancel: 'organization deleted' };
    const data: MessageData = {
      org: { name: org.name },
      event: NO_EVENT,
      buyer: { name: '' },
      webhook: { url: payload.url ?? '', reason: payload.reason ?? '' },
      reconciliation: {
        id: payload.reconciliation_id ?? '',
        day: payload.day ?? '',
        mismatches: payload.mismatches ?? 0,
        kinds: payload.kinds ?? '',
      },
    };
    const { subject, html, text } = renderEmail(template, data);
    return {
      channel: 'email',
      email: {
        messageId: row.id,
        to: { email: row.recipient as string },
        from: { email: this.options.from, name: 'tickets' },
        subject,
        html,
        text,
        attachments: [],
        categories: [template],
      },
    };
  }

  /**
   * An account e-mail (an invitation, a password reset): its token is derived again from the row's id
   * (see accounts/account-tokens.ts) — the outbox never holds it — and one no longer usable is not sent.
   */
  private async account(row: OutboxRow, template: 'invitation' | 'password_reset'): Promise<Rendered> {
    const payload = JSON.parse(row.payload) as { invitation_id?: string; reset_id?: string };
    const org = await this.k
      .selectFrom('organizations')
      .select('name')
      .where('id', '=', row.org_id)
      .executeTakeFirst();
    if (!org) return { cancel: 'organization deleted' };
    const now = new Date().toISOString();
    const data: MessageData = { org: { name: org.name }, event: NO_EVENT, buyer: { name: '' } };
    if (template === 'invitation') {
      const invitation = await this.k
        .selectFrom('invitations')
        .leftJoin('users', 'users.id', 'invitations.invited_by')
        .select([
          'invitations.id',
          'invitations.role',
          'invitations.status',
          'invitations.expires_at',
          'users.name',
        ])
        .where('invitations.id', '=', payload.invitation_id ?? '')
        .executeTakeFirst();
      if (invitation?.status !== 'pending' || invitation.expires_at <= now)
        return { cancel: 'the invitation was revoked, accepted or has expired' };
      data.invitation = {
        inviter: invitation.name ?? org.name,
        role: invitation.role,
        token: await accountToken(this.db, 'invitation', invitation.id),
        expires: eventTime(invitation.expires_at, 'UTC'),
      };
    } else {
      const reset = await this.k
        .selectFrom('password_resets')
        .innerJoin('users', 'users.id', 'password_resets.user_id')
        .select(['password_resets.id', 'password_resets.used_at', 'password_resets.expires_at', 'users.name'])
        .where('password_resets.id', '=', payload.reset_id ?? '')
        .executeTakeFirst();
      if (!reset || reset.used_at !== null || reset.expires_at <= now)
        return { cancel: 'the reset token was used or has expired' };
      data.buyer = { name: reset.name };
      const token = await accountToken(this.db, 'password_reset', reset.id);
      data.reset = {
        token,
        expires: eventTime(reset.expires_at, 'UTC'),
        url: `${this.options.baseUrl.replace(/\/$/, '')}/api/auth/password-reset/page?token=${encodeURIComponent(token)}`,
      };
    }
    const { subject, html, text } = renderEmail(template, data);
    return {
      channel: 'email',
      email: {
        messageId: row.id,
        to: { email: row.recipient as string },
        from: { email: this.options.from, name: org.name },
        subject,
        html,
        text,
        attachments: [],
        categories: [template],
      },
    };
  }

  private async whatsapp(
    row: OutboxRow,
    template: TemplateName,
    data: MessageData,
  ): Promise<WhatsAppRequest> {
    const ticket = data.tickets?.[0];
    const def = TEMPLATES[template].whatsapp;
    const { body, text } = whatsappParameters(template, { ...data, ...(ticket ? { ticket } : {}) });
    return {
      messageId: row.id,
      to: row.recipient as string,
      template: { name: template, language: this.options.language, bodyParameters: body },
      text,
      ...(def.qrHeader && ticket
        ? {
            image: {
              filename: `${ticket.id}.png`,
              contentType: 'image/png',
              content: await this.headerImage(data.event.id, await qrPng(ticket.code, QR_SIZE)),
            },
          }
        : {}),
      ...(def.buttons && ticket
        ? { buttons: def.buttons.map((b) => ({ id: `${b.id}:${ticket.id}`, title: b.title })) }
        : {}),
    };
  }

  /**
   * WhatsApp's header image: the ticket's QR code, under the event's cover when it has one (one image:
   * a template has one header, and the code is what the door needs).
   */
  private async headerImage(eventId: string, qr: Buffer): Promise<Buffer> {
    const cover = await this.options.covers?.forMessages(eventId);
    if (!cover?.email) return qr;
    const banner = await sharp(cover.email).resize(600, 240, { fit: 'cover' }).toBuffer();
    return sharp({ create: { width: 600, height: 240 + QR_SIZE + 40, channels: 3, background: '#ffffff' } })
      .composite([
        { input: banner, top: 0, left: 0 },
        { input: qr, top: 240 + 20, left: (600 - QR_SIZE) / 2 },
      ])
      .png()
      .toBuffer();
  }

  private async load(
    row: OutboxRow,
    template: TemplateName,
  ): Promise<{ data: MessageData; orgName: string } | { cancel: string } | { defer: string }> {
    const payload = JSON.parse(row.payload) as Record<string, string | undefined>;
    // The event with its organization and the order in one statement, and the tickets beside it.
    const [found, ticketRows] = await Promise.all([
      this.k
        .selectFrom('events')
        .innerJoin('organizations', 'organizations.id', 'events.org_id')
        .leftJoin('orders', (join) => join.on('orders.id', '=', row.order_id ?? ''))
        .select([
          'organizations.name as org_name',
          'events.id as event_id',
          'events.name as event_name',
          'events.starts_at',
          'events.timezone',
          'events.venue_name',
          'events.venue_city',
          'events.status as event_status',
          'orders.id as order_id',
          'orders.buyer_name',
          'orders.total_amount',
          'orders.currency',
        ])
        .where('events.id', '=', row.event_id ?? '')
        .where('events.org_id', '=', row.org_id)
        .executeTakeFirst(),
      this.k
        .selectFrom('tickets')
        .innerJoin('ticket_types', 'ticket_types.id', 'tickets.ticket_type_id')
        .select([
          'tickets.id',
          'tickets.holder_name',
          'tickets.holder_email',
          'tickets.code',
          'tickets.code_version',
          'tickets.status',
          'ticket_types.name as type_name',
        ])
        .$if(row.ticket_id !== null, (q) => q.where('tickets.id', '=', row.ticket_id as string))
        .$if(row.ticket_id === null, (q) => q.where('tickets.order_id', '=', row.order_id ?? ''))
        .orderBy('tickets.id')
        .execute(),
    ]);
    if (!found) return { cancel: 'event deleted' };
    const org = { name: found.org_name };
    const event = {
      id: found.event_id,
      name: found.event_name,
      starts_at: found.starts_at,
      timezone: found.timezone,
      venue_name: found.venue_name,
      venue_city: found.venue_city,
      status: found.event_status,
    };
    const order =
      found.order_id !== null
        ? {
            id: found.order_id,
            buyer_name: found.buyer_name as string,
            total_amount: found.total_amount as number,
            currency: found.currency as string,
          }
        : undefined;
    // A transferred ticket (its code version raised) belongs to its holder now: only a message to the
    // holder's e-mail carries it. The buyer's confirmations and reminders, and WhatsApp messages to the
    // buyer's phone, leave it out — a resend must not mail the new holder's code to the old one.
    const to = (row.recipient ?? '').toLowerCase();
    const valid = ticketRows.filter(
      (t) =>
        t.status === 'valid' &&
        (t.code_version === FIRST_CODE_VERSION || t.holder_email?.toLowerCase() === to),
    );
    // A per-ticket message about a ticket transferred away from the recipient is not sent at all.
    const away = ticketRows.find(
      (t) => t.code_version > FIRST_CODE_VERSION && t.holder_email?.toLowerCase() !== to,
    );
    if (row.ticket_id !== null && away) return { cancel: 'the ticket was transferred to someone else' };
    const tickets: TicketData[] = valid.map((t) => ({
      id: t.id,
      holder_name: t.holder_name,
      type_name: t.type_name,
      code: t.code,
      qr_cid: `qr-${t.id}`,
    }));
    const venue = [event.venue_name, event.venue_city].filter(Boolean).join(', ') || null;
    const data: MessageData = {
      org: { name: org.name },
      event: {
        id: event.id,
        name: event.name,
        starts: eventTime(event.starts_at, event.timezone),
        venue,
        cancelled: event.status === 'cancelled',
      },
      buyer: { name: order?.buyer_name ?? ticketRows[0]?.holder_name ?? '' },
      tickets,
    };
    if (order)
      data.order = {
        id: order.id,
        total: formatMoney(order.total_amount, order.currency),
        ticket_count: tickets.length,
      };

    switch (template) {
      case 'order_confirmation':
      case 'event_reminder':
        if (!tickets.length) return { cancel: 'no valid tickets left on the order' };
        if (event.status === 'cancelled') return { cancel: 'the event is cancelled' };
        if (template === 'event_reminder' && Date.parse(event.starts_at) < Date.now())
          return { cancel: 'the event has started' };
        break;
      case 'transfer_notice': {
        const ticket = ticketRows[0];
        if (ticket?.status !== 'valid') return { cancel: 'the ticket is no longer valid' };
        if (ticket.holder_email && ticket.holder_email.toLowerCase() !== row.recipient)
          return { cancel: 'the ticket was transferred again' };
        data.transfer = {
          holder_name: ticket.holder_name,
          type_name: ticket.type_name,
          from_name: payload.from_name ?? order?.buyer_name ?? 'Someone',
        };
        data.buyer = { name: ticket.holder_name };
        break;
      }
      case 'refund_confirmation': {
        const refund = payload.refund_id
          ? await this.k
              .selectFrom('refunds')
              .selectAll()
              .where('id', '=', payload.refund_id)
              .executeTakeFirst()
          : undefined;
        if (!refund) return { cancel: 'refund not found' };
        if (refund.status === 'failed') return { cancel: 'the refund failed' };
        if (refund.status === 'pending')
          return { defer: 'waiting for the payment provider to confirm the refund' };
        data.refund = { amount: formatMoney(refund.amount, refund.currency), reason: refund.reason };
        data.tickets = [];
        break;
      }
      case 'event_cancelled':
        data.tickets = [];
        data.cancellation = { message: payload.message, refunding: payload.refund === 'all' };
        break;
      case 'event_rescheduled':
        // Told as the event is when sent: a later change sends its own notice; a cancellation, its own.
        if (event.status === 'cancelled') return { cancel: 'the event is cancelled' };
        if (!tickets.length) return { cancel: 'no valid tickets left on the order' };
        data.tickets = [];
        break;
    }
    return { data, orgName: org.name };
  }
}
