// "Nothing is sold twice, with any number of server processes sharing one Postgres": two real server
// processes (the built `dist/main.js`, as deployed) on one fresh schema, buyers racing across both.
//
// Postgres only. The claim being proven is about several processes sharing one database, which is how
// the server is scaled out, and that deployment is Postgres. SQLite is an embedded, single-machine
// default (one process: `tickets server start`); several processes on one SQLite file is out of scope
// for this proof. In-process races on both databases are covered by orders.test.ts.
import { verifyTicketCode } from '@tickets/sdk';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Db, openDatabase } from '../src/db/database.js';
import { createTestDatabase, describeOnPostgres, sampleEvent, signUp, type TestDatabase } from './harness.js';
import { type ServerProcess, startTwo, stopProcess } from './processes.js';

describeOnPostgres('postgres: two server processes sharing one database', () => {
  let database: TestDatabase;
  let db: Db;
  let a: ServerProcess;
  let b: ServerProcess;
  let token: string;

  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    // Started together, so they also race to migrate the empty schema and to create the signing secret.
    [a, b] = await startTwo(database.url);
    expect(a.url).not.toBe(b.url);
    db = openDatabase(database.url, { poolSize: 2 });
    token = (await signUp(a.url)).token;
  });

  afterAll(async () => {
    await Promise.all([stopProcess(a), stopProcess(b)]);
    await db?.close();
    await database?.drop();
  });

  /** A published event on sale, created through process A; returns its id and its ticket types' ids. */
  async function onSale(event: Record<string, unknown>, capacities: number[]) {
    const e = await a.call('POST', '/api/events', { token, body: sampleEvent(event) });
    expect(e.status).toBe(201);
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

  const order = (eventId: string, typeId: string, email: string, quantity = 1) => ({
    event: eventId,
    items: [{ ticket_type: typeId, quantity }],
    buyer: { name: 'Racing Fan', email },
    payment_method: 'manual',
  });

  /** Tickets per ticket type and the counters, read from the database, not through either process. */
  async function ledger(eventId: string) {
    const k = db.kysely;
    const tickets = await k
      .selectFrom('tickets')
      .select(['ticket_type_id', k.fn.countAll<number>().as('n')])
      .where('event_id', '=', eventId)
      .groupBy('ticket_type_id')
      .execute();
    const types = await k
      .selectFrom('ticket_types')
      .select(['id', 'capacity', 'sold', 'held'])
      .where('event_id', '=', eventId)
      .execute();
    const event = await k
      .selectFrom('events')
      .select(['capacity', 'sold', 'held'])
      .where('id', '=', eventId)
      .executeTakeFirstOrThrow();
    const orders = await k
      .selectFrom('orders')
      .select(k.fn.countAll<number>().as('n'))
      .where('event_id', '=', eventId)
      .executeTakeFirstOrThrow();
    const byType = new Map(tickets.map((t) => [t.ticket_type_id, Number(t.n)]));
    return {
      tickets: [...byType.values()].reduce((s, n) => s + n, 0),
      orders: Number(orders.n),
      event,
      types: types.map((t) => ({ ...t, tickets: byType.get(t.id) ?? 0 })),
    };
  }

  it('both processes serve one organization: a token from one is accepted by the other', async () => {
    const viaA = await a.call('GET', '/api/org', { token });
    const viaB = await b.call('GET', '/api/org', { token });
    expect(viaA.status).toBe(200);
    expect(viaB.status).toBe(200);
    expect(viaB.body.id).toBe(viaA.body.id);
  });

  it('both processes (each with its own data directory) sign alike: a ticket sold on one verifies with the key the other serves', async () => {
    const { eventId, typeIds } = await onSale({ name: 'Stateless Night' }, [10]);
    const sold = await a.call('POST', '/api/tickets/purchase', {
      token,
      body: order(eventId, typeIds[0]!, 'stateless@example.com', 2),
    });
    expect(sold.status).toBe(201);
    // B has never signed for this event: its key comes from the database, as A's did.
    const keyViaB = await b.call('GET', `/api/events/${eventId}/public-key`, { token });
    expect(keyViaB.status).toBe(200);
    for (const ticket of sold.body.tickets)
      expect(await verifyTicketCode(ticket.code, keyViaB.body.public_key)).toMatchObject({
        valid: true,
        ticketId: ticket.id,
      });
    // And B admits A's ticket at its door.
    const scan = await b.call('POST', '/api/tickets/validate', {
      token,
      body: { code: sold.body.tickets[0].code, device_id: 'gate-b' },
    });
    expect(scan.status, JSON.stringify(scan.body)).toBe(200);
    expect(scan.body.result).toBe('admitted');
  });

  it('sells exactly the last 50 tickets to 200 buyers racing across both processes', async () => {
    const { eventId, typeIds } = await onSale({ name: 'Two doors', capacity: 100 }, [60]);
    const typeId = typeIds[0]!;
    // Ten sold earlier, through the other process, so the race is for the last 50 of 60.
    const early = await b.call('POST', '/api/tickets/purchase', {
      token,
      body: order(eventId, typeId, 'early@example.com', 10),
    });
    expect(early.status).toBe(201);

    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        (i % 2 ? b : a).call('POST', '/api/tickets/purchase', {
          token,
          body: order(eventId, typeId, `fan${i}@example.com`),
        }),
      ),
    );
    const statuses = results.map((r) => r.status);
    const won = results.filter((r) => r.status === 201);
    expect(won).toHaveLength(50);
    expect(statuses.filter((s) => s === 409)).toHaveLength(150);
    expect(results.filter((r) => r.status === 409).every((r) => r.body.code === 'sold_out')).toBe(true);
    // Both processes sold some: the race really ran across the two of them.
    const byProcess = [0, 1].map((p) => results.filter((r, i) => i % 2 === p && r.status === 201).length);
    expect(byProcess.every((n) => n > 0)).toBe(true);
    expect(new Set(won.map((r) => r.body.tickets[0].id)).size).toBe(50);

    const l = await ledger(eventId);
    expect(l.tickets).toBe(60);
    expect(l.orders).toBe(51);
    expect(l.types).toEqual([{ id: typeId, capacity: 60, sold: 60, held: 0, tickets: 60 }]);
    expect(l.event).toEqual({ capacity: 100, sold: 60, held: 0 });
    for (const p of [a, b]) {
      const availability = await p.call('GET', `/api/tickets/availability?event=${eventId}`, { token });
      expect(availability.body.ticket_types[0]).toMatchObject({ sold: 60, held: 0, available: 0 });
    }
  });

  it('holds the event capacity across ticket types and processes', async () => {
    // Each type alone could sell 40; the event only 50 in all.
    const { eventId, typeIds } = await onSale({ name: 'Shared hall', capacity: 50 }, [40, 40]);
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        (i % 2 ? b : a).call('POST', '/api/tickets/purchase', {
          token,
          body: order(eventId, typeIds[Math.floor(i / 2) % 2]!, `hall${i}@example.com`),
        }),
      ),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(50);
    expect(results.filter((r) => r.status === 409 && r.body.code === 'sold_out')).toHaveLength(150);
    const l = await ledger(eventId);
    expect(l.tickets).toBe(50);
    expect(l.event).toEqual({ capacity: 50, sold: 50, held: 0 });
    for (const t of l.types) {
      expect(t.sold).toBe(t.tickets);
      expect(t.held).toBe(0);
      expect(t.sold).toBeLessThanOrEqual(40);
    }
  });

  it('runs a purchase once when one Idempotency-Key reaches both processes at the same instant', async () => {
    const { eventId, typeIds } = await onSale({ name: 'Retrying clients' }, [100]);
    const typeId = typeIds[0]!;
    const rounds = 5;
    const orderIds: string[] = [];
    for (let round = 0; round < rounds; round++) {
      const key = `retry-${round}-${Date.now()}`;
      const body = order(eventId, typeId, `retry${round}@example.com`, 2);
      const headers = { 'idempotency-key': key };
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          (i % 2 ? b : a).call('POST', '/api/tickets/purchase', { token, body, headers }),
        ),
      );
      const created = results.filter((r) => r.status === 201);
      expect(created.length).toBeGreaterThanOrEqual(1);
      // Any that lost the race were told the first is still running; none sold again.
      for (const r of results)
        if (r.status !== 201) {
          expect(r.status).toBe(409);
          expect(r.body.code).toBe('idempotency_request_in_progress');
        }
      const id = created[0]!.body.id as string;
      expect(created.every((r) => r.body.id === id)).toBe(true);

      // Once done, both processes replay the one stored order.
      for (const p of [a, b]) {
        const again = await p.call('POST', '/api/tickets/purchase', { token, body, headers });
        expect(again.status).toBe(201);
        expect(again.headers.get('idempotent-replayed')).toBe('true');
        expect(again.body.id).toBe(id);
      }
      // The same key with another body is refused by either process.
      const other = await b.call('POST', '/api/tickets/purchase', {
        token,
        body: { ...body, items: [{ ticket_type: typeId, quantity: 1 }] },
        headers,
      });
      expect(other.status).toBe(409);
      expect(other.body.code).toBe('idempotency_key_reused');
      orderIds.push(id);
    }

    expect(new Set(orderIds).size).toBe(rounds);
    const l = await ledger(eventId);
    expect(l.orders).toBe(rounds);
    expect(l.tickets).toBe(rounds * 2);
    expect(l.types[0]).toMatchObject({ sold: rounds * 2, held: 0, tickets: rounds * 2 });
    expect(l.event).toMatchObject({ sold: rounds * 2, held: 0 });
  });
  it('redeems a code with 10 uses exactly 10 times when 200 buyers race for it across both processes', async () => {
    const { eventId, typeIds } = await onSale({ name: 'Voucher race' }, [1000]);
    const v = await a.call('POST', '/api/vouchers', {
      token,
      body: { code: `RACE${Date.now()}`, event: eventId, discount: { percent: 50 }, max_uses: 10 },
    });
    expect(v.status).toBe(201);
    const code = v.body.data[0].code as string;
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        (i % 2 ? a : b).call('POST', '/api/tickets/purchase', {
          token,
          body: { ...order(eventId, typeIds[0]!, `voucher${i}@example.com`), voucher: code },
        }),
      ),
    );
    expect(answers.filter((r) => r.status === 201)).toHaveLength(10);
    expect(answers.filter((r) => r.status === 409 && r.body.code === 'voucher_used_up')).toHaveLength(190);
    // The database, not the answers: 10 uses, 10 redemptions, 10 half-price orders.
    const row = await db.kysely
      .selectFrom('vouchers')
      .select('uses')
      .where('id', '=', v.body.data[0].id)
      .executeTakeFirstOrThrow();
    expect(Number(row.uses)).toBe(10);
    const redeemed = await db.kysely
      .selectFrom('voucher_redemptions')
      .select('order_id')
      .where('voucher_id', '=', v.body.data[0].id)
      .where('status', '=', 'active')
      .execute();
    expect(redeemed).toHaveLength(10);
    const orders = await db.kysely
      .selectFrom('orders')
      .select('total_amount')
      .where('event_id', '=', eventId)
      .execute();
    expect(orders.map((o) => o.total_amount)).toEqual(Array(10).fill(1250));
  });
});
