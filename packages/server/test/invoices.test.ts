import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { takeNumber } from '../src/modules/invoices/ledger.js';
import { type FakeStripe, startFakeStripe } from './fakes/stripe.js';
import {
  DIALECTS,
  eventOnSale,
  http,
  sampleEvent,
  signUp,
  startTestServer,
  stripeEnv,
  type TestServer,
  waitFor,
} from './harness.js';
import { pdfText } from './readback.js';

const YEAR = new Date().getUTCFullYear();
const pad = (n: number) => String(n).padStart(6, '0');

async function download(base: string, path: string, token: string) {
  const res = await fetch(base + path, { headers: { authorization: `Bearer ${token}` } });
  const body = Buffer.from(await res.arrayBuffer());
  return { status: res.status, type: res.headers.get('content-type'), headers: res.headers, body };
}

describe.each(DIALECTS)('%s: invoices and credit notes', (dialect) => {
  let s: TestServer;
  let call: ReturnType<typeof http>;
  let token: string;
  let orgId: string;
  let eventId: string;
  let vipId: string;
  let childId: string;

  beforeAll(async () => {
    s = await startTestServer(dialect);
    call = http(s.url);
    const owner = await signUp(s.url);
    token = owner.token;
    orgId = owner.session.organization.id;
    const billing = await call('PUT', '/api/org/billing', {
      token,
      body: {
        legal_name: 'Blue Note Events GmbH',
        address_line1: 'Hauptstraße 1',
        postcode: '10115',
        city: 'Berlin',
        country: 'DE',
        vat_id: 'DE123456789',
      },
    });
    expect(billing.status).toBe(200);
    const e = await call('POST', '/api/events', {
      token,
      body: sampleEvent({ name: 'Jazz Night', capacity: 500 }),
    });
    eventId = e.body.id;
    const vip = await call('POST', `/api/events/${eventId}/ticket-types`, {
      token,
      body: { name: 'VIP', price: { amount: 11900, currency: 'EUR' }, capacity: 200, tax_rate: 1900 },
    });
    expect(vip.body.tax_rate).toBe(1900);
    vipId = vip.body.id;
    const child = await call('POST', `/api/events/${eventId}/ticket-types`, {
      token,
      body: { name: 'Child', price: { amount: 1070, currency: 'EUR' }, capacity: 200, tax_rate: 700 },
    });
    childId = child.body.id;
    await call('POST', `/api/events/${eventId}/publish`, { token });
  });
  afterAll(() => s.stop());

  const buy = (
    items: { ticket_type: string; quantity: number }[],
    opts: { token?: string; event?: string; buyer?: string } = {},
  ) =>
    call('POST', '/api/tickets/purchase', {
      token: opts.token ?? token,
      body: {
        event: opts.event ?? eventId,
        items,
        buyer: { name: opts.buyer ?? 'Rae Buyer', email: 'rae@example.com' },
        payment_method: 'manual',
      },
    });
  const seq = (number: string) => Number(number.slice(-6));

  /** Every number of a series is there once, from 1 up to the sequence's last number. */
  async function expectGapless(org: string, kind: 'invoice' | 'credit_note') {
    const rows = await s.db.kysely
      .selectFrom('invoices')
      .select(['sequence', 'number'])
      .where('org_id', '=', org)
      .where('kind', '=', kind)
      .where('year', '=', YEAR)
      .orderBy('sequence')
      .execute();
    expect(rows.map((r) => r.sequence)).toEqual(rows.map((_, i) => i + 1));
    const last = await s.db.kysely
      .selectFrom('invoice_sequences')
      .select('last_number')
      .where('org_id', '=', org)
      .where('series', '=', kind)
      .where('year', '=', YEAR)
      .executeTakeFirst();
    expect(Number(last?.last_number ?? 0)).toBe(rows.length);
    return rows.length;
  }

  it('keeps billing details, and refuses malformed ones field by field', async () => {
    const got = await call('GET', '/api/org/billing', { token });
    expect(got.body).toEqual({
      object: 'billing_details',
      legal_name: 'Blue Note Events GmbH',
      address_line1: 'Hauptstraße 1',
      address_line2: null,
      postcode: '10115',
      city: 'Berlin',
      country: 'DE',
      vat_id: 'DE123456789',
      invoice_prefix: 'INV',
      default_tax_rate: 0,
      // Every invoice here was issued after the address was given.
      invoices_without_address: 0,
    });

    const other = await signUp(s.url);
    const rated = await call('PUT', '/api/org/billing', {
      token: other.token,
      body: { default_tax_rate: 700 },
    });
    expect(rated.body.default_tax_rate).toBe(700);
    const typed = await eventOnSale(s.url, other.token, {}, [{ name: 'GA', amount: 1000, capacity: 5 }]);
    const type = await call('GET', `/api/ticket-types/${typed.typeIds[0]}`, { token: other.token });
    expect(type.body.tax_rate).toBe(700);
    // Sold before the seller's address is set: the invoice says none, and billing counts it.
    const sold = await call('POST', '/api/tickets/purchase', {
      token: other.token,
      body: {
        event: typed.eventId,
        items: [{ ticket_type: typed.typeIds[0], quantity: 1 }],
        buyer: { name: 'Nia', email: 'nia@example.com' },
        payment_method: 'manual',
      },
    });
    expect(sold.status).toBe(201);
    const counted = await waitFor(
      () => call('GET', '/api/org/billing', { token: other.token }),
      (r) => r.body.invoices_without_address === 1,
    );
    expect(counted.body.address_line1).toBeNull();
    expect(
      (await call('PUT', '/api/org/billing', { token: other.token, body: { default_tax_rate: 10001 } }))
        .status,
    ).toBe(422);
    const normalised = await call('PUT', '/api/org/billing', {
      token: other.token,
      body: { country: 'at', vat_id: 'atu 1234-5678', address_line2: 'Stiege 2' },
    });
    expect(normalised.status).toBe(200);
    expect(normalised.body).toMatchObject({
      country: 'AT',
      vat_id: 'ATU12345678',
      address_line2: 'Stiege 2',
      legal_name: null,
    });
    // Left out keeps, null clears.
    const cleared = await call('PUT', '/api/org/billing', {
      token: other.token,
      body: { address_line2: null },
    });
    expect(cleared.body).toMatchObject({ country: 'AT', vat_id: 'ATU12345678', address_line2: null });

    const bad: [Record<string, unknown>, string][] = [
      [{ country: 'DEU' }, 'country'],
      [{ country: 'XX' }, 'country'],
      [{ country: 12 }, 'country'],
      [{ vat_id: '123456789' }, 'vat_id'],
      [{ vat_id: 'DEABCDEFGH' }, 'vat_id'],
      [{ vat_id: 'DE1' }, 'vat_id'],
      [{ vat_id: 'DE1234567890123456' }, 'vat_id'],
      [{ invoice_prefix: 'IN-V' }, 'invoice_prefix'],
      [{ invoice_prefix: '' }, 'invoice_prefix'],
      [{ invoice_prefix: 'ABCDEFGHIJK' }, 'invoice_prefix'],
      [{ invoice_prefix: null }, 'invoice_prefix'],
      [{ legal_name: '   ' }, 'legal_name'],
      [{ legal_name: 'x'.repeat(201) }, 'legal_name'],
      [{ iban: 'DE89370400440532013000' }, ''],
    ];
    for (const [body, path] of bad) {
      const res = await call('PUT', '/api/org/billing', { token: other.token, body });
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect(res.body.code).toBe('validation_failed');
      if (path) expect(res.body.errors.map((e: { path: string }) => e.path)).toContain(path);
    }
    expect((await call('GET', '/api/org/billing', { token: other.token })).body).toMatchObject({
      country: 'AT',
      vat_id: 'ATU12345678',
      invoice_prefix: 'INV',
    });
  });

  it('lets API keys read billing details but not change them', async () => {
    const key = await call('POST', '/api/api-keys', { token, body: { name: 'shop' } });
    expect(key.status).toBe(201);
    const read = await call('GET', '/api/org/billing', { token: key.body.secret });
    expect(read.status).toBe(200);
    expect(read.body.legal_name).toBe('Blue Note Events GmbH');
    const write = await call('PUT', '/api/org/billing', {
      token: key.body.secret,
      body: { legal_name: 'Evil Ltd' },
    });
    expect(write.status).toBe(403);
    expect((await call('GET', '/api/org/billing', { token })).body.legal_name).toBe('Blue Note Events GmbH');
  });

  it('validates tax rates on ticket types and snapshots them into orders', async () => {
    const create = (tax_rate: unknown) =>
      call('POST', `/api/events/${eventId}/ticket-types`, {
        token,
        body: { name: 'Rate test', price: { amount: 500, currency: 'EUR' }, capacity: 5, tax_rate },
      });
    for (const rate of [-1, 10_001, 19.5, '1900', null]) {
      const res = await create(rate);
      expect(res.status, String(rate)).toBe(422);
      expect(res.body.errors[0].path).toBe('tax_rate');
    }
    const plain = await call('POST', `/api/events/${eventId}/ticket-types`, {
      token,
      body: { name: 'No tax', price: { amount: 500, currency: 'EUR' }, capacity: 5 },
    });
    expect(plain.body.tax_rate).toBe(0);
    const made = await create(550);
    expect(made.status).toBe(201);
    expect(made.body.tax_rate).toBe(550);
    expect((await call('GET', `/api/ticket-types/${made.body.id}`, { token })).body.tax_rate).toBe(550);
    const badUpdate = await call('PUT', `/api/ticket-types/${made.body.id}`, {
      token,
      body: { tax_rate: 100_000 },
    });
    expect(badUpdate.status).toBe(422);

    const before = await buy([{ ticket_type: made.body.id, quantity: 1 }]);
    expect(before.body.items[0]).toMatchObject({ tax_rate: 550 });
    const updated = await call('PUT', `/api/ticket-types/${made.body.id}`, {
      token,
      body: { tax_rate: 1000 },
    });
    expect(updated.status).toBe(200);
    expect(updated.body.tax_rate).toBe(1000);
    const after = await buy([{ ticket_type: made.body.id, quantity: 1 }]);
    expect(after.body.items[0]).toMatchObject({ tax_rate: 1000 });
    // The order sold before the change keeps its rate, and so does its invoice.
    expect((await call('GET', `/api/orders/${before.body.id}`, { token })).body.items[0].tax_rate).toBe(550);
    const text = await pdfText(
      (await download(s.url, `/api/orders/${before.body.id}/invoice.pdf`, token)).body,
    );
    expect(text).toContain('Rate test 1 €5.00 5.5% €4.74 €0.26 €5.00');
  });

  it('numbers paid orders gaplessly per organization, each organization on its own', async () => {
    const first = await buy([{ ticket_type: vipId, quantity: 1 }]);
    const second = await buy([{ ticket_type: childId, quantity: 2 }]);
    const third = await buy([{ ticket_type: vipId, quantity: 1 }]);
    const numbers = [first, second, third].map((o) => o.body.invoice_number as string);
    for (const n of numbers) expect(n).toMatch(new RegExp(`^INV-${YEAR}-\\d{6}$`));
    expect(numbers.map(seq)).toEqual([seq(numbers[0]!), seq(numbers[0]!) + 1, seq(numbers[0]!) + 2]);
    // Read back, the order keeps its number.
    expect((await call('GET', `/api/orders/${second.body.id}`, { token })).body.invoice_number).toBe(
      numbers[1],
    );
    const listed = await call('GET', `/api/orders?limit=100`, { token });
    expect(listed.body.data.find((o: { id: string }) => o.id === third.body.id).invoice_number).toBe(
      numbers[2],
    );
    await expectGapless(orgId, 'invoice');

    // Another organization starts at 1, with its own prefix.
    const other = await signUp(s.url);
    const prefix = await call('PUT', '/api/org/billing', {
      token: other.token,
      body: { invoice_prefix: 'bne' },
    });
    expect(prefix.body.invoice_prefix).toBe('BNE');
    const e = await call('POST', '/api/events', { token: other.token, body: sampleEvent() });
    const t = await call('POST', `/api/events/${e.body.id}/ticket-types`, {
      token: other.token,
      body: { name: 'GA', price: { amount: 1000, currency: 'EUR' }, capacity: 10 },
    });
    await call('POST', `/api/events/${e.body.id}/publish`, { token: other.token });
    const theirs = await buy([{ ticket_type: t.body.id, quantity: 1 }], {
      token: other.token,
      event: e.body.id,
    });
    expect(theirs.body.invoice_number).toBe(`BNE-${YEAR}-000001`);
    const ours = await buy([{ ticket_type: vipId, quantity: 1 }]);
    expect(seq(ours.body.invoice_number)).toBe(seq(numbers[2]!) + 1);
    // Organizations never see each other's invoices.
    expect((await download(s.url, `/api/orders/${theirs.body.id}/invoice.pdf`, token)).status).toBe(404);
  });

  it('takes no number for a purchase that fails, and gets one back from a rolled-back transaction', async () => {
    const small = await call('POST', `/api/events/${eventId}/ticket-types`, {
      token,
      body: { name: 'Last seat', price: { amount: 2500, currency: 'EUR' }, capacity: 1, tax_rate: 1900 },
    });
    const before = await buy([{ ticket_type: vipId, quantity: 1 }]);
    const sold = await buy([{ ticket_type: small.body.id, quantity: 1 }]);
    expect(sold.status).toBe(201);
    expect(seq(sold.body.invoice_number)).toBe(seq(before.body.invoice_number) + 1);
    const soldOut = await buy([
      { ticket_type: vipId, quantity: 1 },
      { ticket_type: small.body.id, quantity: 1 },
    ]);
    expect(soldOut.status).toBe(409);
    expect(soldOut.body.code).toBe('sold_out');

    // A number taken in a transaction that then fails goes back to the sequence.
    let taken = 0;
    await expect(
      s.db.kysely.transaction().execute(async (trx) => {
        taken = await takeNumber(trx, orgId, 'invoice', YEAR);
        throw new Error('payment fell through');
      }),
    ).rejects.toThrow('payment fell through');
    expect(taken).toBe(seq(sold.body.invoice_number) + 1);

    const next = await buy([{ ticket_type: vipId, quantity: 1 }]);
    expect(next.body.invoice_number).toBe(`INV-${YEAR}-${pad(seq(sold.body.invoice_number) + 1)}`);
    await expectGapless(orgId, 'invoice');
  });

  it('gives 30 concurrent paid purchases 30 distinct consecutive numbers', async () => {
    // Purchases of one event queue on its inventory row before they reach the invoice number; spread
    // over ten events, they race for the number itself.
    const events = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const e = await call('POST', '/api/events', { token, body: sampleEvent({ name: `Race ${i}` }) });
        const t = await call('POST', `/api/events/${e.body.id}/ticket-types`, {
          token,
          body: { name: 'GA', price: { amount: 1500, currency: 'EUR' }, capacity: 10, tax_rate: 1900 },
        });
        await call('POST', `/api/events/${e.body.id}/publish`, { token });
        return { event: e.body.id as string, type: t.body.id as string };
      }),
    );
    const start = await expectGapless(orgId, 'invoice');
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) => {
        const { event, type } = events[i % events.length]!;
        return buy([{ ticket_type: type, quantity: 1 }], { event });
      }),
    );
    expect(results.map((r) => r.status)).toEqual(results.map(() => 201));
    const numbers = results.map((r) => seq(r.body.invoice_number)).sort((a, b) => a - b);
    expect(numbers).toEqual(Array.from({ length: 30 }, (_, i) => start + 1 + i));
    expect(await expectGapless(orgId, 'invoice')).toBe(start + 30);
  });

  it('issues no invoice for a free order', async () => {
    const free = await call('POST', `/api/events/${eventId}/ticket-types`, {
      token,
      body: { name: 'Guest list', price: { amount: 0, currency: 'EUR' }, capacity: 10, tax_rate: 1900 },
    });
    const order = await buy([{ ticket_type: free.body.id, quantity: 1 }]);
    expect(order.body).toMatchObject({ status: 'paid', payment_method: 'free', invoice_number: null });
    const pdf = await download(s.url, `/api/orders/${order.body.id}/invoice.pdf`, token);
    expect(pdf.status).toBe(404);
    expect(pdf.type).toMatch(/^application\/problem\+json/);
    const refund = await call('POST', `/api/orders/${order.body.id}/refund`, { token, body: {} });
    expect(refund.body.credit_note_number).toBeNull();
  });

  it('prints an invoice whose text matches the order', async () => {
    const order = await buy(
      [
        { ticket_type: vipId, quantity: 2 },
        { ticket_type: childId, quantity: 3 },
      ],
      { buyer: 'Zoë Łukasz Ægir' },
    );
    const number = order.body.invoice_number as string;
    const pdf = await download(s.url, `/api/orders/${order.body.id}/invoice.pdf`, token);
    expect(pdf.status).toBe(200);
    expect(pdf.type).toBe('application/pdf');
    expect(pdf.headers.get('content-disposition')).toBe(`inline; filename="${number}.pdf"`);
    expect(pdf.body.subarray(0, 5).toString()).toBe('%PDF-');
    const text = await pdfText(pdf.body);
    for (const expected of [
      'Invoice',
      `Invoice number: ${number}`,
      'Blue Note Events GmbH',
      'Hauptstraße 1',
      '10115 Berlin',
      'Germany',
      'VAT ID: DE123456789',
      'Zoë Łukasz Ægir',
      'rae@example.com',
      'Jazz Night',
      '31 December 2030 at 20:00 (Europe/Berlin)',
      `Order: ${order.body.id}`,
      // Prices include tax: net = round(gross / (1 + rate)), tax = gross − net.
      'VIP 2 €119.00 19% €200.00 €38.00 €238.00',
      'Child 3 €10.70 7% €30.00 €2.10 €32.10',
      'Subtotal at 19% €200.00 €38.00 €238.00',
      'Subtotal at 7% €30.00 €2.10 €32.10',
      'Total net €230.00',
      'Total tax €40.10',
      'Total €270.10',
    ])
      expect(text).toContain(expected);
    expect(order.body.total.amount).toBe(27010);

    // The invoice says what it said when issued: later billing changes don't reach it.
    await call('PUT', '/api/org/billing', { token, body: { legal_name: 'Renamed Events AG' } });
    const again = await pdfText(
      (await download(s.url, `/api/orders/${order.body.id}/invoice.pdf`, token)).body,
    );
    expect(again).toContain('Blue Note Events GmbH');
    expect(again).not.toContain('Renamed Events AG');
    await call('PUT', '/api/org/billing', { token, body: { legal_name: 'Blue Note Events GmbH' } });
    expect((await call('GET', `/api/orders/${order.body.id}`, { token })).body.invoice_number).toBe(number);
  });

  it('issues a credit note for each refund, numbered on its own', async () => {
    const order = await buy([
      { ticket_type: vipId, quantity: 2 },
      { ticket_type: childId, quantity: 3 },
    ]);
    const invoice = order.body.invoice_number as string;
    const invoicesBefore = await expectGapless(orgId, 'invoice');
    const cnBefore = await expectGapless(orgId, 'credit_note');

    const vipTicket = order.body.tickets.find((t: { ticket_type_id: string }) => t.ticket_type_id === vipId);
    const one = await call('POST', `/api/tickets/${vipTicket.id}/refund`, {
      token,
      body: { reason: 'Sick' },
    });
    expect(one.status).toBe(201);
    expect(one.body.credit_note_number).toBe(`INV-CN-${YEAR}-${pad(cnBefore + 1)}`);
    const goodwill = await call('POST', `/api/orders/${order.body.id}/refund`, {
      token,
      body: { amount: 555 },
    });
    expect(goodwill.body.credit_note_number).toBe(`INV-CN-${YEAR}-${pad(cnBefore + 2)}`);
    const rest = await call('POST', `/api/orders/${order.body.id}/refund`, { token, body: {} });
    expect(rest.body).toMatchObject({ order_status: 'refunded', amount: { amount: 27010 - 11900 - 555 } });
    expect(rest.body.credit_note_number).toBe(`INV-CN-${YEAR}-${pad(cnBefore + 3)}`);
    // Credit notes take nothing from the invoice series, and the order keeps its invoice.
    expect(await expectGapless(orgId, 'invoice')).toBe(invoicesBefore);
    expect(await expectGapless(orgId, 'credit_note')).toBe(cnBefore + 3);
    expect((await call('GET', `/api/orders/${order.body.id}`, { token })).body.invoice_number).toBe(invoice);

    // What the credit notes credit adds up to what was refunded, net + tax = gross each time.
    const notes = await s.db.kysely
      .selectFrom('invoices')
      .selectAll()
      .where('order_id', '=', order.body.id)
      .where('kind', '=', 'credit_note')
      .orderBy('sequence')
      .execute();
    expect(notes.map((n) => n.gross_amount)).toEqual([11900, 555, 27010 - 11900 - 555]);
    for (const n of notes) expect(n.net_amount + n.tax_amount).toBe(n.gross_amount);

    const ticketNote = await pdfText(
      (await download(s.url, `/api/refunds/${one.body.id}/credit-note.pdf`, token)).body,
    );
    for (const expected of [
      'Credit note',
      `Credit note number: ${one.body.credit_note_number}`,
      `Corrects invoice: ${invoice}`,
      'Blue Note Events GmbH',
      'VAT ID: DE123456789',
      'VIP (1 ticket) 1 -€119.00 19% -€100.00 -€19.00 -€119.00',
      'Total credited -€119.00',
      'Reason: Sick',
    ])
      expect(ticketNote).toContain(expected);

    // A part of the order is split over its lines in proportion: 555 = 489 at 19 % + 66 at 7 %.
    const partNote = await pdfText(
      (await download(s.url, `/api/refunds/${goodwill.body.id}/credit-note.pdf`, token)).body,
    );
    expect(partNote).toContain('VIP (part) 1 -€4.89 19% -€4.11 -€0.78 -€4.89');
    expect(partNote).toContain('Child (part) 1 -€0.66 7% -€0.62 -€0.04 -€0.66');
    expect(partNote).toContain('Total credited -€5.55');

    expect(
      (await download(s.url, `/api/refunds/${one.body.id}/credit-note.pdf`, (await signUp(s.url)).token))
        .status,
    ).toBe(404);
  });

  it('answers 404 for orders and refunds it does not know, and 403 without orders:read', async () => {
    expect(
      (await download(s.url, '/api/orders/ord_01jd6x3k7qf0v8c6w2x9yq4e5b/invoice.pdf', token)).status,
    ).toBe(404);
    expect((await download(s.url, '/api/orders/nonsense/invoice.pdf', token)).status).toBe(404);
    expect(
      (await download(s.url, '/api/refunds/ref_01jd6x3k7qf0v8c6w2x9yq4e5b/credit-note.pdf', token)).status,
    ).toBe(404);
    const key = await call('POST', '/api/api-keys', { token, body: { name: 'door', scopes: ['checkin'] } });
    const order = await buy([{ ticket_type: vipId, quantity: 1 }]);
    expect((await download(s.url, `/api/orders/${order.body.id}/invoice.pdf`, key.body.secret)).status).toBe(
      403,
    );
    expect((await download(s.url, `/api/orders/${order.body.id}/invoice.pdf`, token)).status).toBe(200);
  });
});

describe.each(DIALECTS)('%s: invoices of online orders', (dialect) => {
  let stripe: FakeStripe;
  let s: TestServer;
  let call: ReturnType<typeof http>;
  let token: string;
  let eventId: string;
  let typeId: string;

  beforeAll(async () => {
    stripe = await startFakeStripe();
    s = await startTestServer(dialect, {
      ...stripeEnv(stripe),
    });
    stripe.setWebhookUrl(`${s.url}/api/webhooks/stripe`);
    call = http(s.url);
    token = (await signUp(s.url)).token;
    const e = await call('POST', '/api/events', { token, body: sampleEvent() });
    eventId = e.body.id;
    const t = await call('POST', `/api/events/${eventId}/ticket-types`, {
      token,
      body: { name: 'GA', price: { amount: 3000, currency: 'EUR' }, capacity: 10, tax_rate: 1900 },
    });
    typeId = t.body.id;
    await call('POST', `/api/events/${eventId}/publish`, { token });
  });
  afterAll(async () => {
    await s?.stop();
    await stripe?.close();
  });

  const buyOnline = () =>
    call('POST', '/api/tickets/purchase', {
      token,
      body: {
        event: eventId,
        items: [{ ticket_type: typeId, quantity: 1 }],
        buyer: { name: 'Olli', email: 'olli@example.com' },
        payment_method: 'stripe',
      },
    });

  it('invoices an order when it is paid, not while it is pending or once it is cancelled', async () => {
    const pending = await buyOnline();
    expect(pending.status).toBe(201);
    expect(pending.body).toMatchObject({ status: 'pending', invoice_number: null });
    expect((await download(s.url, `/api/orders/${pending.body.id}/invoice.pdf`, token)).status).toBe(404);

    const cancelled = await buyOnline();
    await call('POST', `/api/orders/${cancelled.body.id}/cancel`, { token });
    const gone = await call('GET', `/api/orders/${cancelled.body.id}`, { token });
    expect(gone.body).toMatchObject({ status: 'cancelled', invoice_number: null });
    expect((await download(s.url, `/api/orders/${cancelled.body.id}/invoice.pdf`, token)).status).toBe(404);

    await stripe.succeedPaymentIntent(pending.body.payment.payment_intent_id);
    const paid = await call('GET', `/api/orders/${pending.body.id}`, { token });
    expect(paid.body).toMatchObject({ status: 'paid', invoice_number: `INV-${YEAR}-000001` });
    const text = await pdfText(
      (await download(s.url, `/api/orders/${pending.body.id}/invoice.pdf`, token)).body,
    );
    expect(text).toContain(`Invoice number: INV-${YEAR}-000001`);
    expect(text).toContain('GA 1 €30.00 19% €25.21 €4.79 €30.00');
  });
});
