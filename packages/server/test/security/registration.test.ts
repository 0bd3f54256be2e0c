// Sign-ups are throttled per client address and per e-mail domain (counted in the database, so every
// process agrees): past the limit, 429 with Retry-After, and no account is created.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, http, startTestServer, type TestServer } from '../harness.js';

describe.each(DIALECTS)('%s: registration is throttled', (dialect) => {
  let server: TestServer;
  let call: ReturnType<typeof http>;

  beforeAll(async () => {
    server = await startTestServer(dialect, {
      TICKETS_REGISTER_MAX_PER_IP: '4',
      TICKETS_REGISTER_MAX_PER_DOMAIN: '2',
    });
    call = http(server.url);
  });
  afterAll(() => server?.stop());

  const register = (email: string, ip?: string) =>
    call('POST', '/api/auth/register', {
      body: { email, password: 'correct horse battery staple', name: 'Sign Up' },
      headers: ip ? { 'x-forwarded-for': ip } : {},
    });
  const accounts = async (email: string) =>
    (await server.db.kysely.selectFrom('users').select('id').where('email', '=', email).execute()).length;

  it('refuses a third sign-up at one e-mail domain within the hour, with Retry-After', async () => {
    expect((await register('a@one.example')).status).toBe(201);
    expect((await register('b@one.example')).status).toBe(201);
    const third = await register('c@one.example');
    expect(third.status).toBe(429);
    expect(third.body.code).toBe('too_many_registrations');
    expect(third.body.detail).toContain('one.example');
    const retryAfter = Number(third.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(3000);
    expect(retryAfter).toBeLessThanOrEqual(3600);
    expect(await accounts('c@one.example')).toBe(0);
  });

  it('refuses sign-ups from one address past its limit, whatever the domains (refused attempts count)', async () => {
    // Three attempts were counted above (one refused for its domain); the fourth reaches the limit.
    expect((await register('d@two.example')).status).toBe(201);
    const fifth = await register('e@three.example');
    expect(fifth.status).toBe(429);
    expect(fifth.body.detail).toContain('your address');
    expect(fifth.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await accounts('e@three.example')).toBe(0);
  });
});
