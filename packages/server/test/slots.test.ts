// A hot event's counters spread over slots (modules/inventory/inventory.ts): the races that the single
// counter rows win must be won the same way with slots, through two server processes (the built
// `dist/main.js`) sharing one database, on SQLite and on Postgres. After each race the database itself
// is read (the counters are the slots' sums; invariants.ts also checks each slot and their capacities).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Db, openDatabase } from '../src/db/database.js';
import { createTestDatabase, DIALECTS, sampleEvent, signUp, type TestDatabase } from './harness.js';
import { expectInvariants, invariantViolations } from './invariants.js';
import { type ServerProcess, startTwo, stopProcess } from './processes.js';

describe.each(DIALECTS)('%s: an event with slots, sold through two server processes', (dialect) => {
  let database: TestDatabase;
  let db: Db;
  let a: ServerProcess;
  let b: ServerProcess;
  let token: string;

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    [a, b] = await startTwo(database.url);
    db = openDatabase(database.url, { poolSize: 2 });
    token = (await signUp(a.url)).token;
  }, 60_000);

  afterAll(async () => {
    if (db) await expectInvariants(db);
    await Promise.all([stopProcess(a), stopProcess(b)]);
    await db?.close();
    await database?.drop();
  });

  const either = (i: number) => (i % 2 ? b : a);

  /** A published event with `slots` slots, created through process A. */
  async function onSale(event: Record<string, unknown>, capacities: number[], slots: number) {
    const e = await a.call('POST', '/api/events', {
      token,
      body: sampleEvent({ ...event, inventory_slots: slots }),
    });
    expect(e.status, JSON.stringify(e.body)).toBe(201);
    expect(e.body.inventory_slots).toBe(slots);
    const typeIds: string[] = [];
    for (const [i, capacity] of capacities.entries()) {
      const t = await a.call('POST', `/api/events/${e.body.id}/ticket-types`, {
        token,
        body: { name: `Type ${i}`, price: { amount: 2500, currency: 'EUR' }, capacity },
      });
      expect(t.status).toBe(201);
      typeIds.push(t.body.id);
    }
    expect((await a.call('POST', `/api/events/${e.body.id}/publish`, { token })).status).toBe(200);
    return { eventId: e.body.id as string, typeIds };
  }

  const buy = (p: ServerProcess, eventId: string, typeId: string, email: string, quantity = 1) =>
    p.call('POST', '/api/tickets/purchase', {
      token,
      body: {
        event: eventId,
        items: [{ ticket_type: typeId, quantity }],
        buyer: { name: 'Racing Fan', email },
        payment_method: 'manual',
      },
    });

  /** An owner's counters as the database has them: its row's plus its slots', and its slot rows. */
  async function counters(ownerId: string, table: 'events' | 'ticket_types') {
    const row = await db.kysely
      .selectFrom(table)
      .select(['sold', 'held', 'slots'])
      .where('id', '=', ownerId)
      .executeTakeFirstOrThrow();
    const slots = await db.kysely
      .selectFrom('inventory_slots')
      .selectAll()
      .where('owner_id', '=', ownerId)
      .orderBy('slot')
      .execute();
    return {
      sold: row.sold + slots.reduce((n, s) => n + s.sold, 0),
      held: row.held + slots.reduce((n, s) => n + s.held, 0),
      slots: row.slots,
      rows: slots,
    };
  }

  const ticketsOf = async (eventId: string) =>
    Number(
      (
        await db.kysely
          .selectFrom('tickets')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('event_id', '=', eventId)
          .where('status', '=', 'valid')
          .executeTakeFirstOrThrow()
      ).n,
    );

  it('sells exactly the last 50 tickets to 200 buyers racing across both processes, from 8 slots', async () => {
    const { eventId, typeIds } = await onSale({ name: 'Hot night', capacity: 100 }, [60], 8);
    const typeId = typeIds[0]!;
    const type = await counters(typeId, 'ticket_types');
    expect(type.slots).toBe(8);
    expect(type.rows.map((s) => s.capacity)).toEqual([8, 8, 8, 8, 7, 7, 7, 7]);
    expect((await buy(b, eventId, typeId, 'early@example.com', 10)).status).toBe(201);

    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => buy(either(i), eventId, typeId, `fan${i}@example.com`)),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(50);
    const refused = results.filter((r) => r.status !== 201);
    expect(refused.map((r) => `${r.status} ${r.body.code}`)).toEqual(Array(150).fill('409 sold_out'));
    expect([0, 1].every((p) => results.some((r, i) => i % 2 === p && r.status === 201))).toBe(true);

    expect(await ticketsOf(eventId)).toBe(60);
    const after = await counters(typeId, 'ticket_types');
    expect(after).toMatchObject({ sold: 60, held: 0 });
    // Every slot is full: the last tickets were found in whichever slots still had them.
    expect(after.rows.every((s) => s.sold === s.capacity)).toBe(true);
    expect(await counters(eventId, 'events')).toMatchObject({ sold: 60, held: 0 });
    const availability = await b.call('GET', `/api/tickets/availability?event=${eventId}`, { token });
    expect(availability.body).toMatchObject({ sold: 60, held: 0, available: 40 });
    expect(availability.body.ticket_types[0]).toMatchObject({ sold: 60, held: 0, available: 0 });
    expect(await invariantViolations(db)).toEqual([]);
  });

  it('holds the event capacity across ticket types and processes, the event spread over slots too', async () => {
    const { eventId, typeIds } = await onSale({ name: 'Shared hot hall', capacity: 50 }, [40, 40], 4);
    const results = await Promise.all(
      Array.from({ length: 160 }, (_, i) =>
        buy(either(i), eventId, typeIds[Math.floor(i / 2) % 2]!, `hall${i}@example.com`),
      ),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(50);
    expect(results.filter((r) => r.status === 409 && r.body.code === 'sold_out')).toHaveLength(110);
    expect(await counters(eventId, 'events')).toMatchObject({ sold: 50, held: 0, slots: 4 });
    expect(await ticketsOf(eventId)).toBe(50);
    expect(await invariantViolations(db)).toEqual([]);
  });

  it('sells an order larger than any one slot has left, split across slots, and no more than remain', async () => {
    // 16 over 8 slots: 2 in each.
    const { eventId, typeIds } = await onSale({ name: 'Split' }, [16], 8);
    const typeId = typeIds[0]!;
    const five = await buy(a, eventId, typeId, 'five@example.com', 5);
    expect(five.status, JSON.stringify(five.body)).toBe(201);
    expect(five.body.tickets).toHaveLength(5);
    const twelve = await buy(b, eventId, typeId, 'twelve@example.com', 12);
    expect(twelve.status).toBe(409);
    expect(twelve.body.code).toBe('sold_out');
    expect((await buy(b, eventId, typeId, 'eleven@example.com', 11)).status).toBe(201);
    expect(await counters(typeId, 'ticket_types')).toMatchObject({ sold: 16, held: 0 });
    expect(await invariantViolations(db)).toEqual([]);
  });

  it('gives refunded seats back to buyers racing the refunds, none lost, none twice', async () => {
    const { eventId, typeIds } = await onSale({ name: 'Refund rush' }, [40], 8);
    const typeId = typeIds[0]!;
    const first = await Promise.all(
      Array.from({ length: 40 }, (_, i) => buy(either(i), eventId, typeId, `first${i}@example.com`)),
    );
    expect(first.every((r) => r.status === 201)).toBe(true);
    // 20 refunds and 40 new buyers at once, across both processes.
    const [refunds, rush] = await Promise.all([
      Promise.all(
        first
          .slice(0, 20)
          .map((r, i) => either(i).call('POST', `/api/orders/${r.body.id}/refund`, { token, body: {} })),
      ),
      Promise.all(
        Array.from({ length: 40 }, (_, i) => buy(either(i + 1), eventId, typeId, `rush${i}@example.com`)),
      ),
    ]);
    expect(refunds.map((r) => r.status)).toEqual(Array(20).fill(201));
    const won = rush.filter((r) => r.status === 201).length;
    expect(won).toBeLessThanOrEqual(20);
    expect(rush.filter((r) => r.status !== 201).every((r) => r.body.code === 'sold_out')).toBe(true);
    // Whatever the rush did not get is still for sale, exactly.
    const rest = 20 - won;
    const late = await Promise.all(
      Array.from({ length: rest + 5 }, (_, i) => buy(either(i), eventId, typeId, `late${i}@example.com`)),
    );
    expect(late.filter((r) => r.status === 201)).toHaveLength(rest);
    expect(await counters(typeId, 'ticket_types')).toMatchObject({ sold: 40, held: 0 });
    expect(await ticketsOf(eventId)).toBe(40);
    expect(await invariantViolations(db)).toEqual([]);
  });

  it('keeps every count while the number of slots changes under a stampede', async () => {
    const { eventId, typeIds } = await onSale({ name: 'Reshaped', capacity: 200 }, [30, 30], 4);
    const buying = Promise.all(
      Array.from({ length: 120 }, (_, i) =>
        buy(either(i), eventId, typeIds[i % 2]!, `shape${i}@example.com`, 1 + (i % 2)),
      ),
    );
    const reshaping = (async () => {
      const answers = [];
      for (const [i, slots] of [1, 16, 2, 8].entries())
        answers.push(
          await either(i).call('PUT', `/api/events/${eventId}`, { token, body: { inventory_slots: slots } }),
        );
      return answers;
    })();
    const [results, reshapes] = await Promise.all([buying, reshaping]);
    expect(reshapes.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(results.filter((r) => r.status !== 201 && r.body.code !== 'sold_out').map((r) => r.body)).toEqual(
      [],
    );
    const sold = results.filter((r) => r.status === 201).reduce((n, r) => n + r.body.tickets.length, 0);
    // Each type sells out exactly: 30 + 30 of the 60 + 120 asked for.
    expect(sold).toBe(60);
    for (const typeId of typeIds)
      expect(await counters(typeId, 'ticket_types')).toMatchObject({ sold: 30, held: 0, slots: 8 });
    expect(await counters(eventId, 'events')).toMatchObject({ sold: 60, held: 0, slots: 8 });
    expect(await invariantViolations(db)).toEqual([]);
  });

  it("checks capacity changes against the slots' sums, and folds the slots back into the rows", async () => {
    const { eventId, typeIds } = await onSale({ name: 'Resized', capacity: 100 }, [20], 4);
    const typeId = typeIds[0]!;
    expect((await buy(a, eventId, typeId, 'resize@example.com', 12)).status).toBe(201);
    const below = await b.call('PUT', `/api/ticket-types/${typeId}`, { token, body: { capacity: 11 } });
    expect(below.status).toBe(409);
    expect(below.body.code).toBe('capacity_below_sales');
    const belowEvent = await b.call('PUT', `/api/events/${eventId}`, { token, body: { capacity: 11 } });
    expect(belowEvent.status).toBe(409);
    expect(
      (await b.call('PUT', `/api/ticket-types/${typeId}`, { token, body: { capacity: 12 } })).status,
    ).toBe(200);
    expect((await buy(a, eventId, typeId, 'one-more@example.com', 1)).status).toBe(409);
    expect(
      (await a.call('PUT', `/api/ticket-types/${typeId}`, { token, body: { capacity: 30 } })).status,
    ).toBe(200);
    const type = await counters(typeId, 'ticket_types');
    expect(type.rows.reduce((n, s) => n + (s.capacity ?? 0), 0)).toBe(30);
    expect((await buy(b, eventId, typeId, 'room@example.com', 18)).status).toBe(201);
    // Back to one row: the counts come with it.
    expect(
      (await a.call('PUT', `/api/events/${eventId}`, { token, body: { inventory_slots: 1 } })).status,
    ).toBe(200);
    expect(await counters(typeId, 'ticket_types')).toEqual({ sold: 30, held: 0, slots: 1, rows: [] });
    expect(await counters(eventId, 'events')).toEqual({ sold: 30, held: 0, slots: 1, rows: [] });
    expect(await invariantViolations(db)).toEqual([]);
  });

  it("keeps one buyer's limit when their orders race across both processes", async () => {
    const { eventId, typeIds } = await onSale({ name: 'Limited', max_per_buyer: 3 }, [100], 8);
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => buy(either(i), eventId, typeIds[0]!, 'greedy@example.com')),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(3);
    expect(results.filter((r) => r.status === 409 && r.body.code === 'buyer_limit_reached')).toHaveLength(9);
    expect(await ticketsOf(eventId)).toBe(3);
  });

  it('refuses a number of slots out of range', async () => {
    const { eventId } = await onSale({ name: 'Bounds' }, [10], 1);
    for (const slots of [0, 65, 2.5])
      expect(
        (await a.call('PUT', `/api/events/${eventId}`, { token, body: { inventory_slots: slots } })).status,
      ).toBe(422);
  });
});
