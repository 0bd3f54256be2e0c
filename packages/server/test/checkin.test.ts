import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DIALECTS,
  eventOnSale,
  http,
  sampleEvent,
  signUp,
  startTestServer,
  type TestServer,
} from './harness.js';

describe.each(DIALECTS)('%s: the door', (dialect) => {
  let s: TestServer;
  let call: ReturnType<typeof http>;
  let token: string;
  let doorKey: string;
  let eventId: string;
  let gaId: string;
  let vipId: string;

  beforeAll(async () => {
    s = await startTestServer(dialect);
    call = http(s.url);
    token = (await signUp(s.url)).token;
    const sale = await eventOnSale(s.url, token, { name: 'Door night', capacity: 500 }, [
      { name: 'GA', amount: 1000, capacity: 300 },
      { name: 'VIP', amount: 5000, capacity: 50 },
    ]);
    eventId = sale.eventId;
    [gaId, vipId] = sale.typeIds as [string, string];
    doorKey = (await call('POST', '/api/api-keys', { token, body: { name: 'Door 1', scopes: ['checkin'] } }))
      .body.secret;
  });
  afterAll(() => s.stop());

  const buy = async (typeId: string, holder = 'Hana Holder') => {
    const res = await call('POST', '/api/tickets/purchase', {
      token,
      body: {
        event: eventId,
        items: [{ ticket_type: typeId, quantity: 1, holders: [{ name: holder }] }],
        buyer: { name: 'B', email: 'b@example.com' },
        payment_method: 'manual',
      },
    });
    expect(res.status).toBe(201);
    return res.body.tickets[0] as { id: string; code: string; order_id: string };
  };
  const scan = (code: string, extra: Record<string, unknown> = {}, as = doorKey) =>
    call('POST', '/api/tickets/validate', {
      token: as,
      body: { code, device_id: 'scanner-1', gate: 'North', ...extra },
    });

  it('lets a door key list the events it may scan at (name, dates, venue only), and nothing else of them', async () => {
    const draft = await call('POST', '/api/events', { token, body: sampleEvent({ name: 'Not yet' }) });
    const listed = await call('GET', '/api/checkin/events', { token: doorKey });
    expect(listed.status).toBe(200);
    const mine = listed.body.data.find((e: { id: string }) => e.id === eventId);
    expect(Object.keys(mine).sort()).toEqual([
      'ends_at',
      'id',
      'name',
      'object',
      'starts_at',
      'timezone',
      'venue',
    ]);
    expect(mine).toMatchObject({ object: 'door_event', name: 'Door night' });
    expect(listed.body.data.some((e: { id: string }) => e.id === draft.body.id)).toBe(false);
    expect((await call('GET', '/api/events', { token: doorKey })).status).toBe(403);
    expect((await call('GET', `/api/events/${eventId}`, { token: doorKey })).status).toBe(403);
  });

  it('creates a default list with every event', async () => {
    const lists = await call('GET', `/api/events/${eventId}/checkin-lists`, { token: doorKey });
    expect(lists.status).toBe(200);
    expect(lists.body.data).toEqual([
      expect.objectContaining({
        object: 'checkin_list',
        name: 'Main entrance',
        is_default: true,
        ticket_type_ids: null,
        allow_reentry: false,
      }),
    ]);
  });

  it('admits a ticket once and then says when and where it was used', async () => {
    const ticket = await buy(gaId);
    const first = await scan(ticket.code);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({
      result: 'admitted',
      admitted: true,
      ticket: { id: ticket.id, holder_name: 'Hana Holder', ticket_type_name: 'GA' },
    });
    const second = await scan(ticket.code, { device_id: 'scanner-2', gate: 'South' });
    expect(second.body).toMatchObject({
      result: 'already_used',
      admitted: false,
      first_used: { gate: 'North', device_id: 'scanner-1' },
    });
    expect(second.body.first_used.at).toBe(first.body.scanned_at);
  });

  it("refuses a genuine ticket of the organization's other event at a door for this one, naming its event", async () => {
    const other = await eventOnSale(s.url, token, { name: 'Other night' }, [
      { name: 'Loge', amount: 900, capacity: 5 },
    ]);
    const res = await call('POST', '/api/tickets/purchase', {
      token,
      body: {
        event: other.eventId,
        items: [{ ticket_type: other.typeIds[0], quantity: 1, holders: [{ name: 'Otto Other' }] }],
        buyer: { name: 'B', email: 'b@example.com' },
        payment_method: 'manual',
      },
    });
    const code = res.body.tickets[0].code as string;
    const wrong = await scan(code, { event: eventId });
    expect(wrong.body).toMatchObject({
      result: 'wrong_event',
      admitted: false,
      event: { id: other.eventId, name: 'Other night' },
      ticket: { holder_name: 'Otto Other', ticket_type_name: 'Loge' },
    });
    // Refused scans change nothing: at its own event's door it comes in, and every verdict names the event.
    const right = await scan(code, { event: other.eventId });
    expect(right.body).toMatchObject({
      result: 'admitted',
      event: { id: other.eventId, name: 'Other night' },
    });
    const junk = await scan('not-a-ticket', { event: eventId });
    expect(junk.body).toMatchObject({ result: 'invalid', event: null });
  });

  it('admits exactly one of 50 simultaneous scans of one code', async () => {
    const ticket = await buy(gaId);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        scan(ticket.code, { device_id: `door-${i}`, gate: `Gate ${i % 4}` }),
      ),
    );
    expect(results.map((r) => r.status).every((st) => st === 200)).toBe(true);
    expect(results.filter((r) => r.body.result === 'admitted')).toHaveLength(1);
    expect(results.filter((r) => r.body.result === 'already_used')).toHaveLength(49);
    const recorded = await s.db.kysely
      .selectFrom('checkins')
      .select(['result'])
      .where('ticket_id', '=', ticket.id)
      .execute();
    expect(recorded).toHaveLength(50);
    expect(recorded.filter((r) => r.result === 'admitted')).toHaveLength(1);
  });

  it('refuses codes that are not ours: garbage, tampered, or another organization’s', async () => {
    expect((await scan('hello')).body).toMatchObject({ result: 'invalid', ticket: null });
    const ticket = await buy(gaId);
    const bytes = Buffer.from(ticket.code, 'base64url');
    bytes[60] = (bytes[60] ?? 0) ^ 0xff; // break the signature
    expect((await scan(bytes.toString('base64url'))).body.result).toBe('invalid');
    const other = (await signUp(s.url, 'Other Org')).token;
    const otherKey = (
      await call('POST', '/api/api-keys', { token: other, body: { name: 'Their door', scopes: ['checkin'] } })
    ).body.secret;
    expect((await scan(ticket.code, {}, otherKey)).body.result).toBe('invalid');
    expect((await scan(ticket.code)).body.result).toBe('admitted');
  });

  it('says a refunded or transferred ticket is revoked, and which', async () => {
    const refunded = await buy(gaId);
    await call('POST', `/api/tickets/${refunded.id}/refund`, { token, body: {} });
    expect((await scan(refunded.code)).body).toMatchObject({ result: 'revoked', revoked_reason: 'refunded' });

    const moved = await buy(gaId);
    const transfer = await call('PUT', `/api/tickets/${moved.id}/transfer`, {
      token,
      body: { name: 'Nia', email: 'nia@example.com' },
    });
    expect((await scan(moved.code)).body).toMatchObject({ result: 'revoked', revoked_reason: 'transferred' });
    expect((await scan(transfer.body.code)).body).toMatchObject({
      result: 'admitted',
      ticket: { holder_name: 'Nia' },
    });
  });

  it('keeps each gate to its ticket types, its event and its hours', async () => {
    const vipList = await call('POST', `/api/events/${eventId}/checkin-lists`, {
      token,
      body: { name: 'VIP lounge', ticket_type_ids: [vipId] },
    });
    expect(vipList.status).toBe(201);
    const ga = await buy(gaId);
    expect((await scan(ga.code, { list: vipList.body.id })).body.result).toBe('wrong_list');
    const vip = await buy(vipId);
    expect((await scan(vip.code, { list: vipList.body.id })).body.result).toBe('admitted');
    // The VIP also gets in at the main entrance: each list counts its own admissions.
    expect((await scan(vip.code)).body.result).toBe('admitted');

    const later = await call('POST', `/api/events/${eventId}/checkin-lists`, {
      token,
      body: { name: 'Day 2', starts_at: '2031-01-02T00:00:00Z' },
    });
    expect((await scan(ga.code, { list: later.body.id })).body.result).toBe('not_yet_valid');
    const past = await call('POST', `/api/events/${eventId}/checkin-lists`, {
      token,
      body: { name: 'Yesterday', starts_at: '2020-01-01T00:00:00Z', ends_at: '2020-01-02T00:00:00Z' },
    });
    expect((await scan(ga.code, { list: past.body.id })).body.result).toBe('expired');

    const elsewhere = await call('POST', '/api/events', { token, body: sampleEvent({ name: 'Elsewhere' }) });
    const elsewhereList = (await call('GET', `/api/events/${elsewhere.body.id}/checkin-lists`, { token }))
      .body.data[0];
    expect((await scan(ga.code, { list: elsewhereList.id })).body.result).toBe('wrong_event');
    expect((await scan(ga.code, { list: 'cl_01jd6x3k7qf0v8c6w2x9yq4e5b' })).status).toBe(404);
  });

  it('refuses tickets of an order that is not paid', async () => {
    const ticket = await buy(gaId);
    await s.db.kysely
      .updateTable('orders')
      .set({ status: 'cancelled' })
      .where('id', '=', ticket.order_id)
      .execute();
    expect((await scan(ticket.code)).body.result).toBe('order_not_paid');
    // A state the sale never leaves (a cancelled order with a valid ticket), so put back.
    await s.db.kysely
      .updateTable('orders')
      .set({ status: 'paid' })
      .where('id', '=', ticket.order_id)
      .execute();
  });

  it('looks a ticket up without admitting it (dry run)', async () => {
    const ticket = await buy(gaId);
    const look = await scan(ticket.code, { dry_run: true });
    expect(look.body).toMatchObject({ result: 'valid', admitted: false });
    expect((await scan(ticket.code)).body.result).toBe('admitted');
    expect((await scan(ticket.code, { dry_run: true })).body.result).toBe('already_used');
    const recorded = await s.db.kysely
      .selectFrom('checkins')
      .select('result')
      .where('ticket_id', '=', ticket.id)
      .execute();
    expect(recorded.map((r) => r.result)).toEqual(['admitted']);
  });

  it('lets people out and back in where re-entry is allowed, and only there', async () => {
    const ticket = await buy(gaId);
    const reentry = await call('POST', `/api/events/${eventId}/checkin-lists`, {
      token,
      body: { name: 'Smoking area', allow_reentry: true },
    });
    const list = reentry.body.id;
    expect((await scan(ticket.code, { list, direction: 'exit' })).body.result).toBe('not_inside');
    expect((await scan(ticket.code, { list })).body.result).toBe('admitted');
    expect((await scan(ticket.code, { list })).body.result).toBe('already_used');
    expect((await scan(ticket.code, { list, direction: 'exit' })).body.result).toBe('exited');
    const back = await Promise.all(Array.from({ length: 10 }, () => scan(ticket.code, { list })));
    expect(back.filter((r) => r.body.result === 'admitted')).toHaveLength(1);

    expect((await scan(ticket.code)).body.result).toBe('admitted');
    expect((await scan(ticket.code, { direction: 'exit' })).body.result).toBe('exited');
    expect((await scan(ticket.code)).body.result).toBe('already_used');
  });

  it('manages lists: validation, update, and what may not be deleted', async () => {
    const bad = await call('POST', `/api/events/${eventId}/checkin-lists`, {
      token,
      body: {
        name: 'Bad',
        ticket_type_ids: ['tt_01jd6x3k7qf0v8c6w2x9yq4e5b'],
        starts_at: '2031-01-02T00:00:00Z',
        ends_at: '2031-01-01T00:00:00Z',
      },
    });
    expect(bad.status).toBe(422);
    const created = await call('POST', `/api/events/${eventId}/checkin-lists`, {
      token,
      body: { name: 'Side door' },
    });
    const updated = await call('PUT', `/api/checkin-lists/${created.body.id}`, {
      token,
      body: { name: 'Side door (staff)', ticket_type_ids: [gaId] },
    });
    expect(updated.body).toMatchObject({ name: 'Side door (staff)', ticket_type_ids: [gaId] });
    expect((await call('GET', `/api/checkin-lists/${created.body.id}`, { token: doorKey })).body.name).toBe(
      'Side door (staff)',
    );
    expect((await call('DELETE', `/api/checkin-lists/${created.body.id}`, { token })).status).toBe(200);
    const main = (await call('GET', `/api/events/${eventId}/checkin-lists`, { token })).body.data.find(
      (l: { is_default: boolean }) => l.is_default,
    );
    const del = await call('DELETE', `/api/checkin-lists/${main.id}`, { token });
    expect(del.status).toBe(409);
    expect(del.body.code).toBe('default_list');
    // Door keys scan; they cannot change lists or read anything else.
    expect(
      (
        await call('POST', `/api/events/${eventId}/checkin-lists`, {
          token: doorKey,
          body: { name: 'Sneaky' },
        })
      ).status,
    ).toBe(403);
    expect((await call('GET', '/api/events', { token: doorKey })).status).toBe(403);
    expect((await call('GET', '/api/orders', { token: doorKey })).status).toBe(403);
  });
});
