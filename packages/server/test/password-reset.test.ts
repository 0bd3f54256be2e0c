import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, http, signUp, startTestServer, type TestServer, waitFor } from './harness.js';

describe.each(DIALECTS)('%s: password reset and invitations by e-mail', (dialect) => {
  let s: TestServer;
  let call: ReturnType<typeof http>;
  beforeAll(async () => {
    s = await startTestServer(dialect);
    call = http(s.url);
  });
  afterAll(() => s.stop());

  /** The e-mail the worker wrote for an outbox row (the local outbox: no provider configured). */
  const mailOf = async (template: string, recipient: string) => {
    const row = await waitFor(
      () =>
        s.db.kysely
          .selectFrom('outbox')
          .selectAll()
          .where('kind', '=', template)
          .where('recipient', '=', recipient)
          .orderBy('id', 'desc')
          .executeTakeFirst(),
      (r) => r?.status === 'sent',
    );
    const mail = await simpleParser(await readFile(join(s.config.dataDir, 'outbox', `${row!.id}.eml`)));
    return { row: row!, mail, text: mail.text ?? '' };
  };
  /** The token in an e-mail; derived when the e-mail is written, it is never in the queued message. */
  const tokenIn = (found: { text: string; row: { payload: string } }, prefix: string) => {
    const token = new RegExp(`${prefix}_[A-Za-z0-9_-]{40,}`).exec(found.text)?.[0];
    expect(token).toBeDefined();
    expect(found.row.payload).not.toContain(token);
    return token as string;
  };

  it('e-mails a single-use token; the new password works, the old one and every session stop', async () => {
    const user = await signUp(s.url, 'Pia Password');
    const second = await call('POST', '/api/auth/login', {
      body: { email: user.email, password: user.password },
    });
    expect(second.status).toBe(200);

    const asked = await call('POST', '/api/auth/password-reset', { body: { email: user.email } });
    expect(asked.status).toBe(202);
    expect(asked.body).toEqual({
      object: 'password_reset_request',
      email: user.email,
      expires_in_seconds: 3600,
    });
    // No account: the same answer, and nothing sent.
    const nobody = await call('POST', '/api/auth/password-reset', { body: { email: 'nobody@example.com' } });
    expect(nobody.status).toBe(202);
    expect(nobody.body).toEqual({ ...asked.body, email: 'nobody@example.com' });

    const sent = await mailOf('password_reset', user.email);
    const { mail, text } = sent;
    expect(mail.subject).toBe('Reset your password');
    expect(text).toContain('Hello Pia Password');
    const token = tokenIn(sent, 'pwr');
    expect(text).toContain(`tickets password reset --token ${token}`);
    const stored = await s.db.kysely.selectFrom('password_resets').selectAll().execute();
    expect(stored.map((r) => r.token_hash)).not.toContain(token);

    const weak = await call('POST', '/api/auth/password-reset/confirm', {
      body: { token, password: `${user.email}1` },
    });
    expect(weak.status).toBe(422);
    expect(weak.body.errors[0]).toMatchObject({ path: 'password', code: 'weak_password' });

    const done = await call('POST', '/api/auth/password-reset/confirm', {
      body: { token, password: 'a brand new passphrase' },
    });
    expect(done.status).toBe(204);
    // Every session ended: the access tokens and the refresh tokens of both sign-ins.
    expect((await call('GET', '/api/me', { token: user.token })).status).toBe(401);
    for (const session of [user.session, second.body])
      expect(
        (await call('POST', '/api/auth/refresh', { body: { refresh_token: session.refresh_token } })).status,
      ).toBe(401);
    const old = await call('POST', '/api/auth/login', {
      body: { email: user.email, password: user.password },
    });
    expect(old.status).toBe(401);
    const fresh = await call('POST', '/api/auth/login', {
      body: { email: user.email, password: 'a brand new passphrase' },
    });
    expect(fresh.status).toBe(200);

    // Used once.
    const again = await call('POST', '/api/auth/password-reset/confirm', {
      body: { token, password: 'yet another passphrase' },
    });
    expect(again.status).toBe(422);
    expect(again.body.errors[0]).toMatchObject({ path: 'token', code: 'invalid_token' });
  });

  it('opens a page from the e-mailed link whose form sets the password once; opening it changes nothing', async () => {
    const user = await signUp(s.url, 'Lin Link');
    expect((await call('POST', '/api/auth/password-reset', { body: { email: user.email } })).status).toBe(
      202,
    );
    const sent = await mailOf('password_reset', user.email);
    const token = tokenIn(sent, 'pwr');
    const link = /https?:\/\/\S+\/api\/auth\/password-reset\/page\?token=\S+/.exec(sent.text)?.[0];
    expect(link).toBeDefined();
    const path = new URL(link!).pathname + new URL(link!).search;
    expect(new URL(link!).searchParams.get('token')).toBe(token);

    const opened = await fetch(s.url + path);
    expect(opened.status).toBe(200);
    expect(opened.headers.get('content-type')).toContain('text/html');
    expect(opened.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = await opened.text();
    expect(html).toContain('<form method="post">');
    expect(html).toContain('name="password"');
    // A mail scanner opening the link used nothing: the old password still works.
    expect(
      (await call('POST', '/api/auth/login', { body: { email: user.email, password: user.password } }))
        .status,
    ).toBe(200);

    const post = (fields: Record<string, string>) =>
      fetch(s.url + path, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(fields).toString(),
      });
    const differ = await post({ password: 'one long passphrase', confirm: 'another long one' });
    expect(differ.status).toBe(422);
    expect(await differ.text()).toContain('The two passwords differ');
    const short = await post({ password: 'short', confirm: 'short' });
    expect(short.status).toBe(422);
    expect(await short.text()).toContain('at least 10 characters');
    const mine = await post({ password: `${user.email}!`, confirm: `${user.email}!` });
    expect(mine.status).toBe(422);
    expect(await mine.text()).toContain('must not be your e-mail address');

    const done = await post({ password: 'page-set passphrase', confirm: 'page-set passphrase' });
    expect(done.status).toBe(200);
    expect(await done.text()).toContain('Your password is set');
    expect((await call('GET', '/api/me', { token: user.token })).status).toBe(401);
    expect(
      (
        await call('POST', '/api/auth/login', {
          body: { email: user.email, password: 'page-set passphrase' },
        })
      ).status,
    ).toBe(200);
    const twice = await post({ password: 'another passphrase', confirm: 'another passphrase' });
    expect(twice.status).toBe(400);
    expect(await twice.text()).toContain('This link no longer works');
    // A made-up token: the page still opens (it checks nothing), the form refuses.
    expect((await fetch(`${s.url}/api/auth/password-reset/page?token=pwr_made_up`)).status).toBe(200);
  });

  it('lets one of many racing uses of a token through, refuses an expired or made-up one, and limits requests', async () => {
    const user = await signUp(s.url, 'Rex Race');
    await call('POST', '/api/auth/password-reset', { body: { email: user.email } });
    const token = tokenIn(await mailOf('password_reset', user.email), 'pwr');
    const tries = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        call('POST', '/api/auth/password-reset/confirm', {
          body: { token, password: `racing passphrase ${i}` },
        }),
      ),
    );
    expect(tries.filter((r) => r.status === 204)).toHaveLength(1);
    expect(tries.filter((r) => r.status === 422)).toHaveLength(11);
    const used = await s.db.kysely
      .selectFrom('password_resets')
      .innerJoin('users', 'users.id', 'password_resets.user_id')
      .select('password_resets.used_at')
      .where('users.email', '=', user.email)
      .execute();
    expect(used).toHaveLength(1);
    expect(used[0]!.used_at).not.toBeNull();

    const late = await signUp(s.url, 'Lou Late');
    await call('POST', '/api/auth/password-reset', { body: { email: late.email } });
    const lateToken = tokenIn(await mailOf('password_reset', late.email), 'pwr');
    await s.db.kysely
      .updateTable('password_resets')
      .set({ expires_at: new Date(Date.now() - 1000).toISOString() })
      .where('used_at', 'is', null)
      .execute();
    const expired = await call('POST', '/api/auth/password-reset/confirm', {
      body: { token: lateToken, password: 'too late passphrase' },
    });
    expect(expired.status).toBe(422);
    const forged = await call('POST', '/api/auth/password-reset/confirm', {
      body: { token: `pwr_${'A'.repeat(43)}`, password: 'forged passphrase x' },
    });
    expect(forged.status).toBe(422);

    const limited: number[] = [];
    for (let i = 0; i < 6; i++)
      limited.push(
        (await call('POST', '/api/auth/password-reset', { body: { email: 'flood@example.com' } })).status,
      );
    expect(limited).toEqual([202, 202, 202, 202, 202, 429]);
  });

  it('e-mails an invitation with its token and who sent it; the token signs the invitee up', async () => {
    const owner = await signUp(s.url, 'Olga Owner');
    const email = `invitee-${Date.now()}@example.com`;
    const invite = await call('POST', '/api/org/invitations', {
      token: owner.token,
      body: { email, role: 'staff' },
    });
    expect(invite.status).toBe(201);
    const sent = await mailOf('invitation', email);
    const { mail, text } = sent;
    expect(mail.subject).toBe("Olga Owner invited you to Olga Owner's events");
    expect(text).toContain('as staff');
    expect(tokenIn(sent, 'inv')).toBe(invite.body.token);
    expect(text).toContain(`tickets signup --invitation ${invite.body.token}`);
    const joined = await call('POST', '/api/auth/register', {
      body: {
        email,
        password: 'correct horse battery staple',
        name: 'Ivy Invitee',
        invitation: invite.body.token,
      },
    });
    expect(joined.status).toBe(201);
    expect(joined.body.organization.id).toBe(owner.session.organization.id);
  });
});
