import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DIALECTS,
  eventOnSale,
  http,
  sampleEvent,
  signUp,
  startTestServer,
  type TestServer,
} from './harness.js';
import { invariantViolations } from './invariants.js';

/**
 * The organizer's numbers against a fixture whose every figure is computed by hand below: two events in
 * two currencies, orders placed (by their paid_at) around the night Europe/Berlin moves its clocks
 * forward (2026-03-29, a 23-hour day), a buyer who bought before, a refunded ticket, a transfer,
 * admissions with a re-entry.
 */
describe.each(DIALECTS)('%s: analytics', (dialect) => {
  let s: TestServer;
  let call: ReturnType<typeof http>;
  let token: string;
  let eventA: string;
  let eventB: string;
  let ga: string;
  let vip: string;
  const orders: Record<string, { id: string; tickets: { id: string; code: string }[] }> = {};

  const at = (orderId: string, paidAt: string) =>
    s.db.kysely.updateTable('orders').set({ paid_at: paidAt }).where('id', '=', orderId).execute();

  beforeAll(async () => {
    s = await startTestServer(dialect);
    call = http(s.url);
    token = (await signUp(s.url)).token;
    const a = await eventOnSale(s.url, token, { name: 'Spring Gala', capacity: 200 }, [
      { name: 'GA', amount: 2500, capacity: 100 },
      { name: 'VIP', amount: 10000, capacity: 20 },
    ]);
    eventA = a.eventId;
    [ga, vip] = a.typeIds as [string, string];
    await call('PUT', `/api/ticket-types/${ga}`, { token, body: { tax_rate: 1900 } });
    await call('PUT', `/api/ticket-types/${vip}`, { token, body: { tax_rate: 700 } });
    const b = await call('POST', '/api/events', {
      token,
      body: sampleEvent({ name: 'NYC Jam', timezone: 'America/New_York', currency: 'USD', capacity: 50 }),
    });
    eventB = b.body.id;
    const usd = await call('POST', `/api/events/${eventB}/ticket-types`, {
      token,
      body: { name: 'Floor', price: { amount: 3000, currency: 'USD' }, capacity: 50 },
    });
    await call('POST', `/api/events/${eventB}/publish`, { token });

    const buy = async (
      name: string,
      event: string,
      items: [string, number][],
      buyer: { name: string; email: string; phone?: string; marketing_opt_in?: boolean },
      paidAt: string,
      attribution?: Record<string, string>,
    ) => {
      const r = await call('POST', '/api/tickets/purchase', {
        token,
        body: {
          event,
          items: items.map(([ticket_type, quantity]) => ({ ticket_type, quantity })),
          buyer,
          payment_method: 'manual',
          ...(attribution ? { attribution } : {}),
        },
      });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      await at(r.body.id, paidAt);
      orders[name] = r.body;
    };
    const ann = { name: 'Ann', email: 'ann@example.com', phone: '+491701234567' };
    const bob = { name: 'Bob', email: 'bob@example.com' };
    // Bob bought once in January: a returning buyer in March, and outside the March range.
    await buy('old', eventA, [[ga, 1]], bob, '2026-01-10T12:00:00.000Z');
    await buy('o1', eventA, [[ga, 2]], ann, '2026-03-28T10:00:00.000Z', { source: 'newsletter' });
    // 00:30 UTC is 01:30 in Berlin, on the 29th.
    await buy('o2', eventA, [[vip, 1]], bob, '2026-03-29T00:30:00.000Z');
    // 22:30 UTC on the 29th is 00:30 on the 30th in Berlin (summer time): a day bucket later than in UTC.
    await buy(
      'o3',
      eventA,
      [
        [ga, 1],
        [vip, 1],
      ],
      { name: 'Cy', email: 'cy@example.com', phone: '+14155550100', marketing_opt_in: true },
      '2026-03-29T22:30:00.000Z',
    );
    await buy('o4', eventA, [[ga, 3]], ann, '2026-03-30T10:00:00.000Z');
    await buy(
      'usd',
      eventB,
      [[usd.body.id, 2]],
      { name: 'Dee', email: 'dee@example.com', phone: '+16135550100' },
      '2026-03-29T15:00:00.000Z',
    );

    // One ticket of o4 refunded (its seat back on sale), on the 30th.
    const refund = await call('POST', `/api/tickets/${orders.o4!.tickets[0]!.id}/refund`, {
      token,
      body: { return_inventory: true },
    });
    expect(refund.status).toBe(201);
    await s.db.kysely
      .updateTable('refunds')
      .set({ created_at: '2026-03-30T12:00:00.000Z' })
      .where('id', '=', refund.body.id)
      .execute();
    // A transfer changes who holds a ticket, not what was sold.
    expect(
      (
        await call('PUT', `/api/tickets/${orders.o3!.tickets[0]!.id}/transfer`, {
          token,
          body: { name: 'Tia Transfer', email: 'tia@example.com' },
        })
      ).status,
    ).toBe(200);
    // o1's two tickets admitted; the second goes out again (a re-entry would bring it back in).
    for (const [t, direction] of [
      [orders.o1!.tickets[0]!, 'entry'],
      [orders.o1!.tickets[1]!, 'entry'],
      [orders.o1!.tickets[1]!, 'exit'],
    ] as const) {
      const v = await call('POST', '/api/tickets/validate', {
        token,
        body: { code: t.code, device_id: 'door-1', direction, event: eventA },
      });
      expect(v.status, JSON.stringify(v.body)).toBe(200);
    }
    // Their first admissions, 10 minutes before and 5 after the doors (the event's start, 19:00 UTC).
    for (const [t, when] of [
      [orders.o1!.tickets[0]!.id, '2030-12-31T18:50:00.000Z'],
      [orders.o1!.tickets[1]!.id, '2030-12-31T19:05:00.000Z'],
    ] as const)
      await s.db.kysely
        .updateTable('ticket_presence')
        .set({ first_entry_at: when })
        .where('ticket_id', '=', t)
        .execute();
  });
  afterAll(() => s.stop());

  const get = async (path: string) => {
    const r = await call('GET', path, { token });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body;
  };
  const MARCH = 'from=2026-03-28&to=2026-03-31';

  it("answers an event's dashboard, each figure as computed by hand", async () => {
    const a = await get(`/api/events/${eventA}/analytics?${MARCH}&interval=day`);
    expect(a).toMatchObject({
      object: 'event_analytics',
      event_id: eventA,
      timezone: 'Europe/Berlin',
      interval: 'day',
      from: '2026-03-27T23:00:00.000Z',
      to: '2026-03-30T22:00:00.000Z',
    });
    // 9 sold (old 1, o1 2, o2 1, o3 2, o4 3), one refunded with its seat back: 8; GA 6 − 1, VIP 2.
    expect(a.inventory).toMatchObject({
      capacity: 200,
      sold: 8,
      held: 0,
      available: 192,
      sell_through: 0.04,
    });
    expect(a.inventory.ticket_types).toEqual([
      { id: ga, name: 'GA', capacity: 100, sold: 6, held: 0, available: 94, sell_through: 0.06 },
      { id: vip, name: 'VIP', capacity: 20, sold: 2, held: 0, available: 18, sell_through: 0.1 },
    ]);
    // In March: o1 5000 + o2 10000 + o3 12500 + o4 7500; 2500 of o4 refunded. Tax on the totals per
    // rate: GA 6 × 25.00 at 19 % (net 126.05), VIP 2 × 100.00 at 7 % (net 186.92).
    expect(a.money).toEqual({
      currency: 'EUR',
      gross: 35000,
      refunded: 2500,
      net: 32500,
      tax: [
        { currency: 'EUR', rate: 1900, gross: 15000, net: 12605, tax: 2395 },
        { currency: 'EUR', rate: 700, gross: 20000, net: 18692, tax: 1308 },
      ],
      fees: 0,
    });
    // Berlin days: the 28th, the 29th (23 hours) and the 30th; o3 counts on the 30th there.
    expect(
      a.sales.map((p: Record<string, unknown>) => [
        p.label,
        p.start,
        p.orders,
        p.tickets,
        p.cumulative_tickets,
      ]),
    ).toEqual([
      ['2026-03-28', '2026-03-27T23:00:00.000Z', 1, 2, 2],
      ['2026-03-29', '2026-03-28T23:00:00.000Z', 1, 1, 3],
      ['2026-03-30', '2026-03-29T22:00:00.000Z', 2, 5, 8],
    ]);
    expect(a.sales.map((p: { gross: unknown }) => p.gross)).toEqual([
      [{ currency: 'EUR', amount: 5000 }],
      [{ currency: 'EUR', amount: 10000 }],
      [{ currency: 'EUR', amount: 20000 }],
    ]);
    expect(a.sales[2].cumulative_gross).toEqual([{ currency: 'EUR', amount: 35000 }]);
    expect(a.by_ticket_type).toEqual([
      { key: ga, name: 'GA', orders: 3, tickets: 6, gross: [{ currency: 'EUR', amount: 15000 }] },
      { key: vip, name: 'VIP', orders: 2, tickets: 2, gross: [{ currency: 'EUR', amount: 20000 }] },
    ]);
    expect(a.by_channel).toEqual([
      {
        key: 'box_office',
        name: 'Box office',
        orders: 4,
        tickets: 8,
        gross: [{ currency: 'EUR', amount: 35000 }],
      },
    ]);
    expect(a.by_source).toEqual([
      { key: 'direct', name: 'direct', orders: 3, tickets: 6, gross: [{ currency: 'EUR', amount: 30000 }] },
      {
        key: 'newsletter',
        name: 'newsletter',
        orders: 1,
        tickets: 2,
        gross: [{ currency: 'EUR', amount: 5000 }],
      },
    ]);
    expect(a.orders).toEqual({ count: 4, average_tickets: 2, average_value: 8750 });
    expect(a.refunds).toEqual({ count: 1, amount: 2500, orders_refunded: 1, rate: 0.25 });
    expect(a.holds).toEqual({ paid: 0, expired: 0, pending: 0, conversion: null });
    // 8 valid tickets (the transferred one too), 2 admitted, 1 still inside; the event has not ended.
    expect(a.checkins).toMatchObject({
      valid_tickets: 8,
      admitted: 2,
      inside: 1,
      checkin_rate: 0.25,
      no_shows: null,
      doors: expect.stringMatching(/^2030-12-31T19:00:00/),
    });
    expect(a.checkins.arrivals).toHaveLength(16);
    expect(a.checkins.arrivals.filter((x: { admitted: number }) => x.admitted)).toEqual([
      { start: '2030-12-31T18:45:00.000Z', label: '2030-12-31T19:45+01:00', admitted: 1 },
      { start: '2030-12-31T19:00:00.000Z', label: '2030-12-31T20:00+01:00', admitted: 1 },
    ]);
  });

  it('buckets by the hour across the missing hour, and by the day across the long one', async () => {
    const spring = await get(`/api/events/${eventA}/analytics?from=2026-03-29&to=2026-03-30&interval=hour`);
    expect(spring.sales).toHaveLength(23);
    expect(spring.sales.slice(0, 4).map((p: { label: string }) => p.label)).toEqual([
      '2026-03-29T00:00+01:00',
      '2026-03-29T01:00+01:00',
      '2026-03-29T03:00+02:00',
      '2026-03-29T04:00+02:00',
    ]);
    // o2, paid at 01:30 winter time.
    expect(
      spring.sales.filter((p: { tickets: number }) => p.tickets).map((p: { label: string }) => p.label),
    ).toEqual(['2026-03-29T01:00+01:00']);
    const autumn = await get(
      `/api/analytics/sales?from=2026-10-24&to=2026-10-27&interval=day&timezone=Europe/Berlin`,
    );
    expect(autumn.series[0].points.map((p: { start: string }) => p.start)).toEqual([
      '2026-10-23T22:00:00.000Z',
      '2026-10-24T22:00:00.000Z',
      '2026-10-25T23:00:00.000Z',
    ]);
    // The same instants, bucketed in UTC: o3 (22:30 UTC on the 29th) falls on the 29th.
    const utc = await get(`/api/events/${eventA}/analytics?${MARCH}&interval=day&timezone=UTC`);
    expect(utc.sales.map((p: { tickets: number }) => p.tickets)).toEqual([2, 3, 3]);
  });

  it('answers org-wide sales per currency, grouped by event, ticket type, channel or source', async () => {
    const q = `${MARCH}&interval=day&timezone=Europe/Berlin`;
    const all = await get(`/api/analytics/sales?${q}`);
    expect(all.totals).toEqual({
      tickets: 10,
      orders: 5,
      gross: [
        { currency: 'EUR', amount: 35000 },
        { currency: 'USD', amount: 6000 },
      ],
    });
    expect(all.series).toHaveLength(1);
    expect(all.series[0].points.map((p: { tickets: number }) => p.tickets)).toEqual([2, 3, 5]);
    expect(all.series[0].points[1].gross).toEqual([
      { currency: 'EUR', amount: 10000 },
      { currency: 'USD', amount: 6000 },
    ]);

    const byEvent = await get(`/api/analytics/sales?${q}&group_by=event`);
    expect(byEvent.series.map((x: { key: string; name: string }) => [x.key, x.name]).sort()).toEqual(
      [
        [eventA, 'Spring Gala'],
        [eventB, 'NYC Jam'],
      ].sort(),
    );
    const nyc = byEvent.series.find((x: { key: string }) => x.key === eventB);
    expect(nyc.points.map((p: { tickets: number }) => p.tickets)).toEqual([0, 2, 0]);
    expect(nyc.points[2].cumulative_gross).toEqual([{ currency: 'USD', amount: 6000 }]);

    const byType = await get(`/api/analytics/sales?${q}&group_by=ticket_type&event=${eventA}`);
    expect(
      byType.series.map((x: { name: string; points: { tickets: number }[] }) => [
        x.name,
        x.points.map((p) => p.tickets),
      ]),
    ).toEqual(
      expect.arrayContaining([
        ['GA', [2, 0, 4]],
        ['VIP', [0, 1, 1]],
      ]),
    );
    const bySource = await get(`/api/analytics/sales?${q}&group_by=source&currency=EUR`);
    expect(bySource.series.map((x: { key: string }) => x.key).sort()).toEqual(['direct', 'newsletter']);
    expect(bySource.totals.gross).toEqual([{ currency: 'EUR', amount: 35000 }]);
    const byChannel = await get(`/api/analytics/sales?${q}&group_by=channel`);
    expect(byChannel.series.map((x: { key: string }) => x.key)).toEqual(['box_office']);
    // Two events by repeating the parameter: the same as all of them.
    const both = await get(`/api/analytics/sales?${q}&event=${eventA}&event=${eventB}`);
    expect(both.totals).toEqual(all.totals);
  });

  it('answers revenue per currency and bucket, with refunds by when they were made', async () => {
    const r = await get(`/api/analytics/revenue?${MARCH}&interval=day&timezone=Europe/Berlin`);
    expect(r.totals).toEqual([
      { currency: 'EUR', gross: 35000, refunds: 2500, fees: 0, net: 32500 },
      { currency: 'USD', gross: 6000, refunds: 0, fees: 0, net: 6000 },
    ]);
    expect(r.series).toHaveLength(6);
    expect(
      r.series
        .filter((p: { currency: string }) => p.currency === 'EUR')
        .map((p: { gross: number; refunds: number }) => [p.gross, p.refunds]),
    ).toEqual([
      [5000, 0],
      [10000, 0],
      [20000, 2500],
    ]);
    expect(r.tax).toEqual([
      { currency: 'EUR', rate: 1900, gross: 15000, net: 12605, tax: 2395 },
      { currency: 'EUR', rate: 700, gross: 20000, net: 18692, tax: 1308 },
      { currency: 'USD', rate: 0, gross: 6000, net: 6000, tax: 0 },
    ]);
    expect(r.by_method).toEqual([
      { method: 'manual', currency: 'EUR', orders: 4, gross: 35000 },
      { method: 'manual', currency: 'USD', orders: 1, gross: 6000 },
    ]);
  });

  it('answers buyers: new and returning, repeat rate, opt-ins, top spenders', async () => {
    const u = await get(`/api/analytics/users?${MARCH}&timezone=Europe/Berlin`);
    expect(u).toMatchObject({
      object: 'users_analytics',
      buyers: 4,
      // Bob bought in January.
      new_buyers: 3,
      returning_buyers: 1,
      repeat_rate: 0.25,
      tickets_per_buyer: 2.5,
      marketing_opt_in_rate: 0.25,
    });
    // By their phones' countries: Ann's German mobile, Cy's San Francisco and Dee's Ottawa numbers; Bob gave none.
    expect(u.by_country).toEqual([
      { country: 'CA', buyers: 1 },
      { country: 'DE', buyers: 1 },
      { country: 'US', buyers: 1 },
      { country: null, buyers: 1 },
    ]);
    expect(u.top_buyers.map((b: { email: string; spent: unknown }) => [b.email, b.spent])).toEqual([
      ['ann@example.com', [{ currency: 'EUR', amount: 12500 }]],
      ['cy@example.com', [{ currency: 'EUR', amount: 12500 }]],
      ['bob@example.com', [{ currency: 'EUR', amount: 10000 }]],
      ['dee@example.com', [{ currency: 'USD', amount: 6000 }]],
    ]);
  });

  it('lists events with their figures, sorted and paginated', async () => {
    const first = await get(`/api/analytics/events?${MARCH}&timezone=Europe/Berlin&sort=-net&limit=1`);
    expect(first.data).toEqual([
      {
        object: 'event_summary',
        event_id: eventA,
        name: 'Spring Gala',
        status: 'published',
        starts_at: expect.any(String),
        currency: 'EUR',
        capacity: 200,
        sold: 8,
        sell_through: 0.04,
        gross: 35000,
        net: 32500,
        checkin_rate: 0.25,
      },
    ]);
    expect(first.has_more).toBe(true);
    const second = await get(
      `/api/analytics/events?${MARCH}&timezone=Europe/Berlin&sort=-net&limit=1&starting_after=${first.next_cursor}`,
    );
    expect(second.data.map((e: { event_id: string; net: number }) => [e.event_id, e.net])).toEqual([
      [eventB, 6000],
    ]);
    expect(second.has_more).toBe(false);
    const byName = await get(`/api/analytics/events?${MARCH}&sort=name`);
    expect(byName.data.map((e: { name: string }) => e.name)).toEqual(['NYC Jam', 'Spring Gala']);
  });

  it('answers from the hourly rollups as the orders themselves would, in any zone and window', async () => {
    // Org-wide questions are summed from the rollups (whole UTC hours) plus the orders at a window's
    // ragged ends; naming every event makes the same question read the orders alone. They must agree:
    // in zones half and three quarters of an hour off UTC, and windows starting and ending mid-hour.
    const every = `&event=${eventA}&event=${eventB}`;
    const without = (body: Record<string, unknown>) => ({ ...body, from: undefined, to: undefined });
    for (const q of [
      `${MARCH}&interval=day&timezone=Asia/Kolkata`,
      `${MARCH}&interval=hour&timezone=Asia/Kathmandu`,
      'from=2026-03-28T10:20&to=2026-03-30T10:05&interval=day&timezone=America/St_Johns',
      'from=2026-03-29T00:10&to=2026-03-29T03:50&interval=hour&timezone=UTC',
      'from=2026-01-01&to=2026-04-01&interval=week&timezone=Europe/Berlin',
    ]) {
      for (const route of ['sales', 'sales?group_by=source&', 'sales?group_by=channel&', 'revenue']) {
        const path = route.includes('?') ? `/api/analytics/${route}${q}` : `/api/analytics/${route}?${q}`;
        const fromRollup = await get(path);
        const fromOrders = await get(`${path}${every}`);
        expect(without(fromRollup), `${path}`).toEqual(without(fromOrders));
      }
    }
    // Something was counted, so the comparison compared something.
    const week = await get(`/api/analytics/revenue?from=2026-01-01&to=2026-04-01&interval=week`);
    expect(week.totals.map((t: { gross: number }) => t.gross)).toEqual([37500, 6000]);
  });

  it('finds a rollup that drifted from its orders (the invariant every test server checks at its stop)', async () => {
    const row = await s.db.kysely.selectFrom('sales_hourly').selectAll().limit(1).executeTakeFirstOrThrow();
    const nudge = (by: number) =>
      s.db.kysely
        .updateTable('sales_hourly')
        .set((eb) => ({ gross: eb('gross', '+', by) }))
        .where('org_id', '=', row.org_id)
        .where('hour', '=', row.hour)
        .where('currency', '=', row.currency)
        .where('payment_method', '=', row.payment_method)
        .where('source', '=', row.source)
        .where('spread', '=', row.spread)
        .execute();
    await nudge(1);
    try {
      expect((await invariantViolations(s.db)).join('\n')).toMatch(/^sales .* the rollup has .*"gross",\d+/m);
    } finally {
      await nudge(-1);
    }
    expect(await invariantViolations(s.db)).toEqual([]);
  });

  it('answers an empty range with every bucket present and zero', async () => {
    const a = await get(`/api/events/${eventA}/analytics?from=2025-01-01&to=2025-01-08&interval=day`);
    expect(a.sales).toHaveLength(7);
    expect(
      a.sales.every((p: { tickets: number; gross: unknown[] }) => p.tickets === 0 && p.gross.length === 0),
    ).toBe(true);
    expect(a.money).toMatchObject({ gross: 0, refunded: 0, net: 0, tax: [] });
    expect(a.orders).toEqual({ count: 0, average_tickets: null, average_value: null });
    const r = await get('/api/analytics/revenue?from=2025-01-01&to=2025-01-08');
    expect(r.totals).toEqual([]);
  });

  it('refuses bad input with a 400 naming the parameter, and other organizations and roles', async () => {
    const bad = async (path: string, param: string) => {
      const r = await call('GET', path, { token });
      expect(r.status, path).toBe(400);
      expect(r.headers.get('content-type')).toContain('application/problem+json');
      expect(r.body.errors.map((e: { path: string }) => e.path)).toContain(param);
    };
    await bad(`/api/analytics/sales?from=2026-03-10&to=2026-03-01`, 'to');
    await bad(`/api/analytics/sales?interval=minute`, 'interval');
    await bad(`/api/analytics/sales?timezone=Mars/Olympus`, 'timezone');
    await bad(`/api/analytics/sales?from=2000-01-01&to=2020-01-01&interval=hour`, 'interval');
    await bad(`/api/analytics/revenue?from=yesterday`, 'from');
    await bad(`/api/analytics/events?sort=price`, 'sort');
    await bad(`/api/events/${eventA}/analytics?from=2026-02-30`, 'from');

    const stranger = await signUp(s.url);
    expect((await call('GET', `/api/events/${eventA}/analytics`, { token: stranger.token })).status).toBe(
      404,
    );
    expect(
      (await call('GET', `/api/analytics/sales?event=${eventA}`, { token: stranger.token })).status,
    ).toBe(404);
    const door = await call('POST', '/api/api-keys', { token, body: { name: 'door', scopes: ['checkin'] } });
    expect((await call('GET', `/api/events/${eventA}/analytics`, { token: door.body.secret })).status).toBe(
      403,
    );
    expect((await call('GET', '/api/analytics/revenue', { token: door.body.secret })).status).toBe(403);
    const invite = await call('POST', '/api/org/invitations', {
      token,
      body: { email: 'staff-analytics@example.com', role: 'staff' },
    });
    const staff = await call('POST', '/api/auth/register', {
      body: {
        email: 'staff-analytics@example.com',
        password: 'correct horse battery staple',
        name: 'Sam Staff',
        invitation: invite.body.token,
      },
    });
    expect(staff.status).toBe(201);
    expect((await call('GET', '/api/analytics/sales', { token: staff.body.access_token })).status).toBe(403);
  });
});
