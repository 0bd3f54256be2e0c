import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, eventOnSale, http, signUp, startTestServer, type TestServer } from './harness.js';
import { invariantViolations } from './invariants.js';
import { pdfText } from './readback.js';

const YEAR = new Date().getUTCFullYear();

const ADDRESS = {
  legal_name: 'Late Paper GmbH',
  address_line1: 'Torstraße 9',
  postcode: '10119',
  city: 'Berlin',
  country: 'DE',
  vat_id: 'DE999999999',
};

async function download(base: string, path: string, token: string) {
  const res = await fetch(base + path, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
}

/**
 * Invoices issued before the seller's address was set are re-issued, as the law wants a defective
 * invoice corrected: a credit note cancels what the old one still stands for, a new invoice with the
 * address replaces it, and both series stay gapless.
 */
describe.each(DIALECTS)('%s: re-issuing invoices issued without the seller address', (dialect) => {
  let s: TestServer;
  let call: ReturnType<typeof http>;

  beforeAll(async () => {
    s = await startTestServer(dialect);
    call = http(s.url);
  });
  afterAll(() => s.stop());

  /** An organization without an address, selling GA (19 %) and Kids (7 %) tickets. */
  async function organizer() {
    const owner = await signUp(s.url);
    const token = owner.token;
    const orgId = owner.session.organization.id as string;
    const { eventId, typeIds } = await eventOnSale(s.url, token, {}, [
      { name: 'GA', amount: 2380, capacity: 500 },
      { name: 'Kids', amount: 1070, capacity: 500 },
    ]);
    const [ga, kids] = typeIds as [string, string];
    await call('PUT', `/api/ticket-types/${ga}`, { token, body: { tax_rate: 1900 } });
    await call('PUT', `/api/ticket-types/${kids}`, { token, body: { tax_rate: 700 } });
    const buy = async (gaQty: number, kidsQty: number, name = 'Ola Early') => {
      const items = [
        ...(gaQty ? [{ ticket_type: ga, quantity: gaQty }] : []),
        ...(kidsQty ? [{ ticket_type: kids, quantity: kidsQty }] : []),
      ];
      const r = await call('POST', '/api/tickets/purchase', {
        token,
        body: { event: eventId, items, buyer: { name, email: 'ola@example.com' }, payment_method: 'manual' },
      });
      expect(r.status).toBe(201);
      return r.body as { id: string; invoice_number: string; tickets: { id: string }[] };
    };
    return { token, orgId, buy };
  }

  const documents = async (orgId: string, orderId: string) =>
    s.db.kysely
      .selectFrom('invoices')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('order_id', '=', orderId)
      .orderBy('issued_at')
      .orderBy('kind')
      .execute();

  async function expectGapless(orgId: string, kind: 'invoice' | 'credit_note') {
    const rows = await s.db.kysely
      .selectFrom('invoices')
      .select('sequence')
      .where('org_id', '=', orgId)
      .where('kind', '=', kind)
      .orderBy('sequence')
      .execute();
    expect(rows.map((r) => r.sequence)).toEqual(rows.map((_, i) => i + 1));
    return rows.length;
  }

  it('cancels each with a credit note and replaces it, leaving the books balanced and the series gapless', async () => {
    const { token, orgId, buy } = await organizer();
    const mixed = await buy(2, 1); // 2 × 23.80 + 10.70 = 58.30
    const single = await buy(1, 0);
    const gone = await buy(0, 1);
    // One ticket of the mixed order refunded, and the whole of another: that one is left alone.
    const refund = await call('POST', `/api/tickets/${mixed.tickets[0]!.id}/refund`, { token, body: {} });
    expect(refund.status).toBe(201);
    expect((await call('POST', `/api/orders/${gone.id}/refund`, { token, body: {} })).status).toBe(201);

    expect((await call('GET', '/api/org/billing', { token })).body.invoices_without_address).toBe(2);
    // Without the address, re-issuing would make the same mistake again.
    const early = await call('POST', '/api/invoices/reissue', { token, body: {} });
    expect(early.status).toBe(409);
    expect(early.body).toMatchObject({ code: 'billing_incomplete' });
    expect(early.body.detail).toContain('address_line1');
    expect(await expectGapless(orgId, 'invoice')).toBe(3);

    expect((await call('PUT', '/api/org/billing', { token, body: ADDRESS })).status).toBe(200);
    const first = await call('POST', '/api/invoices/reissue', { token, body: { limit: 1 } });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ object: 'invoice_reissue', has_more: true });
    expect(first.body.reissued).toEqual([
      {
        order_id: mixed.id,
        cancelled: mixed.invoice_number,
        credit_note: `INV-CN-${YEAR}-000003`,
        invoice: `INV-${YEAR}-000004`,
      },
    ]);
    const second = await call('POST', '/api/invoices/reissue', { token, body: {} });
    expect(second.body.reissued.map((r: { order_id: string }) => r.order_id)).toEqual([single.id]);
    expect(second.body.has_more).toBe(false);
    const third = await call('POST', '/api/invoices/reissue', { token, body: {} });
    expect(third.body).toEqual({ object: 'invoice_reissue', reissued: [], has_more: false });
    expect((await call('GET', '/api/org/billing', { token })).body.invoices_without_address).toBe(0);

    // The mixed order: invoice 58.30, credit note 23.80 (the refund), cancellation 34.50 of what was
    // left, a new invoice of 34.50 with the address.
    const docs = await documents(orgId, mixed.id);
    expect(docs.map((d) => [d.kind, d.gross_amount, d.cancelled_by !== null])).toEqual([
      ['invoice', 5830, true],
      ['credit_note', 2380, false],
      ['credit_note', 3450, false],
      ['invoice', 3450, false],
    ]);
    const [old, , cancelling, replacement] = docs as [
      (typeof docs)[0],
      unknown,
      (typeof docs)[0],
      (typeof docs)[0],
    ];
    expect(old.cancelled_by).toBe(cancelling.id);
    expect(cancelling.invoice_id).toBe(old.id);
    expect(cancelling.refund_id).toBeNull();
    for (const d of docs) expect(d.net_amount + d.tax_amount).toBe(d.gross_amount);
    // Rate by rate: the refund took back a GA ticket at 19 %, so what is cancelled and re-issued is the
    // other GA ticket at 19 % and the Kids ticket at 7 % — no share of the refund moves between rates.
    const perRate = (doc: string) =>
      (JSON.parse(doc) as { totals: { tax_rate: number; gross: number }[] }).totals.map((t) => [
        t.tax_rate,
        t.gross,
      ]);
    expect(perRate(cancelling.document)).toEqual([
      [1900, 2380],
      [700, 1070],
    ]);
    expect(perRate(replacement.document)).toEqual(perRate(cancelling.document));
    const order = await call('GET', `/api/orders/${mixed.id}`, { token });
    expect(order.body.invoice_number).toBe(replacement.number);

    // The order's invoice PDF is the new one, with the address, saying what it replaces.
    const pdf = await pdfText((await download(s.url, `/api/orders/${mixed.id}/invoice.pdf`, token)).body);
    for (const text of [
      `Invoice number: ${replacement.number}`,
      `Replaces invoice: ${mixed.invoice_number}`,
      'Late Paper GmbH',
      'Torstraße 9',
      '10119 Berlin',
    ])
      expect(pdf).toContain(text);
    const note = await pdfText((await download(s.url, `/api/invoices/${cancelling.id}/pdf`, token)).body);
    expect(note).toContain(`Corrects invoice: ${mixed.invoice_number}`);
    expect(note).toContain(
      `Reason: Cancels invoice ${mixed.invoice_number}: re-issued as ${replacement.number}`,
    );
    // The cancelled invoice itself can still be read, as it was.
    const was = await pdfText((await download(s.url, `/api/invoices/${old.id}/pdf`, token)).body);
    expect(was).toContain(`Invoice number: ${mixed.invoice_number}`);
    expect(was).not.toContain('Torstraße 9');

    // Listed newest first, each saying what it corrects, replaces or was cancelled by.
    const listed = await call('GET', `/api/invoices?order=${mixed.id}`, { token });
    expect(listed.status).toBe(200);
    expect(
      listed.body.data.map((d: Record<string, unknown>) => [
        d.number,
        d.corrects,
        d.replaces,
        d.cancelled_by,
      ]),
    ).toEqual([
      [replacement.number, null, mixed.invoice_number, null],
      [cancelling.number, mixed.invoice_number, null, null],
      [docs[1]!.number, mixed.invoice_number, null, null],
      [mixed.invoice_number, null, null, cancelling.number],
    ]);
    const notes = await call('GET', '/api/invoices?kind=credit_note&limit=2', { token });
    expect(notes.body.data).toHaveLength(2);
    expect(notes.body.has_more).toBe(true);

    // Refunds from now on are credited against the new invoice.
    const later = await call('POST', `/api/orders/${mixed.id}/refund`, { token, body: {} });
    expect(later.status).toBe(201);
    const laterNote = (await documents(orgId, mixed.id)).find((d) => d.refund_id === later.body.id);
    expect(laterNote).toMatchObject({ invoice_id: replacement.id, gross_amount: 3450 });

    expect(await expectGapless(orgId, 'invoice')).toBe(5);
    expect(await expectGapless(orgId, 'credit_note')).toBe(5);
    expect(await invariantViolations(s.db)).toEqual([]);
  });

  it('answers 422 for a bad limit, 404 for a document of another organization, 403 without members:manage', async () => {
    const { token, buy } = await organizer();
    const sold = await buy(1, 0);
    expect((await call('POST', '/api/invoices/reissue', { token, body: { limit: 0 } })).status).toBe(422);
    expect((await call('POST', '/api/invoices/reissue', { token, body: { all: true } })).status).toBe(422);
    const key = await call('POST', '/api/api-keys', { token, body: { name: 'books', scopes: ['full'] } });
    expect(key.status).toBe(201);
    const viaKey = await call('POST', '/api/invoices/reissue', { token: key.body.secret, body: {} });
    expect(viaKey.status).toBe(403);
    const doc = await call('GET', `/api/invoices?order=${sold.id}`, { token });
    const stranger = await signUp(s.url);
    expect((await download(s.url, `/api/invoices/${doc.body.data[0].id}/pdf`, stranger.token)).status).toBe(
      404,
    );
    expect(
      (await call('GET', `/api/invoices?order=${sold.id}`, { token: stranger.token })).body.data,
    ).toEqual([]);
  });

  it('re-issues each invoice once while re-issues and refunds race, and every refund is credited once', async () => {
    const { token, orgId, buy } = await organizer();
    const orders = [];
    for (let i = 0; i < 12; i++) orders.push(await buy(2, 1, `Buyer ${i}`));
    expect((await call('PUT', '/api/org/billing', { token, body: ADDRESS })).status).toBe(200);
    const results = await Promise.all([
      call('POST', '/api/invoices/reissue', { token, body: {} }),
      call('POST', '/api/invoices/reissue', { token, body: {} }),
      call('POST', '/api/invoices/reissue', { token, body: { limit: 5 } }),
      ...orders.map((o) => call('POST', `/api/tickets/${o.tickets[1]!.id}/refund`, { token, body: {} })),
      ...orders
        .slice(0, 6)
        .map((o) => call('POST', `/api/orders/${o.id}/refund`, { token, body: { amount: 100 } })),
    ]);
    for (const r of results) expect(r.status, JSON.stringify(r.body)).toBeLessThan(300);
    const reissued = results
      .slice(0, 3)
      .flatMap((r) => r.body.reissued as { order_id: string }[])
      .map((r) => r.order_id);
    // Every order's invoice re-issued exactly once across the three calls.
    expect(reissued.sort()).toEqual(orders.map((o) => o.id).sort());
    for (const o of orders) {
      const docs = await documents(orgId, o.id);
      expect(docs.filter((d) => d.kind === 'invoice' && d.cancelled_by === null)).toHaveLength(1);
      expect(docs.filter((d) => d.kind === 'invoice')).toHaveLength(2);
    }
    expect(await expectGapless(orgId, 'invoice')).toBe(24);
    expect(await expectGapless(orgId, 'credit_note')).toBe(12 + 12 + 6);
    // Books balance per order (invoiced − credited = paid − refunded), checked in the database.
    expect(await invariantViolations(s.db)).toEqual([]);
  });
});
