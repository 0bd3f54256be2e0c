import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, sampleEvent, startTestServer, type TestServer } from '../../server/test/harness.js';
import { pdfText } from '../../server/test/readback.js';
import { NotFoundError, type ResponseMeta, Tickets, ValidationError } from '../src/index.js';

const metaOf = (value: object) => (value as { lastResponse: ResponseMeta }).lastResponse;

const isPdf = (bytes: Buffer) => bytes.subarray(0, 5).toString('latin1') === '%PDF-';

describe.each(DIALECTS)('%s: invoices with the SDK', (dialect) => {
  let s: TestServer;
  let tickets: Tickets;
  let eventId: string;
  let typeId: string;

  const purchase = (buyer: string, idempotencyKey?: string) =>
    tickets.tickets.purchase(
      {
        event: eventId,
        items: [{ ticket_type: typeId, quantity: 2 }],
        buyer: { name: buyer, email: 'bea@example.com' },
        payment_method: 'manual',
      },
      { idempotencyKey },
    );

  beforeAll(async () => {
    s = await startTestServer(dialect);
    tickets = new Tickets({ baseUrl: s.url });
    await tickets.auth.register({
      email: `invoicer-${dialect}@example.com`,
      password: 'correct horse battery',
      name: 'Ivy Invoicer',
    });
    const event = await tickets.events.create(sampleEvent({ name: 'Invoice Night' }));
    eventId = event.id;
    typeId = (
      await tickets.ticketTypes.create(eventId, {
        name: 'GA',
        price: { amount: 11900, currency: 'EUR' },
        capacity: 50,
        tax_rate: 1900,
      })
    ).id;
    await tickets.events.publish(eventId);
  });
  afterAll(() => s.stop());

  it('sets billing details (normalised, left-out fields kept) and reads them back', async () => {
    const set = await tickets.invoices.updateBilling({
      legal_name: 'Blue Note Events GmbH',
      address_line1: 'Hauptstraße 1',
      postcode: '10115',
      city: 'Berlin',
      country: 'de',
      vat_id: 'DE 123 456 789',
      invoice_prefix: 'bne',
    });
    expect(set).toMatchObject({ country: 'DE', vat_id: 'DE123456789', invoice_prefix: 'BNE' });
    await tickets.invoices.updateBilling({ address_line2: 'Hinterhaus' });
    expect(await tickets.invoices.getBilling()).toEqual({
      object: 'billing_details',
      legal_name: 'Blue Note Events GmbH',
      address_line1: 'Hauptstraße 1',
      address_line2: 'Hinterhaus',
      postcode: '10115',
      city: 'Berlin',
      country: 'DE',
      vat_id: 'DE123456789',
      invoice_prefix: 'BNE',
      default_tax_rate: 0,
      invoices_without_address: 0,
    });

    const refused = await tickets.invoices.updateBilling({ vat_id: '123' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ValidationError);
    expect((refused as ValidationError).errors.map((e) => e.path)).toContain('vat_id');
  });

  it('tickets.purchase buys like orders.purchase and sends an Idempotency-Key: the same key buys once', async () => {
    const order = await purchase('Bea Buyer');
    expect(order).toMatchObject({ status: 'paid', total: { amount: 23800, currency: 'EUR' } });
    expect(order.tickets).toHaveLength(2);
    expect(metaOf(order).idempotencyKey).toMatch(/^[0-9a-f-]{36}$/);

    const key = `checkout-${dialect}-${Date.now()}`;
    const first = await purchase('Kim Keyed', key);
    const again = await purchase('Kim Keyed', key);
    expect(metaOf(first).idempotencyKey).toBe(key);
    expect(again.id).toBe(first.id);
    const bought = await tickets.orders.list({ event: eventId, q: 'Kim Keyed' }).toArray();
    expect(bought.map((o) => o.id)).toEqual([first.id]);
  });

  it("downloads a paid order's invoice: a PDF naming its number and the seller's legal name", async () => {
    const order = await purchase('Ian Invoiced');
    expect(order.invoice_number).toMatch(new RegExp(`^BNE-${new Date().getUTCFullYear()}-\\d{6}$`));

    const pdf = await tickets.invoices.download(order.id);
    expect(Buffer.isBuffer(pdf)).toBe(true);
    expect(isPdf(pdf)).toBe(true);
    expect(metaOf(pdf).headers.get('content-type')).toBe('application/pdf');
    expect(metaOf(pdf).headers.get('content-disposition')).toContain(`${order.invoice_number}.pdf`);
    const text = await pdfText(pdf);
    expect(text).toContain(order.invoice_number);
    expect(text).toContain('Blue Note Events GmbH');
    expect(text).toContain('DE123456789');
  });

  it("refunds an invoiced order, and the refund's credit note downloads as a PDF citing the invoice", async () => {
    const order = await purchase('Rae Refunded');
    const refund = await tickets.orders.refund(order.id, { reason: 'Cannot come' });
    expect(refund.credit_note_number).toMatch(new RegExp(`^BNE-CN-${new Date().getUTCFullYear()}-\\d{6}$`));

    const pdf = await tickets.invoices.creditNote(refund.id);
    expect(isPdf(pdf)).toBe(true);
    const text = await pdfText(pdf);
    expect(text).toContain(refund.credit_note_number);
    expect(text).toContain(order.invoice_number);
    expect(text).toContain('Blue Note Events GmbH');
  });

  it("refuses another organization's invoice and credit note with NotFoundError", async () => {
    const order = await purchase('Ola Other');
    const refund = await tickets.orders.refund(order.id);
    const stranger = new Tickets({ baseUrl: s.url });
    await stranger.auth.register({
      email: `stranger-${dialect}@example.com`,
      password: 'correct horse battery',
      name: 'Sam Stranger',
    });
    await expect(stranger.invoices.download(order.id)).rejects.toBeInstanceOf(NotFoundError);
    await expect(stranger.invoices.creditNote(refund.id)).rejects.toBeInstanceOf(NotFoundError);
  });
});
