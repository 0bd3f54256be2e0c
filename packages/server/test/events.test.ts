import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, http, sampleEvent, signUp, startTestServer, type TestServer } from './harness.js';

type Call = ReturnType<typeof http>;

const ids = (page: { data: { id: string }[] }) => page.data.map((e) => e.id);
const paths = (body: { errors?: { path: string }[] }) => (body.errors ?? []).map((e) => e.path);

describe.each(DIALECTS)('%s: events', (dialect) => {
  let s: TestServer;
  let call: Call;
  beforeAll(async () => {
    s = await startTestServer(dialect);
    call = http(s.url);
  });
  afterAll(async () => {
    // The counters faked below (no tickets behind them) are put back: stop() checks the sale's invariants.
    await s.db.kysely.updateTable('ticket_types').set({ sold: 0, held: 0 }).execute();
    await s.db.kysely.updateTable('events').set({ sold: 0, held: 0 }).execute();
    await s.stop();
  });

  /** A fresh organization, so lists start empty. */
  async function org() {
    const { token } = await signUp(s.url);
    const as = (method: string, path: string, body?: unknown, headers?: Record<string, string>) =>
      call(method, path, { token, body, headers });
    const create = async (over: Record<string, unknown> = {}) => {
      const res = await as('POST', '/api/events', sampleEvent(over));
      expect(res.status).toBe(201);
      return res.body;
    };
    const createType = async (eventId: string, over: Record<string, unknown> = {}) => {
      const res = await as('POST', `/api/events/${eventId}/ticket-types`, {
        name: 'General admission',
        price: { amount: 2500, currency: 'EUR' },
        capacity: 50,
        ...over,
      });
      expect(res.status).toBe(201);
      return res.body;
    };
    return { token, as, create, createType };
  }

  const setEventCounters = (id: string, sold: number, held = 0) =>
    s.db.kysely.updateTable('events').set({ sold, held }).where('id', '=', id).execute();
  const setTypeCounters = (id: string, sold: number, held = 0) =>
    s.db.kysely.updateTable('ticket_types').set({ sold, held }).where('id', '=', id).execute();

  describe('create', () => {
    it('creates a draft with a derived slug, times in UTC and normalised codes', async () => {
      const { as } = await org();
      const res = await as(
        'POST',
        '/api/events',
        sampleEvent({
          name: 'Berlin Jazz Night — 2030!',
          currency: 'eur',
          venue: { name: 'Blue Note', city: 'Berlin', country: 'de' },
          description: 'Late set',
        }),
      );
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({
        object: 'event',
        name: 'Berlin Jazz Night — 2030!',
        slug: 'berlin-jazz-night-2030',
        status: 'draft',
        currency: 'EUR',
        timezone: 'Europe/Berlin',
        starts_at: '2030-12-31T19:00:00.000Z',
        ends_at: '2031-01-01T01:00:00.000Z',
        capacity: 100,
        transferable: true,
        description: 'Late set',
        venue: { name: 'Blue Note', city: 'Berlin', country: 'DE' },
        sales_start_at: null,
        sales_end_at: null,
      });
      expect(res.body.id).toMatch(/^evt_[0-9a-z]{26}$/);
      const got = await as('GET', `/api/events/${res.body.id}`);
      expect(got.status).toBe(200);
      expect(got.body).toEqual(res.body);
    });

    it('gives a duplicate name the slug suffix -2, -3', async () => {
      const { create } = await org();
      const a = await create({ name: 'Summer Fest' });
      const b = await create({ name: 'Summer Fest' });
      const c = await create({ name: 'Summer Fest' });
      expect([a.slug, b.slug, c.slug]).toEqual(['summer-fest', 'summer-fest-2', 'summer-fest-3']);
      expect(new Set([a.id, b.id, c.id]).size).toBe(3);
    });

    it('refuses an explicit slug already in use with 409 slug_taken', async () => {
      const { as, create } = await org();
      await create({ name: 'First', slug: 'the-show' });
      const res = await as('POST', '/api/events', sampleEvent({ name: 'Second', slug: 'the-show' }));
      expect(res.status).toBe(409);
      expect(res.body.code).toBe('slug_taken');
      const list = await as('GET', '/api/events');
      expect(list.body.data).toHaveLength(1);
    });

    it('lets two organizations use the same slug', async () => {
      const a = await org();
      const b = await org();
      expect((await a.create({ slug: 'shared' })).slug).toBe('shared');
      expect((await b.create({ slug: 'shared' })).slug).toBe('shared');
    });
  });

  describe('validation', () => {
    let as: Awaited<ReturnType<typeof org>>['as'];
    beforeAll(async () => {
      ({ as } = await org());
    });

    it('refuses an event that ends before it starts (422, path ends_at)', async () => {
      const res = await as(
        'POST',
        '/api/events',
        sampleEvent({ starts_at: '2030-06-01T20:00:00Z', ends_at: '2030-06-01T19:00:00Z' }),
      );
      expect(res.status).toBe(422);
      expect(res.body.code).toBe('validation_failed');
      expect(paths(res.body)).toEqual(['ends_at']);
      const equal = await as(
        'POST',
        '/api/events',
        sampleEvent({ starts_at: '2030-06-01T20:00:00Z', ends_at: '2030-06-01T22:00:00+02:00' }),
      );
      expect(equal.status).toBe(422);
      expect(paths(equal.body)).toEqual(['ends_at']);
    });

    it('refuses an event that starts in the past (422 in_past) unless allow_past says it is an import', async () => {
      const past = { starts_at: '2021-06-01T20:00:00Z', ends_at: '2021-06-01T23:00:00Z' };
      const refused = await as('POST', '/api/events', sampleEvent({ name: 'Typo Year', ...past }));
      expect(refused.status).toBe(422);
      expect(refused.body.errors).toEqual([expect.objectContaining({ path: 'starts_at', code: 'in_past' })]);
      const imported = await as(
        'POST',
        '/api/events',
        sampleEvent({ name: 'Archive', ...past, allow_past: true }),
      );
      expect(imported.status).toBe(201);
      expect(imported.body).toMatchObject({ name: 'Archive', starts_at: '2021-06-01T20:00:00.000Z' });
      expect(imported.body).not.toHaveProperty('allow_past');
      expect((await as('DELETE', `/api/events/${imported.body.id}`)).status).toBe(200);
    });

    it('refuses an unknown time zone', async () => {
      const res = await as('POST', '/api/events', sampleEvent({ timezone: 'Europe/Atlantis' }));
      expect(res.status).toBe(422);
      expect(paths(res.body)).toEqual(['timezone']);
    });

    it('refuses a bad currency', async () => {
      for (const currency of ['EURO', 'ZZZ', 'E1R']) {
        const res = await as('POST', '/api/events', sampleEvent({ currency }));
        expect(res.status).toBe(422);
        expect(paths(res.body)).toEqual(['currency']);
      }
    });

    it('refuses a bad country', async () => {
      for (const country of ['XX', 'DEU', 'd1']) {
        const res = await as('POST', '/api/events', sampleEvent({ venue: { name: 'Somewhere', country } }));
        expect(res.status).toBe(422);
        expect(paths(res.body)).toEqual(['venue.country']);
      }
    });

    it('refuses sales that end after the event', async () => {
      const res = await as(
        'POST',
        '/api/events',
        sampleEvent({
          starts_at: '2030-06-01T20:00:00Z',
          ends_at: '2030-06-01T23:00:00Z',
          sales_end_at: '2030-06-02T00:00:00Z',
        }),
      );
      expect(res.status).toBe(422);
      expect(paths(res.body)).toEqual(['sales_end_at']);
      const ok = await as(
        'POST',
        '/api/events',
        sampleEvent({
          starts_at: '2030-06-01T20:00:00Z',
          ends_at: '2030-06-01T23:00:00Z',
          sales_start_at: '2030-05-01T00:00:00Z',
          sales_end_at: '2030-06-01T23:00:00Z',
        }),
      );
      expect(ok.status).toBe(201);
      expect(ok.body.sales_end_at).toBe('2030-06-01T23:00:00.000Z');
    });

    it('refuses a slug that is not lower-case words joined by hyphens', async () => {
      const res = await as('POST', '/api/events', sampleEvent({ slug: 'Not A Slug' }));
      expect(res.status).toBe(422);
      expect(paths(res.body)).toEqual(['slug']);
    });

    it('nothing invalid was stored', async () => {
      const list = await as('GET', '/api/events?limit=100');
      expect(list.body.data).toHaveLength(1);
    });
  });

  describe('get and update', () => {
    it('answers an unknown or malformed id with 404', async () => {
      const { as } = await org();
      const unknown = await as('GET', '/api/events/evt_01jd6x3k7qf0v8c6w2x9yq4e5b');
      expect(unknown.status).toBe(404);
      expect(unknown.body.code).toBe('not_found');
      const malformed = await as('GET', '/api/events/nope');
      expect(malformed.status).toBe(404);
    });

    it('PUT merges: fields left out keep their value, null clears', async () => {
      const { as, create } = await org();
      const ev = await create({ description: 'Old text' });
      const res = await as('PUT', `/api/events/${ev.id}`, { name: 'Renamed', capacity: null });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        id: ev.id,
        name: 'Renamed',
        slug: ev.slug,
        description: 'Old text',
        capacity: null,
        venue: ev.venue,
        starts_at: ev.starts_at,
        ends_at: ev.ends_at,
        currency: 'EUR',
        status: 'draft',
        created_at: ev.created_at,
      });
      expect(res.body.updated_at >= ev.updated_at).toBe(true);
      const got = await as('GET', `/api/events/${ev.id}`);
      expect(got.body).toEqual(res.body);
      const cleared = await as('PUT', `/api/events/${ev.id}`, {
        venue: null,
        description: null,
        transferable: false,
      });
      expect(cleared.body).toMatchObject({
        venue: null,
        description: null,
        transferable: false,
        name: 'Renamed',
      });
      expect((await as('GET', `/api/events/${ev.id}`)).body).toEqual(cleared.body);
    });

    it('checks the merged dates: an ends_at before the stored starts_at is 422', async () => {
      const { as, create } = await org();
      const ev = await create({ starts_at: '2030-06-01T20:00:00Z', ends_at: '2030-06-01T23:00:00Z' });
      const res = await as('PUT', `/api/events/${ev.id}`, { ends_at: '2030-06-01T19:00:00Z' });
      expect(res.status).toBe(422);
      expect(paths(res.body)).toEqual(['ends_at']);
      const later = await as('PUT', `/api/events/${ev.id}`, { starts_at: '2030-06-02T00:00:00Z' });
      expect(later.status).toBe(422);
      expect(paths(later.body)).toEqual(['ends_at']);
      const sales = await as('PUT', `/api/events/${ev.id}`, { sales_end_at: '2030-06-03T00:00:00Z' });
      expect(sales.status).toBe(422);
      expect(paths(sales.body)).toEqual(['sales_end_at']);
      const unchanged = await as('GET', `/api/events/${ev.id}`);
      expect(unchanged.body.ends_at).toBe('2030-06-01T23:00:00.000Z');
      expect(unchanged.body.starts_at).toBe('2030-06-01T20:00:00.000Z');
      const both = await as('PUT', `/api/events/${ev.id}`, {
        starts_at: '2030-07-01T20:00:00Z',
        ends_at: '2030-07-01T23:00:00Z',
      });
      expect(both.status).toBe(200);
      expect(both.body.starts_at).toBe('2030-07-01T20:00:00.000Z');
    });

    it('changes the currency only while the event has no ticket types (409 currency_locked)', async () => {
      const { as, create, createType } = await org();
      const ev = await create();
      const free = await as('PUT', `/api/events/${ev.id}`, { currency: 'usd' });
      expect(free.status).toBe(200);
      expect(free.body.currency).toBe('USD');
      await createType(ev.id, { price: { amount: 1000, currency: 'USD' } });
      const locked = await as('PUT', `/api/events/${ev.id}`, { currency: 'GBP' });
      expect(locked.status).toBe(409);
      expect(locked.body.code).toBe('currency_locked');
      expect((await as('GET', `/api/events/${ev.id}`)).body.currency).toBe('USD');
      const same = await as('PUT', `/api/events/${ev.id}`, { currency: 'USD', name: 'Same currency' });
      expect(same.status).toBe(200);
    });

    it('refuses a slug another event uses (409 slug_taken)', async () => {
      const { as, create } = await org();
      const a = await create({ slug: 'taken' });
      const b = await create({ slug: 'free' });
      const res = await as('PUT', `/api/events/${b.id}`, { slug: a.slug });
      expect(res.status).toBe(409);
      expect(res.body.code).toBe('slug_taken');
      expect((await as('GET', `/api/events/${b.id}`)).body.slug).toBe('free');
    });

    it('refuses an event capacity below what is sold (409 capacity_below_sales)', async () => {
      const { as, create } = await org();
      const ev = await create({ capacity: 100 });
      await setEventCounters(ev.id, 30, 5);
      const res = await as('PUT', `/api/events/${ev.id}`, { capacity: 34 });
      expect(res.status).toBe(409);
      expect(res.body.code).toBe('capacity_below_sales');
      const ok = await as('PUT', `/api/events/${ev.id}`, { capacity: 35 });
      expect(ok.status).toBe(200);
      expect(ok.body.capacity).toBe(35);
    });
  });

  describe('list', () => {
    let o: Awaited<ReturnType<typeof org>>;
    let early: { id: string };
    let middle: { id: string };
    let late: { id: string };
    let percent: { id: string };
    let underscore: { id: string };
    beforeAll(async () => {
      o = await org();
      early = await o.create({
        name: 'Early Bird Gig',
        starts_at: '2030-01-10T20:00:00Z',
        ends_at: '2030-01-10T23:00:00Z',
      });
      middle = await o.create({
        name: 'Spring Fling',
        description: 'Garden party with JAZZ',
        starts_at: '2030-04-10T20:00:00Z',
        ends_at: '2030-04-10T23:00:00Z',
      });
      late = await o.create({
        name: 'Winter Ball',
        starts_at: '2030-11-10T20:00:00Z',
        ends_at: '2030-11-10T23:00:00Z',
        venue: { name: 'Kurhaus', city: 'Wiesbaden', country: 'DE' },
      });
      percent = await o.create({
        name: '100% Techno',
        starts_at: '2030-06-10T20:00:00Z',
        ends_at: '2030-06-10T23:00:00Z',
      });
      underscore = await o.create({
        name: 'snake_case meetup',
        starts_at: '2030-07-10T20:00:00Z',
        ends_at: '2030-07-10T23:00:00Z',
      });
      // Looks like a match if % or _ were wildcards.
      await o.create({
        name: '1000 Techno',
        starts_at: '2030-08-10T20:00:00Z',
        ends_at: '2030-08-10T23:00:00Z',
      });
      await o.create({
        name: 'snakeXcase',
        starts_at: '2030-09-10T20:00:00Z',
        ends_at: '2030-09-10T23:00:00Z',
      });
      expect((await o.as('POST', `/api/events/${middle.id}/publish`)).status).toBe(200);
      expect((await o.as('POST', `/api/events/${late.id}/publish`)).status).toBe(200);
    });

    it('lists soonest first', async () => {
      const res = await o.as('GET', '/api/events');
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ object: 'list', has_more: false, next_cursor: null });
      expect(res.body.data).toHaveLength(7);
      const starts = res.body.data.map((e: { starts_at: string }) => e.starts_at);
      expect(starts).toEqual([...starts].sort());
      expect(res.body.data[0].id).toBe(early.id);
      expect(res.body.data[6].id).toBe(late.id);
    });

    it('filters by status', async () => {
      const published = await o.as('GET', '/api/events?status=published');
      expect(ids(published.body)).toEqual([middle.id, late.id]);
      const drafts = await o.as('GET', '/api/events?status=draft');
      expect(drafts.body.data).toHaveLength(5);
      expect(drafts.body.data.every((e: { status: string }) => e.status === 'draft')).toBe(true);
      const bad = await o.as('GET', '/api/events?status=sold');
      expect(bad.status).toBe(400);
      expect(paths(bad.body)).toEqual(['status']);
    });

    it('filters by start time: starts_after inclusive, starts_before exclusive', async () => {
      const res = await o.as(
        'GET',
        `/api/events?starts_after=${encodeURIComponent('2030-04-10T22:00:00+02:00')}&starts_before=2030-06-10T20:00:00Z`,
      );
      expect(res.status).toBe(200);
      expect(ids(res.body)).toEqual([middle.id]);
      const after = await o.as('GET', '/api/events?starts_after=2030-10-01T00:00:00Z');
      expect(ids(after.body)).toEqual([late.id]);
      const before = await o.as('GET', '/api/events?starts_before=2030-04-10T20:00:00Z');
      expect(ids(before.body)).toEqual([early.id]);
      const combined = await o.as('GET', '/api/events?status=draft&starts_before=2030-07-01T00:00:00Z');
      expect(ids(combined.body)).toEqual([early.id, percent.id]);
      const bad = await o.as('GET', '/api/events?starts_after=yesterday');
      expect(bad.status).toBe(400);
    });

    it('searches name, description and venue case-insensitively', async () => {
      const byName = await o.as('GET', '/api/events?q=winter');
      expect(ids(byName.body)).toEqual([late.id]);
      const byDescription = await o.as('GET', '/api/events?q=jazz');
      expect(ids(byDescription.body)).toEqual([middle.id]);
      const byCity = await o.as('GET', '/api/events?q=WIESBADEN');
      expect(ids(byCity.body)).toEqual([late.id]);
      const bySlug = await o.as('GET', '/api/events?q=early-bird');
      expect(ids(bySlug.body)).toEqual([early.id]);
      const none = await o.as('GET', '/api/events?q=nothing-like-this');
      expect(none.body.data).toEqual([]);
    });

    it('matches % and _ in the query literally', async () => {
      const pct = await o.as('GET', `/api/events?q=${encodeURIComponent('100%')}`);
      expect(pct.status).toBe(200);
      expect(ids(pct.body)).toEqual([percent.id]);
      const under = await o.as('GET', `/api/events?q=${encodeURIComponent('snake_case')}`);
      expect(ids(under.body)).toEqual([underscore.id]);
      const backslash = await o.as('GET', `/api/events?q=${encodeURIComponent('\\')}`);
      expect(backslash.status).toBe(200);
      expect(backslash.body.data).toEqual([]);
    });

    it('walks pages with starting_after=next_cursor', async () => {
      const p = await org();
      const created: string[] = [];
      // Two share a start time, so the cursor must break ties by id.
      for (const day of ['05', '01', '03', '03', '02'])
        created.push(
          (await p.create({ starts_at: `2031-03-${day}T20:00:00Z`, ends_at: `2031-03-${day}T23:00:00Z` })).id,
        );
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const query: string = cursor ? `&starting_after=${encodeURIComponent(cursor)}` : '';
        const res = await p.as('GET', `/api/events?limit=2${query}`);
        expect(res.status).toBe(200);
        pages++;
        expect(res.body.data.length).toBeLessThanOrEqual(2);
        seen.push(...ids(res.body));
        expect(res.body.has_more).toBe(res.body.next_cursor !== null);
        cursor = res.body.next_cursor;
        if (pages === 3) {
          expect(res.body.has_more).toBe(false);
          expect(res.body.data).toHaveLength(1);
        }
      } while (cursor && pages < 10);
      expect(pages).toBe(3);
      expect(seen).toHaveLength(5);
      expect(new Set(seen).size).toBe(5);
      expect(new Set(seen)).toEqual(new Set(created));
      const all = await p.as('GET', '/api/events?limit=100');
      expect(seen).toEqual(ids(all.body));
      expect(seen[0]).toBe(created[1]);
      expect(seen[4]).toBe(created[0]);
    });

    it('refuses a cursor it did not issue (400 invalid_cursor)', async () => {
      for (const cursor of [
        'garbage',
        Buffer.from('["only-one"]').toString('base64url'),
        Buffer.from('{}').toString('base64url'),
      ]) {
        const res = await o.as('GET', `/api/events?starting_after=${cursor}`);
        expect(res.status).toBe(400);
        expect(res.body.code).toBe('invalid_cursor');
      }
    });
  });

  describe('transitions', () => {
    it('publishes a draft once', async () => {
      const { as, create } = await org();
      const ev = await create();
      const res = await as('POST', `/api/events/${ev.id}/publish`);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ id: ev.id, status: 'published' });
      expect((await as('GET', `/api/events/${ev.id}`)).body.status).toBe('published');
      const again = await as('POST', `/api/events/${ev.id}/publish`);
      expect(again.status).toBe(409);
      expect(again.body.code).toBe('invalid_transition');
    });

    it('cancels a draft or a published event, and nothing after that', async () => {
      const { as, create } = await org();
      const draft = await create();
      const c1 = await as('POST', `/api/events/${draft.id}/cancel`);
      expect(c1.status).toBe(200);
      expect(c1.body.status).toBe('cancelled');
      const published = await create();
      await as('POST', `/api/events/${published.id}/publish`);
      const c2 = await as('POST', `/api/events/${published.id}/cancel`);
      expect(c2.body.status).toBe('cancelled');
      for (const action of ['publish', 'cancel', 'complete']) {
        const res = await as('POST', `/api/events/${published.id}/${action}`);
        expect(res.status).toBe(409);
        expect(res.body.code).toBe('invalid_transition');
      }
      expect((await as('GET', `/api/events/${published.id}`)).body.status).toBe('cancelled');
    });

    it('completes only a published event', async () => {
      const { as, create } = await org();
      const ev = await create();
      const fromDraft = await as('POST', `/api/events/${ev.id}/complete`);
      expect(fromDraft.status).toBe(409);
      expect(fromDraft.body.code).toBe('invalid_transition');
      expect((await as('GET', `/api/events/${ev.id}`)).body.status).toBe('draft');
      await as('POST', `/api/events/${ev.id}/publish`);
      const done = await as('POST', `/api/events/${ev.id}/complete`);
      expect(done.status).toBe(200);
      expect(done.body.status).toBe('completed');
      const cancel = await as('POST', `/api/events/${ev.id}/cancel`);
      expect(cancel.status).toBe(409);
    });

    it('two racing publishes: exactly one wins', async () => {
      const { as, create } = await org();
      const ev = await create();
      const results = await Promise.all(
        Array.from({ length: 5 }, () => as('POST', `/api/events/${ev.id}/publish`)),
      );
      const statuses = results.map((r) => r.status).sort();
      expect(statuses).toEqual([200, 409, 409, 409, 409]);
    });
  });

  describe('delete', () => {
    it('deletes an event without orders, with its ticket types', async () => {
      const { as, create, createType } = await org();
      const ev = await create();
      const tt = await createType(ev.id);
      const res = await as('DELETE', `/api/events/${ev.id}`);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ id: ev.id, object: 'event', deleted: true });
      expect((await as('GET', `/api/events/${ev.id}`)).status).toBe(404);
      expect((await as('DELETE', `/api/events/${ev.id}`)).status).toBe(404);
      expect((await as('PUT', `/api/ticket-types/${tt.id}`, { name: 'x' })).status).toBe(404);
      expect((await as('GET', '/api/events')).body.data).toEqual([]);
    });

    it('refuses to delete an event that has orders (409 event_has_orders)', async () => {
      const { as, create } = await org();
      const ev = await create();
      await setEventCounters(ev.id, 1);
      const res = await as('DELETE', `/api/events/${ev.id}`);
      expect(res.status).toBe(409);
      expect(res.body.code).toBe('event_has_orders');
      expect((await as('GET', `/api/events/${ev.id}`)).status).toBe(200);
      await setEventCounters(ev.id, 0, 2);
      const held = await as('DELETE', `/api/events/${ev.id}`);
      expect(held.status).toBe(409);
      expect(held.body.code).toBe('event_has_orders');
    });
  });

  describe('ticket types', () => {
    it('creates a type with a price in the event currency', async () => {
      const { as, create } = await org();
      const ev = await create();
      const res = await as('POST', `/api/events/${ev.id}/ticket-types`, {
        name: 'VIP',
        description: 'Front row',
        price: { amount: 9900, currency: 'eur' },
        capacity: 20,
        max_per_order: 4,
      });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({
        object: 'ticket_type',
        event_id: ev.id,
        name: 'VIP',
        description: 'Front row',
        price: { amount: 9900, currency: 'EUR' },
        capacity: 20,
        min_per_order: 1,
        max_per_order: 4,
        hidden: false,
        sort_order: 0,
        sales_start_at: null,
        sales_end_at: null,
      });
      expect(res.body.id).toMatch(/^tt_[0-9a-z]{26}$/);
    });

    it('refuses a price in another currency (422, path price.currency)', async () => {
      const { as, create } = await org();
      const ev = await create();
      const res = await as('POST', `/api/events/${ev.id}/ticket-types`, {
        name: 'Dollar seat',
        price: { amount: 1000, currency: 'USD' },
        capacity: 10,
      });
      expect(res.status).toBe(422);
      expect(res.body.code).toBe('validation_failed');
      expect(paths(res.body)).toEqual(['price.currency']);
      const list = await as('GET', `/api/tickets/types?event=${ev.id}&include_hidden=true`);
      expect(list.body.data).toEqual([]);
    });

    it('refuses fractional or negative prices', async () => {
      const { as, create } = await org();
      const ev = await create();
      for (const amount of [12.5, -1]) {
        const res = await as('POST', `/api/events/${ev.id}/ticket-types`, {
          name: 'Odd',
          price: { amount, currency: 'EUR' },
          capacity: 10,
        });
        expect(res.status).toBe(422);
        expect(paths(res.body)).toEqual(['price.amount']);
      }
    });

    it('refuses max_per_order below min_per_order (422), on create and on merged update', async () => {
      const { as, create, createType } = await org();
      const ev = await create();
      const res = await as('POST', `/api/events/${ev.id}/ticket-types`, {
        name: 'Group',
        price: { amount: 0, currency: 'EUR' },
        capacity: 10,
        min_per_order: 4,
        max_per_order: 2,
      });
      expect(res.status).toBe(422);
      expect(paths(res.body)).toEqual(['max_per_order']);
      const tt = await createType(ev.id, { min_per_order: 4, max_per_order: 6 });
      const upd = await as('PUT', `/api/ticket-types/${tt.id}`, { max_per_order: 3 });
      expect(upd.status).toBe(422);
      expect(paths(upd.body)).toEqual(['max_per_order']);
      const ok = await as('PUT', `/api/ticket-types/${tt.id}`, { max_per_order: null });
      expect(ok.status).toBe(200);
      expect(ok.body.max_per_order).toBeNull();
    });

    it('lists types in sort order, hiding hidden ones unless include_hidden=true', async () => {
      const { as, create, createType } = await org();
      const ev = await create();
      const b = await createType(ev.id, { name: 'B', sort_order: 2 });
      const a = await createType(ev.id, { name: 'A', sort_order: 1 });
      const comp = await createType(ev.id, {
        name: 'Comp',
        hidden: true,
        price: { amount: 0, currency: 'EUR' },
      });
      const other = await create({ name: 'Other' });
      await createType(other.id, { name: 'Elsewhere' });

      const visible = await as('GET', `/api/tickets/types?event=${ev.id}`);
      expect(visible.status).toBe(200);
      expect(visible.body).toMatchObject({ object: 'list', has_more: false, next_cursor: null });
      expect(ids(visible.body)).toEqual([a.id, b.id]);
      const all = await as('GET', `/api/tickets/types?event=${ev.id}&include_hidden=true`);
      expect(ids(all.body)).toEqual([comp.id, a.id, b.id]);
      expect(all.body.data[0].hidden).toBe(true);
      const explicit = await as('GET', `/api/tickets/types?event=${ev.id}&include_hidden=false`);
      expect(ids(explicit.body)).toEqual([a.id, b.id]);
      const missing = await as('GET', '/api/tickets/types');
      expect(missing.status).toBe(400);
      const unknown = await as('GET', '/api/tickets/types?event=evt_01jd6x3k7qf0v8c6w2x9yq4e5b');
      expect(unknown.status).toBe(404);
    });

    it('updates a type, merging fields', async () => {
      const { as, create, createType } = await org();
      const ev = await create();
      const tt = await createType(ev.id, { description: 'Standing' });
      const res = await as('PUT', `/api/ticket-types/${tt.id}`, {
        name: 'GA',
        price: { amount: 3000, currency: 'EUR' },
        hidden: true,
      });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        id: tt.id,
        name: 'GA',
        description: 'Standing',
        price: { amount: 3000, currency: 'EUR' },
        capacity: 50,
        hidden: true,
      });
      const list = await as('GET', `/api/tickets/types?event=${ev.id}&include_hidden=true`);
      expect(list.body.data[0]).toEqual(res.body);
      const wrongCurrency = await as('PUT', `/api/ticket-types/${tt.id}`, {
        price: { amount: 3000, currency: 'CHF' },
      });
      expect(wrongCurrency.status).toBe(422);
      expect(paths(wrongCurrency.body)).toEqual(['price.currency']);
    });

    it('checks the merged sales window on update (422)', async () => {
      const { as, create, createType } = await org();
      const ev = await create();
      const tt = await createType(ev.id, {
        sales_start_at: '2030-01-01T00:00:00Z',
        sales_end_at: '2030-02-01T00:00:00Z',
      });
      const res = await as('PUT', `/api/ticket-types/${tt.id}`, { sales_end_at: '2029-12-31T00:00:00Z' });
      expect(res.status).toBe(422);
      expect(paths(res.body)).toEqual(['sales_end_at']);
      const ok = await as('PUT', `/api/ticket-types/${tt.id}`, { sales_start_at: null });
      expect(ok.status).toBe(200);
      expect(ok.body).toMatchObject({ sales_start_at: null, sales_end_at: '2030-02-01T00:00:00.000Z' });
    });

    it('refuses a capacity below sold + held (409 capacity_below_sales)', async () => {
      const { as, create, createType } = await org();
      const ev = await create();
      const tt = await createType(ev.id, { capacity: 50 });
      await setTypeCounters(tt.id, 10, 5);
      const res = await as('PUT', `/api/ticket-types/${tt.id}`, { capacity: 14 });
      expect(res.status).toBe(409);
      expect(res.body.code).toBe('capacity_below_sales');
      const list = await as('GET', `/api/tickets/types?event=${ev.id}`);
      expect(list.body.data[0].capacity).toBe(50);
      const ok = await as('PUT', `/api/ticket-types/${tt.id}`, { capacity: 15 });
      expect(ok.status).toBe(200);
      expect(ok.body.capacity).toBe(15);
    });

    it('deletes a type without sales, and refuses one with sales (409 ticket_type_has_sales)', async () => {
      const { as, create, createType } = await org();
      const ev = await create();
      const unsold = await createType(ev.id, { name: 'Unsold' });
      const sold = await createType(ev.id, { name: 'Sold' });
      await setTypeCounters(sold.id, 1);
      const del = await as('DELETE', `/api/ticket-types/${unsold.id}`);
      expect(del.status).toBe(200);
      expect(del.body).toEqual({ id: unsold.id, object: 'ticket_type', deleted: true });
      const refused = await as('DELETE', `/api/ticket-types/${sold.id}`);
      expect(refused.status).toBe(409);
      expect(refused.body.code).toBe('ticket_type_has_sales');
      const list = await as('GET', `/api/tickets/types?event=${ev.id}`);
      expect(ids(list.body)).toEqual([sold.id]);
      expect((await as('DELETE', `/api/ticket-types/${unsold.id}`)).status).toBe(404);
    });
  });

  describe('availability', () => {
    const availability = (as: Awaited<ReturnType<typeof org>>['as'], eventId: string) =>
      as('GET', `/api/tickets/availability?event=${eventId}`);

    it('a draft is not on sale (event_not_published); a published event is', async () => {
      const { as, create, createType } = await org();
      const ev = await create({ capacity: null });
      const tt = await createType(ev.id, { capacity: 40 });
      const draft = await availability(as, ev.id);
      expect(draft.status).toBe(200);
      expect(draft.body).toEqual({
        object: 'availability',
        event_id: ev.id,
        capacity: null,
        sold: 0,
        held: 0,
        available: null,
        ticket_types: [
          {
            ticket_type_id: tt.id,
            name: tt.name,
            price: { amount: 2500, currency: 'EUR' },
            capacity: 40,
            sold: 0,
            held: 0,
            available: 40,
            on_sale: false,
            reason: 'event_not_published',
          },
        ],
      });
      await as('POST', `/api/events/${ev.id}/publish`);
      const live = await availability(as, ev.id);
      expect(live.body.ticket_types[0]).toMatchObject({ on_sale: true, reason: null, available: 40 });
      await as('POST', `/api/events/${ev.id}/cancel`);
      const cancelled = await availability(as, ev.id);
      expect(cancelled.body.ticket_types[0]).toMatchObject({ on_sale: false, reason: 'event_cancelled' });
    });

    it('a type whose sales window has not opened is not on sale (sales_not_started)', async () => {
      const { as, create, createType } = await org();
      const ev = await create();
      const soon = await createType(ev.id, { name: 'Later', sales_start_at: '2030-06-01T00:00:00Z' });
      const now = await createType(ev.id, { name: 'Now', sort_order: 1 });
      const over = await createType(ev.id, {
        name: 'Over',
        sort_order: 2,
        sales_start_at: '2020-01-01T00:00:00Z',
        sales_end_at: '2020-02-01T00:00:00Z',
      });
      await as('POST', `/api/events/${ev.id}/publish`);
      const res = await availability(as, ev.id);
      const byId = new Map(
        res.body.ticket_types.map((t: { ticket_type_id: string }) => [t.ticket_type_id, t] as const),
      );
      expect(byId.get(soon.id)).toMatchObject({ on_sale: false, reason: 'sales_not_started' });
      expect(byId.get(now.id)).toMatchObject({ on_sale: true, reason: null });
      expect(byId.get(over.id)).toMatchObject({ on_sale: false, reason: 'sales_ended' });
    });

    it("the event's capacity limits what a type can sell", async () => {
      const { as, create, createType } = await org();
      const ev = await create({ capacity: 30 });
      const big = await createType(ev.id, { capacity: 100 });
      const small = await createType(ev.id, { capacity: 10, sort_order: 1 });
      await as('POST', `/api/events/${ev.id}/publish`);
      await setEventCounters(ev.id, 22, 3);
      await setTypeCounters(big.id, 22, 3);
      const res = await availability(as, ev.id);
      expect(res.body).toMatchObject({ capacity: 30, sold: 22, held: 3, available: 5 });
      expect(res.body.ticket_types).toEqual([
        expect.objectContaining({ ticket_type_id: big.id, capacity: 100, sold: 22, held: 3, available: 5 }),
        expect.objectContaining({ ticket_type_id: small.id, capacity: 10, sold: 0, held: 0, available: 5 }),
      ]);
      expect(res.body.ticket_types.every((t: { on_sale: boolean }) => t.on_sale)).toBe(true);
    });

    it('is sold out when the counters fill the capacity', async () => {
      const { as, create, createType } = await org();
      const ev = await create({ capacity: 100 });
      const full = await createType(ev.id, { capacity: 10 });
      const open = await createType(ev.id, { capacity: 10, sort_order: 1 });
      await as('POST', `/api/events/${ev.id}/publish`);
      await setTypeCounters(full.id, 8, 2);
      await setEventCounters(ev.id, 8, 2);
      const typeFull = await availability(as, ev.id);
      expect(typeFull.body.ticket_types[0]).toMatchObject({
        ticket_type_id: full.id,
        available: 0,
        on_sale: false,
        reason: 'sold_out',
      });
      expect(typeFull.body.ticket_types[1]).toMatchObject({
        ticket_type_id: open.id,
        available: 10,
        on_sale: true,
      });
      await setEventCounters(ev.id, 100);
      const eventFull = await availability(as, ev.id);
      expect(eventFull.body.available).toBe(0);
      for (const t of eventFull.body.ticket_types)
        expect(t).toMatchObject({ available: 0, reason: 'sold_out' });
    });

    it("the event's own sales window and end apply to every type", async () => {
      const { as, create, createType } = await org();
      const notYet = await create({ name: 'Not yet', sales_start_at: '2030-01-01T00:00:00Z' });
      await createType(notYet.id);
      await as('POST', `/api/events/${notYet.id}/publish`);
      const a = await availability(as, notYet.id);
      expect(a.body.ticket_types[0]).toMatchObject({ on_sale: false, reason: 'sales_not_started' });

      const past = await create({
        name: 'Past',
        starts_at: '2020-05-01T18:00:00Z',
        ends_at: '2020-05-01T22:00:00Z',
        allow_past: true,
      });
      await createType(past.id);
      await as('POST', `/api/events/${past.id}/publish`);
      const p = await availability(as, past.id);
      expect(p.body.ticket_types[0]).toMatchObject({ on_sale: false, reason: 'event_ended' });

      await as('POST', `/api/events/${past.id}/complete`);
      const done = await availability(as, past.id);
      expect(done.body.ticket_types[0]).toMatchObject({ on_sale: false, reason: 'event_completed' });
    });

    it('answers 400 without an event and 404 for an unknown one', async () => {
      const { as } = await org();
      expect((await as('GET', '/api/tickets/availability')).status).toBe(400);
      expect((await availability(as, 'evt_01jd6x3k7qf0v8c6w2x9yq4e5b')).status).toBe(404);
    });
  });

  describe('idempotency', () => {
    it('replays a repeated POST with the same Idempotency-Key and body', async () => {
      const { as } = await org();
      const body = sampleEvent({ name: 'Once Only' });
      const first = await as('POST', '/api/events', body, { 'idempotency-key': 'create-once' });
      expect(first.status).toBe(201);
      expect(first.headers.get('idempotent-replayed')).toBeNull();
      const second = await as('POST', '/api/events', body, { 'idempotency-key': 'create-once' });
      expect(second.status).toBe(201);
      expect(second.headers.get('idempotent-replayed')).toBe('true');
      expect(second.body).toEqual(first.body);
      const list = await as('GET', '/api/events');
      expect(ids(list.body)).toEqual([first.body.id]);
      // Without a key, the same body is a new request.
      const third = await as('POST', '/api/events', body);
      expect(third.body.id).not.toBe(first.body.id);
      expect(third.body.slug).toBe('once-only-2');
    });

    it('refuses the same key with a different body (409 idempotency_key_reused)', async () => {
      const { as } = await org();
      const first = await as('POST', '/api/events', sampleEvent({ name: 'A' }), { 'idempotency-key': 'k1' });
      expect(first.status).toBe(201);
      const res = await as('POST', '/api/events', sampleEvent({ name: 'B' }), { 'idempotency-key': 'k1' });
      expect(res.status).toBe(409);
      expect(res.body.code).toBe('idempotency_key_reused');
      const list = await as('GET', '/api/events');
      expect(list.body.data.map((e: { name: string }) => e.name)).toEqual(['A']);
    });

    it('replays a body-less POST (publish) instead of answering 409', async () => {
      const { as, create } = await org();
      const ev = await create();
      const first = await as('POST', `/api/events/${ev.id}/publish`, undefined, {
        'idempotency-key': 'pub-1',
      });
      expect(first.status).toBe(200);
      const second = await as('POST', `/api/events/${ev.id}/publish`, undefined, {
        'idempotency-key': 'pub-1',
      });
      expect(second.status).toBe(200);
      expect(second.headers.get('idempotent-replayed')).toBe('true');
      expect(second.body).toEqual(first.body);
      const fresh = await as('POST', `/api/events/${ev.id}/publish`, undefined, {
        'idempotency-key': 'pub-2',
      });
      expect(fresh.status).toBe(409);
    });

    it('keys are per organization', async () => {
      const a = await org();
      const b = await org();
      const ra = await a.as('POST', '/api/events', sampleEvent(), { 'idempotency-key': 'shared-key' });
      const rb = await b.as('POST', '/api/events', sampleEvent(), { 'idempotency-key': 'shared-key' });
      expect(rb.status).toBe(201);
      expect(rb.headers.get('idempotent-replayed')).toBeNull();
      expect(rb.body.id).not.toBe(ra.body.id);
    });

    it('replays a client error as such', async () => {
      const { as } = await org();
      const bad = sampleEvent({ slug: 'dup' });
      await as('POST', '/api/events', bad);
      const first = await as('POST', '/api/events', bad, { 'idempotency-key': 'will-conflict' });
      expect(first.status).toBe(409);
      const second = await as('POST', '/api/events', bad, { 'idempotency-key': 'will-conflict' });
      expect(second.status).toBe(409);
      expect(second.body.code).toBe('slug_taken');
      expect(second.headers.get('idempotent-replayed')).toBe('true');
      expect(second.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    });

    it('10 parallel POSTs with one key create exactly one event', async () => {
      const { as } = await org();
      const body = sampleEvent({ name: 'Race' });
      const results = await Promise.all(
        Array.from({ length: 10 }, () => as('POST', '/api/events', body, { 'idempotency-key': 'race-key' })),
      );
      const created = results.filter((r) => r.status === 201);
      const originals = created.filter((r) => r.headers.get('idempotent-replayed') !== 'true');
      expect(originals).toHaveLength(1);
      expect(new Set(created.map((r) => r.body.id)).size).toBe(1);
      for (const r of results.filter((x) => x.status !== 201)) {
        expect(r.status).toBe(409);
        expect(r.body.code).toBe('idempotency_request_in_progress');
      }
      const list = await as('GET', '/api/events?limit=100');
      expect(ids(list.body)).toEqual([originals[0]!.body.id]);
      // Once done, the key replays.
      const after = await as('POST', '/api/events', body, { 'idempotency-key': 'race-key' });
      expect(after.status).toBe(201);
      expect(after.body.id).toBe(originals[0]!.body.id);
    });
  });

  describe('tenant isolation', () => {
    let a: Awaited<ReturnType<typeof org>>;
    let b: Awaited<ReturnType<typeof org>>;
    let ev: { id: string; name: string };
    let tt: { id: string };
    beforeAll(async () => {
      a = await org();
      b = await org();
      ev = await a.create({ name: 'A private affair' });
      tt = await a.createType(ev.id);
      await b.create({ name: 'B own event' });
    });

    it("another organization gets 404 (not 403) for an event's every route", async () => {
      const attempts = [
        b.as('GET', `/api/events/${ev.id}`),
        b.as('PUT', `/api/events/${ev.id}`, { name: 'Hijacked' }),
        b.as('DELETE', `/api/events/${ev.id}`),
        b.as('POST', `/api/events/${ev.id}/publish`),
        b.as('POST', `/api/events/${ev.id}/cancel`),
        b.as('POST', `/api/events/${ev.id}/complete`),
        b.as('POST', `/api/events/${ev.id}/ticket-types`, {
          name: 'Sneaky',
          price: { amount: 0, currency: 'EUR' },
          capacity: 1,
        }),
        b.as('GET', `/api/tickets/types?event=${ev.id}`),
        b.as('GET', `/api/tickets/types?event=${ev.id}&include_hidden=true`),
        b.as('PUT', `/api/ticket-types/${tt.id}`, { capacity: 0 }),
        b.as('DELETE', `/api/ticket-types/${tt.id}`),
        b.as('GET', `/api/tickets/availability?event=${ev.id}`),
      ];
      for (const res of await Promise.all(attempts)) {
        expect(res.status).toBe(404);
        expect(res.body.code).toBe('not_found');
      }
      const still = await a.as('GET', `/api/events/${ev.id}`);
      expect(still.body).toMatchObject({ name: 'A private affair', status: 'draft' });
      const types = await a.as('GET', `/api/tickets/types?event=${ev.id}`);
      expect(types.body.data).toHaveLength(1);
      expect(types.body.data[0]).toMatchObject({ id: tt.id, capacity: 50 });
    });

    it("B's list and search do not include A's events", async () => {
      const list = await b.as('GET', '/api/events?limit=100');
      expect(list.body.data.map((e: { name: string }) => e.name)).toEqual(['B own event']);
      const search = await b.as('GET', '/api/events?q=private');
      expect(search.body.data).toEqual([]);
      const aList = await a.as('GET', '/api/events?limit=100');
      expect(ids(aList.body)).toEqual([ev.id]);
    });

    it("B's API key sees nothing of A either", async () => {
      const key = await b.as('POST', '/api/api-keys', { name: 'B key' });
      const res = await call('GET', `/api/events/${ev.id}`, { token: key.body.secret });
      expect(res.status).toBe(404);
      const list = await call('GET', '/api/events', { token: key.body.secret });
      expect(ids(list.body)).not.toContain(ev.id);
    });
  });
});
