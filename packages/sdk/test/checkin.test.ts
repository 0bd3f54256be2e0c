import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, sampleEvent, startTestServer, type TestServer } from '../../server/test/harness.js';
import {
  ConflictError,
  NotFoundError,
  PermissionError,
  Tickets,
  ValidationError,
  verifyTicketCode,
} from '../src/index.js';

describe.each(DIALECTS)('%s: the door with the SDK', (dialect) => {
  let s: TestServer;
  let organizer: Tickets;
  let door: Tickets;
  let eventId: string;
  let gaId: string;
  let vipId: string;

  const sell = async (typeId: string, holder: string) => {
    const order = await organizer.orders.purchase({
      event: eventId,
      items: [{ ticket_type: typeId, quantity: 1, holders: [{ name: holder }] }],
      buyer: { name: 'Bea Buyer', email: 'bea@example.com' },
      payment_method: 'manual',
    });
    return order.tickets[0]!;
  };

  beforeAll(async () => {
    s = await startTestServer(dialect);
    organizer = new Tickets({ baseUrl: s.url });
    await organizer.auth.register({
      email: `door-${dialect}@example.com`,
      password: 'correct horse battery',
      name: 'Ann Organizer',
    });
    eventId = (await organizer.events.create(sampleEvent({ name: 'SDK Door Night' }))).id;
    const create = (name: string, amount: number) =>
      organizer.ticketTypes.create(eventId, { name, price: { amount, currency: 'EUR' }, capacity: 50 });
    gaId = (await create('GA', 1000)).id;
    vipId = (await create('VIP', 5000)).id;
    await organizer.events.publish(eventId);
    const key = await organizer.apiKeys.create({ name: 'Door 1', scopes: ['checkin'] });
    door = new Tickets({ baseUrl: s.url, token: key.secret });
  });
  afterAll(() => s.stop());

  it('admits a ticket once with a checkin-scoped key, then says when and where it was used', async () => {
    const ticket = await sell(gaId, 'Hal Holder');
    const looked = await door.checkin.validate({ code: ticket.code, device_id: 'scanner-1', dry_run: true });
    expect(looked).toMatchObject({ result: 'valid', admitted: false });

    const first = await door.checkin.validate({ code: ticket.code, device_id: 'scanner-1', gate: 'North' });
    expect(first).toMatchObject({
      object: 'validation',
      result: 'admitted',
      admitted: true,
      ticket: { id: ticket.id, holder_name: 'Hal Holder', ticket_type_name: 'GA' },
    });
    const [main] = await door.checkin.lists(eventId);
    expect(first.list_id).toBe(main!.id);

    const second = await door.checkin.validate({ code: ticket.code, device_id: 'scanner-2', gate: 'South' });
    expect(second).toMatchObject({
      result: 'already_used',
      admitted: false,
      first_used: { at: first.scanned_at, gate: 'North', device_id: 'scanner-1' },
    });
  });

  it('answers a code that is not ours with invalid, and a malformed request with ValidationError', async () => {
    expect((await door.checkin.validate({ code: 'not-a-ticket', device_id: 'scanner-1' })).result).toBe(
      'invalid',
    );
    await expect(door.checkin.validate({ code: '', device_id: 'scanner-1' })).rejects.toBeInstanceOf(
      ValidationError,
    );
  });

  it('creates, reads, updates and deletes a check-in list; a door key may only read lists', async () => {
    const lists = await door.checkin.lists(eventId);
    expect(lists).toEqual([
      expect.objectContaining({ object: 'checkin_list', name: 'Main entrance', is_default: true }),
    ]);
    await expect(door.checkin.createList(eventId, { name: 'Sneaky' })).rejects.toBeInstanceOf(
      PermissionError,
    );

    const vipDoor = await organizer.checkin.createList(eventId, {
      name: 'VIP door',
      ticket_type_ids: [vipId],
      starts_at: '2030-12-31T19:00:00+01:00',
    });
    expect(vipDoor).toMatchObject({
      event_id: eventId,
      name: 'VIP door',
      ticket_type_ids: [vipId],
      ends_at: null,
      allow_reentry: false,
      is_default: false,
    });
    // Given in the event's zone, stored in UTC.
    expect(new Date(vipDoor.starts_at!).toISOString()).toBe('2030-12-31T18:00:00.000Z');
    expect(await door.checkin.getList(vipDoor.id)).toEqual(vipDoor);

    const changed = await organizer.checkin.updateList(vipDoor.id, { starts_at: null, allow_reentry: true });
    expect(changed).toMatchObject({ name: 'VIP door', starts_at: null, allow_reentry: true });
    const ga = await sell(gaId, 'Gus General');
    expect(
      (await door.checkin.validate({ code: ga.code, device_id: 'scanner-1', list: vipDoor.id })).result,
    ).toBe('wrong_list');

    expect((await door.checkin.lists(eventId)).map((l) => l.name)).toEqual(
      expect.arrayContaining(['Main entrance', 'VIP door']),
    );
    expect(await organizer.checkin.deleteList(vipDoor.id)).toEqual({
      id: vipDoor.id,
      object: 'checkin_list',
      deleted: true,
    });
    await expect(door.checkin.getList(vipDoor.id)).rejects.toBeInstanceOf(NotFoundError);
    await expect(organizer.checkin.deleteList(lists[0]!.id)).rejects.toBeInstanceOf(ConflictError);
  });
  it('syncs a bundle page by page, uploads offline scans once, and reports the conflict', async () => {
    const a = await sell(gaId, 'Olga Offline');
    const b = await sell(gaId, 'Otto Offline');
    const first = await door.checkin.bundle(eventId, { limit: 1 });
    expect(first).toMatchObject({ object: 'checkin_bundle', event_id: eventId, full: true, has_more: true });
    expect(first.tickets).toHaveLength(1);
    const check = await verifyTicketCode(a.code, first.public_key);
    expect(check.valid).toBe(true);
    const seen = new Map(first.tickets.map((t) => [t.id, t]));
    let page = first;
    while (page.has_more) {
      page = await door.checkin.bundle(eventId, { since: page.cursor, limit: 1 });
      for (const t of page.tickets) seen.set(t.id, t);
    }
    expect(seen.get(a.id)).toMatchObject({ status: 'valid', admitted: false, holder_name: 'Olga Offline' });
    expect(seen.has(b.id)).toBe(true);

    const scan = (code: string) => ({
      id: randomUUID(),
      code,
      scanned_at: new Date().toISOString(),
      offline_result: 'admitted' as const,
    });
    const s1 = scan(a.code);
    const up1 = await door.checkin.uploadBatch({ device_id: 'door-a', scans: [s1] });
    expect(up1).toMatchObject({ object: 'checkin_batch', conflicts: 0 });
    expect(up1.results[0]).toMatchObject({ id: s1.id, result: 'admitted', conflict: false, ticket_id: a.id });
    // The same scan again is applied once.
    const again = await door.checkin.uploadBatch({ device_id: 'door-a', scans: [s1] });
    expect(again.conflicts).toBe(0);

    const s2 = scan(a.code);
    const up2 = await door.checkin.uploadBatch({ device_id: 'door-b', scans: [s2] });
    expect(up2.conflicts).toBe(1);
    expect(up2.results[0]).toMatchObject({ id: s2.id, conflict: true, first_used: { device_id: 'door-a' } });

    const conflicts = [];
    for await (const c of door.checkin.conflicts(eventId)) conflicts.push(c);
    expect(conflicts).toEqual([
      expect.objectContaining({
        object: 'checkin_conflict',
        scan_id: s2.id,
        ticket_id: a.id,
        device_id: 'door-b',
      }),
    ]);

    const changes = await door.checkin.bundle(eventId, { since: page.cursor });
    expect(changes.full).toBe(false);
    expect(changes.tickets.find((t) => t.id === a.id)).toMatchObject({ admitted: true });
  });

  it('reports live door figures', async () => {
    const stats = await door.checkin.stats(eventId);
    expect(stats).toMatchObject({ object: 'checkin_stats', event_id: eventId });
    expect(stats.admitted).toBeGreaterThanOrEqual(2);
    expect(stats.lists.map((l) => l.name)).toContain('Main entrance');
    await expect(door.checkin.stats('evt_01h2xcejqtf2nbrexx3vqjhp41')).rejects.toBeInstanceOf(NotFoundError);
  });
});
