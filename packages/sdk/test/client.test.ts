import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, sampleEvent, startTestServer, type TestServer } from '../../server/test/harness.js';
import {
  AuthenticationError,
  ConflictError,
  ConnectionError,
  NotFoundError,
  PermissionError,
  RateLimitError,
  Tickets,
  ValidationError,
} from '../src/index.js';
import { flakyProxy } from './flaky-proxy.js';

describe.each(DIALECTS)('%s: SDK against the real server', (dialect) => {
  let s: TestServer;
  let tickets: Tickets;
  beforeAll(async () => {
    s = await startTestServer(dialect);
    tickets = new Tickets({ baseUrl: s.url });
    await tickets.auth.register({ email: 'sdk@example.com', password: 'correct horse battery', name: 'Sam' });
  });
  afterAll(() => s.stop());

  it('signs up and uses the session for later calls', async () => {
    const me = await tickets.me.get();
    expect(me.user?.email).toBe('sdk@example.com');
    expect(me.role).toBe('owner');
  });

  it('creates an event with ticket types and reads availability', async () => {
    const event = await tickets.events.create(sampleEvent({ name: 'SDK Night' }));
    expect(event.status).toBe('draft');
    const ga = await tickets.ticketTypes.create(event.id, {
      name: 'GA',
      price: { amount: 2500, currency: 'EUR' },
      capacity: 40,
    });
    await tickets.ticketTypes.create(event.id, {
      name: 'Crew',
      price: { amount: 0, currency: 'EUR' },
      capacity: 5,
      hidden: true,
    });
    expect((await tickets.ticketTypes.list(event.id)).map((t) => t.name)).toEqual(['GA']);
    expect(await tickets.ticketTypes.list(event.id, { includeHidden: true })).toHaveLength(2);
    await tickets.events.publish(event.id);
    const availability = await tickets.ticketTypes.availability(event.id);
    expect(availability.ticket_types.find((t) => t.ticket_type_id === ga.id)).toMatchObject({
      available: 40,
      on_sale: true,
    });
  });

  it('attaches response metadata without making it part of the data', async () => {
    const event = await tickets.events.create(sampleEvent({ name: 'Meta' }));
    const meta = (event as unknown as { lastResponse: { requestId: string; idempotencyKey: string } })
      .lastResponse;
    expect(meta.requestId).toMatch(/^req_/);
    expect(meta.idempotencyKey).toMatch(/[0-9a-f-]{36}/);
    expect(Object.keys(event)).not.toContain('lastResponse');
  });

  it('walks every page with for-await and toArray', async () => {
    const own = new Tickets({ baseUrl: s.url });
    await own.auth.register({
      email: `pages-${dialect}@example.com`,
      password: 'correct horse battery',
      name: 'P',
    });
    for (let i = 0; i < 7; i++)
      await own.events.create(
        sampleEvent({
          name: `Paged ${i}`,
          starts_at: `2031-0${i + 1}-01T20:00:00Z`,
          ends_at: `2031-0${i + 1}-01T23:00:00Z`,
        }),
      );
    const names: string[] = [];
    for await (const e of own.events.list({ limit: 3 })) names.push(e.name);
    expect(names).toEqual(['Paged 0', 'Paged 1', 'Paged 2', 'Paged 3', 'Paged 4', 'Paged 5', 'Paged 6']);
    expect(await own.events.list({ limit: 2 }).toArray({ limit: 5 })).toHaveLength(5);
    const first = await own.events.list({ limit: 2 });
    expect(first.has_more).toBe(true);
  });

  it('throws a typed error per failure kind, with code, detail and request id', async () => {
    const bad = await tickets.events
      .create({ ...sampleEvent(), timezone: 'Nowhere/City' })
      .catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(ValidationError);
    expect((bad as ValidationError).errors[0]?.path).toBe('timezone');
    expect((bad as ValidationError).requestId).toMatch(/^req_/);

    expect(
      await tickets.events.get('evt_01jd6x3k7qf0v8c6w2x9yq4e5b').catch((e: unknown) => e),
    ).toBeInstanceOf(NotFoundError);
    const event = await tickets.events.create(sampleEvent({ name: 'Twice' }));
    await tickets.events.publish(event.id);
    const again = await tickets.events.publish(event.id).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(ConflictError);
    expect((again as ConflictError).code).toBe('invalid_transition');

    const anonymous = new Tickets({ baseUrl: s.url });
    expect(await anonymous.events.list().catch((e: unknown) => e)).toBeInstanceOf(AuthenticationError);

    const key = await tickets.apiKeys.create({ name: 'door', scopes: ['checkin'] });
    const door = new Tickets({ baseUrl: s.url, token: key.secret });
    expect(await door.events.list().catch((e: unknown) => e)).toBeInstanceOf(PermissionError);
  });

  it('refreshes an expired access token by itself and reports the new session', async () => {
    // 3 s, not 1: the refreshed token must outlive the retried calls even on a busy machine.
    const short = await startTestServer(dialect, { TICKETS_ACCESS_TOKEN_TTL: '3' });
    try {
      const sessions: string[] = [];
      const client = new Tickets({
        baseUrl: short.url,
        onSession: (s) => void sessions.push(s.refresh_token),
      });
      await client.auth.register({
        email: 'refresh@example.com',
        password: 'correct horse battery',
        name: 'R',
      });
      await new Promise((r) => setTimeout(r, 3100));
      // Two calls at once share one refresh (a second refresh would reuse a rotated token and sign out).
      const [a, b] = await Promise.all([client.me.get(), client.events.list({ limit: 1 })]);
      expect(a.user?.email).toBe('refresh@example.com');
      expect(b.object).toBe('list');
      expect(sessions).toHaveLength(2);
    } finally {
      await short.stop();
    }
  });

  describe('retries', () => {
    let proxy: Awaited<ReturnType<typeof flakyProxy>>;
    let token: string;
    beforeAll(async () => {
      proxy = await flakyProxy(s.url);
      const session = await new Tickets({ baseUrl: s.url }).auth.register({
        email: `retry-${dialect}@example.com`,
        password: 'correct horse battery',
        name: 'Rita',
      });
      token = session.access_token;
    });
    afterAll(() => proxy.close());

    it('retries 503 and 429 (honouring Retry-After) with one idempotency key', async () => {
      const client = new Tickets({ baseUrl: proxy.url, token, maxRetries: 3 });
      proxy.plan.push('503', '429:1');
      proxy.seen.length = 0;
      const started = Date.now();
      const event = await client.events.create(sampleEvent({ name: 'Retried' }));
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      expect(proxy.seen).toHaveLength(3);
      expect(new Set(proxy.seen.map((r) => r.idempotencyKey)).size).toBe(1);
      expect(event.name).toBe('Retried');
    });

    it('resends a POST whose answer was lost, and the server applies it once', async () => {
      const client = new Tickets({ baseUrl: proxy.url, token, maxRetries: 2 });
      proxy.plan.push('drop');
      proxy.seen.length = 0;
      const event = await client.events.create(sampleEvent({ name: 'Lost answer' }));
      expect(proxy.seen).toHaveLength(2);
      const all = await new Tickets({ baseUrl: s.url, token }).events.list({ q: 'Lost answer' }).toArray();
      expect(all.map((e) => e.id)).toEqual([event.id]);
    });

    it('gives up after maxRetries with the last error, and on a long Retry-After at once', async () => {
      const client = new Tickets({ baseUrl: proxy.url, token, maxRetries: 1 });
      proxy.plan.push('503', '503');
      expect(await client.events.list().catch((e: unknown) => e)).toMatchObject({ status: 503 });
      proxy.plan.push('429:3600');
      const limited = await client.events.list().catch((e: unknown) => e);
      expect(limited).toBeInstanceOf(RateLimitError);
      expect((limited as RateLimitError).retryAfter).toBe(3600);
    });

    it('raises ConnectionError when nothing answers', async () => {
      const client = new Tickets({ baseUrl: 'http://127.0.0.1:9', token, maxRetries: 1 });
      const err = await client.events.list().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectionError);
      expect((err as ConnectionError).status).toBe(0);
    });
  });
});
