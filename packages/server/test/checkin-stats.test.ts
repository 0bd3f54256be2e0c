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

const FIVE_MINUTES = 5 * 60_000;
const windowOf = (iso: string) => {
  const t = Date.parse(iso);
  return new Date(t - (t % FIVE_MINUTES)).toISOString();
};

describe.each(DIALECTS)('%s: live check-in figures', (dialect) => {
  let s: TestServer;
  let call: ReturnType<typeof http>;
  let token: string;
  let doorKey: string;
  let eventId: string;
  let gaId: string;
  let vipId: string;
  let mainListId: string;
  let vipListId: string;

  beforeAll(async () => {
    s = await startTestServer(dialect);
    call = http(s.url);
    token = (await signUp(s.url)).token;
    const sale = await eventOnSale(s.url, token, { name: 'Stats night', capacity: 100 }, [
      { name: 'GA', amount: 1000, capacity: 50 },
      { name: 'VIP', amount: 5000, capacity: 10 },
    ]);
    eventId = sale.eventId;
    [gaId, vipId] = sale.typeIds as [string, string];
    doorKey = (await call('POST', '/api/api-keys', { token, body: { name: 'Door', scopes: ['checkin'] } }))
      .body.secret;
    mainListId = (await call('GET', `/api/events/${eventId}/checkin-lists`, { token })).body.data[0].id;
    vipListId = (
      await call('POST', `/api/events/${eventId}/checkin-lists`, {
        token,
        body: { name: 'VIP door', ticket_type_ids: [vipId], allow_reentry: true },
      })
    ).body.id;
  });
  afterAll(() => s.stop());

  const buy = async (typeId: string, quantity: number) => {
    const res = await call('POST', '/api/tickets/purchase', {
      token,
      body: {
        event: eventId,
        items: [{ ticket_type: typeId, quantity }],
        buyer: { name: 'B', email: 'b@example.com' },
        payment_method: 'manual',
      },
    });
    expect(res.status).toBe(201);
    return res.body.tickets as { id: string; code: string }[];
  };
  const scanned: { result: string; scanned_at: string }[] = [];
  const scan = async (code: string, gate: string | undefined, extra: Record<string, unknown> = {}) => {
    const res = await call('POST', '/api/tickets/validate', {
      token: doorKey,
      body: { code, device_id: 'scanner-1', ...(gate ? { gate } : {}), ...extra },
    });
    expect(res.status).toBe(200);
    scanned.push(res.body);
    return res.body.result as string;
  };
  const stats = (as = doorKey, id = eventId) =>
    call('GET', `/api/events/${id}/checkins/stats`, { token: as });

  it('is all zeros before the doors open, with every list', async () => {
    const res = await stats();
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      object: 'checkin_stats',
      event_id: eventId,
      admitted: 0,
      inside: 0,
      refused: 0,
      refused_by_reason: [],
      lists: [
        { id: mainListId, name: 'Main entrance', admitted: 0, inside: 0, refused: 0 },
        { id: vipListId, name: 'VIP door', admitted: 0, inside: 0, refused: 0 },
      ].sort((a, b) => a.id.localeCompare(b.id)),
      gates: [],
      admissions: [],
      generated_at: expect.any(String),
    });
  });

  it('counts admissions, who is inside, refusals by reason, per list and per gate', async () => {
    const [ga1, ga2, ga3, ga4, ga5] = await buy(gaId, 5);
    const [vip1, vip2] = await buy(vipId, 2);
    if (!ga1 || !ga2 || !ga3 || !ga4 || !ga5 || !vip1 || !vip2) throw new Error('tickets missing');
    expect((await call('POST', `/api/tickets/${ga5.id}/refund`, { token, body: {} })).status).toBe(201);

    expect(await scan(ga1.code, 'North')).toBe('admitted');
    expect(await scan(ga1.code, 'South')).toBe('already_used');
    expect(await scan(ga2.code, 'South')).toBe('admitted');
    expect(await scan(ga3.code, 'North')).toBe('admitted');
    expect(await scan(ga3.code, 'North', { direction: 'exit' })).toBe('exited');
    expect(await scan(ga3.code, 'North', { direction: 'exit' })).toBe('not_inside');
    expect(await scan(ga5.code, 'North')).toBe('revoked');
    expect(await scan(ga4.code, 'VIP', { list: vipListId })).toBe('wrong_list');
    expect(await scan(vip1.code, 'VIP', { list: vipListId })).toBe('admitted');
    expect(await scan(vip1.code, 'VIP', { list: vipListId, direction: 'exit' })).toBe('exited');
    expect(await scan(vip1.code, 'VIP', { list: vipListId })).toBe('admitted'); // re-entry
    expect(await scan(vip2.code, undefined, { list: vipListId, dry_run: true })).toBe('valid'); // not recorded
    expect(await scan(vip2.code, undefined)).toBe('admitted'); // no gate named, main list
    expect(await scan('not-a-ticket', 'North')).toBe('invalid'); // no event to count it against

    const res = await stats();
    expect(res.status).toBe(200);
    const admissions = scanned.filter((v) => v.result === 'admitted').map((v) => windowOf(v.scanned_at));
    const expectedWindows = [...new Set(admissions)].sort();
    const first = Date.parse(expectedWindows[0] ?? '');
    const last = Date.parse(expectedWindows.at(-1) ?? '');
    const filled: { start: string; count: number }[] = [];
    for (let t = first; t <= last; t += FIVE_MINUTES) {
      const start = new Date(t).toISOString();
      filled.push({ start, count: admissions.filter((w) => w === start).length });
    }
    expect(res.body).toEqual({
      object: 'checkin_stats',
      event_id: eventId,
      admitted: 5, // ga1, ga2, ga3, vip1 (twice), vip2
      inside: 4, // ga1, ga2, vip2 on the main list, vip1 on the VIP door; ga3 went out
      refused: 4,
      refused_by_reason: [
        { reason: 'already_used', count: 1 },
        { reason: 'not_inside', count: 1 },
        { reason: 'revoked', count: 1 },
        { reason: 'wrong_list', count: 1 },
      ],
      lists: [
        { id: mainListId, name: 'Main entrance', admitted: 4, inside: 3, refused: 3 },
        { id: vipListId, name: 'VIP door', admitted: 1, inside: 1, refused: 1 },
      ].sort((a, b) => a.id.localeCompare(b.id)),
      gates: [
        { gate: 'North', admitted: 2, refused: 2 }, // ga1, ga3 in; not_inside, revoked
        { gate: 'VIP', admitted: 2, refused: 1 }, // vip1 in twice; ga4 wrong_list
        { gate: 'South', admitted: 1, refused: 1 }, // ga2 in; ga1 again
        { gate: null, admitted: 1, refused: 0 },
      ],
      admissions: filled,
      generated_at: expect.any(String),
    });
    expect(filled.reduce((n, w) => n + w.count, 0)).toBe(6);
  });

  it('cuts admissions into 5-minute windows in UTC and fills the empty ones', async () => {
    const e = await call('POST', '/api/events', { token, body: sampleEvent({ name: 'Windows' }) });
    const { org_id } = await s.db.kysely
      .selectFrom('events')
      .select('org_id')
      .where('id', '=', e.body.id)
      .executeTakeFirstOrThrow();
    const row = (scanned_at: string, result = 'admitted', n = 0) => ({
      id: `chk_window${scanned_at}${n}`,
      org_id,
      event_id: e.body.id,
      list_id: null,
      ticket_id: `tkt_w${n}`,
      device_id: 'd',
      gate: 'West',
      direction: 'entry' as const,
      result,
      offline: 0,
      scanned_at,
      created_at: scanned_at,
    });
    // The scan log as a long night wrote it: admissions across windows, and a refusal.
    await s.db.kysely
      .insertInto('checkins')
      .values([
        row('2030-12-31T19:03:10.000Z', 'admitted', 1),
        row('2030-12-31T19:04:59.999Z', 'admitted', 2),
        row('2030-12-31T19:05:00.000Z', 'admitted', 3),
        row('2030-12-31T19:09:59.999Z', 'admitted', 4),
        row('2030-12-31T19:21:00.000Z', 'admitted', 5),
        row('2030-12-31T19:22:00.000Z', 'already_used', 5),
      ])
      .execute();
    const res = await stats(doorKey, e.body.id);
    expect(res.status).toBe(200);
    expect(res.body.admissions).toEqual([
      { start: '2030-12-31T19:00:00.000Z', count: 2 },
      { start: '2030-12-31T19:05:00.000Z', count: 2 },
      { start: '2030-12-31T19:10:00.000Z', count: 0 },
      { start: '2030-12-31T19:15:00.000Z', count: 0 },
      { start: '2030-12-31T19:20:00.000Z', count: 1 },
    ]);
    expect(res.body).toMatchObject({
      admitted: 5,
      refused: 1,
      refused_by_reason: [{ reason: 'already_used', count: 1 }],
      gates: [{ gate: 'West', admitted: 5, refused: 1 }],
    });
  });

  it("is the organization's own: another organization gets 404, nobody signed out gets in", async () => {
    const other = (await signUp(s.url, 'Other Org')).token;
    const theirs = await stats(other);
    expect(theirs.status).toBe(404);
    expect(theirs.body.code).toBe('not_found');
    expect((await call('GET', `/api/events/${eventId}/checkins/stats`)).status).toBe(401);
    expect((await stats(token)).status).toBe(200);
  });
});
