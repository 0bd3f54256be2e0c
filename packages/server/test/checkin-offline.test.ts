import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { verifyTicketCode } from '@tickets/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLE_SETTLE_MS } from '../src/modules/checkin/offline.js';
import { DIALECTS, eventOnSale, http, signUp, startTestServer, type TestServer } from './harness.js';

interface Bought {
  id: string;
  code: string;
  order_id: string;
}

describe.each(DIALECTS)('%s: offline doors', (dialect) => {
  let s: TestServer;
  let call: ReturnType<typeof http>;
  let token: string;
  let doorKey: string;

  beforeAll(async () => {
    s = await startTestServer(dialect);
    call = http(s.url);
    token = (await signUp(s.url)).token;
    doorKey = (await call('POST', '/api/api-keys', { token, body: { name: 'Door 1', scopes: ['checkin'] } }))
      .body.secret;
  });
  afterAll(() => s.stop());

  /** A published event of its own, so each test sees only its own tickets in the bundle. */
  const newEvent = async () => {
    const { eventId, typeIds } = await eventOnSale(s.url, token, { capacity: 500 }, [
      { name: 'GA', amount: 1000, capacity: 300 },
    ]);
    return { eventId, typeId: typeIds[0]! };
  };
  const buy = async (ev: { eventId: string; typeId: string }, holder = 'Hana Holder'): Promise<Bought> => {
    const res = await call('POST', '/api/tickets/purchase', {
      token,
      body: {
        event: ev.eventId,
        items: [{ ticket_type: ev.typeId, quantity: 1, holders: [{ name: holder }] }],
        buyer: { name: 'B', email: 'b@example.com' },
        payment_method: 'manual',
      },
    });
    expect(res.status).toBe(201);
    return res.body.tickets[0];
  };
  const bundle = (eventId: string, query = '', as = doorKey) =>
    call('GET', `/api/events/${eventId}/checkin-bundle${query}`, { token: as });
  /** Follows `cursor` while has_more; returns every page. */
  const syncAll = async (eventId: string, since?: string, limit = 1000) => {
    const pages = [];
    let cursor = since;
    for (;;) {
      const q = new URLSearchParams({ limit: String(limit), ...(cursor ? { since: cursor } : {}) });
      const res = await bundle(eventId, `?${q}`);
      expect(res.status).toBe(200);
      pages.push(res.body);
      cursor = res.body.cursor;
      if (!res.body.has_more) break;
    }
    return { pages, cursor: cursor!, tickets: pages.flatMap((p) => p.tickets) };
  };
  const upload = (device_id: string, scans: Record<string, unknown>[], as = doorKey) =>
    call('POST', '/api/checkins/batch', { token: as, body: { device_id, scans } });
  const at = (seconds: number) => new Date(Date.UTC(2030, 11, 31, 20, 0, seconds)).toISOString();
  const offlineScan = (code: string, seconds: number, extra: Record<string, unknown> = {}) => ({
    id: randomUUID(),
    code,
    scanned_at: at(seconds),
    offline_result: 'admitted',
    ...extra,
  });
  const tamper = (code: string) => {
    const bytes = Buffer.from(code, 'base64url');
    bytes[60] = (bytes[60] ?? 0) ^ 0xff;
    return bytes.toString('base64url');
  };

  it('bundles the public key and every ticket: refunded ones void, transferred ones at their new version', async () => {
    const ev = await newEvent();
    const kept = await buy(ev, 'Kim Kept');
    const refunded = await buy(ev);
    const moved = await buy(ev);
    expect((await call('POST', `/api/tickets/${refunded.id}/refund`, { token, body: {} })).status).toBe(201);
    const transfer = await call('PUT', `/api/tickets/${moved.id}/transfer`, {
      token,
      body: { name: 'Nia New', email: 'nia@example.com' },
    });
    expect(transfer.status).toBe(200);

    const res = await bundle(ev.eventId);
    expect(res.status).toBe(200);
    const key = await call('GET', `/api/events/${ev.eventId}/public-key`, { token });
    expect(res.body).toMatchObject({
      object: 'checkin_bundle',
      event_id: ev.eventId,
      list: { object: 'checkin_list', is_default: true, event_id: ev.eventId },
      public_key: key.body.public_key,
      has_more: false,
      full: true,
    });
    const byId = new Map(res.body.tickets.map((t: { id: string }) => [t.id, t]));
    expect(byId.size).toBe(3);
    expect(byId.get(kept.id)).toEqual({
      id: kept.id,
      ticket_type_id: ev.typeId,
      holder_name: 'Kim Kept',
      status: 'valid',
      void_reason: null,
      code_version: 1,
      admitted: false,
    });
    expect(byId.get(refunded.id)).toMatchObject({ status: 'void', void_reason: 'refunded' });
    expect(byId.get(moved.id)).toMatchObject({ status: 'valid', holder_name: 'Nia New', code_version: 2 });

    // The door can verify codes with the bundle's key alone.
    const check = await verifyTicketCode(kept.code, res.body.public_key);
    expect(check).toMatchObject({ valid: true, ticketId: kept.id, eventId: ev.eventId, version: 1 });
    const newCode = await verifyTicketCode(transfer.body.code, res.body.public_key);
    expect(newCode).toMatchObject({ valid: true, ticketId: moved.id, version: 2 });
    // The old code still carries a valid signature; only its version (1 < 2) says it was revoked.
    expect(await verifyTicketCode(moved.code, res.body.public_key)).toMatchObject({
      valid: true,
      version: 1,
    });
    expect((await verifyTicketCode(tamper(kept.code), res.body.public_key)).valid).toBe(false);
  });

  it('with since, sends only the tickets that changed: refunds, transfers and admissions', async () => {
    const ev = await newEvent();
    const tickets = [];
    for (let i = 0; i < 5; i++) tickets.push(await buy(ev, `Holder ${i}`));
    const [refunded, admitted, moved] = tickets as [Bought, Bought, Bought];
    // Let the purchases fall out of the settle window, so the first cursor is past all of them.
    await sleep(BUNDLE_SETTLE_MS + 100);
    const first = await syncAll(ev.eventId);
    expect(first.tickets).toHaveLength(5);

    const nothing = await bundle(ev.eventId, `?since=${first.cursor}`);
    expect(nothing.body).toMatchObject({ tickets: [], full: false, has_more: false });

    expect((await call('POST', `/api/tickets/${refunded.id}/refund`, { token, body: {} })).status).toBe(201);
    const scan = await call('POST', '/api/tickets/validate', {
      token: doorKey,
      body: { code: admitted.code, device_id: 'online-1' },
    });
    expect(scan.body.result).toBe('admitted');
    const transfer = await call('PUT', `/api/tickets/${moved.id}/transfer`, {
      token,
      body: { name: 'Otto Other', email: 'otto@example.com' },
    });
    expect(transfer.status).toBe(200);

    const second = await bundle(ev.eventId, `?since=${first.cursor}`);
    expect(second.status).toBe(200);
    expect(second.body.full).toBe(false);
    const changed = second.body.tickets as { id: string }[];
    expect(changed.map((t) => t.id).sort()).toEqual([refunded.id, admitted.id, moved.id].sort());
    const got = new Map(changed.map((t) => [t.id, t]));
    expect(got.get(refunded.id)).toMatchObject({ status: 'void', void_reason: 'refunded' });
    expect(got.get(admitted.id)).toMatchObject({ status: 'valid', admitted: true });
    expect(got.get(moved.id)).toMatchObject({ holder_name: 'Otto Other', code_version: 2, admitted: false });

    // A cursor handed out while changes were fresh re-sends them once (a late commit could hide
    // among them); after that, with nothing new, syncs are empty.
    await sleep(BUNDLE_SETTLE_MS + 100);
    const resent = await bundle(ev.eventId, `?since=${second.body.cursor}`);
    expect([refunded.id, admitted.id, moved.id]).toEqual(
      expect.arrayContaining(resent.body.tickets.map((t: { id: string }) => t.id)),
    );
    const settled = await bundle(ev.eventId, `?since=${resent.body.cursor}`);
    expect(settled.body.tickets).toEqual([]);
  });

  it('pages a large bundle with the same cursor, each ticket once', async () => {
    const ev = await newEvent();
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push((await buy(ev)).id);
    const all = await syncAll(ev.eventId, undefined, 2);
    expect(all.pages.map((p) => p.tickets.length)).toEqual([2, 2, 1]);
    expect(all.pages.map((p) => p.full)).toEqual([true, false, false]);
    expect(all.tickets.map((t: { id: string }) => t.id).sort()).toEqual(ids.sort());
  });

  it('refuses a cursor of another list or a made-up one', async () => {
    const ev = await newEvent();
    const gate = await call('POST', `/api/events/${ev.eventId}/checkin-lists`, {
      token,
      body: { name: 'Side door' },
    });
    const main = await bundle(ev.eventId);
    const side = await bundle(ev.eventId, `?list=${gate.body.id}&since=${main.body.cursor}`);
    expect(side.status).toBe(400);
    expect(side.body.code).toBe('invalid_cursor');
    expect((await bundle(ev.eventId, '?since=nonsense')).status).toBe(400);
    const sideFull = await bundle(ev.eventId, `?list=${gate.body.id}`);
    expect(sideFull.body.list).toMatchObject({ id: gate.body.id, name: 'Side door', is_default: false });
  });

  it('applies offline scans in the order scanned, once, and a re-upload changes nothing', async () => {
    const ev = await newEvent();
    const a = await buy(ev);
    const b = await buy(ev);
    const scans = [
      // Sent first but scanned last: applied after the entry, so it is an exit, not "not inside".
      offlineScan(b.code, 30, { direction: 'exit', offline_result: 'exited' }),
      offlineScan(a.code, 10, { gate: 'North' }),
      offlineScan(b.code, 20),
      offlineScan(a.code, 40, { offline_result: 'already_used' }),
    ];
    const res = await upload('tablet-1', scans);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      object: 'checkin_batch',
      conflicts: 0,
      results: [
        expect.objectContaining({ id: scans[0]!.id, result: 'exited', conflict: false, ticket_id: b.id }),
        expect.objectContaining({ id: scans[1]!.id, result: 'admitted', conflict: false, first_used: null }),
        expect.objectContaining({ id: scans[2]!.id, result: 'admitted', conflict: false }),
        {
          id: scans[3]!.id,
          result: 'already_used',
          conflict: false,
          first_used: { at: at(10), gate: 'North', device_id: 'tablet-1' },
          ticket_id: a.id,
          list_id: res.body.results[1].list_id,
        },
      ],
    });
    // Online doors now see the offline admission.
    const online = await call('POST', '/api/tickets/validate', {
      token: doorKey,
      body: { code: a.code, device_id: 'online-1' },
    });
    expect(online.body).toMatchObject({
      result: 'already_used',
      first_used: { at: at(10), device_id: 'tablet-1' },
    });

    const recorded = () =>
      s.db.kysely
        .selectFrom('checkins')
        .select(['scan_id', 'result', 'offline', 'scanned_at'])
        .where('device_id', '=', 'tablet-1')
        .orderBy('scanned_at')
        .execute();
    const before = await recorded();
    expect(before.map((r) => [r.result, r.offline])).toEqual([
      ['admitted', 1],
      ['admitted', 1],
      ['exited', 1],
      ['already_used', 1],
    ]);

    const again = await upload('tablet-1', scans);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(res.body);
    expect(await recorded()).toEqual(before);
    // And five copies at once still apply each scan once.
    const copies = await Promise.all(Array.from({ length: 5 }, () => upload('tablet-1', scans)));
    for (const c of copies) expect(c.body).toEqual(res.body);
    expect(await recorded()).toEqual(before);
  });

  it('reports exactly one conflict when two offline devices admitted one ticket', async () => {
    const ev = await newEvent();
    const t = await buy(ev);
    const other = await buy(ev);
    const fromA = [offlineScan(t.code, 100, { gate: 'East' })];
    const fromB = [offlineScan(t.code, 105, { gate: 'West' }), offlineScan(other.code, 106)];
    const [a, b] = await Promise.all([upload('device-a', fromA), upload('device-b', fromB)]);
    expect(a.body.conflicts + b.body.conflicts).toBe(1);
    const loser = a.body.conflicts === 1 ? a : b;
    const winnerDevice = loser === a ? 'device-b' : 'device-a';
    expect(loser.body.results[0]).toMatchObject({
      result: 'already_used',
      conflict: true,
      ticket_id: t.id,
      first_used: { device_id: winnerDevice },
    });
    expect(b.body.results[1]).toMatchObject({ result: 'admitted', conflict: false });

    // Uploading again does not add a second one.
    await upload('device-a', fromA);
    await upload('device-b', fromB);
    const list = await call('GET', `/api/events/${ev.eventId}/checkins/conflicts`, { token: doorKey });
    expect(list.status).toBe(200);
    expect(list.body).toMatchObject({ object: 'list', has_more: false, next_cursor: null });
    expect(list.body.data).toEqual([
      expect.objectContaining({
        object: 'checkin_conflict',
        event_id: ev.eventId,
        ticket_id: t.id,
        device_id: loser === a ? 'device-a' : 'device-b',
        scan_id: loser === a ? fromA[0]!.id : fromB[0]!.id,
        gate: loser === a ? 'East' : 'West',
        first_used: expect.objectContaining({ device_id: winnerDevice }),
      }),
    ]);

    // A refusal the device itself made is no conflict.
    const refusedOffline = await upload('device-c', [
      offlineScan(t.code, 200, { offline_result: 'already_used' }),
    ]);
    expect(refusedOffline.body).toMatchObject({
      conflicts: 0,
      results: [{ result: 'already_used', conflict: false }],
    });
    expect(
      (await call('GET', `/api/events/${ev.eventId}/checkins/conflicts`, { token: doorKey })).body.data,
    ).toHaveLength(1);
  });

  it('judges each scan as of when it was scanned: a tampered code is invalid, a gate closed then refuses', async () => {
    const ev = await newEvent();
    const t = await buy(ev);
    const night = await call('POST', `/api/events/${ev.eventId}/checkin-lists`, {
      token,
      body: { name: 'Night', starts_at: at(3600), ends_at: at(7200) },
    });
    const res = await upload('tablet-9', [
      offlineScan(tamper(t.code), 0),
      offlineScan(t.code, 1, { list: night.body.id }),
      offlineScan(t.code, 3700, { list: night.body.id }),
    ]);
    expect(res.status).toBe(200);
    expect(res.body.results).toEqual([
      expect.objectContaining({ result: 'invalid', ticket_id: null, list_id: null, conflict: false }),
      expect.objectContaining({ result: 'not_yet_valid', ticket_id: t.id, list_id: night.body.id }),
      expect.objectContaining({ result: 'admitted', ticket_id: t.id, list_id: night.body.id }),
    ]);
    // The presence change shows in the list's bundle.
    const b = await bundle(ev.eventId, `?list=${night.body.id}`);
    expect(b.body.tickets).toEqual([expect.objectContaining({ id: t.id, admitted: true })]);
  });

  it('keeps offline doors to their organization and refuses bad batches whole', async () => {
    const ev = await newEvent();
    const t = await buy(ev);
    expect((await bundle(ev.eventId, '', token)).status).toBe(200);
    expect((await call('GET', `/api/events/${ev.eventId}/checkin-bundle`)).status).toBe(401);

    const other = (await signUp(s.url, 'Other Org')).token;
    const otherKey = (
      await call('POST', '/api/api-keys', { token: other, body: { name: 'Their door', scopes: ['checkin'] } })
    ).body.secret;
    expect((await bundle(ev.eventId, '', otherKey)).status).toBe(404);
    expect(
      (await call('GET', `/api/events/${ev.eventId}/checkins/conflicts`, { token: otherKey })).status,
    ).toBe(404);
    const theirs = await upload('their-tablet', [offlineScan(t.code, 0)], otherKey);
    expect(theirs.body.results[0]).toMatchObject({ result: 'invalid', ticket_id: null });

    // Another organization's list (or none) refuses the whole batch before anything is applied.
    const ourList = (await bundle(ev.eventId)).body.list.id;
    const mixed = await upload('their-tablet', [offlineScan(t.code, 1, { list: ourList })], otherKey);
    expect(mixed.status).toBe(404);
    const tooMany = await upload(
      'tablet',
      Array.from({ length: 501 }, (_, i) => offlineScan(t.code, i)),
    );
    expect(tooMany.status).toBe(422);
    const notUuid = await upload('tablet', [{ ...offlineScan(t.code, 0), id: 'scan-1' }]);
    expect(notUuid.status).toBe(422);
    // Nothing was applied: the ticket is still free to enter.
    const fresh = await upload('tablet', [offlineScan(t.code, 2)]);
    expect(fresh.body.results[0].result).toBe('admitted');
  });
});
