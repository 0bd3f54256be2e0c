import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  signWebhook,
  verifyWebhook,
  WEBHOOK_API_VERSION,
  WebhookVerificationError,
  type WebhookVerificationErrorCode,
} from '../src/index.js';

// Computed here with Node's own crypto, independently of the SDK's WebCrypto: what any Standard Webhooks
// sender (the server) produces.
const newSecret = () => `whsec_${randomBytes(24).toString('base64')}`;
const nodeSignature = (secret: string, id: string, timestamp: number, body: string | Buffer) =>
  `v1,${createHmac('sha256', Buffer.from(secret.slice('whsec_'.length), 'base64'))
    .update(`${id}.${timestamp}.`)
    .update(body)
    .digest('base64')}`;

const NOW = new Date('2026-12-04T12:00:00Z');
const T = Math.floor(NOW.getTime() / 1000);
const ID = 'msg_01jd6x3k7qf0v8c6w2x9yq4e5b';
const event = {
  id: 'evt_01jd6x3k7qf0v8c6w2x9yq4e5c',
  object: 'event',
  type: 'order.paid',
  api_version: WEBHOOK_API_VERSION,
  created_at: NOW.toISOString(),
  data: { object: { id: 'ord_01jd6x3k7qf0v8c6w2x9yq4e5d', total: 2500, buyer: { name: 'Zoë' } } },
};
const BODY = JSON.stringify(event);

const headersFor = (signature: string, timestamp = T, id = ID) => ({
  'webhook-id': id,
  'webhook-timestamp': String(timestamp),
  'webhook-signature': signature,
});

async function refusal(work: Promise<unknown>): Promise<WebhookVerificationErrorCode> {
  const err = await work.then(
    () => {
      throw new Error('expected the delivery to be refused');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WebhookVerificationError);
  expect(err).toBeInstanceOf(Error);
  expect((err as Error).name).toBe('WebhookVerificationError');
  expect((err as Error).message).toBeTruthy();
  return (err as WebhookVerificationError).code;
}

describe('verifyWebhook', () => {
  const secret = newSecret();

  it('verifies a body signed with Node crypto, and returns the parsed event', async () => {
    const verified = await verifyWebhook(BODY, headersFor(nodeSignature(secret, ID, T, BODY)), secret, {
      now: NOW,
    });
    expect(verified).toEqual(event);
  });

  it('takes the body as bytes, exactly as they came (UTF-8 outside ASCII too)', async () => {
    const bytes = Buffer.from(BODY, 'utf8');
    const signature = nodeSignature(secret, ID, T, bytes);
    expect(await verifyWebhook(bytes, headersFor(signature), secret, { now: NOW })).toEqual(event);
    expect(await verifyWebhook(new Uint8Array(bytes), headersFor(signature), secret, { now: NOW })).toEqual(
      event,
    );
  });

  it('takes a fetch Headers object and a plain object (any case, arrays as Node gives them)', async () => {
    const signature = nodeSignature(secret, ID, T, BODY);
    expect(await verifyWebhook(BODY, new Headers(headersFor(signature)), secret, { now: NOW })).toEqual(
      event,
    );
    expect(
      await verifyWebhook(
        BODY,
        { 'Webhook-Id': ID, 'WEBHOOK-TIMESTAMP': String(T), 'webhook-signature': [signature] },
        secret,
        { now: NOW },
      ),
    ).toEqual(event);
  });

  it('refuses a tampered body', async () => {
    const signature = nodeSignature(secret, ID, T, BODY);
    const tampered = BODY.replace('2500', '1');
    expect(await refusal(verifyWebhook(tampered, headersFor(signature), secret, { now: NOW }))).toBe(
      'no_matching_signature',
    );
    // …or a changed id or timestamp, which are signed too.
    expect(
      await refusal(verifyWebhook(BODY, headersFor(signature, T, 'msg_other'), secret, { now: NOW })),
    ).toBe('no_matching_signature');
    expect(await refusal(verifyWebhook(BODY, headersFor(signature, T + 1), secret, { now: NOW }))).toBe(
      'no_matching_signature',
    );
  });

  it('refuses the wrong secret, and signatures that are not v1 or not base64', async () => {
    const other = newSecret();
    expect(
      await refusal(verifyWebhook(BODY, headersFor(nodeSignature(other, ID, T, BODY)), secret, { now: NOW })),
    ).toBe('no_matching_signature');
    const good = nodeSignature(secret, ID, T, BODY).slice(3);
    for (const signature of [`v2,${good}`, good, 'v1,***', 'v1,', 'v1a,abc'])
      expect(await refusal(verifyWebhook(BODY, headersFor(signature), secret, { now: NOW }))).toBe(
        'no_matching_signature',
      );
  });

  it('refuses a timestamp older than the tolerance, or as far in the future', async () => {
    const at = (t: number) => headersFor(nodeSignature(secret, ID, t, BODY), t);
    expect(await refusal(verifyWebhook(BODY, at(T - 301), secret, { now: NOW }))).toBe('timestamp_too_old');
    expect(await refusal(verifyWebhook(BODY, at(T + 301), secret, { now: NOW }))).toBe('timestamp_in_future');
    // Within 300 seconds either way is fine; the tolerance can be changed.
    expect(await verifyWebhook(BODY, at(T - 300), secret, { now: NOW })).toEqual(event);
    expect(await verifyWebhook(BODY, at(T + 300), secret, { now: NOW })).toEqual(event);
    expect(await refusal(verifyWebhook(BODY, at(T - 61), secret, { now: NOW, toleranceSeconds: 60 }))).toBe(
      'timestamp_too_old',
    );
    // Without `now`, the clock: a delivery signed a day ago is old.
    expect(await refusal(verifyWebhook(BODY, at(T), secret))).toBe('timestamp_too_old');
  });

  it('refuses missing headers, and a timestamp that is not Unix seconds', async () => {
    const full = headersFor(nodeSignature(secret, ID, T, BODY));
    for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature'] as const) {
      const { [name]: _left, ...rest } = full;
      expect(await refusal(verifyWebhook(BODY, rest, secret, { now: NOW }))).toBe('missing_headers');
      expect(await refusal(verifyWebhook(BODY, { ...full, [name]: '' }, secret, { now: NOW }))).toBe(
        'missing_headers',
      );
    }
    expect(await refusal(verifyWebhook(BODY, {}, secret, { now: NOW }))).toBe('missing_headers');
    expect(await refusal(verifyWebhook(BODY, new Headers(), secret, { now: NOW }))).toBe('missing_headers');
    expect(
      await refusal(
        verifyWebhook(BODY, { ...full, 'webhook-timestamp': NOW.toISOString() }, secret, { now: NOW }),
      ),
    ).toBe('missing_headers');
  });

  it('during a rotation, accepts either of the two signatures (old secret, new secret)', async () => {
    const oldSecret = newSecret();
    const rotated = newSecret();
    const both = `${nodeSignature(oldSecret, ID, T, BODY)} ${nodeSignature(rotated, ID, T, BODY)}`;
    expect(await verifyWebhook(BODY, headersFor(both), oldSecret, { now: NOW })).toEqual(event);
    expect(await verifyWebhook(BODY, headersFor(both), rotated, { now: NOW })).toEqual(event);
    // Node's req.headers gives one string; a proxy that split them gives several.
    expect(
      await verifyWebhook(BODY, { ...headersFor(''), 'webhook-signature': both.split(' ') }, rotated, {
        now: NOW,
      }),
    ).toEqual(event);
    // Sent as two header lines, which a fetch Headers joins with ", ".
    const twice = new Headers([
      ['webhook-id', ID],
      ['webhook-timestamp', String(T)],
      ...both.split(' ').map((s): [string, string] => ['webhook-signature', s]),
    ]);
    expect(twice.get('webhook-signature')).toContain(', ');
    expect(await verifyWebhook(BODY, twice, oldSecret, { now: NOW })).toEqual(event);
    expect(await verifyWebhook(BODY, twice, rotated, { now: NOW })).toEqual(event);
    expect(await refusal(verifyWebhook(BODY, headersFor(both), secret, { now: NOW }))).toBe(
      'no_matching_signature',
    );
  });

  it('refuses a correctly signed body that is not a JSON object', async () => {
    for (const body of ['not json', '{"id":', '[1,2]', 'null']) {
      const headers = headersFor(nodeSignature(secret, ID, T, body));
      expect(await refusal(verifyWebhook(body, headers, secret, { now: NOW }))).toBe('invalid_payload');
    }
    // Bytes that are not UTF-8.
    const bytes = Buffer.from([0x7b, 0xff, 0xfe, 0x7d]);
    expect(
      await refusal(
        verifyWebhook(bytes, headersFor(nodeSignature(secret, ID, T, bytes)), secret, { now: NOW }),
      ),
    ).toBe('invalid_payload');
  });

  it('an unusable secret is a TypeError (a mistake in the setup, not a bad delivery)', async () => {
    const headers = headersFor(nodeSignature(secret, ID, T, BODY));
    await expect(verifyWebhook(BODY, headers, '', { now: NOW })).rejects.toThrow(TypeError);
    await expect(verifyWebhook(BODY, headers, 'whsec_', { now: NOW })).rejects.toThrow(TypeError);
    await expect(verifyWebhook(BODY, headers, 'whsec_!!not base64!!', { now: NOW })).rejects.toThrow(
      TypeError,
    );
  });
});

describe('signWebhook', () => {
  it('signs as Node crypto does: v1,<base64 HMAC-SHA256>, and verifyWebhook takes it', async () => {
    const secret = newSecret();
    const signature = await signWebhook(ID, T, BODY, secret);
    expect(signature).toBe(nodeSignature(secret, ID, T, BODY));
    expect(signature).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(await signWebhook(ID, NOW, Buffer.from(BODY), secret)).toBe(signature);
    expect(await verifyWebhook(BODY, headersFor(signature), secret, { now: NOW })).toEqual(event);
    await expect(signWebhook(ID, 1.5, BODY, secret)).rejects.toThrow(TypeError);
  });
});
