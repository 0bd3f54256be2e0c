import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * An organizer's endpoint: records what it gets, and answers the statuses queued for it (then 200);
 * paths in `down` answer 500 until taken out.
 */
async function startReceiver() {
  const received: Received[] = [];
  const answers: number[] = [];
  const down = new Set<string>();
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body });
      if (req.url === '/endless') {
        // An endpoint that answers 200 and then never stops talking.
        res.writeHead(200);
        const chunk = Buffer.alloc(16 * 1024, 'x');
        const timer = setInterval(() => res.write(chunk), 5);
        res.on('close', () => clearInterval(timer));
        return;
      }
      res.writeHead(down.has(req.url ?? '') ? 500 : (answers.shift() ?? 200)).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, received, answers, down, close: () => server.close() };
}

/** Standard Webhooks: v1,base64(HMAC-SHA256(key, id.timestamp.body)), the key being whsec_'s base64. */
function signaturesFor(r: Received, secret: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const signed = `${r.headers['webhook-id']}.${r.headers['webhook-timestamp']}.${r.body}`;
  return `v1,${createHmac('sha256', key).update(signed).digest('base64')}`;
}

describe.each(DIALECTS)('%s: webhooks for organizers', (dialect) => {
  let s: TestServer;
  let call: ReturnType<typeof http>;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;

  beforeAll(async () => {
    s = await startTestServer(dialect, {
      TICKETS_WEBHOOK_ALLOW_HTTP: 'true',
      TICKETS_WEBHOOK_ALLOW_PRIVATE: 'true',
      TICKETS_MESSAGE_RETRY_BASE_MS: '40',
    });
    call = http(s.url);
    receiver = await startReceiver();
  });
  afterAll(async () => {
    receiver?.close();
    await s?.stop();
  });

  const deliveriesOf = async (token: string, endpoint: string) =>
    (await call('GET', `/api/webhook-endpoints/${endpoint}/deliveries`, { token })).body.data as {
      id: string;
      type: string;
      status: string;
      attempts: number;
      response_code: number | null;
      duration_ms: number | null;
    }[];

  it('manages endpoints: the secret shown once, rotation, deletion; another organization sees none', async () => {
    const { token } = await signUp(s.url);
    const created = await call('POST', '/api/webhook-endpoints', {
      token,
      body: {
        url: `${receiver.url}/a`,
        events: ['order.paid', 'order.paid', 'event.published'],
        description: 'CRM',
      },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      object: 'webhook_endpoint',
      url: `${receiver.url}/a`,
      events: ['order.paid', 'event.published'],
      status: 'enabled',
      description: 'CRM',
    });
    expect(created.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    const id = created.body.id;
    const shown = await call('GET', `/api/webhook-endpoints/${id}`, { token });
    expect(shown.body.secret).toBeUndefined();
    expect(
      (await call('GET', '/api/webhook-endpoints', { token })).body.data.map((e: { id: string }) => e.id),
    ).toEqual([id]);
    const rotated = await call('POST', `/api/webhook-endpoints/${id}/rotate-secret`, { token });
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(created.body.secret);
    const updated = await call('PUT', `/api/webhook-endpoints/${id}`, {
      token,
      body: { status: 'disabled', events: ['*'] },
    });
    expect(updated.body).toMatchObject({ status: 'disabled', events: ['*'] });
    expect(updated.body.disabled_reason).toMatch(/^disabled by usr_/);
    const other = (await signUp(s.url, 'Eve Elsewhere')).token;
    expect((await call('GET', `/api/webhook-endpoints/${id}`, { token: other })).status).toBe(404);
    expect((await call('DELETE', `/api/webhook-endpoints/${id}`, { token: other })).status).toBe(404);
    expect((await call('GET', '/api/webhook-endpoints', { token: other })).body.data).toEqual([]);
    expect((await call('DELETE', `/api/webhook-endpoints/${id}`, { token })).body).toEqual({
      id,
      object: 'webhook_endpoint',
      deleted: true,
    });
    expect((await call('GET', `/api/webhook-endpoints/${id}`, { token })).status).toBe(404);
    const bad = await call('POST', '/api/webhook-endpoints', {
      token,
      body: { url: `${receiver.url}/a`, events: ['order.eaten'] },
    });
    expect(bad.status).toBe(422);
    const audit = await call('GET', `/api/audit-log?action=webhook_endpoint.&target=${id}`, { token });
    expect(audit.body.data.map((e: { action: string }) => e.action).sort()).toEqual([
      'webhook_endpoint.created',
      'webhook_endpoint.deleted',
      'webhook_endpoint.secret_rotated',
      'webhook_endpoint.updated',
    ]);
  });

  it('delivers order.paid, signed, with the order as the API answers it; then order.refunded', async () => {
    const { token } = await signUp(s.url);
    const {
      eventId,
      typeIds: [typeId],
    } = await eventOnSale(s.url, token, {}, [{ name: 'GA', amount: 2500, capacity: 10 }]);
    const endpoint = (
      await call('POST', '/api/webhook-endpoints', {
        token,
        body: { url: `${receiver.url}/orders`, events: ['order.paid', 'order.refunded'] },
      })
    ).body;
    const order = await call('POST', '/api/tickets/purchase', {
      token,
      body: {
        event: eventId,
        items: [{ ticket_type: typeId, quantity: 2 }],
        buyer: { name: 'Wanda Webhook', email: 'wanda@example.com' },
        payment_method: 'manual',
      },
    });
    expect(order.status).toBe(201);
    const got = await waitFor(
      async () => receiver.received.filter((r) => r.path === '/orders'),
      (r) => r.length === 1,
    );
    const hit = got[0]!;
    expect(hit.headers['content-type']).toBe('application/json');
    expect(hit.headers['webhook-id']).toMatch(/^msg_/);
    expect(Math.abs(Number(hit.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(60);
    expect(hit.headers['webhook-signature']).toBe(signaturesFor(hit, endpoint.secret));
    const event = JSON.parse(hit.body);
    expect(event).toMatchObject({
      id: hit.headers['webhook-id'],
      object: 'event',
      type: 'order.paid',
      api_version: '2026-12-01',
    });
    const asApi = await call('GET', `/api/orders/${order.body.id}`, { token });
    // The order as the API answers it (its invoice number may come a moment after the sale, on Postgres).
    const { invoice_number: _, ...rest } = asApi.body;
    expect(event.data.object).toMatchObject(rest);
    const [delivery] = await waitFor(
      () => deliveriesOf(token, endpoint.id),
      (d) => d[0]?.status === 'sent',
    );
    expect(delivery).toMatchObject({ type: 'order.paid', attempts: 1, response_code: 200 });
    expect(delivery!.duration_ms).toBeGreaterThanOrEqual(0);
    // Not one of the buyer's messages.
    const messages = await call('GET', `/api/messages?order=${order.body.id}`, { token });
    expect(messages.body.data.every((m: { channel: string }) => m.channel === 'email')).toBe(true);

    const refund = await call('POST', `/api/orders/${order.body.id}/refund`, {
      token,
      body: { amount: 2500 },
    });
    expect(refund.status, JSON.stringify(refund.body)).toBe(201);
    const refunded = await waitFor(
      async () => receiver.received.filter((r) => r.path === '/orders'),
      (r) => r.length === 2,
    );
    const second = JSON.parse(refunded[1]!.body);
    expect(second.type).toBe('order.refunded');
    expect(second.data.object).toMatchObject({ id: order.body.id, status: 'partially_refunded' });

    // A transfer, to an endpoint that asked for everything.
    const all = (
      await call('POST', '/api/webhook-endpoints', {
        token,
        body: { url: `${receiver.url}/all`, events: ['*'] },
      })
    ).body;
    const ticketId = order.body.tickets[0].id;
    const moved = await call('PUT', `/api/tickets/${ticketId}/transfer`, {
      token,
      body: { name: 'Tom Transfer', email: 'tom@example.com' },
    });
    expect(moved.status).toBe(200);
    const [transfer] = await waitFor(
      async () => receiver.received.filter((r) => r.path === '/all'),
      (r) => r.length === 1,
    );
    expect(JSON.parse(transfer!.body)).toMatchObject({
      type: 'ticket.transferred',
      data: {
        object: { id: ticketId, holder: { name: 'Tom Transfer', email: 'tom@example.com' }, code_version: 2 },
      },
    });
    expect(transfer!.headers['webhook-signature']).toBe(signaturesFor(transfer!, all.secret));
  });

  it('retries a failing endpoint with backoff, keeps the id, and signs with both secrets after a rotation', async () => {
    const { token } = await signUp(s.url);
    const endpoint = (
      await call('POST', '/api/webhook-endpoints', {
        token,
        body: { url: `${receiver.url}/flaky`, events: ['*'] },
      })
    ).body;
    const rotated = (await call('POST', `/api/webhook-endpoints/${endpoint.id}/rotate-secret`, { token }))
      .body;
    receiver.answers.push(500, 503);
    const ev = (await call('POST', '/api/events', { token, body: sampleEvent({ name: 'Flaky' }) })).body.id;
    expect((await call('POST', `/api/events/${ev}/publish`, { token })).status).toBe(200);
    const hits = await waitFor(
      async () => receiver.received.filter((r) => r.path === '/flaky'),
      (r) => r.length === 3,
    );
    // One delivery, tried three times: the same id each time.
    expect(new Set(hits.map((h) => h.headers['webhook-id'])).size).toBe(1);
    const last = hits[2]!;
    const sigs = String(last.headers['webhook-signature']).split(' ');
    expect(sigs).toEqual([signaturesFor(last, rotated.secret), signaturesFor(last, endpoint.secret)]);
    expect(JSON.parse(last.body)).toMatchObject({
      type: 'event.published',
      data: { object: { id: ev, status: 'published' } },
    });
    const [delivery] = await waitFor(
      () => deliveriesOf(token, endpoint.id),
      (d) => d[0]?.status === 'sent',
    );
    expect(delivery).toMatchObject({ attempts: 3, response_code: 200 });
    const history = await s.db.kysely
      .selectFrom('message_events')
      .select(['status', 'response_code'])
      .where('message_id', '=', delivery!.id)
      .orderBy('id')
      .execute();
    expect(history).toEqual([
      { status: 'retrying', response_code: 500 },
      { status: 'retrying', response_code: 503 },
      { status: 'sent', response_code: 200 },
    ]);
  });

  it('gives up after three days, disables the endpoint, tells the owner, and sends a delivery again on request', async () => {
    const owner = await signUp(s.url);
    const { token } = owner;
    const endpoint = (
      await call('POST', '/api/webhook-endpoints', {
        token,
        body: { url: `${receiver.url}/down`, events: ['event.published'] },
      })
    ).body;
    receiver.down.add('/down');
    const ev = (await call('POST', '/api/events', { token, body: sampleEvent({ name: 'Down' }) })).body.id;
    await call('POST', `/api/events/${ev}/publish`, { token });
    const [first] = await waitFor(
      () => deliveriesOf(token, endpoint.id),
      (d) => d[0]?.status === 'queued' && d[0].attempts >= 1,
    );
    // Three days on (the row made older), the next failure is the last.
    await s.db.kysely
      .updateTable('outbox')
      .set({ created_at: new Date(Date.now() - 4 * 24 * 3600_000).toISOString() })
      .where('id', '=', first!.id)
      .execute();
    const [dead] = await waitFor(
      () => deliveriesOf(token, endpoint.id),
      (d) => d[0]?.status === 'dead',
    );
    expect(dead!.response_code).toBe(500);
    const disabled = await waitFor(
      async () => (await call('GET', `/api/webhook-endpoints/${endpoint.id}`, { token })).body,
      (e) => e.status === 'disabled',
    );
    expect(disabled.disabled_reason).toMatch(/failed for 3 days/);
    // The owner is told.
    const told = await waitFor(
      async () =>
        (await call('GET', '/api/messages?template=webhook_disabled', { token })).body.data as {
          recipient: string;
          status: string;
        }[],
      (m) => m.length === 1 && m[0]!.status === 'sent',
    );
    expect(told[0]!.recipient).toBe(owner.email.toLowerCase());
    // Enabled again and the delivery retried while the endpoint is still down: its three days start
    // again (it is retried, not given up on at once for being old)…
    await call('PUT', `/api/webhook-endpoints/${endpoint.id}`, { token, body: { status: 'enabled' } });
    const retried = await call('POST', `/api/webhook-deliveries/${dead!.id}/retry`, { token });
    expect(retried.body).toMatchObject({ status: 'queued', attempts: 0 });
    await waitFor(
      () => deliveriesOf(token, endpoint.id),
      (d) => d[0]?.status === 'queued' && d[0].attempts >= 2,
    );
    // …and once it is up, it goes.
    receiver.down.delete('/down');
    await waitFor(
      () => deliveriesOf(token, endpoint.id),
      (d) => d[0]?.status === 'sent',
    );
    const again = await call('POST', `/api/webhook-deliveries/${dead!.id}/retry`, { token });
    expect(again.status).toBe(409);
  });

  it("holds a poll endpoint's deliveries for it to fetch, signed, once; sweeps it when nobody polls", async () => {
    const { token } = await signUp(s.url);
    expect((await call('POST', '/api/webhook-endpoints', { token, body: { events: ['*'] } })).status).toBe(
      422,
    );
    expect(
      (
        await call('POST', '/api/webhook-endpoints', {
          token,
          body: { mode: 'poll', url: `${receiver.url}/x`, events: ['*'] },
        })
      ).status,
    ).toBe(422);
    const push = (
      await call('POST', '/api/webhook-endpoints', {
        token,
        body: { url: `${receiver.url}/p`, events: ['*'] },
      })
    ).body;
    expect((await call('GET', `/api/webhook-endpoints/${push.id}/poll?wait=0`, { token })).status).toBe(409);
    const poll = (
      await call('POST', '/api/webhook-endpoints', {
        token,
        body: { mode: 'poll', events: ['event.published'] },
      })
    ).body;
    expect(poll).toMatchObject({ mode: 'poll', url: null });
    const ev = (await call('POST', '/api/events', { token, body: sampleEvent({ name: 'Polled' }) })).body.id;
    // A poll waiting when the event happens gets it.
    const waiting = call('GET', `/api/webhook-endpoints/${poll.id}/poll?wait=10`, { token });
    await new Promise((r) => setTimeout(r, 100));
    await call('POST', `/api/events/${ev}/publish`, { token });
    const got = (await waiting).body.data;
    expect(got).toHaveLength(1);
    const item = { path: '', headers: got[0].headers, body: got[0].body };
    expect(got[0].headers['webhook-signature']).toBe(signaturesFor(item, poll.secret));
    expect(JSON.parse(got[0].body)).toMatchObject({ type: 'event.published', data: { object: { id: ev } } });
    // Handed out once while the listener relays it…
    expect((await call('GET', `/api/webhook-endpoints/${poll.id}/poll?wait=0`, { token })).body.data).toEqual(
      [],
    );
    expect((await deliveriesOf(token, poll.id))[0]).toMatchObject({ status: 'sending', attempts: 1 });
    // …and again when the listener never acknowledged it (it died mid-relay): the lease lapsed.
    await s.db.kysely
      .updateTable('outbox')
      .set({ lease_until: new Date(Date.now() - 1000).toISOString() })
      .where('id', '=', got[0].id)
      .execute();
    const again = (await call('GET', `/api/webhook-endpoints/${poll.id}/poll?wait=0`, { token })).body.data;
    expect(again.map((d: { id: string }) => d.id)).toEqual([got[0].id]);
    expect(again[0].body).toBe(got[0].body);
    // Acknowledged with the next poll: done, and not handed out again.
    const bad = await call('GET', `/api/webhook-endpoints/${poll.id}/poll?wait=0&ack=nope`, { token });
    expect(bad.status).toBe(400);
    expect(
      (await call('GET', `/api/webhook-endpoints/${poll.id}/poll?wait=0&ack=${got[0].id}`, { token })).body
        .data,
    ).toEqual([]);
    const [delivery] = await deliveriesOf(token, poll.id);
    expect(delivery).toMatchObject({ status: 'sent', type: 'event.published', attempts: 2 });
    // A listener that hangs up ends its long poll (nothing keeps looking for it).
    const gone = new AbortController();
    const hungUp = fetch(`${s.url}/api/webhook-endpoints/${poll.id}/poll?wait=30`, {
      headers: { authorization: `Bearer ${token}` },
      signal: gone.signal,
    }).catch(() => 'aborted');
    await new Promise((r) => setTimeout(r, 100));
    gone.abort();
    expect(await hungUp).toBe('aborted');
    // Had it gone on looking, it would take (and lose) the next delivery: this poll gets it instead.
    await new Promise((r) => setTimeout(r, 300));
    const ev2 = (await call('POST', '/api/events', { token, body: sampleEvent({ name: 'Later' }) })).body.id;
    await call('POST', `/api/events/${ev2}/publish`, { token });
    await new Promise((r) => setTimeout(r, 400));
    const later = (await call('GET', `/api/webhook-endpoints/${poll.id}/poll?wait=0`, { token })).body.data;
    expect(later.map((d: { body: string }) => JSON.parse(d.body).data.object.id)).toEqual([ev2]);
    // Nobody polls for ten minutes: it goes.
    await s.db.kysely
      .updateTable('webhook_endpoints')
      .set({ last_polled_at: new Date(Date.now() - 11 * 60_000).toISOString() })
      .where('id', '=', poll.id)
      .execute();
    const { WebhookEndpoints } = await import('../src/modules/webhooks/endpoints.js');
    expect(
      await new WebhookEndpoints(s.db, { allowHttp: true, allowPrivate: true }).sweepPollEndpoints(),
    ).toBe(1);
    expect((await call('GET', `/api/webhook-endpoints/${poll.id}`, { token })).status).toBe(404);
  });

  it('delivers ticket.checked_in once for a first entry, however many doors scan it at once', async () => {
    const { token } = await signUp(s.url);
    const endpoint = (
      await call('POST', '/api/webhook-endpoints', {
        token,
        body: { url: `${receiver.url}/door`, events: ['ticket.checked_in'] },
      })
    ).body;
    const { eventId, typeIds } = await eventOnSale(s.url, token, { name: 'Door night' }, [
      { name: 'GA', amount: 1000, capacity: 10 },
    ]);
    const order = await call('POST', '/api/tickets/purchase', {
      token,
      body: {
        event: eventId,
        items: [{ ticket_type: typeIds[0], quantity: 1 }],
        buyer: { name: 'Dora Door', email: 'dora@example.com' },
        payment_method: 'manual',
      },
    });
    const ticket = order.body.tickets[0];
    const scans = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        call('POST', '/api/tickets/validate', { token, body: { code: ticket.code, device_id: `door-${i}` } }),
      ),
    );
    expect(scans.filter((r) => r.body.result === 'admitted')).toHaveLength(1);
    const got = await waitFor(
      async () => receiver.received.filter((r) => r.path === '/door'),
      (r) => r.length >= 1,
    );
    const event = JSON.parse(got[0]!.body);
    expect(event).toMatchObject({ type: 'ticket.checked_in', data: { object: { id: ticket.id } } });
    // One delivery in the database, not one per scan; a dry run and a refused scan make none.
    await call('POST', '/api/tickets/validate', {
      token,
      body: { code: ticket.code, device_id: 'door-x', dry_run: true },
    });
    await new Promise((r) => setTimeout(r, 200));
    const rows = await s.db.kysely
      .selectFrom('outbox')
      .select('id')
      .where('recipient', '=', endpoint.id)
      .execute();
    expect(rows).toHaveLength(1);
    expect(receiver.received.filter((r) => r.path === '/door')).toHaveLength(1);
  });

  it("takes an endpoint's 2xx without reading an endless answer to its end", async () => {
    const { token } = await signUp(s.url);
    const endpoint = (
      await call('POST', '/api/webhook-endpoints', {
        token,
        body: { url: `${receiver.url}/endless`, events: ['event.published'] },
      })
    ).body;
    const ev = (await call('POST', '/api/events', { token, body: sampleEvent({ name: 'Chatty' }) })).body.id;
    await call('POST', `/api/events/${ev}/publish`, { token });
    const [delivery] = await waitFor(
      () => deliveriesOf(token, endpoint.id),
      (d) => d[0]?.status !== undefined && d[0].status !== 'queued' && d[0].status !== 'sending',
    );
    expect(delivery).toMatchObject({ status: 'sent', attempts: 1, response_code: 200 });
  });

  it('delivers nothing to a disabled or deleted endpoint, and nothing of an event it did not ask for', async () => {
    const { token } = await signUp(s.url);
    const before = receiver.received.length;
    const off = (
      await call('POST', '/api/webhook-endpoints', {
        token,
        body: { url: `${receiver.url}/off`, events: ['*'] },
      })
    ).body;
    await call('PUT', `/api/webhook-endpoints/${off.id}`, { token, body: { status: 'disabled' } });
    const other = (
      await call('POST', '/api/webhook-endpoints', {
        token,
        body: { url: `${receiver.url}/other`, events: ['order.paid'] },
      })
    ).body;
    const ev = (await call('POST', '/api/events', { token, body: sampleEvent({ name: 'Quiet' }) })).body.id;
    await call('POST', `/api/events/${ev}/publish`, { token });
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.received.length).toBe(before);
    expect(await deliveriesOf(token, off.id)).toEqual([]);
    expect(await deliveriesOf(token, other.id)).toEqual([]);
  });
});

describe('webhook endpoints on a server that keeps to public https URLs', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer('sqlite');
  });
  afterAll(() => s?.stop());

  it('refuses http, credentials in the URL, and private or metadata addresses', async () => {
    const { token } = await signUp(s.url);
    const call = http(s.url);
    const cases: [string, string][] = [
      ['http://example.com/hook', 'url_not_https'],
      ['https://user:pw@example.com/hook', 'url_has_credentials'],
      ['https://127.0.0.1/hook', 'url_not_allowed'],
      ['https://10.1.2.3/hook', 'url_not_allowed'],
      ['https://169.254.169.254/latest', 'url_not_allowed'],
      ['https://[::1]/hook', 'url_not_allowed'],
      ['https://localhost/hook', 'url_not_allowed'],
    ];
    for (const [url, code] of cases) {
      const res = await call('POST', '/api/webhook-endpoints', { token, body: { url, events: ['*'] } });
      expect([url, res.status, res.body.code]).toEqual([url, 400, code]);
    }
  });
});
