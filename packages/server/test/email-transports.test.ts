import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FileEmail, renderEml, SmtpEmail } from '../src/integrations/email.js';
import {
  parseSendGridEvents,
  SendGridEmail,
  SendGridMarketing,
  verifySendGridWebhook,
} from '../src/integrations/sendgrid.js';
import { DeliveryError, type EmailMessage } from '../src/modules/messaging/transport.js';
import { type FakeSendGrid, startFakeSendGrid } from './fakes/sendgrid.js';
import { type FakeSmtp, startFakeSmtp } from './fakes/smtp.js';

/** A 1×1 transparent PNG. */
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
);
const PDF = Buffer.from('%PDF-1.4\n% a ticket\n');

function message(over: Partial<EmailMessage> = {}): EmailMessage {
  return {
    messageId: 'msg_01jtestmessage',
    to: { email: 'ada@example.com', name: 'Ada Lovelace' },
    from: { email: 'tickets@example.org', name: 'Tickets' },
    replyTo: 'help@example.org',
    subject: 'Your tickets for Spring Gala',
    text: 'Hello Ada, your tickets are attached.',
    html: '<p>Hello Ada, your tickets are attached.</p><img src="cid:logo@tickets">',
    attachments: [
      { filename: 'logo.png', contentType: 'image/png', content: PNG, contentId: 'logo@tickets' },
      { filename: 'tickets.pdf', contentType: 'application/pdf', content: PDF },
    ],
    categories: ['order_confirmation'],
    ...over,
  };
}

/** Runs `fn`, expecting it to reject with a DeliveryError, and returns that error. */
async function deliveryError(fn: () => Promise<unknown>): Promise<DeliveryError> {
  const err = await fn().then(
    () => expect.fail('expected a DeliveryError, but it succeeded'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DeliveryError);
  return err as DeliveryError;
}

/** A port nobody listens on (a server's, just closed). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

describe('SendGridEmail against the fake SendGrid', () => {
  let fake: FakeSendGrid;
  let sendgrid: SendGridEmail;

  beforeEach(async () => {
    fake = await startFakeSendGrid();
    sendgrid = new SendGridEmail({ apiKey: fake.apiKey, baseUrl: fake.url, timeoutMs: 2_000 });
  });
  afterEach(() => fake.close());

  it('sends a message SendGrid accepts, naming it by our id, and returns the X-Message-Id', async () => {
    const result = await sendgrid.send(message());

    expect(fake.mails).toHaveLength(1);
    const mail = fake.mails[0]!;
    expect(result.providerMessageId).toBe(mail.xMessageId);
    const body = mail.body;
    expect(body.personalizations[0]!.to).toEqual([{ email: 'ada@example.com', name: 'Ada Lovelace' }]);
    expect(body.from).toEqual({ email: 'tickets@example.org', name: 'Tickets' });
    expect(body.reply_to).toEqual({ email: 'help@example.org' });
    expect(body.subject).toBe('Your tickets for Spring Gala');
    expect(body.content).toEqual([
      { type: 'text/plain', value: 'Hello Ada, your tickets are attached.' },
      {
        type: 'text/html',
        value: '<p>Hello Ada, your tickets are attached.</p><img src="cid:logo@tickets">',
      },
    ]);
    expect(body.custom_args).toEqual({ message_id: 'msg_01jtestmessage' });
    expect(body.categories).toEqual(['order_confirmation']);
    expect(body.headers).toBeUndefined();
    expect(body.template_id).toBeUndefined();

    const [logo, pdf] = body.attachments!;
    expect(logo).toMatchObject({
      filename: 'logo.png',
      type: 'image/png',
      disposition: 'inline',
      content_id: 'logo@tickets',
    });
    expect(Buffer.from(logo!.content, 'base64').equals(PNG)).toBe(true);
    expect(pdf).toMatchObject({
      filename: 'tickets.pdf',
      type: 'application/pdf',
      disposition: 'attachment',
    });
    expect(pdf!.content_id).toBeUndefined();
    expect(Buffer.from(pdf!.content, 'base64').equals(PDF)).toBe(true);
  });

  it('marks marketing mail for one-click unsubscribe', async () => {
    await sendgrid.send(
      message({ unsubscribeUrl: 'https://tickets.example/u/abc123', categories: ['campaign'] }),
    );

    expect(fake.mails[0]!.body.headers).toEqual({
      'List-Unsubscribe': '<https://tickets.example/u/abc123>',
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
    });
    expect(fake.mails[0]!.body.categories).toEqual(['campaign']);
  });

  it('lets SendGrid render a dynamic template instead of sending our subject and body', async () => {
    await sendgrid.send(
      message({ dynamicTemplate: { id: 'd-1234567890abcdef', data: { name: 'Ada', seats: ['A1', 'A2'] } } }),
    );

    const body = fake.mails[0]!.body;
    expect(body.template_id).toBe('d-1234567890abcdef');
    expect(body.personalizations[0]!.dynamic_template_data).toEqual({ name: 'Ada', seats: ['A1', 'A2'] });
    expect(body.subject).toBeUndefined();
    expect(body.content).toBeUndefined();
    expect(body.custom_args).toEqual({ message_id: 'msg_01jtestmessage' });
  });

  it('two configurations coexist: each sends through its own key and server', async () => {
    const other = await startFakeSendGrid();
    try {
      const second = new SendGridEmail({ apiKey: other.apiKey, baseUrl: other.url });
      await second.send(message({ messageId: 'msg_second' }));
      await sendgrid.send(message({ messageId: 'msg_first' }));
      expect(fake.mails.map((m) => m.body.custom_args?.message_id)).toEqual(['msg_first']);
      expect(other.mails.map((m) => m.body.custom_args?.message_id)).toEqual(['msg_second']);
    } finally {
      await other.close();
    }
  });

  it('does not retry a message SendGrid refuses (400), and says why', async () => {
    const err = await deliveryError(() => sendgrid.send(message({ from: { email: '' } })));
    expect(err.retryable).toBe(false);
    expect(err.options.status).toBe(400);
    expect(err.message).toContain('from.email');
    expect(fake.mails).toHaveLength(0);
  });

  it('does not retry with a wrong API key (401), and keeps the key out of the error', async () => {
    const wrong = new SendGridEmail({ apiKey: 'SG.wrong.key', baseUrl: fake.url });
    const err = await deliveryError(() => wrong.send(message()));
    expect(err.retryable).toBe(false);
    expect(err.options.status).toBe(401);
    expect(JSON.stringify({ message: err.message, cause: String(err.cause) })).not.toContain('SG.wrong.key');
  });

  it('retries after a rate limit, when Retry-After says', async () => {
    fake.failNext({ status: 429, retryAfterSeconds: 7 });
    const err = await deliveryError(() => sendgrid.send(message()));
    expect(err.retryable).toBe(true);
    expect(err.options.status).toBe(429);
    expect(err.options.retryAfterMs).toBe(7_000);
  });

  it('retries after a rate limit, when only X-RateLimit-Reset says (as SendGrid does)', async () => {
    fake.failNext(429);
    const err = await deliveryError(() => sendgrid.send(message()));
    expect(err.retryable).toBe(true);
    expect(err.options.retryAfterMs).toBeGreaterThanOrEqual(0);
    expect(err.options.retryAfterMs).toBeLessThanOrEqual(2_000);
  });

  it('retries a server error (503), after Retry-After when given', async () => {
    fake.failNext(503, { status: 503, retryAfterSeconds: 3 });
    const first = await deliveryError(() => sendgrid.send(message()));
    expect(first).toMatchObject({ retryable: true, options: { status: 503 } });
    expect(first.options.retryAfterMs).toBeUndefined();
    const second = await deliveryError(() => sendgrid.send(message()));
    expect(second.options.retryAfterMs).toBe(3_000);
    // The plan is used up: the third attempt goes through.
    await sendgrid.send(message());
    expect(fake.mails).toHaveLength(1);
  });

  it('gives up on a SendGrid that never answers, as retryable', async () => {
    const impatient = new SendGridEmail({ apiKey: fake.apiKey, baseUrl: fake.url, timeoutMs: 200 });
    fake.failNext('hang');
    const started = Date.now();
    const err = await deliveryError(() => impatient.send(message()));
    expect(err.retryable).toBe(true);
    expect(err.options.status).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(fake.mails).toHaveLength(0);
  });

  it('retries when SendGrid cannot be reached', async () => {
    const port = await closedPort();
    const unreachable = new SendGridEmail({ apiKey: fake.apiKey, baseUrl: `http://127.0.0.1:${port}/` });
    const err = await deliveryError(() => unreachable.send(message()));
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/could not be reached/);
  });

  it('stops waiting when the caller aborts', async () => {
    fake.setLatency(1_000);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const err = await deliveryError(() => sendgrid.send(message(), controller.signal));
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/aborted/);
  });
});

describe('SendGridMarketing against the fake SendGrid', () => {
  let fake: FakeSendGrid;
  let marketing: SendGridMarketing;

  beforeEach(async () => {
    fake = await startFakeSendGrid();
    marketing = new SendGridMarketing({ apiKey: fake.apiKey, baseUrl: fake.url });
  });
  afterEach(() => fake.close());

  it('creates lists and adds contacts to them', async () => {
    const fans = await marketing.createList('Spring Gala fans');
    const vip = await marketing.createList('VIP');
    const { jobId } = await marketing.upsertContacts(
      [
        { email: 'ada@example.com', first_name: 'Ada', last_name: 'Lovelace' },
        { email: 'alan@example.com', custom_fields: { e1_T: 'gold' } },
      ],
      [fans.id],
    );

    expect(jobId).toMatch(/^[0-9a-f-]{36}$/);
    expect(fake.contacts.get('ada@example.com')).toMatchObject({ first_name: 'Ada', list_ids: [fans.id] });
    expect(fake.contacts.get('alan@example.com')?.custom_fields).toEqual({ e1_T: 'gold' });
    const lists = await marketing.listLists();
    expect(lists).toEqual([
      { id: fans.id, name: 'Spring Gala fans', contactCount: 2 },
      { id: vip.id, name: 'VIP', contactCount: 0 },
    ]);
  });

  it('reads every page of lists', async () => {
    for (let i = 0; i < 1_500; i++) fake.lists.push({ id: `list-${i}`, name: `List ${i}`, contact_count: 0 });
    const lists = await marketing.listLists();
    expect(lists).toHaveLength(1_500);
    expect(lists.at(-1)?.id).toBe('list-1499');
    expect(fake.requests).toBe(2);
  });

  it('refuses contacts for a list that does not exist, as not retryable', async () => {
    const err = await deliveryError(() => marketing.upsertContacts([{ email: 'ada@example.com' }], ['nope']));
    expect(err).toMatchObject({ retryable: false, options: { status: 400 } });
    expect(fake.contacts.size).toBe(0);
  });
});

/** A webhook endpoint that keeps the raw body and the signature headers of everything posted to it. */
interface Receiver {
  url: string;
  received: Array<{ raw: Buffer; signature?: string; timestamp?: string }>;
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const received: Receiver['received'] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        raw: Buffer.concat(chunks),
        signature: req.headers['x-twilio-email-event-webhook-signature'] as string | undefined,
        timestamp: req.headers['x-twilio-email-event-webhook-timestamp'] as string | undefined,
      });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/webhooks/sendgrid`,
    received,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describe('SendGrid Event Webhook', () => {
  let fake: FakeSendGrid;
  let receiver: Receiver;

  beforeAll(async () => {
    fake = await startFakeSendGrid();
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await fake.close();
    await receiver.close();
  });

  async function deliver(opts?: { badSignature?: boolean; timestamp?: string }) {
    await fake.sendEvents(receiver.url, [{ event: 'delivered', email: 'ada@example.com' }], opts);
    return receiver.received.at(-1)!;
  }

  it('accepts a batch signed by SendGrid, with the key as SendGrid shows it or as PEM', async () => {
    const { raw, signature, timestamp } = await deliver();
    expect(verifySendGridWebhook(fake.webhookKeys.publicKey, raw, signature, timestamp)).toBe(true);
    const pem = `-----BEGIN PUBLIC KEY-----\n${fake.webhookKeys.publicKey}\n-----END PUBLIC KEY-----\n`;
    expect(verifySendGridWebhook(pem, raw, signature, timestamp)).toBe(true);
  });

  it('refuses a tampered body, a bad signature, missing headers and another key', async () => {
    const ok = await deliver();
    const tampered = Buffer.from(ok.raw.toString('utf8').replace('delivered', 'bounce'));
    expect(verifySendGridWebhook(fake.webhookKeys.publicKey, tampered, ok.signature, ok.timestamp)).toBe(
      false,
    );
    expect(verifySendGridWebhook(fake.webhookKeys.publicKey, ok.raw, ok.signature, '1')).toBe(false);
    expect(verifySendGridWebhook(fake.webhookKeys.publicKey, ok.raw, undefined, ok.timestamp)).toBe(false);
    expect(verifySendGridWebhook(fake.webhookKeys.publicKey, ok.raw, ok.signature, undefined)).toBe(false);
    expect(verifySendGridWebhook(fake.webhookKeys.publicKey, ok.raw, 'not-a-signature', ok.timestamp)).toBe(
      false,
    );
    expect(verifySendGridWebhook('not-a-key', ok.raw, ok.signature, ok.timestamp)).toBe(false);

    const bad = await deliver({ badSignature: true });
    expect(verifySendGridWebhook(fake.webhookKeys.publicKey, bad.raw, bad.signature, bad.timestamp)).toBe(
      false,
    );

    const other = await startFakeSendGrid();
    try {
      expect(verifySendGridWebhook(other.webhookKeys.publicKey, ok.raw, ok.signature, ok.timestamp)).toBe(
        false,
      );
    } finally {
      await other.close();
    }
  });

  it('refuses a correctly signed batch older than ten minutes, unless told to allow more', async () => {
    const old = String(Math.floor(Date.now() / 1000) - 3_600);
    const { raw, signature, timestamp } = await deliver({ timestamp: old });
    expect(verifySendGridWebhook(fake.webhookKeys.publicKey, raw, signature, timestamp)).toBe(false);
    expect(
      verifySendGridWebhook(fake.webhookKeys.publicKey, raw, signature, timestamp, { maxAgeSeconds: 86_400 }),
    ).toBe(true);
  });

  it('turns every kind of event about our mail into a status for our message', async () => {
    const sendgrid = new SendGridEmail({ apiKey: fake.apiKey, baseUrl: fake.url });
    const { providerMessageId } = await sendgrid.send(message({ messageId: 'msg_events' }));
    const mail = fake.mails.find((m) => m.xMessageId === providerMessageId)!;

    const sent = await fake.sendEvents(receiver.url, [
      { event: 'processed', mail },
      { event: 'deferred', mail, response: '421 try again later', attempt: '1' },
      { event: 'delivered', mail, response: '250 OK' },
      { event: 'open', mail, useragent: 'Mozilla/5.0' },
      { event: 'click', mail, url: 'https://tickets.example/e/1' },
      { event: 'bounce', mail, type: 'bounce', reason: '550 5.1.1 no such user', status: '5.1.1' },
      { event: 'bounce', mail, type: 'blocked', reason: '554 blocked by policy', status: '5.7.1' },
      { event: 'dropped', mail, reason: 'Bounced Address' },
      { event: 'spamreport', mail },
      { event: 'unsubscribe', mail },
      { event: 'group_unsubscribe', mail, asm_group_id: 42 },
      { event: 'group_resubscribe', mail, asm_group_id: 42 },
      { event: 'processed', mail, timestamp: 1_700_000_000, sg_event_id: 'evt-known' },
    ]);
    const received = receiver.received.at(-1)!;
    expect(
      verifySendGridWebhook(fake.webhookKeys.publicKey, received.raw, received.signature, received.timestamp),
    ).toBe(true);

    const events = parseSendGridEvents(JSON.parse(received.raw.toString('utf8')));
    expect(events.map((e) => e.status)).toEqual([
      'sent',
      'deferred',
      'delivered',
      'opened',
      'clicked',
      'bounced',
      'bounced',
      'dropped',
      'spamreport',
      'unsubscribed',
      'unsubscribed',
      'sent',
    ]);
    for (const e of events) {
      expect(e.messageId).toBe('msg_events');
      expect(e.providerMessageId).toBe(providerMessageId);
      expect(e.address).toBe('ada@example.com');
      expect(e.eventId).toEqual(expect.any(String));
    }
    expect(events[1]!.reason).toBe('421 try again later');
    expect(events[5]).toMatchObject({ hard: true, reason: '550 5.1.1 no such user' });
    expect(events[6]).toMatchObject({ hard: false, reason: '554 blocked by policy' });
    expect(events[7]!.reason).toBe('Bounced Address');
    expect(events[0]!.hard).toBeUndefined();
    expect(events[11]).toMatchObject({ at: new Date(1_700_000_000_000), eventId: 'evt-known' });
    expect(sent.events[0]!.sg_message_id).toMatch(new RegExp(`^${providerMessageId}\\.`));
  });

  it('finds nothing in a body that is not an event array', () => {
    expect(parseSendGridEvents({ event: 'delivered' })).toEqual([]);
    expect(parseSendGridEvents(null)).toEqual([]);
    expect(parseSendGridEvents([42, null, { event: 'something_new' }])).toEqual([]);
  });
});

describe('SmtpEmail against a local SMTP server', () => {
  let fake: FakeSmtp;
  let smtp: SmtpEmail;

  beforeEach(async () => {
    fake = await startFakeSmtp();
    smtp = new SmtpEmail({ url: fake.url, timeoutMs: 2_000 });
  });
  afterEach(async () => {
    await smtp.close();
    await fake.close();
  });

  it('delivers the message with its text, HTML, inline image, attachment and our id', async () => {
    const result = await smtp.send(message({ unsubscribeUrl: 'https://tickets.example/u/abc123' }));

    expect(fake.messages).toHaveLength(1);
    const { envelope, parsed, raw, user } = fake.messages[0]!;
    expect(user).toBe('user');
    expect(envelope.mailFrom).toMatchObject({ address: 'tickets@example.org' });
    expect(envelope.rcptTo.map((r) => r.address)).toEqual(['ada@example.com']);
    expect(parsed.subject).toBe('Your tickets for Spring Gala');
    expect(parsed.text?.trim()).toBe('Hello Ada, your tickets are attached.');
    expect(parsed.html).toContain('<img src="cid:logo@tickets">');
    expect(parsed.from?.value).toEqual([{ address: 'tickets@example.org', name: 'Tickets' }]);
    expect(parsed.replyTo?.value[0]?.address).toBe('help@example.org');
    expect(parsed.headers.get('x-tickets-message-id')).toBe('msg_01jtestmessage');
    // mailparser folds List-* headers into one structure; the raw lines are what mailbox providers read.
    const head = raw.toString('utf8').split(/\r?\n\r?\n/)[0]!;
    expect(head).toMatch(/^List-Unsubscribe: <https:\/\/tickets\.example\/u\/abc123>\r?$/m);
    expect(head).toMatch(/^List-Unsubscribe-Post: List-Unsubscribe=One-Click\r?$/m);
    // Read by SendGrid's SMTP relay (custom args and categories), so it must stay plain JSON.
    expect(JSON.parse(String(parsed.headers.get('x-smtpapi')))).toEqual({
      unique_args: { message_id: 'msg_01jtestmessage' },
      category: ['order_confirmation'],
    });
    expect(result.providerMessageId).toBe(parsed.messageId);

    const logo = parsed.attachments.find((a) => a.filename === 'logo.png')!;
    expect(logo).toMatchObject({
      contentType: 'image/png',
      contentDisposition: 'inline',
      cid: 'logo@tickets',
    });
    expect(logo.content.equals(PNG)).toBe(true);
    const pdf = parsed.attachments.find((a) => a.filename === 'tickets.pdf')!;
    expect(pdf).toMatchObject({ contentType: 'application/pdf', contentDisposition: 'attachment' });
    expect(pdf.content.equals(PDF)).toBe(true);
  });

  it('retries a temporary refusal (451) but not a permanent one (550) — SMTP codes, not HTTP', async () => {
    fake.failNext(1, 451, 'Greylisted, try again later', 'data');
    const temporary = await deliveryError(() => smtp.send(message()));
    expect(temporary).toMatchObject({ retryable: true, options: { status: 451 } });

    fake.failNext(1, 550, 'No such user here', 'rcpt');
    const permanent = await deliveryError(() => smtp.send(message()));
    expect(permanent).toMatchObject({ retryable: false, options: { status: 550 } });
    expect(permanent.message).toContain('No such user here');

    expect(fake.messages).toHaveLength(0);
    await smtp.send(message());
    expect(fake.messages).toHaveLength(1);
  });

  it('does not retry with wrong credentials', async () => {
    const wrong = new SmtpEmail({ url: `smtp://user:wrong@127.0.0.1:${fake.port}`, timeoutMs: 2_000 });
    try {
      const err = await deliveryError(() => wrong.send(message()));
      expect(err).toMatchObject({ retryable: false, options: { status: 535 } });
    } finally {
      await wrong.close();
    }
  });

  it('retries when the server cannot be reached', async () => {
    const unreachable = new SmtpEmail({ url: `smtp://127.0.0.1:${await closedPort()}`, timeoutMs: 2_000 });
    try {
      const err = await deliveryError(() => unreachable.send(message()));
      expect(err.retryable).toBe(true);
      expect(err.options.status).toBeUndefined();
    } finally {
      await unreachable.close();
    }
  });
});

describe('FileEmail', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tickets-eml-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('writes a complete .eml that a mail reader can parse', async () => {
    const files = new FileEmail({ dir: join(dir, 'outbox') });
    const result = await files.send(message());

    expect(result.providerMessageId).toBe('msg_01jtestmessage.eml');
    expect(await readdir(join(dir, 'outbox'))).toEqual(['msg_01jtestmessage.eml']);
    const eml = await readFile(join(dir, 'outbox', 'msg_01jtestmessage.eml'));
    const parsed = await simpleParser(eml, { keepCidLinks: true });
    expect(parsed.subject).toBe('Your tickets for Spring Gala');
    expect(parsed.to && !Array.isArray(parsed.to) && parsed.to.value).toEqual([
      { address: 'ada@example.com', name: 'Ada Lovelace' },
    ]);
    expect(parsed.text?.trim()).toBe('Hello Ada, your tickets are attached.');
    expect(parsed.html).toContain('cid:logo@tickets');
    expect(parsed.headers.get('x-tickets-message-id')).toBe('msg_01jtestmessage');
    expect(parsed.attachments.map((a) => [a.filename, a.cid ?? null, a.content.length])).toEqual([
      ['logo.png', 'logo@tickets', PNG.length],
      ['tickets.pdf', null, PDF.length],
    ]);
  });

  it('renders with Unix line ends, the same message each transport builds', async () => {
    const eml = (await renderEml(message())).toString('utf8');
    expect(eml).toMatch(/^Subject: Your tickets for Spring Gala$/m);
    expect(eml).not.toContain('\r\n');
  });

  it('refuses a message id that would leave the folder', async () => {
    const err = await deliveryError(() => new FileEmail({ dir }).send(message({ messageId: '../escape' })));
    expect(err.retryable).toBe(false);
    expect(await readdir(dir)).toEqual([]);
  });
});
