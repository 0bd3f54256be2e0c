import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeStripe, startFakeStripe } from './fakes/stripe.js';
import {
  DIALECTS,
  http,
  sampleEvent,
  signUp,
  startTestServer,
  stripeEnv,
  type TestServer,
} from './harness.js';

/** Discount codes (issue 17): made, checked, redeemed in the sale exactly as often as they may be. */
describe.each(DIALECTS)('%s: vouchers', (dialect) => {
  let s: TestServer;
  let stripe: FakeStripe;
  let call: ReturnType<typeof http>;
  let token: string;

  beforeAll(async () => {
    stripe = await startFakeStripe();
    s = await startTestServer(dialect, {
      ...stripeEnv(stripe),
    });
    stripe.setWebhookUrl(`${s.url}/api/webhooks/stripe`);
    call = http(s.url);
    token = (await signUp(s.url)).token;
  });
  afterAll(async () => {
    await s?.stop();
    await stripe?.close();
  });

  async function onSale(
    types: { name: string; amount: number; capacity?: number; tax_rate?: number; hidden?: boolean }[],
  ) {
    const e = await call('POST', '/api/events', {
      token,
      body: sampleEvent({ name: `Jazz ${Math.random()}` }),
    });
    const typeIds: string[] = [];
    for (const t of types) {
      const res = await call('POST', `/api/events/${e.body.id}/ticket-types`, {
        token,
        body: {
          name: t.name,
          price: { amount: t.amount, currency: 'EUR' },
          capacity: t.capacity ?? 500,
          tax_rate: t.tax_rate,
          hidden: t.hidden,
        },
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      typeIds.push(res.body.id);
    }
    await call('POST', `/api/events/${e.body.id}/publish`, { token });
    return { eventId: e.body.id as string, typeIds };
  }
  const voucher = async (body: Record<string, unknown>) => {
    const res = await call('POST', '/api/vouchers', { token, body });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.data[0];
  };
  const buy = (eventId: string, items: { ticket_type: string; quantity: number }[], extra = {}) =>
    call('POST', '/api/tickets/purchase', {
      token,
      body: {
        event: eventId,
        items,
        buyer: { name: 'Vera Voucher', email: 'vera@example.com' },
        payment_method: 'manual',
        ...extra,
      },
    });
  const usesOf = async (id: string) => (await call('GET', `/api/vouchers/${id}`, { token })).body.uses;

  it('makes one code or many, and refuses what is not a discount with a clear 4xx', async () => {
    const { eventId, typeIds } = await onSale([{ name: 'GA', amount: 2500 }]);
    const one = await voucher({ code: 'summer-20', event: eventId, discount: { percent: 20 } });
    expect(one).toMatchObject({
      object: 'voucher',
      code: 'SUMMER-20',
      discount: { percent: 20 },
      uses: 0,
      active: true,
    });
    const many = await call('POST', '/api/vouchers', {
      token,
      body: { count: 50, prefix: 'jazz', event: eventId, discount: { percent: 10 }, max_uses: 1 },
    });
    expect(many.status).toBe(201);
    const codes = many.body.data.map((v: { code: string }) => v.code);
    expect(new Set(codes).size).toBe(50);
    for (const c of codes) expect(c).toMatch(/^JAZZ-[2-9A-HJKMNP-Z]{8}$/);

    const other = await onSale([{ name: 'Other', amount: 1000 }]);
    for (const [body, code] of [
      [{ code: 'X150', discount: { percent: 150 } }, 'validation_failed'],
      [
        { code: 'XNEG', event: eventId, discount: { amount: { amount: -5, currency: 'EUR' } } },
        'validation_failed',
      ],
      [{ code: 'BOTH', count: 3 }, 'validation_failed'],
      [{}, 'validation_failed'],
      [{ code: 'NOEVENT', discount: { amount: { amount: 500, currency: 'EUR' } } }, 'validation_failed'],
      [
        { code: 'USD', event: eventId, discount: { price: { amount: 500, currency: 'USD' } } },
        'validation_failed',
      ],
      [{ code: 'WRONGTYPE', event: eventId, ticket_types: [other.typeIds[0]] }, 'validation_failed'],
      [{ code: 'bad code!' }, 'validation_failed'],
      [
        { code: 'WIN', valid_from: '2026-12-10T00:00:00Z', valid_until: '2026-12-01T00:00:00Z' },
        'validation_failed',
      ],
    ] as const) {
      const res = await call('POST', '/api/vouchers', { token, body });
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect(res.body.code).toBe(code);
    }
    const taken = await call('POST', '/api/vouchers', { token, body: { code: 'Summer-20' } });
    expect(taken.status).toBe(409);
    expect(taken.body.code).toBe('voucher_code_taken');
    // Another organization sees none of them.
    const stranger = (await signUp(s.url, 'Sam Stranger')).token;
    expect((await call('GET', `/api/vouchers/${one.id}`, { token: stranger })).status).toBe(404);
    expect((await call('GET', '/api/vouchers', { token: stranger })).body.data).toEqual([]);
    expect(typeIds).toHaveLength(1);
  });

  it('prices an order with each kind of code; the invoice shows the price before and the discount; tax on what was paid', async () => {
    const { eventId, typeIds } = await onSale([
      { name: 'Floor', amount: 2500, tax_rate: 1900 },
      { name: 'Balcony', amount: 4000, tax_rate: 1900 },
    ]);
    const [floor, balcony] = typeIds as [string, string];
    const percent = await voucher({ code: `P${Date.now()}`, event: eventId, discount: { percent: 20 } });
    const order = await buy(eventId, [{ ticket_type: floor, quantity: 2 }], {
      voucher: percent.code.toLowerCase(),
    });
    expect(order.status, JSON.stringify(order.body)).toBe(201);
    expect(order.body.total).toEqual({ amount: 4000, currency: 'EUR' });
    expect(order.body.items[0]).toMatchObject({
      unit_price: { amount: 2000 },
      original_unit_price: { amount: 2500 },
      total: { amount: 4000 },
    });
    expect(order.body.voucher).toEqual({
      id: percent.id,
      code: percent.code,
      discount: { amount: 1000, currency: 'EUR' },
    });
    const invoice = await s.db.kysely
      .selectFrom('invoices')
      .select(['document', 'gross_amount', 'tax_amount'])
      .where('order_id', '=', order.body.id)
      .executeTakeFirstOrThrow();
    const doc = JSON.parse(invoice.document);
    expect(doc.lines[0].description).toMatch(/Floor \(€25\.00 less €5\.00, code P\d+\)/);
    expect(Number(invoice.gross_amount)).toBe(4000);
    // 19 % of the 40.00 paid, not of the 50.00 list price: 40.00 − 40.00 / 1.19 = 6.39.
    expect(Number(invoice.tax_amount)).toBe(639);

    // An amount off the order, spread over the tickets it is valid for (floor only): 10.00 over 3.
    const perOrder = await voucher({
      code: `O${Date.now()}`,
      event: eventId,
      ticket_types: [floor],
      discount: { amount: { amount: 1000, currency: 'EUR' }, per: 'order' },
    });
    const spread = await buy(
      eventId,
      [
        { ticket_type: floor, quantity: 3 },
        { ticket_type: balcony, quantity: 1 },
      ],
      { voucher: perOrder.code },
    );
    expect(spread.status, JSON.stringify(spread.body)).toBe(201);
    const byType = new Map(spread.body.items.map((i: { ticket_type_id: string }) => [i.ticket_type_id, i]));
    expect(byType.get(floor)).toMatchObject({
      unit_price: { amount: 2167 },
      original_unit_price: { amount: 2500 },
    });
    expect(byType.get(balcony)).toMatchObject({ unit_price: { amount: 4000 }, original_unit_price: null });
    expect(spread.body.total.amount).toBe(3 * 2167 + 4000);

    // A fixed price, never above the ticket's own; and an amount per ticket, never below zero.
    const fixed = await voucher({
      code: `F${Date.now()}`,
      event: eventId,
      discount: { price: { amount: 3000, currency: 'EUR' } },
    });
    const fixedOrder = await buy(
      eventId,
      [
        { ticket_type: floor, quantity: 1 },
        { ticket_type: balcony, quantity: 1 },
      ],
      { voucher: fixed.code },
    );
    expect(fixedOrder.body.total.amount).toBe(2500 + 3000);
    const free = await voucher({
      code: `Z${Date.now()}`,
      event: eventId,
      discount: { amount: { amount: 9900, currency: 'EUR' }, per: 'ticket' },
    });
    const zero = await buy(eventId, [{ ticket_type: floor, quantity: 1 }], { voucher: free.code });
    expect(zero.status, JSON.stringify(zero.body)).toBe(201);
    expect(zero.body).toMatchObject({ total: { amount: 0 }, payment_method: 'free' });
  });

  it('refuses a code that is unknown, inactive, expired, not yet valid, for another event or other types', async () => {
    const { eventId, typeIds } = await onSale([{ name: 'GA', amount: 2000 }]);
    const other = await onSale([{ name: 'Elsewhere', amount: 2000 }]);
    const at = Date.now();
    const cases: [Record<string, unknown>, string][] = [
      [
        {
          code: `E${at}`,
          event: eventId,
          valid_until: '2026-01-01T00:00:00Z',
          valid_from: '2025-01-01T00:00:00Z',
        },
        'voucher_expired',
      ],
      [{ code: `N${at}`, event: eventId, valid_from: '2099-01-01T00:00:00Z' }, 'voucher_not_yet_valid'],
      [{ code: `I${at}`, event: eventId, active: false }, 'voucher_inactive'],
      [{ code: `O${at}`, event: other.eventId }, 'voucher_not_for_event'],
      [{ code: `T${at}`, event: other.eventId, ticket_types: other.typeIds }, 'voucher_not_for_event'],
    ];
    for (const [body, code] of cases) {
      const v = await voucher({ ...body, discount: { percent: 50 } });
      const res = await buy(eventId, [{ ticket_type: typeIds[0]!, quantity: 1 }], { voucher: v.code });
      expect(res.status, code).toBe(422);
      expect(res.body.errors[0]).toMatchObject({ path: 'voucher', code });
    }
    const unknown = await buy(eventId, [{ ticket_type: typeIds[0]!, quantity: 1 }], {
      voucher: 'NO-SUCH-CODE',
    });
    expect(unknown.status).toBe(422);
    expect(unknown.body.errors[0].code).toBe('voucher_not_found');
    // A code for some types of the event, and an order of none of them.
    const two = await onSale([
      { name: 'A', amount: 1000 },
      { name: 'B', amount: 1000 },
    ]);
    const onlyA = await voucher({
      code: `OA${at}`,
      event: two.eventId,
      ticket_types: [two.typeIds[0]],
      discount: { percent: 5 },
    });
    const none = await buy(two.eventId, [{ ticket_type: two.typeIds[1]!, quantity: 1 }], {
      voucher: onlyA.code,
    });
    expect(none.status).toBe(422);
    expect(none.body.errors[0].code).toBe('voucher_not_applicable');
  });

  it('counts uses per buyer e-mail, lists redemptions, gives a use back on a full refund when asked', async () => {
    const { eventId, typeIds } = await onSale([{ name: 'GA', amount: 2000 }]);
    const v = await voucher({
      code: `M${Date.now()}`,
      event: eventId,
      discount: { percent: 50 },
      max_uses_per_email: 1,
    });
    const first = await buy(eventId, [{ ticket_type: typeIds[0]!, quantity: 2 }], { voucher: v.code });
    expect(first.status).toBe(201);
    const again = await buy(eventId, [{ ticket_type: typeIds[0]!, quantity: 1 }], { voucher: v.code });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('voucher_limit_reached');
    const otherBuyer = await call('POST', '/api/tickets/purchase', {
      token,
      body: {
        event: eventId,
        items: [{ ticket_type: typeIds[0], quantity: 1 }],
        buyer: { name: 'Otto', email: 'otto@example.com' },
        payment_method: 'manual',
        voucher: v.code,
      },
    });
    expect(otherBuyer.status).toBe(201);
    expect(await usesOf(v.id)).toBe(2);
    const redemptions = (await call('GET', `/api/vouchers/${v.id}/redemptions`, { token })).body.data;
    expect(redemptions.map((r: { order_id: string }) => r.order_id).sort()).toEqual(
      [first.body.id, otherBuyer.body.id].sort(),
    );
    expect(redemptions.find((r: { order_id: string }) => r.order_id === first.body.id)).toMatchObject({
      email: 'vera@example.com',
      discount: { amount: 2000, currency: 'EUR' },
      status: 'active',
    });
    // Part of the order back, asking for the use back: refused (the order still stands).
    const partial = await call('POST', `/api/orders/${first.body.id}/refund`, {
      token,
      body: { amount: 500, release_voucher: true },
    });
    expect(partial.status).toBe(422);
    expect(partial.body.errors[0].code).toBe('order_not_fully_refunded');
    // A refund without asking keeps the use; the whole order with asking gives it back.
    const kept = await call('POST', `/api/orders/${otherBuyer.body.id}/refund`, { token, body: {} });
    expect(kept.status).toBe(201);
    expect(await usesOf(v.id)).toBe(2);
    const back = await call('POST', `/api/orders/${first.body.id}/refund`, {
      token,
      body: { release_voucher: true },
    });
    expect(back.status, JSON.stringify(back.body)).toBe(201);
    expect(await usesOf(v.id)).toBe(1);
    // Vera may use it again now.
    expect(
      (await buy(eventId, [{ ticket_type: typeIds[0]!, quantity: 1 }], { voucher: v.code })).status,
    ).toBe(201);
    // A used code is deactivated, not deleted; an unused one goes.
    const del = await call('DELETE', `/api/vouchers/${v.id}`, { token });
    expect(del.status).toBe(409);
    const unused = await voucher({ code: `U${Date.now()}` });
    expect((await call('DELETE', `/api/vouchers/${unused.id}`, { token })).body).toEqual({
      id: unused.id,
      object: 'voucher',
      deleted: true,
    });
    const off = await call('PUT', `/api/vouchers/${v.id}`, { token, body: { active: false } });
    expect(off.body.active).toBe(false);
    expect(
      (await buy(eventId, [{ ticket_type: typeIds[0]!, quantity: 1 }], { voucher: v.code })).status,
    ).toBe(422);
  });

  it('redeems a code with 10 uses exactly 10 times when 120 buyers race for it', async () => {
    const { eventId, typeIds } = await onSale([{ name: 'Race', amount: 1500, capacity: 1000 }]);
    const v = await voucher({
      code: `R${Date.now()}`,
      event: eventId,
      discount: { percent: 30 },
      max_uses: 10,
    });
    const answers = await Promise.all(
      Array.from({ length: 120 }, (_, i) =>
        call('POST', '/api/tickets/purchase', {
          token,
          body: {
            event: eventId,
            items: [{ ticket_type: typeIds[0], quantity: 1 }],
            buyer: { name: `Racer ${i}`, email: `racer${i}@example.com` },
            payment_method: 'manual',
            voucher: v.code,
          },
        }),
      ),
    );
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((st) => st === 201)).toHaveLength(10);
    expect(statuses.filter((st) => st === 409)).toHaveLength(110);
    expect(answers.filter((a) => a.status === 409).every((a) => a.body.code === 'voucher_used_up')).toBe(
      true,
    );
    // In the database: 10 uses, 10 redemptions, 10 orders at the discounted price, 10 tickets sold.
    const k = s.db.kysely;
    const row = await k
      .selectFrom('vouchers')
      .select('uses')
      .where('id', '=', v.id)
      .executeTakeFirstOrThrow();
    expect(Number(row.uses)).toBe(10);
    const redeemed = await k
      .selectFrom('voucher_redemptions')
      .select('order_id')
      .where('voucher_id', '=', v.id)
      .execute();
    expect(redeemed).toHaveLength(10);
    const orders = await k
      .selectFrom('orders')
      .select(['total_amount', 'voucher_id'])
      .where('event_id', '=', eventId)
      .execute();
    expect(orders).toHaveLength(10);
    expect(orders.every((o) => o.total_amount === 1050 && o.voucher_id === v.id)).toBe(true);
    const type = await k
      .selectFrom('ticket_types')
      .select('sold')
      .where('id', '=', typeIds[0]!)
      .executeTakeFirstOrThrow();
    expect(type.sold).toBe(10);
  });

  it("gives a Stripe hold's use back when the hold ends unpaid", async () => {
    const { eventId, typeIds } = await onSale([{ name: 'Online', amount: 3000 }]);
    const v = await voucher({
      code: `H${Date.now()}`,
      event: eventId,
      discount: { percent: 10 },
      max_uses: 1,
    });
    const held = await buy(eventId, [{ ticket_type: typeIds[0]!, quantity: 1 }], {
      voucher: v.code,
      payment_method: 'stripe',
    });
    expect(held.status, JSON.stringify(held.body)).toBe(201);
    expect(held.body.total.amount).toBe(2700);
    expect(await usesOf(v.id)).toBe(1);
    // Nobody else gets it while the hold stands.
    const blocked = await buy(eventId, [{ ticket_type: typeIds[0]!, quantity: 1 }], { voucher: v.code });
    expect(blocked.body.code).toBe('voucher_used_up');
    const cancelled = await call('POST', `/api/orders/${held.body.id}/cancel`, { token });
    expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(200);
    expect(await usesOf(v.id)).toBe(0);
    expect(
      (await buy(eventId, [{ ticket_type: typeIds[0]!, quantity: 1 }], { voucher: v.code })).status,
    ).toBe(201);
  });

  it("holds a code's reserved tickets for its holders: the public races for the rest, holders still get theirs", async () => {
    const { eventId, typeIds } = await onSale([{ name: 'Small room', amount: 2000, capacity: 10 }]);
    const [type] = typeIds as [string];
    const refused = await call('POST', '/api/vouchers', {
      token,
      body: { code: `BAD${Date.now()}`, event: eventId, reserve: 2 },
    });
    expect(refused.status).toBe(422);
    const tooMany = await call('POST', '/api/vouchers', {
      token,
      body: { code: `BIG${Date.now()}`, event: eventId, ticket_types: [type], reserve: 11 },
    });
    expect(tooMany.status).toBe(409);
    expect(tooMany.body.code).toBe('sold_out');
    const v = await voucher({ code: `CREW${Date.now()}`, event: eventId, ticket_types: [type], reserve: 4 });
    expect(v).toMatchObject({ reserved: 4, reserved_left: 4 });
    const availability = async () =>
      (await call('GET', `/api/tickets/availability?event=${eventId}`, { token })).body.ticket_types[0];
    expect(await availability()).toMatchObject({ held: 4, available: 6 });
    // 20 buyers without the code race for the 6 on sale.
    const publicSales = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        call('POST', '/api/tickets/purchase', {
          token,
          body: {
            event: eventId,
            items: [{ ticket_type: type, quantity: 1 }],
            buyer: { name: `Fan ${i}`, email: `fan${i}@example.com` },
            payment_method: 'manual',
          },
        }),
      ),
    );
    expect(publicSales.filter((r) => r.status === 201)).toHaveLength(6);
    // The code's holders still get the 4 held for them, racing among themselves.
    const holders = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        call('POST', '/api/tickets/purchase', {
          token,
          body: {
            event: eventId,
            items: [{ ticket_type: type, quantity: 1 }],
            buyer: { name: `Crew ${i}`, email: `crew${i}@example.com` },
            payment_method: 'manual',
            voucher: v.code,
          },
        }),
      ),
    );
    expect(holders.map((r) => r.status)).toEqual([201, 201, 201, 201]);
    const fifth = await buy(eventId, [{ ticket_type: type, quantity: 1 }], { voucher: v.code });
    expect(fifth.status).toBe(409);
    expect(fifth.body.code).toBe('sold_out');
    const row = await s.db.kysely
      .selectFrom('ticket_types')
      .select(['sold', 'held'])
      .where('id', '=', type)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ sold: 10, held: 0 });
    expect((await call('GET', `/api/vouchers/${v.id}`, { token })).body).toMatchObject({
      reserved_left: 0,
      uses: 4,
    });
  });

  it("gives an ended hold's reserved tickets back to the code, and the code's to the public when it is deactivated", async () => {
    const { eventId, typeIds } = await onSale([{ name: 'Loft', amount: 3000, capacity: 5 }]);
    const [type] = typeIds as [string];
    const v = await voucher({
      code: `L${Date.now()}`,
      event: eventId,
      ticket_types: [type],
      reserve: 2,
      discount: { percent: 50 },
    });
    const held = await buy(eventId, [{ ticket_type: type, quantity: 2 }], {
      voucher: v.code,
      payment_method: 'stripe',
    });
    expect(held.status, JSON.stringify(held.body)).toBe(201);
    const counts = async () => ({
      type: await s.db.kysely
        .selectFrom('ticket_types')
        .select(['sold', 'held'])
        .where('id', '=', type)
        .executeTakeFirstOrThrow(),
      code: (await call('GET', `/api/vouchers/${v.id}`, { token })).body.reserved_left,
    });
    expect(await counts()).toEqual({ type: { sold: 0, held: 2 }, code: 0 });
    expect((await call('POST', `/api/orders/${held.body.id}/cancel`, { token })).status).toBe(200);
    // Back to the code, still held for its holders.
    expect(await counts()).toEqual({ type: { sold: 0, held: 2 }, code: 2 });
    // Deactivated: back on sale.
    await call('PUT', `/api/vouchers/${v.id}`, { token, body: { active: false } });
    expect(await counts()).toEqual({ type: { sold: 0, held: 0 }, code: 0 });
    const all = await buy(eventId, [{ ticket_type: type, quantity: 5 }]);
    expect(all.status).toBe(201);
  });

  it("gives an expired code's reserved tickets back on sale (the sweep), once", async () => {
    const { eventId, typeIds } = await onSale([{ name: 'Late', amount: 1000, capacity: 3 }]);
    const [type] = typeIds as [string];
    const v = await voucher({ code: `X${Date.now()}`, event: eventId, ticket_types: [type], reserve: 3 });
    await s.db.kysely
      .updateTable('vouchers')
      .set({ valid_until: new Date(Date.now() - 1000).toISOString() })
      .where('id', '=', v.id)
      .execute();
    const { dropExpiredReservations } = await import('../src/modules/vouchers/pricing.js');
    const [first, second] = await Promise.all([dropExpiredReservations(s.db), dropExpiredReservations(s.db)]);
    // Given back once, whoever sweeps (the server's own sweep may have got there first).
    expect(first + second).toBeLessThanOrEqual(3);
    expect((await call('GET', `/api/vouchers/${v.id}`, { token })).body.reserved_left).toBe(0);
    const row = await s.db.kysely
      .selectFrom('ticket_types')
      .select(['held'])
      .where('id', '=', type)
      .executeTakeFirstOrThrow();
    expect(row.held).toBe(0);
    expect((await buy(eventId, [{ ticket_type: type, quantity: 3 }])).status).toBe(201);
  });

  it('tells a checkout what a code does, without credentials, 404 for anything not valid there, and rate-limits guessing', async () => {
    const { eventId, typeIds } = await onSale([
      { name: 'Open', amount: 2000 },
      { name: 'Backstage', amount: 9000, hidden: true },
    ]);
    const v = await voucher({ code: `C${Date.now()}`, event: eventId, discount: { percent: 25 } });
    const open = http(s.url);
    const res = await open('GET', `/api/events/${eventId}/vouchers/${v.code.toLowerCase()}/check`, {
      headers: { 'x-forwarded-for': '203.0.113.7' },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({
      object: 'voucher_check',
      code: v.code,
      valid: true,
      discount: { percent: 25 },
    });
    expect(res.body.ticket_types).toEqual([
      expect.objectContaining({
        id: typeIds[0],
        hidden: false,
        price_with_code: { amount: 1500, currency: 'EUR' },
      }),
      expect.objectContaining({
        id: typeIds[1],
        hidden: true,
        price_with_code: { amount: 6750, currency: 'EUR' },
      }),
    ]);
    expect(JSON.stringify(res.body)).not.toMatch(/uses|max_uses|comment/);
    expect((await open('GET', `/api/events/${eventId}/vouchers/NOPE123/check`)).status).toBe(404);
    let limited = 0;
    for (let i = 0; i < 25; i++)
      if ((await open('GET', `/api/events/${eventId}/vouchers/GUESS${i}/check`)).status === 429) limited++;
    expect(limited).toBeGreaterThan(0);
  });
});
