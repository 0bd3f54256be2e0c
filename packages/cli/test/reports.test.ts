import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../server/test/harness.js';
import { type ReportOptions, reportRun } from '../src/commands/reports.js';
import { UsageError } from '../src/errors.js';
import { type Cli, fakePrompter, makeCli, signUpWithEvent, withFactory } from './run-cli.js';

type Row = Record<string, string>;

/** What a run function threw (main() turns a UsageError into exit 2). */
async function thrown(work: Promise<unknown>): Promise<Error> {
  try {
    await work;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected it to fail');
}

describe('sqlite: tickets reports', () => {
  let server: TestServer;
  let cli: Cli;
  let eventId: string;
  let dir: string;
  const options = (over: Partial<ReportOptions>): ReportOptions => ({
    kind: 'sales',
    event: eventId,
    format: 'csv',
    excel: false,
    force: false,
    ...over,
  });

  beforeAll(async () => {
    server = await startTestServer('sqlite');
    cli = makeCli();
    dir = mkdtempSync(join(tmpdir(), 'tickets-reports-'));
    eventId = await signUpWithEvent(cli, server.url, { org: 'Reports Org', event: 'Report Night' });
    const type = await cli.json([
      'types',
      'create',
      eventId,
      '--name',
      'GA',
      '--price',
      '25',
      '--capacity',
      '50',
    ]);
    await cli.json(['events', 'publish', eventId]);
    // Sold through the API with the CLI's own session (selling is `tickets sell`'s test, not this one's).
    const profile = Object.values(cli.config().profiles)[0]!;
    const sell = async (buyer: { name: string; email: string }, quantity: number, holders?: object[]) => {
      const res = await fetch(`${server.url}/api/tickets/purchase`, {
        method: 'POST',
        headers: { authorization: `Bearer ${profile.access_token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          event: eventId,
          items: [{ ticket_type: type.id, quantity, ...(holders ? { holders } : {}) }],
          buyer,
          payment_method: 'manual',
        }),
      });
      expect(res.status).toBe(201);
    };
    await sell({ name: 'Smith, Anna "Annie"', email: 'anna@example.com' }, 2, [
      { name: 'Line\nBreak', email: 'lb@example.com' },
      { name: '=SUM(A1)', email: 'sum@example.com' },
    ]);
    await sell({ name: 'Bo 🎟️', email: 'bo@example.com' }, 1);
  });
  afterAll(async () => {
    cli.cleanup();
    rmSync(dir, { recursive: true, force: true });
    await server.stop();
  });

  it('writes the sales report to a file, every row read back, and says how many rows it wrote', async () => {
    const file = join(dir, 'sales.csv');
    const { result, stdout, stderr } = await withFactory(cli, {}, (f) =>
      reportRun(f, options({ out: file })),
    );
    expect(result).toBe(0);
    expect(stdout).toBe('');
    // Three tickets, though one holder's name takes two lines of the file.
    expect(stderr).toMatch(/Wrote 3 rows \(\d+ kB\) to .*sales\.csv\./);
    const rows: Row[] = parse(readFileSync(file, 'utf8'), { columns: true });
    expect(rows.map((r) => [r.buyer_name, r.holder_name, r.price, r.currency, r.channel])).toEqual([
      ['Smith, Anna "Annie"', 'Line\nBreak', '25.00', 'EUR', 'box_office'],
      ['Smith, Anna "Annie"', "'=SUM(A1)", '25.00', 'EUR', 'box_office'],
      ['Bo 🎟️', 'Bo 🎟️', '25.00', 'EUR', 'box_office'],
    ]);
    // Buyers' names and addresses: the file is its owner's alone.
    expect(statSync(file).mode & 0o077).toBe(0);

    const json = await withFactory(cli, { json: true }, (f) =>
      reportRun(f, options({ kind: 'attendance', out: join(dir, 'attendance.jsonl'), format: 'json' })),
    );
    expect(JSON.parse(json.stdout)).toEqual({
      file: join(dir, 'attendance.jsonl'),
      rows: 3,
      bytes: expect.any(Number),
    });
    const lines = readFileSync(join(dir, 'attendance.jsonl'), 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.holder_name, l.admitted, l.no_show])).toEqual([
      ['Line\nBreak', false, false],
      ['=SUM(A1)', false, false],
      ['Bo 🎟️', false, false],
    ]);
  });

  it('never replaces a file without --force (exit 2), and replaces it with', async () => {
    const file = join(dir, 'kept.csv');
    writeFileSync(file, 'precious\n');
    const err = await thrown(withFactory(cli, {}, (f) => reportRun(f, options({ out: file }))));
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toBe(`${file} exists; use --force to replace it`);
    const refused = await cli(['reports', 'sales', '--event', eventId, '--out', file]);
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toContain('exists; use --force to replace it');
    expect(readFileSync(file, 'utf8')).toBe('precious\n');

    const forced = await cli(['reports', 'revenue', '--event', eventId, '--out', file, '--force', '--excel']);
    expect(forced.exitCode, forced.stderr).toBe(0);
    const bytes = readFileSync(file);
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const rows: Row[] = parse(bytes, { columns: true, bom: true });
    expect(rows.map((r) => [r.type, r.gross])).toEqual([
      ['payment', '50.00'],
      ['invoice', '50.00'],
      ['payment', '25.00'],
      ['invoice', '25.00'],
    ]);
  });

  it('writes to stdout with --out - when piped, and refuses a terminal', async () => {
    const piped = await cli(['reports', 'attendance', '--event', eventId, '--out', '-']);
    expect(piped.exitCode, piped.stderr).toBe(0);
    const rows: Row[] = parse(piped.stdout, { columns: true });
    expect(rows.map((r) => r.holder_name)).toEqual(['Line\nBreak', "'=SUM(A1)", 'Bo 🎟️']);

    const err = await thrown(withFactory(cli, { tty: true }, (f) => reportRun(f, options({ out: '-' }))));
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toMatch(/refusing to write a report to the terminal/);
  });

  it('asks for the file on a terminal, and names the flag of a value the server refused', async () => {
    const file = join(dir, 'asked.csv');
    const asked = await withFactory(cli, { prompter: fakePrompter({ input: async () => file }) }, (f) =>
      reportRun(f, options({ kind: 'sales', type: 'GA' })),
    );
    expect(asked.result).toBe(0);
    expect(parse(readFileSync(file, 'utf8'), { columns: true })).toHaveLength(3);

    const missing = await thrown(withFactory(cli, {}, (f) => reportRun(f, options({}))));
    expect(missing.message).toBe('missing required option --out');

    const bad = await cli([
      'reports',
      'sales',
      '--from',
      '2026-03-02',
      '--to',
      '2026-03-01',
      '--out',
      join(dir, 'never.csv'),
    ]);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toMatch(/--from: must not be after `to`/);
    expect(() => statSync(join(dir, 'never.csv'))).toThrow();
  });
});
