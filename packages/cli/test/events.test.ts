import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../server/test/harness.js';
import { type Cli, makeCli, PASSWORD, uniqueEmail } from './run-cli.js';

/** One organizer's day, start to finish, through the built `tickets` binary against a real server. */
describe('sqlite: tickets events and ticket types', () => {
  let server: TestServer;
  let cli: Cli;
  let eventId: string;

  beforeAll(async () => {
    server = await startTestServer('sqlite');
    cli = makeCli();
    const signup = await cli([
      'signup',
      '--email',
      uniqueEmail(),
      '--name',
      'Ann Organizer',
      '--password',
      PASSWORD,
      '--org-name',
      'Blue Note',
      '--api-url',
      server.url,
    ]);
    expect(signup.exitCode, signup.stderr).toBe(0);
  });
  afterAll(async () => {
    cli.cleanup();
    await server.stop();
  });

  it('creates an event, reading typed dates as wall-clock time in the event’s zone', async () => {
    const event = await cli.json([
      'events',
      'create',
      '--name',
      'Jazz Night',
      '--timezone',
      'Europe/Berlin',
      '--currency',
      'eur',
      '--starts',
      '2031-12-31 20:00',
      '--ends',
      '2032-01-01 02:00',
      '--sales-end',
      '2031-12-31T18:00:00+01:00',
      '--capacity',
      '100',
      '--venue',
      'Blue Note',
      '--city',
      'Berlin',
      '--country',
      'DE',
      '--no-transfers',
    ]);
    eventId = event.id;
    expect(event).toMatchObject({
      object: 'event',
      name: 'Jazz Night',
      status: 'draft',
      currency: 'EUR',
      capacity: 100,
      transferable: false,
      venue: { name: 'Blue Note', city: 'Berlin', country: 'DE' },
    });
    // 20:00 in Berlin in winter (UTC+1) is 19:00 UTC.
    expect(event.starts_at).toBe('2031-12-31T19:00:00.000Z');
    expect(event.ends_at).toBe('2032-01-01T01:00:00.000Z');
    expect(event.sales_end_at).toBe('2031-12-31T17:00:00.000Z');
  });

  it('shows an event’s times in its own zone', async () => {
    const shown = await cli(['events', 'show', eventId]);
    expect(shown.exitCode).toBe(0);
    expect(shown.stdout).toContain('Starts: 2031-12-31 20:00 +01:00');
    expect(shown.stdout).toContain('Time zone: Europe/Berlin');
    expect(shown.stdout).toContain('Transfers: not allowed');
  });

  it('adds ticket types with prices typed in major units and stored in minor units', async () => {
    const ga = await cli.json([
      'types',
      'create',
      eventId,
      '--name',
      'General admission',
      '--price',
      '25.00',
      '--capacity',
      '80',
      '--max',
      '6',
    ]);
    expect(ga).toMatchObject({
      name: 'General admission',
      price: { amount: 2500, currency: 'EUR' },
      capacity: 80,
    });
    const crew = await cli.json([
      'types',
      'create',
      eventId,
      '--name',
      'Crew',
      '--price',
      '19.5',
      '--capacity',
      '10',
      '--hidden',
      '--sales-start',
      '2031-12-01 09:00',
    ]);
    expect(crew).toMatchObject({ price: { amount: 1950, currency: 'EUR' }, hidden: true });
    expect(crew.sales_start_at).toBe('2031-12-01T08:00:00.000Z');

    expect((await cli.json(['types', 'list', eventId])).map((t: { name: string }) => t.name)).toEqual([
      'General admission',
    ]);
    expect(await cli.json(['types', 'list', eventId, '--all'])).toHaveLength(2);
  });

  it('uses the currency’s own minor unit: yen have none', async () => {
    const expo = await cli.json([
      'events',
      'create',
      '--name',
      'Tokyo Expo',
      '--timezone',
      'Asia/Tokyo',
      '--currency',
      'JPY',
      '--starts',
      '2031-05-01 10:00',
      '--ends',
      '2031-05-01T18:00',
    ]);
    expect(expo.starts_at).toBe('2031-05-01T01:00:00.000Z');
    const type = await cli.json([
      'types',
      'create',
      expo.id,
      '--name',
      'Day pass',
      '--price',
      '2500',
      '--capacity',
      '5',
    ]);
    expect(type.price).toEqual({ amount: 2500, currency: 'JPY' });

    const fractional = await cli([
      'types',
      'create',
      expo.id,
      '--name',
      'X',
      '--price',
      '25.50',
      '--capacity',
      '5',
    ]);
    expect(fractional.exitCode).toBe(2);
    expect(fractional.stderr).toContain('JPY has no minor unit');
  });

  it('shows availability per ticket type', async () => {
    const human = await cli(['availability', eventId]);
    expect(human.exitCode).toBe(0);
    // Piped, a table becomes tab-separated rows.
    expect(human.stdout.split('\n')[0]).toBe(
      'General admission\t€25.00\t80\t0\t0\t80\tno: event not published',
    );

    const availability = await cli.json(['availability', eventId]);
    expect(availability).toMatchObject({
      object: 'availability',
      event_id: eventId,
      capacity: 100,
      available: 100,
    });
    expect(availability.ticket_types[0]).toMatchObject({ on_sale: false, reason: 'event_not_published' });
  });

  it('lists events as JSON, up to --limit, with filters', async () => {
    await cli.json([
      'events',
      'create',
      '--name',
      'Matinee',
      '--timezone',
      'Europe/Berlin',
      '--currency',
      'EUR',
      '--starts',
      '2032-02-01 15:00',
      '--ends',
      '2032-02-01 17:00',
    ]);
    const all = await cli.json(['events', 'list']);
    expect(all.map((e: { name: string }) => e.name)).toEqual(['Tokyo Expo', 'Jazz Night', 'Matinee']);
    expect(await cli.json(['events', 'list', '--limit', '2'])).toHaveLength(2);
    expect(await cli.json(['events', 'list', '--from', '2032-01-15'])).toMatchObject([{ name: 'Matinee' }]);
    expect(await cli.json(['events', 'list', '--search', 'jazz'])).toMatchObject([{ id: eventId }]);

    const piped = await cli(['events', 'list']);
    expect(piped.stdout).toContain(`${eventId}\tJazz Night\tdraft\t2031-12-31 20:00\tEurope/Berlin`);
  });

  it('publishes an event, which puts its tickets on sale', async () => {
    const published = await cli.json(['events', 'publish', eventId]);
    expect(published.status).toBe('published');
    const availability = await cli.json(['availability', eventId]);
    expect(availability.ticket_types[0]).toMatchObject({ on_sale: true, reason: null });
  });

  it('updates only what it is given, in the event’s zone; `none` clears a value', async () => {
    const updated = await cli.json([
      'events',
      'update',
      eventId,
      '--name',
      'Jazz Night II',
      '--starts',
      '2031-12-31 21:30',
      '--capacity',
      'none',
      '--city',
      'Hamburg',
    ]);
    expect(updated).toMatchObject({ name: 'Jazz Night II', capacity: null, transferable: false });
    expect(updated.starts_at).toBe('2031-12-31T20:30:00.000Z');
    expect(updated.ends_at).toBe('2032-01-01T01:00:00.000Z');
    expect(updated.venue).toMatchObject({ name: 'Blue Note', city: 'Hamburg', country: 'DE' });

    const [ga] = await cli.json(['types', 'list', eventId]);
    const type = await cli.json(['types', 'update', ga.id, '--price', '30', '--max', 'none']);
    expect(type).toMatchObject({
      price: { amount: 3000, currency: 'EUR' },
      max_per_order: null,
      capacity: 80,
    });
  });

  it('spreads a hot event over inventory slots, shows them, and folds them back', async () => {
    const spread = await cli.json(['events', 'update', eventId, '--inventory-slots', '8']);
    expect(spread.inventory_slots).toBe(8);
    const shown = await cli(['events', 'show', eventId]);
    expect(shown.stdout).toMatch(/Inventory slots:\s+8/);
    const availability = await cli.json(['availability', eventId]);
    expect(availability.ticket_types[0]).toMatchObject({ capacity: 80, sold: 0, available: 80 });
    const tooMany = await cli(['events', 'update', eventId, '--inventory-slots', '65']);
    expect(tooMany.exitCode).toBe(1);
    expect(tooMany.stderr).toMatch(/--inventory-slots: /);
    const back = await cli.json(['events', 'update', eventId, '--inventory-slots', '1']);
    expect(back.inventory_slots).toBe(1);
    expect((await cli(['events', 'show', eventId])).stdout).not.toMatch(/Inventory slots/);
  });

  it('refuses a delete without --yes when nobody can confirm, and deletes with it', async () => {
    const draft = await cli.json([
      'events',
      'create',
      '--name',
      'Cancelled gig',
      '--timezone',
      'UTC',
      '--currency',
      'USD',
      '--starts',
      '2032-03-01 20:00',
      '--ends',
      '2032-03-01 23:00',
    ]);
    const refused = await cli(['events', 'delete', draft.id]);
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toContain('without --yes');

    const deleted = await cli.json(['events', 'delete', draft.id, '--yes']);
    expect(deleted).toEqual({ id: draft.id, object: 'event', deleted: true });
    const gone = await cli(['events', 'show', draft.id]);
    expect(gone.exitCode).toBe(1);
    expect(gone.stderr).toMatch(/^error: .+ \(not_found, request id req_\S+\)$/m);
  });

  it('reports a validation error with the server’s detail, field errors and request id, exit 1', async () => {
    const r = await cli([
      'events',
      'create',
      '--name',
      'Backwards',
      '--timezone',
      'Europe/Berlin',
      '--currency',
      'EUR',
      '--starts',
      '2031-12-31 20:00',
      '--ends',
      '2031-12-31 19:00',
    ]);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toBe('');
    const [first, ...rest] = r.stderr.split('\n');
    expect(first).toMatch(/^error: a value was refused \(validation_failed, request id req_\S+\)$/);
    // Once, under the flag that was typed (ends_at → --ends).
    expect(rest).toEqual(['  --ends: must be after starts_at']);
    expect(r.stderr).not.toMatch(/\bat .+\.js:\d+/); // no stack trace

    const big = await cli([
      'events',
      'create',
      '--name',
      'Huge',
      '--timezone',
      'Europe/Berlin',
      '--currency',
      'EUR',
      '--starts',
      '2031-12-31 20:00',
      '--ends',
      '2031-12-31 23:00',
      '--capacity',
      '20000000',
    ]);
    expect(big.exitCode).toBe(1);
    expect(big.stderr.split('\n').filter((l) => l.includes('10000000'))).toHaveLength(1);
    expect(big.stderr).toMatch(/^ {2}--capacity: /m);
  });

  it('treats a missing required option or a malformed value as a usage error, exit 2', async () => {
    const missing = await cli(['events', 'create', '--timezone', 'UTC', '--currency', 'EUR']);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain('missing required option --name');

    const badPrice = await cli([
      'types',
      'create',
      eventId,
      '--name',
      'X',
      '--price',
      'abc',
      '--capacity',
      '1',
    ]);
    expect(badPrice.exitCode).toBe(2);
    expect(badPrice.stderr).toContain("'abc' is invalid");

    const badDate = await cli(['events', 'update', eventId, '--starts', 'next friday']);
    expect(badDate.exitCode).toBe(2);

    const badZone = await cli([
      'events',
      'update',
      eventId,
      '--timezone',
      'Mars/Olympus',
      '--starts',
      '2031-12-31 20:00',
    ]);
    expect(badZone.exitCode).toBe(2);
    expect(badZone.stderr).toContain('not an IANA time zone');

    expect((await cli(['events', 'list', '--bogus'])).exitCode).toBe(2);
    expect((await cli(['events', 'frobnicate'])).exitCode).toBe(2);
  });
});
