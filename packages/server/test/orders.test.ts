import { decodeTicketCode, verifyTicketCode } from '@tickets/sdk';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeStripe, startFakeStripe } from './fakes/stripe.js';
import {
  DIALECTS,
  describeOnPostgres,
  eventOnSale,
  http,
  sampleEvent,
  signUp,
  startTestServer,
  stripeEnv,
  type TestServer,
} from './harness.js';

type Call = ReturnType<typeof http>;

/** A published event with one ticket type; returns their ids. */
async function onSale(
  call: Call,
  token: string,
  event: Record<string, unknown> = {},
  type: Record<string, unknown> = {},
) {
  const e = await call('POST', '/api/events', { token, body: sampleEvent(event) });
  expect(e.status).toBe(201);
  const t = await call('POST', `/api/events/${e.body.id}/ticket-types`, {
    token,
    body: { name: 'General admission', price: { amount: 2500, currency: 'EUR' }, capacity: 100, ...type },
  });
  expect(t.status).toBe(201);
  const p = await call('POST', `/api/events/${e.body.id}/publish`, { token });
  expect(p.status).toBe(200);
  return { eventId: e.body.id as string, typeId: t.body.id as string };
}

const buyer = { name: 'Bea Buyer', email: 'bea@example.com' };

describe.each(DIALECTS)('%s: selling', (dialect) => {
  let s: TestServer;
  let call: Call;
  let token: string;
  beforeAll(async () => {
    s = await startTestServer(dialect);
    call = http(s.url);
    token = (await signUp(s.url)).token;
  });
  afterAll(() => s.stop());

  const purchase = (body: Record<string, unknown>, headers: Record<string, string> = {}) =>
    call('POST', '/api/tickets/purchase', { token, body, headers });

  it('sells at the box office: the order is paid and each ticket carries a code signed with the event key', async () => {
    const { eventId, typeId } = await onSale(call, token);
    const res = await purchase({
      event: eventId,
      items: [
        { ticket_type: typeId, quantity: 2, holders: [{ name: 'Hal Holder', email: 'hal@example.com' }] },
      ],
      buyer,
      payment_method: 'manual',
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      object: 'order',
      status: 'paid',
      payment_method: 'manual',
      total: { amount: 5000, currency: 'EUR' },
      refunded: { amount: 0, currency: 'EUR' },
      items: [{ ticket_type_id: typeId, quantity: 2, unit_price: { amount: 2500 }, total: { amount: 5000 } }],
    });
    expect(res.body.tickets).toHaveLength(2);
    expect(res.body.tickets[0].holder).toEqual({ name: 'Hal Holder', email: 'hal@example.com' });
    expect(res.body.tickets[1].holder).toEqual({ name: buyer.name, email: buyer.email });

    const key = await call('GET', `/api/events/${eventId}/public-key`, { token });
    expect(key.body).toMatchObject({ algorithm: 'Ed25519', event_id: eventId });
    expect(key.body.pem).toContain('BEGIN PUBLIC KEY');
    for (const t of res.body.tickets) {
      const check = await verifyTicketCode(t.code, key.body.public_key);
      expect(check).toEqual({ valid: true, ticketId: t.id, eventId, ticketTypeId: typeId, version: 1 });
    }
    const availability = await call('GET', `/api/tickets/availability?event=${eventId}`, { token });
    expect(availability.body.ticket_types[0]).toMatchObject({ sold: 2, held: 0, available: 98 });
    expect(availability.body).toMatchObject({ sold: 2, available: 98 });
  });

  it('keeps where a purchase came from (UTM, referrer), in its answer and when read back', async () => {
    const { eventId, typeId } = await onSale(call, token, { name: 'Attributed' });
    const sale = (attribution?: Record<string, unknown>, quantity = 1) =>
      purchase({
        event: eventId,
        items: [{ ticket_type: typeId, quantity }],
        buyer,
        payment_method: 'manual',
        ...(attribution ? { attribution } : {}),
      });
    // An event's first sale and the later ones take different paths on SQLite (rows read, or not): both keep it.
    const tagged = await sale({
      source: 'newsletter',
      medium: 'email',
      campaign: 'spring',
      referrer: 'https://bluenote.example/jazz',
    });
    expect(tagged.status).toBe(201);
    const expected = {
      source: 'newsletter',
      medium: 'email',
      campaign: 'spring',
      referrer: 'https://bluenote.example/jazz',
    };
    expect(tagged.body.attribution).toEqual(expected);
    expect((await call('GET', `/api/orders/${tagged.body.id}`, { token })).body.attribution).toEqual(
      expected,
    );
    const partial = await sale({ source: 'instagram' }, 2);
    expect((await call('GET', `/api/orders/${partial.body.id}`, { token })).body.attribution).toEqual({
      source: 'instagram',
      medium: null,
      campaign: null,
      referrer: null,
    });
    const plain = await sale();
    expect(plain.body.attribution).toBeNull();
    expect((await call('GET', `/api/orders/${plain.body.id}`, { token })).body.attribution).toBeNull();
    for (const [bad, path] of [
      [{ referrer: 'not a url' }, 'attribution.referrer'],
      [{ source: '' }, 'attribution.source'],
      [{ utm_source: 'x' }, 'attribution'],
    ] as const) {
      const refused = await sale(bad);
      expect(refused.status).toBe(422);
      expect(refused.body.errors[0].path).toBe(path);
    }
  });

  it('refuses a tampered code and a code checked against another event’s key', async () => {
    const a = await onSale(call, token, { name: 'Keys A' });
    const b = await onSale(call, token, { name: 'Keys B' });
    const order = await purchase({
      event: a.eventId,
      items: [{ ticket_type: a.typeId, quantity: 1 }],
      buyer,
      payment_method: 'manual',
    });
    const code: string = order.body.tickets[0].code;
    const keyA = (await call('GET', `/api/events/${a.eventId}/public-key`, { token })).body.public_key;
    const keyB = (await call('GET', `/api/events/${b.eventId}/public-key`, { token })).body.public_key;
    expect(keyA).not.toBe(keyB);
    expect((await verifyTicketCode(code, keyB)).valid).toBe(false);
    const bytes = Buffer.from(code, 'base64url');
    bytes[20] = (bytes[20] ?? 0) ^ 1; // another event id, same signature
    const tampered = await verifyTicketCode(bytes.toString('base64url'), keyA);
    expect(tampered).toMatchObject({ valid: false, reason: 'bad_signature' });
    expect(await verifyTicketCode('not a code', keyA)).toEqual({ valid: false, reason: 'malformed' });
    expect(decodeTicketCode(code)?.payload.ticketId).toBe(order.body.tickets[0].id);
  });

  it('gives free tickets without a payment method, and requires one when the order costs money', async () => {
    const { eventId, typeId } = await onSale(
      call,
      token,
      { name: 'Free talk' },
      { price: { amount: 0, currency: 'EUR' } },
    );
    const free = await purchase({ event: eventId, items: [{ ticket_type: typeId, quantity: 1 }], buyer });
    expect(free.status).toBe(201);
    expect(free.body).toMatchObject({ status: 'paid', payment_method: 'free', total: { amount: 0 } });
    const paid = await onSale(call, token, { name: 'Paid talk' });
    const missing = await purchase({
      event: paid.eventId,
      items: [{ ticket_type: paid.typeId, quantity: 1 }],
      buyer,
    });
    expect(missing.status).toBe(422);
    expect(missing.body.errors[0].path).toBe('payment_method');
  });

  it('checks the event, the sales windows and the per-order limits', async () => {
    const draft = await call('POST', '/api/events', { token, body: sampleEvent({ name: 'Draft' }) });
    const draftType = await call('POST', `/api/events/${draft.body.id}/ticket-types`, {
      token,
      body: { name: 'GA', price: { amount: 100, currency: 'EUR' }, capacity: 5 },
    });
    const notPublished = await purchase({
      event: draft.body.id,
      items: [{ ticket_type: draftType.body.id, quantity: 1 }],
      buyer,
      payment_method: 'manual',
    });
    expect(notPublished.status).toBe(409);
    expect(notPublished.body.code).toBe('event_not_published');

    const { eventId, typeId } = await onSale(
      call,
      token,
      { name: 'Limits' },
      { min_per_order: 2, max_per_order: 4 },
    );
    const later = await call('POST', `/api/events/${eventId}/ticket-types`, {
      token,
      body: {
        name: 'Later',
        price: { amount: 100, currency: 'EUR' },
        capacity: 5,
        sales_start_at: '2030-06-01T00:00:00Z',
      },
    });
    const tooFew = await purchase({
      event: eventId,
      items: [{ ticket_type: typeId, quantity: 1 }],
      buyer,
      payment_method: 'manual',
    });
    expect(tooFew.status).toBe(422);
    expect(tooFew.body.errors[0]).toMatchObject({ path: 'items.0.quantity', code: 'below_min_per_order' });
    const tooMany = await purchase({
      event: eventId,
      items: [{ ticket_type: typeId, quantity: 5 }],
      buyer,
      payment_method: 'manual',
    });
    expect(tooMany.body.errors[0].code).toBe('above_max_per_order');
    const notYet = await purchase({
      event: eventId,
      items: [{ ticket_type: later.body.id, quantity: 1 }],
      buyer,
      payment_method: 'manual',
    });
    expect(notYet.status).toBe(409);
    expect(notYet.body.code).toBe('sales_not_started');
    const foreign = await purchase({
      event: eventId,
      items: [{ ticket_type: draftType.body.id, quantity: 2 }],
      buyer,
      payment_method: 'manual',
    });
    expect(foreign.status).toBe(422);
    expect(foreign.body.errors[0].code).toBe('unknown_ticket_type');
    const twice = await purchase({
      event: eventId,
      items: [
        { ticket_type: typeId, quantity: 2 },
        { ticket_type: typeId, quantity: 2 },
      ],
      buyer,
      payment_method: 'manual',
    });
    expect(twice.body.errors[0].code).toBe('duplicate_ticket_type');
    const badPhone = await purchase({
      event: eventId,
      items: [{ ticket_type: typeId, quantity: 2 }],
      buyer: { ...buyer, phone: '0170 123' },
      payment_method: 'manual',
    });
    expect(badPhone.status).toBe(422);
    expect(badPhone.body.errors[0].path).toBe('buyer.phone');
    const stripe = await purchase({
      event: eventId,
      items: [{ ticket_type: typeId, quantity: 2 }],
      buyer,
      payment_method: 'stripe',
    });
    expect(stripe.status).toBe(501);
  });

  it('refuses for the same reasons once the event has sold (SQLite then reads the rows with its writes)', async () => {
    const { eventId, typeId } = await onSale(
      call,
      token,
      { name: 'Known key', capacity: 6 },
      { min_per_order: 2, max_per_order: 4, capacity: 5 },
    );
    const later = await call('POST', `/api/events/${eventId}/ticket-types`, {
      token,
      body: {
        name: 'Later',
        price: { amount: 100, currency: 'EUR' },
        capacity: 5,
        sales_start_at: '2030-06-01T00:00:00Z',
      },
    });
    const small = await call('POST', `/api/events/${eventId}/ticket-types`, {
      token,
      body: { name: 'Small', price: { amount: 100, currency: 'EUR' }, capacity: 3 },
    });
    const line = (ticket_type: string, quantity: number) => ({ ticket_type, quantity });
    const buy = (items: unknown[], extra: Record<string, unknown> = {}) =>
      purchase({ event: eventId, items, buyer, payment_method: 'manual', ...extra });
    // The first sale: from now on this server holds the event's key.
    const first = await buy([line(typeId, 2)]);
    expect(first.status).toBe(201);
    expect(first.body.invoice_number).toMatch(/^INV-\d{4}-\d{6}$/);

    expect((await buy([line(typeId, 1)])).body.errors[0].code).toBe('below_min_per_order');
    expect((await buy([line(typeId, 5)])).body.errors[0].code).toBe('above_max_per_order');
    expect((await buy([line(later.body.id, 1)])).body.code).toBe('sales_not_started');
    expect((await buy([line(typeId, 2), line(typeId, 2)])).body.errors[0].code).toBe('duplicate_ticket_type');
    const other = await onSale(call, token, { name: 'Elsewhere' });
    expect((await buy([line(other.typeId, 2)])).body.errors[0].code).toBe('unknown_ticket_type');
    expect((await buy([line(typeId, 2)], { payment_method: undefined })).body.errors[0].code).toBe(
      'required',
    );
    // Another organization's event is not found, even with its ticket type's id.
    const stranger = await signUp(s.url);
    const theirs = await call('POST', '/api/tickets/purchase', {
      token: stranger.token,
      body: { event: eventId, items: [line(typeId, 2)], buyer, payment_method: 'manual' },
    });
    expect(theirs.status).toBe(404);
    // Sold out: the type's room (3 left of 5), then the event's (4 left of 6).
    const typeFull = await buy([line(typeId, 4)]);
    expect(typeFull.status).toBe(409);
    expect(typeFull.body).toMatchObject({ code: 'sold_out' });
    expect(typeFull.body.detail).toContain('General admission is sold out');
    expect((await buy([line(typeId, 2), line(small.body.id, 3)])).body.detail).toContain(
      'The event is sold out',
    );
    const rest = await buy([line(typeId, 2), line(small.body.id, 2)]);
    expect(rest.status).toBe(201);

    // Nothing refused took anything: counters equal the tickets sold.
    const types = await s.db.kysely
      .selectFrom('ticket_types')
      .select(['id', 'sold', 'held'])
      .where('event_id', '=', eventId)
      .execute();
    const sold = Object.fromEntries(types.map((t) => [t.id, t.sold + t.held]));
    expect(sold).toEqual({ [typeId]: 4, [later.body.id]: 0, [small.body.id]: 2 });
    const event = await s.db.kysely
      .selectFrom('events')
      .select(['sold', 'held'])
      .where('id', '=', eventId)
      .executeTakeFirstOrThrow();
    expect(event).toEqual({ sold: 6, held: 0 });
    const tickets = await s.db.kysely
      .selectFrom('tickets')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('event_id', '=', eventId)
      .executeTakeFirstOrThrow();
    expect(Number(tickets.n)).toBe(6);
  });

  it('holds each buyer to the event’s per-buyer limit, also when their orders race', async () => {
    const { eventId, typeId } = await onSale(call, token, { name: 'Per buyer', max_per_buyer: 4 });
    const orders = await Promise.all(
      Array.from({ length: 6 }, () =>
        purchase({
          event: eventId,
          items: [{ ticket_type: typeId, quantity: 1 }],
          buyer: { name: 'Greedy', email: 'greedy@example.com' },
          payment_method: 'manual',
        }),
      ),
    );
    expect(orders.filter((o) => o.status === 201)).toHaveLength(4);
    expect(orders.filter((o) => o.status === 409).every((o) => o.body.code === 'buyer_limit_reached')).toBe(
      true,
    );
    const other = await purchase({
      event: eventId,
      items: [{ ticket_type: typeId, quantity: 4 }],
      buyer,
      payment_method: 'manual',
    });
    expect(other.status).toBe(201);
  });

  it('sells exactly the last 50 tickets to 200 racing buyers; counters match the tickets', async () => {
    const { eventId, typeId } = await onSale(
      call,
      token,
      { name: 'Stampede', capacity: null },
      { capacity: 50 },
    );
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        purchase({
          event: eventId,
          items: [{ ticket_type: typeId, quantity: 1 }],
          buyer: { name: `Fan ${i}`, email: `fan${i}@example.com` },
          payment_method: 'manual',
        }),
      ),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((c) => c === 201)).toHaveLength(50);
    expect(statuses.filter((c) => c === 409)).toHaveLength(150);
    expect(results.filter((r) => r.status === 409).every((r) => r.body.code === 'sold_out')).toBe(true);
    const tickets = await s.db.kysely
      .selectFrom('tickets')
      .select(s.db.kysely.fn.countAll<number>().as('n'))
      .where('event_id', '=', eventId)
      .executeTakeFirstOrThrow();
    expect(Number(tickets.n)).toBe(50);
    const type = await s.db.kysely
      .selectFrom('ticket_types')
      .select(['sold', 'held'])
      .where('id', '=', typeId)
      .executeTakeFirstOrThrow();
    const event = await s.db.kysely
      .selectFrom('events')
      .select(['sold', 'held'])
      .where('id', '=', eventId)
      .executeTakeFirstOrThrow();
    expect(type).toEqual({ sold: 50, held: 0 });
    expect(event).toEqual({ sold: 50, held: 0 });
  });

  it('never lets a capacity cut and racing sales together oversell', async () => {
    const { eventId, typeId } = await onSale(
      call,
      token,
      { name: 'Shrinking', capacity: 60 },
      { capacity: 60 },
    );
    const sales = Array.from({ length: 20 }, (_, i) =>
      purchase({
        event: eventId,
        items: [{ ticket_type: typeId, quantity: 1 }],
        buyer: { name: 'S', email: `s${i}@example.com` },
        payment_method: 'manual',
      }),
    );
    const cut = call('PUT', `/api/events/${eventId}`, { token, body: { capacity: 10 } });
    const [cutRes] = await Promise.all([cut, ...sales]);
    const event = await s.db.kysely
      .selectFrom('events')
      .select(['sold', 'capacity'])
      .where('id', '=', eventId)
      .executeTakeFirstOrThrow();
    expect(event.sold).toBeLessThanOrEqual(event.capacity ?? 0);
    if (cutRes.status === 200) expect(event.capacity).toBe(10);
    else expect(cutRes.body.code).toBe('capacity_below_sales');
  });

  it('applies the event capacity across ticket types under a race', async () => {
    const { eventId, typeId } = await onSale(
      call,
      token,
      { name: 'Shared room', capacity: 30 },
      { capacity: 30 },
    );
    const vip = await call('POST', `/api/events/${eventId}/ticket-types`, {
      token,
      body: { name: 'VIP', price: { amount: 9000, currency: 'EUR' }, capacity: 30 },
    });
    const results = await Promise.all(
      Array.from({ length: 80 }, (_, i) =>
        purchase({
          event: eventId,
          items: [{ ticket_type: i % 2 ? typeId : vip.body.id, quantity: 1 }],
          buyer: { name: 'F', email: `f${i}@example.com` },
          payment_method: 'manual',
        }),
      ),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(30);
    const event = await s.db.kysely
      .selectFrom('events')
      .select(['sold'])
      .where('id', '=', eventId)
      .executeTakeFirstOrThrow();
    expect(event.sold).toBe(30);
  });

  it('replays a purchase with the same Idempotency-Key instead of selling twice', async () => {
    const { eventId, typeId } = await onSale(call, token, { name: 'Replay' });
    const body = {
      event: eventId,
      items: [{ ticket_type: typeId, quantity: 3 }],
      buyer,
      payment_method: 'manual',
    };
    const headers = { 'idempotency-key': `buy-${dialect}-1` };
    const [a, b, c] = await Promise.all([
      purchase(body, headers),
      purchase(body, headers),
      purchase(body, headers),
    ]);
    const created = [a, b, c].filter((r) => r.status === 201);
    expect(created.length).toBeGreaterThanOrEqual(1);
    for (const r of [a, b, c]) expect([201, 409]).toContain(r.status);
    const again = await purchase(body, headers);
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.id).toBe(created[0]!.body.id);
    // The answer stored whole: the same tickets and codes, and the invoice number it was given.
    expect(again.body).toEqual(created[0]!.body);
    expect(again.body.invoice_number).toMatch(/^INV-/);
    const sold = await s.db.kysely
      .selectFrom('ticket_types')
      .select('sold')
      .where('id', '=', typeId)
      .executeTakeFirstOrThrow();
    expect(sold.sold).toBe(3);
  });

  it('stores refusals under the Idempotency-Key and replays answers exactly', async () => {
    const { eventId, typeId } = await onSale(call, token, { name: 'Replay exactly' }, { capacity: 2 });
    const body = (quantity: number, email = buyer.email) => ({
      event: eventId,
      items: [{ ticket_type: typeId, quantity }],
      buyer: { ...buyer, email },
      payment_method: 'manual',
    });
    const raw = async (b: unknown, key: string) => {
      const res = await fetch(`${s.url}/api/tickets/purchase`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          'idempotency-key': key,
        },
        body: JSON.stringify(b),
      });
      return { status: res.status, headers: res.headers, text: await res.text() };
    };
    const key = `exact-${dialect}`;
    const sold = await raw(body(2), key);
    expect(sold.status).toBe(201);
    expect(sold.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(sold.headers.get('idempotency-key')).toBe(key);
    expect(sold.headers.get('idempotent-replayed')).toBeNull();
    const again = await raw(body(2), key);
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.text).toBe(sold.text);
    // The answer is the order as it reads back.
    const order = JSON.parse(sold.text);
    expect((await call('GET', `/api/orders/${order.id}`, { token })).body).toEqual(order);

    // A refusal (sold out now) is stored and replayed as it was, problem and all.
    const refused = await raw(body(1, 'late@example.com'), `${key}-late`);
    expect(refused.status).toBe(409);
    expect(refused.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
    expect(JSON.parse(refused.text).code).toBe('sold_out');
    const refusedAgain = await raw(body(1, 'late@example.com'), `${key}-late`);
    expect(refusedAgain.status).toBe(409);
    expect(refusedAgain.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
    expect(refusedAgain.headers.get('idempotent-replayed')).toBe('true');
    expect(refusedAgain.text).toBe(refused.text);
    // A refusal of the request itself too (a ticket type of another event).
    const elsewhere = await onSale(call, token, { name: 'Replay elsewhere' });
    const wrong = { ...body(1), items: [{ ticket_type: elsewhere.typeId, quantity: 1 }] };
    const invalid = await raw(wrong, `${key}-bad`);
    expect(invalid.status).toBe(422);
    expect(JSON.parse(invalid.text).errors[0].code).toBe('unknown_ticket_type');
    expect((await raw(wrong, `${key}-bad`)).text).toBe(invalid.text);

    // The same key with another request is refused, whatever that request would do.
    for (const other of [body(1), body(2, 'someone@example.com')]) {
      const reused = await raw(other, key);
      expect(reused.status).toBe(409);
      expect(JSON.parse(reused.text).code).toBe('idempotency_key_reused');
    }
    const tooLong = await raw(body(1), 'k'.repeat(256));
    expect(tooLong.status).toBe(400);
    expect(JSON.parse(tooLong.text).code).toBe('invalid_idempotency_key');
    const type = await s.db.kysely
      .selectFrom('ticket_types')
      .select('sold')
      .where('id', '=', typeId)
      .executeTakeFirstOrThrow();
    expect(type.sold).toBe(2);
  });

  it('lists and finds orders, tickets and attendees', async () => {
    const { eventId, typeId } = await onSale(call, token, { name: 'Listing' });
    for (const name of ['Ada', 'Bob', 'Cy'])
      await purchase({
        event: eventId,
        items: [{ ticket_type: typeId, quantity: 1 }],
        buyer: { name, email: `${name.toLowerCase()}@example.org` },
        payment_method: 'manual',
      });
    const all = await call('GET', `/api/orders?event=${eventId}&limit=2`, { token });
    expect(all.body.data.map((o: { buyer: { name: string } }) => o.buyer.name)).toEqual(['Cy', 'Bob']);
    const next = await call(
      'GET',
      `/api/orders?event=${eventId}&limit=2&starting_after=${all.body.next_cursor}`,
      { token },
    );
    expect(next.body.data.map((o: { buyer: { name: string } }) => o.buyer.name)).toEqual(['Ada']);
    expect(next.body.has_more).toBe(false);
    const byEmail = await call('GET', `/api/orders?email=BOB@example.org`, { token });
    expect(byEmail.body.data).toHaveLength(1);
    const byText = await call('GET', `/api/orders?event=${eventId}&q=ad`, { token });
    expect(byText.body.data.map((o: { buyer: { name: string } }) => o.buyer.name)).toEqual(['Ada']);
    const order = await call('GET', `/api/orders/${byEmail.body.data[0].id}`, { token });
    expect(order.body.tickets).toHaveLength(1);
    const ticket = await call('GET', `/api/tickets/${order.body.tickets[0].id}`, { token });
    expect(ticket.body).toMatchObject({
      object: 'ticket',
      ticket_type_name: 'General admission',
      holder: { name: 'Bob' },
    });
    const attendees = await call('GET', `/api/events/${eventId}/attendees?q=cy`, { token });
    expect(attendees.body.data).toEqual([
      expect.objectContaining({ object: 'attendee', name: 'Cy', buyer_email: 'cy@example.org' }),
    ]);
    const byOrder = await call('GET', `/api/events/${eventId}/attendees?q=${order.body.id}`, { token });
    expect(byOrder.body.data.map((a: { name: string }) => a.name)).toEqual(['Bob']);
    const tickets = await call('GET', `/api/events/${eventId}/tickets?limit=2`, { token });
    expect(tickets.body.data).toHaveLength(2);
    expect(tickets.body.has_more).toBe(true);
  });

  it('refuses to cancel a paid order', async () => {
    const { eventId, typeId } = await onSale(call, token, { name: 'No cancel' });
    const order = await purchase({
      event: eventId,
      items: [{ ticket_type: typeId, quantity: 1 }],
      buyer,
      payment_method: 'manual',
    });
    const res = await call('POST', `/api/orders/${order.body.id}/cancel`, { token });
    expect(res.status).toBe(409);
    expect(res.body.code).toBe('invalid_transition');
    // And its event, having an order, can be cancelled but not deleted — even once the order is refunded.
    await call('POST', `/api/orders/${order.body.id}/refund`, { token, body: {} });
    const del = await call('DELETE', `/api/events/${eventId}`, { token });
    expect(del.status).toBe(409);
    expect(del.body.code).toBe('event_has_orders');
  });

  it('keeps orders and tickets to their organization, and staff away from sales', async () => {
    const { eventId, typeId } = await onSale(call, token, { name: 'Private' });
    const order = await purchase({
      event: eventId,
      items: [{ ticket_type: typeId, quantity: 1 }],
      buyer,
      payment_method: 'manual',
    });
    const other = (await signUp(s.url, 'Olga Other')).token;
    for (const path of [
      `/api/orders/${order.body.id}`,
      `/api/tickets/${order.body.tickets[0].id}`,
      `/api/events/${eventId}/attendees`,
      `/api/events/${eventId}/public-key`,
    ])
      expect((await call('GET', path, { token: other })).status).toBe(404);
    const foreignBuy = await call('POST', '/api/tickets/purchase', {
      token: other,
      body: {
        event: eventId,
        items: [{ ticket_type: typeId, quantity: 1 }],
        buyer,
        payment_method: 'manual',
      },
    });
    expect(foreignBuy.status).toBe(404);
    expect((await call('GET', '/api/orders', { token: other })).body.data).toEqual([]);

    const invite = await call('POST', '/api/org/invitations', {
      token,
      body: { email: 'door@example.com', role: 'staff' },
    });
    const staff = await call('POST', '/api/auth/register', {
      body: { email: 'door@example.com', password: 'correct horse battery', name: 'Door' },
    });
    await call('POST', '/api/invitations/accept', {
      token: staff.body.access_token,
      body: { token: invite.body.token },
    });
    const login = await call('POST', '/api/auth/login', {
      body: {
        email: 'door@example.com',
        password: 'correct horse battery',
        organization_id: order.body.id ? undefined : undefined,
      },
    });
    const switched = await call('POST', '/api/auth/refresh', {
      body: {
        refresh_token: login.body.refresh_token,
        organization_id: (await call('GET', '/api/org', { token })).body.id,
      },
    });
    const staffToken = switched.body.access_token;
    expect((await call('GET', `/api/events/${eventId}/attendees`, { token: staffToken })).status).toBe(200);
    expect((await call('GET', '/api/orders', { token: staffToken })).status).toBe(403);
    expect(
      (
        await call('POST', '/api/tickets/purchase', {
          token: staffToken,
          body: {
            event: eventId,
            items: [{ ticket_type: typeId, quantity: 1 }],
            buyer,
            payment_method: 'manual',
          },
        })
      ).status,
    ).toBe(403);
  });
});

// On Postgres a purchase's Idempotency-Key is answered after its sale has committed (in the invoice
// group, or by a write of its own), and a held (Stripe) order records its PaymentIntent after its hold
// has committed. If such a write fails, the key must stay taken: freed, a retry of the same request
// would sell (or hold the seats) a second time.
describeOnPostgres('postgres: a committed sale keeps its Idempotency-Key when a later write fails', () => {
  let stripe: FakeStripe;
  let s: TestServer;
  let token: string;

  beforeAll(async () => {
    stripe = await startFakeStripe();
    s = await startTestServer('postgres', {
      ...stripeEnv(stripe),
    });
    token = (await signUp(s.url)).token;
  });
  afterAll(async () => {
    await s?.stop();
    await stripe?.close();
  });

  /**
   * Buys two tickets twice under one key while a trigger refuses the updates of `table` that match
   * `when` (as a dropped connection or a full disk would); returns both answers, the buyer's orders and
   * the type's counters.
   */
  const twiceWhileRefused = async (table: string, when: string, method: 'manual' | 'stripe') => {
    const sale = await eventOnSale(s.url, token, { name: `Refused ${method}` }, [
      { name: 'GA', amount: 1500, capacity: 10 },
    ]);
    const email = `${method}-refused@example.com`;
    await sql`create function refuse() returns trigger language plpgsql as
      $$ begin raise exception 'refused for this test'; end $$`.execute(s.db.kysely);
    await sql`create trigger refuse before update on ${sql.table(table)}
      for each row when (${sql.raw(when)}) execute function refuse()`.execute(s.db.kysely);
    try {
      const buy = () =>
        http(s.url)('POST', '/api/tickets/purchase', {
          token,
          headers: { 'idempotency-key': `refused-${method}` },
          body: {
            event: sale.eventId,
            items: [{ ticket_type: sale.typeIds[0], quantity: 2 }],
            buyer: { name: 'Ref Used', email },
            payment_method: method,
          },
        });
      const first = await buy();
      const again = await buy();
      const orders = await s.db.kysely
        .selectFrom('orders')
        .select('id')
        .where('buyer_email', '=', email)
        .execute();
      const type = await s.db.kysely
        .selectFrom('ticket_types')
        .select(['sold', 'held'])
        .where('id', '=', sale.typeIds[0]!)
        .executeTakeFirstOrThrow();
      return { first, again, orders, type };
    } finally {
      await sql`drop trigger refuse on ${sql.table(table)}`.execute(s.db.kysely);
      await sql`drop function refuse()`.execute(s.db.kysely);
    }
  };

  it('a paid sale whose answer cannot be stored: 500, then the retry is in progress, one order sold', async () => {
    const { first, again, orders, type } = await twiceWhileRefused(
      'idempotency_keys',
      "new.state = 'done'",
      'manual',
    );
    expect(first.status).toBe(500);
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('idempotency_request_in_progress');
    expect(orders).toHaveLength(1);
    expect(type.sold).toBe(2);
  });

  it('a held sale whose payment cannot be recorded: 500, then in progress, the seats held once', async () => {
    const { first, again, orders, type } = await twiceWhileRefused(
      'orders',
      'new.payment_intent_id is not null',
      'stripe',
    );
    expect(first.status).toBe(500);
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('idempotency_request_in_progress');
    expect(orders).toHaveLength(1);
    expect(type).toEqual({ sold: 0, held: 2 });
  });
});
