import { allRoutes } from '@tickets/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, http, signUp, startTestServer, type TestServer } from './harness.js';

describe.each(DIALECTS)('%s: HTTP core', (dialect) => {
  let s: TestServer;
  let call: ReturnType<typeof http>;
  let token: string;
  beforeAll(async () => {
    s = await startTestServer(dialect, { TICKETS_BODY_LIMIT: '2048' });
    call = http(s.url);
    token = (await signUp(s.url)).token;
  });
  afterAll(() => s.stop());

  it('answers liveness and readiness', async () => {
    expect((await call('GET', '/api/health')).body).toEqual({ status: 'ok' });
    const ready = await call('GET', '/api/health/ready');
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({
      status: 'ready',
      database: 'ok',
      migrations: { current: true, pending: [] },
      outbox: { oldest_queued_seconds: expect.any(Number) },
      // What runs here, by name (no local path): the embedded defaults.
      providers: {
        payments: 'manual',
        email: 'local outbox',
        whatsapp: 'local outbox',
        errors: 'off',
        metrics: 'off',
      },
    });
    // A message due an hour ago and still queued (the worker stopped): the outbox is behind by that much.
    await s.worker?.stop();
    const orgId = (await call('GET', '/api/org', { token })).body.id as string;
    const hourAgo = new Date(Date.now() - 3_600_000).toISOString();
    await s.db.kysely
      .insertInto('outbox')
      .values({
        id: `msg_stuck${Date.now()}`,
        org_id: orgId,
        kind: 'order_confirmation',
        payload: '{}',
        status: 'queued',
        attempts: 0,
        available_at: hourAgo,
        created_at: hourAgo,
        updated_at: hourAgo,
        channel: 'email',
        recipient: 'late@example.com',
      })
      .execute();
    const behind = await call('GET', '/api/health/ready');
    expect(behind.body.outbox.oldest_queued_seconds).toBeGreaterThanOrEqual(3590);
    await s.db.kysely.deleteFrom('outbox').where('recipient', '=', 'late@example.com').execute();
    s.worker?.start();
  });

  it('answers unknown routes with a 404 problem', async () => {
    const res = await call('GET', '/api/nope');
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ status: 404, code: 'route_not_found', title: 'Not Found' });
    expect(res.body.request_id).toBe(res.headers.get('x-request-id'));
  });

  it('answers a wrong method with 405 and Allow', async () => {
    const res = await call('PATCH', '/api/events');
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, POST');
    expect(res.body.code).toBe('method_not_allowed');
  });

  it('keeps a sane incoming x-request-id and replaces a bad one', async () => {
    const kept = await call('GET', '/api/health', { headers: { 'x-request-id': 'abc-123' } });
    expect(kept.headers.get('x-request-id')).toBe('abc-123');
    const replaced = await call('GET', '/api/health', { headers: { 'x-request-id': 'bad id with spaces' } });
    expect(replaced.headers.get('x-request-id')).toMatch(/^req_/);
  });

  it('refuses bodies over the limit with 413', async () => {
    const res = await call('POST', '/api/events', {
      token,
      raw: JSON.stringify({ name: 'x'.repeat(4000) }),
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(413);
    expect(res.body.code).toBe('payload_too_large');
  });

  it('refuses non-JSON bodies with 415 and broken JSON with 400', async () => {
    const wrongType = await call('POST', '/api/events', {
      token,
      raw: 'name=x',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(wrongType.status).toBe(415);
    const broken = await call('POST', '/api/events', {
      token,
      raw: '{"name":',
      headers: { 'content-type': 'application/json' },
    });
    expect(broken.status).toBe(400);
    expect(broken.body.code).toBe('invalid_json');
  });

  it('reports every invalid field with its path', async () => {
    const res = await call('POST', '/api/events', {
      token,
      body: { name: '', timezone: 'Mars/Olympus', currency: 'XXY', surprise: 1 },
    });
    expect(res.status).toBe(422);
    expect(res.body.code).toBe('validation_failed');
    const paths = res.body.errors.map((e: { path: string }) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['name', 'timezone', 'currency', 'starts_at', 'ends_at']));
    expect(res.body.errors.some((e: { code: string }) => e.code === 'unrecognized_keys')).toBe(true);
  });

  it('rejects a bad query string with 400 and field errors', async () => {
    const res = await call('GET', '/api/events?limit=1000', { token });
    expect(res.status).toBe(400);
    expect(res.body.errors[0].path).toBe('limit');
  });

  it('publishes an OpenAPI document listing every route the server serves', async () => {
    const res = await call('GET', '/api/openapi.json');
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe('3.1.0');
    const documented = new Set<string>();
    for (const [path, ops] of Object.entries(res.body.paths as Record<string, object>))
      for (const method of Object.keys(ops)) documented.add(`${method.toUpperCase()} ${path}`);
    const served = s.app.served.map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}')}`);
    expect(served.length).toBe(allRoutes.length);
    for (const route of served) expect(documented).toContain(route);
    expect(documented.size).toBe(served.length);
  });
});
