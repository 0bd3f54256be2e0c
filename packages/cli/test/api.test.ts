import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../server/test/harness.js';
import { type ApiOptions, apiPath, apiRun, keyPath, newApiCommand } from '../src/commands/api.js';
import { UsageError } from '../src/errors.js';
import { main } from '../src/program.js';
import { type Cli, makeCli, PASSWORD, signUpWithEvent, uniqueEmail, withFactory } from './run-cli.js';

/** Keeps every byte written, as a file would (run-cli's capture turns bytes into text). */
class Bytes extends Writable {
  chunks: Buffer[] = [];
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: () => void): void {
    this.chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
    done();
  }
  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

const options = (o: Partial<ApiOptions> & Pick<ApiOptions, 'method' | 'path'>): ApiOptions => ({
  fields: [],
  typedFields: [],
  headers: [],
  paginate: false,
  include: false,
  ...o,
});

const eventFields = (name: string) => [
  '-f',
  `name=${name}`,
  '-f',
  'timezone=Europe/Berlin',
  '-f',
  'currency=EUR',
  '-f',
  'starts_at=2031-06-01T20:00:00+02:00',
  '-f',
  'ends_at=2031-06-01T23:00:00+02:00',
];

describe('tickets api: reading the command line', () => {
  const parse = async (...args: string[]) => {
    let seen: ApiOptions | undefined;
    const program = new Command('tickets').exitOverride().configureOutput({ writeErr: () => {} });
    newApiCommand(program, async (_f, o) => {
      seen = o;
      return 0;
    });
    await program.parseAsync(['node', 'tickets', 'api', ...args]);
    return seen;
  };

  it('takes a method (any case) and a path, or a path alone as GET, and adds the /api prefix', async () => {
    expect(await parse('/api/me')).toEqual(options({ method: 'GET', path: '/api/me' }));
    expect(await parse('delete', 'events/evt_1')).toMatchObject({
      method: 'DELETE',
      path: '/api/events/evt_1',
    });
    expect(await parse('PATCH', '/events?x=1')).toMatchObject({ method: 'PATCH', path: '/api/events?x=1' });
    expect(apiPath('api')).toBe('/api');
    expect(apiPath('apiary')).toBe('/api/apiary');
    expect(
      await parse(
        'POST',
        '/api/events',
        '-f',
        'name=Jazz',
        '--field',
        'venue.name=Blue',
        '-F',
        'capacity=3',
        '-H',
        'X-Request-Id: abc',
        '-i',
      ),
    ).toEqual(
      options({
        method: 'POST',
        path: '/api/events',
        fields: ['name=Jazz', 'venue.name=Blue'],
        typedFields: ['capacity=3'],
        headers: ['X-Request-Id: abc'],
        include: true,
      }),
    );
  });

  it('refuses what it cannot send before sending anything', async () => {
    await expect(parse('FETCH', '/api/events')).rejects.toThrow(UsageError);
    await expect(parse('GET')).rejects.toThrow(/of which path/);
    await expect(parse('https://evil.example.com/api/me')).rejects.toThrow(/not a URL/);
    await expect(parse('/api/events', '-f', 'novalue')).rejects.toMatchObject({
      code: 'commander.invalidArgument',
    });
    await expect(parse('/api/events', '-H', 'no colon')).rejects.toMatchObject({
      code: 'commander.invalidArgument',
    });
    await expect(parse('/api/events', '--paginate', '-i')).rejects.toMatchObject({
      code: 'commander.conflictingOption',
    });
  });

  it('reads nested field names', () => {
    expect(keyPath('name')).toEqual(['name']);
    expect(keyPath('venue.city')).toEqual(['venue', 'city']);
    expect(keyPath('items[0].holders[1].name')).toEqual(['items', 0, 'holders', 1, 'name']);
    expect(keyPath('tags[]')).toEqual(['tags', null]);
    for (const bad of ['', '.a', 'a..b', 'a[x]', 'a[0', 'a.']) expect(() => keyPath(bad)).toThrow(UsageError);
  });
});

describe('sqlite: tickets api against a real server', () => {
  let server: TestServer;
  let cli: Cli;
  let dir: string;
  let eventId: string;
  let typeId: string;

  beforeAll(async () => {
    server = await startTestServer('sqlite');
    cli = makeCli();
    dir = mkdtempSync(join(tmpdir(), 'tickets-api-test-'));
    eventId = await signUpWithEvent(cli, server.url, { org: 'Api Org', event: 'Api Night' });
    typeId = (
      await cli.json(['types', 'create', eventId, '--name', 'GA', '--price', '25', '--capacity', '50'])
    ).id;
    await cli.json(['events', 'publish', eventId]);
  });
  afterAll(async () => {
    cli.cleanup();
    rmSync(dir, { recursive: true, force: true });
    await server.stop();
  });

  it('POSTs typed and nested fields as a JSON body and prints the created event', async () => {
    const r = await cli([
      'api',
      'post',
      'events',
      ...eventFields('Typed Night'),
      '-F',
      'capacity=120',
      '-F',
      'transferable=false',
      '-F',
      'description=null',
      '-f',
      'venue.name=Blue Note',
      '-f',
      'venue.city=Berlin',
      '-f',
      'venue.country=DE',
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    // Pretty-printed, and what the server created.
    expect(r.stdout).toMatch(/^\{\n {2}"id": "evt_/);
    const event = JSON.parse(r.stdout);
    expect(event).toMatchObject({
      object: 'event',
      name: 'Typed Night',
      status: 'draft',
      capacity: 120,
      transferable: false,
      description: null,
      venue: { name: 'Blue Note', city: 'Berlin', country: 'DE' },
    });
    const shown = await cli.json(['events', 'show', event.id]);
    expect(shown).toMatchObject({ id: event.id, capacity: 120 });
  });

  it('sends GET fields as query parameters', async () => {
    for (const name of ['Draft A', 'Draft B'])
      expect((await cli(['api', 'POST', '/api/events', ...eventFields(name)])).exitCode).toBe(0);
    const published = await cli(['api', 'GET', '/api/events', '-f', 'status=published']);
    expect(published.exitCode, published.stderr).toBe(0);
    const list = JSON.parse(published.stdout);
    expect(list.object).toBe('list');
    expect(list.data.map((e: { id: string }) => e.id)).toEqual([eventId]);

    const one = JSON.parse((await cli(['api', '/api/events', '-f', 'status=draft', '-F', 'limit=1'])).stdout);
    expect(one.data).toHaveLength(1);
    expect(one.data[0].status).toBe('draft');
    expect(one.has_more).toBe(true);
    // A query typed in the path and fields together.
    const both = JSON.parse((await cli(['api', '/api/events?status=draft', '-F', 'limit=2'])).stdout);
    expect(both.data).toHaveLength(2);
  });

  it('--paginate fetches every page and prints one array with each row once', async () => {
    const all = await cli.json(['events', 'list', '--all']);
    expect(all.length).toBeGreaterThanOrEqual(4);
    const r = await cli(['api', '/api/events', '--paginate', '-F', 'limit=1']);
    expect(r.exitCode, r.stderr).toBe(0);
    const rows = JSON.parse(r.stdout) as { id: string }[];
    expect(Array.isArray(rows)).toBe(true);
    expect(rows).toHaveLength(all.length);
    expect(new Set(rows.map((e) => e.id)).size).toBe(rows.length);
    expect(rows.map((e) => e.id).sort()).toEqual(all.map((e: { id: string }) => e.id).sort());

    const drafts = JSON.parse(
      (await cli(['api', 'events', '--paginate', '-F', 'limit=2', '-f', 'status=draft'])).stdout,
    );
    expect(drafts.length).toBe(all.filter((e: { status: string }) => e.status === 'draft').length);
    expect(drafts.every((e: { status: string }) => e.status === 'draft')).toBe(true);
  });

  it('a 4xx exits 1: the problem+json body on stdout, one error line on stderr', async () => {
    const invalid = await cli(['api', 'POST', '/api/events', '-f', 'name=No Dates']);
    expect(invalid.exitCode).toBe(1);
    const problem = JSON.parse(invalid.stdout);
    expect(problem).toMatchObject({ status: 422, code: 'validation_failed', title: 'Unprocessable Content' });
    expect(problem.errors.length).toBeGreaterThan(0);
    expect(invalid.stderr.split('\n')).toHaveLength(1);
    expect(invalid.stderr).toMatch(/^error: 422 Unprocessable Content: /);

    const missing = await cli(['api', '/api/nope']);
    expect(missing.exitCode).toBe(1);
    expect(JSON.parse(missing.stdout)).toMatchObject({ status: 404, code: 'route_not_found' });
    expect(missing.stderr).toBe('error: 404 Not Found: No route for GET /api/nope.');
  });

  it('usage errors exit 2 and send nothing', async () => {
    const before = (await cli.json(['events', 'list', '--all'])).length;
    const cases: [string[], RegExp][] = [
      [['api', 'FETCH', '/api/events', ...eventFields('Never')], /unknown method "FETCH"/],
      [['api', 'POST', '/api/events', '-f', 'name'], /Expected key=value/],
      [['api', 'POST', '/api/events', ...eventFields('Never'), '-f', 'a..b=1'], /bad field name "a\.\.b"/],
      [
        ['api', 'POST', '/api/events', ...eventFields('Never'), '-f', 'venue=x', '-f', 'venue.name=y'],
        /clashes/,
      ],
      [['api', 'POST', '/api/events', '-F', `description=@${join(dir, 'missing.txt')}`], /no such file/],
      [
        ['api', 'POST', '/api/events', '--input', join(dir, 'missing.json')],
        /cannot read --input .*no such file/,
      ],
      [['api', 'GET', '/api/events', '--input', '-'], /a GET has no body/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(args);
      expect(r.exitCode, `${args.join(' ')}\n${r.stderr}`).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(message);
    }
    expect((await cli.json(['events', 'list', '--all'])).length).toBe(before);
  });

  it('--input sends a JSON file (or stdin) as the body, fields going to the query string', async () => {
    const file = join(dir, 'event.json');
    writeFileSync(
      file,
      JSON.stringify({
        name: 'From A File',
        timezone: 'Europe/Berlin',
        currency: 'EUR',
        starts_at: '2031-07-01T20:00:00+02:00',
        ends_at: '2031-07-01T23:00:00+02:00',
        venue: { name: 'Filed Hall', country: 'DE' },
      }),
    );
    const r = await cli(['api', 'POST', '/api/events', '--input', file]);
    expect(r.exitCode, r.stderr).toBe(0);
    const event = JSON.parse(r.stdout);
    expect(event).toMatchObject({ name: 'From A File', venue: { name: 'Filed Hall', country: 'DE' } });

    const piped = await cli(['api', 'PUT', `/api/events/${event.id}`, '--input', '-'], {
      input: '{"name": "Renamed From Stdin"}',
    });
    expect(piped.exitCode, piped.stderr).toBe(0);
    expect(JSON.parse(piped.stdout)).toMatchObject({ id: event.id, name: 'Renamed From Stdin' });

    // -F key=@file: the value read from a file, as it is.
    writeFileSync(join(dir, 'description.txt'), 'Doors at 19:00.\nNo re-entry.');
    const described = await cli([
      'api',
      'PUT',
      `/api/events/${event.id}`,
      '-F',
      `description=@${join(dir, 'description.txt')}`,
    ]);
    expect(described.exitCode, described.stderr).toBe(0);
    expect(JSON.parse(described.stdout).description).toBe('Doors at 19:00.\nNo re-entry.');

    writeFileSync(join(dir, 'bad.json'), '{"name": ');
    const bad = await cli(['api', 'POST', '/api/events', '--input', join(dir, 'bad.json')]);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/is not JSON/);
  });

  it('buys with nested array fields, and writes a ticket QR image byte for byte when piped', async () => {
    const bought = await cli([
      'api',
      'POST',
      '/api/tickets/purchase',
      '-f',
      `event=${eventId}`,
      '-f',
      `items[0].ticket_type=${typeId}`,
      '-F',
      'items[0].quantity=2',
      '-f',
      'buyer.name=Bea Buyer',
      '-f',
      'buyer.email=bea@example.com',
      '-f',
      'payment_method=manual',
    ]);
    expect(bought.exitCode, bought.stderr).toBe(0);
    const order = JSON.parse(bought.stdout);
    expect(order).toMatchObject({ status: 'paid' });
    expect(order.tickets).toHaveLength(2);
    const ticket = order.tickets[0].id as string;

    const stdout = new Bytes();
    const stderr = new Bytes();
    const env = {
      ...process.env,
      TICKETS_CONFIG_DIR: cli.configDir,
      NO_COLOR: '1',
      TICKETS_API_URL: undefined,
    };
    const code = await main(['node', 'tickets', 'api', `/api/tickets/${ticket}/qr.png`], {
      stdin: Readable.from([]),
      stdout,
      stderr,
      env,
    });
    expect(code, stderr.bytes.toString()).toBe(0);
    const png = stdout.bytes;
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    const direct = await fetch(`${server.url}/api/tickets/${ticket}/qr.png`, {
      headers: { authorization: `Bearer ${cli.config().profiles.default!.access_token}` },
    });
    expect(direct.status).toBe(200);
    expect(png.equals(Buffer.from(await direct.arrayBuffer()))).toBe(true);

    // A terminal gets one clear line instead of the bytes.
    const tty = await withFactory(cli, { tty: true }, (f) =>
      apiRun(f, options({ method: 'GET', path: `/api/tickets/${ticket}/qr.png` })),
    );
    expect(tty.result).toBe(2);
    expect(tty.stdout).toBe('');
    expect(tty.stderr).toMatch(
      /^error: refusing to write image\/png \(\d+ bytes\) to the terminal; redirect/,
    );
    expect(tty.stderr.trim().split('\n')).toHaveLength(1);
    // Text is still shown on a terminal.
    const svg = await withFactory(cli, { tty: true }, (f) =>
      apiRun(f, options({ method: 'GET', path: `/api/tickets/${ticket}/qr.svg` })),
    );
    expect(svg.result).toBe(0);
    expect(svg.stdout).toMatch(/<svg/);
  });

  it('-i prints the status line and headers first; -H sends headers; an explicit Authorization wins', async () => {
    const r = await cli(['api', '-i', '/api/me', '-H', 'X-Request-Id: api-test-1']);
    expect(r.exitCode, r.stderr).toBe(0);
    const [head, body] = r.stdout.split('\n\n');
    const lines = head!.split('\n');
    expect(lines[0]).toBe('HTTP/1.1 200 OK');
    expect(lines).toContain('X-Request-Id: api-test-1');
    expect(lines.some((l) => /^Content-Type: application\/json/.test(l))).toBe(true);
    expect(JSON.parse(body!)).toMatchObject({ object: 'me' });

    const denied = await cli(['api', '-i', '/api/me', '-H', 'authorization: Bearer not-a-token']);
    expect(denied.exitCode).toBe(1);
    expect(denied.stdout).toMatch(/^HTTP\/1\.1 401 Unauthorized\n/);
    expect(denied.stdout).toMatch(/\n\n\{\n/);
    expect(denied.stderr).toMatch(/^error: 401 Unauthorized/);
  });

  it('a public endpoint works signed out; no server is an error with a hint, exit 1', async () => {
    const fresh = makeCli();
    try {
      const health = await fresh(['api', '/api/health'], { env: { TICKETS_API_URL: server.url } });
      expect(health.exitCode, health.stderr).toBe(0);
      expect(JSON.parse(health.stdout)).toEqual({ status: 'ok' });
      const signedOut = await fresh(['api', '/api/me'], { env: { TICKETS_API_URL: server.url } });
      expect(signedOut.exitCode).toBe(4);
      const down = await cli(['api', '/api/me'], { env: { TICKETS_API_URL: 'http://127.0.0.1:9' } });
      expect(down.exitCode).toBe(1);
      expect(down.stdout).toBe('');
      expect(down.stderr).toMatch(/Could not reach/);
    } finally {
      fresh.cleanup();
    }
  });
});

describe('sqlite: tickets api with an expiring session', () => {
  it('renews the access token by itself, as the SDK does, and saves the new tokens', async () => {
    // Two seconds, not one: a token's expiry is counted in whole seconds from when it was issued, so a
    // one-second token renewed late in a second may expire before the request it was renewed for.
    const server = await startTestServer('sqlite', { TICKETS_ACCESS_TOKEN_TTL: '2' });
    const cli = makeCli();
    try {
      const email = uniqueEmail();
      const signup = await cli([
        'signup',
        '--email',
        email,
        '--name',
        'Ann',
        '--password',
        PASSWORD,
        '--api-url',
        server.url,
      ]);
      expect(signup.exitCode, signup.stderr).toBe(0);
      const before = cli.config().profiles.default!;
      await new Promise((r) => setTimeout(r, 3100));
      const r = await cli(['api', '/api/me']);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ user: { email } });
      const after = cli.config().profiles.default!;
      expect(after.access_token).not.toBe(before.access_token);
      expect(after.refresh_token).not.toBe(before.refresh_token);
    } finally {
      cli.cleanup();
      await server.stop();
    }
  });
});
