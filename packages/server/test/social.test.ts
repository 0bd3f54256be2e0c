import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeFacebook, facebookUserId, startFakeFacebook } from './fakes/facebook.js';
import { type FakeGoogle, googleSubject, startFakeGoogle } from './fakes/google.js';
import { DIALECTS, http, signUp, startTestServer, type TestServer } from './harness.js';

const GOOGLE_PATH = '/api/auth/social/google';
const FACEBOOK_PATH = '/api/auth/social/facebook';

/** A URL on 127.0.0.1 where nothing listens. */
async function closedPortUrl(path: string): Promise<string> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return `http://127.0.0.1:${port}${path}`;
}

const unique = (prefix: string) =>
  `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

function providerEnv(google: FakeGoogle, facebook: FakeFacebook): Record<string, string> {
  return {
    GOOGLE_CLIENT_ID: google.clientId,
    GOOGLE_JWKS_URL: google.jwksUrl,
    FACEBOOK_APP_ID: facebook.appId,
    FACEBOOK_APP_SECRET: facebook.appSecret,
    FACEBOOK_GRAPH_URL: facebook.graphUrl,
  };
}

describe.each(DIALECTS)('%s: social login', (dialect) => {
  let google: FakeGoogle;
  let facebook: FakeFacebook;
  let s: TestServer;
  let call: ReturnType<typeof http>;
  const withGoogle = (idToken: string, extra: Record<string, unknown> = {}) =>
    call('POST', GOOGLE_PATH, { body: { id_token: idToken, ...extra } });
  const withFacebook = (accessToken: string, extra: Record<string, unknown> = {}) =>
    call('POST', FACEBOOK_PATH, { body: { access_token: accessToken, ...extra } });

  beforeAll(async () => {
    google = await startFakeGoogle();
    facebook = await startFakeFacebook();
    s = await startTestServer(dialect, providerEnv(google, facebook));
    call = http(s.url);
  });
  afterAll(async () => {
    await s?.stop();
    await google?.close();
    await facebook?.close();
  });

  describe('Google', () => {
    it('signs up a new person with a verified address: a user, an organization they own, a session', async () => {
      const email = `${unique('ada')}@gmail.com`;
      const res = await withGoogle(await google.signIdToken({ email, name: 'Ada Lovelace' }));
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        object: 'session',
        token_type: 'Bearer',
        user: { email, name: 'Ada Lovelace' },
        organization: { name: "Ada Lovelace's events" },
        role: 'owner',
      });
      expect(res.body.user.id).toMatch(/^usr_/);
      expect(google.requests).toBeGreaterThanOrEqual(1);

      const me = await call('GET', '/api/me', { token: res.body.access_token });
      expect(me.status).toBe(200);
      expect(me.body).toMatchObject({
        user: { id: res.body.user.id, email },
        organization: { id: res.body.organization.id },
        role: 'owner',
      });

      const refreshed = await call('POST', '/api/auth/refresh', {
        body: { refresh_token: res.body.refresh_token },
      });
      expect(refreshed.status).toBe(200);
      expect(refreshed.body.user.id).toBe(res.body.user.id);
    });

    it('signs the same Google account in again to the same user and organization', async () => {
      const sub = googleSubject();
      const email = `${unique('grace')}@gmail.com`;
      const first = await withGoogle(await google.signIdToken({ sub, email }));
      const second = await withGoogle(await google.signIdToken({ sub, email }));
      expect(first.status).toBe(200);
      expect(second.status).toBe(200);
      expect(second.body.user.id).toBe(first.body.user.id);
      expect(second.body.organization.id).toBe(first.body.organization.id);
      expect(second.body.refresh_token).not.toBe(first.body.refresh_token);
    });

    it('follows the Google account, not the address, once linked', async () => {
      const sub = googleSubject();
      const first = await withGoogle(await google.signIdToken({ sub, email: `${unique('old')}@gmail.com` }));
      // Addresses change; and a linked account is recognised even while its new address is unverified.
      const moved = await withGoogle(
        await google.signIdToken({ sub, email: `${unique('new')}@example.com`, email_verified: false }),
      );
      expect(moved.status).toBe(200);
      expect(moved.body.user.id).toBe(first.body.user.id);
    });

    it('links to an existing password account with the same verified address', async () => {
      const owner = await signUp(s.url, 'Pat Password');
      const res = await withGoogle(await google.signIdToken({ email: owner.email.toUpperCase() }));
      expect(res.status).toBe(200);
      expect(res.body.user.id).toBe(owner.session.user.id);
      expect(res.body.organization.id).toBe(owner.session.organization.id);
      expect(res.body.user.name).toBe('Pat Password');
      // The password still works after linking.
      const login = await call('POST', '/api/auth/login', {
        body: { email: owner.email, password: owner.password },
      });
      expect(login.status).toBe(200);
      expect(login.body.user.id).toBe(owner.session.user.id);
    });

    it('will not move a link to a second Google account with the same address', async () => {
      const email = `${unique('twice')}@gmail.com`;
      const first = await withGoogle(await google.signIdToken({ email }));
      expect(first.status).toBe(200);
      const other = await withGoogle(await google.signIdToken({ sub: googleSubject(), email }));
      expect(other.status).toBe(409);
      expect(other.body.code).toBe('social_account_linked_elsewhere');
    });

    it('accepts the issuer without a scheme, as Google sometimes sends it', async () => {
      const res = await withGoogle(await google.signIdToken({ iss: 'accounts.google.com' }));
      expect(res.status).toBe(200);
    });

    it('acts in the requested organization, and refuses one the user is not in', async () => {
      const sub = googleSubject();
      const first = await withGoogle(await google.signIdToken({ sub }));
      const again = await withGoogle(await google.signIdToken({ sub }), {
        organization_id: first.body.organization.id,
      });
      expect(again.status).toBe(200);
      expect(again.body.organization.id).toBe(first.body.organization.id);
      const stranger = await signUp(s.url);
      const foreign = await withGoogle(await google.signIdToken({ sub }), {
        organization_id: stranger.session.organization.id,
      });
      expect(foreign.status).toBe(403);
      expect(foreign.body.code).toBe('not_a_member');
    });

    it('signs simultaneous first sign-ins of one account up once', async () => {
      for (let round = 0; round < 3; round++) {
        const token = await google.signIdToken({ email: `${unique('twice')}@gmail.com` });
        const results = await Promise.all([1, 2, 3, 4].map(() => withGoogle(token)));
        expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200]);
        expect(new Set(results.map((r) => r.body.user.id)).size).toBe(1);
        expect(new Set(results.map((r) => r.body.organization.id)).size).toBe(1);
      }
    });

    it.each([
      ['issued to another client', { aud: 'someone-else.apps.googleusercontent.com' }],
      ['issued by someone else', { iss: 'https://accounts.evil.example' }],
      ['expired', { iat: Math.floor(Date.now() / 1000) - 7200, exp: Math.floor(Date.now() / 1000) - 3600 }],
      ['not valid yet', { nbf: Math.floor(Date.now() / 1000) + 3600 }],
    ])('refuses a token %s with 401', async (_, claims) => {
      const res = await withGoogle(await google.signIdToken(claims));
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(res.body).toMatchObject({ status: 401, code: 'social_login_failed' });
    });

    it('refuses a token signed by a key Google does not publish', async () => {
      const unknownKid = await withGoogle(await google.signIdToken({}, { key: 'unpublished' }));
      expect(unknownKid.status).toBe(401);
      expect(unknownKid.body.code).toBe('social_login_failed');
      // A forger who copies the real key id still cannot produce Google's signature.
      const borrowedKid = await withGoogle(
        await google.signIdToken({}, { key: 'unpublished', kid: google.kid }),
      );
      expect(borrowedKid.status).toBe(401);
      expect(borrowedKid.body.code).toBe('social_login_failed');
    });

    it('refuses unsigned and malformed tokens with 401', async () => {
      const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
      const now = Math.floor(Date.now() / 1000);
      const claims = {
        iss: 'https://accounts.google.com',
        aud: google.clientId,
        sub: googleSubject(),
        email: `${unique('none')}@gmail.com`,
        email_verified: true,
        exp: now + 3600,
      };
      const valid = await google.signIdToken(claims);
      const [header, , signature] = valid.split('.');
      for (const token of [
        `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`,
        `${header}.${b64({ ...claims, sub: googleSubject() })}.${signature}`,
        'not-a-jwt',
        'a.b.c',
        `${header}.!!!.${signature}`,
      ]) {
        const res = await withGoogle(token);
        expect(res.status, token).toBe(401);
        expect(res.body.code, token).toBe('social_login_failed');
      }
    });

    it('refuses a token without a subject', async () => {
      const res = await withGoogle(await google.signIdToken({ sub: undefined }));
      expect(res.status).toBe(401);
      expect(res.body.code).toBe('social_login_failed');
    });

    it('will not sign up or link an unverified address', async () => {
      const fresh = await withGoogle(
        await google.signIdToken({ email: `${unique('unverified')}@example.com`, email_verified: false }),
      );
      expect(fresh.status).toBe(401);
      expect(fresh.body.code).toBe('social_email_unverified');

      // Someone holding a Google account with a victim's unverified address must not get into their account.
      const victim = await signUp(s.url);
      const sub = googleSubject();
      const takeover = await withGoogle(
        await google.signIdToken({ sub, email: victim.email, email_verified: false }),
      );
      expect(takeover.status).toBe(401);
      expect(takeover.body.code).toBe('social_email_unverified');
      // Nor was the link recorded for later.
      const later = await withGoogle(
        await google.signIdToken({ sub, email: `${unique('other')}@gmail.com` }),
      );
      expect(later.status).toBe(200);
      expect(later.body.user.id).not.toBe(victim.session.user.id);

      const noEmail = await withGoogle(
        await google.signIdToken({ email: undefined, email_verified: undefined }),
      );
      expect(noEmail.status).toBe(401);
      expect(noEmail.body.code).toBe('social_email_unverified');
    });

    it('validates the body', async () => {
      for (const body of [{}, { id_token: '' }, { id_token: 42 }, { id_token: 'x', surprise: true }]) {
        const res = await call('POST', GOOGLE_PATH, { body });
        expect(res.status, JSON.stringify(body)).toBe(422);
        expect(res.body.code).toBe('validation_failed');
      }
      const missing = await call('POST', GOOGLE_PATH, { body: {} });
      expect(missing.body.errors).toEqual([expect.objectContaining({ path: 'id_token' })]);
    });
  });

  describe('Facebook', () => {
    it('signs up a new person and then signs them in again', async () => {
      const profile = { id: facebookUserId(), name: 'Mark Z', email: `${unique('mz')}@example.com` };
      const calls = facebook.calls.length;
      const first = await withFacebook(facebook.issueToken(profile));
      expect(first.status).toBe(200);
      expect(first.body).toMatchObject({
        user: { email: profile.email, name: 'Mark Z' },
        organization: { name: "Mark Z's events" },
        role: 'owner',
      });
      expect(facebook.calls.slice(calls)).toEqual(['/debug_token', '/me']);
      const me = await call('GET', '/api/me', { token: first.body.access_token });
      expect(me.status).toBe(200);
      expect(me.body.user.id).toBe(first.body.user.id);

      // A new token for the same person, even without the e-mail permission, finds the same user.
      const again = await withFacebook(facebook.issueToken({ id: profile.id, name: 'Mark Z' }));
      expect(again.status).toBe(200);
      expect(again.body.user.id).toBe(first.body.user.id);
    });

    it('links to an existing account with the same address', async () => {
      const owner = await signUp(s.url);
      const res = await withFacebook(
        facebook.issueToken({ id: facebookUserId(), name: 'Pat', email: owner.email }),
      );
      expect(res.status).toBe(200);
      expect(res.body.user.id).toBe(owner.session.user.id);
    });

    it('links Google and Facebook to one person through their address', async () => {
      const email = `${unique('both')}@example.com`;
      const viaGoogle = await withGoogle(await google.signIdToken({ email }));
      const viaFacebook = await withFacebook(facebook.issueToken({ id: facebookUserId(), name: 'B', email }));
      expect(viaFacebook.status).toBe(200);
      expect(viaFacebook.body.user.id).toBe(viaGoogle.body.user.id);
    });

    it('makes one user of simultaneous first sign-ins with Google and Facebook', async () => {
      for (let round = 0; round < 3; round++) {
        const email = `${unique('race')}@example.com`;
        const googleToken = await google.signIdToken({ email });
        const facebookToken = facebook.issueToken({ id: facebookUserId(), name: 'Racer', email });
        const results = await Promise.all([
          withGoogle(googleToken),
          withFacebook(facebookToken),
          withGoogle(googleToken),
          withFacebook(facebookToken),
        ]);
        expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200]);
        expect(new Set(results.map((r) => r.body.user.id)).size).toBe(1);
      }
    });

    it('refuses a token issued to another app', async () => {
      const token = facebook.issueToken(
        { id: facebookUserId(), name: 'Eve', email: `${unique('eve')}@example.com` },
        { appId: '999999999999999' },
      );
      const res = await withFacebook(token);
      expect(res.status).toBe(401);
      expect(res.body.code).toBe('social_login_failed');
      expect(res.body.detail).toMatch(/another app/);
    });

    it('refuses a token Facebook did not issue', async () => {
      const res = await withFacebook('EAAnot-a-real-token');
      expect(res.status).toBe(401);
      expect(res.body.code).toBe('social_login_failed');
    });

    it('refuses an expired token', async () => {
      const token = facebook.issueToken(
        { id: facebookUserId(), name: 'Old', email: `${unique('old')}@example.com` },
        { expiresAt: Math.floor(Date.now() / 1000) - 60 },
      );
      const res = await withFacebook(token);
      expect(res.status).toBe(401);
      expect(res.body.code).toBe('social_login_failed');
    });

    it('accepts a token that never expires', async () => {
      const token = facebook.issueToken(
        { id: facebookUserId(), name: 'Forever', email: `${unique('forever')}@example.com` },
        { expiresAt: 0 },
      );
      expect((await withFacebook(token)).status).toBe(200);
    });

    it('will not sign up a person whose profile has no e-mail', async () => {
      const res = await withFacebook(facebook.issueToken({ id: facebookUserId(), name: 'No Mail' }));
      expect(res.status).toBe(401);
      expect(res.body.code).toBe('social_email_unverified');
    });

    it('answers 502 while the Graph API is failing, and recovers', async () => {
      const token = facebook.issueToken({
        id: facebookUserId(),
        name: 'W',
        email: `${unique('w')}@example.com`,
      });
      try {
        for (const status of [500, 503]) {
          facebook.behave({ status });
          const res = await withFacebook(token);
          expect(res.status, String(status)).toBe(502);
          expect(res.body.code).toBe('provider_unavailable');
        }
      } finally {
        facebook.behave('ok');
      }
      expect((await withFacebook(token)).status).toBe(200);
    });

    it('blames its own credentials, not the person, when Facebook rejects the app secret', async () => {
      const token = facebook.issueToken({
        id: facebookUserId(),
        name: 'S',
        email: `${unique('s')}@example.com`,
      });
      const configured = facebook.appSecret;
      facebook.resetSecret();
      const res = await withFacebook(token);
      expect(res.status).toBe(502);
      expect(res.body.code).toBe('provider_misconfigured');
      expect(JSON.stringify(res.body)).not.toContain(configured);
    });

    it('validates the body', async () => {
      for (const body of [{}, { access_token: '' }, { id_token: 'x' }]) {
        const res = await call('POST', FACEBOOK_PATH, { body });
        expect(res.status, JSON.stringify(body)).toBe(422);
        expect(res.body.code).toBe('validation_failed');
      }
    });
  });
});

describe.each(DIALECTS)('%s: social login with providers unreachable', (dialect) => {
  let s: TestServer;
  let call: ReturnType<typeof http>;
  beforeAll(async () => {
    s = await startTestServer(dialect, {
      GOOGLE_CLIENT_ID: 'tickets.apps.googleusercontent.com',
      GOOGLE_JWKS_URL: await closedPortUrl('/oauth2/v3/certs'),
      FACEBOOK_APP_ID: '1234',
      FACEBOOK_APP_SECRET: 'secret',
      FACEBOOK_GRAPH_URL: await closedPortUrl('/v21.0'),
    });
    call = http(s.url);
  });
  afterAll(() => s?.stop());

  it('answers 502 provider_unavailable when Google’s keys cannot be fetched', async () => {
    // Any well-formed token will do: the server needs the keys before it can judge it.
    const google = await startFakeGoogle({ clientId: 'tickets.apps.googleusercontent.com' });
    const token = await google.signIdToken();
    await google.close();
    const res = await call('POST', GOOGLE_PATH, { body: { id_token: token } });
    expect(res.status).toBe(502);
    expect(res.body.code).toBe('provider_unavailable');
  });

  it('answers 502 provider_unavailable when the Graph API cannot be reached', async () => {
    const res = await call('POST', FACEBOOK_PATH, { body: { access_token: 'EAAsomething' } });
    expect(res.status).toBe(502);
    expect(res.body.code).toBe('provider_unavailable');
  });
});

describe.each(DIALECTS)('%s: social login when Google’s key endpoint misbehaves', (dialect) => {
  let google: FakeGoogle;
  let s: TestServer;
  let call: ReturnType<typeof http>;
  beforeAll(async () => {
    google = await startFakeGoogle();
    s = await startTestServer(dialect, {
      GOOGLE_CLIENT_ID: google.clientId,
      GOOGLE_JWKS_URL: google.jwksUrl,
    });
    call = http(s.url);
  });
  afterAll(async () => {
    await s?.stop();
    await google?.close();
  });

  // Nothing is cached until a fetch succeeds, so each case reaches the endpoint afresh.
  it.each([
    ['answers 503', { status: 503 }],
    ['answers 404', { status: 404 }],
    ['answers with something other than JSON', 'not-json'],
    ['answers JSON that is not a key set', 'not-a-jwks'],
  ] as const)('answers 502 when the endpoint %s', async (_, behaviour) => {
    google.behave(behaviour);
    const before = google.requests;
    const res = await call('POST', GOOGLE_PATH, { body: { id_token: await google.signIdToken() } });
    expect(google.requests).toBe(before + 1);
    expect(res.status).toBe(502);
    expect(res.body.code).toBe('provider_unavailable');
  });

  it('answers 502 when the endpoint does not answer in time', async () => {
    google.behave('hang');
    const started = Date.now();
    const res = await call('POST', GOOGLE_PATH, { body: { id_token: await google.signIdToken() } });
    expect(res.status).toBe(502);
    expect(res.body.code).toBe('provider_unavailable');
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('signs in once the keys are back', async () => {
    google.behave('ok');
    const res = await call('POST', GOOGLE_PATH, { body: { id_token: await google.signIdToken() } });
    expect(res.status).toBe(200);
  });

  it('answers 501 for Facebook, which this server has no app for', async () => {
    const res = await call('POST', FACEBOOK_PATH, { body: { access_token: 'EAAsomething' } });
    expect(res.status).toBe(501);
    expect(res.body.code).toBe('provider_not_configured');
  });
});

describe.each(DIALECTS)('%s: social login not configured', (dialect) => {
  let s: TestServer;
  let call: ReturnType<typeof http>;
  beforeAll(async () => {
    s = await startTestServer(dialect);
    call = http(s.url);
  });
  afterAll(() => s?.stop());

  it('answers 501 provider_not_configured for Google and Facebook', async () => {
    const google = await call('POST', GOOGLE_PATH, { body: { id_token: 'a.b.c' } });
    expect(google.status).toBe(501);
    expect(google.body.code).toBe('provider_not_configured');
    const facebook = await call('POST', FACEBOOK_PATH, { body: { access_token: 'EAAsomething' } });
    expect(facebook.status).toBe(501);
    expect(facebook.body.code).toBe('provider_not_configured');
  });

  it('still validates the body first', async () => {
    const res = await call('POST', GOOGLE_PATH, { body: {} });
    expect(res.status).toBe(422);
  });
});
