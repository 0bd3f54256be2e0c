import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, http, sampleEvent, signUp, startTestServer, type TestServer } from './harness.js';

interface Entry {
  id: string;
  object: 'audit_entry';
  action: string;
  actor: { kind: 'user' | 'api_key' | 'system'; id: string | null };
  target: string;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  data: Record<string, unknown>;
  request_id: string | null;
  ip: string | null;
  created_at: string;
}

const LOOPBACK = /^(::ffff:)?127\.0\.0\.1$|^::1$/;
const PASSWORD = 'correct horse battery staple';

describe.each(DIALECTS)('%s: audit log', (dialect) => {
  let s: TestServer;
  let call: ReturnType<typeof http>;

  beforeAll(async () => {
    // A small per-account limit, so a lockout takes three attempts; the address's is out of the way.
    s = await startTestServer(dialect, {
      TICKETS_LOGIN_MAX_FAILURES: '2',
      TICKETS_LOGIN_MAX_FAILURES_PER_IP: '100000',
    });
    call = http(s.url);
  });
  afterAll(() => s?.stop());

  /** Every entry of the caller's organization matching `query`, newest first (one page of up to 100). */
  const list = async (token: string, query = ''): Promise<Entry[]> => {
    const res = await call('GET', `/api/audit-log?limit=100${query ? `&${query}` : ''}`, { token });
    expect(res.status).toBe(200);
    expect(res.body.has_more).toBe(false);
    return res.body.data;
  };
  /** The one entry of `action` on `target` (fails unless there is exactly one). */
  const one = async (token: string, action: string, target: string): Promise<Entry> => {
    const found = await list(token, `action=${action}&target=${encodeURIComponent(target)}`);
    expect(found.map((e) => e.action)).toEqual([action]);
    return found[0]!;
  };
  /** The entry was made by the request that answered `res`, from this machine. */
  const cameWith = (entry: Entry, res: { headers: Headers }) => {
    const rid = res.headers.get('x-request-id');
    expect(rid).toMatch(/^req_/);
    expect(entry.request_id).toBe(rid);
    expect(entry.ip).toMatch(LOOPBACK);
  };
  const login = (email: string, password: string) =>
    call('POST', '/api/auth/login', { body: { email, password } });
  const userOf = (o: Awaited<ReturnType<typeof signUp>>) => o.session.user.id as string;
  const createEvent = async (token: string, over: Record<string, unknown> = {}) => {
    const res = await call('POST', '/api/events', { token, body: sampleEvent(over) });
    expect(res.status).toBe(201);
    return res;
  };

  describe('sign-ins', () => {
    it('records a sign-in in every organization of the user, by the user, with its request and address', async () => {
      const owner = await signUp(s.url);
      const member = await signUp(s.url);
      const invite = await call('POST', '/api/org/invitations', {
        token: owner.token,
        body: { email: member.email, role: 'admin' },
      });
      expect(invite.status).toBe(201);
      const accept = await call('POST', '/api/invitations/accept', {
        token: member.token,
        body: { token: invite.body.token },
      });
      expect(accept.status).toBe(200);
      const joined = await one(owner.token, 'member.joined', userOf(member));
      expect(joined).toMatchObject({
        actor: { kind: 'user', id: userOf(member) },
        after: { role: 'admin' },
        data: { invitation_id: invite.body.id, email: member.email },
      });
      cameWith(joined, accept);

      const res = await login(member.email, PASSWORD);
      expect(res.status).toBe(200);
      for (const token of [owner.token, member.token]) {
        const entry = await one(token, 'auth.signed_in', userOf(member));
        expect(entry.actor).toEqual({ kind: 'user', id: userOf(member) });
        expect(entry.data).toMatchObject({ method: 'password', organization_id: res.body.organization.id });
        expect(entry.before).toBeNull();
        cameWith(entry, res);
      }
    });

    it('records a wrong password in each organization of the account, and an unknown address by its domain only', async () => {
      const owner = await signUp(s.url);
      const wrong = await login(owner.email, 'not the password at all');
      expect(wrong.status).toBe(401);
      const entry = await one(owner.token, 'auth.sign_in_failed', userOf(owner));
      expect(entry).toMatchObject({
        actor: { kind: 'system', id: null },
        data: { reason: 'wrong_password' },
      });
      cameWith(entry, wrong);

      const unknown = await login('nobody-at-all-7q@unknown-domain.example', PASSWORD);
      expect(unknown.status).toBe(401);
      const rows = await s.db.kysely
        .selectFrom('audit_log')
        .selectAll()
        .where('request_id', '=', unknown.headers.get('x-request-id'))
        .execute();
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({
        org_id: null,
        actor: null,
        action: 'auth.sign_in_failed',
        subject_id: 'unknown',
      });
      expect(rows[0]!.ip).toMatch(LOOPBACK);
      expect(JSON.parse(rows[0]!.data)).toEqual({
        reason: 'unknown_email',
        email_domain: 'unknown-domain.example',
      });
      expect(rows[0]!.data).not.toContain('nobody-at-all');
      // No organization's log shows it.
      expect((await list(owner.token)).some((e) => e.request_id === rows[0]!.request_id)).toBe(false);
    });

    it('raises login_burst once when a lockout starts', async () => {
      const owner = await signUp(s.url);
      const first = await login(owner.email, 'wrong guess one!');
      const second = await login(owner.email, 'wrong guess two!');
      expect([first.status, second.status]).toEqual([401, 401]);
      const third = await login(owner.email, 'wrong guess three');
      expect(third.status).toBe(429);
      const fourth = await login(owner.email, PASSWORD);
      expect(fourth.status).toBe(429);

      const failed = await list(owner.token, `action=auth.sign_in_failed&target=${userOf(owner)}`);
      expect(failed.map((e) => e.request_id)).toEqual(
        [second, first].map((r) => r.headers.get('x-request-id')),
      );
      const burst = await one(owner.token, 'security.login_burst', userOf(owner));
      expect(burst.actor).toEqual({ kind: 'system', id: null });
      expect(burst.data).toMatchObject({ key: 'email', failures: 3, lockout_seconds: 900 });
      cameWith(burst, third);
      expect(await list(owner.token, 'action=auth.signed_in')).toEqual([]);
    });

    it('raises refresh_token_reuse when a used refresh token comes back', async () => {
      const owner = await signUp(s.url);
      const refreshToken = owner.session.refresh_token as string;
      const fresh = await call('POST', '/api/auth/refresh', { body: { refresh_token: refreshToken } });
      expect(fresh.status).toBe(200);
      expect(await list(owner.token, 'action=security.')).toEqual([]);
      const again = await call('POST', '/api/auth/refresh', { body: { refresh_token: refreshToken } });
      expect(again.status).toBe(401);
      expect(again.body.code).toBe('refresh_token_reused');
      const login2 = await login(owner.email, PASSWORD);
      const reuse = await one(login2.body.access_token, 'security.refresh_token_reuse', userOf(owner));
      expect(reuse.actor).toEqual({ kind: 'system', id: null });
      cameWith(reuse, again);
    });
  });

  it('records invitations, joins, role changes and removals; staff and checkin keys may not read the log', async () => {
    const owner = await signUp(s.url);
    const email = `staffer-${Date.now()}@example.com`;
    const invite = await call('POST', '/api/org/invitations', {
      token: owner.token,
      body: { email, role: 'staff' },
    });
    expect(invite.status).toBe(201);
    const invited = await one(owner.token, 'member.invited', invite.body.id);
    expect(invited).toMatchObject({
      actor: { kind: 'user', id: userOf(owner) },
      data: { email, role: 'staff' },
    });
    cameWith(invited, invite);

    const joined = await call('POST', '/api/auth/register', {
      body: { email, password: PASSWORD, name: 'Stan Staff', invitation: invite.body.token },
    });
    expect(joined.status).toBe(201);
    const staffId = joined.body.user.id as string;
    const joinedEntry = await one(owner.token, 'member.joined', staffId);
    expect(joinedEntry).toMatchObject({ actor: { kind: 'user', id: staffId }, after: { role: 'staff' } });
    cameWith(joinedEntry, joined);

    expect((await call('GET', '/api/audit-log', { token: joined.body.access_token })).status).toBe(403);

    const promote = await call('PUT', `/api/org/members/${staffId}`, {
      token: owner.token,
      body: { role: 'admin' },
    });
    expect(promote.status).toBe(200);
    const roleChanged = await one(owner.token, 'member.role_changed', staffId);
    expect(roleChanged).toMatchObject({
      actor: { kind: 'user', id: userOf(owner) },
      before: { role: 'staff' },
      after: { role: 'admin' },
    });
    cameWith(roleChanged, promote);
    // The same role again changes nothing, and records nothing.
    const same = await call('PUT', `/api/org/members/${staffId}`, {
      token: owner.token,
      body: { role: 'admin' },
    });
    expect(same.status).toBe(200);
    await one(owner.token, 'member.role_changed', staffId);

    const removed = await call('DELETE', `/api/org/members/${staffId}`, { token: owner.token });
    expect(removed.status).toBe(200);
    const removedEntry = await one(owner.token, 'member.removed', staffId);
    expect(removedEntry).toMatchObject({ before: { role: 'admin' }, data: { email } });
    cameWith(removedEntry, removed);

    const second = await call('POST', '/api/org/invitations', {
      token: owner.token,
      body: { email: `later-${Date.now()}@example.com`, role: 'admin' },
    });
    const revoke = await call('DELETE', `/api/org/invitations/${second.body.id}`, { token: owner.token });
    expect(revoke.status).toBe(200);
    const revoked = await one(owner.token, 'invitation.revoked', second.body.id);
    expect(revoked).toMatchObject({ before: { status: 'pending' }, after: { status: 'revoked' } });
    cameWith(revoked, revoke);

    const door = await call('POST', '/api/api-keys', {
      token: owner.token,
      body: { name: 'Door 1', scopes: ['checkin'] },
    });
    expect(door.status).toBe(201);
    expect((await call('GET', '/api/audit-log', { token: door.body.secret })).status).toBe(403);
  });

  it('records API keys created (never the secret) and revoked, and what a key does as the key', async () => {
    const owner = await signUp(s.url);
    const created = await call('POST', '/api/api-keys', {
      token: owner.token,
      body: { name: 'Site', scopes: ['full'] },
    });
    expect(created.status).toBe(201);
    const keyId = created.body.id as string;
    const entry = await one(owner.token, 'api_key.created', keyId);
    expect(entry).toMatchObject({
      actor: { kind: 'user', id: userOf(owner) },
      data: { name: 'Site', scopes: ['full'], prefix: created.body.prefix },
    });
    expect(JSON.stringify(entry)).not.toContain(created.body.secret);
    cameWith(entry, created);

    const event = await createEvent(created.body.secret, { name: 'By key' });
    const byKey = await one(owner.token, 'event.created', event.body.id);
    expect(byKey.actor).toEqual({ kind: 'api_key', id: keyId });
    cameWith(byKey, event);

    const revoke = await call('DELETE', `/api/api-keys/${keyId}`, { token: owner.token });
    expect(revoke.status).toBe(200);
    const revoked = await one(owner.token, 'api_key.revoked', keyId);
    expect(revoked).toMatchObject({
      before: { revoked_at: null },
      after: { revoked_at: revoke.body.revoked_at },
      data: { name: 'Site' },
    });
    cameWith(revoked, revoke);
  });

  it('records changes of the organization and its billing details, only what changed', async () => {
    const owner = await signUp(s.url);
    const orgId = owner.session.organization.id as string;
    const oldName = owner.session.organization.name as string;
    const patch = await call('PATCH', '/api/org', { token: owner.token, body: { name: 'Renamed' } });
    expect(patch.status).toBe(200);
    const updated = await one(owner.token, 'org.updated', orgId);
    expect(updated).toMatchObject({ before: { name: oldName }, after: { name: 'Renamed' } });
    expect(Object.keys(updated.after!)).toEqual(['name']);
    cameWith(updated, patch);
    await call('PATCH', '/api/org', { token: owner.token, body: { name: 'Renamed' } });
    await one(owner.token, 'org.updated', orgId);

    const billing = (await call('GET', '/api/org/billing', { token: owner.token })).body;
    const put = await call('PUT', '/api/org/billing', {
      token: owner.token,
      body: { city: 'Berlin', default_tax_rate: 700, legal_name: billing.legal_name },
    });
    expect(put.status).toBe(200);
    const entry = await one(owner.token, 'billing.updated', orgId);
    expect(entry.before).toEqual({ city: billing.city, default_tax_rate: billing.default_tax_rate });
    expect(entry.after).toEqual({ city: 'Berlin', default_tax_rate: 700 });
    cameWith(entry, put);
    await call('PUT', '/api/org/billing', { token: owner.token, body: { city: 'Berlin' } });
    await one(owner.token, 'billing.updated', orgId);
  });

  it('records events and ticket types: created, changed fields, published, deleted, cancelled', async () => {
    const owner = await signUp(s.url);
    const t = owner.token;
    const created = await createEvent(t, { name: 'Audited', capacity: 100 });
    const eventId = created.body.id as string;
    const createdEntry = await one(t, 'event.created', eventId);
    expect(createdEntry.after).toMatchObject({
      name: 'Audited',
      capacity: 100,
      status: 'draft',
      currency: 'EUR',
    });
    cameWith(createdEntry, created);

    const update = await call('PUT', `/api/events/${eventId}`, {
      token: t,
      body: { name: 'Audited, renamed', capacity: 80, inventory_slots: 4, description: null },
    });
    expect(update.status).toBe(200);
    const updated = await one(t, 'event.updated', eventId);
    // The description was null already: not a change.
    expect(updated.before).toEqual({ name: 'Audited', capacity: 100, inventory_slots: 1 });
    expect(updated.after).toEqual({ name: 'Audited, renamed', capacity: 80, inventory_slots: 4 });
    cameWith(updated, update);
    const noop = await call('PUT', `/api/events/${eventId}`, { token: t, body: { capacity: 80 } });
    expect(noop.status).toBe(200);
    await one(t, 'event.updated', eventId);

    const type = await call('POST', `/api/events/${eventId}/ticket-types`, {
      token: t,
      body: { name: 'GA', price: { amount: 2000, currency: 'EUR' }, capacity: 50, tax_rate: 1900 },
    });
    expect(type.status).toBe(201);
    const typeId = type.body.id as string;
    const typeCreated = await one(t, 'ticket_type.created', typeId);
    expect(typeCreated.after).toMatchObject({
      event_id: eventId,
      name: 'GA',
      price: { amount: 2000, currency: 'EUR' },
      capacity: 50,
      tax_rate: 1900,
      hidden: false,
    });
    cameWith(typeCreated, type);

    const typeUpdate = await call('PUT', `/api/ticket-types/${typeId}`, {
      token: t,
      body: {
        price: { amount: 2500, currency: 'EUR' },
        capacity: 40,
        tax_rate: 700,
        hidden: true,
        sales_end_at: '2030-12-31T18:00:00Z',
        name: 'GA',
      },
    });
    expect(typeUpdate.status).toBe(200);
    const typeUpdated = await one(t, 'ticket_type.updated', typeId);
    expect(typeUpdated.before).toEqual({
      price: { amount: 2000, currency: 'EUR' },
      capacity: 50,
      tax_rate: 1900,
      hidden: false,
      sales_end_at: null,
    });
    expect(typeUpdated.after).toEqual({
      price: { amount: 2500, currency: 'EUR' },
      capacity: 40,
      tax_rate: 700,
      hidden: true,
      sales_end_at: '2030-12-31T18:00:00.000Z',
    });
    cameWith(typeUpdated, typeUpdate);

    const spare = await call('POST', `/api/events/${eventId}/ticket-types`, {
      token: t,
      body: { name: 'Spare', price: { amount: 100, currency: 'EUR' }, capacity: 5 },
    });
    const delType = await call('DELETE', `/api/ticket-types/${spare.body.id}`, { token: t });
    expect(delType.status).toBe(200);
    const typeDeleted = await one(t, 'ticket_type.deleted', spare.body.id);
    expect(typeDeleted.data).toMatchObject({ event_id: eventId, name: 'Spare', capacity: 5 });
    cameWith(typeDeleted, delType);

    const publish = await call('POST', `/api/events/${eventId}/publish`, { token: t });
    expect(publish.status).toBe(200);
    const published = await one(t, 'event.published', eventId);
    expect(published).toMatchObject({ before: { status: 'draft' }, after: { status: 'published' } });
    cameWith(published, publish);
    // A refused transition records nothing.
    expect((await call('POST', `/api/events/${eventId}/publish`, { token: t })).status).toBe(409);
    await one(t, 'event.published', eventId);

    const buy = await call('POST', '/api/tickets/purchase', {
      token: t,
      body: {
        event: eventId,
        items: [{ ticket_type: typeId, quantity: 2 }],
        buyer: { name: 'Rae', email: 'rae@example.com' },
        payment_method: 'manual',
      },
    });
    expect(buy.status).toBe(201);
    const cancel = await call('POST', `/api/events/${eventId}/cancel`, {
      token: t,
      body: { refund: 'none', message: 'The band is ill' },
    });
    expect(cancel.status).toBe(200);
    const cancelled = await one(t, 'event.cancelled', eventId);
    expect(cancelled).toMatchObject({
      actor: { kind: 'user', id: userOf(owner) },
      after: { status: 'cancelled' },
      data: { refund: 'none', message: 'The band is ill', tickets_voided: 2, orders_to_refund: 0 },
    });
    cameWith(cancelled, cancel);

    const draft = await createEvent(t, { name: 'Short-lived' });
    const del = await call('DELETE', `/api/events/${draft.body.id}`, { token: t });
    expect(del.status).toBe(200);
    const deleted = await one(t, 'event.deleted', draft.body.id);
    expect(deleted.data).toMatchObject({ name: 'Short-lived', status: 'draft' });
    cameWith(deleted, del);
  });

  it('records a campaign sent, with how many it went to', async () => {
    const owner = await signUp(s.url);
    const t = owner.token;
    const event = await createEvent(t, { name: 'Campaigned' });
    const eventId = event.body.id as string;
    const type = await call('POST', `/api/events/${eventId}/ticket-types`, {
      token: t,
      body: { name: 'GA', price: { amount: 1000, currency: 'EUR' }, capacity: 10 },
    });
    await call('POST', `/api/events/${eventId}/publish`, { token: t });
    for (const email of ['ada@example.com', 'bob@example.com'])
      expect(
        (
          await call('POST', '/api/tickets/purchase', {
            token: t,
            body: {
              event: eventId,
              items: [{ ticket_type: type.body.id, quantity: 1 }],
              buyer: { name: 'Buyer', email, marketing_opt_in: true },
              payment_method: 'manual',
            },
          })
        ).status,
      ).toBe(201);
    const list = await call('POST', '/api/lists', { token: t, body: { name: 'Fans', event: eventId } });
    expect(list.status).toBe(201);
    const campaign = await call('POST', '/api/campaigns', {
      token: t,
      body: { name: 'News', subject: 'Hello {{name}}', body: 'News for you.', list: list.body.id },
    });
    expect(campaign.status).toBe(201);
    const send = await call('POST', `/api/campaigns/${campaign.body.id}/send`, { token: t });
    expect(send.status).toBe(200);
    const sent = await one(t, 'campaign.sent', campaign.body.id);
    expect(sent).toMatchObject({
      actor: { kind: 'user', id: userOf(owner) },
      before: { status: 'draft' },
      after: { status: 'sent' },
      data: { recipients: 2, template: 'campaign', list_id: list.body.id },
    });
    cameWith(sent, send);
  });

  it('filters by actor, action, prefix, target and time, pages newest first, and keeps organizations apart', async () => {
    const owner = await signUp(s.url);
    const t = owner.token;
    const key = await call('POST', '/api/api-keys', { token: t, body: { name: 'Bot', scopes: ['full'] } });
    const a = (await createEvent(t, { name: 'A' })).body.id as string;
    const b = (await createEvent(key.body.secret, { name: 'B' })).body.id as string;
    await call('PUT', `/api/events/${a}`, { token: t, body: { name: 'A2' } });
    await call('POST', `/api/events/${a}/ticket-types`, {
      token: t,
      body: { name: 'GA', price: { amount: 500, currency: 'EUR' }, capacity: 5 },
    });
    await call('POST', `/api/events/${a}/publish`, { token: t });
    await call('PATCH', '/api/org', { token: t, body: { name: 'Filtered' } });

    const all = await list(t);
    expect(all.map((e) => e.action)).toEqual([
      'org.updated',
      'event.published',
      'ticket_type.created',
      'event.updated',
      'event.created',
      'event.created',
      'api_key.created',
    ]);
    const ids = all.map((e) => e.id);
    expect([...ids].sort().reverse()).toEqual(ids);

    expect((await list(t, 'action=event.created')).map((e) => e.target)).toEqual([b, a]);
    expect((await list(t, 'action=event.')).map((e) => e.action)).toEqual([
      'event.published',
      'event.updated',
      'event.created',
      'event.created',
    ]);
    expect((await list(t, 'action=ticket_type.')).map((e) => e.action)).toEqual(['ticket_type.created']);
    expect((await list(t, `actor=${key.body.id}`)).map((e) => [e.action, e.target])).toEqual([
      ['event.created', b],
    ]);
    expect((await list(t, `actor=${userOf(owner)}`)).map((e) => e.id)).toEqual(
      all.filter((e) => e.actor.id === userOf(owner)).map((e) => e.id),
    );
    expect((await list(t, `target=${a}`)).map((e) => e.action)).toEqual([
      'event.published',
      'event.updated',
      'event.created',
    ]);
    const middle = all[3]!.created_at;
    expect((await list(t, `from=${encodeURIComponent(middle)}`)).map((e) => e.id)).toEqual(
      all.filter((e) => e.created_at >= middle).map((e) => e.id),
    );
    expect((await list(t, `to=${encodeURIComponent(middle)}`)).map((e) => e.id)).toEqual(
      all.filter((e) => e.created_at < middle).map((e) => e.id),
    );
    expect(await list(t, 'from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z')).toEqual([]);

    // Pages of two, through to the end: every entry once, newest first.
    const paged: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 10; page++) {
      const res = await call(
        'GET',
        `/api/audit-log?limit=2${cursor ? `&starting_after=${encodeURIComponent(cursor)}` : ''}`,
        { token: t },
      );
      expect(res.status).toBe(200);
      expect(res.body.object).toBe('list');
      expect(res.body.data.length).toBeLessThanOrEqual(2);
      paged.push(...res.body.data.map((e: Entry) => e.id));
      if (!res.body.has_more) break;
      cursor = res.body.next_cursor;
    }
    expect(paged).toEqual(ids);

    // Another organization sees none of it, even by target.
    const other = await signUp(s.url);
    await createEvent(other.token, { name: 'Theirs' });
    const theirs = await list(other.token);
    expect(theirs.map((e) => e.action)).toEqual(['event.created']);
    expect(theirs.some((e) => ids.includes(e.id))).toBe(false);
    expect(await list(other.token, `target=${a}`)).toEqual([]);
    expect(await list(other.token, `actor=${userOf(owner)}`)).toEqual([]);
  });

  it('has no route that changes or deletes an entry', async () => {
    const owner = await signUp(s.url);
    await createEvent(owner.token);
    const [entry] = await list(owner.token);
    for (const method of ['PUT', 'PATCH', 'DELETE', 'POST'])
      for (const path of ['/api/audit-log', `/api/audit-log/${entry!.id}`]) {
        const res = await call(method, path, { token: owner.token, body: { action: 'forged' } });
        expect([404, 405], `${method} ${path}`).toContain(res.status);
      }
    expect(await list(owner.token)).toEqual([entry]);
  });
});
