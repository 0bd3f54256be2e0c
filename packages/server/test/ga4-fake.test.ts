import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type FakeGa4,
  GA4_MAX_BODY_BYTES,
  type Ga4ValidationMessage,
  startFakeGa4,
  validatePayload,
} from './fakes/ga4.js';

const MEASUREMENT_ID = 'G-TEST123';
const API_SECRET = 'secret';

let ga: FakeGa4;
beforeAll(async () => {
  ga = await startFakeGa4({ measurementId: MEASUREMENT_ID, apiSecret: API_SECRET });
});
afterAll(() => ga.close());
beforeEach(() => ga.clear());

function withIds(url: string, ids: { measurementId?: string; apiSecret?: string } = {}) {
  const query = new URLSearchParams({
    measurement_id: ids.measurementId ?? MEASUREMENT_ID,
    api_secret: ids.apiSecret ?? API_SECRET,
  });
  return `${url}?${query}`;
}

const post = (url: string, body: unknown) =>
  fetch(url, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body) });

async function collect(body: unknown, ids?: { measurementId?: string; apiSecret?: string }) {
  const res = await post(withIds(ga.collectUrl, ids), body);
  return { status: res.status, text: await res.text() };
}

async function debug(
  body: unknown,
  ids?: { measurementId?: string; apiSecret?: string },
): Promise<Ga4ValidationMessage[]> {
  const res = await post(withIds(ga.debugUrl, ids), body);
  expect(res.status).toBe(200);
  const json = (await res.json()) as { validationMessages: Ga4ValidationMessage[] };
  return json.validationMessages;
}

const codes = (messages: Ga4ValidationMessage[]) => messages.map((m) => [m.validationCode, m.fieldPath]);

interface Body {
  client_id: string;
  user_id: string;
  events: { name: string; params: Record<string, unknown> }[];
}

const purchase = (): Body => ({
  client_id: '1234567890.1700000000',
  user_id: 'usr_42',
  events: [
    {
      name: 'purchase',
      params: {
        transaction_id: 'ord_01HZX',
        value: 72.05,
        tax: 3.6,
        currency: 'EUR',
        coupon: 'SUMMER10',
        items: [
          {
            item_id: 'tt_general',
            item_name: 'General admission',
            item_category: 'Concert',
            price: 30,
            quantity: 2,
          },
          { item_id: 'tt_vip', item_name: 'VIP', item_category: 'Concert', price: 12.05, quantity: 1 },
        ],
      },
    },
  ],
});

/** `purchase()` with its first event's params changed (an `undefined` param is removed). */
function purchaseWith(params: Record<string, unknown>) {
  const body = purchase();
  const event = body.events[0]!;
  event.params = JSON.parse(JSON.stringify({ ...event.params, ...params }));
  return body;
}

describe('fake GA4 collect', () => {
  it('accepts a valid purchase: 204 with an empty body, recorded, shown in events("purchase")', async () => {
    expect(await collect(purchase())).toEqual({ status: 204, text: '' });

    expect(ga.hits).toHaveLength(1);
    const hit = ga.hits[0]!;
    expect(hit).toMatchObject({
      measurementId: MEASUREMENT_ID,
      apiSecret: API_SECRET,
      status: 204,
      accepted: true,
      problems: [],
    });
    expect(hit.events.map((e) => e.name)).toEqual(['purchase']);

    const [event, ...others] = ga.events('purchase');
    expect(others).toEqual([]);
    expect(event).toMatchObject({
      name: 'purchase',
      clientId: '1234567890.1700000000',
      userId: 'usr_42',
      problems: [],
      params: { transaction_id: 'ord_01HZX', value: 72.05, currency: 'EUR', coupon: 'SUMMER10' },
    });
    expect(event?.params.items).toHaveLength(2);
    expect(ga.events('refund')).toEqual([]);
    expect(ga.problems()).toEqual([]);
  });

  it('answers 204 to a wrong api_secret or measurement_id but accepts nothing', async () => {
    expect((await collect(purchase(), { apiSecret: 'wrong' })).status).toBe(204);
    expect((await collect(purchase(), { measurementId: 'G-OTHER' })).status).toBe(204);
    const res = await post(`${ga.collectUrl}?measurement_id=${MEASUREMENT_ID}`, purchase());
    expect(res.status).toBe(204);

    expect(ga.hits.map((h) => [h.status, h.accepted])).toEqual([
      [204, false],
      [204, false],
      [204, false],
    ]);
    expect(codes(ga.problems())).toEqual([
      ['VALUE_INVALID', 'api_secret'],
      ['VALUE_INVALID', 'measurement_id'],
      ['VALUE_REQUIRED', 'api_secret'],
    ]);
    expect(ga.events()).toEqual([]);
  });

  it('records what GA would drop: an accepted hit keeps its events, with their problems', async () => {
    const body = purchase();
    body.events.push({ name: 'session_start', params: {} });
    expect((await collect(body)).status).toBe(204);

    expect(ga.hits[0]?.accepted).toBe(true);
    expect(codes(ga.hits[0]!.problems)).toEqual([['NAME_RESERVED', 'events[1].name']]);
    expect(ga.events('purchase')[0]?.problems).toEqual([]);
    expect(codes(ga.events('session_start')[0]!.problems)).toEqual([['NAME_RESERVED', 'events[1].name']]);
  });

  it('records a body that is not JSON, and accepts nothing of it', async () => {
    expect((await collect('{"client_id": ')).status).toBe(204);
    expect(ga.hits[0]).toMatchObject({ accepted: false, body: undefined, events: [] });
    expect(codes(ga.hits[0]!.problems)).toEqual([['VALUE_INVALID', '']]);
  });

  it('failNext(2, 503): two 503s (recorded, not accepted), then the retry succeeds', async () => {
    ga.failNext(2, 503);
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 5; attempt++) {
      const { status } = await collect(purchase());
      statuses.push(status);
      if (status < 500) break;
    }
    expect(statuses).toEqual([503, 503, 204]);
    expect(ga.hits.map((h) => [h.n, h.status, h.accepted])).toEqual([
      [1, 503, false],
      [2, 503, false],
      [3, 204, true],
    ]);
    expect(ga.events('purchase')).toHaveLength(1);
    // Afterwards, back to normal.
    expect((await collect(purchase())).status).toBe(204);
  });

  it('failNext passes the headers given (a 429 with Retry-After)', async () => {
    ga.failNext(1, 429, { 'retry-after': '2' });
    const res = await post(withIds(ga.collectUrl), purchase());
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('2');
  });

  it('answers 413 to a body over 130 kB, recorded and not accepted', async () => {
    const body = purchaseWith({ filler: 'x'.repeat(GA4_MAX_BODY_BYTES) });
    const { status } = await collect(body);
    expect(status).toBe(413);
    expect(ga.hits[0]).toMatchObject({ status: 413, accepted: false });
    expect(codes(ga.hits[0]!.problems)).toEqual([['VALUE_OUT_OF_BOUNDS', '']]);
    expect(ga.events()).toEqual([]);
  });

  it('404s another path and 405s another method', async () => {
    expect((await fetch(`${ga.url}/collect`, { method: 'POST', body: '{}' })).status).toBe(404);
    const get = await fetch(withIds(ga.collectUrl));
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    expect((await fetch(withIds(ga.debugUrl), { method: 'PUT', body: '{}' })).status).toBe(405);
    expect(ga.hits).toEqual([]);
  });

  it('waitForEvent resolves with an event arriving later, and rejects saying what arrived', async () => {
    const waiting = ga.waitForEvent('purchase', (e) => e.params.transaction_id === 'ord_01HZX');
    await collect(purchase());
    expect((await waiting).userId).toBe('usr_42');

    await expect(ga.waitForEvent('refund', undefined, 50)).rejects.toThrow(
      /no accepted refund event.*\n.*purchase/,
    );
  });
});

describe('fake GA4 validation server (/debug/mp/collect)', () => {
  it('answers no messages for a valid purchase, and records no hit', async () => {
    expect(await debug(purchase())).toEqual([]);
    expect(ga.hits).toEqual([]);
    expect(ga.debugHits).toHaveLength(1);
  });

  const twentySix = () => ({
    client_id: 'c1',
    events: Array.from({ length: 26 }, (_, i) => ({ name: `step_${i}`, params: {} })),
  });
  const named = (name: string) => ({ client_id: 'c1', events: [{ name, params: {} }] });

  it.each<[string, () => unknown, [string, string]]>([
    ['26 events', twentySix, ['EXCEEDED_MAX_ENTITIES', 'events']],
    ['a 41-character event name', () => named(`a${'b'.repeat(40)}`), ['NAME_INVALID', 'events[0].name']],
    ['a reserved event name', () => named('session_start'), ['NAME_RESERVED', 'events[0].name']],
    ['a reserved prefix', () => named('google_thing'), ['NAME_RESERVED', 'events[0].name']],
    ['a name starting with a digit', () => named('1st_purchase'), ['NAME_INVALID', 'events[0].name']],
    ['a name with a hyphen', () => named('add-to-cart'), ['NAME_INVALID', 'events[0].name']],
    [
      'a purchase without transaction_id',
      () => purchaseWith({ transaction_id: undefined }),
      ['VALUE_REQUIRED', 'events[0].params.transaction_id'],
    ],
    [
      'a value without currency',
      () => purchaseWith({ currency: undefined }),
      ['VALUE_REQUIRED', 'events[0].params.currency'],
    ],
    [
      'a currency not in ISO 4217 form',
      () => purchaseWith({ currency: 'eur' }),
      ['VALUE_INVALID', 'events[0].params.currency'],
    ],
    [
      'a value that is a string',
      () => purchaseWith({ value: '72.05' }),
      ['VALUE_INVALID', 'events[0].params.value'],
    ],
    [
      'an item without item_id and item_name',
      () => purchaseWith({ items: [{ price: 30, quantity: 1 }] }),
      ['VALUE_REQUIRED', 'events[0].params.items[0]'],
    ],
    [
      'a 101-character string param',
      () => purchaseWith({ coupon: 'c'.repeat(101) }),
      ['VALUE_OUT_OF_BOUNDS', 'events[0].params.coupon'],
    ],
    ['no client_id', () => ({ events: [{ name: 'login' }] }), ['VALUE_REQUIRED', 'client_id']],
    ['no events', () => ({ client_id: 'c1' }), ['VALUE_REQUIRED', 'events']],
  ])('reports %s', async (_, body, expected) => {
    expect(codes(await debug(body()))).toEqual([expected]);
  });

  it('reports a wrong api_secret (which Google itself does not check) and a missing one', async () => {
    const wrong = await debug(purchase(), { apiSecret: 'not-the-secret' });
    expect(codes(wrong)).toEqual([['VALUE_INVALID', 'api_secret']]);
    expect(wrong[0]?.description).toMatch(/api_secret/);

    const res = await post(`${ga.debugUrl}?measurement_id=${MEASUREMENT_ID}`, purchase());
    const { validationMessages } = (await res.json()) as { validationMessages: Ga4ValidationMessage[] };
    expect(codes(validationMessages)).toEqual([['VALUE_REQUIRED', 'api_secret']]);
  });

  it('reports an oversized body as VALUE_OUT_OF_BOUNDS', async () => {
    const messages = await debug(purchaseWith({ filler: 'x'.repeat(GA4_MAX_BODY_BYTES) }));
    expect(codes(messages)).toContainEqual(['VALUE_OUT_OF_BOUNDS', '']);
  });

  it('describes in Google’s style', async () => {
    const [message] = await debug(named('_badEventName'));
    expect(message).toEqual({
      fieldPath: 'events[0].name',
      description:
        'Event at index: [0] has invalid name [_badEventName]. Names must start with an alphabetic character.',
      validationCode: 'NAME_INVALID',
    });
  });
});

describe('validatePayload', () => {
  const ids = {
    measurementId: MEASUREMENT_ID,
    apiSecret: API_SECRET,
    expected: { measurementId: MEASUREMENT_ID, apiSecret: API_SECRET },
  };

  it('accepts the valid purchase, as an object or as JSON text', () => {
    expect(validatePayload(purchase(), ids)).toEqual([]);
    expect(validatePayload(JSON.stringify(purchase()))).toEqual([]);
  });

  it('reports a key given twice in one object as NAME_DUPLICATED', () => {
    const text =
      '{"client_id":"c1","events":[{"name":"purchase","params":{"transaction_id":"a","transaction_id":"b"}}]}';
    expect(codes(validatePayload(text))).toEqual([['NAME_DUPLICATED', 'events[0].params.transaction_id']]);
  });

  it('allows page_location up to 1000 characters, other strings 100', () => {
    const view = (params: Record<string, unknown>) => ({
      client_id: 'c1',
      events: [{ name: 'page_view', params }],
    });
    expect(validatePayload(view({ page_location: `https://x.test/${'a'.repeat(900)}` }))).toEqual([]);
    expect(codes(validatePayload(view({ page_title: 't'.repeat(301) })))).toEqual([
      ['VALUE_OUT_OF_BOUNDS', 'events[0].params.page_title'],
    ]);
  });

  it('checks user properties, params per event, items per event and consent', () => {
    const params = Object.fromEntries(Array.from({ length: 26 }, (_, i) => [`p${i}`, i]));
    const items = Array.from({ length: 201 }, (_, i) => ({ item_id: `i${i}` }));
    const messages = validatePayload({
      client_id: 'c1',
      consent: { ad_user_data: 'granted', ad_personalization: 'DENIED' },
      user_properties: {
        a_very_long_user_property_name: { value: 'x' },
        tier: { value: 'y'.repeat(37) },
        first_open_time: { value: 1 },
        plain: 'not wrapped',
      },
      events: [
        { name: 'custom_thing', params },
        { name: 'view_item_list', params: { items } },
      ],
    });
    expect(codes(messages)).toEqual([
      ['VALUE_INVALID', 'consent.ad_user_data'],
      ['NAME_INVALID', 'user_properties.a_very_long_user_property_name'],
      ['VALUE_OUT_OF_BOUNDS', 'user_properties.tier.value'],
      ['NAME_RESERVED', 'user_properties.first_open_time'],
      ['VALUE_INVALID', 'user_properties.plain'],
      ['EXCEEDED_MAX_ENTITIES', 'events[0].params'],
      ['EXCEEDED_MAX_ENTITIES', 'events[1].params.items'],
    ]);
  });

  it('reports timestamp_micros older than 72 hours', () => {
    const now = Date.UTC(2026, 0, 10);
    const at = (ms: number) => ({
      client_id: 'c1',
      timestamp_micros: ms * 1000,
      events: [{ name: 'login' }],
    });
    expect(validatePayload(at(now - 71 * 3600_000), undefined, { now })).toEqual([]);
    expect(codes(validatePayload(at(now - 73 * 3600_000), undefined, { now }))).toEqual([
      ['VALUE_OUT_OF_BOUNDS', 'timestamp_micros'],
    ]);
  });
});
