import type { Order, OrderStatus, Refund, Tickets } from '@tickets/sdk';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { Context } from '../context.js';
import { CliError } from '../errors.js';
import { examples, limitOptions, listed } from '../help.js';
import { checkPrice, formatMoney, toMinorUnits } from '../money.js';
import type { Output } from '../output.js';
import { canPrompt, confirmAction } from '../prompt.js';
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

export interface RefundFlags {
  amount?: string;
  reason?: string;
  /** Commander's `--keep-inventory` flag. */
  keepInventory?: boolean;
  yes?: boolean;
}

/**
 * Refunds an order or one ticket. The amount is typed in the order's currency, so the order is looked
 * up first whenever an amount is given or someone is asked to confirm.
 */
export async function refund(
  ctx: Context,
  client: Tickets,
  kind: 'order' | 'ticket',
  target: string,
  f: RefundFlags,
): Promise<Refund> {
  const isTicket = kind === 'ticket';
  let amount: number | undefined;
  if (f.amount !== undefined || (!f.yes && canPrompt())) {
    const ticket = isTicket ? await ctx.out.spin('Loading…', client.tickets.get(target)) : undefined;
    const order = await ctx.out.spin('Loading…', client.orders.get(ticket?.order_id ?? target));
    const currency = order.total.currency;
    if (f.amount !== undefined) amount = toMinorUnits(f.amount, currency, '--amount');
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
    await confirmAction(f.yes, `Refund ${formatMoney({ amount: due, currency })} of ${what}?`);
  } else await confirmAction(f.yes, `Refund ${target}?`);
  const input = {
    amount,
    reason: f.reason,
    return_inventory: f.keepInventory ? false : undefined,
  };
  return ctx.out.spin(
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
    .option('-y, --yes', 'do not ask for confirmation');
}

export function registerOrders(program: Command): void {
  const orders = program.command('orders').description('Orders: find, show, cancel, refund and resend them');
  examples(
    orders,
    'tickets orders list --event evt_…',
    'tickets orders show ord_…',
    'tickets orders resend ord_…',
  );

  examples(
    limitOptions(orders.command('list'), 30)
      .description('List orders, newest first')
      .option('--event <event>', 'only orders for this event (evt_…)')
      .addOption(new Option('--status <status>', 'only orders in this status').choices(STATUSES))
      .option('--email <email>', "only orders with this buyer's e-mail")
      .option('--search <text>', "search buyers' names and e-mails")
      .action(
        async (
          o: {
            event?: string;
            status?: OrderStatus;
            email?: string;
            search?: string;
            limit: number;
            all?: boolean;
          },
          cmd: Command,
        ) => {
          const ctx = Context.of(cmd);
          const client = await ctx.client();
          const { formatDateTime, localZone } = await import('../time.js');
          const list = await listed(
            ctx,
            'orders',
            (limit) =>
              client.orders.list({ event: o.event, status: o.status, email: o.email, q: o.search, limit }),
            o,
          );
          await ctx.out.result(list, () =>
            ctx.out.table(
              ['ID', 'CREATED', 'STATUS', 'BUYER', 'E-MAIL', 'TICKETS', 'TOTAL', 'REFUNDED'],
              list.map((x) => [
                x.id,
                ctx.out.tty ? formatDateTime(x.created_at, localZone()) : x.created_at,
                orderStatusLabel(ctx.out, x.status),
                x.buyer.name,
                x.buyer.email,
                x.items.reduce((n, i) => n + i.quantity, 0),
                formatMoney(x.total),
                x.refunded.amount > 0 ? formatMoney(x.refunded) : '',
              ]),
            ),
          );
        },
      ),
    'tickets orders list',
    'tickets orders list --event evt_… --status paid --limit 100',
    'tickets orders list --search bea --json',
  );

  examples(
    orders
      .command('show')
      .description('Show one order with its items, tickets and refunds')
      .argument('<id>', 'the order (ord_…)')
      .action(async (id: string, _o: unknown, cmd: Command) => {
        const ctx = Context.of(cmd);
        const client = await ctx.client();
        const [order, refunds] = await ctx.out.spin(
          'Loading…',
          Promise.all([client.orders.get(id), client.refunds.list({ order: id, limit: 100 }).toArray()]),
        );
        // --json: the order as the API gives it, with its refunds (newest first) beside its tickets.
        await ctx.out.result({ ...order, refunds }, () => showOrder(ctx.out, order, refunds));
      }),
    'tickets orders show ord_…',
    'tickets orders show ord_… --json',
  );

  examples(
    orders
      .command('cancel')
      .description('Cancel a pending order; its held tickets go back on sale (refund a paid one)')
      .argument('<id>', 'the order (ord_…)')
      .option('-y, --yes', 'do not ask for confirmation')
      .action(async (id: string, o: { yes?: boolean }, cmd: Command) => {
        const ctx = Context.of(cmd);
        const client = await ctx.client();
        await confirmAction(o.yes, `Cancel order ${id}? Its held tickets go back on sale.`);
        const order = await ctx.out.spin('Cancelling…', client.orders.cancel(id));
        await ctx.out.result(order, (x) => ctx.out.success(`Cancelled ${x.id}.`));
      }),
    'tickets orders cancel ord_… --yes',
  );

  examples(
    orders
      .command('resend')
      .description(
        "Queue a paid order's confirmation with its tickets again (e-mail, and WhatsApp with a phone)",
      )
      .argument('<id>', 'the order (ord_…)', (value: string) => {
        if (!/^ord_\w+$/.test(value)) throw new InvalidArgumentError('Expected an order id (ord_…).');
        return value;
      })
      .action(async (id: string, _o: unknown, cmd: Command) => {
        const ctx = Context.of(cmd);
        const client = await ctx.client();
        const queued = await ctx.out.spin('Queueing…', client.orders.resend(id));
        await ctx.out.result(queued, (list) => {
          ctx.out.success(`Queued ${list.length} message${list.length === 1 ? '' : 's'} for ${id}.`);
          return messageTable(ctx.out, list);
        });
      }),
    'tickets orders resend ord_…',
    'tickets orders resend ord_… --json',
  );

  examples(
    refundOptions(
      orders
        .command('refund')
        .description('Refund all or part of a paid order; a full refund voids its tickets')
        .argument('<id>', 'the order (ord_…)'),
    ).action(async (id: string, f: RefundFlags, cmd: Command) => {
      const ctx = Context.of(cmd);
      const client = await ctx.client();
      const r = await refund(ctx, client, 'order', id, f);
      await ctx.out.result(r, (x) => showRefund(ctx.out, x));
    }),
    'tickets orders refund ord_…',
    'tickets orders refund ord_… --amount 10.00 --reason "Late start" --yes',
    'tickets orders refund ord_… --keep-inventory --yes --json',
  );
}
