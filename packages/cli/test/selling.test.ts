import { stripVTControlCharacters } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../server/test/harness.js';
import { modulesBitmap, readQr } from '../../server/test/readback.js';
import { type Cli, makeCli, signUpWithEvent } from './run-cli.js';

const RESET = '\u001b[0m';
const WHITE = '\u001b[37m';

/**
 * Reads back the QR code the CLI drew with half blocks (two modules a line) by turning it into a bitmap
 * and handing it to a real barcode decoder. Returns the code found, or '' when none.
 */
function scanTerminalQr(stdout: string): string {
  const lines = stdout
    // The drawing's outer edge is light on a transparent background: light modules.
    .replaceAll(`${RESET}${WHITE}▄`, ' ')
    .replaceAll(`${RESET}${WHITE}▀`, ' ')
    .split('\n')
    .map(stripVTControlCharacters)
    .filter((l) => /^[ ▄▀█]{21,}$/.test(l));
  const dark: boolean[][] = [];
  for (const line of lines) {
    dark.push([...line].map((c) => c === '▀' || c === '█'));
    dark.push([...line].map((c) => c === '▄' || c === '█'));
  }
  return readQr(modulesBitmap(dark, 4, 4));
}

/** Selling at the box office through the built `tickets` binary, against a real server. */
describe('sqlite: tickets sell, orders, tickets, transfer, refund', () => {
  let server: TestServer;
  let cli: Cli;
  let eventId: string;
  let orderId: string;
  let ticketIds: string[];

  beforeAll(async () => {
    server = await startTestServer('sqlite');
    cli = makeCli();
    eventId = await signUpWithEvent(cli, server.url, { org: 'Box Office', event: 'Door Sales Night' });
    for (const [name, price] of [
      ['General admission', '25.00'],
      ['VIP', '80'],
    ] as const)
      await cli.json(['types', 'create', eventId, '--name', name, '--price', price, '--capacity', '50']);
    await cli.json(['events', 'publish', eventId]);
  });
  afterAll(async () => {
    cli.cleanup();
    await server.stop();
  });

  it('sells at the box office: --json prints the paid order with a ticket per holder', async () => {
    const order = await cli.json([
      'sell',
      eventId,
      '--type',
      'general admission',
      '--qty',
      '3',
      '--name',
      'Bea Buyer',
      '--email',
      'bea@example.com',
      '--phone',
      '+49 170 1234567',
      '--holder',
      'Hal Holder <hal@example.com>',
      '--holder',
      'Ida Inkognito',
    ]);
    expect(order).toMatchObject({
      object: 'order',
      status: 'paid',
      payment_method: 'manual',
      buyer: { name: 'Bea Buyer', email: 'bea@example.com', phone: '+491701234567' },
      total: { amount: 7500, currency: 'EUR' },
    });
    expect(order.tickets.map((t: { holder: { name: string } }) => t.holder.name)).toEqual([
      'Hal Holder',
      'Ida Inkognito',
      'Bea Buyer',
    ]);
    orderId = order.id;
    ticketIds = order.tickets.map((t: { id: string }) => t.id);
  });

  it('prints each ticket with a QR code a scanner reads back as its code', async () => {
    const sold = await cli([
      'sell',
      eventId,
      '--type',
      'VIP',
      '--name',
      'Quinn Scanner',
      '--email',
      'quinn@example.com',
      '--qr',
    ]);
    expect(sold.exitCode, sold.stderr).toBe(0);
    expect(sold.stderr).toContain('Sold 1 × VIP to Quinn Scanner <quinn@example.com>');
    expect(sold.stdout).toContain('Status: paid');
    expect(sold.stdout).toContain('Total: €80.00');
    const ticketId = /Ticket 1 of 1: (tkt_\w+) {2}VIP {2}Quinn Scanner <quinn@example\.com>/.exec(
      sold.stdout,
    )?.[1];
    expect(sold.stdout).toContain(`${ticketId}\tVIP\tQuinn Scanner <quinn@example.com>\tvalid`);
    const ticket = await cli.json(['tickets', 'show', ticketId!]);
    expect(scanTerminalQr(sold.stdout)).toBe(ticket.code);

    // Piped without --qr: no drawing, just the details.
    const plain = await cli(['tickets', 'show', ticketId!]);
    expect(plain.stdout).toContain('Holder: Quinn Scanner <quinn@example.com>');
    expect(plain.stdout).not.toMatch(/[▄▀█]/);
    const drawn = await cli(['tickets', 'show', ticketId!, '--qr']);
    expect(scanTerminalQr(drawn.stdout)).toBe(ticket.code);
  });

  it('lists and shows orders, tab-separated when piped', async () => {
    const list = await cli.json(['orders', 'list', '--event', eventId, '--status', 'paid']);
    expect(list.map((o: { id: string }) => o.id)).toContain(orderId);
    const byEmail = await cli.json(['orders', 'list', '--email', 'BEA@example.com']);
    expect(byEmail.map((o: { id: string }) => o.id)).toEqual([orderId]);
    const search = await cli.json(['orders', 'list', '--search', 'quinn', '--limit', '5']);
    expect(search).toHaveLength(1);

    const piped = await cli(['orders', 'list', '--email', 'bea@example.com']);
    expect(piped.exitCode).toBe(0);
    const [row] = piped.stdout.split('\n');
    expect(row!.split('\t')).toEqual([
      orderId,
      expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      'paid',
      'Bea Buyer',
      'bea@example.com',
      '3',
      '€75.00',
      '',
    ]);

    const shown = await cli(['orders', 'show', orderId]);
    expect(shown.stdout).toContain(`ID: ${orderId}`);
    expect(shown.stdout).toContain('Buyer: Bea Buyer <bea@example.com>');
    expect(shown.stdout).toContain(`${ticketIds[0]}\tGeneral admission\tHal Holder <hal@example.com>\tvalid`);
  });

  it('lists attendees, searchable', async () => {
    const all = await cli.json(['tickets', 'list', eventId]);
    expect(all).toHaveLength(4);
    const hal = await cli.json(['tickets', 'list', eventId, '--search', 'hal@example']);
    expect(hal).toMatchObject([{ ticket_id: ticketIds[0], name: 'Hal Holder', buyer_name: 'Bea Buyer' }]);
  });

  it('sells several lines in one order: --type GA:2 --type VIP:1, holders in the order of the lines', async () => {
    const r = await cli([
      'sell',
      eventId,
      '--type',
      'General admission:2',
      '--type',
      'vip:1',
      '--type',
      'VIP',
      '--name',
      'Mia Multi',
      '--email',
      'mia@example.com',
      '--holder',
      'Gia One <gia@example.com>',
      '--holder',
      'Gil Two',
      '--holder',
      'Vic Vip',
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /^✓ Sold 2 × General admission, 2 × VIP to Mia Multi <mia@example.com> \(ord_\w+, paid\)\.$/,
    );
    const id = /\((ord_\w+), paid\)/.exec(r.stderr)![1]!;
    const order = await cli.json(['orders', 'show', id]);
    expect(order.items.map((i: { name: string; quantity: number }) => [i.name, i.quantity]).sort()).toEqual([
      ['General admission', 2],
      ['VIP', 2],
    ]);
    expect(order.total).toEqual({ amount: 2 * 2500 + 2 * 8000, currency: 'EUR' });
    const holders = order.tickets.map(
      (t: { ticket_type_name: string; holder: { name: string } }) =>
        `${t.ticket_type_name}: ${t.holder.name}`,
    );
    expect(holders.sort()).toEqual(
      ['General admission: Gia One', 'General admission: Gil Two', 'VIP: Mia Multi', 'VIP: Vic Vip'].sort(),
    );

    // Quantities are given once, and every line must name a type of the event.
    const both = await cli([
      'sell',
      eventId,
      '--type',
      'VIP:1',
      '--type',
      'GA:1',
      '--qty',
      '2',
      '--name',
      'X',
      '--email',
      'x@example.com',
    ]);
    expect(both.exitCode).toBe(2);
    expect(both.stderr).toContain('--qty is for a single --type');
    const zero = await cli(['sell', eventId, '--type', 'VIP:0', '--name', 'X', '--email', 'x@example.com']);
    expect(zero.exitCode).toBe(2);
    const unknown = await cli([
      'sell',
      eventId,
      '--type',
      'VIP:1',
      '--type',
      'Balcony:2',
      '--name',
      'X',
      '--email',
      'x@example.com',
    ]);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toContain('--type: the event has no ticket type "Balcony"');
    const many = await cli([
      'sell',
      eventId,
      '--type',
      'VIP:1',
      '--holder',
      'A',
      '--holder',
      'B',
      '--name',
      'X',
      '--email',
      'x@example.com',
    ]);
    expect(many.exitCode).toBe(2);
    expect(many.stderr).toContain('2 --holder given for 1 ticket');
  });

  it('transfers a ticket: a new holder and a new code', async () => {
    const before = await cli.json(['tickets', 'show', ticketIds[1]!]);
    const moved = await cli.json([
      'transfer',
      ticketIds[1]!,
      '--to-name',
      'Nia New',
      '--to-email',
      'nia@example.com',
    ]);
    expect(moved.holder).toEqual({ name: 'Nia New', email: 'nia@example.com' });
    expect(moved.code).not.toBe(before.code);
    expect(moved.code_version).toBe(before.code_version + 1);
    const said = await cli([
      'tickets',
      'transfer',
      ticketIds[1]!,
      '--to-name',
      'Ola Other',
      '--to-email',
      'ola@example.com',
    ]);
    expect(said.exitCode, said.stderr).toBe(0);
    expect(said.stderr).toContain('Transferred');
    expect(said.stderr).toContain('Ola Other <ola@example.com>');
  });

  it('refunds part of an order in major units, then a ticket, then the rest; the order shows refunded', async () => {
    const part = await cli.json([
      'orders',
      'refund',
      orderId,
      '--amount',
      '10.50',
      '--reason',
      'Late start',
      '--yes',
    ]);
    expect(part).toMatchObject({
      amount: { amount: 1050, currency: 'EUR' },
      order_status: 'partially_refunded',
    });

    const one = await cli(['refund', ticketIds[0]!, '--yes']);
    expect(one.exitCode, one.stderr).toBe(0);
    expect(one.stderr).toContain('Refunded €25.00');
    expect(one.stdout).toContain(`Voided: ${ticketIds[0]}`);

    const rest = await cli.json(['refund', orderId, '--yes', '--keep-inventory']);
    expect(rest).toMatchObject({
      amount: { amount: 3950 },
      order_status: 'refunded',
      returned_inventory: false,
    });

    const shown = await cli(['orders', 'show', orderId]);
    expect(shown.stdout).toContain('Status: refunded');
    expect(shown.stdout).toContain('Refunded: €75.00');
    expect(shown.stdout).toContain(
      `${ticketIds[0]}\tGeneral admission\tHal Holder <hal@example.com>\tvoid (refunded)`,
    );
    const json = await cli.json(['orders', 'show', orderId]);
    expect(json.status).toBe('refunded');
    // The order's refunds, newest first, beside its tickets; and as a list of their own.
    expect(json.refunds.map((r: { amount: { amount: number } }) => r.amount.amount)).toEqual([
      3950, 2500, 1050,
    ]);
    expect(json.refunds[0].id).toBe(rest.id);
    expect(json.refunds[2].id).toBe(part.id);
    expect(shown.stdout).toMatch(
      new RegExp(`^${part.id}\\t\\S+\\t${orderId}\\t\\t€10\\.50\\tsucceeded\\t\\S*\\tLate start$`, 'm'),
    );
    expect(shown.stdout).toMatch(
      new RegExp(`^${json.refunds[1].id}\\t.*\\t${ticketIds[0]}\\t€25\\.00\\t`, 'm'),
    );
    const listed = await cli.json(['refunds', 'list', '--order', orderId]);
    expect(listed).toEqual(json.refunds);
    const byEvent = await cli(['refunds', 'list', '--event', eventId, '--limit', '2']);
    expect(byEvent.exitCode).toBe(0);
    expect(byEvent.stdout.split('\n').map((l) => l.split('\t')[0])).toEqual([rest.id, json.refunds[1].id]);
    expect(byEvent.stderr).toContain('Showing the first 2 refunds; more exist');
    const one1 = await cli(['refunds', 'show', part.id]);
    expect(one1.stdout).toContain(`Refund: ${part.id}`);
    expect(one1.stdout).toContain('Amount: €10.50');
    expect(one1.stdout).toContain('Reason: Late start');
    expect((await cli(['refunds', 'show', orderId])).exitCode).toBe(2);
    expect((await cli(['refunds', 'list', '--status', 'maybe'])).exitCode).toBe(2);
  });

  it('speaks of money in the currency, never in minor units, when a refund is too large', async () => {
    const order = await cli.json([
      'sell',
      eventId,
      '--type',
      'VIP',
      '--qty',
      '2',
      '--name',
      'Max Money',
      '--email',
      'max@example.com',
    ]);
    await cli.json(['orders', 'refund', order.id, '--amount', '100', '--yes']);
    const tooMuch = await cli(['orders', 'refund', order.id, '--amount', '75', '--yes']);
    expect(tooMuch.exitCode).toBe(1);
    expect(tooMuch.stderr).toBe(
      `error: --amount €75.00 is more than the €60.00 left to refund on ${order.id}`,
    );
    // A ticket's limit is the server's to know: its refusal is printed as it says it, in the currency.
    const ticket = await cli(['refund', order.tickets[0].id, '--amount', '90', '--yes']);
    expect(ticket.exitCode).toBe(1);
    expect(ticket.stderr).toMatch(
      /^error: Only €\d+\.\d\d is left to refund\. \(refund_exceeds_paid, request id req_\S+\)$/,
    );
    expect(ticket.stderr).not.toMatch(/\b\d{4}\b/);
  });

  it('never cuts a list short silently: says more exist past --limit, and --all pages through every one', async () => {
    for (const name of ['Lia List', 'Lou List', 'Lux List'])
      await cli.json(['sell', eventId, '--type', 'VIP', '--name', name, '--email', 'lists@example.com']);
    const all = await cli(['orders', 'list', '--event', eventId, '--all']);
    expect(all.exitCode).toBe(0);
    expect(all.stderr).not.toContain('more exist');
    const count = all.stdout.trim().split('\n').length;
    expect(count).toBeGreaterThanOrEqual(3);
    const cut = await cli(['orders', 'list', '--event', eventId, '--limit', String(count - 1)]);
    expect(cut.stdout.trim().split('\n')).toHaveLength(count - 1);
    expect(cut.stderr).toContain(
      `Showing the first ${count - 1} orders; more exist: use --limit N or --all.`,
    );
    const json = await cli(['orders', 'list', '--event', eventId, '--limit', '2', '--json']);
    expect(JSON.parse(json.stdout)).toHaveLength(2);
    expect(json.stderr).toContain('more exist');
    const exact = await cli(['orders', 'list', '--event', eventId, '--limit', String(count)]);
    expect(exact.stderr).not.toContain('more exist');
    const events = await cli(['events', 'list', '--limit', '1']);
    expect(events.stdout.trim().split('\n')).toHaveLength(1);
  });

  it('exits 1 with the server’s reason when the API refuses', async () => {
    const cancel = await cli(['orders', 'cancel', orderId, '--yes']);
    expect(cancel.exitCode).toBe(1);
    expect(cancel.stderr).toContain('invalid_transition');
    expect(cancel.stderr).toMatch(/request id req_/);
    const again = await cli(['refund', orderId, '--amount', '1', '--yes']);
    expect(again.exitCode).toBe(1);
    const missing = await cli(['tickets', 'show', 'tkt_01jd6x3k7qf0v8c6w2x9yq4e5b']);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toContain('not_found');
  });

  it('exits 2 on usage errors, before anything is sold or refunded', async () => {
    const sell = (...args: string[]) =>
      cli(['sell', eventId, '--name', 'Uma Usage', '--email', 'uma@example.com', ...args]);
    const cases: Array<[() => Promise<{ exitCode: number; stderr: string }>, string]> = [
      [
        () => cli(['sell', eventId, '--type', 'VIP', '--name', 'Uma Usage']),
        'missing required option --email',
      ],
      [() => sell('--type', 'Balcony'), 'no ticket type "Balcony"'],
      [() => sell('--qty', '0', '--type', 'VIP'), 'at least 1'],
      [() => sell('--type', 'VIP', '--holder', 'Bad <not-an-email>'), 'Name <email>'],
      [
        () => sell('--type', 'VIP', '--qty', '1', '--holder', 'A', '--holder', 'B'),
        '2 --holder given for 1 ticket',
      ],
      [() => sell('--type', 'VIP', '--phone', '12345'), 'E.164'],
      [() => sell('--type', 'VIP', '--method', 'cash'), 'choices'],
      [() => sell(), 'missing required option --type'],
      [() => cli(['refund', orderId]), 'without --yes'],
      [() => cli(['refund', 'evt_01jd6x3k7qf0v8c6w2x9yq4e5b', '--yes']), 'neither a ticket'],
      [() => cli(['tickets', 'refund', orderId, '--yes']), 'not a ticket id'],
      [() => cli(['orders', 'refund', orderId, '--amount', 'ten', '--yes']), 'Expected an amount'],
      [() => cli(['orders', 'refund', orderId, '--amount', '1.001', '--yes']), 'at most 2 decimal places'],
      [() => cli(['transfer', ticketIds[2]!, '--to-name', 'Nobody']), 'missing required option --to-email'],
      [() => cli(['orders', 'list', '--status', 'lost']), 'choices'],
    ];
    for (const [command, message] of cases) {
      const r = await command();
      expect(r.exitCode, r.stderr).toBe(2);
      expect(r.stderr).toContain(message);
    }
    // Nothing was sold to Uma.
    expect(await cli.json(['orders', 'list', '--email', 'uma@example.com'])).toEqual([]);
  });

  it('cancels an event with --refund-all: every paid order refunded, its tickets refused at the door', async () => {
    const event = await cli.json([
      'events',
      'create',
      '--name',
      'Washed Out',
      '--timezone',
      'UTC',
      '--currency',
      'EUR',
      '--starts',
      '2031-06-01 20:00',
      '--ends',
      '2031-06-01 23:00',
    ]);
    await cli.json(['types', 'create', event.id, '--name', 'GA', '--price', '20', '--capacity', '10']);
    await cli.json(['events', 'publish', event.id]);
    const orders = [];
    for (const name of ['Ida One', 'Ivo Two'])
      orders.push(
        await cli.json([
          'sell',
          event.id,
          '--type',
          'GA',
          '--qty',
          '2',
          '--name',
          name,
          '--email',
          'i@example.com',
        ]),
      );
    const cancelled = await cli.json([
      'events',
      'cancel',
      event.id,
      '--refund-all',
      '--message',
      'Storm warning.',
      '--yes',
    ]);
    expect(cancelled).toMatchObject({
      id: event.id,
      status: 'cancelled',
      cancellation: {
        refund: 'all',
        message: 'Storm warning.',
        status: 'done',
        orders_total: 2,
        orders_refunded: 2,
      },
    });
    for (const o of orders) {
      expect(await cli.json(['orders', 'show', o.id])).toMatchObject({ status: 'refunded' });
      const door = await cli(['validate', o.tickets[0].code, '--event', event.id]);
      expect(door.exitCode).toBe(1);
      expect(door.stdout + door.stderr).toContain('cancelled');
    }
  });
});
