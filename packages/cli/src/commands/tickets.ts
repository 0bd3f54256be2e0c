import type { PurchaseInput, Ticket, Tickets, TicketType } from '@tickets/sdk';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { Context } from '../context.js';
import { EXIT, UsageError } from '../errors.js';
import { askFor, type Factory, factoryOf, type Prompter, terminalPrompter } from '../factory.js';
import { examples, parse } from '../help.js';
import { io } from '../io.js';
import type { Output } from '../output.js';
import { person, type RefundOptions, refund, refundFlags, refundOptions, showRefund } from './orders.js';
import { newSellCommand } from './sell.js';

export type HolderInput = NonNullable<PurchaseInput['items'][number]['holders']>[number];

const NAME_AND_EMAIL = /^\s*([^<>]*?)\s*(?:<\s*([^<>\s]+)\s*>)?\s*$/;
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const E164 = /^\+[1-9]\d{6,14}$/;

/** `--holder "Name <email>"` (or just a name), repeatable: one per ticket, in order. */
export const holderArg = (value: string, previous: HolderInput[] = []): HolderInput[] => {
  const m = NAME_AND_EMAIL.exec(value);
  if (!m?.[1] || (m[2] !== undefined && !EMAIL.test(m[2])))
    throw new InvalidArgumentError('Expected "Name <email>" or "Name", e.g. "Hal Holder <hal@example.com>".');
  return [...previous, m[2] ? { name: m[1], email: m[2] } : { name: m[1] }];
};

export const emailArg = (value: string): string => {
  if (!EMAIL.test(value.trim())) throw new InvalidArgumentError('Expected an e-mail address.');
  return value.trim();
};

export const phoneArg = (value: string): string => {
  const phone = value.replace(/[\s()-]/g, '');
  if (!E164.test(phone))
    throw new InvalidArgumentError('Expected a phone number in E.164 form, e.g. +491701234567.');
  return phone;
};

/**
 * A ticket's code drawn with half-block characters, two modules to a line, so a phone can scan it off
 * the screen. It keeps its black-on-white escapes even under NO_COLOR: scanners need the contrast, and
 * light modules on a dark terminal would read as an inverted code.
 */
export async function drawQr(code: string): Promise<string> {
  const { default: QRCode } = await import('qrcode');
  const drawing = await QRCode.toString(code, { type: 'terminal', small: true, errorCorrectionLevel: 'M' });
  return drawing.replace(/\n$/, '');
}

/** A ticket's details and, when asked, its QR code. */
async function showTicket(out: Output, t: Ticket, qr: boolean): Promise<void> {
  out.details([
    ['Ticket', t.id],
    ['Type', t.ticket_type_name],
    ['Holder', person(t.holder.name, t.holder.email)],
    ['Status', t.status === 'valid' ? out.style.green('valid') : out.style.red(`void (${t.void_reason})`)],
    ['Order', t.order_id],
    ['Event', t.event_id],
    ['Code version', t.code_version],
  ]);
  if (qr && t.status === 'valid') out.line(await drawQr(t.code));
}

/**
 * The event's ticket type by id or name; with none given, the only one there is, or asked by
 * `prompter` (the invocation's terminal unless given; a usage error naming --type when nobody can answer).
 */
export async function resolveType(
  client: Tickets,
  eventId: string,
  wanted: string | undefined,
  prompter: Prompter = terminalPrompter(),
): Promise<TicketType> {
  const types = await client.ticketTypes.list(eventId, { includeHidden: true });
  const names = types.map((t) => `"${t.name}" (${t.id})`).join(', ') || 'none';
  if (wanted === undefined && types.length === 1) return types[0]!;
  // As askFor asks, with only a prompter (sell.ts calls this without its Factory).
  let typed = wanted;
  if (typed === undefined || typed === '') {
    if (!prompter.interactive) throw new UsageError('missing required option --type');
    typed = await prompter.input(`Ticket type (${names})`);
  }
  const name = typed.trim();
  const matches = types.filter((t) => t.id === name || t.name.toLowerCase() === name.toLowerCase());
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1)
    throw new UsageError(`--type: several ticket types are called "${name}"; give the id: ${names}`);
  throw new UsageError(`--type: the event has no ticket type "${name}"; it has ${names}`);
}

type Run<O> = (f: Factory, o: O) => Promise<number>;

export interface TicketShowOptions {
  id: string;
  /** --qr: draw its QR code. */
  qr: boolean;
}

export interface TicketListOptions {
  event: string;
  search?: string;
  status?: 'valid' | 'void';
  limit: number;
}

/** What `transfer` and `tickets transfer` were asked to do, once their flags are read. */
export interface TransferOptions {
  id: string;
  toName?: string;
  toEmail?: string;
}

/** `tickets tickets`, `transfer` and `refund` (and `sell`, see sell.ts). */
export function registerTickets(program: Command): void {
  newSellCommand(program);

  const tickets = program
    .command('tickets')
    .description('Issued tickets: show them with their QR code, list attendees');
  examples(tickets, 'tickets tickets show tkt_… --qr', 'tickets tickets list evt_… --search bea');
  newTicketShowCommand(tickets);
  newTicketListCommand(tickets);
  newTransferCommand(tickets);
  newTransferCommand(program);
  newTicketRefundCommand(tickets);
  newRefundCommand(program);
}

/** `tickets tickets show`: its flags become TicketShowOptions for `run` (ticketShowRun). */
export function newTicketShowCommand(tickets: Command, run: Run<TicketShowOptions> = ticketShowRun): Command {
  const command = tickets
    .command('show')
    .description('Show one ticket; --qr draws its code to scan from the screen')
    .argument('<id>', 'the ticket (tkt_…)')
    .option('--qr', 'draw its QR code')
    .action(async (id: string, flags: { qr?: boolean }, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { id, qr: Boolean(flags.qr) });
    });
  return examples(
    command,
    'tickets tickets show tkt_…',
    'tickets tickets show tkt_… --qr',
    'tickets tickets show tkt_… --json | jq -r .code',
  );
}

/** One ticket's details, and with --qr its code drawn. */
export async function ticketShowRun(f: Factory, o: TicketShowOptions): Promise<number> {
  const client = await f.client();
  const ticket = await f.out.spin('Loading…', client.tickets.get(o.id));
  await f.out.result(ticket, (t) => showTicket(f.out, t, o.qr));
  return EXIT.ok;
}

/** `tickets tickets list`. */
export function newTicketListCommand(tickets: Command, run: Run<TicketListOptions> = ticketListRun): Command {
  const command = tickets
    .command('list')
    .description("List an event's attendees: who holds which ticket")
    .argument('<event>', 'the event (evt_…)')
    .option('--search <text>', 'holder or buyer name or e-mail, or an order or ticket id')
    .addOption(new Option('--status <status>', 'only valid or only void tickets').choices(['valid', 'void']))
    .option('--limit <n>', 'at most this many', parse.int(1), 1000)
    .action(async (event: string, flags: Record<string, unknown>, cmd: Command) => {
      const options: TicketListOptions = {
        event,
        search: flags.search as string | undefined,
        status: flags.status as 'valid' | 'void' | undefined,
        limit: flags.limit as number,
      };
      io().exitCode = await run(factoryOf(Context.of(cmd)), options);
    });
  return examples(
    command,
    'tickets tickets list evt_…',
    'tickets tickets list evt_… --search bea --status valid',
    'tickets tickets list evt_… --json > attendees.json',
  );
}

/** The event's attendees, up to --limit. */
export async function ticketListRun(f: Factory, o: TicketListOptions): Promise<number> {
  const { out } = f;
  const client = await f.client();
  const list = await out.spin(
    'Loading attendees…',
    client.tickets
      .attendees(o.event, { q: o.search, status: o.status, limit: Math.min(o.limit, 100) })
      .toArray({ limit: o.limit }),
  );
  await out.result(list, () =>
    out.table(
      ['TICKET', 'NAME', 'E-MAIL', 'TYPE', 'STATUS', 'ORDER', 'BUYER'],
      list.map((a) => [
        a.ticket_id,
        a.name,
        a.email,
        a.ticket_type_name,
        a.status === 'valid' ? out.style.green('valid') : out.style.red('void'),
        a.order_id,
        a.buyer_name,
      ]),
    ),
  );
  return EXIT.ok;
}

/** `transfer` and `tickets transfer`, the same command in two places. */
export function newTransferCommand(parent: Command, run: Run<TransferOptions> = transferRun): Command {
  const command = parent
    .command('transfer')
    .description('Give a ticket to someone else: it gets a new code, and the old one is refused')
    .argument('<ticket>', 'the ticket (tkt_…)')
    .option('--to-name <name>', 'the new holder’s name')
    .option('--to-email <email>', 'the new holder’s e-mail', emailArg)
    .action(async (id: string, flags: { toName?: string; toEmail?: string }, cmd: Command) => {
      const options: TransferOptions = { id, toName: flags.toName, toEmail: flags.toEmail };
      io().exitCode = await run(factoryOf(Context.of(cmd)), options);
    });
  return examples(command, 'tickets transfer tkt_… --to-name "Nia New" --to-email nia@example.com');
}

/** Gives the ticket to its new holder (asked for on a terminal when the flags leave them out). */
export async function transferRun(f: Factory, o: TransferOptions): Promise<number> {
  const { out } = f;
  const client = await f.client();
  const name = await askFor(f, o.toName, { flag: '--to-name', message: 'New holder’s name' });
  const email = emailArg(await askFor(f, o.toEmail, { flag: '--to-email', message: 'New holder’s e-mail' }));
  const ticket = await out.spin('Transferring…', client.tickets.transfer(o.id, { name, email }));
  await out.result(ticket, async (t) => {
    out.success(
      `Transferred ${t.id} to ${person(t.holder.name, t.holder.email)}; the old code no longer works.`,
    );
    await showTicket(out, t, out.tty);
  });
  return EXIT.ok;
}

/** `tickets tickets refund`: a ticket only. */
export function newTicketRefundCommand(tickets: Command, run: Run<RefundOptions> = ticketRefundRun): Command {
  const command = refundOptions(
    tickets
      .command('refund')
      .description('Refund one ticket (by default its price) and void it')
      .argument('<ticket>', 'the ticket (tkt_…)'),
  ).action(async (id: string, flags: Record<string, unknown>, cmd: Command) => {
    io().exitCode = await run(factoryOf(Context.of(cmd)), refundFlags(id, flags));
  });
  return examples(command, 'tickets tickets refund tkt_… --yes');
}

/** `tickets refund`: a ticket or an order, told apart by its id. */
export function newRefundCommand(program: Command, run: Run<RefundOptions> = refundRun): Command {
  const command = refundOptions(
    program
      .command('refund')
      .description('Refund a ticket (voids it) or an order (all that is left, or --amount)')
      .argument('<id>', 'a ticket (tkt_…) or an order (ord_…)'),
  ).action(async (id: string, flags: Record<string, unknown>, cmd: Command) => {
    io().exitCode = await run(factoryOf(Context.of(cmd)), refundFlags(id, flags));
  });
  return examples(
    command,
    'tickets refund tkt_… --reason "Cannot come"',
    'tickets refund ord_… --amount 10.00 --reason "Late start" --yes',
    'tickets refund ord_… --yes --json',
  );
}

/** Refunds one ticket once confirmed, and shows the refund. */
export function ticketRefundRun(f: Factory, o: RefundOptions): Promise<number> {
  return refundTarget(f, o, 'ticket');
}

/** Refunds a ticket (tkt_…) or an order (ord_…) once confirmed, and shows the refund. */
export function refundRun(f: Factory, o: RefundOptions): Promise<number> {
  return refundTarget(f, o);
}

async function refundTarget(f: Factory, o: RefundOptions, only?: 'ticket'): Promise<number> {
  const { id } = o;
  const kind = id.startsWith('tkt_') ? 'ticket' : id.startsWith('ord_') && !only ? 'order' : undefined;
  if (!kind)
    throw new UsageError(
      only
        ? `"${id}" is not a ticket id (tkt_…)`
        : `"${id}" is neither a ticket (tkt_…) nor an order (ord_…)`,
    );
  const r = await refund(f, kind, o);
  await f.out.result(r, (x) => showRefund(f.out, x));
  return EXIT.ok;
}
