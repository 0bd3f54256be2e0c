import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  isOptOut,
  parseWhatsAppWebhook,
  verifyWhatsAppHandshake,
  verifyWhatsAppSignature,
  WhatsAppCloud,
  type WhatsAppCloudOptions,
} from '../src/integrations/whatsapp.js';
import { DeliveryError } from '../src/modules/messaging/transport.js';
import { type FakeWhatsApp, startFakeWhatsApp } from './fakes/whatsapp.js';

/** Our webhook endpoint, reduced to what a handler does first: check the signature, then parse. */
interface Receiver {
  url: string;
  received: { raw: Buffer; signature: string | undefined; valid: boolean }[];
  close(): Promise<void>;
}

async function startReceiver(appSecret: string): Promise<Receiver> {
  const received: Receiver['received'] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const header = req.headers['x-hub-signature-256'];
      const signature = Array.isArray(header) ? header[0] : header;
      const valid = verifyWhatsAppSignature(raw, signature, appSecret);
      received.push({ raw, signature, valid });
      res.writeHead(valid ? 200 : 401).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/whatsapp`,
    received,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The error a promise rejects with, which must be a DeliveryError. */
async function deliveryError(promise: Promise<unknown>): Promise<DeliveryError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DeliveryError);
  return err as DeliveryError;
}

let fake: FakeWhatsApp;
let receiver: Receiver;

const client = (o: Partial<WhatsAppCloudOptions> = {}) =>
  new WhatsAppCloud({
    baseUrl: fake.url,
    token: fake.token,
    phoneNumberId: fake.phoneNumberId,
    appSecret: fake.appSecret,
    verifyToken: fake.verifyToken,
    timeoutMs: 2000,
    perSecond: 1000,
    ...o,
  });

beforeEach(async () => {
  fake = await startFakeWhatsApp({ templates: { order_confirmation: ['en_US', 'fr'] } });
  receiver = await startReceiver(fake.appSecret);
});

afterEach(async () => {
  await fake.close();
  await receiver.close();
});

describe('sending', () => {
  it('sends a template to the number without its +, with our message id as callback data', async () => {
    const components = [{ type: 'body', parameters: [{ type: 'text', text: 'Ada' }] }];
    const sent = await client().sendTemplate(
      '+33612345678',
      { name: 'order_confirmation', language: 'fr', components },
      { callbackData: 'msg_01' },
    );
    expect(sent.providerMessageId).toMatch(/^wamid\./);
    expect(fake.messages).toHaveLength(1);
    const [message] = fake.messages;
    expect(message).toMatchObject({
      wamid: sent.providerMessageId,
      to: '33612345678',
      type: 'template',
      template: { name: 'order_confirmation', language: { code: 'fr' }, components },
      callbackData: 'msg_01',
    });
    expect(message?.body.biz_opaque_callback_data).toBe('msg_01');
  });

  it('sends reply buttons with an uploaded image header and a footer', async () => {
    const wa = client();
    const imageId = await wa.uploadMedia(Buffer.from('png bytes'), 'image/png', 'ticket.png');
    const sent = await wa.sendButtons(
      '+15551234567',
      {
        header: { imageId },
        body: 'Your ticket for Friday',
        footer: 'tickets',
        buttons: [
          { id: 'confirm', title: 'I will come' },
          { id: 'cancel', title: 'I cannot come ❌' },
        ],
      },
      { callbackData: 'msg_02' },
    );
    expect(fake.messages[0]).toMatchObject({
      wamid: sent.providerMessageId,
      to: '15551234567',
      type: 'interactive',
      callbackData: 'msg_02',
      interactive: {
        type: 'button',
        header: { type: 'image', image: { id: imageId } },
        body: { text: 'Your ticket for Friday' },
        footer: { text: 'tickets' },
        action: {
          buttons: [
            { type: 'reply', reply: { id: 'confirm', title: 'I will come' } },
            { type: 'reply', reply: { id: 'cancel', title: 'I cannot come ❌' } },
          ],
        },
      },
    });
  });

  it('sends a text and an image with a caption', async () => {
    const wa = client();
    const mediaId = await wa.uploadMedia(Buffer.from([1, 2, 3]), 'image/jpeg', 'qr.jpg');
    await wa.sendText('+447700900123', 'Doors open at 19:00');
    await wa.sendImage('+447700900123', { mediaId, caption: 'Your QR code' });
    expect(fake.messages.map((m) => [m.type, m.text ?? m.image])).toEqual([
      ['text', { body: 'Doors open at 19:00', preview_url: false }],
      ['image', { id: mediaId, caption: 'Your QR code' }],
    ]);
    expect(fake.messages[0]?.callbackData).toBeUndefined();
  });

  it('uploads media whose bytes, type and name arrive intact', async () => {
    const bytes = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 31) % 256));
    const id = await client().uploadMedia(bytes, 'application/pdf', 'ticket-42.pdf');
    expect(fake.media).toHaveLength(1);
    expect(fake.media[0]).toMatchObject({ id, contentType: 'application/pdf', filename: 'ticket-42.pdf' });
    expect(fake.media[0]?.bytes.equals(bytes)).toBe(true);
  });
});

describe('refusals the client makes itself', () => {
  it('refuses more than three buttons, or a title over 20 characters, without calling the API', async () => {
    const wa = client();
    const four = await deliveryError(
      wa.sendButtons('+15551234567', {
        body: 'Pick',
        buttons: ['a', 'b', 'c', 'd'].map((id) => ({ id, title: id })),
      }),
    );
    expect(four.retryable).toBe(false);
    expect(four.message).toMatch(/4 buttons/);
    const long = await deliveryError(
      wa.sendButtons('+15551234567', {
        body: 'Pick',
        buttons: [{ id: 'x', title: 'A title of 21 chars!!' }],
      }),
    );
    expect(long.retryable).toBe(false);
    expect(long.message).toMatch(/title/);
    // 20 characters, one of them an emoji of two UTF-16 units: allowed.
    await wa.sendButtons('+15551234567', {
      body: 'Pick',
      buttons: [{ id: 'x', title: 'Nineteen chars here🎟' }],
    });
    expect(fake.requests).toBe(1);
  });

  it('refuses a number that is not E.164', async () => {
    const err = await deliveryError(client().sendText('06 12 34 56 78', 'hi'));
    expect(err.retryable).toBe(false);
    expect(fake.requests).toBe(0);
  });
});

describe('failures', () => {
  it('makes a Graph 400 a final failure that carries the Graph message', async () => {
    const err = await deliveryError(
      client().sendTemplate('+33612345678', { name: 'no_such_template', language: 'fr' }),
    );
    expect(err.retryable).toBe(false);
    expect(err.options.status).toBe(404);
    expect(err.message).toContain('Template name does not exist in the translation');
    expect(err.message).toContain('132001');
  });

  it('makes a bad token a final failure and keeps the token out of the error', async () => {
    const err = await deliveryError(client({ token: 'EAAGwrongtoken' }).sendText('+33612345678', 'hi'));
    expect(err.retryable).toBe(false);
    expect(err.options.status).toBe(401);
    expect(err.message).toContain('Invalid OAuth access token');
    expect(JSON.stringify(err, Object.getOwnPropertyNames(err))).not.toContain('EAAGwrongtoken');
  });

  it('the fake itself refuses what the real API refuses', async () => {
    const post = (body: object) =>
      fetch(`${fake.url}/${fake.phoneNumberId}/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${fake.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const buttons = (n: number, title = 'ok') =>
      Array.from({ length: n }, (_, i) => ({ type: 'reply', reply: { id: `b${i}`, title: `${title}${i}` } }));
    const interactive = (b: unknown[]) => ({
      messaging_product: 'whatsapp',
      to: '15551234567',
      type: 'interactive',
      interactive: { type: 'button', body: { text: 'Pick' }, action: { buttons: b } },
    });
    for (const body of [
      { to: '15551234567', type: 'text', text: { body: 'no product' } },
      { messaging_product: 'whatsapp', to: '+1 555 123', type: 'text', text: { body: 'bad to' } },
      {
        messaging_product: 'whatsapp',
        to: '15551234567',
        type: 'template',
        template: { name: 'order_confirmation' },
      },
      interactive(buttons(4)),
      interactive(buttons(1, 'x'.repeat(21))),
    ]) {
      const res = await post(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      const json = (await res.json()) as { error: { type: string; code: number; fbtrace_id: string } };
      expect(json.error).toMatchObject({ type: 'OAuthException', code: 100 });
      expect(json.error.fbtrace_id).toBeTruthy();
    }
    expect(fake.messages).toHaveLength(0);
  });

  it('makes 429 retryable, after the Retry-After the API asked for', async () => {
    fake.failNext(1, 429, { retryAfterSeconds: 3 });
    const err = await deliveryError(client().sendText('+33612345678', 'hi'));
    expect(err.retryable).toBe(true);
    expect(err.options).toMatchObject({ status: 429, retryAfterMs: 3000 });
    expect(err.message).toContain('130429');
    // The failure was for one request only.
    await client().sendText('+33612345678', 'hi');
    expect(fake.messages).toHaveLength(1);
  });

  it('makes 503 retryable', async () => {
    fake.failNext(1, 503, { retryAfterSeconds: 1 });
    const err = await deliveryError(client().sendText('+33612345678', 'hi'));
    expect(err.retryable).toBe(true);
    expect(err.options).toMatchObject({ status: 503, retryAfterMs: 1000 });
    expect(fake.messages).toHaveLength(0);
  });

  it('makes a throttling Graph code retryable even when it comes with a 400', async () => {
    fake.failNext(1, 400, {
      body: { error: { message: '(#131056) Pair rate limit hit', type: 'OAuthException', code: 131056 } },
    });
    const err = await deliveryError(client().sendText('+33612345678', 'hi'));
    expect(err.retryable).toBe(true);
    expect(err.options.status).toBe(400);
  });

  it('makes an API that never answers a retryable timeout', async () => {
    fake.plan(() => 'hang');
    const started = Date.now();
    const err = await deliveryError(client({ timeoutMs: 200 }).sendText('+33612345678', 'hi'));
    expect(err.retryable).toBe(true);
    expect(err.options.status).toBeUndefined();
    expect(err.message).toMatch(/timeout|timed out/i);
    expect(Date.now() - started).toBeLessThan(1500);
    expect(fake.messages).toHaveLength(0);
  });

  it('makes a refused connection retryable', async () => {
    const url = fake.url;
    await fake.close();
    const err = await deliveryError(client({ baseUrl: url }).sendText('+33612345678', 'hi'));
    expect(err.retryable).toBe(true);
    expect(err.message).toContain('ECONNREFUSED');
    fake = await startFakeWhatsApp();
  });

  it('stops waiting when the caller aborts', async () => {
    fake.setLatency(5000);
    const abort = new AbortController();
    setTimeout(() => abort.abort(new Error('worker stopping')), 100);
    const started = Date.now();
    const err = await deliveryError(client().sendText('+33612345678', 'hi', { signal: abort.signal }));
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/aborted/);
    expect(Date.now() - started).toBeLessThan(1500);
  });
});

describe('rate limit', () => {
  it('holds sends to perSecond: ten at five a second take a second, never six in one second', async () => {
    const wa = client({ perSecond: 5 });
    const started = Date.now();
    await Promise.all(Array.from({ length: 10 }, (_, i) => wa.sendText('+33612345678', `n${i}`)));
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(fake.messages).toHaveLength(10);
    const times = fake.messages.map((m) => m.at.getTime()).sort((a, b) => a - b);
    for (let i = 0; i + 5 < times.length; i++) expect(times[i + 5]! - times[i]!).toBeGreaterThanOrEqual(950);
  });
});

describe('webhooks', () => {
  it('accepts the signature of a real delivery and refuses a wrong or missing one', async () => {
    const wamid = (await client().sendText('+33612345678', 'hi')).providerMessageId;
    expect((await fake.sendStatus(receiver.url, wamid, 'sent')).status).toBe(200);
    expect((await fake.sendStatus(receiver.url, wamid, 'delivered', { signature: 'wrong' })).status).toBe(
      401,
    );
    expect((await fake.sendStatus(receiver.url, wamid, 'read', { signature: 'none' })).status).toBe(401);
    expect(receiver.received.map((r) => r.valid)).toEqual([true, false, false]);
    expect(receiver.received[2]?.signature).toBeUndefined();
    // One changed byte breaks it.
    const first = receiver.received[0]!;
    const tampered = Buffer.from(first.raw);
    const at = tampered.length - 2;
    tampered.writeUInt8(tampered.readUInt8(at) ^ 1, at);
    expect(verifyWhatsAppSignature(tampered, first.signature, fake.appSecret)).toBe(false);
    expect(verifyWhatsAppSignature(first.raw, 'sha256=nothex', fake.appSecret)).toBe(false);
    expect(verifyWhatsAppSignature(first.raw, first.signature, 'another secret')).toBe(false);
  });

  it('answers the subscription handshake only with the right token', () => {
    const q = (token: string, mode = 'subscribe') =>
      new URLSearchParams({ 'hub.mode': mode, 'hub.verify_token': token, 'hub.challenge': '1158201444' });
    expect(verifyWhatsAppHandshake(q(fake.verifyToken), fake.verifyToken)).toBe('1158201444');
    expect(verifyWhatsAppHandshake(q('wrong'), fake.verifyToken)).toBeNull();
    expect(verifyWhatsAppHandshake(q(fake.verifyToken, 'unsubscribe'), fake.verifyToken)).toBeNull();
    expect(verifyWhatsAppHandshake(new URLSearchParams(), fake.verifyToken)).toBeNull();
    expect(client().verifyHandshake(q(fake.verifyToken))).toBe('1158201444');
    expect(client({ verifyToken: undefined }).verifyHandshake(q(fake.verifyToken))).toBeNull();
  });

  it('turns statuses into provider events naming our message, with the reason of a failure', async () => {
    const wa = client();
    const ok = await wa.sendTemplate(
      '+33612345678',
      { name: 'order_confirmation', language: 'fr' },
      { callbackData: 'msg_ok' },
    );
    const bad = await wa.sendText('+15551234567', 'hi', { callbackData: 'msg_bad' });
    await fake.sendStatus(receiver.url, ok.providerMessageId, 'sent', { timestamp: 1_700_000_000 });
    await fake.sendStatus(receiver.url, ok.providerMessageId, 'delivered', { timestamp: 1_700_000_005 });
    await fake.sendStatus(receiver.url, ok.providerMessageId, 'read', { timestamp: 1_700_000_060 });
    await fake.sendStatus(receiver.url, bad.providerMessageId, 'failed', {
      timestamp: 1_700_000_010,
      error: { code: 131047, title: 'Re-engagement message', details: 'More than 24 hours have passed' },
    });
    const events = receiver.received.flatMap(
      (r) => parseWhatsAppWebhook(JSON.parse(r.raw.toString())).events,
    );
    expect(events).toEqual([
      {
        messageId: 'msg_ok',
        providerMessageId: ok.providerMessageId,
        status: 'sent',
        address: '+33612345678',
        at: new Date(1_700_000_000_000),
        eventId: `${ok.providerMessageId}:sent`,
      },
      expect.objectContaining({ status: 'delivered', at: new Date(1_700_000_005_000) }),
      expect.objectContaining({ status: 'read', eventId: `${ok.providerMessageId}:read` }),
      {
        messageId: 'msg_bad',
        providerMessageId: bad.providerMessageId,
        status: 'failed',
        address: '+15551234567',
        reason: 'Re-engagement message (131047): More than 24 hours have passed',
        at: new Date(1_700_000_010_000),
        eventId: `${bad.providerMessageId}:failed`,
      },
    ]);
  });

  it('turns a reply-button press, a template quick reply and a STOP text into replies', async () => {
    const sent = await client().sendButtons('+33612345678', {
      body: 'Coming?',
      buttons: [
        { id: 'yes', title: 'Yes' },
        { id: 'no', title: 'No' },
      ],
    });
    await fake.sendReply(receiver.url, {
      from: '+33612345678',
      contextWamid: sent.providerMessageId,
      button: { id: 'no', title: 'No' },
      timestamp: 1_700_000_100,
    });
    await fake.sendReply(receiver.url, {
      from: '+33612345678',
      contextWamid: 'wamid.template',
      quickReply: { payload: 'reminder:stop', text: 'Stop reminders' },
    });
    await fake.sendReply(receiver.url, { from: '+33612345678', text: ' Stop ', name: 'Zoë' });
    expect(receiver.received.every((r) => r.valid)).toBe(true);
    const replies = receiver.received.flatMap(
      (r) => parseWhatsAppWebhook(JSON.parse(r.raw.toString())).replies,
    );
    expect(replies).toEqual([
      {
        from: '+33612345678',
        providerMessageId: expect.stringMatching(/^wamid\./),
        contextMessageId: sent.providerMessageId,
        kind: 'button',
        buttonId: 'no',
        text: 'No',
        at: new Date(1_700_000_100_000),
      },
      expect.objectContaining({
        kind: 'button',
        buttonId: 'reminder:stop',
        text: 'Stop reminders',
        contextMessageId: 'wamid.template',
      }),
      expect.objectContaining({ kind: 'text', text: ' Stop ' }),
    ]);
    expect(replies[2]).not.toHaveProperty('contextMessageId');
    expect(isOptOut(replies[2]!.text)).toBe(true);
    // Meta escapes non-ASCII: the bytes say \u00eb where the parsed JSON says ë.
    expect(receiver.received[2]?.raw.toString()).toContain('Zo\\u00eb');
  });

  it('ignores what is not a status or a reply', () => {
    expect(parseWhatsAppWebhook({ object: 'page', entry: [] })).toEqual({ events: [], replies: [] });
    expect(parseWhatsAppWebhook(null)).toEqual({ events: [], replies: [] });
    const image = {
      object: 'whatsapp_business_account',
      entry: [
        {
          id: '1',
          changes: [
            {
              field: 'messages',
              value: {
                messages: [
                  { from: '1555', id: 'wamid.x', timestamp: '1', type: 'image', image: { id: '9' } },
                ],
                statuses: [{ id: 'wamid.y', status: 'deleted', timestamp: '1', recipient_id: '1555' }],
              },
            },
          ],
        },
      ],
    };
    expect(parseWhatsAppWebhook(image)).toEqual({ events: [], replies: [] });
  });
});

describe('isOptOut', () => {
  it.each([
    'STOP',
    'stop',
    ' Stop ',
    'Stop.',
    'STOP ALL',
    'stopall',
    'Unsubscribe',
    'cancel',
    'END',
    'quit!',
  ])('is an opt-out: %j', (text) => expect(isOptOut(text)).toBe(true));
  it.each(['', 'Stop sending me reminders please', "don't stop", 'STOPPED', 'yes', 'start'])(
    'is not an opt-out: %j',
    (text) => expect(isOptOut(text)).toBe(false),
  );
});
