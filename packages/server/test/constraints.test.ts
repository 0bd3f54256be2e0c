// The database refuses the impossible (migration 0011): whatever code writes, counters stay within
// 0..capacity, refunds within what was paid, statuses within their sets; and the API answers such a
// refusal with a 409 problem, never a 500, having written nothing.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { constraintViolated } from '../src/http/errors.js';
import { DIALECTS, eventOnSale, http, signUp, startTestServer, type TestServer } from './harness.js';

describe.each(DIALECTS)('%s: the database refuses the impossible', (dialect) => {
  let s: TestServer;
  let call: ReturnType<typeof http>;
  let token: string;
  let eventId: string;
  let typeId: string;
  let order: { id: string; tickets: { id: string }[] };

  beforeAll(async () => {
    s = await startTestServer(dialect);
    call = http(s.url);
    token = (await signUp(s.url)).token;
    ({
      eventId,
      typeIds: [typeId = ''],
    } = await eventOnSale(s.url, token, { name: 'Rules Night', capacity: 8 }, [
      { name: 'GA', amount: 2500, capacity: 5 },
    ]));
    const sold = await call('POST', '/api/tickets/purchase', {
      token,
      body: {
        event: eventId,
        items: [{ ticket_type: typeId, quantity: 2 }],
        buyer: { name: 'Cora Check', email: 'cora@example.com' },
        payment_method: 'manual',
      },
    });
    expect(sold.status).toBe(201);
    order = sold.body;
  });
  afterAll(() => s.stop());

  /** The rule that refused `write`, by its name; fails the test when the write went through. */
  async function refusedBy(write: string): Promise<string> {
    const k = s.db.kysely;
    const err = await sql
      .raw(write)
      .execute(k)
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(err, `${write} went through`).not.toBeNull();
    const problem = constraintViolated(err);
    expect(problem, String(err)).not.toBeNull();
    return /\((\w+)\)/.exec(problem!.detail)?.[1] ?? '';
  }

  it('refuses counters below zero or past capacity, for ticket types and events', async () => {
    expect(await refusedBy(`update ticket_types set sold = 6 where id = '${typeId}'`)).toBe(
      'ticket_types_inventory',
    );
    expect(await refusedBy(`update ticket_types set held = 4 where id = '${typeId}'`)).toBe(
      'ticket_types_inventory',
    );
    expect(await refusedBy(`update ticket_types set held = -1 where id = '${typeId}'`)).toBe(
      'ticket_types_inventory',
    );
    expect(await refusedBy(`update ticket_types set capacity = 1 where id = '${typeId}'`)).toBe(
      'ticket_types_inventory',
    );
    expect(await refusedBy(`update events set sold = 9 where id = '${eventId}'`)).toBe('events_inventory');
    expect(await refusedBy(`update events set held = -2 where id = '${eventId}'`)).toBe('events_inventory');
    expect(await refusedBy(`update events set status = 'gone' where id = '${eventId}'`)).toBe(
      'events_status',
    );
    // Nothing changed.
    const type = await s.db.kysely
      .selectFrom('ticket_types')
      .select(['sold', 'held', 'capacity'])
      .where('id', '=', typeId)
      .executeTakeFirstOrThrow();
    expect(type).toEqual({ sold: 2, held: 0, capacity: 5 });
  });

  it('refuses refunds past what was paid and statuses outside their sets', async () => {
    expect(await refusedBy(`update orders set refunded_amount = 5001 where id = '${order.id}'`)).toBe(
      'orders_refunded',
    );
    expect(await refusedBy(`update orders set refunded_amount = -1 where id = '${order.id}'`)).toBe(
      'orders_refunded',
    );
    expect(await refusedBy(`update orders set status = 'lost' where id = '${order.id}'`)).toBe(
      'orders_status',
    );
    const ticket = order.tickets[0]!.id;
    expect(await refusedBy(`update tickets set status = 'lost' where id = '${ticket}'`)).toBe(
      'tickets_status',
    );
    // A void ticket says why; a valid one has no reason and keeps no seat aside.
    expect(await refusedBy(`update tickets set status = 'void' where id = '${ticket}'`)).toBe(
      'tickets_status',
    );
    expect(await refusedBy(`update tickets set seat_kept = 1 where id = '${ticket}'`)).toBe('tickets_status');
  });

  it('answers a write the database refuses with 409 problem+json, and writes nothing', async () => {
    // Counters put wrong behind the server's back: a refund returning a seat would take sold below zero.
    await s.db.kysely.updateTable('ticket_types').set({ sold: 0 }).where('id', '=', typeId).execute();
    await s.db.kysely.updateTable('events').set({ sold: 0 }).where('id', '=', eventId).execute();
    try {
      const ticket = order.tickets[0]!.id;
      const res = await call('POST', `/api/tickets/${ticket}/refund`, { token, body: {} });
      expect(res.status).toBe(409);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(res.body).toMatchObject({ code: 'constraint_violated', status: 409 });
      expect(res.body.detail).toContain('ticket_types_inventory');
      const after = await s.db.kysely
        .selectFrom('tickets')
        .select('status')
        .where('id', '=', ticket)
        .executeTakeFirstOrThrow();
      expect(after.status).toBe('valid');
      const o = await s.db.kysely
        .selectFrom('orders')
        .select(['status', 'refunded_amount'])
        .where('id', '=', order.id)
        .executeTakeFirstOrThrow();
      expect(o).toEqual({ status: 'paid', refunded_amount: 0 });
    } finally {
      await s.db.kysely.updateTable('ticket_types').set({ sold: 2 }).where('id', '=', typeId).execute();
      await s.db.kysely.updateTable('events').set({ sold: 2 }).where('id', '=', eventId).execute();
    }
  });
});
