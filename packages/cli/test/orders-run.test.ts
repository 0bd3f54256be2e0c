import { Readable } from 'node:stream';
import { Tickets } from '@tickets/sdk';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeStripe, startFakeStripe } from '../../server/test/fakes/stripe.js';
import { startTestServer, type TestServer } from '../../server/test/harness.js';
import { type DoorOptions, doorRun, newDoorCommand } from '../src/commands/door.js';
import {
  newOrderCancelCommand,
  newOrderListCommand,
  newOrderRefundCommand,
  orderCancelRun,
  orderListRun,
  orderRefundRun,
  orderShowRun,
  type RefundOptions,
} from '../src/commands/orders.js';
import {
  newRefundCommand,
  newTicketRefundCommand,
  newTransferCommand,
  refundRun,
  resolveType,
  ticketListRun,
  ticketRefundRun,
  transferRun,
} from '../src/commands/tickets.js';
import { CancelledError, UsageError } from '../src/errors.js';
import type { Factory } from '../src/factory.js';
import {
  type Cli,
  fakePrompter,
  flagRecorder,
  makeCli,
  signUpWithEvent,
  thrown,
  withFactory,
} from './run-cli.js';

/** The factory with `input` on its stdin, as a scanner would type it into `tickets door`. */
const typing = (f: Factory, input: string): Factory => ({
  ...f,
  io: { ...f.io, stdin: Object.assign(Readable.from([Buffer.from(input)]), { isTTY: f.io.stdin.isTTY }) },
});

/**
 * `tickets orders`, `tickets`, `transfer`, `refund` and `door` as gh tests a command: flags read into
 * options by the command built with a run function that only records them, and each run function
 * called directly with fake streams, a fake prompter and clock, against a real in-process server.
 */
describe('sqlite: orders, tickets, refunds and door mode, run in-process', () => {
  let stripe: FakeStripe;
  let server: TestServer;
  let cli: Cli;
  let eventId: string;

  const sell = async (name: string, more: string[] = []) => {
    const email = `${name.toLowerCase().replace(/\W+/g, '.')}@example.com`;
    return cli.json(['sell', eventId, '--type', 'GA', '--name', name, '--email', email, ...more]);
  };
  const refundOptions = (id: string, more: Partial<RefundOptions> = {}): RefundOptions => ({
    id,
    keepInventory: false,
    yes: false,
    ...more,
  });
  const door = (more: Partial<DoorOptions> = {}): DoorOptions => ({
    event: eventId,
    direction: 'entry',
    offline: false,
    fallbackOffline: false,
    ...more,
  });

  beforeAll(async () => {
    stripe = await startFakeStripe();
    server = await startTestServer('sqlite', {
      STRIPE_SECRET_KEY: stripe.secretKey,
      STRIPE_WEBHOOK_SECRET: stripe.webhookSecret,
      STRIPE_API_URL: stripe.url,
    });
    cli = makeCli();
    eventId = await signUpWithEvent(cli, server.url, { org: 'Run Orders Org', event: 'Run Orders Night' });
    await cli.json(['types', 'create', eventId, '--name', 'GA', '--price', '25', '--capacity', '50']);
    await cli.json(['types', 'create', eventId, '--name', 'VIP', '--price', '80', '--capacity', '10']);
    await cli.json(['events', 'publish', eventId]);
  });
  afterAll(async () => {
    cli.cleanup();
    await server?.stop();
    await stripe?.close();
  });

  it('reads the flags of orders list, cancel and refund, refund, tickets refund, transfer and door into options', async () => {
    const { record, parse } = flagRecorder();
    const orders = (p: Command) => p.command('orders');
    expect(
      await parse(
        (p) => newOrderListCommand(orders(p), record),
        'orders',
        'list',
        '--status',
        'paid',
        '--search',
        'bea',
      ),
    ).toEqual({
      event: undefined,
      status: 'paid',
      email: undefined,
      search: 'bea',
      limit: 30,
      all: false,
    });
    await expect(
      parse((p) => newOrderListCommand(orders(p), record), 'orders', 'list', '--status', 'lost'),
    ).rejects.toThrow(/choices/);
    expect(await parse((p) => newOrderCancelCommand(orders(p), record), 'orders', 'cancel', 'ord_1')).toEqual(
      { id: 'ord_1', yes: false },
    );
    expect(
      await parse(
        (p) => newOrderRefundCommand(orders(p), record),
        'orders',
        'refund',
        'ord_1',
        '--amount',
        '10.5',
        '--reason',
        'Late',
        '--keep-inventory',
        '-y',
      ),
    ).toEqual({
      id: 'ord_1',
      amount: '10.5',
      reason: 'Late',
      keepInventory: true,
      yes: true,
    } satisfies RefundOptions);
    await expect(
      parse((p) => newOrderRefundCommand(orders(p), record), 'orders', 'refund', 'ord_1', '--amount', 'ten'),
    ).rejects.toThrow(/Expected an amount/);
    expect(await parse((p) => newRefundCommand(p, record), 'refund', 'tkt_1')).toEqual(
      refundOptions('tkt_1'),
    );
    expect(
      await parse((p) => newTicketRefundCommand(p.command('tickets'), record), 'tickets', 'refund', 'tkt_2'),
    ).toEqual(refundOptions('tkt_2'));
    expect(
      await parse(
        (p) => newTransferCommand(p, record),
        'transfer',
        'tkt_1',
        '--to-name',
        'Nia',
        '--to-email',
        ' nia@example.com ',
      ),
    ).toEqual({ id: 'tkt_1', toName: 'Nia', toEmail: 'nia@example.com' });
    expect(
      await parse((p) => newDoorCommand(p, record), 'door', 'evt_1', '--exit', '--gate', 'North'),
    ).toEqual({
      event: 'evt_1',
      list: undefined,
      gate: 'North',
      device: undefined,
      direction: 'exit',
      offline: false,
      fallbackOffline: false,
    } satisfies DoorOptions);
    expect(
      await parse((p) => newDoorCommand(p, record), 'door', 'evt_1', '--fallback-offline'),
    ).toMatchObject({ direction: 'entry', offline: false, fallbackOffline: true });
    await expect(
      parse((p) => newDoorCommand(p, record), 'door', 'evt_1', '--exit', '--offline'),
    ).rejects.toThrow(/cannot be used with/);
  });

  it('orders refund: answered no, nothing is refunded; a script needs --yes; --yes refunds and --json prints it', async () => {
    const order = await sell('Rhea Refund', ['--qty', '2']);
    const questions: string[] = [];
    const no = fakePrompter({
      async confirm(message) {
        questions.push(message);
        return false;
      },
    });
    const declined = await thrown(
      withFactory(cli, { tty: true, prompter: no }, (f) => orderRefundRun(f, refundOptions(order.id))),
    );
    expect(declined).toBeInstanceOf(CancelledError);
    // On a terminal the question says how much, in the currency, and what stops working.
    expect(questions).toEqual([
      `Refund €50.00 of order ${order.id} (Rhea Refund); its tickets stop working?`,
    ]);
    expect(await cli.json(['orders', 'show', order.id])).toMatchObject({ status: 'paid', refunds: [] });

    const script = await thrown(withFactory(cli, {}, (f) => orderRefundRun(f, refundOptions(order.id))));
    expect(script).toBeInstanceOf(UsageError);
    expect(script.message).toBe('refusing to do this without --yes when not running interactively');
    expect((await cli.json(['orders', 'show', order.id])).refunds).toEqual([]);

    const done = await withFactory(cli, { json: true }, (f) =>
      orderRefundRun(f, refundOptions(order.id, { amount: '10.50', reason: 'Late start', yes: true })),
    );
    expect(done.result).toBe(0);
    expect(JSON.parse(done.stdout)).toMatchObject({
      object: 'refund',
      order_id: order.id,
      amount: { amount: 1050, currency: 'EUR' },
      reason: 'Late start',
      order_status: 'partially_refunded',
    });
    expect(done.stderr).toBe('');

    // A person who answers yes to a ticket's refund: its price, named with its holder.
    const ticket = order.tickets[0];
    const yes: string[] = [];
    const r = await withFactory(
      cli,
      {
        tty: true,
        prompter: fakePrompter({
          async confirm(message) {
            yes.push(message);
            return true;
          },
        }),
      },
      (f) => refundRun(f, refundOptions(ticket.id)),
    );
    expect(r.result).toBe(0);
    expect(yes).toEqual([`Refund €25.00 of ticket ${ticket.id} (Rhea Refund); its code stops working?`]);
    expect(r.stderr).toContain(`Refunded €25.00 of ${order.id}`);
    expect((await cli.json(['tickets', 'show', ticket.id])).status).toBe('void');
    // Told apart by the id, before anything is asked or sent.
    const neither = await thrown(withFactory(cli, {}, (f) => refundRun(f, refundOptions(eventId))));
    expect(neither).toBeInstanceOf(UsageError);
    expect(neither.message).toContain('neither a ticket');
    const notTicket = await thrown(
      withFactory(cli, {}, (f) => ticketRefundRun(f, refundOptions(order.id, { yes: true }))),
    );
    expect(notTicket.message).toBe(`"${order.id}" is not a ticket id (tkt_…)`);
  });

  it('orders cancel: answered no, the held order stays pending; a script needs --yes; --yes cancels it', async () => {
    const profile = cli.config().profiles.default!;
    const sdk = new Tickets({ baseUrl: server.url, token: profile.access_token });
    const types = await sdk.ticketTypes.list(eventId);
    const held = await sdk.orders.purchase({
      event: eventId,
      items: [{ ticket_type: types.find((t) => t.name === 'VIP')!.id, quantity: 2 }],
      buyer: { name: 'Pia Pending', email: 'pia@example.com' },
      payment_method: 'stripe',
    });
    expect(held.status).toBe('pending');
    const status = async () => (await sdk.orders.get(held.id)).status;

    const asked: string[] = [];
    const no = fakePrompter({
      async confirm(message) {
        asked.push(message);
        return false;
      },
    });
    expect(
      await thrown(
        withFactory(cli, { tty: true, prompter: no }, (f) => orderCancelRun(f, { id: held.id, yes: false })),
      ),
    ).toBeInstanceOf(CancelledError);
    expect(asked).toEqual([`Cancel order ${held.id}? Its held tickets go back on sale.`]);
    expect(await status()).toBe('pending');

    const script = await thrown(withFactory(cli, {}, (f) => orderCancelRun(f, { id: held.id, yes: false })));
    expect(script).toBeInstanceOf(UsageError);
    expect(await status()).toBe('pending');

    const done = await withFactory(cli, {}, (f) => orderCancelRun(f, { id: held.id, yes: true }));
    expect(done.result).toBe(0);
    expect(done.stderr).toBe(`✓ Cancelled ${held.id}.\n`);
    expect(await status()).toBe('cancelled');
  });

  it('transfer asks a person at a terminal for the new holder; a script is told the flag and nothing moves', async () => {
    const order = await sell('Tom Transfer');
    const ticket = order.tickets[0];
    const asked: string[] = [];
    const answers: Record<string, string> = {
      'New holder’s name': 'Nia New',
      'New holder’s e-mail': ' nia@example.com ',
    };
    const prompter = fakePrompter({
      async input(message) {
        asked.push(message);
        return answers[message] ?? Promise.reject(new Error(`unexpected question: ${message}`));
      },
    });
    const moved = await withFactory(cli, { tty: true, prompter }, (f) => transferRun(f, { id: ticket.id }));
    expect(moved.result).toBe(0);
    expect(asked).toEqual(['New holder’s name', 'New holder’s e-mail']);
    expect(moved.stderr).toContain(`Transferred ${ticket.id} to Nia New <nia@example.com>`);
    // On a terminal the new code is drawn, to scan from the screen.
    expect(moved.stdout).toMatch(/[▄▀█]/);
    const after = await cli.json(['tickets', 'show', ticket.id]);
    expect(after.holder).toEqual({ name: 'Nia New', email: 'nia@example.com' });

    const script = await thrown(
      withFactory(cli, {}, (f) => transferRun(f, { id: ticket.id, toEmail: 'ola@example.com' })),
    );
    expect(script).toBeInstanceOf(UsageError);
    expect(script.message).toBe('missing required option --to-name');
    expect((await cli.json(['tickets', 'show', ticket.id])).code).toBe(after.code);
  });

  it('resolveType asks which ticket type on a terminal and takes any spelling; a script is told --type', async () => {
    const run = (prompter: ReturnType<typeof fakePrompter>) =>
      withFactory(cli, {}, async (f) => resolveType(await f.client(), eventId, undefined, prompter));
    const asked: string[] = [];
    const chosen = await run(
      fakePrompter({
        async input(message) {
          asked.push(message);
          return ' vip ';
        },
      }),
    );
    expect(chosen.result.name).toBe('VIP');
    expect(asked).toHaveLength(1);
    expect(asked[0]).toMatch(/^Ticket type \("GA" \(tt_\w+\), "VIP" \(tt_\w+\)\)$/);
    const script = await thrown(run(fakePrompter({ interactive: false })));
    expect(script).toBeInstanceOf(UsageError);
    expect(script.message).toBe('missing required option --type');
  });

  it('orders show --json gives the order with its refunds; lists are JSON with --json and rows when piped', async () => {
    const order = await sell('Jo Json', ['--qty', '2']);
    await cli.json(['orders', 'refund', order.id, '--amount', '5', '--yes']);
    const shown = await withFactory(cli, { json: true }, (f) => orderShowRun(f, { id: order.id }));
    expect(shown.result).toBe(0);
    const json = JSON.parse(shown.stdout);
    expect(json).toMatchObject({ id: order.id, status: 'partially_refunded', buyer: { name: 'Jo Json' } });
    expect(json.tickets).toHaveLength(2);
    expect(json.refunds.map((r: { amount: { amount: number } }) => r.amount.amount)).toEqual([500]);

    const human = await withFactory(cli, {}, (f) => orderShowRun(f, { id: order.id }));
    expect(human.stdout).toContain('Refunded: €5.00');

    const list = await withFactory(cli, {}, (f) =>
      orderListRun(f, { email: 'jo.json@example.com', limit: 30, all: false }),
    );
    expect(list.stdout.split('\t').slice(0, 4)).toEqual([
      order.id,
      expect.stringMatching(/^\d{4}-/),
      'partially_refunded',
      'Jo Json',
    ]);

    const attendees = await withFactory(cli, { json: true }, (f) =>
      ticketListRun(f, { event: eventId, search: 'jo.json@', limit: 1000 }),
    );
    expect(JSON.parse(attendees.stdout)).toMatchObject([
      { name: 'Jo Json', order_id: order.id },
      { name: 'Jo Json', order_id: order.id },
    ]);
  });

  it('door reads codes from the factory’s stdin: a JSON line per verdict, then the summary', async () => {
    const [a, b] = [(await sell('Ada Door')).tickets[0], (await sell('Bo Door')).tickets[0]];
    const r = await withFactory(cli, { json: true }, (f) =>
      doorRun(typing(f, `${a.code}\n\n${a.code}\ngarbage\n${b.code}\n`), door({ gate: 'North' })),
    );
    expect(r.result).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.object, l.result ?? null])).toEqual([
      ['validation', 'admitted'],
      ['validation', 'already_used'],
      ['validation', 'invalid'],
      ['validation', 'admitted'],
      ['door_summary', null],
    ]);
    expect(lines[4]).toMatchObject({
      admitted: 2,
      refused: 2,
      inside: 2,
      refused_by_reason: { 'already used': 1, 'not a ticket of ours': 1 },
    });
    expect(r.stderr).toBe('');
  });

  it('door on a terminal: a bell on each refusal and a running count, each verdict under its block', async () => {
    const t = (await sell('Tia Tty')).tickets[0];
    const r = await withFactory(cli, { tty: true }, (f) =>
      doorRun(typing(f, `${t.code}\n${t.code}\n`), door()),
    );
    expect(r.result).toBe(0);
    expect(r.stderr).toContain('Door open: scan a ticket. Ctrl-C prints the summary.');
    expect(r.stdout.split('\u0007')).toHaveLength(2);
    const text = r.stdout.replaceAll('\u0007', '');
    expect(text.split('\n')).toEqual([
      'ADMITTED  Tia Tty · GA',
      'Admitted 1 · Refused 0 · Inside 1',
      expect.stringMatching(/^REFUSED {2}already used \d\d:\d\d on cli-[0-9a-f]{8}$/),
      'Admitted 1 · Refused 1 · Inside 1',
      'Admitted 1 · Refused 1 · Inside 1',
      '  already used: 1',
      '',
    ]);
  });

  it('door --offline reads the clock it is given: the bundle’s age, a stale warning, and each scan’s time', async () => {
    const early = (await sell('Ola Offline')).tickets[0];
    const synced = Date.now();
    expect((await cli(['checkin', 'sync', eventId])).exitCode).toBe(0);
    const late = (await sell('Lu Late')).tickets[0];
    const at = (minutes: number) => new Date(synced + minutes * 60_000);

    const fresh = await withFactory(cli, { now: () => at(5) }, (f) =>
      doorRun(typing(f, ''), door({ offline: true })),
    );
    expect(fresh.result).toBe(0);
    expect(fresh.stderr).toMatch(/^Offline bundle: Main entrance, synced [45] minutes ago\.\n$/);

    const stale = await withFactory(cli, { json: true, now: () => at(42) }, (f) =>
      doorRun(typing(f, `${early.code}\n${late.code}\n${early.code}\n`), door({ offline: true })),
    );
    expect(stale.result).toBe(0);
    const lines = stale.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.result, l.offline])).toEqual([
      ['admitted', true],
      ['admitted', true],
      ['already_used', true],
      [undefined, undefined],
    ]);
    // Each verdict is stamped with the door's clock, not the machine's.
    for (const l of lines.slice(0, 3)) expect(l.scanned_at).toBe(at(42).toISOString());
    expect(lines[3]).toMatchObject({ object: 'door_summary', admitted: 2, refused: 1, decided_offline: 3 });

    const piped = await withFactory(cli, { now: () => at(42) }, (f) =>
      doorRun(typing(f, ''), door({ offline: true })),
    );
    expect(piped.stderr).toMatch(/^! Offline bundle: Main entrance, synced 4[12] minutes ago\.\n$/);
  });
});
