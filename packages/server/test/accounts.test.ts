import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, http, sampleEvent, signUp, startTestServer, type TestServer } from './harness.js';

const PASSWORD = 'correct horse battery staple';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const uniqueEmail = (tag: string) => `${tag}-${randomBytes(4).toString('hex')}@example.com`;

describe.each(DIALECTS)('%s: accounts', (dialect) => {
  let s: TestServer;
  let call: ReturnType<typeof http>;
  beforeAll(async () => {
    s = await startTestServer(dialect);
    call = http(s.url);
  });
  afterAll(() => s.stop());

  const register = (body: Record<string, unknown>) => call('POST', '/api/auth/register', { body });
  const login = (email: string, password: string, extra: Record<string, unknown> = {}) =>
    call('POST', '/api/auth/login', { body: { email, password, ...extra } });

  /** Registers a user with a chosen e-mail; returns its session. */
  async function registerAs(email: string, name = 'Someone') {
    const res = await register({ email, password: PASSWORD, name });
    expect(res.status).toBe(201);
    return res.body;
  }

  describe('register', () => {
    it('signs an invitee up into the inviting organization only, once, and only for the invited address', async () => {
      const owner = await signUp(s.url);
      const email = uniqueEmail('invitee');
      const invite = await call('POST', '/api/org/invitations', {
        token: owner.token,
        body: { email, role: 'staff' },
      });
      expect(invite.status).toBe(201);
      const stranger = uniqueEmail('other');
      const wrong = await register({
        email: stranger,
        password: PASSWORD,
        name: 'Not Her',
        invitation: invite.body.token,
      });
      expect(wrong.status).toBe(403);
      expect(wrong.body.code).toBe('invitation_email_mismatch');
      // The refused sign-up left no account behind.
      const left = await s.db.kysely.selectFrom('users').select('id').where('email', '=', stranger).execute();
      expect(left).toEqual([]);

      const res = await register({
        email,
        password: PASSWORD,
        name: 'Ivy Invitee',
        invitation: invite.body.token,
      });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ role: 'staff', organization: { id: owner.session.organization.id } });
      const memberships = await s.db.kysely
        .selectFrom('memberships')
        .select('org_id')
        .where('user_id', '=', res.body.user.id)
        .execute();
      expect(memberships).toEqual([{ org_id: owner.session.organization.id }]);
      const invitations = await call('GET', '/api/org/invitations', { token: owner.token });
      expect(invitations.body.data.find((i: { id: string }) => i.id === invite.body.id).status).toBe(
        'accepted',
      );
      const again = await register({
        email: uniqueEmail('late'),
        password: PASSWORD,
        name: 'Late',
        invitation: invite.body.token,
      });
      expect(again.status).toBe(404);
    });

    it('creates a user and an organization it owns, and signs in', async () => {
      const email = uniqueEmail('reg');
      const res = await register({ email, password: PASSWORD, name: 'Regina' });
      expect(res.status).toBe(201);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(res.body).toMatchObject({
        object: 'session',
        token_type: 'Bearer',
        expires_in: 900,
        role: 'owner',
        user: { object: 'user', email, name: 'Regina' },
        organization: { object: 'organization', name: "Regina's events" },
      });
      expect(res.body.user.id).toMatch(/^usr_[0-9a-z]{26}$/);
      expect(res.body.organization.id).toMatch(/^org_[0-9a-z]{26}$/);
      expect(res.body.access_token).toEqual(expect.any(String));
      expect(res.body.refresh_token).toMatch(/^rt_/);
      expect(JSON.stringify(res.body)).not.toContain('password');
      const me = await call('GET', '/api/me', { token: res.body.access_token });
      expect(me.status).toBe(200);
      expect(me.body.user.id).toBe(res.body.user.id);
    });

    it('uses the given organization name', async () => {
      const res = await register({
        email: uniqueEmail('orgname'),
        password: PASSWORD,
        name: 'Otto',
        organization_name: 'Otto Concerts GmbH',
      });
      expect(res.status).toBe(201);
      expect(res.body.organization.name).toBe('Otto Concerts GmbH');
    });

    it('refuses a second account for the same e-mail, whatever its case, with 409 email_taken', async () => {
      const email = uniqueEmail('dup');
      await registerAs(email);
      const again = await register({ email, password: `${PASSWORD}!`, name: 'Other' });
      expect(again.status).toBe(409);
      expect(again.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(again.body).toMatchObject({ status: 409, code: 'email_taken' });
      const upper = await register({ email: email.toUpperCase(), password: PASSWORD, name: 'Other' });
      expect(upper.status).toBe(409);
      expect(upper.body.code).toBe('email_taken');
    });

    it('refuses a password shorter than 10 characters with 422 on path password', async () => {
      const res = await register({ email: uniqueEmail('short'), password: 'nine12345', name: 'Shorty' });
      expect(res.status).toBe(422);
      expect(res.body.code).toBe('validation_failed');
      expect(res.body.errors).toEqual([expect.objectContaining({ path: 'password' })]);
      const ten = await register({ email: uniqueEmail('ten'), password: 'ten1234567', name: 'Tenny' });
      expect(ten.status).toBe(201);
    });

    it('refuses a password equal to the e-mail with 422 weak_password', async () => {
      const email = uniqueEmail('weak');
      const res = await register({ email, password: email, name: 'Weak' });
      expect(res.status).toBe(422);
      expect(res.body.code).toBe('validation_failed');
      expect(res.body.errors).toEqual([expect.objectContaining({ path: 'password', code: 'weak_password' })]);
      // Differently cased is still the e-mail.
      const upper = await register({ email, password: email.toUpperCase(), name: 'Weak' });
      expect(upper.status).toBe(422);
      expect(upper.body.errors[0].code).toBe('weak_password');
      const localPart = email.split('@')[0]!;
      const local = await register({ email, password: localPart.toUpperCase(), name: 'Weak' });
      expect(local.status).toBe(422);
      expect(local.body.errors[0].code).toBe('weak_password');
      // Nothing was created: the address is still free.
      expect((await register({ email, password: PASSWORD, name: 'Strong' })).status).toBe(201);
    });

    it('stores the e-mail in lower case and signs in with any case', async () => {
      const tag = randomBytes(4).toString('hex');
      const res = await register({
        email: `Mixed.Case-${tag}@Example.COM`,
        password: PASSWORD,
        name: 'Mixed',
      });
      expect(res.status).toBe(201);
      expect(res.body.user.email).toBe(`mixed.case-${tag}@example.com`);
      const ok = await login(`MIXED.CASE-${tag.toUpperCase()}@example.com`, PASSWORD);
      expect(ok.status).toBe(200);
      expect(ok.body.user.id).toBe(res.body.user.id);
    });

    it('rejects a malformed e-mail and unknown fields', async () => {
      const res = await register({ email: 'not-an-email', password: PASSWORD, name: 'X', admin: true });
      expect(res.status).toBe(422);
      const paths = res.body.errors.map((e: { path: string }) => e.path);
      expect(paths).toContain('email');
      expect(res.body.errors.some((e: { code: string }) => e.code === 'unrecognized_keys')).toBe(true);
    });
  });

  describe('login', () => {
    let email: string;
    let userId: string;
    beforeAll(async () => {
      email = uniqueEmail('login');
      userId = (await registerAs(email, 'Lena')).user.id;
    });

    it('signs in with the right password', async () => {
      const res = await login(email, PASSWORD);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ object: 'session', role: 'owner', user: { id: userId, email } });
      const me = await call('GET', '/api/me', { token: res.body.access_token });
      expect(me.status).toBe(200);
      expect(me.body.user.id).toBe(userId);
    });

    it('answers a wrong password with 401 invalid_credentials', async () => {
      const res = await login(email, `${PASSWORD}x`);
      expect(res.status).toBe(401);
      expect(res.body).toMatchObject({ status: 401, code: 'invalid_credentials' });
      expect(res.body.access_token).toBeUndefined();
    });

    it('answers an unknown e-mail exactly like a wrong password', async () => {
      const res = await login(uniqueEmail('nobody'), PASSWORD);
      expect(res.status).toBe(401);
      expect(res.body.code).toBe('invalid_credentials');
      const wrong = await login(email, 'wrong password!');
      expect(res.body.detail).toBe(wrong.body.detail);
    });
  });

  describe('refresh tokens', () => {
    it('rotates: the new refresh token works and the old one stops', async () => {
      const { session } = await signUp(s.url);
      const first = await call('POST', '/api/auth/refresh', {
        body: { refresh_token: session.refresh_token },
      });
      expect(first.status).toBe(200);
      expect(first.body).toMatchObject({ object: 'session', role: 'owner', user: { id: session.user.id } });
      expect(first.body.refresh_token).not.toBe(session.refresh_token);
      expect(first.body.access_token).not.toBe(session.access_token);
      const me = await call('GET', '/api/me', { token: first.body.access_token });
      expect(me.status).toBe(200);
      const second = await call('POST', '/api/auth/refresh', {
        body: { refresh_token: first.body.refresh_token },
      });
      expect(second.status).toBe(200);
      expect(second.body.refresh_token).not.toBe(first.body.refresh_token);
    });

    it('counts password guesses sent all at once: no more than the limit are checked', async () => {
      const user = await signUp(s.url);
      const results = await Promise.all(
        Array.from({ length: 30 }, () =>
          call('POST', '/api/auth/login', { body: { email: user.email, password: 'wrong password 123' } }),
        ),
      );
      const checked = results.filter((r) => r.status === 401).length;
      expect(checked).toBeLessThanOrEqual(5);
      expect(results.filter((r) => r.status === 429).length).toBe(30 - checked);
    });

    it('treats a reused refresh token as stolen: 401 refresh_token_reused and the whole family is revoked', async () => {
      const { session } = await signUp(s.url);
      const rotated = await call('POST', '/api/auth/refresh', {
        body: { refresh_token: session.refresh_token },
      });
      expect(rotated.status).toBe(200);
      const newest = await call('POST', '/api/auth/refresh', {
        body: { refresh_token: rotated.body.refresh_token },
      });
      expect(newest.status).toBe(200);

      const replay = await call('POST', '/api/auth/refresh', {
        body: { refresh_token: session.refresh_token },
      });
      expect(replay.status).toBe(401);
      expect(replay.body.code).toBe('refresh_token_reused');

      const afterReuse = await call('POST', '/api/auth/refresh', {
        body: { refresh_token: newest.body.refresh_token },
      });
      expect(afterReuse.status).toBe(401);
      expect(afterReuse.body.code).toBe('invalid_refresh_token');
    });

    it('leaves no working token when one refresh token is presented many times at once', async () => {
      for (let round = 0; round < 3; round++) {
        const { session } = await signUp(s.url);
        const results = await Promise.all(
          Array.from({ length: 8 }, () =>
            call('POST', '/api/auth/refresh', { body: { refresh_token: session.refresh_token } }),
          ),
        );
        expect(results.some((r) => r.body?.code === 'refresh_token_reused')).toBe(true);
        // Whatever new tokens the race handed out, none may still work: the family is dead.
        for (const r of results.filter((r) => r.status === 200)) {
          const next = await call('POST', '/api/auth/refresh', {
            body: { refresh_token: r.body.refresh_token },
          });
          expect(next.status).toBe(401);
        }
      }
    });

    it('revokes only the family that was reused, not the user’s other sessions', async () => {
      const user = await signUp(s.url);
      const other = await login(user.email, user.password);
      expect(other.status).toBe(200);
      const rotated = await call('POST', '/api/auth/refresh', {
        body: { refresh_token: user.session.refresh_token },
      });
      expect(rotated.status).toBe(200);
      const replay = await call('POST', '/api/auth/refresh', {
        body: { refresh_token: user.session.refresh_token },
      });
      expect(replay.body.code).toBe('refresh_token_reused');
      const otherRefresh = await call('POST', '/api/auth/refresh', {
        body: { refresh_token: other.body.refresh_token },
      });
      expect(otherRefresh.status).toBe(200);
    });

    it('answers an unknown refresh token with 401 invalid_refresh_token', async () => {
      const res = await call('POST', '/api/auth/refresh', { body: { refresh_token: 'rt_made-up' } });
      expect(res.status).toBe(401);
      expect(res.body.code).toBe('invalid_refresh_token');
    });

    it('switches organization on refresh, and refuses one the user is not in without burning the token', async () => {
      const owner = await signUp(s.url);
      const stranger = await signUp(s.url);
      const memberEmail = uniqueEmail('switch');
      const member = await registerAs(memberEmail);
      const invite = await call('POST', '/api/org/invitations', {
        token: owner.token,
        body: { email: memberEmail, role: 'admin' },
      });
      expect(invite.status).toBe(201);
      const accept = await call('POST', '/api/invitations/accept', {
        token: member.access_token,
        body: { token: invite.body.token },
      });
      expect(accept.status).toBe(200);

      const foreign = await call('POST', '/api/auth/refresh', {
        body: { refresh_token: member.refresh_token, organization_id: stranger.session.organization.id },
      });
      expect(foreign.status).toBe(403);
      expect(foreign.body.code).toBe('not_a_member');

      // The refused switch must not have used up the token (else the next refresh looks like theft).
      const switched = await call('POST', '/api/auth/refresh', {
        body: { refresh_token: member.refresh_token, organization_id: owner.session.organization.id },
      });
      expect(switched.status).toBe(200);
      expect(switched.body.organization.id).toBe(owner.session.organization.id);
      expect(switched.body.role).toBe('admin');
      const me = await call('GET', '/api/me', { token: switched.body.access_token });
      expect(me.body.organization.id).toBe(owner.session.organization.id);
      expect(me.body.role).toBe('admin');

      // Without organization_id the refreshed session stays in the organization of the token.
      const stays = await call('POST', '/api/auth/refresh', {
        body: { refresh_token: switched.body.refresh_token },
      });
      expect(stays.status).toBe(200);
      expect(stays.body.organization.id).toBe(owner.session.organization.id);
    });
  });

  describe('logout', () => {
    it('revokes the refresh token family; refreshing afterwards is 401', async () => {
      const { session } = await signUp(s.url);
      const rotated = await call('POST', '/api/auth/refresh', {
        body: { refresh_token: session.refresh_token },
      });
      expect(rotated.status).toBe(200);
      const out = await call('POST', '/api/auth/logout', {
        body: { refresh_token: rotated.body.refresh_token },
      });
      expect(out.status).toBe(204);
      expect(out.body).toBeNull();
      const res = await call('POST', '/api/auth/refresh', {
        body: { refresh_token: rotated.body.refresh_token },
      });
      expect(res.status).toBe(401);
      expect(res.body.code).toBe('invalid_refresh_token');
    });

    it('answers 204 for an unknown token too (it reveals nothing)', async () => {
      const out = await call('POST', '/api/auth/logout', { body: { refresh_token: 'rt_unknown' } });
      expect(out.status).toBe(204);
    });
  });

  describe('GET /api/me', () => {
    it('describes a signed-in user', async () => {
      const user = await signUp(s.url, 'Mia Me');
      const res = await call('GET', '/api/me', { token: user.token });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        object: 'me',
        user: user.session.user,
        organization: user.session.organization,
        role: 'owner',
        api_key: null,
        memberships: [{ organization: user.session.organization, role: 'owner' }],
      });
    });

    it('describes an API key', async () => {
      const user = await signUp(s.url);
      const key = await call('POST', '/api/api-keys', {
        token: user.token,
        body: { name: 'Door 1', scopes: ['checkin'] },
      });
      expect(key.status).toBe(201);
      const res = await call('GET', '/api/me', { token: key.body.secret });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        object: 'me',
        user: null,
        organization: user.session.organization,
        role: null,
        api_key: { id: key.body.id, name: 'Door 1', scopes: ['checkin'] },
        memberships: [],
      });
    });

    it('answers missing or bad credentials with 401', async () => {
      const none = await call('GET', '/api/me');
      expect(none.status).toBe(401);
      expect(none.body.code).toBe('unauthenticated');
      expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
      const basic = await call('GET', '/api/me', { headers: { authorization: 'Basic dXNlcjpwdw==' } });
      expect(basic.status).toBe(401);
      const garbage = await call('GET', '/api/me', { token: 'not.a.jwt' });
      expect(garbage.status).toBe(401);
      expect(garbage.body.code).toBe('invalid_token');
      const user = await signUp(s.url);
      const [h, p, sig] = user.token.split('.') as [string, string, string];
      const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
      const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: 'usr_x' })).toString('base64url')}.${sig}`;
      const tampered = await call('GET', '/api/me', { token: forged });
      expect(tampered.status).toBe(401);
      expect(tampered.body.code).toBe('invalid_token');
      const fakeKey = await call('GET', '/api/me', { token: 'tk_not-a-real-key' });
      expect(fakeKey.status).toBe(401);
      expect(fakeKey.body.code).toBe('invalid_api_key');
    });
  });

  describe('organizations', () => {
    let owner: Awaited<ReturnType<typeof signUp>>;
    const orgId = () => owner.session.organization.id as string;

    /** Invites an address, has it sign up and accept; returns its session acting in the owner's org. */
    async function addMember(role: 'owner' | 'admin' | 'staff', inviterToken = owner.token) {
      const email = uniqueEmail(role);
      const invite = await call('POST', '/api/org/invitations', {
        token: inviterToken,
        body: { email, role },
      });
      expect(invite.status).toBe(201);
      const own = await registerAs(email);
      const accept = await call('POST', '/api/invitations/accept', {
        token: own.access_token,
        body: { token: invite.body.token },
      });
      expect(accept.status).toBe(200);
      // Switching organization by refresh (no password hashing: keeps the suite quick).
      const session = await call('POST', '/api/auth/refresh', {
        body: { refresh_token: own.refresh_token, organization_id: orgId() },
      });
      expect(session.status).toBe(200);
      expect(session.body.role).toBe(role);
      return {
        email,
        userId: session.body.user.id as string,
        token: session.body.access_token as string,
        refresh: session.body.refresh_token as string,
      };
    }

    beforeAll(async () => {
      owner = await signUp(s.url, 'Olga Owner');
    });

    it('shows the organization and lists its members', async () => {
      const org = await call('GET', '/api/org', { token: owner.token });
      expect(org.status).toBe(200);
      expect(org.body).toEqual(owner.session.organization);
      const res = await call('GET', '/api/org/members', { token: owner.token });
      expect(res.status).toBe(200);
      expect(res.body.object).toBe('list');
      expect(res.body.data[0]).toMatchObject({
        object: 'member',
        role: 'owner',
        user: { id: owner.session.user.id, email: owner.email },
      });
    });

    it('paginates members', async () => {
      const solo = await signUp(s.url);
      const other = await registerAs(uniqueEmail('pg'));
      const inv = await call('POST', '/api/org/invitations', {
        token: solo.token,
        body: { email: other.user.email, role: 'staff' },
      });
      await call('POST', '/api/invitations/accept', {
        token: other.access_token,
        body: { token: inv.body.token },
      });
      const first = await call('GET', '/api/org/members?limit=1', { token: solo.token });
      expect(first.body.data).toHaveLength(1);
      expect(first.body.has_more).toBe(true);
      const second = await call(
        'GET',
        `/api/org/members?limit=1&starting_after=${encodeURIComponent(first.body.next_cursor)}`,
        { token: solo.token },
      );
      expect(second.body.data).toHaveLength(1);
      expect(second.body.has_more).toBe(false);
      expect(second.body.next_cursor).toBeNull();
      expect(new Set([first.body.data[0].user.id, second.body.data[0].user.id])).toEqual(
        new Set([solo.session.user.id, other.user.id]),
      );
    });

    it('invites: the token is shown once, and the invitee joins with the invited role', async () => {
      const email = `InViTee-${randomBytes(4).toString('hex')}@Example.com`;
      const invite = await call('POST', '/api/org/invitations', {
        token: owner.token,
        body: { email, role: 'staff' },
      });
      expect(invite.status).toBe(201);
      expect(invite.body).toMatchObject({
        object: 'invitation',
        email: email.toLowerCase(),
        role: 'staff',
        status: 'pending',
      });
      expect(invite.body.id).toMatch(/^inv_/);
      expect(invite.body.token).toEqual(expect.any(String));

      const listed = await call('GET', '/api/org/invitations', { token: owner.token });
      expect(listed.status).toBe(200);
      const row = listed.body.data.find((i: { id: string }) => i.id === invite.body.id);
      expect(row).toMatchObject({ status: 'pending', email: email.toLowerCase() });
      expect(row).not.toHaveProperty('token');
      expect(JSON.stringify(listed.body)).not.toContain(invite.body.token);

      const invitee = await registerAs(email.toLowerCase(), 'Ivo Invitee');
      const accepted = await call('POST', '/api/invitations/accept', {
        token: invitee.access_token,
        body: { token: invite.body.token },
      });
      expect(accepted.status).toBe(200);
      expect(accepted.body).toEqual({ organization: owner.session.organization, role: 'staff' });

      const members = await call('GET', '/api/org/members', { token: owner.token });
      expect(members.body.data).toContainEqual(
        expect.objectContaining({ role: 'staff', user: expect.objectContaining({ id: invitee.user.id }) }),
      );
      const me = await call('GET', '/api/me', { token: invitee.access_token });
      expect(me.body.memberships).toHaveLength(2);
      expect(me.body.memberships).toContainEqual({ organization: owner.session.organization, role: 'staff' });

      const inOrg = await login(email, PASSWORD, { organization_id: orgId() });
      expect(inOrg.status).toBe(200);
      expect(inOrg.body.role).toBe('staff');
      expect(inOrg.body.organization.id).toBe(orgId());

      const again = await call('POST', '/api/invitations/accept', {
        token: invitee.access_token,
        body: { token: invite.body.token },
      });
      expect(again.status).toBe(404);
      const after = await call('GET', '/api/org/invitations', { token: owner.token });
      expect(after.body.data.find((i: { id: string }) => i.id === invite.body.id).status).toBe('accepted');
    });

    it('refuses an invitation accepted by a user with another e-mail (403 invitation_email_mismatch)', async () => {
      const email = uniqueEmail('intended');
      const invite = await call('POST', '/api/org/invitations', {
        token: owner.token,
        body: { email, role: 'admin' },
      });
      const wrong = await registerAs(uniqueEmail('wrong'));
      const res = await call('POST', '/api/invitations/accept', {
        token: wrong.access_token,
        body: { token: invite.body.token },
      });
      expect(res.status).toBe(403);
      expect(res.body.code).toBe('invitation_email_mismatch');
      const members = await call('GET', '/api/org/members', { token: owner.token });
      expect(members.body.data.some((m: { user: { id: string } }) => m.user.id === wrong.user.id)).toBe(
        false,
      );
      // Still pending for the right person.
      const right = await registerAs(email);
      const ok = await call('POST', '/api/invitations/accept', {
        token: right.access_token,
        body: { token: invite.body.token },
      });
      expect(ok.status).toBe(200);
      expect(ok.body.role).toBe('admin');
    });

    it('a revoked invitation cannot be accepted', async () => {
      const email = uniqueEmail('revoked');
      const invite = await call('POST', '/api/org/invitations', {
        token: owner.token,
        body: { email, role: 'staff' },
      });
      const revoked = await call('DELETE', `/api/org/invitations/${invite.body.id}`, { token: owner.token });
      expect(revoked.status).toBe(200);
      expect(revoked.body).toMatchObject({ id: invite.body.id, status: 'revoked' });
      expect(revoked.body).not.toHaveProperty('token');
      const twice = await call('DELETE', `/api/org/invitations/${invite.body.id}`, { token: owner.token });
      expect(twice.status).toBe(409);
      expect(twice.body.code).toBe('invitation_not_pending');

      const invitee = await registerAs(email);
      const res = await call('POST', '/api/invitations/accept', {
        token: invitee.access_token,
        body: { token: invite.body.token },
      });
      expect(res.status).toBe(404);
      const me = await call('GET', '/api/me', { token: invitee.access_token });
      expect(me.body.memberships).toHaveLength(1);
    });

    it('an expired invitation shows as expired and cannot be accepted', async () => {
      const email = uniqueEmail('late');
      const invite = await call('POST', '/api/org/invitations', { token: owner.token, body: { email } });
      expect(Date.parse(invite.body.expires_at) - Date.parse(invite.body.created_at)).toBe(
        7 * 24 * 3600 * 1000,
      );
      await s.db.kysely
        .updateTable('invitations')
        .set({ expires_at: new Date(Date.now() - 1000).toISOString() })
        .where('id', '=', invite.body.id)
        .execute();
      const listed = await call('GET', '/api/org/invitations?limit=100', { token: owner.token });
      expect(listed.body.data.find((i: { id: string }) => i.id === invite.body.id).status).toBe('expired');
      const invitee = await registerAs(email);
      const res = await call('POST', '/api/invitations/accept', {
        token: invitee.access_token,
        body: { token: invite.body.token },
      });
      expect(res.status).toBe(404);
    });

    it('a new invitation for the same address replaces the pending one', async () => {
      const email = uniqueEmail('reinvite');
      const first = await call('POST', '/api/org/invitations', { token: owner.token, body: { email } });
      expect(first.body.role).toBe('staff');
      const second = await call('POST', '/api/org/invitations', {
        token: owner.token,
        body: { email, role: 'admin' },
      });
      expect(second.status).toBe(201);
      const invitee = await registerAs(email);
      const old = await call('POST', '/api/invitations/accept', {
        token: invitee.access_token,
        body: { token: first.body.token },
      });
      expect(old.status).toBe(404);
      const ok = await call('POST', '/api/invitations/accept', {
        token: invitee.access_token,
        body: { token: second.body.token },
      });
      expect(ok.body.role).toBe('admin');
    });

    it('refuses to invite an existing member (409 already_member)', async () => {
      const res = await call('POST', '/api/org/invitations', {
        token: owner.token,
        body: { email: owner.email },
      });
      expect(res.status).toBe(409);
      expect(res.body.code).toBe('already_member');
    });

    it('only a signed-in user can accept an invitation', async () => {
      const key = await call('POST', '/api/api-keys', { token: owner.token, body: { name: 'accept' } });
      const res = await call('POST', '/api/invitations/accept', {
        token: key.body.secret,
        body: { token: 'inv_whatever' },
      });
      expect(res.status).toBe(403);
      expect(res.body.code).toBe('user_required');
    });

    it("changes a member's role, effective on the member's next request", async () => {
      const member = await addMember('staff');
      const before = await call('POST', '/api/events', { token: member.token, body: sampleEvent() });
      expect(before.status).toBe(403);
      const res = await call('PUT', `/api/org/members/${member.userId}`, {
        token: owner.token,
        body: { role: 'admin' },
      });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ object: 'member', role: 'admin', user: { id: member.userId } });
      const after = await call('POST', '/api/events', { token: member.token, body: sampleEvent() });
      expect(after.status).toBe(201);
      const me = await call('GET', '/api/me', { token: member.token });
      expect(me.body.role).toBe('admin');
      const members = await call('GET', '/api/org/members?limit=100', { token: owner.token });
      expect(members.body.data.find((m: { user: { id: string } }) => m.user.id === member.userId).role).toBe(
        'admin',
      );
    });

    it('answers a role change for a non-member with 404', async () => {
      const stranger = await signUp(s.url);
      const res = await call('PUT', `/api/org/members/${stranger.session.user.id}`, {
        token: owner.token,
        body: { role: 'admin' },
      });
      expect(res.status).toBe(404);
    });

    it('removes a member: their access token gets 401 membership_revoked and their refresh token dies', async () => {
      const member = await addMember('admin');
      const before = await call('GET', '/api/events', { token: member.token });
      expect(before.status).toBe(200);
      const res = await call('DELETE', `/api/org/members/${member.userId}`, { token: owner.token });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ id: member.userId, object: 'member', deleted: true });
      const after = await call('GET', '/api/events', { token: member.token });
      expect(after.status).toBe(401);
      expect(after.body.code).toBe('membership_revoked');
      const refresh = await call('POST', '/api/auth/refresh', { body: { refresh_token: member.refresh } });
      expect(refresh.status).toBe(401);
      const members = await call('GET', '/api/org/members?limit=100', { token: owner.token });
      expect(members.body.data.some((m: { user: { id: string } }) => m.user.id === member.userId)).toBe(
        false,
      );
      // Their own organization is untouched.
      const own = await login(member.email, PASSWORD);
      expect(own.status).toBe(200);
      expect(own.body.organization.id).not.toBe(orgId());
    });

    it('protects the last owner (409 last_owner) until there is another', async () => {
      const solo = await signUp(s.url);
      const me = solo.session.user.id;
      const demote = await call('PUT', `/api/org/members/${me}`, {
        token: solo.token,
        body: { role: 'admin' },
      });
      expect(demote.status).toBe(409);
      expect(demote.body.code).toBe('last_owner');
      const leave = await call('DELETE', `/api/org/members/${me}`, { token: solo.token });
      expect(leave.status).toBe(409);
      expect(leave.body.code).toBe('last_owner');
      const still = await call('GET', '/api/me', { token: solo.token });
      expect(still.body.role).toBe('owner');

      const other = await registerAs(uniqueEmail('coowner'));
      const inv = await call('POST', '/api/org/invitations', {
        token: solo.token,
        body: { email: other.user.email, role: 'owner' },
      });
      expect(inv.status).toBe(201);
      await call('POST', '/api/invitations/accept', {
        token: other.access_token,
        body: { token: inv.body.token },
      });
      const ok = await call('PUT', `/api/org/members/${me}`, { token: solo.token, body: { role: 'admin' } });
      expect(ok.status).toBe(200);
      expect(ok.body.role).toBe('admin');
    });

    it('two owners stepping down at the same instant leave one owner', async () => {
      for (let round = 0; round < 2; round++) {
        const first = await signUp(s.url);
        const secondEmail = uniqueEmail('co');
        const second = await registerAs(secondEmail);
        const inv = await call('POST', '/api/org/invitations', {
          token: first.token,
          body: { email: secondEmail, role: 'owner' },
        });
        await call('POST', '/api/invitations/accept', {
          token: second.access_token,
          body: { token: inv.body.token },
        });
        const secondInOrg = await call('POST', '/api/auth/refresh', {
          body: { refresh_token: second.refresh_token, organization_id: first.session.organization.id },
        });
        expect(secondInOrg.body.role).toBe('owner');
        // Round 0: both demote themselves; round 1: one demotes, the other leaves.
        const [a, b] = await Promise.all([
          call('PUT', `/api/org/members/${first.session.user.id}`, {
            token: first.token,
            body: { role: 'admin' },
          }),
          round === 1
            ? call('DELETE', `/api/org/members/${second.user.id}`, { token: secondInOrg.body.access_token })
            : call('PUT', `/api/org/members/${second.user.id}`, {
                token: secondInOrg.body.access_token,
                body: { role: 'staff' },
              }),
        ]);
        expect([a.status, b.status].sort()).toEqual([200, 409]);
        expect([a.body.code, b.body.code]).toContain('last_owner');
        const rows = await s.db.kysely
          .selectFrom('memberships')
          .select('role')
          .where('org_id', '=', first.session.organization.id)
          .execute();
        expect(rows.filter((r) => r.role === 'owner')).toHaveLength(1);
      }
    });

    it('an admin cannot grant, change or remove the owner role (403 owner_required)', async () => {
      const admin = await addMember('admin');
      const staff = await addMember('staff');
      const grant = await call('PUT', `/api/org/members/${staff.userId}`, {
        token: admin.token,
        body: { role: 'owner' },
      });
      expect(grant.status).toBe(403);
      expect(grant.body.code).toBe('owner_required');
      const demoteOwner = await call('PUT', `/api/org/members/${owner.session.user.id}`, {
        token: admin.token,
        body: { role: 'staff' },
      });
      expect(demoteOwner.status).toBe(403);
      expect(demoteOwner.body.code).toBe('owner_required');
      const removeOwner = await call('DELETE', `/api/org/members/${owner.session.user.id}`, {
        token: admin.token,
      });
      expect(removeOwner.status).toBe(403);
      expect(removeOwner.body.code).toBe('owner_required');
      const inviteOwner = await call('POST', '/api/org/invitations', {
        token: admin.token,
        body: { email: uniqueEmail('would-be-owner'), role: 'owner' },
      });
      expect(inviteOwner.status).toBe(403);
      expect(inviteOwner.body.code).toBe('owner_required');
      const ownerStill = await call('GET', '/api/me', { token: owner.token });
      expect(ownerStill.body.role).toBe('owner');

      // What an admin may do.
      const promote = await call('PUT', `/api/org/members/${staff.userId}`, {
        token: admin.token,
        body: { role: 'admin' },
      });
      expect(promote.status).toBe(200);
      const inviteStaff = await call('POST', '/api/org/invitations', {
        token: admin.token,
        body: { email: uniqueEmail('by-admin') },
      });
      expect(inviteStaff.status).toBe(201);
    });

    it('staff cannot manage members (403 insufficient_permission) but can read events', async () => {
      const staff = await addMember('staff');
      const other = await addMember('staff');
      const change = await call('PUT', `/api/org/members/${other.userId}`, {
        token: staff.token,
        body: { role: 'admin' },
      });
      expect(change.status).toBe(403);
      expect(change.body.code).toBe('insufficient_permission');
      const remove = await call('DELETE', `/api/org/members/${other.userId}`, { token: staff.token });
      expect(remove.status).toBe(403);
      expect(remove.body.code).toBe('insufficient_permission');
      const invite = await call('POST', '/api/org/invitations', {
        token: staff.token,
        body: { email: uniqueEmail('by-staff') },
      });
      expect(invite.status).toBe(403);
      expect(invite.body.code).toBe('insufficient_permission');
      const invitations = await call('GET', '/api/org/invitations', { token: staff.token });
      expect(invitations.status).toBe(403);
      const keys = await call('GET', '/api/api-keys', { token: staff.token });
      expect(keys.status).toBe(403);
      const createEvent = await call('POST', '/api/events', { token: staff.token, body: sampleEvent() });
      expect(createEvent.status).toBe(403);
      expect(createEvent.body.code).toBe('insufficient_permission');

      const created = await call('POST', '/api/events', {
        token: owner.token,
        body: sampleEvent({ name: 'Staff can see this' }),
      });
      expect(created.status).toBe(201);
      const list = await call('GET', '/api/events?limit=100', { token: staff.token });
      expect(list.status).toBe(200);
      expect(list.body.data.map((e: { id: string }) => e.id)).toContain(created.body.id);
      const one = await call('GET', `/api/events/${created.body.id}`, { token: staff.token });
      expect(one.status).toBe(200);
      expect(one.body.name).toBe('Staff can see this');
      const members = await call('GET', '/api/org/members', { token: staff.token });
      expect(members.status).toBe(200);
    });
  });

  describe('API keys', () => {
    let owner: Awaited<ReturnType<typeof signUp>>;
    beforeAll(async () => {
      owner = await signUp(s.url, 'Kim Keys');
    });

    it('creates a key whose secret is shown once, and lists keys without secrets', async () => {
      const res = await call('POST', '/api/api-keys', { token: owner.token, body: { name: '  Website  ' } });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({
        object: 'api_key',
        name: 'Website',
        scopes: ['full'],
        created_by: owner.session.user.id,
        last_used_at: null,
        revoked_at: null,
      });
      expect(res.body.id).toMatch(/^key_/);
      expect(res.body.secret).toMatch(/^tk_.{20,}$/);
      expect(res.body.prefix).toBe(res.body.secret.slice(0, res.body.prefix.length));
      expect(res.body.prefix.length).toBeLessThan(res.body.secret.length / 2);

      const list = await call('GET', '/api/api-keys', { token: owner.token });
      expect(list.status).toBe(200);
      const listed = list.body.data.find((k: { id: string }) => k.id === res.body.id);
      expect(listed).toMatchObject({ name: 'Website', prefix: res.body.prefix, scopes: ['full'] });
      expect(listed).not.toHaveProperty('secret');
      expect(JSON.stringify(list.body)).not.toContain(res.body.secret);
    });

    it('works as a Bearer token with the rights of its scope', async () => {
      const key = await call('POST', '/api/api-keys', { token: owner.token, body: { name: 'Script' } });
      const created = await call('POST', '/api/events', { token: key.body.secret, body: sampleEvent() });
      expect(created.status).toBe(201);
      const list = await call('GET', '/api/events', { token: key.body.secret });
      expect(list.status).toBe(200);
      expect(list.body.data.map((e: { id: string }) => e.id)).toContain(created.body.id);
      // The owner sees what the key created: it acts in the owner's organization.
      const asOwner = await call('GET', `/api/events/${created.body.id}`, { token: owner.token });
      expect(asOwner.status).toBe(200);
      const keys = await call('GET', '/api/api-keys', { token: owner.token });
      const used = keys.body.data.find((k: { id: string }) => k.id === key.body.id);
      expect(used.last_used_at).toEqual(expect.any(String));
    });

    it('a checkin-scoped key cannot read events (403)', async () => {
      const key = await call('POST', '/api/api-keys', {
        token: owner.token,
        body: { name: 'Door', scopes: ['checkin'] },
      });
      expect(key.status).toBe(201);
      expect(key.body.scopes).toEqual(['checkin']);
      const res = await call('GET', '/api/events', { token: key.body.secret });
      expect(res.status).toBe(403);
      expect(res.body.code).toBe('insufficient_permission');
      const write = await call('POST', '/api/events', { token: key.body.secret, body: sampleEvent() });
      expect(write.status).toBe(403);
      const members = await call('GET', '/api/org/members', { token: key.body.secret });
      expect(members.status).toBe(403);
      const me = await call('GET', '/api/me', { token: key.body.secret });
      expect(me.status).toBe(200);
    });

    it('a revoked key gets 401 at once', async () => {
      const key = await call('POST', '/api/api-keys', { token: owner.token, body: { name: 'Temp' } });
      expect((await call('GET', '/api/events', { token: key.body.secret })).status).toBe(200);
      const revoked = await call('DELETE', `/api/api-keys/${key.body.id}`, { token: owner.token });
      expect(revoked.status).toBe(200);
      expect(revoked.body).toMatchObject({
        id: key.body.id,
        object: 'api_key',
        revoked_at: expect.any(String),
      });
      expect(revoked.body).not.toHaveProperty('secret');
      const res = await call('GET', '/api/events', { token: key.body.secret });
      expect(res.status).toBe(401);
      expect(res.body.code).toBe('invalid_api_key');
      const again = await call('DELETE', `/api/api-keys/${key.body.id}`, { token: owner.token });
      expect(again.status).toBe(409);
      expect(again.body.code).toBe('already_revoked');
      const list = await call('GET', '/api/api-keys', { token: owner.token });
      expect(list.body.data.find((k: { id: string }) => k.id === key.body.id).revoked_at).toBe(
        revoked.body.revoked_at,
      );
    });

    it('API keys cannot create, list or revoke API keys, nor manage members (403)', async () => {
      const key = await call('POST', '/api/api-keys', { token: owner.token, body: { name: 'Full' } });
      const create = await call('POST', '/api/api-keys', { token: key.body.secret, body: { name: 'Child' } });
      expect(create.status).toBe(403);
      expect(create.body.code).toBe('insufficient_permission');
      const list = await call('GET', '/api/api-keys', { token: key.body.secret });
      expect(list.status).toBe(403);
      const revoke = await call('DELETE', `/api/api-keys/${key.body.id}`, { token: key.body.secret });
      expect(revoke.status).toBe(403);
      const invite = await call('POST', '/api/org/invitations', {
        token: key.body.secret,
        body: { email: uniqueEmail('by-key') },
      });
      expect(invite.status).toBe(403);
      const keys = await call('GET', '/api/api-keys?limit=100', { token: owner.token });
      expect(keys.body.data.some((k: { name: string }) => k.name === 'Child')).toBe(false);
    });

    it('another organization cannot see or revoke a key (404)', async () => {
      const key = await call('POST', '/api/api-keys', { token: owner.token, body: { name: 'Private' } });
      const other = await signUp(s.url);
      const revoke = await call('DELETE', `/api/api-keys/${key.body.id}`, { token: other.token });
      expect(revoke.status).toBe(404);
      const list = await call('GET', '/api/api-keys', { token: other.token });
      expect(list.body.data).toEqual([]);
      expect((await call('GET', '/api/events', { token: key.body.secret })).status).toBe(200);
    });

    it('refuses an unknown scope with 422', async () => {
      const res = await call('POST', '/api/api-keys', {
        token: owner.token,
        body: { name: 'Bad', scopes: ['root'] },
      });
      expect(res.status).toBe(422);
      expect(res.body.errors[0].path).toBe('scopes.0');
    });
  });
});

// These wait on the clock, so the cases (each on its own server) run side by side.
describe.concurrent('timing-dependent auth', () => {
  it.for(DIALECTS)(
    '%s: locks an e-mail after TICKETS_LOGIN_MAX_FAILURES failures, even for the right password, then lets it in again',
    async (dialect) => {
      const s = await startTestServer(dialect, {
        TICKETS_LOGIN_MAX_FAILURES: '3',
        // Long, so that slow password checks on a busy machine (CI under load took over 4 s for three)
        // stay inside one counting window; the lockout's end is then reached by moving its time back.
        TICKETS_LOGIN_LOCKOUT: '120',
      });
      try {
        const call = http(s.url);
        const victim = await signUp(s.url);
        const bystander = await signUp(s.url);
        const login = (email: string, password: string) =>
          call('POST', '/api/auth/login', { body: { email, password } });

        // A success resets the count.
        expect((await login(victim.email, 'wrong password 1')).status).toBe(401);
        expect((await login(victim.email, 'wrong password 2')).status).toBe(401);
        expect((await login(victim.email, victim.password)).status).toBe(200);

        for (let i = 0; i < 3; i++) {
          const res = await login(victim.email, `wrong password ${i}`);
          expect(res.status).toBe(401);
          expect(res.body.code).toBe('invalid_credentials');
        }
        const locked = await login(victim.email, victim.password);
        expect(locked.status).toBe(429);
        expect(locked.body.code).toBe('too_many_login_attempts');
        const retryAfter = Number(locked.headers.get('retry-after'));
        expect(Number.isInteger(retryAfter)).toBe(true);
        expect(retryAfter).toBeGreaterThanOrEqual(1);
        expect(retryAfter).toBeLessThanOrEqual(120);
        const upper = await login(victim.email.toUpperCase(), victim.password);
        expect(upper.status).toBe(429);

        // Per e-mail: someone else from the same address is not locked out.
        expect((await login(bystander.email, bystander.password)).status).toBe(200);

        // The lockout ends (as if 120 s had passed): its end moved into the past, the window with it.
        const past = new Date(Date.now() - 1000).toISOString();
        await s.db.kysely
          .updateTable('login_throttle')
          .set({ locked_until: past, window_started_at: new Date(Date.now() - 121_000).toISOString() })
          .where('key', '=', `email:${victim.email}`)
          .execute();
        const later = await login(victim.email, victim.password);
        expect(later.status).toBe(200);
      } finally {
        await s.stop();
      }
    },
  );

  it.for(DIALECTS)(
    '%s: locks a client address after TICKETS_LOGIN_MAX_FAILURES_PER_IP failures across different e-mails',
    async (dialect) => {
      const s = await startTestServer(dialect, {
        TICKETS_LOGIN_MAX_FAILURES: '100',
        TICKETS_LOGIN_MAX_FAILURES_PER_IP: '3',
      });
      try {
        const call = http(s.url);
        const user = await signUp(s.url);
        for (let i = 0; i < 3; i++) {
          const res = await call('POST', '/api/auth/login', {
            body: { email: uniqueEmail(`spray${i}`), password: 'guessing-passwords' },
          });
          expect(res.status).toBe(401);
        }
        const res = await call('POST', '/api/auth/login', {
          body: { email: user.email, password: user.password },
        });
        expect(res.status).toBe(429);
        expect(res.body.code).toBe('too_many_login_attempts');
        expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
        expect(Number(res.headers.get('retry-after'))).toBeLessThanOrEqual(900);
        // Tokens already issued keep working; only sign-in is throttled.
        expect((await call('GET', '/api/me', { token: user.token })).status).toBe(200);
      } finally {
        await s.stop();
      }
    },
  );

  it.for(DIALECTS)('%s: an expired refresh token gets 401 invalid_refresh_token', async (dialect) => {
    const s = await startTestServer(dialect, { TICKETS_REFRESH_TOKEN_TTL: '1' });
    try {
      const call = http(s.url);
      const user = await signUp(s.url);
      await sleep(1100);
      const res = await call('POST', '/api/auth/refresh', {
        body: { refresh_token: user.session.refresh_token },
      });
      expect(res.status).toBe(401);
      expect(res.body.code).toBe('invalid_refresh_token');
    } finally {
      await s.stop();
    }
  });

  it.for(DIALECTS)(
    '%s: answers an expired access token with 401 token_expired; refresh still works',
    async (dialect) => {
      const s = await startTestServer(dialect, { TICKETS_ACCESS_TOKEN_TTL: '1' });
      try {
        const call = http(s.url);
        const user = await signUp(s.url);
        expect(user.session.expires_in).toBe(1);
        await sleep(2100);
        const res = await call('GET', '/api/me', { token: user.token });
        expect(res.status).toBe(401);
        expect(res.body.code).toBe('token_expired');
        expect(res.headers.get('www-authenticate')).toMatch(/invalid_token/);
        const refreshed = await call('POST', '/api/auth/refresh', {
          body: { refresh_token: user.session.refresh_token },
        });
        expect(refreshed.status).toBe(200);
        expect(refreshed.body.expires_in).toBe(1);
      } finally {
        await s.stop();
      }
    },
  );
});
