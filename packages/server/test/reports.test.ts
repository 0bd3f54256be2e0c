import type { IncomingMessage, ServerResponse } from 'node:http';
import { request } from 'node:http';
import SQLite from 'better-sqlite3';
import { parse } from 'csv-parse/sync';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { boundToUtc, localTime } from '../src/modules/reports/cells.js';
import {
  DIALECTS,
  eventOnSale,
  http,
  sampleEvent,
  signUp,
  startTestServer,
  type TestServer,
  waitFor,
} from './harness.js';

// biome-ignore lint/suspicious/noExplicitAny: tests inspect arbitrary JSON
type Json = any;
type Row = Record<string, string>;

/** What a spreadsheet-safe CSV makes of a text cell (OWASP: formulas get a leading quote). */
const safe = (text: string | null) => (text === null ? '' : /^[=+\-@\t\r]/.test(text) ? `'${text}` : text);

/** The wall clock of an instant in a zone, as Intl writes it (an independent check of localTime). */
const wallClock = (iso: string, timeZone: string) =>
  new Intl.DateTimeFormat('sv-SE', { timeZone, dateStyle: 'short', timeStyle: 'medium' })
    .format(new Date(iso))
    .replace(' ', 'T');

describe('report cells: local times and bounds', () => {
  it('writes local time with the offset in force, across both DST changes', () => {
    expect(localTime('2026-03-29T00:30:00.000Z', 'Europe/Berlin')).toBe('2026-03-29T01:30:00+01:00');
    expect(localTime('2026-03-29T01:30:00.000Z', 'Europe/Berlin')).toBe('2026-03-29T03:30:00+02:00');
    // The hour 02:00–03:00 of 25 October comes twice: the offset tells them apart.
    expect(localTime('2026-10-25T00:30:00.000Z', 'Europe/Berlin')).toBe('2026-10-25T02:30:00+02:00');
    expect(localTime('2026-10-25T01:30:00.000Z', 'Europe/Berlin')).toBe('2026-10-25T02:30:00+01:00');
    expect(localTime('2026-01-01T00:00:00.000Z', 'Asia/Kolkata')).toBe('2026-01-01T05:30:00+05:30');
    expect(localTime('2026-07-01T03:00:00.000Z', 'America/New_York')).toBe('2026-06-30T23:00:00-04:00');
  });

  it('reads a bare date as local midnight, a date-time without offset as wall-clock time', () => {
    expect(boundToUtc('2026-03-29', 'Europe/Berlin')).toBe('2026-03-28T23:00:00.000Z');
    expect(boundToUtc('2026-03-30', 'Europe/Berlin')).toBe('2026-03-29T22:00:00.000Z');
    expect(boundToUtc('2026-03-30T12:15', 'Asia/Tokyo')).toBe('2026-03-30T03:15:00.000Z');
    expect(boundToUtc('2026-03-30T12:15:00+01:00', 'Asia/Tokyo')).toBe('2026-03-30T11:15:00.000Z');
    expect(boundToUtc('2026-03-30', 'UTC')).toBe('2026-03-30T00:00:00.000Z');
  });
});

describe.each(DIALECTS)('%s: reports', (dialect) => {
  let s: TestServer;
  let call: ReturnType<typeof http>;
  let token: string;
  let orgId: string;
  let eventId: string;
  let gaId: string;
  let vipId: string;
  let yenEventId: string;
  let doorKey: string;
  /** Every order of the fixture, as the API shows it once everything happened to it. */
  const orders: Json[] = [];
  const ids: Record<string, string> = {};

  /** A raw GET: status, headers, and the body's text. */
  const get = async (path: string, as = token) => {
    const res = await fetch(s.url + path, { headers: { authorization: `Bearer ${as}` } });
    return { status: res.status, headers: res.headers, text: await res.text() };
  };
  const csv = async (path: string): Promise<Row[]> => {
    const res = await get(path);
    expect(res.status, res.text).toBe(200);
    return parse(res.text, { columns: true });
  };

  const buy = async (event: string, items: Json[], buyer: Json, attribution?: Json) => {
    const res = await call('POST', '/api/tickets/purchase', {
      token,
      body: { event, items, buyer, payment_method: 'manual', ...(attribution ? { attribution } : {}) },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body;
  };
  const scan = (code: string, extra: Record<string, unknown> = {}) =>
    call('POST', '/api/tickets/validate', {
      token: doorKey,
      body: { code, device_id: 'scanner-1', gate: 'North', ...extra },
    });

  beforeAll(async () => {
    s = await startTestServer(dialect);
    call = http(s.url);
    const owner = await signUp(s.url);
    token = owner.token;
    orgId = owner.session.organization.id;
    const sale = await eventOnSale(s.url, token, { name: 'Jazz, "Live" Night', capacity: 200 }, [
      { name: 'GA', amount: 2500, capacity: 100 },
      { name: 'VIP', amount: 8000, capacity: 50 },
    ]);
    eventId = sale.eventId;
    [gaId, vipId] = sale.typeIds as [string, string];
    await s.db.kysely.updateTable('ticket_types').set({ tax_rate: 1900 }).where('id', '=', gaId).execute();
    await s.db.kysely.updateTable('ticket_types').set({ tax_rate: 700 }).where('id', '=', vipId).execute();

    const yen = await call('POST', '/api/events', {
      token,
      body: sampleEvent({ name: 'Tokyo Jazz', timezone: 'Asia/Tokyo', currency: 'JPY' }),
    });
    yenEventId = yen.body.id;
    const std = await call('POST', `/api/events/${yenEventId}/ticket-types`, {
      token,
      body: { name: 'Standard', price: { amount: 1500, currency: 'JPY' }, capacity: 10 },
    });
    await call('POST', `/api/events/${yenEventId}/publish`, { token });
    doorKey = (await call('POST', '/api/api-keys', { token, body: { name: 'Door', scopes: ['checkin'] } }))
      .body.secret;

    // Names a spreadsheet or a CSV writer could get wrong.
    const o1 = await buy(
      eventId,
      [
        {
          ticket_type: gaId,
          quantity: 2,
          holders: [{ name: 'Line\nBreak 🎟️', email: 'lb@example.com' }, { name: '=SUM(A1)' }],
        },
      ],
      { name: 'Smith, Anna "Annie"', email: 'anna@example.com' },
      { source: 'newsletter', medium: 'email', campaign: 'spring, "early"' },
    );
    const o2 = await buy(eventId, [{ ticket_type: vipId, quantity: 1, holders: [{ name: '-2 Minus' }] }], {
      name: '+1 Caller',
      email: 'caller@example.com',
    });
    const o3 = await buy(eventId, [{ ticket_type: gaId, quantity: 3 }], {
      name: '@x handle',
      email: 'x@example.com',
    });
    const o4 = await buy(eventId, [{ ticket_type: gaId, quantity: 1 }], {
      name: 'Tom Transfer',
      email: 'tom@example.com',
    });
    const o5 = await buy(yenEventId, [{ ticket_type: std.body.id, quantity: 2 }], {
      name: '山田 太郎',
      email: 'taro@example.com',
    });

    // A whole order refunded; one ticket refunded and a goodwill part of another order; a transfer.
    expect((await call('POST', `/api/orders/${o2.id}/refund`, { token, body: {} })).status).toBe(201);
    const oneTicket = await call('POST', `/api/tickets/${o3.tickets[0].id}/refund`, { token, body: {} });
    expect(oneTicket.status).toBe(201);
    ids.ticketRefund = oneTicket.body.id;
    const goodwill = await call('POST', `/api/orders/${o3.id}/refund`, { token, body: { amount: 500 } });
    expect(goodwill.body.order_status).toBe('partially_refunded');
    ids.goodwillRefund = goodwill.body.id;
    const moved = await call('PUT', `/api/tickets/${o4.tickets[0].id}/transfer`, {
      token,
      body: { name: 'Nina New', email: 'nina@example.com' },
    });
    expect(moved.status).toBe(200);

    // Doors: the main list once; the terrace (re-entry allowed) in, out and in again.
    const terrace = await call('POST', `/api/events/${eventId}/checkin-lists`, {
      token,
      body: { name: 'Terrace', allow_reentry: true },
    });
    expect((await scan(o1.tickets[0].code)).body.result).toBe('admitted');
    const t2 = o1.tickets[1].code;
    const terraceScan = { list: terrace.body.id, gate: 'Terrace gate', device_id: 'scanner-2' };
    expect((await scan(t2, terraceScan)).body.result).toBe('admitted');
    expect((await scan(t2, { ...terraceScan, direction: 'exit' })).body.result).toBe('exited');
    expect((await scan(t2, terraceScan)).body.result).toBe('admitted');
    expect((await scan(moved.body.code, { gate: undefined })).body.result).toBe('admitted');

    // A holder who said they can't come; a holder's name starting with a tab (the API trims names).
    await s.db.kysely
      .updateTable('tickets')
      .set({ declined_at: '2030-12-30T10:00:00.000Z' })
      .where('id', '=', o3.tickets[1].id)
      .execute();
    await s.db.kysely
      .updateTable('tickets')
      .set({ holder_name: '\tTabbed\r' })
      .where('id', '=', o3.tickets[2].id)
      .execute();
    // The Jazz night is over (the Tokyo one is still to come).
    await s.db.kysely
      .updateTable('events')
      .set({ starts_at: '2026-03-28T19:00:00.000Z', ends_at: '2026-03-29T01:00:00.000Z' })
      .where('id', '=', eventId)
      .execute();

    for (const o of [o1, o2, o3, o4, o5])
      orders.push((await call('GET', `/api/orders/${o.id}`, { token })).body);
  });
  afterAll(() => s.stop());

  const ticketsOf = (event: string) =>
    orders
      .filter((o) => o.event_id === event)
      .flatMap((o) => o.tickets.map((t: Json) => ({ order: o, ticket: t })))
      .sort((a, b) => (a.ticket.id < b.ticket.id ? -1 : 1));

  it('sales: one row per ticket, every field read back by csv-parse as it was sold', async () => {
    const res = await get(`/api/reports/sales?event=${eventId}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    const today = new Date().toISOString().slice(0, 10);
    expect(res.headers.get('content-disposition')).toBe(
      `attachment; filename="sales-${eventId}-${today}.csv"`,
    );
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('cache-control')).toBe('private, no-store');
    const rows: Row[] = parse(res.text, { columns: true });

    const holderNames = new Map<string, string>([[orders[2].tickets[2].id, '\tTabbed\r']]);
    const expected = ticketsOf(eventId).map(({ order, ticket }) => {
      const vip = ticket.ticket_type_id === vipId;
      const holder = holderNames.get(ticket.id) ?? ticket.holder.name;
      return {
        ticket_id: ticket.id,
        order_id: order.id,
        event_id: eventId,
        event_name: 'Jazz, "Live" Night',
        ticket_type_id: ticket.ticket_type_id,
        ticket_type: vip ? 'VIP' : 'GA',
        buyer_name: safe(order.buyer.name),
        buyer_email: order.buyer.email,
        holder_name: safe(holder),
        holder_email: ticket.holder.email ?? '',
        transferred: ticket.code_version > 1 ? 'true' : 'false',
        currency: 'EUR',
        // Tax is included: 25.00 at 19 % holds 3.99 (25.00 − 21.01); 80.00 at 7 % holds 5.23.
        price: vip ? '80.00' : '25.00',
        tax_rate: vip ? '7' : '19',
        tax: vip ? '5.23' : '3.99',
        ticket_status: ticket.status,
        void_reason: ticket.void_reason ?? '',
        order_status: order.status,
        channel: 'box_office',
        source: order.attribution?.source ?? '',
        medium: order.attribution?.medium ?? '',
        campaign: order.attribution?.campaign ?? '',
        paid_at_utc: order.paid_at,
        paid_at_local: rows.find((r) => r.ticket_id === ticket.id)?.paid_at_local,
        timezone: 'Europe/Berlin',
        refunded: ticket.void_reason === 'refunded' ? 'true' : 'false',
        order_refunded: (order.refunded.amount / 100).toFixed(2),
        invoice_number: order.invoice_number ?? '',
      };
    });
    expect(rows).toEqual(expected);
    expect(rows).toHaveLength(7);
    for (const r of rows) {
      expect(r.paid_at_local!.slice(0, 19)).toBe(wallClock(r.paid_at_utc!, 'Europe/Berlin'));
      expect(Date.parse(r.paid_at_local!)).toBe(Math.floor(Date.parse(r.paid_at_utc!) / 1000) * 1000);
    }
    // What the fixture did, as the report says it.
    const byHolder = new Map(rows.map((r) => [r.holder_name, r]));
    expect(byHolder.get("'=SUM(A1)")).toMatchObject({ source: 'newsletter', campaign: 'spring, "early"' });
    expect(byHolder.get('Line\nBreak 🎟️')).toMatchObject({ buyer_name: 'Smith, Anna "Annie"' });
    expect(byHolder.get("'-2 Minus")).toMatchObject({
      buyer_name: "'+1 Caller",
      ticket_status: 'void',
      refunded: 'true',
      order_refunded: '80.00',
      order_status: 'refunded',
    });
    expect(byHolder.get("'\tTabbed\r")).toMatchObject({ buyer_name: "'@x handle", refunded: 'false' });
    expect(byHolder.get('Nina New')).toMatchObject({ transferred: 'true', holder_email: 'nina@example.com' });
    expect(rows.filter((r) => r.order_refunded === '30.00')).toHaveLength(3);
    // Numbers stay numbers: nothing quoted or prefixed in a money column.
    expect(res.text).not.toMatch(/'\d/);
  });

  it('sales: money in the currency’s own digits (JPY has none)', async () => {
    const rows = await csv(`/api/reports/sales?event=${yenEventId}`);
    expect(rows.map((r) => [r.currency, r.price, r.tax, r.timezone, r.buyer_name])).toEqual([
      ['JPY', '1500', '0', 'Asia/Tokyo', '山田 太郎'],
      ['JPY', '1500', '0', 'Asia/Tokyo', '山田 太郎'],
    ]);
    // Without an event: the whole organization, each row in its own currency and time zone.
    const all = await csv('/api/reports/sales');
    expect(all).toHaveLength(9);
    expect(new Set(all.map((r) => `${r.currency} ${r.timezone}`))).toEqual(
      new Set(['EUR Europe/Berlin', 'JPY Asia/Tokyo']),
    );
  });

  it('attendance: first admission, list, gate, device, re-entries, declined and no-shows', async () => {
    const rows = await csv(`/api/reports/attendance?event=${eventId}`);
    expect(rows.map((r) => r.ticket_id)).toEqual(ticketsOf(eventId).map((t) => t.ticket.id));
    const [o1, o2, o3, o4] = orders;
    const row = (id: string) => rows.find((r) => r.ticket_id === id)!;

    const first = row(o1.tickets[0].id);
    expect(first).toMatchObject({
      holder_name: 'Line\nBreak 🎟️',
      buyer_name: 'Smith, Anna "Annie"',
      admitted: 'true',
      list: 'Main entrance',
      gate: 'North',
      device: 'scanner-1',
      re_entries: '0',
      declined: 'false',
      no_show: 'false',
      timezone: 'Europe/Berlin',
    });
    expect(first.first_admitted_at_local!.slice(0, 19)).toBe(
      wallClock(first.first_admitted_at_utc!, 'Europe/Berlin'),
    );
    expect(row(o1.tickets[1].id)).toMatchObject({
      holder_name: "'=SUM(A1)",
      list: 'Terrace',
      gate: 'Terrace gate',
      device: 'scanner-2',
      re_entries: '1',
    });
    expect(row(o4.tickets[0].id)).toMatchObject({ holder_name: 'Nina New', admitted: 'true', gate: '' });
    // Refunded: void, and no no-show for it.
    expect(row(o2.tickets[0].id)).toMatchObject({
      ticket_status: 'void',
      void_reason: 'refunded',
      admitted: 'false',
      no_show: 'false',
    });
    expect(row(o3.tickets[1].id)).toMatchObject({
      declined: 'true',
      declined_at_utc: '2030-12-30T10:00:00.000Z',
      admitted: 'false',
      first_admitted_at_utc: '',
      no_show: 'true',
    });
    expect(rows.filter((r) => r.no_show === 'true').map((r) => r.ticket_id)).toEqual(
      [o3.tickets[1].id, o3.tickets[2].id].sort(),
    );
    // The Tokyo night has not happened yet: nobody is a no-show there.
    const tokyo = await csv(`/api/reports/attendance?event=${yenEventId}`);
    expect(tokyo.map((r) => [r.admitted, r.no_show])).toEqual([
      ['false', 'false'],
      ['false', 'false'],
    ]);
  });

  it('revenue: payments, refunds, invoices and credit notes with their numbers, net, tax and gross', async () => {
    const rows = await csv('/api/reports/revenue');
    const [o1, o2, o3, o4, o5] = orders;
    const of = (order: string) => rows.filter((r) => r.order_id === order);
    const pick = (r: Row) => [r.type, r.status, r.currency, r.net, r.tax, r.gross, r.method];

    // 2 × 25.00 at 19 %: net 2 × 21.01 per line rounding of 50.00 → 42.02, tax 7.98.
    expect(of(o1.id).map(pick)).toEqual([
      ['payment', 'succeeded', 'EUR', '42.02', '7.98', '50.00', 'manual'],
      ['invoice', 'issued', 'EUR', '42.02', '7.98', '50.00', 'manual'],
    ]);
    const o1Rows = of(o1.id);
    expect(o1Rows.map((r) => r.document_number)).toEqual([o1.invoice_number, o1.invoice_number]);
    expect(o1Rows[0]).toMatchObject({ buyer_name: 'Smith, Anna "Annie"', event_name: 'Jazz, "Live" Night' });

    // Refunded in full: money out and a credit note, both negative, the note correcting the invoice.
    const o2Rows = of(o2.id);
    expect(o2Rows.map(pick)).toEqual([
      ['payment', 'succeeded', 'EUR', '74.77', '5.23', '80.00', 'manual'],
      ['invoice', 'issued', 'EUR', '74.77', '5.23', '80.00', 'manual'],
      ['refund', 'succeeded', 'EUR', '-74.77', '-5.23', '-80.00', 'manual'],
      ['credit_note', 'issued', 'EUR', '-74.77', '-5.23', '-80.00', 'manual'],
    ]);
    const [, , refund, note] = o2Rows;
    expect(refund!.document_number).toBe(note!.document_number);
    expect(note!.document_number).toMatch(/-CN-/);
    expect(note!.related_document).toBe(o2.invoice_number);
    expect(note!.refund_id).toBe(refund!.refund_id);
    expect(refund!.buyer_name).toBe("'+1 Caller");

    // One ticket back (25.00) and a goodwill 5.00: two refunds, two credit notes.
    const o3Rows = of(o3.id);
    expect(o3Rows.map((r) => [r.type, r.gross])).toEqual([
      ['payment', '75.00'],
      ['invoice', '75.00'],
      ['refund', '-25.00'],
      ['credit_note', '-25.00'],
      ['refund', '-5.00'],
      ['credit_note', '-5.00'],
    ]);
    expect(o3Rows.filter((r) => r.type === 'refund').map((r) => r.refund_id)).toEqual([
      ids.ticketRefund,
      ids.goodwillRefund,
    ]);
    expect(of(o4.id).map((r) => r.type)).toEqual(['payment', 'invoice']);
    expect(of(o5.id).map(pick)).toEqual([
      ['payment', 'succeeded', 'JPY', '3000', '0', '3000', 'manual'],
      ['invoice', 'issued', 'JPY', '3000', '0', '3000', 'manual'],
    ]);

    // Oldest first; every row in its event's time zone too.
    const dates = rows.map((r) => r.date_utc!);
    expect(dates).toEqual([...dates].sort());
    for (const r of rows) expect(r.date_local!.slice(0, 19)).toBe(wallClock(r.date_utc!, r.timezone!));
    // What came in, less what went out, per currency: the books balance.
    const sum = (currency: string, type: string) =>
      rows
        .filter((r) => r.currency === currency && r.type === type)
        .reduce((n, r) => n + Math.round(Number(r.gross) * 100), 0);
    expect(sum('EUR', 'payment') + sum('EUR', 'refund')).toBe(
      orders
        .filter((o) => o.total.currency === 'EUR')
        .reduce((n, o) => n + o.total.amount - o.refunded.amount, 0),
    );
    expect(sum('EUR', 'invoice') + sum('EUR', 'credit_note')).toBe(
      sum('EUR', 'payment') + sum('EUR', 'refund'),
    );

    const succeeded = await csv('/api/reports/revenue?status=succeeded');
    expect(new Set(succeeded.map((r) => r.type))).toEqual(new Set(['payment', 'refund']));
  });

  it('format=json answers the same rows as JSON lines; excel=1 starts the CSV with a byte order mark', async () => {
    const res = await get(`/api/reports/sales?event=${eventId}&format=json`);
    expect(res.headers.get('content-type')).toBe('application/x-ndjson');
    expect(res.headers.get('content-disposition')).toMatch(
      /filename="sales-evt_\w+-\d{4}-\d{2}-\d{2}\.jsonl"/,
    );
    const lines = res.text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(7);
    const refunded = lines.find((l) => l.holder_name === '-2 Minus');
    // Raw values in JSON (no spreadsheet quote), numbers and booleans as such, empty cells null.
    expect(refunded).toMatchObject({
      buyer_name: '+1 Caller',
      price: 80,
      tax: 5.23,
      tax_rate: 7,
      refunded: true,
      transferred: false,
      source: null,
    });

    const plain = await get(`/api/reports/attendance?event=${eventId}`);
    const excel = await get(`/api/reports/attendance?event=${eventId}&excel=1`);
    expect(plain.text.charCodeAt(0)).not.toBe(0xfeff);
    const bytes = new Uint8Array(
      await (
        await fetch(`${s.url}/api/reports/attendance?event=${eventId}&excel=1`, {
          headers: { authorization: `Bearer ${token}` },
        })
      ).arrayBuffer(),
    );
    expect([...bytes.slice(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    // fetch's text() drops the mark; the rest is the same file.
    expect(excel.text).toBe(plain.text);
  });

  it('filters by ticket type, status and paid date (a bare date is midnight in the event’s zone)', async () => {
    const vip = await csv(`/api/reports/sales?event=${eventId}&ticket_type=${vipId}`);
    expect(vip.map((r) => r.ticket_type)).toEqual(['VIP']);
    const valid = await csv(`/api/reports/sales?event=${eventId}&status=valid`);
    expect(valid).toHaveLength(5);
    const today = new Date().toISOString().slice(0, 10);
    expect(await csv(`/api/reports/sales?event=${eventId}&from=2000-01-01&to=2000-01-02`)).toEqual([]);
    expect(await csv(`/api/reports/sales?event=${eventId}&from=${today}T00:00:00Z`)).toHaveLength(7);
    // Nothing after an instant in the future; an empty report still has its header.
    const empty = await get(`/api/reports/revenue?from=2999-01-01`);
    expect(empty.text.trim()).toBe(
      'date_utc,date_local,timezone,type,status,document_number,related_document,order_id,refund_id,event_id,event_name,buyer_name,buyer_email,method,currency,net,tax,gross',
    );
    // Attendance by when the events start: only the one in March 2026.
    const march = await csv('/api/reports/attendance?from=2026-03-01&to=2026-04-01');
    expect(new Set(march.map((r) => r.event_id))).toEqual(new Set([eventId]));
  });

  it('refuses bad input with a problem naming the parameter', async () => {
    const cases: [string, string][] = [
      ['/api/reports/sales?from=2026-03-02&to=2026-03-01', 'from'],
      ['/api/reports/revenue?from=2026-03-01T10:00:00Z&to=2026-03-01T09:00:00Z', 'from'],
      ['/api/reports/sales?event=evt_nope', 'event'],
      ['/api/reports/sales?status=sold', 'status'],
      ['/api/reports/revenue?status=valid', 'status'],
      ['/api/reports/attendance?from=yesterday', 'from'],
      ['/api/reports/sales?to=2026-02-30', 'to'],
      ['/api/reports/sales?format=xlsx', 'format'],
      ['/api/reports/revenue?ticket_type=tt_01jd6x3k7qf0v8c6w2x9yq4e5b', ''],
    ];
    for (const [path, param] of cases) {
      const res = await get(path);
      expect(res.status, path).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      const problem = JSON.parse(res.text);
      expect(problem.code).toBe('invalid_query');
      if (param)
        expect(
          problem.errors.map((e: Json) => e.path),
          path,
        ).toContain(param);
      else expect(problem.errors[0].message, path).toMatch(/ticket_type/);
    }
  });

  it('lets staff read attendance only, a check-in key nothing, and hides other organizations’ events', async () => {
    const invite = await call('POST', '/api/org/invitations', {
      token,
      body: { email: 'staff-reports@example.com', role: 'staff' },
    });
    const staff = await call('POST', '/api/auth/register', {
      body: {
        email: 'staff-reports@example.com',
        password: 'correct horse battery staple',
        name: 'Sam Staff',
        invitation: invite.body.token,
      },
    });
    const staffToken = staff.body.access_token;
    expect((await get(`/api/reports/attendance?event=${eventId}`, staffToken)).status).toBe(200);
    for (const kind of ['sales', 'revenue']) {
      const res = await get(`/api/reports/${kind}?event=${eventId}`, staffToken);
      expect(res.status).toBe(403);
      expect(JSON.parse(res.text).code).toBe('insufficient_permission');
    }
    for (const kind of ['sales', 'attendance', 'revenue'])
      expect((await get(`/api/reports/${kind}`, doorKey)).status).toBe(403);

    const other = await signUp(s.url, 'Olga Other');
    for (const kind of ['sales', 'attendance', 'revenue']) {
      const res = await get(`/api/reports/${kind}?event=${eventId}`, other.token);
      expect(res.status).toBe(404);
      expect(JSON.parse(res.text).code).toBe('not_found');
      // Their own organization-wide report has none of ours.
      expect(parse((await get(`/api/reports/${kind}`, other.token)).text, { columns: true })).toEqual([]);
    }
    const res = await get(`/api/reports/sales?ticket_type=${gaId}`, other.token);
    expect(res.status).toBe(404);
  });

  describe('a report of 20,000 tickets', () => {
    const BULK = 20_000;
    let bulkEvent: string;

    beforeAll(async () => {
      const sale = await eventOnSale(s.url, token, { name: 'Stadium' }, [
        { name: 'Floor', amount: 1000, capacity: 10 },
      ]);
      bulkEvent = sale.eventId;
      const order = await buy(bulkEvent, [{ ticket_type: sale.typeIds[0], quantity: 1 }], {
        name: 'Bulk Buyer',
        email: 'bulk@example.com',
      });
      const now = new Date().toISOString();
      const rows = Array.from({ length: BULK }, (_, i) => ({
        id: `tkt_bulk${String(i).padStart(6, '0')}`,
        org_id: orgId,
        event_id: bulkEvent,
        order_id: order.id,
        ticket_type_id: sale.typeIds[0]!,
        holder_name: `Holder ${i}, with a name long enough to make the row a few hundred bytes wide`,
        holder_email: `holder${i}@example.com`,
        // Void, so the sale's counters (which the harness checks at the end) are not disturbed.
        status: 'void' as const,
        void_reason: 'cancelled' as const,
        seat_kept: 0,
        code_version: 1,
        code: `bulk-${i}`,
        declined_at: null,
        created_at: now,
        updated_at: now,
      }));
      for (let i = 0; i < rows.length; i += 500)
        await s.db.kysely
          .insertInto('tickets')
          .values(rows.slice(i, i + 500))
          .execute();
    });
    afterAll(async () => {
      await s.db.kysely.deleteFrom('tickets').where('id', 'like', 'tkt_bulk%').execute();
    });

    /** The server's side of the next report request, seen through the node:http server itself. */
    const serverSide = () =>
      new Promise<ServerResponse>((resolve) => {
        const listener = (req: IncomingMessage, res: ServerResponse) => {
          if (!req.url?.startsWith('/api/reports/')) return;
          s.server.off('request', listener);
          resolve(res);
        };
        s.server.on('request', listener);
      });

    /** SQLite: whether a reader holds an old snapshot (a write's WAL frames cannot all be checkpointed). */
    const pinnedBySqliteReader = async () => {
      await s.db.kysely
        .updateTable('events')
        .set({ updated_at: new Date().toISOString() })
        .where('id', '=', bulkEvent)
        .execute();
      const file = new SQLite(s.config.databaseUrl.slice('sqlite:'.length));
      try {
        file.pragma('busy_timeout = 0');
        // Another checkpoint (the server's own thread) may be under way: try again until ours runs.
        const done = await waitFor(
          async () =>
            file.pragma('wal_checkpoint(PASSIVE)') as { busy: number; log: number; checkpointed: number }[],
          (r) => r[0]!.busy === 0,
        );
        return done[0]!.checkpointed < done[0]!.log;
      } finally {
        file.close();
      }
    };

    const open = (path: string) =>
      new Promise<IncomingMessage>((resolve, reject) => {
        const req = request(`${s.url}${path}`, { headers: { authorization: `Bearer ${token}` } }, resolve);
        req.on('error', reject);
        req.end();
      });

    it('streams: the server writes only as fast as the client reads, in many chunks', async () => {
      const answering = serverSide();
      const res = await open(`/api/reports/sales?event=${bulkEvent}`);
      const server = await answering;
      expect(res.statusCode).toBe(200);
      expect(res.headers['transfer-encoding']).toBe('chunked');
      // Take the first bytes, then stop reading: the socket fills, and the server must stop too.
      const chunks: Buffer[] = [];
      await new Promise<void>((resolve) =>
        res.once('data', (c: Buffer) => {
          chunks.push(c);
          res.pause();
          resolve();
        }),
      );
      await waitFor(
        async () => server.writableNeedDrain,
        (full) => full,
      );
      // Held back: not finished, and only a buffer's worth queued in the server, not the report.
      expect(server.writableEnded).toBe(false);
      expect(server.writableLength).toBeLessThan(1_000_000);
      // The cursor is open: the report's query is still under way in the database, not read to the end.
      if (dialect === 'postgres') {
        const busy = await sql<{ n: number }>`select count(*) as n from pg_stat_activity
          where application_name = 'tickets-reports' and state <> 'idle'`.execute(s.db.kysely);
        expect(Number(busy.rows[0]!.n)).toBeGreaterThan(0);
      } else {
        // A reader still in its statement pins its snapshot: a checkpoint cannot copy what was written
        // after it (once the reader is done, it copies everything).
        expect(await pinnedBySqliteReader()).toBe(true);
      }
      res.on('data', (c: Buffer) => chunks.push(c));
      res.resume();
      await new Promise((resolve) => res.once('end', resolve));
      const text = Buffer.concat(chunks).toString('utf8');
      expect(text.length).toBeGreaterThan(5_000_000);
      expect(chunks.length).toBeGreaterThan(10);
      const rows: Row[] = parse(text, { columns: true });
      expect(rows).toHaveLength(BULK + 1);
      if (dialect === 'sqlite') expect(await pinnedBySqliteReader()).toBe(false);
      expect(rows[BULK - 1]).toMatchObject({
        holder_name: `Holder ${BULK - 2}, with a name long enough to make the row a few hundred bytes wide`,
        ticket_status: 'void',
      });
    });

    it('a client that goes away closes the cursor, and the next report is served', async () => {
      const answering = serverSide();
      const res = await open(`/api/reports/attendance?event=${bulkEvent}&format=json`);
      const server = await answering;
      await new Promise<void>((resolve) => res.once('data', () => resolve()));
      res.destroy();
      await waitFor(
        async () => server.destroyed,
        (gone) => gone,
      );
      if (dialect === 'postgres')
        await waitFor(
          async () =>
            Number(
              (
                await sql<{ n: number }>`select count(*) as n from pg_stat_activity
                  where application_name = 'tickets-reports' and state <> 'idle'`.execute(s.db.kysely)
              ).rows[0]!.n,
            ),
          (n) => n === 0,
        );
      else await waitFor(pinnedBySqliteReader, (pinned) => !pinned);
      const next = await get(`/api/reports/attendance?event=${bulkEvent}&format=json`);
      expect(next.text.trimEnd().split('\n')).toHaveLength(BULK + 1);
    });
  });
});
