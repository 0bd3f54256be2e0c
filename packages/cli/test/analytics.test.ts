import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../server/test/harness.js';
import { eventAnalyticsRun, revenueRun, salesRun } from '../src/commands/analytics.js';
import { type Cli, makeCli, signUpWithEvent, withFactory } from './run-cli.js';

/** `tickets analytics`: a dashboard with charts on a terminal, figures when piped, the API's JSON. */
describe('sqlite: tickets analytics', () => {
  let server: TestServer;
  let cli: Cli;
  let eventId: string;

  beforeAll(async () => {
    server = await startTestServer('sqlite');
    cli = makeCli();
    eventId = await signUpWithEvent(cli, server.url, { org: 'Numbers', event: 'Chart Night' });
    await cli.json(['types', 'create', eventId, '--name', 'GA', '--price', '25.00', '--capacity', '40']);
    await cli.json(['types', 'create', eventId, '--name', 'VIP', '--price', '80.00', '--capacity', '10']);
    await cli.json(['events', 'publish', eventId]);
    for (const [type, qty, who] of [
      ['GA', 2, 'ann'],
      ['GA', 3, 'bob'],
      ['VIP', 1, 'cy'],
    ] as const)
      await cli.json([
        'sell',
        eventId,
        '--type',
        `${type}:${qty}`,
        '--name',
        who,
        '--email',
        `${who}@example.com`,
        '--no-qr',
      ]);
  });
  afterAll(async () => {
    cli.cleanup();
    await server.stop();
  });

  it('draws the dashboard on a terminal: headline figures, the sales and arrivals charts, the types', async () => {
    const r = await withFactory(cli, { tty: true }, (f) =>
      // Six hours of hourly buckets: the sales all in the last one.
      eventAnalyticsRun(f, {
        event: [eventId],
        interval: 'hour',
        from: new Date(Date.now() - 6 * 3_600_000).toISOString(),
      }),
    );
    expect(r.result).toBe(0);
    const out = r.stdout;
    expect(out).toContain('Chart Night');
    expect(out).toMatch(/Sold:\s+6, 0 held/);
    expect(out).toMatch(/Gross:\s+€205\.00/);
    expect(out).toMatch(/Orders:\s+3 \(2\.0 tickets, €68\.33 on average\)/);
    expect(out).toContain('Tickets sold per hour');
    // A chart six rows high (the most sold in an hour), then the first and last bucket.
    const chart = out.slice(out.indexOf('Tickets sold per hour'), out.indexOf('Arrivals'));
    expect(chart.split('\n').filter((l) => /[┤┼]/.test(l))).toHaveLength(7);
    expect(out).toContain('Arrivals per 15 minutes');
    // asciichart's axis and line.
    expect(out).toMatch(/[┤┼]/);
    expect(out).toMatch(/[╭╮╰╯─]/);
    expect(out).toMatch(/GA\s+5\s+0\s+40\s+35\s+12\.5%/);
    expect(out).toMatch(/VIP\s+1\s+0\s+10\s+9\s+10%/);
  });

  it('prints figures as tab-separated lines when piped, and the API answer with --json', async () => {
    const piped = await cli(['analytics', eventId]);
    expect(piped.exitCode, piped.stderr).toBe(0);
    const figures = Object.fromEntries(piped.stdout.split('\n').map((l) => l.split('\t')));
    expect(figures).toMatchObject({ sold: '6', gross: '20500', net: '20500', currency: 'EUR', orders: '3' });
    const json = await cli.json(['analytics', eventId, '--interval', 'day']);
    expect(json).toMatchObject({ object: 'event_analytics', interval: 'day', money: { gross: 20500 } });
    const notAnEvent = await cli(['analytics', 'ord_123']);
    expect(notAnEvent.exitCode).toBe(2);
    expect(notAnEvent.stderr).toContain('Expected an event id (evt_…)');
  });

  it('answers sales (grouped), events, users and revenue, on a terminal and piped', async () => {
    const chart = await withFactory(cli, { tty: true }, (f) =>
      salesRun(f, { interval: 'day', groupBy: 'ticket_type' }),
    );
    expect(chart.stdout).toMatch(/^6 tickets, 3 orders, €205\.00/);
    expect(chart.stdout).toMatch(/GA\s+5\s+2\s+€125\.00/);
    const grouped = await cli(['analytics', 'sales', '--group-by', 'source', '--interval', 'day']);
    expect(grouped.exitCode, grouped.stderr).toBe(0);
    expect(grouped.stdout.split('\n').some((l) => /\tdirect\t6\t3\t€205\.00$/.test(l))).toBe(true);
    const events = await cli.json(['analytics', 'events', '--sort', '-sold']);
    expect(events).toEqual([expect.objectContaining({ event_id: eventId, sold: 6, gross: 20500 })]);
    const users = await cli(['analytics', 'users']);
    expect(users.stdout).toContain('Buyers: 3');
    const revenue = await withFactory(cli, { tty: true }, (f) => revenueRun(f, { interval: 'month' }));
    expect(revenue.stdout).toMatch(/EUR\s+paid €205\.00, refunded €0\.00, Stripe fees €0\.00, net €205\.00/);
  });

  it('names the flag of a bad range, once, on stderr', async () => {
    const r = await cli(['analytics', 'sales', '--from', '2026-03-10', '--to', '2026-03-01']);
    expect(r.exitCode).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('--to');
    expect(r.stderr).toContain('`from` must be before `to`');
    expect(r.stderr.split('must be before').length).toBe(2);
  });
});
