import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../server/test/harness.js';
import { newValidateCommand, type ValidateOptions, validateRun } from '../src/commands/validate.js';
import type { Choice, Prompter } from '../src/factory.js';
import { type Cli, fakePrompter, makeCli, signUpWithEvent, withFactory } from './run-cli.js';

/**
 * `tickets validate` as gh tests a command: its flags are read into ValidateOptions (the command built
 * with a run function that only records them), and validateRun is called directly with fake streams, a
 * fake prompter and clock, and a client of a real in-process server.
 */
describe('sqlite: tickets validate, run in-process', () => {
  let server: TestServer;
  let cli: Cli;
  let eventId: string;
  let otherId: string;

  const sell = async (event: string, name: string) => {
    const email = `${name.toLowerCase().replace(/\W+/g, '.')}@example.com`;
    const order = await cli.json(['sell', event, '--type', 'GA', '--name', name, '--email', email]);
    return order.tickets[0] as { id: string; code: string };
  };
  const options = (code: string, more: Partial<ValidateOptions> = {}): ValidateOptions => ({
    code,
    direction: 'entry',
    dryRun: false,
    offline: false,
    ...more,
  });

  beforeAll(async () => {
    server = await startTestServer('sqlite');
    cli = makeCli();
    eventId = await signUpWithEvent(cli, server.url, { org: 'Run Org', event: 'First Night' });
    otherId = (
      await cli.json([
        'events',
        'create',
        '--name',
        'Second Night',
        '--timezone',
        'Europe/Berlin',
        '--currency',
        'EUR',
        '--starts',
        '2031-12-30 20:00',
        '--ends',
        '2031-12-30 23:00',
      ])
    ).id;
    for (const id of [eventId, otherId]) {
      await cli.json(['types', 'create', id, '--name', 'GA', '--price', '25', '--capacity', '50']);
      await cli.json(['events', 'publish', id]);
    }
  });
  afterAll(async () => {
    cli.cleanup();
    await server.stop();
  });

  it('reads its flags into options', async () => {
    const seen: ValidateOptions[] = [];
    const parse = async (...args: string[]) => {
      const program = new Command('tickets').exitOverride().configureOutput({ writeErr: () => {} });
      newValidateCommand(program, async (_f, o) => {
        seen.push(o);
        return 0;
      });
      await program.parseAsync(['node', 'tickets', 'validate', ...args]);
      return seen.at(-1);
    };
    expect(await parse('CODE', '--event', eventId, '--exit', '--gate', 'North')).toEqual({
      code: 'CODE',
      event: eventId,
      direction: 'exit',
      dryRun: false,
      offline: false,
      gate: 'North',
      list: undefined,
      device: undefined,
    });
    expect(await parse('CODE', '--dry-run', '--offline')).toMatchObject({ dryRun: true, offline: true });
    await expect(parse('CODE', '--exit', '--dry-run')).rejects.toThrow(/cannot be used with/);
    await expect(parse('CODE', '--event', 'tomorrow')).rejects.toThrow(/evt_/);
  });

  it('asks a person at a terminal which event the door is for, keeps it for the device, and refuses other events', async () => {
    const asked: string[] = [];
    const prompter: Prompter = fakePrompter({
      interactive: true,
      async select<T extends string>(message: string, choices: Choice<T>[]) {
        asked.push(message, ...choices.map((c) => c.name));
        return choices.find((c) => c.name.startsWith('Second Night'))!.value;
      },
    });
    const first = await sell(otherId, 'Tara Terminal');
    const r = await withFactory(cli, { tty: true, prompter }, (f) => validateRun(f, options(first.code)));
    expect(r.result).toBe(0);
    expect(asked).toEqual([
      'Which event is this door for?',
      'Second Night (2031-12-30)',
      'First Night (2031-12-31)',
    ]);
    expect(r.stdout).toBe('ADMITTED  Tara Terminal · GA · Second Night\n');
    expect(r.stderr).toContain(`This device now scans for ${otherId}`);
    expect(cli.config().profiles.default!.door_event).toBe(otherId);

    // Not asked again; a ticket of the other night is refused, naming its event.
    const wrong = await sell(eventId, 'Walt Wrong');
    const again = await withFactory(cli, { tty: true }, (f) => validateRun(f, options(wrong.code)));
    expect(again.result).toBe(1);
    expect(again.stdout).toBe('REFUSED  ticket for another event: First Night (GA)\n');
    // --event overrides the device's event for one scan.
    const right = await withFactory(cli, {}, (f) => validateRun(f, options(wrong.code, { event: eventId })));
    expect(right.result).toBe(0);
  });

  it('warns when the offline bundle is older than ten minutes, by the clock it is given', async () => {
    const synced = Date.now();
    expect((await cli(['checkin', 'sync', eventId])).exitCode).toBe(0);
    const t = await sell(eventId, 'Olga Old');
    const at = (minutes: number) => () => new Date(synced + minutes * 60_000);
    const fresh = await withFactory(cli, { now: at(5) }, (f) =>
      validateRun(f, options(t.code, { offline: true, event: eventId, dryRun: true })),
    );
    expect(fresh.result).toBe(0);
    expect(fresh.stderr).toBe('');
    const stale = await withFactory(cli, { now: at(42) }, (f) =>
      validateRun(f, options(t.code, { offline: true, event: eventId })),
    );
    expect(stale.stderr).toMatch(/The bundle was synced 4[12] minutes ago/);
    expect(stale.stderr).toContain(`tickets checkin sync ${eventId}`);
    // Still decided: a stale bundle is a warning, not a closed door. Olga was sold after the sync.
    expect(stale.result).toBe(0);
    expect(stale.stdout).toBe('ADMITTED  GA · First Night  (offline; not in the last sync)\n');
  });
});
