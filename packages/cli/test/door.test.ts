import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { Tickets } from '@tickets/sdk';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../server/test/harness.js';
import { readQr } from '../../server/test/readback.js';
import { BIN, type Cli, makeCli, signUpWithEvent } from './run-cli.js';

/** A real TCP relay in front of the server: cutting it is the network going away mid-shift. */
async function startRelay(serverUrl: string) {
  const target = new URL(serverUrl);
  const sockets = new Set<Socket>();
  const relay = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
  });
  const listen = (port = 0) =>
    new Promise<number>((resolve) =>
      relay.listen(port, '127.0.0.1', () => resolve((relay.address() as AddressInfo).port)),
    );
  const port = await listen();
  return {
    port,
    cut: () =>
      new Promise<void>((resolve) => {
        if (!relay.listening) return resolve();
        relay.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
    restore: () => listen(port),
  };
}

/** `tickets door` left running with its stdin open, as at a real door; `until` waits for its output. */
function openDoor(configDir: string, args: string[], apiUrl?: string, env: Record<string, string> = {}) {
  const door = execa('node', [BIN, 'door', ...args], {
    env: { TICKETS_CONFIG_DIR: configDir, NO_COLOR: '1', TICKETS_API_URL: apiUrl, ...env },
    reject: false,
  });
  let out = '';
  let err = '';
  door.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  door.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const until = async (text: string, stream: 'stdout' | 'stderr' = 'stdout') => {
    while (!(stream === 'stdout' ? out : err).includes(text)) {
      if (door.exitCode !== null) throw new Error(`door exited: ${out}\n${err}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const scan = (code: string) => door.stdin!.write(`${code}\n`);
  return { door, until, scan };
}

const until = (door: ReturnType<typeof openDoor>, text: string) => door.until(text, 'stderr');

/** Door mode through the built `tickets` binary, codes piped on stdin as a USB scanner types them. */
describe('sqlite: tickets door', () => {
  let server: TestServer;
  let cli: Cli;
  let eventId: string;
  const scratch = mkdtempSync(join(tmpdir(), 'tickets-door-'));

  const sell = async (name: string) => {
    const email = `${name.toLowerCase().replace(/\W+/g, '.')}@example.com`;
    const order = await cli.json(['sell', eventId, '--type', 'GA', '--name', name, '--email', email]);
    return order.tickets[0] as { id: string; code: string };
  };

  beforeAll(async () => {
    server = await startTestServer('sqlite');
    cli = makeCli({}, { spawn: true });
    eventId = await signUpWithEvent(cli, server.url, { org: 'Door Mode Org', event: 'Door Mode Night' });
    await cli.json(['types', 'create', eventId, '--name', 'GA', '--price', '25', '--capacity', '50']);
    await cli.json(['events', 'publish', eventId]);
  });
  afterAll(async () => {
    cli.cleanup();
    rmSync(scratch, { recursive: true, force: true });
    await server.stop();
  });

  it('gives one verdict per scanned line, in order, and a summary at the end of input', async () => {
    const [a, b, c] = [await sell('Ada Early'), await sell('Bo Second'), await sell('Cy Third')];
    const input = `${a.code}\n${b.code}\n${a.code}\ngarbage\n\n   \n${c.code}\n`;
    const r = await cli(['door', eventId, '--gate', 'North'], { input });
    expect(r.exitCode, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines.slice(0, 5)).toEqual([
      'ADMITTED  Ada Early · GA',
      'ADMITTED  Bo Second · GA',
      expect.stringMatching(/^REFUSED {2}already used \d\d:\d\d at North \(cli-[0-9a-f]{8}\)$/),
      'REFUSED  not a ticket of ours',
      'ADMITTED  Cy Third · GA',
    ]);
    expect(lines.slice(5)).toEqual([
      'Admitted 3 · Refused 2 · Inside 3',
      '  already used: 1',
      '  not a ticket of ours: 1',
    ]);
    // Piped: no colour and no bell.
    expect(r.stdout).not.toContain('\u001b[');
    expect(r.stdout).not.toContain('\u0007');
  });

  it('prints each Validation as a JSON line, then a summary object, with --json', async () => {
    const t = await sell('Jo Json');
    const r = await cli(['door', eventId, '--json'], { input: `${t.code}\n${t.code}\n` });
    expect(r.exitCode, r.stderr).toBe(0);
    const objects = r.stdout.split('\n').map((l) => JSON.parse(l));
    expect(objects.map((o) => [o.object, o.result])).toEqual([
      ['validation', 'admitted'],
      ['validation', 'already_used'],
      ['door_summary', undefined],
    ]);
    expect(objects[0].ticket.holder_name).toBe('Jo Json');
    expect(objects[2]).toMatchObject({
      admitted: 1,
      refused: 1,
      inside: 1,
      refused_by_reason: { 'already used': 1 },
    });
  });

  it('admits the code a real barcode reader finds in the ticket QR image', async () => {
    const t = await sell('Quinn Qr');
    const profile = cli.config().profiles.default!;
    const sdk = new Tickets({ baseUrl: server.url, token: profile.access_token });
    const scanned = readQr(await sdk.tickets.qr(t.id, 'png'));
    expect(scanned).toBe(t.code);
    const r = await cli(['door', eventId], { input: scanned });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('ADMITTED  Quinn Qr · GA');
  });

  it('prints the summary and exits 0 on Ctrl-C while the scanner is still connected', async () => {
    const t = await sell('Ike Interrupt');
    const { door, until, scan } = openDoor(cli.configDir, [eventId]);
    scan(t.code);
    await until('ADMITTED');
    door.kill('SIGINT');
    const r = await door;
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('ADMITTED  Ike Interrupt · GA\nAdmitted 1 · Refused 0 · Inside 1');
  });

  it('says NO ANSWER when the server cannot be reached, and goes on with the next scan', async () => {
    const relay = await startRelay(server.url);
    const [a, b] = [await sell('Nia Network'), await sell('Ola Online')];
    const { door, until, scan } = openDoor(cli.configDir, [eventId], `http://127.0.0.1:${relay.port}`);
    scan(a.code);
    await until('ADMITTED  Nia Network');
    await relay.cut();
    scan(b.code);
    await until('NO ANSWER');
    await relay.restore();
    scan(b.code);
    await until('ADMITTED  Ola Online');
    door.stdin!.end();
    const r = await door;
    await relay.cut();
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.split('\n')).toEqual([
      'ADMITTED  Nia Network · GA',
      'NO ANSWER (server unreachable) — scan again',
      'ADMITTED  Ola Online · GA',
      'Admitted 2 · Refused 0 · Inside 2 · No answer 1',
    ]);
  });

  it('refuses a --list of another event, and a tty shows big coloured verdicts, a bell and a count', async () => {
    const other = await cli(['door', eventId, '--list', 'cl_doesnotexist'], { input: '' });
    expect(other.exitCode).toBe(2);
    expect(other.stderr).toContain('cl_doesnotexist is not a check-in list of');

    const t = await sell('Tia Terminal');
    const codes = join(scratch, 'codes.txt');
    writeFileSync(codes, `${t.code}\n${t.code}\n`);
    const tty = await execa('script', ['-qec', `node ${BIN} door ${eventId} < ${codes}`, '/dev/null'], {
      env: {
        TICKETS_CONFIG_DIR: cli.configDir,
        TICKETS_API_URL: undefined,
        TICKETS_API_KEY: undefined,
        NO_COLOR: undefined,
        FORCE_COLOR: undefined,
        CI: undefined, // chalk turns colour off on an unknown CI
        TERM: 'xterm-256color',
      },
      reject: false,
    });
    expect(tty.exitCode).toBe(0);
    expect(tty.stdout).toContain('\u001b[42m'); // green background
    expect(tty.stdout).toContain('\u001b[41m'); // red background
    expect(tty.stdout.split('\u0007').length - 1).toBe(1); // one bell: the refusal
    const text = stripVTControlCharacters(tty.stdout);
    expect(text).toMatch(/ADMITTED {2}Tia Terminal · GA/);
    expect(text).toMatch(/Admitted 1 · Refused 0 · Inside 1/);
    expect(text).toMatch(/REFUSED {2}already used/);
    expect(text).toMatch(/Admitted 1 · Refused 1 · Inside 1/);
  });
  it('decides from the synced bundle with --offline, marks each verdict, and the upload counts them', async () => {
    const [a, b] = [await sell('Oda Offline'), await sell('Pia Plane')];
    const sync = await cli(['checkin', 'sync', eventId]);
    expect(sync.exitCode, sync.stderr).toBe(0);
    // No server at all: port 9 refuses every connection.
    const r = await cli(['door', eventId, '--offline', '--gate', 'East'], {
      input: `${a.code}\n${a.code}\ngarbage\n${b.code}\n`,
      env: { TICKETS_API_URL: 'http://127.0.0.1:9' },
    });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.split('\n')).toEqual([
      'ADMITTED  Oda Offline · GA  (offline)',
      expect.stringMatching(/^REFUSED {2}already used \d\d:\d\d at East \(cli-[0-9a-f]{8}\) {2}\(offline\)$/),
      'REFUSED  not a ticket of ours  (offline)',
      'ADMITTED  Pia Plane · GA  (offline)',
      'Admitted 2 · Refused 2 · Inside 2 · Decided offline 4',
      '  already used: 1',
      '  not a ticket of ours: 1',
    ]);
    // Back online, the queued admissions reach the server: the ticket is used.
    const upload = await cli(['checkin', 'upload', eventId]);
    expect(upload.exitCode, upload.stderr).toBe(0);
    const online = await cli(['door', eventId], { input: `${a.code}\n` });
    expect(online.stdout.split('\n')[0]).toMatch(/^REFUSED {2}already used .* at East/);
  });

  it('with --fallback-offline switches to the bundle when the server goes away, and back when it returns', async () => {
    const [a, b, c] = [await sell('Fay First'), await sell('Gus Gone'), await sell('Hana Home')];
    expect((await cli(['checkin', 'sync', eventId])).exitCode).toBe(0);
    const relay = await startRelay(server.url);
    const { door, until, scan } = openDoor(
      cli.configDir,
      [eventId, '--fallback-offline', '--gate', 'West'],
      `http://127.0.0.1:${relay.port}`,
    );
    scan(a.code);
    await until('ADMITTED  Fay First');
    await relay.cut();
    scan(b.code);
    await until('ADMITTED  Gus Gone');
    // Admitted online before the outage, unknown to the bundle: still refused offline.
    scan(a.code);
    await until('REFUSED');
    await relay.restore();
    await until('Server back', 'stderr');
    scan(c.code);
    await until('ADMITTED  Hana Home');
    door.stdin!.end();
    const r = await door;
    await relay.cut();
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain('Server unreachable: deciding from the bundle synced');
    expect(r.stdout.split('\n')).toEqual([
      'ADMITTED  Fay First · GA',
      'ADMITTED  Gus Gone · GA  (offline)',
      expect.stringMatching(/^REFUSED {2}already used \d\d:\d\d at West \(cli-[0-9a-f]{8}\) {2}\(offline\)$/),
      'ADMITTED  Hana Home · GA',
      'Admitted 3 · Refused 1 · Inside 3 · Decided offline 2',
      '  already used: 1',
    ]);
  });

  it('keeps the bundle fresh while online: at once after the server refuses a ticket the bundle would admit, and every interval', async () => {
    const rob = await sell('Rob Refunded');
    expect((await cli(['checkin', 'sync', eventId])).exitCode).toBe(0);
    expect((await cli(['refund', rob.id, '--yes'])).exitCode).toBe(0);
    const stored = () => JSON.parse(readFileSync(join(cli.configDir, 'offline', `${eventId}.json`), 'utf8'));
    const eventually = async (check: () => boolean) => {
      for (let i = 0; i < 250 && !check(); i++) await new Promise((r) => setTimeout(r, 20));
      return check();
    };
    expect(stored().tickets[rob.id].status).not.toBe('void');

    // The refresh interval is the default minute: what follows is the refusal's doing.
    const one = openDoor(cli.configDir, [eventId, '--fallback-offline'], server.url);
    await until(one, 'Offline bundle: Main entrance, synced less than a minute ago.');
    one.scan(rob.code);
    await one.until('REFUSED  revoked: refunded');
    expect(await eventually(() => stored().tickets[rob.id].status === 'void')).toBe(true);
    one.door.stdin!.end();
    expect((await one.door).exitCode).toBe(0);

    // Every interval (shortened here): a sale made while the door is open reaches the bundle unscanned.
    const two = openDoor(cli.configDir, [eventId], server.url, { TICKETS_DOOR_REFRESH_MS: '200' });
    await until(two, 'Offline bundle');
    const late = await sell('Lou Late');
    expect(await eventually(() => stored().tickets[late.id] !== undefined)).toBe(true);
    two.door.stdin!.end();
    expect((await two.door).exitCode).toBe(0);
  });
});
