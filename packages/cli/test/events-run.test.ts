import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../server/test/harness.js';
import {
  type CheckinListCreateOptions,
  checkinListCreateRun,
  checkinListDeleteRun,
  newCheckinListCreateCommand,
  newCheckinListDeleteCommand,
} from '../src/commands/checkin.js';
import {
  type EventCancelOptions,
  type EventCreateOptions,
  eventCancelRun,
  eventCreateRun,
  eventDeleteRun,
  eventListRun,
  newEventCancelCommand,
  newEventCreateCommand,
} from '../src/commands/events.js';
import {
  availabilityRun,
  newTypeCreateCommand,
  type TypeCreateOptions,
  typeCreateRun,
  typeDeleteRun,
} from '../src/commands/types.js';
import { CancelledError, UsageError } from '../src/errors.js';
import type { Prompter } from '../src/factory.js';
import { localZone } from '../src/time.js';
import {
  type Cli,
  fakePrompter,
  flagRecorder,
  makeCli,
  signUpWithEvent,
  thrown,
  withFactory,
} from './run-cli.js';

/**
 * `tickets events`, `types`, `availability` and `checkin lists` as gh tests a command: flags read into
 * options by the command built with a run function that only records them, and each run function
 * called directly with fake streams and a fake prompter, against a real in-process server.
 */
describe('sqlite: events, ticket types and check-in lists, run in-process', () => {
  let server: TestServer;
  let cli: Cli;
  let eventId: string;

  /** A fresh draft event, made through the CLI. */
  const draft = async (name: string) =>
    (
      await cli.json([
        'events',
        'create',
        '--name',
        name,
        '--timezone',
        'UTC',
        '--currency',
        'EUR',
        '--starts',
        '2032-03-01 20:00',
        '--ends',
        '2032-03-01 23:00',
      ])
    ).id as string;
  const eventNames = async () =>
    (await cli.json(['events', 'list', '--all'])).map((e: { name: string }) => e.name) as string[];

  beforeAll(async () => {
    server = await startTestServer('sqlite');
    cli = makeCli();
    eventId = await signUpWithEvent(cli, server.url, { org: 'Run Events Org', event: 'Main Night' });
    await cli.json(['types', 'create', eventId, '--name', 'GA', '--price', '25', '--capacity', '50']);
  });
  afterAll(async () => {
    cli.cleanup();
    await server.stop();
  });

  it('reads the flags of events create, events cancel, types create and checkin lists create into options', async () => {
    const { record, parse } = flagRecorder();
    const events = (p: Command) => p.command('events');
    expect(
      await parse(
        (p) => newEventCreateCommand(events(p), record),
        'events',
        'create',
        '--name',
        'Jazz',
        '--capacity',
        '100',
        '--no-transfers',
        '--sales-end',
        '2031-12-31 18:00',
        '--allow-past',
      ),
    ).toEqual({
      name: 'Jazz',
      timezone: undefined,
      starts: undefined,
      ends: undefined,
      currency: undefined,
      capacity: 100,
      slug: undefined,
      description: undefined,
      venue: undefined,
      venueAddress: undefined,
      city: undefined,
      country: undefined,
      transfers: false,
      salesStart: undefined,
      salesEnd: '2031-12-31 18:00',
      inventorySlots: undefined,
      allowPast: true,
    } satisfies EventCreateOptions);
    expect(
      await parse((p) => newEventCreateCommand(events(p), record), 'events', 'create', '--transfers'),
    ).toMatchObject({ transfers: true, allowPast: false });
    await expect(
      parse((p) => newEventCreateCommand(events(p), record), 'events', 'create', '--capacity', 'lots'),
    ).rejects.toThrow(/whole number/);

    expect(
      await parse(
        (p) => newEventCancelCommand(events(p), record),
        'events',
        'cancel',
        'evt_1',
        '--refund-all',
        '--message',
        'Sorry',
        '-y',
      ),
    ).toEqual({ id: 'evt_1', refundAll: true, message: 'Sorry', yes: true } satisfies EventCancelOptions);
    expect(await parse((p) => newEventCancelCommand(events(p), record), 'events', 'cancel', 'evt_1')).toEqual(
      { id: 'evt_1', refundAll: false, message: undefined, yes: false },
    );

    expect(
      await parse(
        (p) => newTypeCreateCommand(p.command('types'), record),
        'types',
        'create',
        'evt_1',
        '--price',
        '19.5',
        '--max',
        '4',
        '--hidden',
        '--tax-rate',
        '7.5',
      ),
    ).toMatchObject({
      event: 'evt_1',
      price: '19.5',
      max: 4,
      hidden: true,
      taxRate: 750,
      name: undefined,
    } satisfies Partial<TypeCreateOptions>);

    const lists = (p: Command) => p.command('checkin').command('lists');
    expect(
      await parse(
        (p) => newCheckinListCreateCommand(lists(p), record),
        'checkin',
        'lists',
        'create',
        'evt_1',
        '--name',
        'VIP door',
        '--types',
        'tt_a, tt_b',
        '--reentry',
      ),
    ).toEqual({
      event: 'evt_1',
      name: 'VIP door',
      types: ['tt_a', 'tt_b'],
      from: undefined,
      until: undefined,
      reentry: true,
    } satisfies CheckinListCreateOptions);
    expect(
      await parse((p) => newCheckinListDeleteCommand(lists(p), record), 'checkin', 'lists', 'delete', 'cl_9'),
    ).toEqual({ id: 'cl_9', yes: false });
    await expect(
      parse((p) => newCheckinListDeleteCommand(lists(p), record), 'checkin', 'lists', 'delete', 'evt_9'),
    ).rejects.toThrow(/cl_/);
  });

  it('events create asks a person at a terminal for what its flags leave out; a script is told the flag', async () => {
    const asked: { message: string; default?: string }[] = [];
    const answers: Record<string, string> = {
      'Event name': 'Asked Night',
      'Time zone': 'Europe/Berlin',
      'Starts (e.g. 2026-12-31 20:00)': '2031-06-01 20:00',
      'Ends (e.g. 2027-01-01 02:00)': '2031-06-01 23:30',
      'Currency (e.g. EUR)': 'EUR',
    };
    const prompter: Prompter = fakePrompter({
      async input(message, options) {
        asked.push({ message, default: options?.default });
        const answer = answers[message];
        if (answer === undefined) throw new Error(`unexpected question: ${message}`);
        return answer;
      },
    });
    const r = await withFactory(cli, { tty: true, json: true, prompter }, (f) =>
      eventCreateRun(f, { allowPast: false, capacity: 40 }),
    );
    expect(r.result).toBe(0);
    expect(asked).toEqual([
      { message: 'Event name', default: undefined },
      { message: 'Time zone', default: localZone() },
      { message: 'Starts (e.g. 2026-12-31 20:00)', default: undefined },
      { message: 'Ends (e.g. 2027-01-01 02:00)', default: undefined },
      { message: 'Currency (e.g. EUR)', default: undefined },
    ]);
    const created = JSON.parse(r.stdout);
    // The answered dates are wall-clock time in the answered zone (Berlin, UTC+2 in summer).
    expect(created).toMatchObject({ name: 'Asked Night', timezone: 'Europe/Berlin', capacity: 40 });
    expect(created.starts_at).toBe('2031-06-01T18:00:00.000Z');
    expect(await cli.json(['events', 'show', created.id])).toMatchObject({ name: 'Asked Night' });

    // Not interactive: no question, a usage error naming the flag, and nothing created.
    const before = await eventNames();
    const noName = await thrown(
      withFactory(cli, {}, (f) =>
        eventCreateRun(f, { allowPast: false, timezone: 'UTC', currency: 'EUR', starts: '2031-01-01' }),
      ),
    );
    expect(noName).toBeInstanceOf(UsageError);
    expect(noName.message).toBe('missing required option --name');
    const noEnds = await thrown(
      withFactory(cli, {}, (f) =>
        eventCreateRun(f, {
          allowPast: false,
          name: 'Half Given',
          timezone: 'UTC',
          currency: 'EUR',
          starts: '2031-01-01',
        }),
      ),
    );
    expect(noEnds.message).toBe('missing required option --ends');
    expect(await eventNames()).toEqual(before);
    // …which the command line reports as exit 2.
    const piped = await cli(['events', 'create', '--name', 'Half Given', '--timezone', 'UTC']);
    expect(piped.exitCode).toBe(2);
    expect(piped.stderr).toContain('missing required option --starts');
  });

  it('types create asks for a capacity on a terminal and reads it as a number; a script is told --capacity', async () => {
    const prompter = fakePrompter({
      async input(message) {
        expect(message).toBe('How many can be sold');
        return '12';
      },
    });
    const r = await withFactory(cli, { tty: true, json: true, prompter }, (f) =>
      typeCreateRun(f, { event: eventId, name: 'Balcony', price: '40' }),
    );
    expect(r.result).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      name: 'Balcony',
      capacity: 12,
      price: { amount: 4000, currency: 'EUR' },
    });

    const script = await thrown(
      withFactory(cli, {}, (f) => typeCreateRun(f, { event: eventId, name: 'Gallery', price: '30' })),
    );
    expect(script).toBeInstanceOf(UsageError);
    expect(script.message).toBe('missing required option --capacity');
    const names = (await cli.json(['types', 'list', eventId, '--all'])).map((t: { name: string }) => t.name);
    expect(names).toEqual(['GA', 'Balcony']);
  });

  it('events delete: answered no, nothing is deleted; a script needs --yes; --yes deletes and --json says so', async () => {
    const id = await draft('Doomed Gig');
    const questions: string[] = [];
    const no = fakePrompter({
      async confirm(message) {
        questions.push(message);
        return false;
      },
    });
    const declined = await thrown(
      withFactory(cli, { tty: true, prompter: no }, (f) => eventDeleteRun(f, { id, yes: false })),
    );
    expect(declined).toBeInstanceOf(CancelledError);
    // On a terminal the question names the event, not only its id.
    expect(questions).toEqual([`Delete "Doomed Gig" (${id})? This cannot be undone.`]);
    expect(await cli.json(['events', 'show', id])).toMatchObject({ id, name: 'Doomed Gig' });

    const script = await thrown(withFactory(cli, {}, (f) => eventDeleteRun(f, { id, yes: false })));
    expect(script).toBeInstanceOf(UsageError);
    expect(script.message).toContain('without --yes');
    expect((await cli(['events', 'show', id])).exitCode).toBe(0);

    const deleted = await withFactory(cli, { json: true }, (f) => eventDeleteRun(f, { id, yes: true }));
    expect(deleted.result).toBe(0);
    expect(JSON.parse(deleted.stdout)).toEqual({ id, object: 'event', deleted: true });
    expect((await cli(['events', 'show', id])).exitCode).toBe(1);

    // A person who answers yes: the event goes, and the message names it.
    const other = await draft('Second Doomed Gig');
    const yes = fakePrompter({ confirm: async () => true });
    const confirmed = await withFactory(cli, { tty: true, prompter: yes }, (f) =>
      eventDeleteRun(f, { id: other, yes: false }),
    );
    expect(confirmed.result).toBe(0);
    expect(confirmed.stderr).toContain(`Deleted "Second Doomed Gig" (${other}).`);
    expect(await eventNames()).not.toContain('Second Doomed Gig');
  });

  it('events cancel: answered no, the event stays on sale; --yes --json prints it with its cancellation', async () => {
    const id = await draft('Rained Out');
    await cli.json(['types', 'create', id, '--name', 'Lawn', '--price', '10', '--capacity', '5']);
    await cli.json(['events', 'publish', id]);
    const questions: string[] = [];
    const no = fakePrompter({
      async confirm(message) {
        questions.push(message);
        return false;
      },
    });
    const declined = await thrown(
      withFactory(cli, { tty: true, prompter: no }, (f) =>
        eventCancelRun(f, { id, refundAll: true, yes: false }),
      ),
    );
    expect(declined).toBeInstanceOf(CancelledError);
    expect(questions).toEqual([
      `Cancel "Rained Out" (${id})? Sales stop and every ticket is void; every paid order is refunded.`,
    ]);
    expect((await cli.json(['events', 'show', id])).status).toBe('published');
    expect((await cli.json(['availability', id])).ticket_types[0]).toMatchObject({ on_sale: true });

    const r = await withFactory(cli, { json: true }, (f) =>
      eventCancelRun(f, { id, refundAll: false, message: 'The field flooded.', yes: true }),
    );
    expect(r.result).toBe(0);
    const cancelled = JSON.parse(r.stdout);
    expect(cancelled).toMatchObject({
      id,
      status: 'cancelled',
      cancellation: { refund: 'none', orders_failed: 0 },
    });
    expect(r.stderr).toBe('');
    expect((await cli.json(['availability', id])).ticket_types[0]).toMatchObject({
      on_sale: false,
      reason: 'event_cancelled',
    });
  });

  it('types delete and checkin lists delete: a script without --yes is refused, a person is asked', async () => {
    const crew = await cli.json([
      'types',
      'create',
      eventId,
      '--name',
      'Crew',
      '--price',
      '0',
      '--capacity',
      '3',
    ]);
    const refused = await thrown(withFactory(cli, {}, (f) => typeDeleteRun(f, { id: crew.id, yes: false })));
    expect(refused).toBeInstanceOf(UsageError);
    expect(refused.message).toBe('refusing to do this without --yes when not running interactively');
    const no = fakePrompter({
      async confirm(message) {
        expect(message).toBe(`Delete ticket type ${crew.id}?`);
        return false;
      },
    });
    expect(
      await thrown(
        withFactory(cli, { tty: true, prompter: no }, (f) => typeDeleteRun(f, { id: crew.id, yes: false })),
      ),
    ).toBeInstanceOf(CancelledError);
    const typeNames = async () =>
      (await cli.json(['types', 'list', eventId, '--all'])).map((t: { name: string }) => t.name);
    expect(await typeNames()).toContain('Crew');
    const gone = await withFactory(cli, {}, (f) => typeDeleteRun(f, { id: crew.id, yes: true }));
    expect(gone.result).toBe(0);
    expect(gone.stderr).toContain(`Deleted ${crew.id}.`);
    expect(await typeNames()).not.toContain('Crew');

    // A check-in list named at a terminal, then deleted once its question is answered yes.
    const named = fakePrompter({
      async input(message) {
        expect(message).toBe('List name');
        return 'Back door';
      },
    });
    const created = await withFactory(cli, { tty: true, json: true, prompter: named }, (f) =>
      checkinListCreateRun(f, { event: eventId, reentry: true }),
    );
    const list = JSON.parse(created.stdout);
    expect(list).toMatchObject({ object: 'checkin_list', name: 'Back door', allow_reentry: true });
    const listNames = async () =>
      (await cli.json(['checkin', 'lists', 'list', eventId])).map((l: { name: string }) => l.name);
    expect(await listNames()).toContain('Back door');
    const asked: string[] = [];
    const yes = fakePrompter({
      async confirm(message) {
        asked.push(message);
        return true;
      },
    });
    const deleted = await withFactory(cli, { tty: true, prompter: yes }, (f) =>
      checkinListDeleteRun(f, { id: list.id, yes: false }),
    );
    expect(deleted.result).toBe(0);
    expect(asked).toEqual([`Delete check-in list ${list.id}?`]);
    expect(await listNames()).not.toContain('Back door');
  });

  it('events list prints the events as JSON with --json and rows when piped; availability adds totals on a terminal', async () => {
    const json = await withFactory(cli, { json: true }, (f) =>
      eventListRun(f, { search: 'Main Night', limit: 30, all: false }),
    );
    expect(json.result).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject([{ id: eventId, name: 'Main Night', status: 'draft' }]);

    const piped = await withFactory(cli, {}, (f) => eventListRun(f, { limit: 1, all: false }));
    expect(piped.stdout.trim().split('\n')).toHaveLength(1);
    expect(piped.stderr).toContain('Showing the first 1 events; more exist');

    const tty = await withFactory(cli, { tty: true }, (f) => availabilityRun(f, { event: eventId }));
    expect(tty.result).toBe(0);
    expect(tty.stdout).toMatch(/TYPE\s+PRICE\s+CAPACITY/);
    expect(tty.stdout).toContain('no: event not published');
    expect(tty.stdout).toContain('Event: 0 sold, 0 held, no event-wide limit');
    const plain = await withFactory(cli, {}, (f) => availabilityRun(f, { event: eventId }));
    expect(plain.stdout).not.toContain('Event:');
  });
});
