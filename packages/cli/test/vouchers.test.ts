import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../server/test/harness.js';
import { type Cli, makeCli, signUpWithEvent } from './run-cli.js';

describe('tickets vouchers', () => {
  let server: TestServer;
  let cli: Cli;
  let eventId: string;
  let typeId: string;

  beforeAll(async () => {
    server = await startTestServer('sqlite');
    cli = makeCli();
    eventId = await signUpWithEvent(cli, server.url, { org: 'Code Hall', event: 'Code Night' });
    typeId = (
      await cli.json(['types', 'create', eventId, '--name', 'GA', '--price', '25.00', '--capacity', '50'])
    ).id;
    await cli.json(['events', 'publish', eventId]);
  });
  afterAll(async () => {
    cli?.cleanup();
    await server?.stop();
  });

  it('creates codes, lists and exports them, sells with one, gives its use back on a refund', async () => {
    const made = await cli.json([
      'vouchers',
      'create',
      '--event',
      eventId,
      '--percent',
      '20',
      '--max-uses',
      '1',
      '--count',
      '5',
      '--prefix',
      'jazz',
      '--json',
    ]);
    expect(made).toHaveLength(5);
    for (const v of made) expect(v.code).toMatch(/^JAZZ-[2-9A-HJKMNP-Z]{8}$/);
    const one = await cli([
      'vouchers',
      'create',
      '--code',
      'ten-off',
      '--event',
      eventId,
      '--amount',
      '10.00',
      '--per',
      'order',
    ]);
    expect(one.exitCode, one.stderr).toBe(0);
    expect(one.stdout).toMatch(/TEN-OFF/);
    expect(one.stdout).toMatch(/€10\.00 off each order/);

    const listed = await cli.json(['vouchers', 'list', '--event', eventId, '--code', 'JAZZ']);
    expect(listed.map((v: { code: string }) => v.code).sort()).toEqual(
      made.map((v: { code: string }) => v.code).sort(),
    );
    const file = join(tmpdir(), `codes-${Date.now()}.csv`);
    const exported = await cli(['vouchers', 'export', '--event', eventId, '--out', file]);
    expect(exported.exitCode, exported.stderr).toBe(0);
    const rows = parse(readFileSync(file, 'utf8'), { columns: true }) as { code: string; uses: string }[];
    expect(rows).toHaveLength(6);
    expect(rows.map((r) => r.code)).toContain('TEN-OFF');

    const code = made[0].code as string;
    const sold = await cli.json([
      'sell',
      eventId,
      '--type',
      'GA:2',
      '--name',
      'Bea Buyer',
      '--email',
      'bea@example.com',
      '--voucher',
      code.toLowerCase(),
      '--json',
    ]);
    expect(sold.total).toEqual({ amount: 4000, currency: 'EUR' });
    expect(sold.voucher).toMatchObject({ code, discount: { amount: 1000 } });
    // Used up: the next sale with it is refused, with the API's reason and exit 1.
    const again = await cli([
      'sell',
      eventId,
      '--type',
      'GA:1',
      '--name',
      'Cy',
      '--email',
      'cy@example.com',
      '--voucher',
      code,
    ]);
    expect(again.exitCode).toBe(1);
    expect(again.stderr).toMatch(/used as often as it may be/);
    const redemptions = await cli.json(['vouchers', 'redemptions', made[0].id]);
    expect(redemptions).toEqual([
      expect.objectContaining({ order_id: sold.id, email: 'bea@example.com', status: 'active' }),
    ]);

    const refund = await cli(['orders', 'refund', sold.id, '--release-voucher', '--yes']);
    expect(refund.exitCode, refund.stderr).toBe(0);
    expect((await cli.json(['vouchers', 'show', made[0].id, '--json'])).uses).toBe(0);

    const crew = await cli.json([
      'vouchers',
      'create',
      '--code',
      'crew',
      '--event',
      eventId,
      '--type',
      typeId,
      '--reserve',
      '3',
    ]);
    expect(crew[0]).toMatchObject({ code: 'CREW', reserved: 3, reserved_left: 3 });
    const shown = await cli(['vouchers', 'show', crew[0].id]);
    expect(shown.stdout).toMatch(/3 of 3 tickets still held/);
    const off = await cli.json([
      'vouchers',
      'update',
      made[1].id,
      '--deactivate',
      '--max-uses',
      'none',
      '--json',
    ]);
    expect(off).toMatchObject({ active: false, max_uses: null });
    expect((await cli(['vouchers', 'delete', made[0].id, '--yes'])).exitCode).toBe(1);
    expect((await cli(['vouchers', 'delete', made[2].id, '--yes'])).exitCode).toBe(0);
  });

  it('refuses bad flags before anything is sent', async () => {
    for (const [args, message] of [
      [['vouchers', 'create', '--code', 'X150', '--percent', '150'], /at most 100/],
      [['vouchers', 'create', '--percent', '10'], /either --code or --count/],
      [['vouchers', 'create', '--code', 'AMT', '--amount', '5.00'], /--amount needs --event/],
      [
        ['vouchers', 'create', '--code', 'TWO', '--event', eventId, '--percent', '5', '--price', '1.00'],
        /one of --percent/,
      ],
      [['vouchers', 'create', '--code', 'no spaces'], /Expected a code/],
      [['vouchers', 'show', 'ord_123'], /Expected a voucher id \(vch_…\)/],
    ] as const) {
      const r = await cli([...args]);
      expect(r.exitCode, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
    }
    expect(typeId).toMatch(/^tt_/);
  });
});
