// Publishable keys (pk_…): a web page's key. It reads published events, their visible ticket types and
// availability, and starts online payments — nothing else, on any route — and pages may use it only
// from the origins its organization lists (CORS).
import { ID_PREFIXES, type RouteDef, routes } from '@tickets/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { type IdKind, newId } from '../src/ids.js';
import { type FakeStripe, startFakeStripe } from './fakes/stripe.js';
import {
  DIALECTS,
  eventOnSale,
  http,
  sampleEvent,
  signUp,
  startTestServer,
  stripeEnv,
  type TestServer,
} from './harness.js';

const ALL_ROUTES = Object.values(routes).flatMap((group) => Object.values(group) as RouteDef[]);
const SHOP = 'https://shop.example.com';
const CANDIDATES = [...(Object.keys(ID_PREFIXES) as IdKind[]).map((k) => newId(k)), 'order_confirmation'];

describe.each(DIALECTS)('%s: publishable keys', (dialect) => {
  let stripe: FakeStripe;
  let s: TestServer;
  let call: ReturnType<typeof http>;
  let owner: string;
  let pk: string;
  let pkId: string;
  let sale: { eventId: string; typeIds: string[] };

  beforeAll(async () => {
    stripe = await startFakeStripe();
    s = await startTestServer(dialect, {
      ...stripeEnv(stripe),
    });
    stripe.setWebhookUrl(`${s.url}/api/webhooks/stripe`);
    call = http(s.url);
    owner = (await signUp(s.url)).token;
    const key = await call('POST', '/api/api-keys', {
      token: owner,
      body: { name: 'Website', scopes: ['publishable'] },
    });
    expect(key.status).toBe(201);
    pk = key.body.secret;
    pkId = key.body.id;
    sale = await eventOnSale(s.url, owner, { name: 'Storefront' }, [
      { name: 'GA', amount: 2500, capacity: 10 },
    ]);
  });
  afterAll(async () => {
    await s?.stop();
    await stripe?.close();
  });

  const buy = (token: string, over: Record<string, unknown> = {}, headers: Record<string, string> = {}) =>
    call('POST', '/api/tickets/purchase', {
      token,
      headers,
      body: {
        event: sale.eventId,
        items: [{ ticket_type: sale.typeIds[0], quantity: 1 }],
        buyer: { name: 'Web Buyer', email: 'web@example.com' },
        payment_method: 'stripe',
        ...over,
      },
    });

  it('is created like any key, with a pk_ secret, alone, and listed', async () => {
    expect(pk).toMatch(/^pk_/);
    const list = await call('GET', '/api/api-keys', { token: owner });
    const listed = list.body.data.find((k: { id: string }) => k.id === pkId);
    expect(listed).toMatchObject({ scopes: ['publishable'], prefix: pk.slice(0, 10), revoked_at: null });
    expect(listed.secret).toBeUndefined();
    const secret = await call('POST', '/api/api-keys', { token: owner, body: { name: 'Server' } });
    expect(secret.body.secret).toMatch(/^tk_/);
    const mixed = await call('POST', '/api/api-keys', {
      token: owner,
      body: { name: 'Both', scopes: ['publishable', 'full'] },
    });
    expect(mixed.status).toBe(422);
    expect(mixed.body.errors[0].path).toBe('scopes');
  });

  it('is refused by every route but the storefront’s, with a problem saying why', async () => {
    const wrong: string[] = [];
    for (const route of ALL_ROUTES) {
      if (route.auth === 'public' || route.storefront) continue;
      const shape = (route.params?.shape ?? {}) as Record<string, z.ZodType>;
      // Fresh ids of the right kind: the path must parse before the key is even looked at.
      const path = route.path.replace(
        /:(\w+)/g,
        (_, name: string) =>
          CANDIDATES.find((c) => shape[name]?.safeParse(c).success) ??
          // An id that is not ours to make (a Stripe payout's, po_…): the schema's example.
          (shape[name]?.meta() as { example?: string } | undefined)?.example ??
          'x',
      );
      const res = await call(route.method, path, { token: pk, ...(route.body ? { body: {} } : {}) });
      const type = res.headers.get('content-type') ?? '';
      if (
        res.status !== 403 ||
        res.body?.code !== 'publishable_key_not_allowed' ||
        !type.startsWith('application/problem+json')
      )
        wrong.push(`${route.method} ${route.path}: ${res.status} ${res.body?.code}`);
    }
    expect(wrong).toEqual([]);
    const me = await call('GET', '/api/me', { token: pk });
    expect(me.body.detail).toMatch(/publishable key may only/);
  });

  it('sees published events only: a draft is not found, not listed, and not for sale', async () => {
    const draft = await call('POST', '/api/events', { token: owner, body: sampleEvent({ name: 'Draft' }) });
    const draftType = await call('POST', `/api/events/${draft.body.id}/ticket-types`, {
      token: owner,
      body: { name: 'GA', price: { amount: 1000, currency: 'EUR' }, capacity: 5 },
    });
    const list = await call('GET', '/api/events', { token: pk });
    expect(list.status).toBe(200);
    const ids = list.body.data.map((e: { id: string }) => e.id);
    expect(ids).toContain(sale.eventId);
    expect(ids).not.toContain(draft.body.id);
    expect(list.body.data.every((e: { status: string }) => e.status === 'published')).toBe(true);
    expect((await call('GET', '/api/events?status=draft', { token: pk })).body.data).toEqual([]);
    // The owner sees it, of course.
    expect((await call('GET', '/api/events?status=draft', { token: owner })).body.data).toHaveLength(1);

    for (const path of [
      `/api/events/${draft.body.id}`,
      `/api/tickets/types?event=${draft.body.id}`,
      `/api/tickets/availability?event=${draft.body.id}`,
      `/api/ticket-types/${draftType.body.id}`,
    ]) {
      const res = await call('GET', path, { token: pk });
      expect(res.status, path).toBe(404);
    }
    const bought = await buy(pk, {
      event: draft.body.id,
      items: [{ ticket_type: draftType.body.id, quantity: 1 }],
    });
    expect(bought.status).toBe(404);
    expect((await call('GET', `/api/events/${sale.eventId}`, { token: pk })).status).toBe(200);
  });

  it('sees no hidden ticket type, nor can buy one', async () => {
    const comp = await call('POST', `/api/events/${sale.eventId}/ticket-types`, {
      token: owner,
      body: { name: 'Comp', price: { amount: 100, currency: 'EUR' }, capacity: 5, hidden: true },
    });
    expect(comp.status).toBe(201);
    const types = await call('GET', `/api/tickets/types?event=${sale.eventId}&include_hidden=true`, {
      token: pk,
    });
    expect(types.body.data.map((t: { id: string }) => t.id)).toEqual([sale.typeIds[0]]);
    const ownerTypes = await call('GET', `/api/tickets/types?event=${sale.eventId}&include_hidden=true`, {
      token: owner,
    });
    expect(ownerTypes.body.data).toHaveLength(2);
    expect((await call('GET', `/api/ticket-types/${comp.body.id}`, { token: pk })).status).toBe(404);
    expect((await call('GET', `/api/ticket-types/${sale.typeIds[0]}`, { token: pk })).status).toBe(200);
    const availability = await call('GET', `/api/tickets/availability?event=${sale.eventId}`, { token: pk });
    expect(availability.body.ticket_types.map((t: { ticket_type_id: string }) => t.ticket_type_id)).toEqual([
      sale.typeIds[0],
    ]);
    const bought = await buy(pk, { items: [{ ticket_type: comp.body.id, quantity: 1 }] });
    expect(bought.status).toBe(422);
    expect(bought.body.errors[0]).toMatchObject({ path: 'items.0.ticket_type', code: 'unknown_ticket_type' });
  });

  it('cannot sell at the box office, nor give away free tickets', async () => {
    const manual = await buy(pk, { payment_method: 'manual' });
    expect(manual.status).toBe(403);
    expect(manual.body.code).toBe('payment_method_not_allowed');
    const none = await buy(pk, { payment_method: undefined });
    expect(none.status).toBe(403);
    const free = await eventOnSale(s.url, owner, { name: 'Free' }, [
      { name: 'Free', amount: 0, capacity: 5 },
    ]);
    const freeOrder = await buy(pk, {
      event: free.eventId,
      items: [{ ticket_type: free.typeIds[0], quantity: 1 }],
    });
    expect(freeOrder.status).toBe(403);
    expect(freeOrder.body.code).toBe('free_order_not_allowed');
    const avail = await call('GET', `/api/tickets/availability?event=${free.eventId}`, { token: owner });
    expect(avail.body.ticket_types[0]).toMatchObject({ sold: 0, held: 0 });
    // A secret key still can.
    expect((await buy(owner, { payment_method: 'manual' })).status).toBe(201);
  });

  it('starts a Stripe payment: a pending order that only the payment completes', async () => {
    const res = await buy(pk, {}, { 'idempotency-key': 'web-1' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ status: 'pending', tickets: [], payment: { provider: 'stripe' } });
    const intent = stripe.paymentIntents.get(res.body.payment.payment_intent_id)!;
    expect(res.body.payment.client_secret).toBe(intent.client_secret);
    // A retry from the page replays; the owner's keys are another scope.
    const again = await buy(pk, {}, { 'idempotency-key': 'web-1' });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.id).toBe(res.body.id);
    const ownerSameKey = await buy(owner, {}, { 'idempotency-key': 'web-1' });
    expect(ownerSameKey.headers.get('idempotent-replayed')).toBeNull();
    await call('POST', `/api/orders/${ownerSameKey.body.id}/cancel`, { token: owner });
    // The key cannot read the order back, nor cancel or complete it.
    expect((await call('GET', `/api/orders/${res.body.id}`, { token: pk })).status).toBe(403);
    await stripe.succeedPaymentIntent(intent.id);
    const paid = await call('GET', `/api/orders/${res.body.id}`, { token: owner });
    expect(paid.body).toMatchObject({ status: 'paid' });
    expect(paid.body.tickets).toHaveLength(1);

    const hosted = await buy(pk, {
      checkout: { success_url: `${SHOP}/thanks`, cancel_url: `${SHOP}/cart` },
    });
    expect(hosted.status).toBe(201);
    expect(hosted.body.status).toBe('pending');
    expect(hosted.body.payment.checkout_url).toMatch(/^https?:\/\//);
  });

  describe('CORS', () => {
    let otherOrgOwner: string;
    const preflight = (path: string, origin: string, method = 'GET') =>
      fetch(`${s.url}${path}`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': method,
          'access-control-request-headers': 'authorization, content-type, idempotency-key',
        },
      });

    beforeAll(async () => {
      otherOrgOwner = (await signUp(s.url)).token;
      await call('PUT', '/api/org/cors', {
        token: otherOrgOwner,
        body: { allowed_origins: ['https://elsewhere.example.org'] },
      });
    });

    it('takes a list of https origins (or http://localhost), normalized; owners and admins set it', async () => {
      const bad = await call('PUT', '/api/org/cors', {
        token: owner,
        body: { allowed_origins: ['http://shop.example.com', 'https://x.example/path', '*'] },
      });
      expect(bad.status).toBe(422);
      expect(bad.body.errors.map((e: { path: string }) => e.path)).toEqual([
        'allowed_origins.0',
        'allowed_origins.1',
        'allowed_origins.2',
      ]);
      const ok = await call('PUT', '/api/org/cors', {
        token: owner,
        body: { allowed_origins: ['https://SHOP.example.com:443/', 'http://localhost:5173'] },
      });
      expect(ok.status).toBe(200);
      expect(ok.body).toEqual({
        object: 'cors_settings',
        allowed_origins: ['http://localhost:5173', SHOP],
      });
      expect((await call('GET', '/api/org/cors', { token: owner })).body).toEqual(ok.body);
      const byKey = await call('PUT', '/api/org/cors', { token: pk, body: { allowed_origins: [] } });
      expect(byKey.status).toBe(403);
    });

    it('answers preflights for the storefront’s routes from listed origins only', async () => {
      const ok = await preflight(`/api/tickets/availability?event=${sale.eventId}`, SHOP);
      expect(ok.status).toBe(204);
      expect(ok.headers.get('access-control-allow-origin')).toBe(SHOP);
      expect(ok.headers.get('vary')).toBe('Origin');
      expect(ok.headers.get('access-control-allow-methods')).toBe('GET');
      expect(ok.headers.get('access-control-allow-headers')).toBe(
        'Authorization, Content-Type, Idempotency-Key',
      );
      expect(Number(ok.headers.get('access-control-max-age'))).toBeGreaterThan(0);
      const post = await preflight('/api/tickets/purchase', SHOP, 'POST');
      expect(post.status).toBe(204);
      expect(post.headers.get('access-control-allow-methods')).toBe('POST');

      for (const [path, origin, method] of [
        ['/api/events', 'https://evil.example.net', 'GET'],
        ['/api/orders', SHOP, 'GET'],
        ['/api/events', SHOP, 'POST'],
        ['/api/api-keys', SHOP, 'POST'],
      ] as const) {
        const res = await preflight(path, origin, method);
        expect(res.headers.get('access-control-allow-origin'), `${method} ${path} ${origin}`).toBeNull();
        expect(res.status).not.toBe(204);
      }
    });

    it('lets a listed origin read what a publishable key gets, refuses others, and never secret keys', async () => {
      const listed = await call('GET', '/api/events', { token: pk, headers: { origin: SHOP } });
      expect(listed.status).toBe(200);
      expect(listed.headers.get('access-control-allow-origin')).toBe(SHOP);
      expect(listed.headers.get('vary')).toBe('Origin');
      expect(listed.headers.get('access-control-expose-headers')).toMatch(/X-Request-Id/);
      // A refusal is readable too, so the page can say why.
      const refused = await call('GET', '/api/orders', { token: pk, headers: { origin: SHOP } });
      expect(refused.status).toBe(403);
      expect(refused.headers.get('access-control-allow-origin')).toBe(SHOP);
      const bought = await buy(pk, {}, { origin: 'http://localhost:5173' });
      expect(bought.status).toBe(201);
      expect(bought.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');

      // Listed by another organization only: its preflight passes, the request does not, nor is it run.
      const before = (await call('GET', `/api/tickets/availability?event=${sale.eventId}`, { token: owner }))
        .body.held;
      const elsewhere = await buy(pk, {}, { origin: 'https://elsewhere.example.org' });
      expect(elsewhere.status).toBe(403);
      expect(elsewhere.body.code).toBe('origin_not_allowed');
      expect(elsewhere.headers.get('access-control-allow-origin')).toBeNull();
      const after = (await call('GET', `/api/tickets/availability?event=${sale.eventId}`, { token: owner }))
        .body.held;
      expect(after).toBe(before);
      const unknown = await call('GET', '/api/events', {
        token: pk,
        headers: { origin: 'https://evil.example.net' },
      });
      expect(unknown.status).toBe(403);
      expect(unknown.headers.get('access-control-allow-origin')).toBeNull();

      // Secret keys and sessions are for servers: no CORS headers, whatever the origin.
      for (const token of [owner]) {
        const res = await call('GET', '/api/events', { token, headers: { origin: SHOP } });
        expect(res.status).toBe(200);
        expect(res.headers.get('access-control-allow-origin')).toBeNull();
      }
      // Without an Origin (a server, curl), the key works as usual, and no CORS headers are sent.
      const plain = await call('GET', '/api/events', { token: pk });
      expect(plain.status).toBe(200);
      expect(plain.headers.get('access-control-allow-origin')).toBeNull();
    });
  });

  it('stops working once revoked', async () => {
    expect((await call('GET', '/api/events', { token: pk })).status).toBe(200);
    const revoked = await call('DELETE', `/api/api-keys/${pkId}`, { token: owner });
    expect(revoked.status).toBe(200);
    expect(revoked.body.revoked_at).not.toBeNull();
    const after = await call('GET', '/api/events', { token: pk });
    expect(after.status).toBe(401);
    expect(after.body.code).toBe('invalid_api_key');
    expect((await buy(pk)).status).toBe(401);
  });
});

describe.each(DIALECTS)("%s: a publishable key's purchases per minute", (dialect) => {
  let stripe: FakeStripe;
  let s: TestServer;

  beforeAll(async () => {
    stripe = await startFakeStripe();
    s = await startTestServer(dialect, {
      ...stripeEnv(stripe),
      TICKETS_STOREFRONT_PURCHASES_PER_MINUTE: '3',
    });
  });
  afterAll(async () => {
    await s?.stop();
    await stripe?.close();
  });

  it('holds seats for at most so many purchases a minute from one address; secret keys are not limited', async () => {
    const call = http(s.url);
    const owner = (await signUp(s.url)).token;
    const pk = (
      await call('POST', '/api/api-keys', { token: owner, body: { name: 'Web', scopes: ['publishable'] } })
    ).body.secret;
    const sale = await eventOnSale(s.url, owner, { name: 'Limited' }, [
      { name: 'GA', amount: 2500, capacity: 50 },
    ]);
    const buy = (token: string) =>
      call('POST', '/api/tickets/purchase', {
        token,
        body: {
          event: sale.eventId,
          items: [{ ticket_type: sale.typeIds[0], quantity: 1 }],
          buyer: { name: 'Bot', email: 'bot@example.com' },
          payment_method: 'stripe',
        },
      });
    const answers = await Promise.all(Array.from({ length: 6 }, () => buy(pk)));
    expect(answers.map((r) => r.status).sort()).toEqual([201, 201, 201, 429, 429, 429]);
    const refused = answers.find((r) => r.status === 429)!;
    expect(refused.body.code).toBe('too_many_purchases');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    // Only the three let through hold seats.
    const held = await s.db.kysely
      .selectFrom('orders')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('event_id', '=', sale.eventId)
      .where('status', '=', 'pending')
      .executeTakeFirstOrThrow();
    expect(Number(held.n)).toBe(3);
    for (let i = 0; i < 4; i++) expect((await buy(owner)).status).toBe(201);
  });
});
