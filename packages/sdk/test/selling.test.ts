import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, sampleEvent, startTestServer, type TestServer } from '../../server/test/harness.js';
import {
  NotFoundError,
  type ResponseMeta,
  Tickets,
  ValidationError,
  verifyTicketCode,
} from '../src/index.js';
import { flakyProxy } from './flaky-proxy.js';
import { organizerOnSale } from './setup.js';

const metaOf = (value: object) => (value as { lastResponse: ResponseMeta }).lastResponse;

describe.each(DIALECTS)('%s: selling with the SDK', (dialect) => {
  let s: TestServer;
  let tickets: Tickets;
  let token: string;
  let eventId: string;
  let typeId: string;

  const buyer = (name: string) => ({ name, email: `${name.toLowerCase().replace(/\W+/g, '.')}@example.com` });

  beforeAll(async () => {
    s = await startTestServer(dialect);
    ({ tickets, token, eventId, typeId } = await organizerOnSale(
      s,
      { email: `seller-${dialect}@example.com`, name: 'Sal Seller' },
      'SDK Box Office',
    ));
  });
  afterAll(() => s.stop());

  it('sells, reads back, refunds one ticket, transfers another, and verifies the new code offline', async () => {
    const order = await tickets.orders.purchase({
      event: eventId,
      items: [
        { ticket_type: typeId, quantity: 2, holders: [{ name: 'Hal Holder', email: 'hal@example.com' }] },
      ],
      buyer: buyer('Bea Buyer'),
      payment_method: 'manual',
    });
    expect(order).toMatchObject({ status: 'paid', total: { amount: 5000, currency: 'EUR' } });
    expect(metaOf(order).idempotencyKey).toMatch(/^[0-9a-f-]{36}$/);
    const [first, second] = order.tickets;
    expect(first?.holder.name).toBe('Hal Holder');

    const fetched = await tickets.orders.get(order.id);
    expect(fetched.id).toBe(order.id);
    expect(fetched.tickets.map((t) => t.code)).toEqual(order.tickets.map((t) => t.code));
    expect((await tickets.tickets.get(first!.id)).code).toBe(first!.code);

    const refund = await tickets.tickets.refund(first!.id, { reason: 'Cannot come' });
    expect(refund).toMatchObject({
      amount: { amount: 2500, currency: 'EUR' },
      voided_tickets: [first!.id],
      order_status: 'partially_refunded',
    });
    expect((await tickets.tickets.get(first!.id)).status).toBe('void');

    const moved = await tickets.tickets.transfer(second!.id, { name: 'Nia New', email: 'nia@example.com' });
    expect(moved.holder).toEqual({ name: 'Nia New', email: 'nia@example.com' });
    expect(moved.code).not.toBe(second!.code);

    // Offline: only the event's public key, fetched once, is needed at the door.
    const key = await tickets.events.publicKey(eventId);
    expect(await verifyTicketCode(moved.code, key.public_key)).toEqual({
      valid: true,
      ticketId: second!.id,
      eventId,
      ticketTypeId: typeId,
      version: moved.code_version,
    });
    const other = await tickets.events.create(sampleEvent({ name: 'Another night' }));
    const otherKey = await tickets.events.publicKey(other.id);
    expect((await verifyTicketCode(moved.code, otherKey.public_key)).valid).toBe(false);

    const rest = await tickets.orders.refund(order.id);
    expect(rest).toMatchObject({ amount: { amount: 2500 }, order_status: 'refunded' });
    expect((await tickets.orders.get(order.id)).refunded.amount).toBe(5000);
  });

  it('walks orders page by page, with filters', async () => {
    const shopper = buyer(`Pat Pages ${dialect}`);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push(
        (
          await tickets.orders.purchase({
            event: eventId,
            items: [{ ticket_type: typeId, quantity: 1 }],
            buyer: shopper,
            payment_method: 'manual',
          })
        ).id,
      );
    const list = tickets.orders.list({ email: shopper.email, limit: 2 });
    const firstPage = await list;
    expect(firstPage.data).toHaveLength(2);
    expect(firstPage.has_more).toBe(true);
    const all = await list.toArray();
    // Newest first.
    expect(all.map((o) => o.id)).toEqual([...ids].reverse());
    const seen: string[] = [];
    for await (const o of tickets.orders.list({ event: eventId, status: 'paid', limit: 3 })) seen.push(o.id);
    expect(seen).toEqual(expect.arrayContaining(ids));

    const attendees = await tickets.tickets.attendees(eventId, { q: shopper.email, limit: 2 }).toArray();
    expect(attendees).toHaveLength(5);
    expect(attendees.every((a) => a.buyer_email === shopper.email)).toBe(true);
    const valid = await tickets.tickets.listForEvent(eventId, { status: 'valid', limit: 4 }).toArray();
    expect(valid.map((t) => t.order_id)).toEqual(expect.arrayContaining(ids));
    expect(valid.every((t) => t.status === 'valid')).toBe(true);
  });

  it('buys once when the response is lost and the SDK retries', async () => {
    const proxy = await flakyProxy(s.url);
    try {
      const client = new Tickets({ baseUrl: proxy.url, token });
      const shopper = buyer(`Lou Lost ${dialect}`);
      proxy.plan.push('drop');
      const order = await client.orders.purchase({
        event: eventId,
        items: [{ ticket_type: typeId, quantity: 2 }],
        buyer: shopper,
        payment_method: 'manual',
      });
      const posts = proxy.seen.filter((r) => r.method === 'POST');
      expect(posts).toHaveLength(2);
      expect(posts[0]!.idempotencyKey).toBe(posts[1]!.idempotencyKey);
      expect(metaOf(order).headers.get('idempotent-replayed')).toBe('true');
      const orders = await tickets.orders.list({ email: shopper.email }).toArray();
      expect(orders.map((o) => o.id)).toEqual([order.id]);
    } finally {
      await proxy.close();
    }
  });

  it('buys once when the caller repeats its own idempotency key', async () => {
    const shopper = buyer(`Kim Key ${dialect}`);
    const input = {
      event: eventId,
      items: [{ ticket_type: typeId, quantity: 1 }],
      buyer: shopper,
      payment_method: 'manual' as const,
    };
    const key = `checkout-${dialect}-42`;
    const a = await tickets.orders.purchase(input, { idempotencyKey: key });
    const b = await tickets.orders.purchase(input, { idempotencyKey: key });
    expect(b.id).toBe(a.id);
    expect(metaOf(b).idempotencyKey).toBe(key);
    expect(await tickets.orders.list({ email: shopper.email }).toArray()).toHaveLength(1);
  });

  it('cancels nothing that is already paid, and fetches QR images as bytes and text', async () => {
    const order = await tickets.orders.purchase({
      event: eventId,
      items: [{ ticket_type: typeId, quantity: 1 }],
      buyer: buyer('Quinn QR'),
      payment_method: 'manual',
    });
    await expect(tickets.orders.cancel(order.id)).rejects.toMatchObject({ status: 409 });

    const id = order.tickets[0]!.id;
    const png = await tickets.tickets.qr(id, 'png', { size: 300 });
    expect(Buffer.isBuffer(png)).toBe(true);
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect(png.readUInt32BE(16)).toBeLessThanOrEqual(300);
    const svg = await tickets.tickets.qr(id, 'svg');
    expect(svg).toMatch(/^<svg [^>]*width="512"/);
    await expect(tickets.tickets.qr('tkt_01jd6x3k7qf0v8c6w2x9yq4e5b')).rejects.toBeInstanceOf(NotFoundError);
    await expect(tickets.tickets.qr(id, 'png', { size: 5 })).rejects.toBeInstanceOf(ValidationError);
  });
});
