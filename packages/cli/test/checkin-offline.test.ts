import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tickets } from '@tickets/sdk';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../server/test/harness.js';
import { BIN, type Cli, makeCli, PASSWORD, uniqueEmail } from './run-cli.js';

/** Doors without the network, through the built `tickets` binary, against a real server. */
describe('sqlite: offline check-in (sync, validate --offline, upload, stats)', () => {
  let server: TestServer;
  let cli: Cli; // the organizer's machine, and door 1
  let door2: Cli; // a second device, with a checkin-scoped key
  let stranger: Cli; // another organization
  let eventId: string;
  let otherEventId: string;

  const setUp = async (c: Cli, org: string, event: string) => {
    const signup = await c([
      'signup',
      '--email',
      uniqueEmail(),
      '--name',
      'Ann Organizer',
      '--password',
      PASSWORD,
      '--org-name',
      org,
      '--api-url',
      server.url,
    ]);
    expect(signup.exitCode, signup.stderr).toBe(0);
    const e = await c.json([
      'events',
      'create',
      '--name',
      event,
      '--timezone',
      'Europe/Berlin',
      '--currency',
      'EUR',
      '--starts',
      '2031-12-31 20:00',
      '--ends',
      '2032-01-01 02:00',
    ]);
    await c.json(['types', 'create', e.id, '--name', 'GA', '--price', '25', '--capacity', '50']);
    await c.json(['events', 'publish', e.id]);
    return e.id as string;
  };

  const sell = async (c: Cli, event: string, name: string) => {
    const email = `${name.toLowerCase().replace(/\W+/g, '.')}@example.com`;
    const order = await c.json(['sell', event, '--type', 'GA', '--name', name, '--email', email]);
    return order.tickets[0] as { id: string; code: string };
  };

  const tickets: Record<string, { id: string; code: string }> = {};
  let oldTransferredCode: string;
  const queueFile = (c: Cli, event = eventId) => join(c.configDir, 'offline', `${event}.queue.jsonl`);
  const queued = (c: Cli, event = eventId) =>
    existsSync(queueFile(c, event))
      ? readFileSync(queueFile(c, event), 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l))
      : [];

  beforeAll(async () => {
    server = await startTestServer('sqlite');
    cli = makeCli({}, { spawn: true });
    door2 = makeCli({}, { spawn: true });
    stranger = makeCli({}, { spawn: true });
    eventId = await setUp(cli, 'Offline Org', 'Offline Night');
    otherEventId = await setUp(stranger, 'Stranger Org', 'Elsewhere');

    for (const name of ['Ada Admit', 'Rex Refund', 'Tom Transfer', 'Sam Shared', 'Tess Tamper'])
      tickets[name] = await sell(cli, eventId, name);
    expect((await cli(['refund', tickets['Rex Refund']!.id, '--yes'])).exitCode).toBe(0);
    oldTransferredCode = tickets['Tom Transfer']!.code;
    const moved = await cli.json([
      'transfer',
      tickets['Tom Transfer']!.id,
      '--to-name',
      'Nia New',
      '--to-email',
      'nia@example.com',
    ]);
    expect(moved.code).not.toBe(oldTransferredCode);
    tickets['Nia New'] = { id: moved.id, code: moved.code };

    const key = await cli.json(['api-keys', 'create', '--name', 'Door 2', '--scope', 'checkin']);
    const login = await door2(['login', '--api-key', key.secret, '--api-url', server.url]);
    expect(login.exitCode, login.stderr).toBe(0);
    // About fifteen CLI processes: on a loaded two-core machine that has taken over 30 s.
  }, 90_000);
  afterAll(async () => {
    for (const c of [cli, door2, stranger]) c?.cleanup();
    await server?.stop();
  });

  it('syncs the whole event first, then only the changes', async () => {
    const first = await cli(['checkin', 'sync', eventId]);
    expect(first.exitCode, first.stderr).toBe(0);
    expect(first.stdout).toBe(`Synced ${eventId} (Main entrance): 5 tickets, 5 changes (full)`);
    const stored = JSON.parse(readFileSync(join(cli.configDir, 'offline', `${eventId}.json`), 'utf8'));
    expect(Object.keys(stored.tickets).sort()).toEqual(
      ['Ada Admit', 'Rex Refund', 'Tom Transfer', 'Sam Shared', 'Tess Tamper']
        .map((n) => tickets[n]!.id)
        .sort(),
    );
    expect(stored.tickets[tickets['Rex Refund']!.id]).toMatchObject({
      status: 'void',
      void_reason: 'refunded',
    });
    expect(stored.type_names).toEqual({ [stored.tickets[tickets['Ada Admit']!.id].ticket_type_id]: 'GA' });

    // A sale after the first sync arrives with the next one, as a change.
    tickets['Late Larry'] = await sell(cli, eventId, 'Late Larry');
    const next = await cli.json(['checkin', 'sync', eventId]);
    expect(next).toMatchObject({ event_id: eventId, full: false, tickets: 6 });
    expect(next.changes).toBeGreaterThanOrEqual(1);
    expect(next.changes).toBeLessThan(6);

    const onDoor2 = await door2.json(['checkin', 'sync', eventId]);
    expect(onDoor2).toMatchObject({ full: true, tickets: 6, changes: 6 });
  });

  it('decides offline: admitted once, then already used; refunded, transferred, tampered and foreign codes refused', async () => {
    const ada = tickets['Ada Admit']!;
    const admit = await cli(['validate', ada.code, '--offline', '--gate', 'North']);
    expect(admit.exitCode, admit.stderr).toBe(0);
    expect(admit.stdout).toBe('ADMITTED  Ada Admit · GA · Offline Night  (offline)');
    // Durable before the verdict: the queue file holds the scan once the command has exited.
    const q = queued(cli);
    expect(q).toHaveLength(1);
    expect(q[0]).toMatchObject({
      code: ada.code,
      gate: 'North',
      offline_result: 'admitted',
      direction: 'entry',
      ticket_id: ada.id,
      device_id: cli.config().profiles.default!.device_id,
    });
    expect(q[0].id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Number.isNaN(Date.parse(q[0].scanned_at))).toBe(false);

    const again = await cli(['validate', ada.code, '--offline']);
    expect(again.exitCode).toBe(1);
    expect(again.stdout).toMatch(
      /^REFUSED {2}already used \d\d:\d\d at North \(cli-[0-9a-f]{8}\) {2}\(offline\)$/,
    );
    const againJson = await cli(['validate', ada.code, '--offline', '--json']);
    expect(JSON.parse(againJson.stdout)).toMatchObject({ result: 'already_used', admitted: false });
    expect(queued(cli)).toHaveLength(1);

    const refunded = await cli(['validate', tickets['Rex Refund']!.code, '--offline']);
    expect(refunded.exitCode).toBe(1);
    expect(refunded.stdout).toBe('REFUSED  revoked: refunded  (offline)');

    const old = await cli(['validate', oldTransferredCode, '--offline']);
    expect(old.exitCode).toBe(1);
    expect(old.stdout).toMatch(/^REFUSED {2}revoked: transferred .*\(offline\)$/);

    // The new holder's code carries the version the bundle has: the sync ran after the transfer.
    const nia = await cli(['validate', tickets['Nia New']!.code, '--offline']);
    expect(nia.exitCode, nia.stdout).toBe(0);
    expect(nia.stdout).toBe('ADMITTED  Nia New · GA · Offline Night  (offline)');

    const code = tickets['Tess Tamper']!.code;
    const flip = code.at(-5) === 'A' ? 'B' : 'A';
    const tampered = `${code.slice(0, -5)}${flip}${code.slice(-4)}`;
    const bad = await cli(['validate', tampered, '--offline']);
    expect(bad.exitCode).toBe(1);
    expect(bad.stdout).toBe('REFUSED  not a ticket of ours  (offline)');

    const foreign = (await sell(stranger, otherEventId, 'Fay Foreign')).code;
    for (const args of [
      ['validate', foreign, '--offline'],
      ['validate', foreign, '--offline', '--event', eventId],
    ]) {
      const r = await cli(args);
      expect(r.exitCode, r.stderr).toBe(1);
      expect(r.stdout).toBe('REFUSED  not a ticket of ours  (offline)');
    }
    const junk = await cli(['validate', 'not-a-ticket', '--offline', '--json']);
    expect(junk.exitCode).toBe(1);
    expect(JSON.parse(junk.stdout)).toMatchObject({ result: 'invalid' });

    // None of the refusals was queued, and the server was not asked: the ticket is still unused there.
    expect(queued(cli).map((s) => s.ticket_id)).toEqual([ada.id, tickets['Nia New']!.id]);
    const online = await cli.json(['validate', ada.code, '--event', eventId, '--dry-run']);
    expect(online.result).toBe('valid');
  });

  it('two devices admit the same ticket offline: the later upload reports the one conflict', async () => {
    const sam = tickets['Sam Shared']!;
    const one = await cli(['validate', sam.code, '--offline', '--gate', 'North', '--device', 'scanner-1']);
    expect(one.exitCode, one.stderr).toBe(0);
    const two = await door2(['validate', sam.code, '--offline', '--gate', 'South', '--device', 'scanner-2']);
    expect(two.exitCode, two.stderr).toBe(0);
    // Without type names (a door key may not read ticket types) the holder is still shown.
    expect(two.stdout).toBe('ADMITTED  Sam Shared · Offline Night  (offline)');
    expect(queued(door2)).toHaveLength(1);

    // No answer from the server: nothing leaves the queue.
    const down = await cli(['checkin', 'upload', eventId], {
      env: { TICKETS_API_URL: 'http://127.0.0.1:9' },
    });
    expect(down.exitCode).not.toBe(0);
    expect(queued(cli)).toHaveLength(3);

    const up1 = await cli(['checkin', 'upload', eventId]);
    expect(up1.exitCode, up1.stderr).toBe(0);
    expect(up1.stdout).toBe('');
    expect(up1.stderr).toContain('Uploaded 3 scans');
    expect(queued(cli)).toEqual([]);

    const up2 = await door2(['checkin', 'upload']);
    expect(up2.exitCode, up2.stderr).toBe(1);
    expect(up2.stdout).toMatch(
      new RegExp(
        `^CONFLICT ${sam.id} admitted here at \\d\\d:\\d\\d but first used at North by scanner-1 at \\d\\d:\\d\\d$`,
      ),
    );
    expect(queued(door2)).toEqual([]);

    // Uploading again sends nothing and finds no new conflict.
    const none = await door2(['checkin', 'upload', eventId]);
    expect(none.exitCode).toBe(0);
    expect(none.stderr).toContain('Uploaded 0 scans');

    const organizer = new Tickets({
      baseUrl: server.url,
      token: cli.config().profiles.default!.access_token,
    });
    const conflicts = await organizer.checkin.conflicts(eventId).toArray();
    expect(conflicts).toHaveLength(1);
    expect(conflicts[0]).toMatchObject({ ticket_id: sam.id, device_id: 'scanner-2', gate: 'South' });

    // After upload, this device still refuses the tickets it admitted, without a new sync.
    const ada = await cli(['validate', tickets['Ada Admit']!.code, '--offline']);
    expect(ada.exitCode).toBe(1);
    expect(ada.stdout).toBe('REFUSED  already used  (offline)');
    // And online, the server knows them.
    const online = await cli(['validate', tickets['Ada Admit']!.code, '--event', eventId]);
    expect(online.stdout).toMatch(/^REFUSED {2}already used \d\d:\d\d at North/);
  });

  it('checkin stats --json gives the door figures', async () => {
    const stats = await door2.json(['checkin', 'stats', eventId]);
    expect(stats).toMatchObject({ object: 'checkin_stats', event_id: eventId, admitted: 3, inside: 3 });
    expect(stats.lists).toEqual([expect.objectContaining({ name: 'Main entrance', admitted: 3, inside: 3 })]);
    const sum = stats.refused_by_reason.reduce((n: number, r: { count: number }) => n + r.count, 0);
    expect(sum).toBe(stats.refused);
    const plain = await door2(['checkin', 'stats', eventId]);
    expect(plain.exitCode).toBe(0);
    expect(plain.stdout).toContain('Admitted: 3');
    expect(plain.stdout).toMatch(/^Main entrance\t3\t3\t\d+$/m);
  });

  it("refuses --offline without a synced event; online, --event names the door's event", async () => {
    const fresh = makeCli({}, { spawn: true });
    try {
      const r = await fresh(['validate', tickets['Ada Admit']!.code, '--offline']);
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toContain('tickets checkin sync');
    } finally {
      fresh.cleanup();
    }
    // A look-up (valid, or already used if her offline admission was uploaded): a verdict about her, for
    // this event — not a usage error.
    const r = await cli(['validate', tickets['Ada Admit']!.code, '--event', eventId, '--dry-run', '--json']);
    expect([0, 1], r.stderr).toContain(r.exitCode);
    expect(JSON.parse(r.stdout)).toMatchObject({
      result: expect.stringMatching(/^(valid|already_used)$/),
      event: { id: eventId, name: 'Offline Night' },
      ticket: { holder_name: 'Ada Admit' },
    });
  });

  it("applies the gate's rules offline: ticket types, and its time window", async () => {
    const vip = await cli.json([
      'types',
      'create',
      eventId,
      '--name',
      'VIP',
      '--price',
      '80',
      '--capacity',
      '5',
    ]);
    const vipTicket = (
      await cli.json(['sell', eventId, '--type', 'VIP', '--name', 'Vera Vip', '--email', 'vera@example.com'])
    ).tickets[0] as { id: string; code: string };
    const gaTicket = await sell(cli, eventId, 'Gus General');
    const vipDoor = await cli.json([
      'checkin',
      'lists',
      'create',
      eventId,
      '--name',
      'VIP door',
      '--types',
      vip.id,
    ]);
    const later = await cli.json([
      'checkin',
      'lists',
      'create',
      eventId,
      '--name',
      'Day 2',
      '--from',
      '2031-12-31 10:00',
    ]);

    expect((await door2(['checkin', 'sync', eventId, '--list', vipDoor.id])).exitCode).toBe(0);
    const refused = async (code: string) => {
      const r = await door2(['validate', code, '--offline', '--json']);
      expect(r.exitCode).toBe(1);
      return JSON.parse(r.stdout);
    };
    expect(await refused(gaTicket.code)).toMatchObject({ result: 'wrong_list', admitted: false });
    const right = await door2.json(['validate', vipTicket.code, '--offline']);
    expect(right).toMatchObject({ result: 'admitted', ticket: { id: vipTicket.id } });

    expect((await door2(['checkin', 'sync', eventId, '--list', later.id])).exitCode).toBe(0);
    expect(await refused(gaTicket.code)).toMatchObject({ result: 'not_yet_valid', admitted: false });
    // Refusals are not queued: only admissions go up to the server.
    expect(queued(door2).filter((q: { ticket_id: string }) => q.ticket_id === gaTicket.id)).toEqual([]);
  });

  it('two scanners on one device admit a ticket once: the offline files are locked', async () => {
    const ticket = await sell(cli, eventId, 'Pia Parallel');
    expect((await cli(['checkin', 'sync', eventId])).exitCode).toBe(0);
    const before = queued(cli).length;
    const runs = await Promise.all(
      Array.from({ length: 8 }, () =>
        cli(['validate', ticket.code, '--offline', '--json'], { env: { TICKETS_TEST_SCAN_DELAY_MS: '300' } }),
      ),
    );
    const results = runs.map((r) => JSON.parse(r.stdout).result as string);
    expect(results.filter((r) => r === 'admitted')).toHaveLength(1);
    expect(results.filter((r) => r === 'already_used')).toHaveLength(7);
    expect(queued(cli).length - before).toBe(1);
  });

  it('checkin stats --watch redraws on a terminal with the latest figures, until Ctrl-C', async () => {
    const ticket = await sell(cli, eventId, 'Walt Watch');
    const before = (await door2.json(['checkin', 'stats', eventId])).admitted as number;
    // `script` gives the command a terminal, as at a real door; Ctrl-C once a whole frame shows the scan.
    const watching = execa('script', ['-qec', `node ${BIN} checkin stats ${eventId} --watch`, '/dev/null'], {
      env: { TICKETS_CONFIG_DIR: door2.configDir, NO_COLOR: '1', CI: undefined, TERM: 'xterm-256color' },
      extendEnv: true,
      reject: false,
      timeout: 20_000,
      killSignal: 'SIGINT',
    });
    let seen = '';
    watching.stdout!.on('data', (d: Buffer) => {
      seen += d.toString();
    });
    const until = async (done: () => boolean) => {
      for (let i = 0; i < 500 && !done(); i++) await new Promise((r) => setTimeout(r, 20));
    };
    await until(() => seen.includes('Ctrl-C to stop'));
    expect((await cli(['validate', ticket.code, '--event', eventId])).exitCode).toBe(0);
    await until(() => new RegExp(`Admitted: ${before + 1}[^]*Ctrl-C to stop`).test(seen));
    watching.kill('SIGINT');
    const { stdout } = await watching;
    const frames = stdout.split('\u001b[2J').slice(1);
    expect(frames.length).toBeGreaterThanOrEqual(2);
    expect(frames[0]).toContain(`Admitted: ${before}`);
    const whole = frames.filter((f) => f.includes('Ctrl-C to stop'));
    expect(whole.at(-1)).toContain(`Admitted: ${before + 1}`);
  });

  it('admits a genuine ticket sold after the last sync on its signature, marked in the queue; the upload lets the server decide', async () => {
    const lists = await cli.json(['checkin', 'lists', 'list', eventId]);
    const main = lists.find((l: { is_default: boolean }) => l.is_default);
    expect((await door2(['checkin', 'sync', eventId, '--list', main.id])).exitCode).toBe(0);
    const before = queued(door2).length;
    const late = await sell(cli, eventId, 'Nora Newer');
    const other = await sell(cli, eventId, 'Otto Other');

    const r = await door2(['validate', late.code, '--offline', '--gate', 'West']);
    expect(r.exitCode, r.stderr).toBe(0);
    // No name without the bundle: the event, and that the door could not check it for a refund since.
    expect(r.stdout).toBe('ADMITTED  Offline Night  (offline; not in the last sync)');
    const scan = queued(door2).at(-1);
    expect(scan).toMatchObject({ ticket_id: late.id, code: late.code, not_in_last_sync: true, gate: 'West' });
    expect(queued(door2)).toHaveLength(before + 1);

    // Still once per device, and a look-up of another new ticket is a look-up.
    const again = await door2(['validate', late.code, '--offline', '--json']);
    expect(again.exitCode).toBe(1);
    expect(JSON.parse(again.stdout)).toMatchObject({ result: 'already_used' });
    const look = await door2.json(['validate', other.code, '--offline', '--dry-run']);
    expect(look).toMatchObject({ result: 'valid', ticket: { id: other.id } });
    // A forged or foreign code is still refused without the bundle knowing it.
    const foreign = (await sell(stranger, otherEventId, 'Fred Foreign')).code;
    const f = await door2(['validate', foreign, '--offline', '--event', eventId, '--json']);
    expect(JSON.parse(f.stdout)).toMatchObject({ result: 'invalid', ticket: null });
    expect(queued(door2)).toHaveLength(before + 1);

    const up = await door2(['checkin', 'upload', eventId]);
    expect(up.exitCode, up.stdout + up.stderr).toBe(0);
    expect(queued(door2)).toEqual([]);
    const online = await cli(['validate', late.code, '--event', eventId, '--dry-run', '--json']);
    expect(online.exitCode).toBe(1);
    expect(JSON.parse(online.stdout)).toMatchObject({ result: 'already_used', first_used: { gate: 'West' } });
  });
});
