// Two state changes on one order at the same moment, through two server processes (the built
// `dist/main.js`) sharing one database, on SQLite and on Postgres. After each race the answers must agree
// with the database (a 2xx means it happened, a 409 that it did not) and the sale's invariants must hold
// in the database itself (invariants.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Db, openDatabase } from '../src/db/database.js';
import { createTestDatabase, DIALECTS, eventOnSale, signUp, type TestDatabase } from './harness.js';
import { expectInvariants } from './invariants.js';
import { type ServerProcess, startTwo, stopProcess } from './processes.js';

/** Rounds per race: the bug this file was written for lost most rounds on Postgres, some on SQLite. */
const ROUNDS = 6;

describe.each(DIALECTS)('%s: racing changes to one order across two server processes', (dialect) => {
  let database: TestDatabase;
  let db: Db;
  let a: ServerProcess;
  let b: ServerProcess;
  let token: string;
  let eventId: string;
  let typeId: string;

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    [a, b] = await startTwo(database.url);
    db = openDatabase(database.url, { poolSize: 2 });
    token = (await signUp(a.url)).token;
    ({
      eventId,
      typeIds: [typeId = ''],
    } = await eventOnSale(a.url, token, { name: 'Race Night', capacity: 500 }, [
      { name: 'GA', amount: 2500, capacity: 400 },
    ]));
  }, 60_000);

  afterAll(async () => {
    if (db) await expectInvariants(db);
    await Promise.all([stopProcess(a), stopProcess(b)]);
    await db?.close();
    await database?.drop();
  });

  /** A paid order of `quantity` tickets at 25.00, sold at the box office through process A. */
  async function paidOrder(quantity = 2) {
    const res = await a.call('POST', '/api/tickets/purchase', {
      token,
      body: {
        event: eventId,
        items: [{ ticket_type: typeId, quantity }],
        buyer: { name: 'Rae Racer', email: `rae-${Math.random().toString(36).slice(2)}@example.com` },
        payment_method: 'manual',
      },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body as { id: string; tickets: { id: string; code: string }[] };
  }

  /** The order and its tickets as the database has them. */
  async function stored(orderId: string) {
    const order = await db.kysely
      .selectFrom('orders')
      .select(['status', 'refunded_amount', 'total_amount'])
      .where('id', '=', orderId)
      .executeTakeFirstOrThrow();
    const tickets = await db.kysely
      .selectFrom('tickets')
      .select(['id', 'status', 'holder_name', 'code', 'code_version'])
      .where('order_id', '=', orderId)
      .orderBy('id')
      .execute();
    return { order, tickets };
  }

  const refundOrder = (p: ServerProcess, orderId: string, body: object = {}) =>
    p.call('POST', `/api/orders/${orderId}/refund`, { token, body });
  const refundTicket = (p: ServerProcess, ticketId: string) =>
    p.call('POST', `/api/tickets/${ticketId}/refund`, { token, body: {} });
  const transfer = (p: ServerProcess, ticketId: string, name: string) =>
    p.call('PUT', `/api/tickets/${ticketId}/transfer`, {
      token,
      body: { name, email: `${name.toLowerCase().replace(' ', '.')}@example.com` },
    });
  const validate = (p: ServerProcess, code: string) =>
    p.call('POST', '/api/tickets/validate', { token, body: { code, device_id: 'door-1' } });

  it('two partial refunds that together refund the order void every ticket and return the seats', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const order = await paidOrder(2);
      const [first, second] = await Promise.all([
        refundOrder(a, order.id, { amount: 2500 }),
        refundOrder(b, order.id, { amount: 2500 }),
      ]);
      expect([first.status, second.status], JSON.stringify([first.body, second.body])).toEqual([201, 201]);
      const after = await stored(order.id);
      expect(after.order).toEqual({ status: 'refunded', refunded_amount: 5000, total_amount: 5000 });
      expect(after.tickets.map((t) => t.status)).toEqual(['void', 'void']);
      // The door refuses them, online and in the next offline bundle.
      for (const t of order.tickets) expect((await validate(b, t.code)).body.result).toBe('revoked');
      const bundle = await a.call('GET', `/api/events/${eventId}/checkin-bundle`, { token });
      const inBundle = bundle.body.tickets.filter((t: { id: string }) =>
        order.tickets.some((o) => o.id === t.id),
      );
      expect(inBundle.map((t: { status: string }) => t.status)).toEqual(['void', 'void']);
    }
    await expectInvariants(db);
  });

  it('a full and a partial refund at once: one wins, and the order ends consistent', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const order = await paidOrder(2);
      const [full, part] = await Promise.all([
        refundOrder(a, order.id),
        refundOrder(b, order.id, { amount: 1000 }),
      ]);
      const after = await stored(order.id);
      const refunded = (full.status === 201 ? full.body.amount.amount : 0) + (part.status === 201 ? 1000 : 0);
      expect(after.order.refunded_amount).toBe(refunded);
      for (const r of [full, part]) expect([201, 409], JSON.stringify(r.body)).toContain(r.status);
      if (after.order.status === 'refunded')
        expect(after.tickets.every((t) => t.status === 'void')).toBe(true);
      else expect(after.tickets.every((t) => t.status === 'valid')).toBe(true);
    }
    await expectInvariants(db);
  });

  it('refunding the order while one of its tickets is refunded voids both tickets once', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const order = await paidOrder(2);
      const [whole, one] = await Promise.all([
        refundOrder(a, order.id, { amount: 2500 }),
        refundTicket(b, order.tickets[0]!.id),
      ]);
      expect([whole.status, one.status], JSON.stringify([whole.body, one.body])).toEqual([201, 201]);
      const after = await stored(order.id);
      expect(after.order).toMatchObject({ status: 'refunded', refunded_amount: 5000 });
      expect(after.tickets.map((t) => t.status)).toEqual(['void', 'void']);
    }
    await expectInvariants(db);
  });

  it('a refund and a transfer of the same ticket: the ticket ends void, whoever holds it', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const order = await paidOrder(1);
      const ticket = order.tickets[0]!;
      const [refund, moved] = await Promise.all([
        refundTicket(a, ticket.id),
        transfer(b, ticket.id, 'Nia New'),
      ]);
      expect(refund.status, JSON.stringify(refund.body)).toBe(201);
      expect([200, 409], JSON.stringify(moved.body)).toContain(moved.status);
      const after = await stored(order.id);
      expect(after.tickets[0]!.status).toBe('void');
      // A 200 means the transfer happened (before the refund); a 409 that it did not.
      expect(after.tickets[0]!.holder_name).toBe(moved.status === 200 ? 'Nia New' : 'Rae Racer');
      for (const code of [ticket.code, moved.body.code].filter(Boolean))
        expect(['revoked', 'invalid']).toContain((await validate(a, code)).body.result);
    }
    await expectInvariants(db);
  });

  it('two transfers of one ticket at once: each that succeeds is a new version, and only the last code admits', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const order = await paidOrder(1);
      const ticket = order.tickets[0]!;
      const results = await Promise.all([
        transfer(a, ticket.id, 'Ann One'),
        transfer(b, ticket.id, 'Bob Two'),
      ]);
      for (const r of results) expect([200, 409], JSON.stringify(r.body)).toContain(r.status);
      // Both may succeed one after the other (Ann, then from Ann to Bob), never both from the same version.
      const won = results
        .filter((r) => r.status === 200)
        .sort((x, y) => x.body.code_version - y.body.code_version);
      expect(won.length).toBeGreaterThan(0);
      expect(won.map((r) => r.body.code_version)).toEqual(won.map((_, i) => i + 2));
      const last = won.at(-1)!.body;
      const after = await stored(order.id);
      expect(after.tickets[0]).toMatchObject({
        holder_name: last.holder.name,
        code_version: last.code_version,
      });
      expect(after.tickets[0]!.code).toBe(last.code);
      for (const old of [ticket.code, ...won.slice(0, -1).map((r) => r.body.code)])
        expect((await validate(b, old)).body.result).toBe('revoked');
      expect((await validate(b, last.code)).body.result).toBe('admitted');
    }
    await expectInvariants(db);
  });

  it('a refund and a scan at the door at once: admitted only if the scan came first', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const order = await paidOrder(1);
      const ticket = order.tickets[0]!;
      const [refund, scan] = await Promise.all([refundTicket(a, ticket.id), validate(b, ticket.code)]);
      expect(refund.status).toBe(201);
      expect(['admitted', 'revoked']).toContain(scan.body.result);
      // Whatever the order, the ticket is void now and never admits again.
      expect((await validate(a, ticket.code)).body.result).toBe('revoked');
      const checkins = await db.kysely
        .selectFrom('checkins')
        .select(['result'])
        .where('ticket_id', '=', ticket.id)
        .execute();
      expect(checkins.filter((c) => c.result === 'admitted')).toHaveLength(
        scan.body.result === 'admitted' ? 1 : 0,
      );
    }
    await expectInvariants(db);
  });
});
