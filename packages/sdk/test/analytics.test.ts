import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, sampleEvent, startTestServer, type TestServer } from '../../server/test/harness.js';
import { Tickets, ValidationError } from '../src/index.js';

describe.each(DIALECTS)('%s: analytics with the SDK', (dialect) => {
  let s: TestServer;
  let tickets: Tickets;
  const events: string[] = [];

  beforeAll(async () => {
    s = await startTestServer(dialect);
    tickets = new Tickets({ baseUrl: s.url });
    await tickets.auth.register({
      email: `analyst-${dialect}@example.com`,
      password: 'correct horse battery',
      name: 'Ana Analyst',
    });
    for (const [name, qty, source] of [
      ['First', 2, 'newsletter'],
      ['Second', 3, undefined],
      ['Third', 1, undefined],
    ] as const) {
      const event = await tickets.events.create(sampleEvent({ name }));
      const type = await tickets.ticketTypes.create(event.id, {
        name: 'GA',
        price: { amount: 2000, currency: 'EUR' },
        capacity: 10,
      });
      await tickets.events.publish(event.id);
      await tickets.tickets.purchase({
        event: event.id,
        items: [{ ticket_type: type.id, quantity: qty }],
        buyer: { name: 'Bea', email: `bea-${name}@example.com` },
        payment_method: 'manual',
        attribution: source ? { source } : undefined,
      });
      events.push(event.id);
    }
  });
  afterAll(() => s.stop());

  it('reads an event, sales for several events (a repeated parameter), every page of events, users and revenue', async () => {
    const first = await tickets.analytics.event(events[0]!);
    expect(first.inventory).toMatchObject({ sold: 2, capacity: 100 });
    expect(first.by_source.map((b) => b.key)).toEqual(['newsletter']);
    const two = await tickets.analytics.sales({ event: [events[0]!, events[1]!], group_by: 'event' });
    expect(two.totals.tickets).toBe(5);
    expect(two.series.map((x) => x.key).sort()).toEqual([events[0], events[1]].sort());
    const one = await tickets.analytics.sales({ event: events[2]! });
    expect(one.totals).toMatchObject({ tickets: 1, gross: [{ currency: 'EUR', amount: 2000 }] });
    const listed = await tickets.analytics.events({ sort: '-sold', limit: 1 }).toArray({ limit: 10 });
    expect(listed.map((e) => [e.name, e.sold])).toEqual([
      ['Second', 3],
      ['First', 2],
      ['Third', 1],
    ]);
    expect((await tickets.analytics.users()).buyers).toBe(3);
    const revenue = await tickets.analytics.revenue({ interval: 'day' });
    expect(revenue.totals).toEqual([{ currency: 'EUR', gross: 12000, refunds: 0, fees: 0, net: 12000 }]);
  });

  it('throws a ValidationError naming the parameter', async () => {
    const err = await tickets.analytics
      .sales({ from: '2026-03-10', to: '2026-03-01' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).errors?.map((e) => e.path)).toContain('to');
  });
});
