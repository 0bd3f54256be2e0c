import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, startTestServer, type TestServer } from '../../server/test/harness.js';
import {
  loginRun,
  logoutRun,
  newLoginCommand,
  newLogoutCommand,
  newSignupCommand,
  newWhoamiCommand,
  whoamiRun,
} from '../src/commands/auth.js';
import {
  checkinStatsRun,
  checkinSyncRun,
  checkinUploadRun,
  newCheckinStatsCommand,
  newCheckinSyncCommand,
  newCheckinUploadCommand,
} from '../src/commands/checkin-offline.js';
import { passwordForgotRun } from '../src/commands/password.js';
import { newRefundListCommand, newRefundShowCommand, refundShowRun } from '../src/commands/refunds.js';
import { type SellOptions, sellRun } from '../src/commands/sell.js';
import { UsageError } from '../src/errors.js';
import {
  type Cli,
  fakePrompter,
  flagRecorder,
  makeCli,
  PASSWORD,
  signUpWithEvent,
  thrown,
  withFactory,
} from './run-cli.js';

/**
 * `tickets login`, `logout`, `whoami`, `password`, `sell`, `checkin sync|upload|stats` and `refunds
 * show` as gh tests a command: flags read into options by the command built with a run function that
 * only records them, and each run function called directly with fake streams and a fake prompter,
 * against a real in-process server.
 */
describe('sqlite: login, logout, sell, offline check-in and refunds, run in-process', () => {
  let server: TestServer;
  let cli: Cli;
  let eventId: string;
  let email: string;

  const sell = async (c: Cli, name: string, type = 'GA') => {
    const buyer = `${name.toLowerCase().replace(/\W+/g, '.')}@example.com`;
    return c.json(['sell', eventId, '--type', type, '--name', name, '--email', buyer]);
  };
  const sellOptions = (more: Partial<SellOptions> = {}): SellOptions => ({
    event: eventId,
    lines: [],
    method: 'manual',
    holders: [],
    marketingOptIn: false,
    ...more,
  });

  beforeAll(async () => {
    server = await startTestServer('sqlite');
    cli = makeCli();
    eventId = await signUpWithEvent(cli, server.url, { org: 'Auth Run Org', event: 'Auth Run Night' });
    email = (await cli.json(['whoami'])).user.email;
    await cli.json(['types', 'create', eventId, '--name', 'GA', '--price', '20', '--capacity', '30']);
    await cli.json(['types', 'create', eventId, '--name', 'VIP', '--price', '60', '--capacity', '5']);
    await cli.json(['events', 'publish', eventId]);
  });
  afterAll(async () => {
    cli?.cleanup();
    await server?.stop();
  });

  it('reads the flags of signup, login, logout, whoami, checkin sync, upload and stats, and refunds into options', async () => {
    const { record, parse } = flagRecorder();

    expect(
      await parse(
        (p) => newLoginCommand(p, record),
        'login',
        '--email',
        'ann@example.com',
        '--password-stdin',
        '--api-url',
        'http://x.test',
      ),
    ).toEqual({
      email: 'ann@example.com',
      password: undefined,
      passwordStdin: true,
      apiKey: undefined,
      apiUrl: 'http://x.test',
      org: undefined,
    });
    expect(
      await parse((p) => newLoginCommand(p, record), 'login', '--api-key', 'tk_1', '--org', 'org_1'),
    ).toEqual({
      email: undefined,
      password: undefined,
      passwordStdin: false,
      apiKey: 'tk_1',
      apiUrl: undefined,
      org: 'org_1',
    });
    expect(
      await parse(
        (p) => newSignupCommand(p, record),
        'signup',
        '--email',
        'sam@example.com',
        '--name',
        'Sam',
        '--invitation',
        'inv_1',
      ),
    ).toEqual({
      email: 'sam@example.com',
      name: 'Sam',
      password: undefined,
      passwordStdin: false,
      orgName: undefined,
      invitation: 'inv_1',
      apiUrl: undefined,
    });
    expect(await parse((p) => newLogoutCommand(p, record), 'logout')).toEqual({});
    expect(await parse((p) => newWhoamiCommand(p, record), 'whoami')).toEqual({});

    const checkin = (p: Command) => p.command('checkin');
    expect(
      await parse(
        (p) => newCheckinSyncCommand(checkin(p), record),
        'checkin',
        'sync',
        'evt_1',
        '--list',
        'cl_1',
      ),
    ).toEqual({ event: 'evt_1', list: 'cl_1' });
    expect(await parse((p) => newCheckinUploadCommand(checkin(p), record), 'checkin', 'upload')).toEqual({
      event: undefined,
    });
    expect(
      await parse((p) => newCheckinUploadCommand(checkin(p), record), 'checkin', 'upload', 'evt_2'),
    ).toEqual({ event: 'evt_2' });
    expect(
      await parse((p) => newCheckinStatsCommand(checkin(p), record), 'checkin', 'stats', 'evt_3', '--watch'),
    ).toEqual({ event: 'evt_3', watch: true });
    await expect(
      parse((p) => newCheckinStatsCommand(checkin(p), record), 'checkin', 'stats', 'ord_1'),
    ).rejects.toThrow(/evt_/);

    const refunds = (p: Command) => p.command('refunds');
    expect(await parse((p) => newRefundShowCommand(refunds(p), record), 'refunds', 'show', 'ref_1')).toEqual({
      id: 'ref_1',
    });
    await expect(
      parse((p) => newRefundShowCommand(refunds(p), record), 'refunds', 'show', 'ord_1'),
    ).rejects.toThrow(/ref_/);
    expect(
      await parse(
        (p) => newRefundListCommand(refunds(p), record),
        'refunds',
        'list',
        '--order',
        'ord_1',
        '--all',
      ),
    ).toEqual({ event: undefined, order: 'ord_1', status: undefined, limit: 30, all: true });
  });

  it('login asks a person at a terminal for the e-mail and the password (not echoed), and keeps the session', async () => {
    const fresh = makeCli();
    try {
      const asked: string[] = [];
      const prompter = fakePrompter({
        async input(message) {
          asked.push(`input: ${message}`);
          return email;
        },
        async password(message) {
          asked.push(`password: ${message}`);
          return PASSWORD;
        },
      });
      const r = await withFactory(fresh, { tty: true, prompter }, (f) =>
        loginRun(f, { apiUrl: server.url, passwordStdin: false }),
      );
      expect(r.result).toBe(0);
      expect(asked).toEqual(['input: E-mail', 'password: Password']);
      expect(r.stderr).toContain(`Logged in as ${email}, owner of Auth Run Org`);
      expect(r.stdout).toBe('');
      expect(`${r.stdout}${r.stderr}`).not.toContain(PASSWORD);
      expect(fresh.config().profiles.default).toMatchObject({ api_url: server.url, user_email: email });

      const me = await withFactory(fresh, { json: true }, (f) => whoamiRun(f, {}));
      expect(me.result).toBe(0);
      expect(JSON.parse(me.stdout)).toMatchObject({ object: 'me', user: { email }, role: 'owner' });
    } finally {
      fresh.cleanup();
    }
  });

  it('login in a script asks nothing: it must be told --email and --password-stdin (else exit 2)', async () => {
    const script = makeCli();
    try {
      // A prompter that fails the test on any question, for a script that cannot answer one.
      const nobody = fakePrompter({ interactive: false });
      const noEmail = await thrown(
        withFactory(script, { prompter: nobody }, (f) =>
          loginRun(f, { apiUrl: server.url, passwordStdin: false }),
        ),
      );
      expect(noEmail).toBeInstanceOf(UsageError);
      expect(noEmail.message).toBe('missing required option --email');
      const noPassword = await thrown(
        withFactory(script, { prompter: nobody }, (f) =>
          loginRun(f, { email, apiUrl: server.url, passwordStdin: false }),
        ),
      );
      expect(noPassword).toBeInstanceOf(UsageError);
      expect(noPassword.message).toBe('missing required option --password');
      const both = await thrown(
        withFactory(script, { prompter: nobody }, (f) =>
          loginRun(f, { email, password: PASSWORD, passwordStdin: true, apiUrl: server.url }),
        ),
      );
      expect(both.message).toBe('use either --password or --password-stdin');

      // The same through the command line: usage errors, exit 2, and no profile written.
      const missing = await script(['login', '--api-url', server.url]);
      expect(missing.exitCode).toBe(2);
      expect(missing.stderr).toContain('missing required option --email');
      const noStdin = await script(['login', '--email', email, '--api-url', server.url]);
      expect(noStdin.exitCode).toBe(2);
      expect(noStdin.stderr).toContain('missing required option --password');
      expect((await script(['whoami'])).exitCode).toBe(4);

      const told = await script(['login', '--email', email, '--password-stdin', '--api-url', server.url], {
        input: `${PASSWORD}\n`,
      });
      expect(told.exitCode, told.stderr).toBe(0);
      expect(told.stderr).toContain(`Logged in as ${email}`);
      expect(script.config().profiles.default!.access_token).toBeTruthy();
    } finally {
      script.cleanup();
    }
  });

  it('logout ends the session on the server and forgets it; logged out, it says so', async () => {
    const leaving = makeCli();
    try {
      const login = await withFactory(leaving, {}, (f) =>
        loginRun(f, { email, password: PASSWORD, passwordStdin: false, apiUrl: server.url }),
      );
      expect(login.result).toBe(0);
      const { refresh_token } = leaving.config().profiles.default!;
      expect(refresh_token).toBeTruthy();

      const out = await withFactory(leaving, { json: true }, (f) => logoutRun(f, {}));
      expect(out.result).toBe(0);
      expect(JSON.parse(out.stdout)).toEqual({ profile: 'default', logged_out: true, session_revoked: true });
      expect(leaving.config().profiles.default).toEqual({ api_url: server.url });
      const refresh = await http(server.url)('POST', '/api/auth/refresh', { body: { refresh_token } });
      expect(refresh.status).toBe(401);

      const again = await withFactory(leaving, {}, (f) => logoutRun(f, {}));
      expect(again.result).toBe(0);
      expect(again.stderr).toContain('Not logged in (profile "default").');
      expect((await leaving(['whoami'])).exitCode).toBe(4);
    } finally {
      leaving.cleanup();
    }
  });

  it('password forgot asks a person at a terminal for the e-mail', async () => {
    const asked: string[] = [];
    const prompter = fakePrompter({
      async input(message) {
        asked.push(message);
        return email;
      },
    });
    const r = await withFactory(cli, { tty: true, prompter }, (f) =>
      passwordForgotRun(f, { apiUrl: server.url }),
    );
    expect(r.result).toBe(0);
    expect(asked).toEqual(['E-mail of the account']);
    expect(r.stderr).toContain(`If an account has ${email}, a reset token is on its way to it`);
    const script = await thrown(withFactory(cli, {}, (f) => passwordForgotRun(f, { apiUrl: server.url })));
    expect(script).toBeInstanceOf(UsageError);
    expect(script.message).toBe('missing required option --email');
  });

  it('sell asks a person at a terminal for the ticket type, the name and the e-mail; a script is told --type', async () => {
    const asked: string[] = [];
    const prompter = fakePrompter({
      async input(message) {
        asked.push(message);
        if (message.startsWith('Ticket type')) return 'vip';
        if (message === "Buyer's name") return 'Tia Terminal';
        return 'tia@example.com';
      },
    });
    const r = await withFactory(cli, { tty: true, json: true, prompter }, (f) => sellRun(f, sellOptions()));
    expect(r.result).toBe(0);
    expect(asked).toEqual([
      expect.stringMatching(/^Ticket type \("GA" \(tt_\w+\), "VIP" \(tt_\w+\)\)$/),
      "Buyer's name",
      "Buyer's e-mail",
    ]);
    const order = JSON.parse(r.stdout);
    expect(order).toMatchObject({
      status: 'paid',
      buyer: { name: 'Tia Terminal', email: 'tia@example.com' },
      items: [{ name: 'VIP', quantity: 1 }],
    });

    const script = await thrown(
      withFactory(cli, { json: true }, (f) =>
        sellRun(f, sellOptions({ name: 'Sid Script', email: 'sid@example.com' })),
      ),
    );
    expect(script).toBeInstanceOf(UsageError);
    expect(script.message).toBe('missing required option --type');
    const piped = await cli(['sell', eventId, '--name', 'Sid Script', '--email', 'sid@example.com']);
    expect(piped.exitCode).toBe(2);
    expect(piped.stderr).toContain('missing required option --type');
  });

  it('refunds show --json gives the refund; piped, its details without the "Refunded" line', async () => {
    const order = await sell(cli, 'Rae Refund');
    const refund = await cli.json([
      'orders',
      'refund',
      order.id,
      '--amount',
      '5',
      '--reason',
      'Late',
      '--yes',
    ]);
    expect(refund.id).toMatch(/^ref_/);

    const json = await withFactory(cli, { json: true }, (f) => refundShowRun(f, { id: refund.id }));
    expect(json.result).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({
      object: 'refund',
      id: refund.id,
      order_id: order.id,
      amount: { amount: 500, currency: 'EUR' },
      reason: 'Late',
    });
    const plain = await withFactory(cli, {}, (f) => refundShowRun(f, { id: refund.id }));
    expect(plain.stdout).toContain(`Refund: ${refund.id}`);
    expect(plain.stdout).toContain(`Order: ${order.id}`);
    expect(plain.stdout).toContain('Amount: €5.00');
    expect(`${plain.stdout}${plain.stderr}`).not.toContain('Refunded');
  });

  it('checkin sync, upload and stats --json from their run functions: a second door’s upload reports the conflict, exit 1', async () => {
    const ada = (await sell(cli, 'Ada Admit')).tickets[0] as { id: string; code: string };
    // A second device, logged in with a check-in key through loginRun.
    const key = await cli.json(['api-keys', 'create', '--name', 'Door 2', '--scope', 'checkin']);
    const door2 = makeCli();
    try {
      const login = await withFactory(door2, { json: true }, (f) =>
        loginRun(f, { apiKey: key.secret, apiUrl: server.url, passwordStdin: false }),
      );
      expect(login.result).toBe(0);
      expect(JSON.parse(login.stdout)).toMatchObject({ object: 'me', api_key: { name: 'Door 2' } });

      for (const device of [cli, door2]) {
        const synced = await withFactory(device, { json: true }, (f) =>
          checkinSyncRun(f, { event: eventId }),
        );
        expect(synced.result).toBe(0);
        expect(JSON.parse(synced.stdout)).toMatchObject({
          event_id: eventId,
          list_name: 'Main entrance',
          full: true,
        });
      }
      const one = await cli(['validate', ada.code, '--offline', '--gate', 'North', '--device', 'scanner-1']);
      expect(one.exitCode, one.stderr).toBe(0);
      const two = await door2([
        'validate',
        ada.code,
        '--offline',
        '--gate',
        'South',
        '--device',
        'scanner-2',
      ]);
      expect(two.exitCode, two.stderr).toBe(0);

      const up1 = await withFactory(cli, { json: true }, (f) => checkinUploadRun(f, { event: eventId }));
      expect(up1.result).toBe(0);
      expect(JSON.parse(up1.stdout)).toEqual([{ event_id: eventId, uploaded: 1, conflicts: [], left: 0 }]);

      const up2 = await withFactory(door2, { json: true }, (f) => checkinUploadRun(f, {}));
      expect(up2.result).toBe(1);
      expect(JSON.parse(up2.stdout)).toEqual([
        {
          event_id: eventId,
          uploaded: 1,
          left: 0,
          conflicts: [
            expect.objectContaining({
              ticket_id: ada.id,
              first_used: expect.objectContaining({ device_id: 'scanner-1', gate: 'North' }),
            }),
          ],
        },
      ]);
      const nothing = await withFactory(door2, {}, (f) => checkinUploadRun(f, {}));
      expect(nothing.result).toBe(0);
      expect(nothing.stderr).toContain('Nothing to upload.');

      // --watch with --json answers once, as without it.
      const stats = await withFactory(door2, { json: true, tty: true }, (f) =>
        checkinStatsRun(f, { event: eventId, watch: true }),
      );
      expect(stats.result).toBe(0);
      expect(JSON.parse(stats.stdout)).toMatchObject({
        object: 'checkin_stats',
        event_id: eventId,
        admitted: 1,
        inside: 1,
        lists: [expect.objectContaining({ name: 'Main entrance', admitted: 1, inside: 1 })],
      });
      const plain = await withFactory(door2, {}, (f) => checkinStatsRun(f, { event: eventId, watch: false }));
      expect(plain.stdout).toContain(`Event: ${eventId}`);
      expect(plain.stdout).toContain('Admitted: 1');
    } finally {
      door2.cleanup();
    }
  });
});
