import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, startTestServer, type TestServer, waitFor } from '../../server/test/harness.js';
import { signupRun } from '../src/commands/auth.js';
import type { Prompter } from '../src/factory.js';
import { type Cli, fakePrompter, makeCli, PASSWORD, uniqueEmail, withFactory } from './run-cli.js';

describe('sqlite: tickets accounts, profiles and credentials', () => {
  let server: TestServer;
  let cli: Cli;
  let email: string;

  beforeAll(async () => {
    server = await startTestServer('sqlite');
    cli = makeCli();
    email = uniqueEmail();
  });
  afterAll(async () => {
    cli.cleanup();
    await server.stop();
  });

  it('exits 4 with a hint to log in when there are no credentials', async () => {
    const r = await cli(['whoami'], { env: { TICKETS_API_URL: server.url } });
    expect(r.exitCode).toBe(4);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('not logged in');
    expect(r.stderr).toContain('tickets login');
  });

  it('signs up, saves the session in the profile, and knows who you are', async () => {
    const signup = await cli([
      'signup',
      '--email',
      email,
      '--name',
      'Ann Organizer',
      '--password',
      PASSWORD,
      '--api-url',
      server.url,
    ]);
    expect(signup.exitCode, signup.stderr).toBe(0);
    expect(signup.stderr).toContain(`Signed up as ${email}`);

    const profile = cli.config().profiles.default!;
    expect(profile.api_url).toBe(server.url);
    expect(profile.access_token).toBeTruthy();
    expect(profile.refresh_token).toBeTruthy();

    const me = await cli.json(['whoami']);
    expect(me).toMatchObject({ object: 'me', user: { email, name: 'Ann Organizer' }, role: 'owner' });
    const human = await cli(['whoami']);
    expect(human.stdout).toContain(`User: Ann Organizer <${email}>`);
  });

  it('asks a person at a terminal which server to sign up on, offering the local one, and keeps it', async () => {
    const fresh = makeCli();
    try {
      const asked: { message: string; default?: string }[] = [];
      const prompter: Prompter = fakePrompter({
        async input(message, options) {
          asked.push({ message, default: options?.default });
          expect(options?.validate?.('not a url')).toMatch(/http/);
          expect(options?.validate?.(server.url)).toBe(true);
          return `${server.url}/`;
        },
      });
      const who = uniqueEmail('asked');
      const r = await withFactory(fresh, { tty: true, prompter }, (f) =>
        signupRun(f, { email: who, name: 'Asa Asked', password: PASSWORD }),
      );
      expect(r.result).toBe(0);
      expect(asked).toEqual([
        {
          message: 'Which tickets server? (Enter: one running on this machine)',
          default: 'http://127.0.0.1:3000',
        },
      ]);
      expect(r.stderr).toContain(`Signed up as ${who}`);
      expect(r.stderr).toContain(`on ${server.url}.`);
      expect(fresh.config().profiles.default!.api_url).toBe(server.url);
      // Known now: a second sign-up on this profile is not asked again.
      const again = await withFactory(fresh, { tty: true, prompter }, (f) =>
        signupRun(f, { email: uniqueEmail('again'), name: 'Asa Again', password: PASSWORD }),
      );
      expect(again.result).toBe(0);
      expect(asked).toHaveLength(1);
    } finally {
      fresh.cleanup();
    }
  });

  it('switches organization without a password, and its hints work when piped', async () => {
    const other = makeCli();
    try {
      const owner = uniqueEmail('switch-owner');
      expect(
        (
          await other([
            'signup',
            '--email',
            owner,
            '--name',
            'Sol Owner',
            '--password',
            PASSWORD,
            '--api-url',
            server.url,
          ])
        ).exitCode,
      ).toBe(0);
      const invited = uniqueEmail('switcher');
      const invite = await other.json(['orgs', 'members', 'invite', invited, '--role', 'admin']);
      const me = makeCli();
      try {
        expect(
          (
            await me([
              'signup',
              '--email',
              invited,
              '--name',
              'Sid Switch',
              '--password',
              PASSWORD,
              '--api-url',
              server.url,
            ])
          ).exitCode,
        ).toBe(0);
        const own = (await me.json(['whoami'])).organization.id as string;
        const accepted = await me(['orgs', 'members', 'accept', invite.token]);
        expect(accepted.exitCode, accepted.stderr).toBe(0);
        const hint = /To act in it: (tickets orgs switch org_\w+)/.exec(accepted.stderr)![1]!;
        // The hint, run as printed, with nothing on stdin.
        const switched = await me(hint.split(' ').slice(1));
        expect(switched.exitCode, switched.stderr).toBe(0);
        expect(switched.stderr).toContain('Now acting in Sol Owner');
        expect((await me.json(['whoami'])).role).toBe('admin');
        expect((await me(['orgs', 'switch', own])).exitCode).toBe(0);
        expect((await me.json(['whoami'])).organization.id).toBe(own);
        expect((await me(['orgs', 'switch', 'evt_123'])).exitCode).toBe(2);
        const stranger = await me(['orgs', 'switch', 'org_01jd6x3k7qf0v8c6w2x9yq4e5b']);
        expect(stranger.exitCode).toBe(1);
      } finally {
        me.cleanup();
      }
      const nobody = await other(['--profile', 'nobody', 'whoami'], { env: { TICKETS_API_URL: server.url } });
      expect(nobody.exitCode).toBe(4);
      expect(nobody.stderr).toContain('tickets login --email <e-mail> --password-stdin < password-file');
    } finally {
      other.cleanup();
    }
  });

  it('asks for nothing without a TTY: a missing sign-up value is a usage error', async () => {
    const r = await cli([
      'signup',
      '--email',
      uniqueEmail(),
      '--name',
      'No Password',
      '--api-url',
      server.url,
    ]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('missing required option --password');
  });

  it('logs in with a password read from stdin, and rejects a wrong one with exit 1', async () => {
    const other = makeCli();
    try {
      const ok = await other(['login', '--email', email, '--password-stdin', '--api-url', server.url], {
        input: `${PASSWORD}\n`,
      });
      expect(ok.exitCode, ok.stderr).toBe(0);
      expect((await other.json(['whoami'])).user.email).toBe(email);

      const wrong = await other([
        'login',
        '--email',
        email,
        '--password',
        'not the password',
        '--api-url',
        server.url,
      ]);
      expect(wrong.exitCode).toBe(1);
      expect(wrong.stderr).toMatch(/^error: .+ \(invalid_credentials, request id req_\S+\)$/m);
    } finally {
      other.cleanup();
    }
  });

  it('logs in with an API key, and TICKETS_API_KEY overrides any profile', async () => {
    const key = await cli.json(['api-keys', 'create', '--name', 'Door 1', '--scope', 'checkin']);
    expect(key.secret).toMatch(/^tk_/);
    const full = await cli.json(['api-keys', 'create', '--name', 'Scripts']);

    const door = await cli(['--profile', 'door', 'login', '--api-key', full.secret, '--api-url', server.url]);
    expect(door.exitCode, door.stderr).toBe(0);
    const me = await cli.json(['--profile', 'door', 'whoami']);
    expect(me).toMatchObject({ user: null, api_key: { name: 'Scripts', scopes: ['full'] } });
    expect(cli.config().profiles.door).toMatchObject({ api_key: full.secret, api_url: server.url });

    const fresh = makeCli();
    try {
      const viaEnv = await fresh.json(['whoami'], {
        env: { TICKETS_API_URL: server.url, TICKETS_API_KEY: key.secret },
      });
      expect(viaEnv.api_key).toMatchObject({ name: 'Door 1', scopes: ['checkin'] });
      // A check-in key may not manage events: a permission error from the API, exit 1.
      const refused = await fresh(['events', 'list'], {
        env: { TICKETS_API_URL: server.url, TICKETS_API_KEY: key.secret },
      });
      expect(refused.exitCode).toBe(1);
      expect(refused.stderr).toMatch(/request id req_/);
    } finally {
      fresh.cleanup();
    }

    const revoked = await cli.json(['api-keys', 'revoke', full.id, '--yes']);
    expect(revoked.revoked_at).toBeTruthy();
    // The stored key no longer works: "log in again", exit 4.
    const stale = await cli(['--profile', 'door', 'whoami']);
    expect(stale.exitCode).toBe(4);
    expect(stale.stderr).toContain('tickets login');
  });

  it('warns when listing a key whose creator is no longer a member (it no longer works)', async () => {
    const key = await cli.json(['api-keys', 'create', '--name', 'Orphan']);
    // As a key made before removals revoked them: its creator is gone, the key still listed as live.
    const gone = await http(server.url)('POST', '/api/auth/register', {
      body: {
        email: `gone-${Date.now()}@example.com`,
        password: 'correct horse battery staple',
        name: 'Gone',
      },
    });
    await server.db.kysely
      .updateTable('api_keys')
      .set({ created_by: gone.body.user.id })
      .where('id', '=', key.id)
      .execute();
    const listed = await cli(['api-keys', 'list']);
    expect(listed.exitCode).toBe(0);
    expect(listed.stderr).toContain(`${key.id} (Orphan): whoever created it is no longer a member`);
    const refused = await http(server.url)('GET', '/api/events', { token: key.secret });
    expect(refused.status).toBe(401);
    const clean = await cli(['api-keys', 'list']);
    await cli.json(['api-keys', 'revoke', key.id, '--yes']);
    expect((await cli(['api-keys', 'list'])).stderr).not.toContain('Orphan');
    expect(clean.stdout).toContain(key.id);
  });

  it('keeps profiles apart: list, use, show, remove', async () => {
    const profiles = await cli.json(['config', 'list']);
    expect(profiles).toEqual([
      expect.objectContaining({ name: 'default', current: true, auth: 'session', user_email: email }),
      expect.objectContaining({ name: 'door', current: false, auth: 'api_key' }),
    ]);
    expect(JSON.stringify(profiles)).not.toContain(cli.config().profiles.door!.api_key!);

    expect((await cli(['config', 'use', 'door'])).exitCode).toBe(0);
    expect(await cli.json(['config', 'show'])).toMatchObject({
      name: 'door',
      auth: 'api_key',
      current: true,
    });
    // --profile wins over the profile in use.
    expect((await cli.json(['--profile', 'default', 'whoami'])).user.email).toBe(email);

    const set = await cli(['--profile', 'staging', 'config', 'set', 'api_url', 'http://127.0.0.1:1']);
    expect(set.exitCode).toBe(0);
    expect(cli.config().profiles.staging).toEqual({ api_url: 'http://127.0.0.1:1' });

    expect((await cli(['config', 'remove', 'door'])).exitCode).toBe(0);
    expect((await cli(['config', 'remove', 'staging'])).exitCode).toBe(0);
    const left = await cli.json(['config', 'list']);
    expect(left.map((p: { name: string }) => p.name)).toEqual(['default']);
    expect(left[0].current).toBe(true);
  });

  it('manages members and invitations', async () => {
    const invitee = uniqueEmail('sam');
    const invitation = await cli.json(['orgs', 'members', 'invite', invitee, '--role', 'admin']);
    expect(invitation).toMatchObject({ email: invitee, role: 'admin', status: 'pending' });
    expect(invitation.token).toBeTruthy();

    const sam = makeCli();
    try {
      const signup = await sam([
        'signup',
        '--email',
        invitee,
        '--name',
        'Sam',
        '--password',
        PASSWORD,
        '--api-url',
        server.url,
      ]);
      expect(signup.exitCode, signup.stderr).toBe(0);
      const joined = await sam.json(['orgs', 'members', 'accept', invitation.token]);
      expect(joined.role).toBe('admin');
    } finally {
      sam.cleanup();
    }
    const members = await cli.json(['orgs', 'members', 'list']);
    const samMember = members.find((m: { user: { email: string } }) => m.user.email === invitee);
    expect(samMember.role).toBe('admin');
    expect((await cli.json(['orgs', 'members', 'set-role', samMember.user.id, 'staff'])).role).toBe('staff');
    expect((await cli.json(['orgs', 'members', 'remove', samMember.user.id, '--yes'])).deleted).toBe(true);
  });

  it('signs an invitee up straight into the inviting organization, with none of their own', async () => {
    const invitee = uniqueEmail('ivy');
    const invitation = await cli.json(['orgs', 'members', 'invite', invitee, '--role', 'staff']);
    const ivy = makeCli();
    try {
      const both = await ivy([
        'signup',
        '--invitation',
        invitation.token,
        '--org-name',
        'Mine',
        '--email',
        invitee,
      ]);
      expect(both.exitCode).toBe(2);
      const signup = await ivy.json([
        'signup',
        '--invitation',
        invitation.token,
        '--email',
        invitee,
        '--name',
        'Ivy',
        '--password',
        PASSWORD,
        '--api-url',
        server.url,
      ]);
      const mine = await cli.json(['whoami']);
      expect(signup).toMatchObject({ role: 'staff', organization: { id: mine.organization.id } });
      const orgs = await server.db.kysely
        .selectFrom('memberships')
        .innerJoin('users', 'users.id', 'memberships.user_id')
        .select('memberships.org_id')
        .where('users.email', '=', invitee)
        .execute();
      expect(orgs).toEqual([{ org_id: mine.organization.id }]);
    } finally {
      ivy.cleanup();
    }
  });

  it('resets a forgotten password with the e-mailed token: old sessions end, the new password logs in', async () => {
    const who = uniqueEmail('forgetful');
    const own = makeCli();
    try {
      const up = await own([
        'signup',
        '--email',
        who,
        '--name',
        'Fay Forget',
        '--password',
        PASSWORD,
        '--api-url',
        server.url,
      ]);
      expect(up.exitCode, up.stderr).toBe(0);
      const forgot = await own(['password', 'forgot', '--email', who]);
      expect(forgot.exitCode, forgot.stderr).toBe(0);
      expect(forgot.stderr).toContain(
        `If an account has ${who}, a reset token is on its way to it (valid 60 minutes).`,
      );
      expect(forgot.stderr).toContain('Then: tickets password reset --token pwr_…');
      // The e-mail, as the local outbox wrote it.
      const row = await waitFor(
        () =>
          server.db.kysely
            .selectFrom('outbox')
            .select(['id', 'status'])
            .where('kind', '=', 'password_reset')
            .where('recipient', '=', who)
            .executeTakeFirst(),
        (r) => r?.status === 'sent',
      );
      const eml = readFileSync(join(server.config.dataDir, 'outbox', `${row!.id}.eml`), 'utf8');
      const token = /pwr_[A-Za-z0-9_-]{40,}/.exec(eml)![0];

      const missing = await own(['password', 'reset', '--password-stdin'], {
        input: 'a fresh passphrase 1\n',
      });
      expect(missing.exitCode).toBe(2);
      expect(missing.stderr).toContain('--token');
      const reset = await own(['password', 'reset', '--token', token, '--password-stdin'], {
        input: 'a fresh passphrase 1\n',
      });
      expect(reset.exitCode, reset.stderr).toBe(0);
      expect(reset.stderr).toContain('Password changed. Every session of the account has ended.');
      // The profile's session ended with it.
      const stale = await own(['whoami']);
      expect(stale.exitCode).toBe(4);
      const reused = await own(['password', 'reset', '--token', token, '--password', 'another passphrase 2']);
      expect(reused.exitCode).toBe(1);
      expect(reused.stderr).toContain('--token: This reset token is not valid');
      const login = await own(['login', '--email', who, '--password-stdin'], {
        input: 'a fresh passphrase 1\n',
      });
      expect(login.exitCode, login.stderr).toBe(0);
    } finally {
      own.cleanup();
    }
  });

  it('logs out: the refresh token is revoked on the server and the profile forgets it', async () => {
    const { refresh_token } = cli.config().profiles.default!;
    const r = await cli(['logout']);
    expect(r.exitCode).toBe(0);
    expect(cli.config().profiles.default).toEqual({ api_url: server.url });
    const refresh = await http(server.url)('POST', '/api/auth/refresh', { body: { refresh_token } });
    expect(refresh.status).toBe(401);
    expect((await cli(['whoami'])).exitCode).toBe(4);
  });
});

describe('sqlite: tickets token refresh', () => {
  it('renews an expired access token by itself and saves the new tokens in the profile', async () => {
    const server = await startTestServer('sqlite', { TICKETS_ACCESS_TOKEN_TTL: '1' });
    const cli = makeCli();
    try {
      const signup = await cli([
        'signup',
        '--email',
        uniqueEmail(),
        '--name',
        'Ann',
        '--password',
        PASSWORD,
        '--api-url',
        server.url,
      ]);
      expect(signup.exitCode, signup.stderr).toBe(0);
      const before = cli.config().profiles.default!;
      await new Promise((r) => setTimeout(r, 2100));
      expect((await cli(['whoami'])).exitCode).toBe(0);
      const after = cli.config().profiles.default!;
      expect(after.access_token).not.toBe(before.access_token);
      expect(after.refresh_token).not.toBe(before.refresh_token);
      // The old refresh token was rotated away; the saved one is the live one.
      expect((await cli(['whoami'])).exitCode).toBe(0);
    } finally {
      cli.cleanup();
      await server.stop();
    }
  });
});
