import type { Order, OrderStatus, Refund } from '@tickets/sdk';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { Context } from '../context.js';
import { CliError, EXIT } from '../errors.js';
import { confirmFor, type Factory, factoryOf } from '../factory.js';
import { examples, limitOptions, listed } from '../help.js';
import { io } from '../io.js';
import { checkPrice, formatMoney, toMinorUnits } from '../money.js';
import type { Output } from '../output.js';
import { messageTable } from './messages.js';

const STATUSES = [
  'pending',
  'paid',
  'partially_refunded',
  'refunded',
  'expired',
  'cancelled',
  'failed',
] as const;

export function orderStatusLabel(out: Output, status: OrderStatus): string {
  const colour = {
    pending: out.style.yellow,
    paid: out.style.green,
    partially_refunded: out.style.magenta,
    refunded: out.style.magenta,
    expired: out.style.dim,
    cancelled: out.style.dim,
    failed: out.style.red,
  };
  return colour[status](status);
}

export const person = (name: string, email: string | null | undefined) =>
  email ? `${name} <${email}>` : name;

/** An amount typed in the currency's major units; its minor units are known once the currency is. */
export const amountArg = (value: string): string => {
  try {
    return checkPrice(value, '--amount');
  } catch {
    throw new InvalidArgumentError('Expected an amount such as 10.00 or 10.');
  }
};

/** The key/value view of an order, then its items, tickets and refunds. */
export async function showOrder(out: Output, o: Order, refunds: Refund[] = []): Promise<void> {
  const { formatDateTime, localZone } = await import('../time.js');
  const zone = localZone();
  out.details([
    ['ID', o.id],
    ['Event', o.event_id],
    ['Status', orderStatusLabel(out, o.status)],
    ['Buyer', person(o.buyer.name, o.buyer.email)],
    ['Phone', o.buyer.phone],
    ['Payment', o.payment_method],
    ['Total', formatMoney(o.total)],
    ['Refunded', o.refunded.amount > 0 ? formatMoney(o.refunded) : undefined],
    ['Paid', formatDateTime(o.paid_at, zone)],
    ['Hold until', formatDateTime(o.hold_expires_at, zone)],
    ['Flagged', o.flagged ? (o.flag_reason ?? 'yes') : undefined],
    ['Created', formatDateTime(o.created_at, zone)],
  ]);
  out.line();
  await out.table(
    ['ITEM', 'QTY', 'PRICE', 'TOTAL'],
    o.items.map((i) => [i.name, i.quantity, formatMoney(i.unit_price), formatMoney(i.total)]),
  );
  if (o.tickets.length > 0) {
    out.line();
    await out.table(
      ['TICKET', 'TYPE', 'HOLDER', 'STATUS'],
      o.tickets.map((t) => [
        t.id,
        t.ticket_type_name,
        person(t.holder.name, t.holder.email),
        t.status === 'valid' ? out.style.green('valid') : out.style.red(`void (${t.void_reason ?? '?'})`),
      ]),
    );
  }
  if (refunds.length === 0) return;
  out.line();
  const { refundTable } = await import('./refunds.js');
  await refundTable(out, refunds);
}

/** What `orders refund`, `tickets refund` and `refund` were asked to do, once their flags are read. */
export interface RefundOptions {
  /** The order (ord_…) or ticket (tkt_…). */
  id: string;
  /** --amount, in the order's currency's major units (e.g. "10.50"). */
  amount?: string;
  reason?: string;
  /** --keep-inventory: voided tickets stay off sale. */
  keepInventory: boolean;
  /** --release-voucher: the order's discount code gets its use back. */
  releaseVoucher?: boolean;
  yes: boolean;
}

type Run<O> = (f: Factory, o: O) => Promise<number>;

/** The shared flags of the refund commands, as RefundOptions. */
export function refundFlags(id: string, flags: Record<string, unknown>): RefundOptions {
  return {
    id,
    amount: flags.amount as string | undefined,
    reason: flags.reason as string | undefined,
    keepInventory: Boolean(flags.keepInventory),
    ...(flags.releaseVoucher ? { releaseVoucher: true } : {}),
    yes: Boolean(flags.yes),
  };
}

/**
 * Refunds an order or one ticket. The amount is typed in the order's currency, so the order is looked
 * up first whenever an amount is given or someone is asked to confirm.
 */
export async function refund(f: Factory, kind: 'order' | 'ticket', o: RefundOptions): Promise<Refund> {
  const { out } = f;
  const client = await f.client();
  const target = o.id;
  const isTicket = kind === 'ticket';
  let amount: number | undefined;
  if (o.amount !== undefined || (!o.yes && f.prompter.interactive)) {
    const ticket = isTicket ? await out.spin('Loading…', client.tickets.get(target)) : undefined;
    const order = await out.spin('Loading…', client.orders.get(ticket?.order_id ?? target));
    const currency = order.total.currency;
    if (o.amount !== undefined) amount = toMinorUnits(o.amount, currency, '--amount');
    const left = order.total.amount - order.refunded.amount;
    // Said in the currency, as typed; the server checks again (another refund may come first).
    if (!ticket && amount !== undefined && amount > left)
      throw new CliError(
        `--amount ${formatMoney({ amount, currency })} is more than the ${formatMoney({ amount: left, currency })} left to refund on ${order.id}`,
      );
    const due =
      amount ??
      (ticket
        ? (order.items.find((i) => i.ticket_type_id === ticket.ticket_type_id)?.unit_price.amount ?? 0)
        : left);
    const what = ticket
      ? `ticket ${ticket.id} (${ticket.holder.name}); its code stops working`
      : `order ${order.id} (${order.buyer.name})${amount === undefined ? '; its tickets stop working' : ''}`;
    await confirmFor(f, o.yes, `Refund ${formatMoney({ amount: due, currency })} of ${what}?`);
  } else await confirmFor(f, o.yes, `Refund ${target}?`);
  const input = {
    amount,
    reason: o.reason,
    return_inventory: o.keepInventory ? false : undefined,
    ...(o.releaseVoucher ? { release_voucher: true } : {}),
  };
  return out.spin(
    'Refunding…',
    isTicket ? client.tickets.refund(target, input) : client.orders.refund(target, input),
  );
}

/** A refund's details; `justMade` first says what it did. */
export function showRefund(out: Output, r: Refund, justMade = true): void {
  if (justMade)
    out.success(
      `Refunded ${formatMoney(r.amount)} of ${r.order_id}; the order is now ${r.order_status.replace('_', ' ')}.`,
    );
  out.details([
    ['Refund', r.id],
    ['Order', r.order_id],
    ['Ticket', r.ticket_id],
    ['Amount', formatMoney(r.amount)],
    ['Status', r.status],
    ['Reason', r.reason],
    ['Voided', r.voided_tickets.join(', ')],
    ['Back on sale', r.voided_tickets.length ? r.returned_inventory : undefined],
    ['Credit note', r.credit_note_number],
    ['Created', justMade ? undefined : r.created_at],
  ]);
}

/** The options `orders refund` and `refund` share. */
export function refundOptions(command: Command): Command {
  return command
    .option(
      '--amount <amount>',
      "how much, in the order's currency, e.g. 10.00 (default: all that is left)",
      amountArg,
    )
    .option('--reason <text>', 'why, for the records')
    .option('--keep-inventory', 'keep voided tickets off sale (default: they go back on sale)')
    .option('--release-voucher', "give the order's discount code its use back (a whole order's refund)")
    .option('-y, --yes', 'do not ask for confirmation');
}

export interface OrderListOptions {
  event?: string;
  status?: OrderStatus;
  email?: string;
  search?: string;
  limit: number;
  all: boolean;
}

export interface OrderShowOptions {
  id: string;
}

export interface OrderCancelOptions {
  id: string;
  yes: boolean;
}

export interface OrderResendOptions {
  id: string;
}

/** `tickets orders`: the group and each of its commands. */
export function registerOrders(program: Command): void {
  const orders = program.command('orders').description('Orders: find, show, cancel, refund and resend them');
  examples(
    orders,
    'tickets orders list --event evt_…',
    'tickets orders show ord_…',
    'tickets orders resend ord_…',
  );
  newOrderListCommand(orders);
  newOrderShowCommand(orders);
  newOrderCancelCommand(orders);
  newOrderResendCommand(orders);
  newOrderRefundCommand(orders);
}

/** `tickets orders list`: its flags become OrderListOptions for `run` (orderListRun). */
export function newOrderListCommand(orders: Command, run: Run<OrderListOptions> = orderListRun): Command {
  const command = limitOptions(orders.command('list'), 30)
    .description('List orders, newest first')
    .option('--event <event>', 'only orders for this event (evt_…)')
    .addOption(new Option('--status <status>', 'only orders in this status').choices(STATUSES))
    .option('--email <email>', "only orders with this buyer's e-mail")
    .option('--search <text>', "search buyers' names and e-mails")
    .action(async (flags: Record<string, unknown>, cmd: Command) => {
      const options: OrderListOptions = {
        event: flags.event as string | undefined,
        status: flags.status as OrderStatus | undefined,
        email: flags.email as string | undefined,
        search: flags.search as string | undefined,
        limit: flags.limit as number,
        all: Boolean(flags.all),
      };
      io().exitCode = await run(factoryOf(Context.of(cmd)), options);
    });
  return examples(
    command,
    'tickets orders list',
    'tickets orders list --event evt_… --status paid --limit 100',
    'tickets orders list --search bea --json',
  );
}

/** Orders newest first, never cut short without saying so. */
export async function orderListRun(f: Factory, o: OrderListOptions): Promise<number> {
  const { out } = f;
  const client = await f.client();
  const { formatDateTime, localZone } = await import('../time.js');
  const list = await listed(
    f.ctx,
    'orders',
    (limit) => client.orders.list({ event: o.event, status: o.status, email: o.email, q: o.search, limit }),
    o,
  );
  await out.result(list, () =>
    out.table(
      ['ID', 'CREATED', 'STATUS', 'BUYER', 'E-MAIL', 'TICKETS', 'TOTAL', 'REFUNDED'],
      list.map((x) => [
        x.id,
        out.tty ? formatDateTime(x.created_at, localZone()) : x.created_at,
        orderStatusLabel(out, x.status),
        x.buyer.name,
        x.buyer.email,
        x.items.reduce((n, i) => n + i.quantity, 0),
        formatMoney(x.total),
        x.refunded.amount > 0 ? formatMoney(x.refunded) : '',
      ]),
    ),
  );
  return EXIT.ok;
}

/** `tickets orders show`. */
export function newOrderShowCommand(orders: Command, run: Run<OrderShowOptions> = orderShowRun): Command {
  const command = orders
    .command('show')
    .description('Show one order with its items, tickets and refunds')
    .argument('<id>', 'the order (ord_…)')
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { id });
    });
  return examples(command, 'tickets orders show ord_…', 'tickets orders show ord_… --json');
}

/** One order with its items, tickets and refunds. */
export async function orderShowRun(f: Factory, o: OrderShowOptions): Promise<number> {
  const client = await f.client();
  const [order, refunds] = await f.out.spin(
    'Loading…',
    Promise.all([client.orders.get(o.id), client.refunds.list({ order: o.id, limit: 100 }).toArray()]),
  );
  // --json: the order as the API gives it, with its refunds (newest first) beside its tickets.
  await f.out.result({ ...order, refunds }, () => showOrder(f.out, order, refunds));
  return EXIT.ok;
}

/** `tickets orders cancel`. */
export function newOrderCancelCommand(
  orders: Command,
  run: Run<OrderCancelOptions> = orderCancelRun,
): Command {
  const command = orders
    .command('cancel')
    .description('Cancel a pending order; its held tickets go back on sale (refund a paid one)')
    .argument('<id>', 'the order (ord_…)')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (id: string, flags: { yes?: boolean }, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { id, yes: Boolean(flags.yes) });
    });
  return examples(command, 'tickets orders cancel ord_… --yes');
}

/** Cancels a pending order once confirmed (--yes, or answered on a terminal). */
export async function orderCancelRun(f: Factory, o: OrderCancelOptions): Promise<number> {
  const client = await f.client();
  await confirmFor(f, o.yes, `Cancel order ${o.id}? Its held tickets go back on sale.`);
  const order = await f.out.spin('Cancelling…', client.orders.cancel(o.id));
  await f.out.result(order, (x) => f.out.success(`Cancelled ${x.id}.`));
  return EXIT.ok;
}

/** `tickets orders resend`. */
export function newOrderResendCommand(
  orders: Command,
  run: Run<OrderResendOptions> = orderResendRun,
): Command {
  const command = orders
    .command('resend')
    .description(
      "Queue a paid order's confirmation with its tickets again (e-mail, and WhatsApp with a phone)",
    )
    .argument('<id>', 'the order (ord_…)', (value: string) => {
      if (!/^ord_\w+$/.test(value)) throw new InvalidArgumentError('Expected an order id (ord_…).');
      return value;
    })
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { id });
    });
  return examples(command, 'tickets orders resend ord_…', 'tickets orders resend ord_… --json');
}

/** Queues the order's confirmation again and lists the messages queued. */
export async function orderResendRun(f: Factory, o: OrderResendOptions): Promise<number> {
  const client = await f.client();
  const queued = await f.out.spin('Queueing…', client.orders.resend(o.id));
  await f.out.result(queued, (list) => {
    f.out.success(`Queued ${list.length} message${list.length === 1 ? '' : 's'} for ${o.id}.`);
    return messageTable(f.out, list);
  });
  return EXIT.ok;
}

/** `tickets orders refund`. */
export function newOrderRefundCommand(orders: Command, run: Run<RefundOptions> = orderRefundRun): Command {
  const command = refundOptions(
    orders
      .command('refund')
      .description('Refund all or part of a paid order; a full refund voids its tickets')
      .argument('<id>', 'the order (ord_…)'),
  ).action(async (id: string, flags: Record<string, unknown>, cmd: Command) => {
    io().exitCode = await run(factoryOf(Context.of(cmd)), refundFlags(id, flags));
  });
  return examples(
    command,
    'tickets orders refund ord_…',
    'tickets orders refund ord_… --amount 10.00 --reason "Late start" --yes',
    'tickets orders refund ord_… --keep-inventory --yes --json',
  );
}

/** Refunds all or part of an order once confirmed, and shows the refund. */
export async function orderRefundRun(f: Factory, o: RefundOptions): Promise<number> {
  const r = await refund(f, 'order', o);
  await f.out.result(r, (x) => showRefund(f.out, x));
  return EXIT.ok;
}
