import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, startTestServer, type TestServer } from '../../server/test/harness.js';
import {
  ApiError,
  type Campaign,
  ConflictError,
  type ContactList,
  type Message,
  NotFoundError,
  type Tickets,
} from '../src/index.js';
import { organizerOnSale } from './setup.js';

/** Polls a campaign's recipients until every one matches, or fails after `ms` with what was last seen. */
async function waitForRecipients(
  tickets: Tickets,
  campaignId: string,
  count: number,
  done: (m: Message) => boolean,
  ms = 10_000,
): Promise<Message[]> {
  const deadline = Date.now() + ms;
  let seen: Message[] = [];
  while (Date.now() < deadline) {
    seen = await tickets.campaigns.recipients(campaignId).toArray();
    if (seen.length === count && seen.every(done)) return seen;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(
    `recipients did not settle within ${ms} ms; saw ${JSON.stringify(seen.map((m) => [m.recipient, m.status, m.last_error]))}`,
  );
}

/** A day from now, to the second. */
const inADay = () => new Date(Math.floor(Date.now() / 1000 + 24 * 3600) * 1000).toISOString();

describe.each(DIALECTS)('%s: contact lists and campaigns with the SDK', (dialect) => {
  let s: TestServer;
  let tickets: Tickets;
  let eventId: string;
  let optedIn: ContactList;
  let everyone: ContactList;
  let campaign: Campaign;

  beforeAll(async () => {
    s = await startTestServer(dialect);
    let typeId: string;
    ({ tickets, eventId, typeId } = await organizerOnSale(
      s,
      { email: `marketer-${dialect}@example.com`, name: 'Mia Marketer' },
      'SDK Campaign Night',
    ));
    const buy = (name: string, email: string, marketing_opt_in?: boolean) =>
      tickets.orders.purchase({
        event: eventId,
        items: [{ ticket_type: typeId, quantity: 1 }],
        buyer: { name, email, ...(marketing_opt_in === undefined ? {} : { marketing_opt_in }) },
        payment_method: 'manual',
      });
    await buy('Bea Buyer', 'Bea@Example.com', true);
    await buy('Olga Optin', 'olga@example.com', true);
    await buy('Otto Other', 'otto@example.com');
    await buy('Nina Nope', 'nina@example.com', false);
  });
  afterAll(() => s.stop());

  it("counts only the buyers who opted in on an event's opted-in list", async () => {
    optedIn = await tickets.lists.create({ name: 'Campaign Night fans', event: eventId });
    expect(optedIn).toMatchObject({
      object: 'contact_list',
      name: 'Campaign Night fans',
      event_id: eventId,
      opted_in_only: true,
      contacts: 2,
      sendgrid_list_id: null,
      synced_at: null,
    });
    expect(optedIn.id).toMatch(/^lst_/);
    expect(await tickets.lists.get(optedIn.id)).toEqual(optedIn);

    everyone = await tickets.lists.create({ name: 'Every buyer', event: eventId, opted_in_only: false });
    expect(everyone).toMatchObject({ opted_in_only: false, contacts: 4 });
    expect((await tickets.lists.list().toArray()).map((l) => l.id).sort()).toEqual(
      [optedIn.id, everyone.id].sort(),
    );
  });

  it("lists a list's addresses by e-mail, saying who opted in", async () => {
    expect(await tickets.lists.contacts(optedIn.id).toArray()).toEqual([
      { object: 'contact', email: 'bea@example.com', name: 'Bea Buyer', opted_in: true },
      { object: 'contact', email: 'olga@example.com', name: 'Olga Optin', opted_in: true },
    ]);
    const all = await tickets.lists.contacts(everyone.id, { limit: 1 }).toArray();
    expect(all.map((c) => [c.email, c.opted_in])).toEqual([
      ['bea@example.com', true],
      ['nina@example.com', false],
      ['olga@example.com', true],
      ['otto@example.com', false],
    ]);
  });

  it('refuses to sync a list when the server has no SendGrid key', async () => {
    const err = await tickets.lists.sync(optedIn.id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 501, code: 'provider_not_configured' });
  });

  it('creates a campaign as a draft with no recipients yet', async () => {
    campaign = await tickets.campaigns.create({
      name: 'Spring announcement',
      subject: 'New dates for spring',
      body: 'Hello!\n\nWe are back in April.',
      list: optedIn.id,
    });
    expect(campaign).toMatchObject({
      object: 'campaign',
      name: 'Spring announcement',
      subject: 'New dates for spring',
      list_id: optedIn.id,
      sendgrid_template_id: null,
      status: 'draft',
      send_at: null,
      sent_at: null,
      totals: {},
    });
    expect(campaign.id).toMatch(/^cmp_/);
    expect((await tickets.campaigns.list({ status: 'draft' }).toArray()).map((c) => c.id)).toEqual([
      campaign.id,
    ]);
    expect(await tickets.campaigns.recipients(campaign.id).toArray()).toEqual([]);
  });

  it('sends a campaign: one e-mail per opted-in buyer, queued and then sent to the local outbox', async () => {
    const sending = await tickets.campaigns.send(campaign.id);
    expect(['sending', 'sent']).toContain(sending.status);
    expect(sending.sent_at).not.toBeNull();
    expect(Object.values(sending.totals).reduce((a, b) => a + b, 0)).toBe(2);

    const sent = await waitForRecipients(tickets, campaign.id, 2, (m) => m.status === 'sent');
    expect(sent.map((m) => m.recipient).sort()).toEqual(['bea@example.com', 'olga@example.com']);
    for (const m of sent)
      expect(m).toMatchObject({
        channel: 'email',
        template: 'campaign',
        campaign_id: campaign.id,
        provider: 'file',
        subject: 'New dates for spring',
      });
    expect((await tickets.messages.get(sent[0]!.id)).history?.map((e) => e.status)).toEqual([
      'queued',
      'sent',
    ]);
    expect((await tickets.campaigns.get(campaign.id)).totals).toEqual({ sent: 2 });
    expect((await tickets.campaigns.recipients(campaign.id, { status: 'queued' }).toArray()).length).toBe(0);
    expect(
      (await tickets.messages.list({ campaign: campaign.id, recipient: 'bea@example.com' }).toArray()).length,
    ).toBe(1);
  });

  it('puts a one-click unsubscribe link in every marketing e-mail, which takes the address off the list', async () => {
    const [message] = await tickets.campaigns
      .recipients(campaign.id, { recipient: 'olga@example.com' })
      .toArray();
    const eml = readFileSync(join(s.config.messaging.outboxDir, `${message!.id}.eml`), 'utf8');
    // Long headers are folded onto indented lines; unfold them to read one whole.
    const headers = eml.slice(0, eml.indexOf('\n\n')).replace(/\n[ \t]+/g, ' ');
    const link = /^List-Unsubscribe: <(\S+\/api\/unsubscribe\?token=[^>]+)>$/im.exec(headers)?.[1];
    expect(link, headers).toBeDefined();
    expect(headers).toMatch(/^List-Unsubscribe-Post: List-Unsubscribe=One-Click$/im);

    // Opening the link (a mail scanner may) only asks; the one-click POST, or the page's button, unsubscribes.
    const opened = await fetch(link!);
    expect(opened.status).toBe(200);
    expect(await opened.text()).toContain('<form method="post"');
    expect((await tickets.lists.get(optedIn.id)).contacts).toBe(2);
    const clicked = await fetch(link!, { method: 'POST' });
    expect(clicked.status).toBe(200);
    expect((await tickets.lists.get(optedIn.id)).contacts).toBe(1);
    expect((await tickets.lists.contacts(optedIn.id).toArray()).map((c) => c.email)).toEqual([
      'bea@example.com',
    ]);
    expect(await tickets.messages.suppressions.list({ channel: 'email' }).toArray()).toEqual([
      expect.objectContaining({ address: 'olga@example.com', reason: 'unsubscribe' }),
    ]);
  });

  it('refuses to send or cancel a campaign whose messages have all gone out', async () => {
    for (const call of [
      () => tickets.campaigns.send(campaign.id),
      () => tickets.campaigns.cancel(campaign.id),
    ]) {
      const err = await call().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConflictError);
      expect(err).toMatchObject({ status: 409 });
    }
    expect((await tickets.campaigns.get(campaign.id)).totals).toEqual({ sent: 2 });
  });

  it('schedules a campaign with a send_at in the future, and cancels it before it goes out', async () => {
    const sendAt = inADay();
    const scheduled = await tickets.campaigns.create({
      name: 'Summer teaser',
      subject: 'Summer is coming',
      body: 'Save the date.',
      list: optedIn.id,
      send_at: sendAt,
    });
    expect(scheduled).toMatchObject({ status: 'scheduled', sent_at: null, totals: {} });
    expect(Date.parse(scheduled.send_at!)).toBe(Date.parse(sendAt));

    const cancelled = await tickets.campaigns.cancel(scheduled.id);
    expect(cancelled).toMatchObject({ id: scheduled.id, status: 'cancelled', sent_at: null, totals: {} });
    expect(await tickets.campaigns.recipients(scheduled.id).toArray()).toEqual([]);
    expect((await tickets.campaigns.list({ status: 'cancelled' }).toArray()).map((c) => c.id)).toEqual([
      scheduled.id,
    ]);
  });

  it('refuses to delete a list a campaign uses, and deletes one no campaign does', async () => {
    const err = await tickets.lists.delete(optedIn.id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect(err).toMatchObject({ status: 409 });
    expect((await tickets.lists.get(optedIn.id)).id).toBe(optedIn.id);

    expect(await tickets.lists.delete(everyone.id)).toMatchObject({ id: everyone.id, deleted: true });
    await expect(tickets.lists.get(everyone.id)).rejects.toBeInstanceOf(NotFoundError);
  });
});
