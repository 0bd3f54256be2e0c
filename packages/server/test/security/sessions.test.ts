// Signing out ends the session's access tokens at once, not when they expire: in the process that
// signed out immediately, in another process on the same database within a moment (the ended session is
// read from the database and remembered only briefly). So does reusing a refresh token (a stolen copy).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, DIALECTS, signUp, type TestDatabase, waitFor } from '../harness.js';
import { type ServerProcess, startTwo, stopProcess } from '../processes.js';

describe.each(DIALECTS)('%s: ending a session ends its access tokens', (dialect) => {
  let database: TestDatabase;
  let a: ServerProcess;
  let b: ServerProcess;

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    [a, b] = await startTwo(database.url);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([stopProcess(a), stopProcess(b)]);
    await database?.drop();
  });

  const me = (p: ServerProcess, token: string) => p.call('GET', '/api/me', { token });

  it('refuses the access token after logout, in this process at once and in the other within seconds', async () => {
    const { session } = await signUp(a.url);
    const token = session.access_token as string;
    expect((await me(a, token)).status).toBe(200);
    expect((await me(b, token)).status).toBe(200);
    const out = await a.call('POST', '/api/auth/logout', { body: { refresh_token: session.refresh_token } });
    expect(out.status).toBe(204);
    const here = await me(a, token);
    expect(here.status).toBe(401);
    expect(here.body.code).toBe('session_ended');
    const there = await waitFor(
      () => me(b, token),
      (r) => r.status === 401,
      5000,
    );
    expect(there.body.code).toBe('session_ended');
    // Another session of the same user goes on.
    const again = await a.call('POST', '/api/auth/login', {
      body: { email: session.user.email, password: 'correct horse battery staple' },
    });
    expect((await me(b, again.body.access_token)).status).toBe(200);
  });

  it('ends the access tokens of a session whose refresh token is presented twice (a stolen copy)', async () => {
    const { session } = await signUp(a.url);
    const first = await a.call('POST', '/api/auth/refresh', {
      body: { refresh_token: session.refresh_token },
    });
    expect(first.status).toBe(200);
    const replay = await b.call('POST', '/api/auth/refresh', {
      body: { refresh_token: session.refresh_token },
    });
    expect(replay.status).toBe(401);
    for (const p of [b, a]) {
      const r = await waitFor(
        () => me(p, first.body.access_token),
        (res) => res.status === 401,
        5000,
      );
      expect(r.body.code).toBe('session_ended');
    }
  });
});
