import { stripVTControlCharacters } from 'node:util';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../server/test/harness.js';
import { BIN, type Cli, makeCli, signUpWithEvent } from './run-cli.js';

const SGR_GREEN = '\u001b[32m';

/** The door through the built `tickets` binary, against a real server. */
describe('sqlite: tickets validate and check-in lists', () => {
  let server: TestServer;
  let cli: Cli;
  let eventId: string;
  let vipId: string;

  /** Sells one ticket at the box office; returns it with its code. */
  const sell = async (type: string, name: string) => {
    const email = `${name.toLowerCase().replace(/\W+/g, '.')}@example.com`;
    const order = await cli.json(['sell', eventId, '--type', type, '--name', name, '--email', email]);
    return order.tickets[0] as { id: string; code: string };
  };

  beforeAll(async () => {
    server = await startTestServer('sqlite');
    cli = makeCli();
    eventId = await signUpWithEvent(cli, server.url, { org: 'Door Night Org', event: 'Door Night' });
    await cli.json(['types', 'create', eventId, '--name', 'GA', '--price', '25', '--capacity', '50']);
    vipId = (
      await cli.json(['types', 'create', eventId, '--name', 'VIP', '--price', '80', '--capacity', '10'])
    ).id;
    await cli.json(['events', 'publish', eventId]);
    // This machine is the door of Door Night: `validate` without --event scans for it.
    expect((await cli(['config', 'set', 'door_event', eventId])).exitCode).toBe(0);
  });
  afterAll(async () => {
    cli.cleanup();
    await server.stop();
  });

  it("refuses a genuine ticket of the organization's other event at this event's door, naming its event", async () => {
    const other = await cli.json([
      'events',
      'create',
      '--name',
      'Other Night',
      '--timezone',
      'Europe/Berlin',
      '--currency',
      'EUR',
      '--starts',
      '2031-11-30 20:00',
      '--ends',
      '2031-11-30 23:00',
    ]);
    await cli.json(['types', 'create', other.id, '--name', 'Balcony', '--price', '10', '--capacity', '5']);
    await cli.json(['events', 'publish', other.id]);
    const order = await cli.json([
      'sell',
      other.id,
      '--type',
      'Balcony',
      '--name',
      'Wanda Wrong',
      '--email',
      'w@example.com',
    ]);
    const code = order.tickets[0].code as string;
    const refused = await cli(['validate', code, '--event', eventId]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stdout).toBe('REFUSED  ticket for another event: Other Night (Balcony)');
    const json = await cli(['validate', code, '--event', eventId, '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({
      result: 'wrong_event',
      admitted: false,
      event: { id: other.id, name: 'Other Night' },
      ticket: { holder_name: 'Wanda Wrong', ticket_type_name: 'Balcony' },
    });
    // At its own event's door it comes in.
    const right = await cli(['validate', code, '--event', other.id]);
    expect(right.exitCode).toBe(0);
    expect(right.stdout).toBe('ADMITTED  Wanda Wrong · Balcony · Other Night');
  });

  it('exits 3, not 1, when the ticket could not be checked (no server), and says so', async () => {
    const ticket = await sell('GA', 'Nora Network');
    const r = await cli(['validate', ticket.code], { env: { TICKETS_API_URL: 'http://127.0.0.1:9' } });
    expect(r.exitCode).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('COULD NOT CHECK');
    const json = await cli(['validate', ticket.code, '--json'], {
      env: { TICKETS_API_URL: 'http://127.0.0.1:9' },
    });
    expect(json.exitCode).toBe(3);
    expect(JSON.parse(json.stdout)).toMatchObject({ object: 'no_answer', code: 'connection_failed' });
  });

  it('admits a ticket once, then refuses it saying when, where and on which device it was used', async () => {
    const ticket = await sell('GA', 'Hal Holder');
    const first = await cli(['validate', ticket.code, '--gate', 'North']);
    expect(first.exitCode, first.stderr).toBe(0);
    expect(first.stdout).toBe('ADMITTED  Hal Holder · GA · Door Night');
    // Piped: no colour, even without NO_COLOR.
    const again = await cli(['validate', ticket.code, '--gate', 'South'], { env: { NO_COLOR: undefined } });
    expect(again.exitCode).toBe(1);
    const device = cli.config().profiles.default!.device_id;
    expect(device).toMatch(/^cli-[0-9a-f]{8}$/);
    expect(again.stdout).toMatch(
      new RegExp(`^REFUSED {2}already used \\d\\d:\\d\\d at North \\(${device}\\)$`),
    );
    expect(again.stdout).not.toContain('\u001b[');
    // A refusal is the answer, not an error.
    expect(again.stderr).not.toContain('error');

    // The device id is generated once and kept.
    const third = await cli(['validate', ticket.code]);
    expect(third.exitCode).toBe(1);
    expect(cli.config().profiles.default!.device_id).toBe(device);
    const other = await cli(['validate', ticket.code, '--device', 'scanner-9']);
    expect(other.stdout).toContain(`at North (${device})`);
  });

  it('--json prints the validation; --dry-run looks up without admitting', async () => {
    const ticket = await sell('VIP', 'Vera Vip');
    const looked = await cli(['validate', ticket.code, '--dry-run', '--json']);
    expect(looked.exitCode, looked.stderr).toBe(0);
    expect(JSON.parse(looked.stdout)).toMatchObject({
      object: 'validation',
      result: 'valid',
      admitted: false,
    });
    const plain = await cli(['validate', ticket.code, '--dry-run']);
    expect(plain.stdout).toBe('VALID  Vera Vip · VIP · Door Night  (look-up only: not admitted)');

    const admitted = await cli.json(['validate', ticket.code, '--device', 'scanner-1']);
    expect(admitted).toMatchObject({
      result: 'admitted',
      admitted: true,
      ticket: { id: ticket.id, holder_name: 'Vera Vip', ticket_type_id: vipId, ticket_type_name: 'VIP' },
    });
    const refused = await cli(['validate', ticket.code, '--json']);
    expect(refused.exitCode).toBe(1);
    expect(JSON.parse(refused.stdout)).toMatchObject({
      result: 'already_used',
      first_used: { at: admitted.scanned_at, gate: null, device_id: 'scanner-1' },
    });
    const used = await cli(['validate', ticket.code]);
    expect(used.stdout).toMatch(/^REFUSED {2}already used \d\d:\d\d on scanner-1$/);
  });

  it('says in plain words why a refunded ticket or a stranger’s code is refused', async () => {
    const ticket = await sell('GA', 'Rita Refund');
    expect((await cli(['refund', ticket.id, '--yes'])).exitCode).toBe(0);
    const revoked = await cli(['validate', ticket.code]);
    expect(revoked.exitCode).toBe(1);
    expect(revoked.stdout).toBe('REFUSED  revoked: refunded');
    const junk = await cli(['validate', 'not-a-ticket']);
    expect(junk.exitCode).toBe(1);
    expect(junk.stdout).toBe('REFUSED  not a ticket of ours');
  });

  it('validates with a checkin-scoped API key, which cannot change lists', async () => {
    const key = await cli.json(['api-keys', 'create', '--name', 'Door 1', '--scope', 'checkin']);
    const login = await cli(['--profile', 'door', 'login', '--api-key', key.secret, '--api-url', server.url]);
    expect(login.exitCode, login.stderr).toBe(0);
    // A door that was never told its event is not guessed for one: a script gets a usage error naming the ways.
    const ticket0 = await sell('GA', 'Una Unsure');
    const unsure = await cli(['--profile', 'door', 'validate', ticket0.code]);
    expect(unsure.exitCode).toBe(2);
    expect(unsure.stdout).toBe('');
    expect(unsure.stderr).toContain(
      'give --event evt_…, or set it once for this device: tickets config set door_event evt_…',
    );
    expect((await cli(['--profile', 'door', 'config', 'set', 'door_event', eventId])).exitCode).toBe(0);
    const shown = await cli.json(['--profile', 'door', 'config', 'show']);
    expect(shown.door_event).toBe(eventId);
    const bad = await cli(['--profile', 'door', 'config', 'set', 'door_event', 'tomorrow']);
    expect(bad.exitCode).toBe(2);
    const ticket = await sell('GA', 'Kim Keyholder');
    const scan = await cli(['--profile', 'door', 'validate', ticket.code, '--gate', 'East']);
    expect(scan.exitCode, scan.stderr).toBe(0);
    expect(scan.stdout).toBe('ADMITTED  Kim Keyholder · GA · Door Night');
    const lists = await cli.json(['--profile', 'door', 'checkin', 'lists', 'list', eventId]);
    expect(lists.map((l: { name: string }) => l.name)).toContain('Main entrance');
    const create = await cli(['--profile', 'door', 'checkin', 'lists', 'create', eventId, '--name', 'Mine']);
    expect(create.exitCode).toBe(1);
    expect(create.stderr).toMatch(/^error: .+\(\w+, request id req_\S+\)$/m);
  });

  it('colours the verdict on a terminal, unless NO_COLOR is set', async () => {
    // `script` gives the CLI a terminal to write to, as at a real door.
    const onTty = (code: string, env: Record<string, string | undefined>) =>
      execa('script', ['-qec', `node ${BIN} validate '${code}' --device tty-1`, '/dev/null'], {
        env: {
          TICKETS_CONFIG_DIR: cli.configDir,
          TICKETS_API_URL: undefined,
          TICKETS_API_KEY: undefined,
          TERM: 'xterm-256color',
          // chalk turns colour off on an unknown CI (the CI variable set, no vendor variable): a door isn't one.
          CI: undefined,
          ...env,
        },
        extendEnv: true,
        reject: false,
      });
    const coloured = await onTty((await sell('GA', 'Tia Terminal')).code, {
      NO_COLOR: undefined,
      FORCE_COLOR: undefined,
    });
    expect(coloured.exitCode).toBe(0);
    expect(coloured.stdout).toContain(SGR_GREEN);
    expect(stripVTControlCharacters(coloured.stdout)).toContain('ADMITTED  Tia Terminal · GA');
    const plain = await onTty((await sell('GA', 'Nico Nocolor')).code, { NO_COLOR: '1' });
    expect(plain.exitCode).toBe(0);
    expect(plain.stdout).toContain('ADMITTED  Nico Nocolor · GA');
    expect(plain.stdout).not.toContain('\u001b[');
  });

  it('exits 4 when not logged in and 2 on a usage mistake, without scanning', async () => {
    const anon = await cli(['--profile', 'nobody', 'validate', 'whatever']);
    expect(anon.exitCode).toBe(4);
    expect(anon.stderr).toContain('tickets login');
    const both = await cli(['validate', 'whatever', '--exit', '--dry-run']);
    expect(both.exitCode).toBe(2);
    const badList = await cli(['validate', 'whatever', '--list', 'evt_123']);
    expect(badList.exitCode).toBe(2);
    expect(badList.stderr).toContain('cl_');
  });

  it('creates, lists, updates and deletes check-in lists; a gate admits only its types', async () => {
    const created = await cli.json([
      'checkin',
      'lists',
      'create',
      eventId,
      '--name',
      'VIP door',
      '--types',
      vipId,
      '--from',
      '2031-12-31 19:00',
      '--reentry',
    ]);
    expect(created).toMatchObject({
      object: 'checkin_list',
      event_id: eventId,
      name: 'VIP door',
      ticket_type_ids: [vipId],
      ends_at: null,
      allow_reentry: true,
      is_default: false,
    });
    // Typed in the event's zone (Berlin, UTC+1 in winter).
    expect(new Date(created.starts_at).toISOString()).toBe('2031-12-31T18:00:00.000Z');

    const piped = await cli(['checkin', 'lists', 'list', eventId]);
    expect(piped.exitCode).toBe(0);
    const row = piped.stdout.split('\n').find((l) => l.startsWith(created.id));
    expect(row?.split('\t')).toEqual([created.id, 'VIP door', vipId, created.starts_at, '', 'yes', 'no']);

    const ga = await sell('GA', 'Gus General');
    const wrong = await cli(['validate', ga.code, '--list', created.id]);
    expect(wrong.exitCode).toBe(1);
    expect(wrong.stdout).toBe('REFUSED  GA does not come in through this gate');
    const early = await cli(['validate', (await sell('VIP', 'Eve Early')).code, '--list', created.id]);
    expect(early.stdout).toBe('REFUSED  not valid yet at this gate');

    const updated = await cli.json([
      'checkin',
      'lists',
      'update',
      created.id,
      '--name',
      'Side door',
      '--types',
      'none',
      '--from',
      'none',
    ]);
    expect(updated).toMatchObject({
      name: 'Side door',
      ticket_type_ids: null,
      starts_at: null,
      allow_reentry: true,
    });
    const shown = await cli(['checkin', 'lists', 'show', created.id]);
    expect(shown.stdout).toContain('Name: Side door');
    expect(shown.stdout).toContain('Types: all');

    // Re-entry: in, out, in again.
    const guest = await sell('GA', 'Ozzy Outside');
    expect((await cli(['validate', guest.code, '--list', created.id])).stdout).toBe(
      'ADMITTED  Ozzy Outside · GA · Door Night',
    );
    const out = await cli(['validate', guest.code, '--list', created.id, '--exit']);
    expect(out.exitCode).toBe(0);
    expect(out.stdout).toBe('CHECKED OUT  Ozzy Outside · GA · Door Night');
    expect((await cli(['validate', guest.code, '--list', created.id])).exitCode).toBe(0);

    const spare = await cli.json(['checkin', 'lists', 'create', eventId, '--name', 'Spare']);
    const noYes = await cli(['checkin', 'lists', 'delete', spare.id]);
    expect(noYes.exitCode).toBe(2);
    const deleted = await cli.json(['checkin', 'lists', 'delete', spare.id, '--yes']);
    expect(deleted).toEqual({ id: spare.id, object: 'checkin_list', deleted: true });
    const names = (await cli.json(['checkin', 'lists', 'list', eventId])).map(
      (l: { name: string }) => l.name,
    );
    expect(names.sort()).toEqual(['Main entrance', 'Side door']);

    const main = (await cli.json(['checkin', 'lists', 'list', eventId])).find(
      (l: { is_default: boolean }) => l.is_default,
    );
    const keep = await cli(['checkin', 'lists', 'delete', main.id, '--yes']);
    expect(keep.exitCode).toBe(1);
    expect(keep.stderr).toContain('default_list');
  });
});
