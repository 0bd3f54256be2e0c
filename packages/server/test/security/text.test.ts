// Input that breaks the database: Postgres text cannot hold U+0000, and a lone UTF-16 surrogate is no
// character (nor valid UTF-8). Every string a request carries — body, query, path, even a field's name —
// is refused with 400 naming the field, on both databases alike, before any route sees it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, eventOnSale, http, signUp, startTestServer, type TestServer } from '../harness.js';

describe.each(DIALECTS)('%s: text no database can store', (dialect) => {
  let server: TestServer;
  let call: ReturnType<typeof http>;
  let token: string;
  let eventId: string;
  let typeId: string;

  beforeAll(async () => {
    server = await startTestServer(dialect);
    call = http(server.url);
    token = (await signUp(server.url)).token;
    ({
      eventId,
      typeIds: [typeId = ''],
    } = await eventOnSale(server.url, token, { name: 'Plain text' }, [
      { name: 'GA', amount: 1000, capacity: 10 },
    ]));
  });
  afterAll(() => server?.stop());

  const BAD = { nul: 'Jazz\u0000Night', lone: 'Jazz \ud800 Night', lowLone: 'Jazz \udc00' };

  it.each(Object.entries(BAD))('refuses %s in a body field, naming it', async (_, text) => {
    const res = await call('POST', '/api/events', {
      token,
      body: {
        name: text,
        timezone: 'UTC',
        starts_at: '2031-01-01T20:00:00Z',
        ends_at: '2031-01-01T22:00:00Z',
        currency: 'EUR',
      },
    });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({
      code: 'invalid_body',
      errors: [{ path: 'name', code: 'invalid_characters' }],
    });
  });

  it('refuses it deep in a body (a buyer, an item) and writes nothing', async () => {
    const res = await call('POST', '/api/tickets/purchase', {
      token,
      body: {
        event: eventId,
        items: [{ ticket_type: typeId, quantity: 1, holders: [{ name: BAD.nul }] }],
        buyer: { name: 'Ann', email: 'ann@example.com' },
        payment_method: 'manual',
      },
    });
    expect(res.status).toBe(400);
    expect(res.body.errors[0].path).toBe('items.0.holders.0.name');
    const orders = await call('GET', `/api/orders?event=${eventId}`, { token });
    expect(orders.body.data).toEqual([]);
  });

  it('refuses it in a query string and in a path', async () => {
    const search = await call('GET', `/api/events?q=${encodeURIComponent(BAD.nul)}`, { token });
    expect(search.status).toBe(400);
    expect(search.body).toMatchObject({ code: 'invalid_query', errors: [{ path: 'q' }] });
    const path = await call('GET', `/api/events/${encodeURIComponent(`evt_${'\u0000'}`)}`, { token });
    expect(path.status).toBe(400);
    expect(path.body.code).toBe('invalid_path');
  });

  it('refuses it in a field name', async () => {
    const res = await call('PUT', `/api/events/${eventId}`, { token, body: { [`na\u0000me`]: 'x' } });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('invalid_body');
  });

  it('still takes every real character: accents, CJK, emoji (surrogate pairs)', async () => {
    const name = 'Café 東京 🎷 Ünïcødé';
    const res = await call('PUT', `/api/events/${eventId}`, { token, body: { name } });
    expect(res.status).toBe(200);
    expect(res.body.name).toBe(name);
  });
});
