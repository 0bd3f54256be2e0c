import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, sampleEvent, startTestServer, type TestServer } from '../../server/test/harness.js';
import {
  ApiError,
  AuthenticationError,
  ConflictError,
  IdempotencyError,
  NotFoundError,
  Tickets,
  ValidationError,
} from '../src/index.js';
import { flakyProxy } from './flaky-proxy.js';

/**
 * The SDK items of the spine its own tests leave out: retries of 502/504, no retry of other 5xx (ApiError),
 * IdempotencyError, and the auth, orgs, apiKeys, events and ticketTypes resources end to end.
 */

describe.each(DIALECTS)('%s: SDK resources, retries and errors', (dialect) => {
  let s: TestServer;
  let tickets: Tickets;
  let session: Awaited<ReturnType<Tickets['auth']['register']>>;
  let proxy: Awaited<ReturnType<typeof flakyProxy>>;
  const email = `sdk-audit-${dialect}@example.com`;
  const password = 'correct horse battery staple';

  beforeAll(async () => {
    s = await startTestServer(dialect);
    tickets = new Tickets({ baseUrl: s.url });
    session = await tickets.auth.register({ email, password, name: 'Audrey' });
    proxy = await flakyProxy(s.url);
  });
  afterAll(async () => {
    await proxy?.close();
    await s?.stop();
  });

  it('retries 502 and 504 with one Idempotency-Key, and the POST is applied once', async () => {
    const client = new Tickets({ baseUrl: proxy.url, token: session.access_token, maxRetries: 2 });
    proxy.plan.push('502', '504');
    proxy.seen.length = 0;
    const event = await client.events.create(sampleEvent({ name: 'Through 502 and 504' }));
    const keys = proxy.seen.map((r) => r.idempotencyKey);
    expect(keys).toHaveLength(3);
    expect(new Set(keys).size).toBe(1);
    expect(keys[0]).toBeTruthy();
    const found = await tickets.events.list({ q: 'Through 502' }).toArray();
    expect(found.map((e) => e.id)).toEqual([event.id]);
  });

  it('does not retry a 500: ApiError with status, code, detail and request id', async () => {
    const client = new Tickets({ baseUrl: proxy.url, token: session.access_token, maxRetries: 3 });
    proxy.plan.push('500');
    proxy.seen.length = 0;
    const err = await client.events.list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({
      status: 500,
      code: 'proxy_500',
      detail: 'planned 500',
      requestId: 'req_proxy500',
    });
    expect(proxy.seen).toHaveLength(1);
  });

  it('replays a POST with the same Idempotency-Key, and throws IdempotencyError for another body', async () => {
    const key = `audit-${dialect}-${Date.now()}`;
    const first = await tickets.events.create(sampleEvent({ name: 'Once' }), { idempotencyKey: key });
    const replay = await tickets.events.create(sampleEvent({ name: 'Once' }), { idempotencyKey: key });
    expect(replay.id).toBe(first.id);
    const other = await tickets.events
      .create(sampleEvent({ name: 'Other body' }), { idempotencyKey: key })
      .catch((e: unknown) => e);
    expect(other).toBeInstanceOf(IdempotencyError);
    expect(other).toBeInstanceOf(ConflictError);
    expect((other as IdempotencyError).code).toBe('idempotency_key_reused');
  });

  it('manages events and ticket types: update, get, cancel, delete', async () => {
    const event = await tickets.events.create(sampleEvent({ name: 'Lifecycle' }));
    const updated = await tickets.events.update(event.id, { name: 'Lifecycle II', capacity: 20 });
    expect(updated).toMatchObject({ name: 'Lifecycle II', capacity: 20 });
    const type = await tickets.ticketTypes.create(event.id, {
      name: 'GA',
      price: { amount: 1500, currency: 'EUR' },
      capacity: 10,
    });
    expect(await tickets.ticketTypes.get(type.id)).toMatchObject({ id: type.id, name: 'GA' });
    expect(await tickets.ticketTypes.update(type.id, { capacity: 12 })).toMatchObject({ capacity: 12 });
    const bad = await tickets.ticketTypes.update(type.id, { capacity: -1 }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(ValidationError);
    expect((bad as ValidationError).errors.map((e) => e.path)).toContain('capacity');
    expect(await tickets.ticketTypes.delete(type.id)).toMatchObject({ id: type.id, deleted: true });
    expect(await tickets.ticketTypes.get(type.id).catch((e: unknown) => e)).toBeInstanceOf(NotFoundError);
    expect((await tickets.events.cancel(event.id)).status).toBe('cancelled');
    expect(await tickets.events.delete(event.id)).toMatchObject({ id: event.id, deleted: true });
    expect(await tickets.events.get(event.id).catch((e: unknown) => e)).toBeInstanceOf(NotFoundError);
  });

  it('manages the organization and API keys', async () => {
    expect((await tickets.orgs.get()).id).toBe(session.organization.id);
    const invitation = await tickets.orgs.invite({ email: `invitee-${dialect}@example.com`, role: 'staff' });
    expect(invitation.token).toBeTruthy();
    expect((await tickets.orgs.listInvitations().toArray()).map((i) => i.id)).toContain(invitation.id);
    expect((await tickets.orgs.revokeInvitation(invitation.id)).status).toBe('revoked');
    expect((await tickets.orgs.listMembers().toArray()).map((m) => m.user.email)).toEqual([email]);

    const key = await tickets.apiKeys.create({ name: 'Audit key' });
    expect(key.secret).toMatch(/^tk_/);
    const listed = await tickets.apiKeys.list().toArray();
    expect(listed.find((k) => k.id === key.id)).not.toHaveProperty('secret');
    const viaKey = new Tickets({ baseUrl: s.url, token: key.secret });
    expect((await viaKey.me.get()).api_key?.id).toBe(key.id);
    expect((await tickets.apiKeys.revoke(key.id)).revoked_at).toBeTruthy();
    expect(await viaKey.me.get().catch((e: unknown) => e)).toBeInstanceOf(AuthenticationError);
  });

  it('logs in, refreshes and logs out', async () => {
    const client = new Tickets({ baseUrl: s.url });
    const wrong = await client.auth.login({ email, password: 'not the password' }).catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(AuthenticationError);
    expect((wrong as AuthenticationError).code).toBe('invalid_credentials');
    const login = await client.auth.login({ email, password });
    expect((await client.me.get()).user?.email).toBe(email);
    const refreshed = await client.auth.refresh(login.refresh_token);
    expect(refreshed.refresh_token).not.toBe(login.refresh_token);
    await client.auth.logout(refreshed.refresh_token);
    const after = await client.auth.refresh(refreshed.refresh_token).catch((e: unknown) => e);
    expect(after).toBeInstanceOf(AuthenticationError);
  });
});
