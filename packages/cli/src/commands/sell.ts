import type { PurchaseInput, TicketType } from '@tickets/sdk';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { Context } from '../context.js';
import { EXIT, UsageError } from '../errors.js';
import { askFor, type Factory, factoryOf } from '../factory.js';
import { examples, parse } from '../help.js';
import { io } from '../io.js';
import { person, showOrder } from './orders.js';
import { drawQr, emailArg, type HolderInput, holderArg, phoneArg, resolveType } from './tickets.js';

/** One `--type`: a ticket type by name or id, and how many (`GA:2`; none given: --qty, or 1). */
export interface SellLine {
  type: string;
  qty?: number;
}

/** What `tickets sell` was asked to do, once its flags are read. */
export interface SellOptions {
  event: string;
  /** Empty: the event's only type, or asked. */
  lines: SellLine[];
  /** --qty, for a single line without its own quantity. */
  qty?: number;
  name?: string;
  email?: string;
  phone?: string;
  method: 'manual';
  holders: HolderInput[];
  marketingOptIn: boolean;
  /** Draw QR codes: undefined draws them on a terminal only. */
  qr?: boolean;
  /** A discount code. */
  voucher?: string;
}

/** `--type GA:2` (repeatable); a name that itself ends in ":<digits>" can be given by its id. */
export const lineArg = (value: string, previous: SellLine[] = []): SellLine[] => {
  const m = /^(.*?):(\d+)$/.exec(value.trim());
  const type = (m ? m[1]! : value).trim();
  const qty = m ? Number(m[2]) : undefined;
  if (!type) throw new InvalidArgumentError('Expected a ticket type, e.g. GA or GA:2 or tt_…:2.');
  if (qty !== undefined && qty < 1) throw new InvalidArgumentError(`Expected at least 1 ticket of ${type}.`);
  return [...previous, { type, qty }];
};

export function newSellCommand(
  program: Command,
  run: (f: Factory, o: SellOptions) => Promise<number> = sellRun,
): Command {
  const command = program
    .command('sell')
    .description('Sell tickets at the box office: paid at once, each ticket printed with its QR code')
    .argument('<event>', 'the event (evt_…)')
    .option(
      '--type <type[:qty]>',
      'ticket type by name or id, with how many: --type GA:2 --type VIP:1 in one order (default: the only type)',
      lineArg,
    )
    .option(
      '--qty <n>',
      'how many tickets of a single --type (default: one per --holder, or 1)',
      parse.int(1),
    )
    .option('--name <name>', "the buyer's name")
    .option('--email <email>', "the buyer's e-mail", emailArg)
    .option('--phone <phone>', "the buyer's phone, E.164, for delivery by WhatsApp", phoneArg)
    .addOption(
      new Option('--method <method>', 'how it is paid: manual is cash or card at the desk')
        .choices(['manual'])
        .default('manual'),
    )
    .option(
      '--holder <holder>',
      'a ticket holder, "Name <email>", once per ticket in the order of the --type lines (default: the buyer)',
      holderArg,
    )
    .option('--marketing-opt-in', "the buyer agrees to the organizer's marketing e-mail")
    .option('--voucher <code>', 'a discount code (its discount, and its hidden ticket types)')
    .option('--qr', 'draw the QR codes even when stdout is not a terminal')
    .option('--no-qr', 'do not draw the QR codes')
    .action(async (event: string, flags: Record<string, unknown>, cmd: Command) => {
      const options: SellOptions = {
        event,
        lines: (flags.type as SellLine[] | undefined) ?? [],
        qty: flags.qty as number | undefined,
        name: flags.name as string | undefined,
        email: flags.email as string | undefined,
        phone: flags.phone as string | undefined,
        method: flags.method as 'manual',
        holders: (flags.holder as HolderInput[] | undefined) ?? [],
        marketingOptIn: Boolean(flags.marketingOptIn),
        qr: flags.qr as boolean | undefined,
        voucher: flags.voucher as string | undefined,
      };
      io().exitCode = await run(factoryOf(Context.of(cmd)), options);
    });
  return examples(
    command,
    'tickets sell evt_… --type GA --qty 2 --name "Bea Buyer" --email bea@example.com',
    'tickets sell evt_… --type GA:2 --type VIP:1 --name "Bea Buyer" --email bea@example.com',
    'tickets sell evt_… --type "General admission" --name "Bea Buyer" --email bea@example.com \\\n      --holder "Bea Buyer <bea@example.com>" --holder "Hal Holder <hal@example.com>"',
    'tickets sell evt_… --type tt_… --name Bea --email bea@example.com --json | jq -r ".tickets[].id"',
    'tickets sell evt_… --name "Bea Buyer" --email bea@example.com --marketing-opt-in',
    'tickets sell evt_… --type GA:2 --name "Bea Buyer" --email bea@example.com --voucher JAZZ-7K2M9Q4R',
  );
}

/** The order's lines: each --type resolved once (a type named twice is one line), holders in order. */
async function orderLines(
  f: Factory,
  o: SellOptions,
): Promise<{ type: TicketType; quantity: number; holders: HolderInput[] }[]> {
  if (o.qty !== undefined && o.lines.length > 1)
    throw new UsageError('--qty is for a single --type; give each line its own: --type GA:2 --type VIP:1');
  const client = await f.client();
  const wanted: Partial<SellLine>[] = o.lines.length ? o.lines : [{}];
  const lines: { type: TicketType; quantity: number; holders: HolderInput[] }[] = [];
  for (const line of wanted) {
    if (line.qty !== undefined && o.qty !== undefined)
      throw new UsageError(`--type ${line.type}:${line.qty} and --qty ${o.qty}: give the quantity once`);
    const type = await f.out.spin('Loading…', resolveType(client, o.event, line.type, f.prompter));
    const quantity = line.qty ?? o.qty ?? (wanted.length === 1 ? Math.max(1, o.holders.length) : 1);
    const same = lines.find((l) => l.type.id === type.id);
    if (same) same.quantity += quantity;
    else lines.push({ type, quantity, holders: [] });
  }
  const total = lines.reduce((n, l) => n + l.quantity, 0);
  if (o.holders.length > total)
    throw new UsageError(`${o.holders.length} --holder given for ${total} ticket${total === 1 ? '' : 's'}`);
  let next = 0;
  for (const l of lines) {
    l.holders = o.holders.slice(next, next + l.quantity);
    next += l.quantity;
  }
  return lines;
}

/** Sells one order at the box office and prints it (with QR codes on a terminal). */
export async function sellRun(f: Factory, o: SellOptions): Promise<number> {
  const { out } = f;
  const lines = await orderLines(f, o);
  const name = await askFor(f, o.name, { flag: '--name', message: "Buyer's name" });
  const email = emailArg(await askFor(f, o.email, { flag: '--email', message: "Buyer's e-mail" }));
  const input: PurchaseInput = {
    event: o.event,
    items: lines.map((l) => ({
      ticket_type: l.type.id,
      quantity: l.quantity,
      ...(l.holders.length ? { holders: l.holders } : {}),
    })),
    buyer: {
      name,
      email,
      ...(o.phone ? { phone: o.phone } : {}),
      ...(o.marketingOptIn ? { marketing_opt_in: true } : {}),
    },
    payment_method: o.method,
    ...(o.voucher ? { voucher: o.voucher } : {}),
  };
  const client = await f.client();
  const order = await out.spin('Selling…', client.orders.purchase(input));
  await out.result(order, async (x) => {
    const what = lines.map((l) => `${l.quantity} × ${l.type.name}`).join(', ');
    out.success(`Sold ${what} to ${person(x.buyer.name, x.buyer.email)} (${x.id}, ${x.status}).`);
    await showOrder(out, x);
    if (!(o.qr ?? out.tty)) return;
    for (const [i, t] of x.tickets.entries()) {
      out.line();
      out.line(
        `${out.style.bold(`Ticket ${i + 1} of ${x.tickets.length}:`)} ${t.id}  ${t.ticket_type_name}  ${person(t.holder.name, t.holder.email)}`,
      );
      out.line(await drawQr(t.code));
    }
  });
  return EXIT.ok;
}
