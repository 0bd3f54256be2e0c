import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveMetrics } from '../src/observability/metrics-route.js';
import { DIALECTS, eventOnSale, http, signUp, startTestServer, type TestServer } from './harness.js';

const TOKEN = 'metrics-token-0123456789';

/** A scrape as a map from `name{labels}` (labels sorted, instance left out) to its value. */
async function scrape(base: string): Promise<Map<string, number>> {
  const res = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const series = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels = (m[2] ?? '')
      .split(/,(?=[a-zA-Z_]\w*=")/)
      .filter((l) => l && !l.startsWith('instance='))
      .sort()
      .join(',');
    series.set(labels ? `${m[1]}{${labels}}` : m[1]!, Number(m[3]));
  }
  return series;
}

const delta = (before: Map<string, number>, after: Map<string, number>, key: string) =>
  (after.get(key) ?? 0) - (before.get(key) ?? 0);

describe.each(DIALECTS)('%s: GET /metrics', (dialect) => {
  let s: TestServer;
  let call: ReturnType<typeof http>;
  let token: string;
  let eventId: string;
  let typeId: string;

  beforeAll(async () => {
    s = await startTestServer(dialect, {
      TICKETS_METRICS_TOKEN: TOKEN,
      TICKETS_INSTANCE: 'test-1',
      // The test's refund of a 25.00 ticket is "large" here: a security event.
      TICKETS_LARGE_REFUND_THRESHOLD: '2000',
    });
    call = http(s.url);
    token = (await signUp(s.url)).token;
    const e = await eventOnSale(s.url, token, { name: 'Metered' }, [
      { name: 'GA', amount: 2500, capacity: 50 },
    ]);
    eventId = e.eventId;
    typeId = e.typeIds[0]!;
  });
  afterAll(() => s.stop());

  it('answers only with its bearer token, and names the instance', async () => {
    expect((await fetch(`${s.url}/metrics`)).status).toBe(401);
    const wrong = await fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}x` } });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const ok = await fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const text = await ok.text();
    expect(text).toMatch(/^process_cpu_seconds_total\{instance="test-1"\} /m);
    expect(text).toMatch(/^nodejs_eventloop_lag_p99_seconds\{instance="test-1"\} /m);
  });

  it('counts what happens: a sale, a refund, a validation, a failed sign-in, and every request by its route', async () => {
    const before = await scrape(s.url);
    const sold = await call('POST', '/api/tickets/purchase', {
      token,
      body: {
        event: eventId,
        items: [{ ticket_type: typeId, quantity: 3 }],
        buyer: { name: 'Ann', email: 'ann@example.com' },
        payment_method: 'manual',
      },
    });
    expect(sold.status).toBe(201);
    const ticket = sold.body.tickets[0];
    const v = await call('POST', '/api/tickets/validate', {
      token,
      body: { code: ticket.code, device_id: 'door-1', direction: 'entry', event: eventId },
    });
    expect(v.body.result).toBe('admitted');
    const again = await call('POST', '/api/tickets/validate', {
      token,
      body: { code: ticket.code, device_id: 'door-1', direction: 'entry', event: eventId },
    });
    expect(again.body.result).toBe('already_used');
    const refund = await call('POST', `/api/tickets/${sold.body.tickets[1].id}/refund`, { token, body: {} });
    expect(refund.status).toBe(201);
    const login = await call('POST', '/api/auth/login', {
      body: { email: 'nobody@example.com', password: 'wrong password here' },
    });
    expect(login.status).toBe(401);
    await call('GET', `/api/events/${eventId}`, { token });
    await call('GET', '/api/events/evt_01kdoesnotexist0000000000000', { token });

    const after = await scrape(s.url);
    const d = (key: string) => delta(before, after, key);
    expect(d('tickets_tickets_sold_total{channel="box_office"}')).toBe(3);
    expect(d('tickets_orders_total{payment_method="manual",status="paid"}')).toBe(1);
    expect(d('tickets_validations_total{result="admitted"}')).toBe(1);
    expect(d('tickets_validations_total{result="already_used"}')).toBe(1);
    expect(d('tickets_refunds_total{provider="manual",status="succeeded"}')).toBe(1);
    expect(d('tickets_login_failures_total')).toBe(1);
    // The refund was over the threshold: a security event, counted and in the audit log.
    expect(d('tickets_security_events_total{kind="large_refund"}')).toBe(1);
    const raised = await s.db.kysely
      .selectFrom('audit_log')
      .selectAll()
      .where('action', '=', 'security.large_refund')
      .where('subject_id', '=', refund.body.id)
      .executeTakeFirst();
    expect(raised).toMatchObject({
      actor: expect.stringMatching(/^usr_/),
      request_id: refund.headers.get('x-request-id'),
    });
    expect(JSON.parse(raised!.data)).toMatchObject({ amount: 2500, currency: 'EUR' });
    // By the route's template, never the raw path: both GETs of an event are one series.
    expect(d('tickets_http_requests_total{method="GET",route="/api/events/:id",status="200"}')).toBe(1);
    expect(d('tickets_http_requests_total{method="GET",route="/api/events/:id",status="404"}')).toBe(1);
    expect(
      d(
        'tickets_http_request_duration_seconds_count{method="POST",route="/api/tickets/purchase",status="201"}',
      ),
    ).toBe(1);
    expect(d('tickets_db_statement_duration_seconds_count{statement="select"}')).toBeGreaterThan(0);
    expect([...after.keys()].some((k) => k.includes('evt_'))).toBe(false);
    expect(after.get('tickets_outbox_oldest_queued_seconds')).toBeGreaterThanOrEqual(0);
  });

  it('reads the outbox gauges from the database at each scrape', async () => {
    const orgId = (await call('GET', '/api/org', { token })).body.id as string;
    const dead = () =>
      s.db.kysely
        .selectFrom('outbox')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('status', '=', 'dead')
        .where('channel', '=', 'email')
        .executeTakeFirstOrThrow();
    const now = new Date().toISOString();
    await s.db.kysely
      .insertInto('outbox')
      .values(
        [1, 2].map((i) => ({
          id: `msg_dead${i}${Date.now()}`,
          org_id: orgId,
          kind: 'order_confirmation',
          payload: '{}',
          status: 'dead' as const,
          attempts: 5,
          available_at: now,
          created_at: now,
          updated_at: now,
          channel: 'email' as const,
          recipient: 'gone@example.com',
          last_error: 'mailbox does not exist',
        })),
      )
      .execute();
    const scraped = await scrape(s.url);
    expect(scraped.get('tickets_outbox_messages{channel="email",status="dead"}')).toBe(
      Number((await dead()).n),
    );
    expect(Number((await dead()).n)).toBeGreaterThanOrEqual(2);
  });
});

describe('sqlite: /metrics without a token configured', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer('sqlite');
  });
  afterAll(() => s.stop());
  it('is not served at all', async () => {
    const res = await fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(404);
  });
});

describe('sqlite: a worker process’s own /metrics', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer('sqlite');
  });
  afterAll(() => s.stop());
  it('serves GET /metrics alone, with the token, on a port of its own', async () => {
    const { server, url } = await serveMetrics(s.db, TOKEN, '127.0.0.1', 0);
    try {
      expect((await fetch(url)).status).toBe(401);
      const ok = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toMatch(/^tickets_outbox_oldest_queued_seconds\{.*\} \d/m);
      expect((await fetch(url.replace('/metrics', '/api/health'))).status).toBe(404);
    } finally {
      server.close();
    }
  });
});
