import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INLINE_CODES } from '../src/modules/messaging/render.js';
import { backoffMs } from '../src/modules/messaging/worker.js';
import { type FakeSendGrid, startFakeSendGrid } from './fakes/sendgrid.js';
import { type FakeSmtp, startFakeSmtp } from './fakes/smtp.js';
import { type FakeWhatsApp, startFakeWhatsApp } from './fakes/whatsapp.js';
import { DIALECTS, eventOnSale, http, signUp, startTestServer, type TestServer, waitFor } from './harness.js';
import { pdfText } from './readback.js';

type Call = ReturnType<typeof http>;

/** A published event with one ticket type, and a way to sell it at the box office. */
async function boxOffice(s: TestServer) {
  const call = http(s.url);
  const { token } = await signUp(s.url);
  const {
    eventId,
    typeIds: [typeId],
  } = await eventOnSale(s.url, token, {}, [{ name: 'General admission', amount: 2500, capacity: 500 }]);
  const sell = async (
    buyer: { name: string; email: string; phone?: string; marketing_opt_in?: boolean },
    quantity = 1,
  ) => {
    const res = await call('POST', '/api/tickets/purchase', {
      token,
      body: {
        event: eventId,
        items: [{ ticket_type: typeId, quantity }],
        buyer,
        payment_method: 'manual',
      },
    });
    expect(res.status).toBe(201);
    return res.body as { id: string; event_id: string; tickets: { id: string; code: string }[] };
  };
  return { call, token, eventId, sell };
}

const messagesOf = (call: Call, token: string, query: string) =>
  call('GET', `/api/messages?${query}`, { token }).then((r) => {
    expect(r.status).toBe(200);
    return r.body.data as {
      ticket_id: string | null;
      id: string;
      status: string;
      attempts: number;
      template: string;
      channel: string;
      recipient: string;
      last_error: string | null;
      provider_message_id: string | null;
    }[];
  });

describe('backoff', () => {
  it('doubles per attempt with full jitter, capped at an hour', () => {
    expect(backoffMs(1, 1000, () => 0)).toBe(500);
    expect(backoffMs(1, 1000, () => 1)).toBe(1000);
    expect(backoffMs(4, 1000, () => 1)).toBe(8000);
    expect(backoffMs(40, 1000, () => 1)).toBe(3600_000);
  });
});

describe.each(DIALECTS)('%s: messages through the local outbox (no provider)', (dialect) => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer(dialect);
  });
  afterAll(() => s.stop());

  it('mails the tickets of a paid order as an .eml with inline QR codes and a PDF, and lists the message', async () => {
    const { call, token, sell } = await boxOffice(s);
    const order = await sell({ name: 'Olga Outbox', email: 'Olga@Example.com' }, 2);
    const [message] = await waitFor(
      () => messagesOf(call, token, `order=${order.id}`),
      (m) => m.length === 1 && m[0]?.status === 'sent',
    );
    expect(message).toMatchObject({
      channel: 'email',
      template: 'order_confirmation',
      recipient: 'olga@example.com',
      attempts: 1,
    });
    const files = await readdir(join(s.config.dataDir, 'outbox'));
    expect(files).toContain(`${message?.id}.eml`);
    const mail = await simpleParser(await readFile(join(s.config.dataDir, 'outbox', `${message?.id}.eml`)), {
      keepCidLinks: true,
    });
    expect(mail.subject).toBe('Your tickets for Jazz Night');
    expect(mail.to && 'text' in mail.to ? mail.to.text : '').toContain('olga@example.com');
    expect(mail.text).toContain(order.id);
    for (const ticket of order.tickets) {
      expect(mail.html || '').toContain(`cid:qr-${ticket.id}`);
      expect(mail.attachments.some((a) => a.cid === `qr-${ticket.id}` && a.contentType === 'image/png')).toBe(
        true,
      );
    }
    const pdf = mail.attachments.find((a) => a.contentType === 'application/pdf');
    expect(pdf?.content.subarray(0, 5).toString()).toBe('%PDF-');

    const shown = await call('GET', `/api/messages/${message?.id}`, { token });
    expect(shown.body.history.map((h: { status: string }) => h.status)).toEqual(['queued', 'sent']);
    expect(shown.body.provider).toBe('file');
  });

  it('mails a large order its codes in the PDF only, one page a ticket, without an inline image each', async () => {
    const { call, token, sell } = await boxOffice(s);
    const order = await sell({ name: 'Lars Large', email: 'lars@example.com' }, INLINE_CODES + 2);
    const [message] = await waitFor(
      () => messagesOf(call, token, `order=${order.id}`),
      (m) => m.length === 1 && m[0]?.status === 'sent',
    );
    const mail = await simpleParser(await readFile(join(s.config.dataDir, 'outbox', `${message?.id}.eml`)), {
      keepCidLinks: true,
    });
    expect(mail.attachments.map((a) => a.contentType)).toEqual(['application/pdf']);
    expect(mail.html || '').not.toContain('cid:');
    expect(mail.html || '').toContain('Its code is on its page of the attached PDF.');
    const pages = (await pdfText(mail.attachments[0]!.content)).split('\f');
    expect(pages).toHaveLength(INLINE_CODES + 2);
    for (const ticket of order.tickets) expect(mail.text).toContain(ticket.id);
  });

  it('writes WhatsApp messages to the outbox folder too, with the QR image beside them', async () => {
    const { call, token, sell } = await boxOffice(s);
    const order = await sell({ name: 'Fio File', email: 'fio@example.com', phone: '+441632960961' });
    const [m] = await waitFor(
      () => messagesOf(call, token, `order=${order.id}&channel=whatsapp`),
      (l) => l[0]?.status === 'sent',
    );
    const dir = join(s.config.dataDir, 'outbox');
    const json = JSON.parse(await readFile(join(dir, `${m?.id}.whatsapp.json`), 'utf8'));
    expect(json).toMatchObject({
      to: '+441632960961',
      template: { name: 'order_confirmation', language: 'en' },
      image: `${m?.id}.whatsapp.png`,
    });
    expect(json.template.bodyParameters).toContain('Fio File');
    const png = await readFile(join(dir, `${m?.id}.whatsapp.png`));
    expect(png.subarray(1, 4).toString()).toBe('PNG');
  });

  it('buries a message whose worker died on its last attempt instead of taking it over again', async () => {
    const { call, token, sell } = await boxOffice(s);
    const order = await sell({ name: 'Cora Crash', email: 'cora@example.com' });
    const [m] = await waitFor(
      () => messagesOf(call, token, `order=${order.id}`),
      (l) => l[0]?.status === 'sent',
    );
    // As if a worker had claimed it for the eighth time and died mid-send a while ago.
    await s.db.kysely
      .updateTable('outbox')
      .set({ status: 'sending', attempts: 8, lease_until: '2020-01-01T00:00:00.000Z' })
      .where('id', '=', m?.id as string)
      .execute();
    const [dead] = await waitFor(
      () => messagesOf(call, token, `order=${order.id}`),
      (l) => l[0]?.status === 'dead',
    );
    expect(dead?.attempts).toBe(8);
    expect(dead?.last_error).toContain('stopped');
  });

  it('tells the new holder of a transfer, the buyer of a refund, everyone of a cancellation, and reminds before the start', async () => {
    const { call, token, eventId, sell } = await boxOffice(s);
    const eml = async (id: string) =>
      simpleParser(await readFile(join(s.config.dataDir, 'outbox', `${id}.eml`)), { keepCidLinks: true });
    const first = await sell({ name: 'Tom Transfer', email: 'tom@example.com' }, 2);
    const second = await sell({ name: 'Rita Refund', email: 'rita@example.com' });

    const moved = await call('PUT', `/api/tickets/${first.tickets[0]?.id}/transfer`, {
      token,
      body: { name: 'Nora New', email: 'nora@example.com' },
    });
    expect(moved.status).toBe(200);
    const [notice] = await waitFor(
      () => messagesOf(call, token, 'template=transfer_notice&recipient=nora@example.com'),
      (l) => l[0]?.status === 'sent',
    );
    const noticeMail = await eml(notice?.id as string);
    expect(noticeMail.subject).toBe('Tom Transfer sent you a ticket for Jazz Night');
    // The new code, not the one the transfer replaced.
    expect(noticeMail.attachments.map((a) => a.cid)).toEqual([`qr-${first.tickets[0]?.id}`]);

    // A resend gives the buyer what is still theirs, and the transferred ticket to its holder only.
    const resent = await call('POST', `/api/orders/${first.id}/resend`, { token });
    expect(resent.status).toBe(201);
    expect(
      resent.body.data.map((m: { template: string; recipient: string }) => `${m.template} ${m.recipient}`),
    ).toEqual(['order_confirmation tom@example.com', 'transfer_notice nora@example.com']);
    const sentAgain = await waitFor(
      () =>
        Promise.all(
          resent.body.data.map((m: { id: string }) => call('GET', `/api/messages/${m.id}`, { token })),
        ),
      (l) => l.every((r) => r.body.status === 'sent'),
    );
    const toBuyer = await eml(sentAgain[0]!.body.id);
    expect(toBuyer.attachments.filter((a) => a.cid).map((a) => a.cid)).toEqual([
      `qr-${first.tickets[1]?.id}`,
    ]);
    expect(toBuyer.html || '').not.toContain(first.tickets[0]!.id);
    const toHolder = await eml(sentAgain[1]!.body.id);
    expect(toHolder.attachments.filter((a) => a.cid).map((a) => a.cid)).toEqual([
      `qr-${first.tickets[0]?.id}`,
    ]);

    const refunded = await call('POST', `/api/orders/${second.id}/refund`, {
      token,
      body: { reason: 'Cannot come' },
    });
    expect(refunded.status).toBe(201);
    const [refundMessage] = await waitFor(
      () => messagesOf(call, token, `order=${second.id}&template=refund_confirmation`),
      (l) => l[0]?.status === 'sent',
    );
    const refundMail = await eml(refundMessage?.id as string);
    expect(refundMail.text).toContain('€25.00');
    expect(refundMail.text).toContain('Cannot come');

    // Within TICKETS_REMINDER_HOURS (24) of the start: every paid order is reminded, once.
    const soon = new Date(Date.now() + 2 * 3600_000);
    const moveStart = await call('PUT', `/api/events/${eventId}`, {
      token,
      body: { starts_at: soon.toISOString(), ends_at: new Date(soon.getTime() + 3600_000).toISOString() },
    });
    expect(moveStart.status).toBe(200);
    const reminders = await waitFor(
      () => messagesOf(call, token, `event=${eventId}&template=event_reminder`),
      (l) => l.length === 2 && l.every((m) => m.status === 'sent'),
    );
    // The refunded order has no tickets left: the first order's buyer is reminded of the ticket still
    // theirs, and the transferred ticket's holder of hers.
    const byRecipient = new Map(reminders.map((m) => [m.recipient, m]));
    expect([...byRecipient.keys()].sort()).toEqual(['nora@example.com', 'tom@example.com']);
    const cids = async (id: string) => (await eml(id)).attachments.filter((a) => a.cid).map((a) => a.cid);
    expect(await cids(byRecipient.get('tom@example.com')!.id)).toEqual([`qr-${first.tickets[1]?.id}`]);
    expect(await cids(byRecipient.get('nora@example.com')!.id)).toEqual([`qr-${first.tickets[0]?.id}`]);

    const cancelled = await call('POST', `/api/events/${eventId}/cancel`, { token });
    expect(cancelled.status).toBe(200);
    const told = await waitFor(
      () => messagesOf(call, token, `event=${eventId}&template=event_cancelled`),
      (l) => l.length === 2 && l.every((m) => m.status === 'sent'),
    );
    expect(told.map((m) => m.recipient).sort()).toEqual(['nora@example.com', 'tom@example.com']);
    expect((await eml(told[0]?.id as string)).subject).toBe('Jazz Night is cancelled');
  });

  it('filters, previews, maps templates, refuses bad input, and keeps organizations apart', async () => {
    const { call, token } = await boxOffice(s);
    const preview = await call('GET', '/api/messages/templates/order_confirmation/preview', { token });
    expect(preview.status).toBe(200);
    expect(preview.body.subject).toBe('Your tickets for Difference Engine Live');
    expect(preview.body.html).toContain('cid:qr-1');
    const wa = await call('GET', '/api/messages/templates/event_reminder/preview?channel=whatsapp', {
      token,
    });
    expect(wa.body.text).toContain('Difference Engine Live');
    expect(
      (await call('GET', '/api/messages/templates/refund_confirmation/preview?channel=whatsapp', { token }))
        .status,
    ).toBe(409);
    // Like an unknown id, an unknown template is not there.
    expect((await call('GET', '/api/messages/templates/nope/preview', { token })).status).toBe(404);

    const id = `d-${'a'.repeat(32)}`;
    const put = await call('PUT', '/api/messages/templates/order_confirmation', {
      token,
      body: { sendgrid_template_id: id },
    });
    expect(put.status).toBe(200);
    const list = await call('GET', '/api/messages/templates', { token });
    expect(
      list.body.data.find((t: { name: string }) => t.name === 'order_confirmation').sendgrid_template_id,
    ).toBe(id);
    const bad = await call('PUT', '/api/messages/templates/order_confirmation', {
      token,
      body: { sendgrid_template_id: 'x' },
    });
    expect(bad.status).toBe(422);
    await call('PUT', '/api/messages/templates/order_confirmation', {
      token,
      body: { sendgrid_template_id: null },
    });

    expect((await call('GET', '/api/messages?status=nope', { token })).status).toBe(400);
    const other = await signUp(s.url);
    const mine = await messagesOf(call, token, '');
    for (const m of mine)
      expect((await call('GET', `/api/messages/${m.id}`, { token: other.token })).status).toBe(404);
    expect((await call('GET', '/api/messages', { token: other.token })).body.data).toEqual([]);
  });
});

describe.each(DIALECTS)('%s: SendGrid', (dialect) => {
  let s: TestServer;
  let sg: FakeSendGrid;
  beforeAll(async () => {
    sg = await startFakeSendGrid();
    s = await startTestServer(dialect, {
      SENDGRID_API_KEY: sg.apiKey,
      SENDGRID_API_URL: sg.url,
      SENDGRID_WEBHOOK_PUBLIC_KEY: sg.webhookKeys.publicKey,
      TICKETS_MESSAGE_RETRY_BASE_MS: '20',
      TICKETS_SEND_TIMEOUT_SECONDS: '1',
      TICKETS_MESSAGE_MAX_ATTEMPTS: '6',
    });
  });
  afterAll(async () => {
    await s.stop();
    await sg.close();
  });
  const mailsFor = (messageId: string) =>
    sg.mails.filter((m) => m.body.custom_args?.message_id === messageId);
  const hook = () => `${s.url}/api/webhooks/sendgrid`;

  it('sends through SendGrid and follows delivery and opens from signed webhooks, each applied once', async () => {
    const { call, token, sell } = await boxOffice(s);
    const order = await sell({ name: 'Gina Grid', email: 'gina@example.com' });
    const [m] = await waitFor(
      () => messagesOf(call, token, `order=${order.id}`),
      (l) => l[0]?.status === 'sent',
    );
    const mail = mailsFor(m?.id as string);
    expect(mail).toHaveLength(1);
    expect(m?.provider_message_id).toBe(mail[0]?.xMessageId);
    expect(mail[0]?.body.attachments?.some((a) => a.content_id === `qr-${order.tickets[0]?.id}`)).toBe(true);

    const delivered = await sg.sendEvents(hook(), [
      { event: 'processed', mail: mail[0] },
      { event: 'delivered', mail: mail[0] },
    ]);
    expect(delivered.status).toBe(200);
    expect(JSON.parse(delivered.responseBody).applied).toBe(2);
    const open = { event: 'open', mail: mail[0], sg_event_id: 'open-1' };
    await sg.sendEvents(hook(), [open]);
    // The same event again (SendGrid retries deliveries): applied once.
    const again = await sg.sendEvents(hook(), [open, { event: 'delivered', mail: mail[0] }]);
    expect(JSON.parse(again.responseBody).applied).toBe(1);
    const shown = await call('GET', `/api/messages/${m?.id}`, { token });
    // A late `delivered` does not move an opened message back.
    expect(shown.body.status).toBe('opened');
    expect(shown.body.history.map((h: { status: string }) => h.status)).toEqual([
      'queued',
      'sent',
      'sent',
      'delivered',
      'opened',
      'delivered',
    ]);

    // A complaint and an unsubscribe: the address is off marketing mail, its status stays where it was.
    await sg.sendEvents(hook(), [
      { event: 'spamreport', mail: mail[0] },
      { event: 'group_unsubscribe', mail: mail[0] },
    ]);
    const supp = await call('GET', '/api/suppressions?channel=email', { token });
    expect(supp.body.data).toContainEqual(
      expect.objectContaining({ address: 'gina@example.com', reason: 'unsubscribe', hard: false }),
    );
    expect((await call('GET', `/api/messages/${m?.id}`, { token })).body.status).toBe('opened');
    const forged = await sg.sendEvents(hook(), [{ event: 'bounce', type: 'bounce', mail: mail[0] }], {
      badSignature: true,
    });
    expect(forged.status).toBe(400);
    expect((await call('GET', `/api/messages/${m?.id}`, { token })).body.status).toBe('opened');
  });

  it("uses the organization's SendGrid dynamic template when one is mapped, with the same data", async () => {
    const { call, token, sell } = await boxOffice(s);
    const templateId = `d-${'b'.repeat(32)}`;
    await call('PUT', '/api/messages/templates/order_confirmation', {
      token,
      body: { sendgrid_template_id: templateId },
    });
    const order = await sell({ name: 'Dina Dynamic', email: 'dina@example.com' });
    const [m] = await waitFor(
      () => messagesOf(call, token, `order=${order.id}`),
      (l) => l[0]?.status === 'sent',
    );
    const [mail] = mailsFor(m?.id as string);
    expect(mail?.body.template_id).toBe(templateId);
    const data = mail?.body.personalizations[0]?.dynamic_template_data as {
      order: { id: string };
      tickets: { id: string }[];
      subject: string;
    };
    expect(data.order.id).toBe(order.id);
    expect(data.tickets.map((t) => t.id)).toEqual(order.tickets.map((t) => t.id));
    expect(data.subject).toBe('Your tickets for Jazz Night');
    await call('PUT', '/api/messages/templates/order_confirmation', {
      token,
      body: { sendgrid_template_id: null },
    });
  });

  it('suppresses hard-bounced addresses for every later mail; a soft block still gets transactional mail', async () => {
    const { call, token, sell } = await boxOffice(s);
    const first = await sell({ name: 'Hank Hard', email: 'hank@example.com' });
    const [m] = await waitFor(
      () => messagesOf(call, token, `order=${first.id}`),
      (l) => l[0]?.status === 'sent',
    );
    await sg.sendEvents(hook(), [
      {
        event: 'bounce',
        type: 'bounce',
        reason: '550 5.1.1 no such user',
        mail: mailsFor(m?.id as string)[0],
      },
    ]);
    const bounced = await call('GET', `/api/messages/${m?.id}`, { token });
    expect(bounced.body).toMatchObject({ status: 'bounced', last_error: '550 5.1.1 no such user' });
    const supp = await call('GET', '/api/suppressions', { token });
    expect(supp.body.data).toEqual([
      expect.objectContaining({ address: 'hank@example.com', reason: 'bounce', hard: true }),
    ]);

    const second = await sell({ name: 'Hank Hard', email: 'hank@example.com' });
    const [n] = await waitFor(
      () => messagesOf(call, token, `order=${second.id}`),
      (l) => l[0]?.status === 'suppressed',
    );
    expect(mailsFor(n?.id as string)).toHaveLength(0);

    const soft = await sell({ name: 'Sue Soft', email: 'sue@example.com' });
    const [o] = await waitFor(
      () => messagesOf(call, token, `order=${soft.id}`),
      (l) => l[0]?.status === 'sent',
    );
    await sg.sendEvents(hook(), [{ event: 'bounce', type: 'blocked', mail: mailsFor(o?.id as string)[0] }]);
    const again = await sell({ name: 'Sue Soft', email: 'sue@example.com' });
    await waitFor(
      () => messagesOf(call, token, `order=${again.id}`),
      (l) => l[0]?.status === 'sent',
    );

    // Retrying a suppressed message by hand lifts the suppression for it.
    const retried = await call('POST', `/api/messages/${n?.id}/retry`, { token });
    expect(retried.status).toBe(200);
    await waitFor(
      () => messagesOf(call, token, `order=${second.id}`),
      (l) => l[0]?.status === 'sent',
    );
    expect(mailsFor(n?.id as string)).toHaveLength(1);
  });

  it('rides out failures, rate limits and timeouts: every message sent exactly once', async () => {
    const { call, token, sell } = await boxOffice(s);
    const before = sg.mails.length;
    sg.failNext(503, { status: 429, retryAfterSeconds: 0 }, 'hang', 500, 503);
    const orders: { id: string }[] = [];
    for (let i = 0; i < 8; i++)
      orders.push(await sell({ name: `Flaky ${i}`, email: `flaky${i}@example.com` }));
    const sent = await waitFor(
      async () => (await Promise.all(orders.map((o) => messagesOf(call, token, `order=${o.id}`)))).flat(),
      (l) => l.length === 8 && l.every((m) => m.status === 'sent'),
      20_000,
    );
    expect(sg.mails.length - before).toBe(8);
    for (const m of sent) expect(mailsFor(m.id)).toHaveLength(1);
    expect(sent.reduce((n, m) => n + m.attempts, 0)).toBe(8 + 5);
  });

  it('stops at once on a permanent refusal, gives up after the last attempt, and retries by hand', async () => {
    const { call, token, sell } = await boxOffice(s);
    sg.failNext({
      status: 400,
      errors: [{ message: 'The from address does not match a verified Sender Identity.' }],
    });
    const refused = await sell({ name: 'Perm Fail', email: 'perm@example.com' });
    const [f] = await waitFor(
      () => messagesOf(call, token, `order=${refused.id}`),
      (l) => l[0]?.status === 'failed',
    );
    expect(f?.attempts).toBe(1);
    expect(f?.last_error).toContain('verified Sender Identity');

    sg.setPlan((req) => (req.path.includes('/mail/send') ? 503 : undefined));
    const doomed = await sell({ name: 'Dee Dead', email: 'dead@example.com' });
    const [d] = await waitFor(
      () => messagesOf(call, token, `order=${doomed.id}`),
      (l) => l[0]?.status === 'dead',
      20_000,
    );
    expect(d?.attempts).toBe(6);
    expect((await messagesOf(call, token, 'status=dead')).map((m) => m.id)).toContain(d?.id);
    sg.setPlan(null);

    const notYet = await call('POST', `/api/messages/${f?.id}/retry`, { token });
    expect(notYet.status).toBe(200);
    for (const id of [d?.id])
      expect((await call('POST', `/api/messages/${id}/retry`, { token })).status).toBe(200);
    await waitFor(
      () => messagesOf(call, token, `order=${doomed.id}`),
      (l) => l[0]?.status === 'sent',
    );
    await waitFor(
      () => messagesOf(call, token, `order=${refused.id}`),
      (l) => l[0]?.status === 'sent',
    );
    const sentOne = await call('POST', `/api/messages/${f?.id}/retry`, { token });
    expect(sentOne.status).toBe(409);
    expect(sentOne.body.code).toBe('message_not_retryable');
  });
});

describe.each(DIALECTS)('%s: SMTP', (dialect) => {
  let s: TestServer;
  let smtp: FakeSmtp;
  beforeAll(async () => {
    smtp = await startFakeSmtp();
    s = await startTestServer(dialect, { SMTP_URL: smtp.url, TICKETS_MESSAGE_RETRY_BASE_MS: '20' });
  });
  afterAll(async () => {
    await s.stop();
    await smtp.close();
  });

  it('sends through an SMTP server, and retries a 4xx reply', async () => {
    const { call, token, sell } = await boxOffice(s);
    smtp.failNext(1, 451, 'try again later');
    const order = await sell({ name: 'Sam Smtp', email: 'sam@example.com' });
    const [m] = await waitFor(
      () => messagesOf(call, token, `order=${order.id}`),
      (l) => l[0]?.status === 'sent',
    );
    expect(m?.attempts).toBe(2);
    const got = smtp.messages.filter((x) => x.parsed.headers.get('x-tickets-message-id') === m?.id);
    expect(got).toHaveLength(1);
    expect(got[0]?.parsed.subject).toBe('Your tickets for Jazz Night');
  });
});

describe.each(DIALECTS)('%s: WhatsApp', (dialect) => {
  let s: TestServer;
  let wa: FakeWhatsApp;
  beforeAll(async () => {
    wa = await startFakeWhatsApp();
    s = await startTestServer(dialect, {
      WHATSAPP_TOKEN: wa.token,
      WHATSAPP_PHONE_NUMBER_ID: wa.phoneNumberId,
      WHATSAPP_APP_SECRET: wa.appSecret,
      WHATSAPP_VERIFY_TOKEN: wa.verifyToken,
      WHATSAPP_API_URL: wa.url,
    });
  });
  afterAll(async () => {
    await s.stop();
    await wa.close();
  });
  const hook = () => `${s.url}/api/webhooks/whatsapp`;

  it('answers the subscription handshake only with the right token', async () => {
    const ok = await fetch(
      `${hook()}?hub.mode=subscribe&hub.verify_token=${wa.verifyToken}&hub.challenge=8080`,
    );
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe('8080');
    const bad = await fetch(`${hook()}?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=8080`);
    expect(bad.status).toBe(403);
  });

  it('sends each ticket with its QR image, follows statuses, records "I can\'t come", and honours STOP', async () => {
    const { call, token, sell } = await boxOffice(s);
    const order = await sell({ name: 'Wanda Whats', email: 'wanda@example.com', phone: '+4915112345678' }, 2);
    const sent = await waitFor(
      () => messagesOf(call, token, `order=${order.id}&channel=whatsapp`),
      (l) => l.length === 2 && l.every((m) => m.status === 'sent'),
    );
    const perTicket = await messagesOf(call, token, `ticket=${order.tickets[1]?.id}`);
    expect(perTicket.map((m) => m.channel)).toEqual(['whatsapp']);
    const ours = wa.messages.filter((m) => sent.some((s) => s.id === m.callbackData));
    expect(ours).toHaveLength(2);
    expect(ours[0]?.to).toBe('4915112345678');
    expect(ours[0]?.type).toBe('template');
    expect(wa.media.length).toBeGreaterThanOrEqual(2);
    expect(wa.media[0]?.contentType).toBe('image/png');

    const first = ours[0];
    expect((await wa.sendStatus(hook(), first?.wamid as string, 'delivered')).status).toBe(200);
    await wa.sendStatus(hook(), first?.wamid as string, 'read');
    const forged = await wa.sendStatus(hook(), first?.wamid as string, 'failed', { signature: 'wrong' });
    expect(forged.status).toBe(400);
    const m = await call('GET', `/api/messages/${first?.callbackData}`, { token });
    expect(m.body.status).toBe('read');

    const ticketId = m.body.ticket_id as string;
    // A press from another number, or about a ticket this message was not about, changes nothing.
    const decline = (from: string, id: string) =>
      wa.sendReply(hook(), {
        from,
        contextWamid: first?.wamid,
        quickReply: { payload: `decline:${id}`, text: "I can't come" },
      });
    await decline('+4915199999999', ticketId);
    const other = order.tickets.find((t) => t.id !== ticketId)?.id as string;
    await decline('+4915112345678', other);
    for (const id of [ticketId, other])
      expect((await call('GET', `/api/tickets/${id}`, { token })).body.declined_at).toBeNull();
    await decline('+4915112345678', ticketId);
    const ticket = await call('GET', `/api/tickets/${ticketId}`, { token });
    expect(ticket.body.declined_at).toEqual(expect.any(String));

    // Reminders come with reply buttons, each naming its ticket.
    const soon = new Date(Date.now() + 2 * 3600_000);
    await call('PUT', `/api/events/${order.event_id}`, {
      token,
      body: { starts_at: soon.toISOString(), ends_at: new Date(soon.getTime() + 3600_000).toISOString() },
    });
    const reminders = await waitFor(
      () => messagesOf(call, token, `order=${order.id}&template=event_reminder&channel=whatsapp`),
      (l) => l.length === 2 && l.every((r) => r.status === 'sent'),
    );
    // As the approved template with quick replies: free-form buttons are refused outside the 24-hour window.
    const reminder = wa.messages.find((x) => x.callbackData === reminders[0]?.id);
    expect(reminder?.type).toBe('template');
    expect(JSON.stringify(reminder?.template)).toContain(`"payload":"decline:${reminders[0]?.ticket_id}"`);

    await wa.sendReply(hook(), { from: '+4915112345678', text: 'STOP' });
    const supp = await call('GET', '/api/suppressions?channel=whatsapp', { token });
    expect(supp.body.data).toEqual([
      expect.objectContaining({ address: '+4915112345678', reason: 'opt_out' }),
    ]);
    const resent = await call('POST', `/api/orders/${order.id}/resend`, { token });
    expect(resent.status).toBe(201);
    const whatsapps = resent.body.data.filter((x: { channel: string }) => x.channel === 'whatsapp');
    expect(whatsapps).toHaveLength(2);
    await waitFor(
      () =>
        Promise.all(whatsapps.map((x: { id: string }) => call('GET', `/api/messages/${x.id}`, { token }))),
      (l) => l.every((r) => r.body.status === 'suppressed'),
    );
  });

  it('applies a captured status delivery once however often it is replayed, and never moves a message back', async () => {
    const { call, token, sell } = await boxOffice(s);
    const order = await sell({ name: 'Rita Replay', email: 'rita@example.com', phone: '+4915187654321' });
    const [sent] = await waitFor(
      () => messagesOf(call, token, `order=${order.id}&channel=whatsapp`),
      (l) => l.length === 1 && l[0]?.status === 'sent',
    );
    const wamid = wa.messages.find((m) => m.callbackData === sent?.id)?.wamid as string;
    const delivered = await wa.sendStatus(hook(), wamid, 'delivered');
    expect(delivered.status).toBe(200);
    // The same signed bytes, delivered again later (as an attacker who captured them would).
    for (let i = 0; i < 3; i++)
      expect((await wa.deliver(hook(), JSON.parse(delivered.raw))).status).toBe(200);
    expect((await wa.sendStatus(hook(), wamid, 'read')).status).toBe(200);
    // An older status arriving after a newer one (out of order, or replayed from before) changes nothing.
    expect((await wa.sendStatus(hook(), wamid, 'sent')).status).toBe(200);
    expect((await wa.sendStatus(hook(), wamid, 'delivered')).status).toBe(200);
    const m = await call('GET', `/api/messages/${sent?.id}`, { token });
    expect(m.body.status).toBe('read');
    const statuses = m.body.history.map((h: { status: string }) => h.status);
    expect(statuses.filter((x: string) => x === 'delivered')).toHaveLength(1);
    expect(statuses.filter((x: string) => x === 'read')).toHaveLength(1);
    expect(statuses.indexOf('read')).toBeGreaterThan(statuses.indexOf('delivered'));
  });
});

describe.each(DIALECTS)('%s: contact lists and campaigns', (dialect) => {
  let s: TestServer;
  let sg: FakeSendGrid;
  beforeAll(async () => {
    sg = await startFakeSendGrid();
    s = await startTestServer(dialect, { SENDGRID_API_KEY: sg.apiKey, SENDGRID_API_URL: sg.url });
  });
  afterAll(async () => {
    await s.stop();
    await sg.close();
  });
  const campaignMails = (ids: string[]) =>
    sg.mails.filter(
      (m) => m.body.categories?.includes('campaign') && ids.includes(m.body.custom_args?.message_id ?? ''),
    );

  it('fills merge fields per recipient, previews, sends a test to oneself, and refuses an unknown field', async () => {
    const { call, token, eventId, sell } = await boxOffice(s);
    const owner = (await call('GET', '/api/me', { token })).body.user.email as string;
    await sell({ name: 'Mara Merge', email: 'mara@example.com', marketing_opt_in: true }, 2);
    await sell({ name: 'Moe Merge', email: 'moe@example.com', marketing_opt_in: true });
    const list = (await call('POST', '/api/lists', { token, body: { name: 'Merge', event: eventId } })).body;

    const typo = await call('POST', '/api/campaigns', {
      token,
      body: { name: 'Typo', subject: 'Hi {{nmae}}', body: 'Hello {{name}}', list: list.id },
    });
    expect(typo.status).toBe(422);
    expect(typo.body.errors).toEqual([
      expect.objectContaining({
        path: 'subject',
        code: 'unknown_merge_field',
        message: expect.stringContaining('{{name}}'),
      }),
    ]);

    const created = await call('POST', '/api/campaigns', {
      token,
      body: {
        name: 'Merge',
        subject: '{{first_name}}, {{event}} is near',
        body: 'Hello {{name}},\n\nyour {{ticket_type}} tickets (order {{order}}) for {{event}} on {{event_date}}.',
        list: list.id,
      },
    });
    expect(created.status).toBe(201);
    const id = created.body.id as string;

    const preview = await call('GET', `/api/campaigns/${id}/preview?email=moe@example.com`, { token });
    expect(preview.status).toBe(200);
    expect(preview.body).toMatchObject({
      object: 'campaign_preview',
      as: { email: 'moe@example.com', name: 'Moe Merge' },
    });
    expect(preview.body.subject).toBe('Moe, Jazz Night is near');
    expect(preview.body.text).toMatch(
      /Hello Moe Merge,\s+your General admission tickets \(order ord_\w+\) for Jazz Night on \w{3}, \d/,
    );
    expect(preview.body.merge_fields.order).toMatch(/^ord_/);
    const first = await call('GET', `/api/campaigns/${id}/preview`, { token });
    expect(first.body.as.email).toBe('mara@example.com');
    expect(
      (await call('GET', `/api/campaigns/${id}/preview?email=nobody@example.com`, { token })).status,
    ).toBe(404);

    const test = await call('POST', `/api/campaigns/${id}/test`, { token, body: {} });
    expect(test.status).toBe(201);
    expect(test.body).toMatchObject({ template: 'campaign', recipient: owner, campaign_id: null });
    await waitFor(
      () => call('GET', `/api/messages/${test.body.id}`, { token }),
      (r) => r.body.status === 'sent',
    );
    const [mail] = campaignMails([test.body.id]);
    expect(mail?.body.personalizations[0]?.to[0]?.email).toBe(owner);
    expect(mail?.body.subject ?? mail?.body.personalizations[0]?.subject).toBe(
      '[Test] Mara, Jazz Night is near',
    );
    // A reply reaches the organization's owner, not the no-reply sender.
    expect(mail?.body.reply_to?.email).toBe(owner);
    expect((await call('GET', `/api/campaigns/${id}`, { token })).body.totals).toEqual({});

    const sent = await call('POST', `/api/campaigns/${id}/send`, { token });
    const recipients = await waitFor(
      () => messagesOf(call, token, `campaign=${id}`),
      (l) => l.length === 2 && l.every((m) => m.status === 'sent'),
    );
    expect(sent.body.status).toBe('sent');
    const subjects = campaignMails(recipients.map((r) => r.id))
      .map((m) => m.body.subject ?? m.body.personalizations[0]?.subject)
      .sort();
    expect(subjects).toEqual(['Mara, Jazz Night is near', 'Moe, Jazz Night is near']);
  });

  it("tags the campaign's links with UTM parameters naming it, keeping those a link already has", async () => {
    const { call, token, eventId, sell } = await boxOffice(s);
    await sell({ name: 'Lia Link', email: 'lia-link@example.com', marketing_opt_in: true });
    const list = (await call('POST', '/api/lists', { token, body: { name: 'Links', event: eventId } })).body;
    const created = await call('POST', '/api/campaigns', {
      token,
      body: {
        name: 'Spring Gala 2026!',
        subject: 'Hi {{first_name}}',
        body: 'Book at https://bluenote.example/jazz?seat=a1.\n\nOr (https://shop.example/?utm_source=mine), or www.nolink.example',
        list: list.id,
      },
    });
    expect(created.status).toBe(201);
    const preview = await call('GET', `/api/campaigns/${created.body.id}/preview`, { token });
    expect(preview.status).toBe(200);
    expect(preview.body.text).toContain(
      'Book at https://bluenote.example/jazz?seat=a1&utm_source=tickets&utm_medium=email&utm_campaign=spring-gala-2026.',
    );
    expect(preview.body.text).toContain(
      '(https://shop.example/?utm_source=mine&utm_medium=email&utm_campaign=spring-gala-2026)',
    );
    expect(preview.body.text).toContain('or www.nolink.example');
    // Handlebars escapes `=` and `&` in the HTML part; the link is the same.
    expect(preview.body.html.replaceAll('&#x3D;', '=').replaceAll('&amp;', '&')).toContain(
      'https://bluenote.example/jazz?seat=a1&utm_source=tickets&utm_medium=email&utm_campaign=spring-gala-2026',
    );
  });

  it("sends buyers' replies to the organization's contact address once one is set", async () => {
    const { call, token, sell } = await boxOffice(s);
    expect((await call('GET', '/api/org', { token })).body.contact_email).toBeNull();
    const bad = await call('PATCH', '/api/org', { token, body: { contact_email: 'not an address' } });
    expect(bad.status).toBe(422);
    expect(bad.body.errors[0].path).toBe('contact_email');
    expect((await call('PATCH', '/api/org', { token, body: {} })).status).toBe(422);
    const key = await call('POST', '/api/api-keys', { token, body: { name: 'ci', scopes: ['full'] } });
    const viaKey = await call('PATCH', '/api/org', {
      token: key.body.secret,
      body: { contact_email: 'x@example.com' },
    });
    expect(viaKey.status).toBe(403);
    const set = await call('PATCH', '/api/org', {
      token,
      body: { contact_email: 'box-office@example.org', name: 'Box Office Berlin' },
    });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ contact_email: 'box-office@example.org', name: 'Box Office Berlin' });

    await sell({ name: 'Rex Reply', email: 'rex-reply@example.com' });
    const mail = await waitFor(
      async () => sg.mails.find((m) => m.body.personalizations[0]?.to[0]?.email === 'rex-reply@example.com'),
      (m) => m !== undefined,
    );
    expect(mail?.body.reply_to?.email).toBe('box-office@example.org');
    // Cleared: back to the owner (for mail rendered once the minute's memory of it has passed).
    const cleared = await call('PATCH', '/api/org', { token, body: { contact_email: null } });
    expect(cleared.body.contact_email).toBeNull();
  });

  it('builds lists from attendees, sends a campaign once with an unsubscribe link, and honours unsubscribes', async () => {
    const { call, token, eventId, sell } = await boxOffice(s);
    await sell({ name: 'Otto Optin', email: 'otto@example.com', marketing_opt_in: true });
    await sell({ name: 'Nina Nope', email: 'nina@example.com' });
    await sell({ name: 'Olga Optin', email: 'olga@example.com', marketing_opt_in: true });

    const opted = await call('POST', '/api/lists', { token, body: { name: 'Fans', event: eventId } });
    expect(opted.status).toBe(201);
    expect(opted.body).toMatchObject({ object: 'contact_list', opted_in_only: true, contacts: 2 });
    const all = await call('POST', '/api/lists', { token, body: { name: 'Everyone', opted_in_only: false } });
    expect(all.body.contacts).toBe(3);
    const contacts = await call('GET', `/api/lists/${opted.body.id}/contacts`, { token });
    expect(contacts.body.data.map((c: { email: string }) => c.email)).toEqual([
      'olga@example.com',
      'otto@example.com',
    ]);

    const created = await call('POST', '/api/campaigns', {
      token,
      body: {
        name: 'Spring',
        subject: 'Spring season',
        body: 'Hello!\n\nThe spring season is on sale.',
        list: opted.body.id,
      },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ status: 'draft', totals: {} });
    const sent = await call('POST', `/api/campaigns/${created.body.id}/send`, { token });
    expect(sent.body.status).toBe('sent');
    expect(Object.values(sent.body.totals as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(2);
    expect((await call('POST', `/api/campaigns/${created.body.id}/send`, { token })).status).toBe(409);
    const recipients = await waitFor(
      () => messagesOf(call, token, `campaign=${created.body.id}`),
      (l) => l.length === 2 && l.every((m) => m.status === 'sent'),
    );
    const mails = campaignMails(recipients.map((r) => r.id));
    expect(mails).toHaveLength(2);
    const html = mails[0]?.body.content?.find((c) => c.type === 'text/html')?.value ?? '';
    expect(html).toContain('The spring season is on sale.');
    const link = mails[0]?.body.headers?.['List-Unsubscribe']?.replace(/^<|>$/g, '') ?? '';
    expect(html).toContain(link.replace(/&/g, '&amp;').split('?')[0]);
    expect((await call('GET', `/api/campaigns/${created.body.id}`, { token })).body.totals).toEqual({
      sent: 2,
    });

    // One click (RFC 8058): the reader is off this organizer's marketing mail, and only that.
    const who = mails[0]?.body.personalizations[0]?.to[0]?.email;
    const off = await fetch(link, { method: 'POST' });
    expect(off.status).toBe(200);
    expect(await off.text()).toContain(who);
    expect((await fetch(`${link}x`)).status).toBe(400);
    expect((await call('GET', `/api/lists/${opted.body.id}`, { token })).body.contacts).toBe(1);
    const again = await call('POST', '/api/campaigns', {
      token,
      body: { name: 'Again', subject: 'Again', body: 'Hi', list: opted.body.id },
    });
    const second = await call('POST', `/api/campaigns/${again.body.id}/send`, { token });
    expect(Object.values(second.body.totals as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(1);
    // Tickets still reach an unsubscribed reader.
    const order = await sell({ name: 'Back Again', email: who as string });
    await waitFor(
      () => messagesOf(call, token, `order=${order.id}`),
      (l) => l[0]?.status === 'sent',
    );

    expect((await call('DELETE', `/api/lists/${opted.body.id}`, { token })).body.code).toBe('list_in_use');
    const synced = await call('POST', `/api/lists/${all.body.id}/sync`, { token });
    expect(synced.status).toBe(200);
    // Everyone but the reader who unsubscribed.
    expect(synced.body.contacts).toBe(2);
    expect(sg.lists.map((l) => l.id)).toContain(synced.body.sendgrid_list_id);
    expect(sg.contacts.has('nina@example.com')).toBe(true);
    expect(sg.contacts.has(who as string)).toBe(false);
  });

  it('sends a scheduled campaign when its time comes, and cancels one before', async () => {
    const { call, token, sell } = await boxOffice(s);
    await sell({ name: 'Sched Uled', email: 'sched@example.com', marketing_opt_in: true });
    const list = await call('POST', '/api/lists', { token, body: { name: 'All' } });
    const soon = new Date(Date.now() + 1500).toISOString();
    const later = new Date(Date.now() + 3600_000).toISOString();
    const a = await call('POST', '/api/campaigns', {
      token,
      body: { name: 'A', subject: 'A', body: 'a', list: list.body.id, send_at: soon },
    });
    const b = await call('POST', '/api/campaigns', {
      token,
      body: { name: 'B', subject: 'B', body: 'b', list: list.body.id, send_at: later },
    });
    expect(a.body.status).toBe('scheduled');
    const cancelled = await call('POST', `/api/campaigns/${b.body.id}/cancel`, { token });
    expect(cancelled.body.status).toBe('cancelled');
    expect((await call('POST', `/api/campaigns/${b.body.id}/send`, { token })).status).toBe(409);
    await waitFor(
      () => call('GET', `/api/campaigns/${a.body.id}`, { token }),
      (r) => r.body.status === 'sent' && r.body.totals.sent === 1,
    );
    const past = await call('POST', '/api/campaigns', {
      token,
      body: { name: 'P', subject: 'P', body: 'p', list: list.body.id, send_at: '2020-01-01T00:00:00Z' },
    });
    expect(past.status).toBe(422);
    expect((await call('POST', '/api/lists/lst_01jd6x3k7qf0v8c6w2x9yq4e5b/sync', { token })).status).toBe(
      404,
    );
  });
});
