import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, eventOnSale, http, signUp, startTestServer, type TestServer, waitFor } from './harness.js';

describe.each(DIALECTS)('%s: an invoice that cannot be issued is listed, not swallowed', (dialect) => {
  let s: TestServer;
  let call: ReturnType<typeof http>;
  let token: string;

  beforeAll(async () => {
    s = await startTestServer(dialect, { TICKETS_HOLD_SWEEP_SECONDS: '1' });
    call = http(s.url);
    token = (await signUp(s.url)).token;
  });
  afterAll(() => s.stop());

  /** Makes every insert of an invoice fail, as a full disk or a lost connection would. */
  async function refuseInvoices(on: boolean) {
    const k = s.db.kysely;
    if (dialect === 'sqlite') {
      if (on)
        await sql`create trigger refuse_invoices before insert on invoices begin select raise(abort, 'invoices are refused'); end`.execute(
          k,
        );
      else await sql`drop trigger refuse_invoices`.execute(k);
      return;
    }
    if (on) {
      await sql`create function refuse_invoices() returns trigger language plpgsql as $$ begin raise exception 'invoices are refused'; end $$`.execute(
        k,
      );
      await sql`create trigger refuse_invoices before insert on invoices for each row execute function refuse_invoices()`.execute(
        k,
      );
    } else {
      await sql`drop trigger refuse_invoices on invoices`.execute(k);
      await sql`drop function refuse_invoices()`.execute(k);
    }
  }

  it('keeps why, lists the order, and the sweeper issues the invoice once it can', async () => {
    const { eventId, typeIds } = await eventOnSale(s.url, token, { name: 'Ledger Night' }, [
      { name: 'GA', amount: 2500, capacity: 10 },
    ]);
    const sold = await call('POST', '/api/tickets/purchase', {
      token,
      body: {
        event: eventId,
        items: [{ ticket_type: typeIds[0], quantity: 1 }],
        buyer: { name: 'Iva Invoice', email: 'iva@example.com' },
        payment_method: 'manual',
      },
    });
    expect(sold.status).toBe(201);
    const orderId = sold.body.id as string;
    // As if the process had stopped between the sale and its invoice, a while ago: the sweeper's case.
    await s.db.kysely.deleteFrom('invoices').where('order_id', '=', orderId).execute();
    await s.db.kysely
      .updateTable('orders')
      .set({ invoice_number: null, paid_at: '2020-01-01T00:00:00.000Z' })
      .where('id', '=', orderId)
      .execute();
    await refuseInvoices(true);
    try {
      const listed = await waitFor(
        () => call('GET', '/api/invoices/failed', { token }),
        (r) => r.body.data.length > 0,
      );
      expect(listed.body).toMatchObject({ object: 'list', has_more: false });
      expect(listed.body.data).toEqual([
        {
          object: 'invoice_failure',
          order_id: orderId,
          event_id: eventId,
          buyer_email: 'iva@example.com',
          total: { amount: 2500, currency: 'EUR' },
          paid_at: '2020-01-01T00:00:00.000Z',
          error: expect.stringContaining('invoices are refused'),
        },
      ]);
      // Another organization sees none of it.
      const other = (await signUp(s.url, 'Otto Other')).token;
      expect((await call('GET', '/api/invoices/failed', { token: other })).body.data).toEqual([]);
    } finally {
      await refuseInvoices(false);
    }
    const issued = await waitFor(
      () => call('GET', `/api/orders/${orderId}`, { token }),
      (r) => r.body.invoice_number !== null,
    );
    expect(issued.body.invoice_number).toMatch(/^INV-/);
    expect((await call('GET', '/api/invoices/failed', { token })).body.data).toEqual([]);
  });
});
