import type { PurchaseInput, Ticket, Tickets, TicketType } from '@tickets/sdk';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { Context } from '../context.js';
import { UsageError } from '../errors.js';
import { examples, parse } from '../help.js';
import type { Output } from '../output.js';
import { ask } from '../prompt.js';
import { person, type RefundFlags, refund, refundOptions, showRefund } from './orders.js';
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

/** The event's ticket type by id or name; with none given, the only one there is, or ask. */
export async function resolveType(
  client: Tickets,
  eventId: string,
  wanted: string | undefined,
): Promise<TicketType> {
  const types = await client.ticketTypes.list(eventId, { includeHidden: true });
  const names = types.map((t) => `"${t.name}" (${t.id})`).join(', ') || 'none';
  if (wanted === undefined && types.length === 1) return types[0]!;
  const name = (await ask(wanted, { flag: '--type', message: `Ticket type (${names})` })).trim();
  const matches = types.filter((t) => t.id === name || t.name.toLowerCase() === name.toLowerCase());
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1)
    throw new UsageError(`--type: several ticket types are called "${name}"; give the id: ${names}`);
  throw new UsageError(`--type: the event has no ticket type "${name}"; it has ${names}`);
}

interface TransferFlags {
  toName?: string;
  toEmail?: string;
}

async function transfer(ctx: Context, id: string, f: TransferFlags): Promise<void> {
  const client = await ctx.client();
  const name = await ask(f.toName, { flag: '--to-name', message: 'New holder’s name' });
  const email = emailArg(await ask(f.toEmail, { flag: '--to-email', message: 'New holder’s e-mail' }));
  const ticket = await ctx.out.spin('Transferring…', client.tickets.transfer(id, { name, email }));
  await ctx.out.result(ticket, async (t) => {
    ctx.out.success(
      `Transferred ${t.id} to ${person(t.holder.name, t.holder.email)}; the old code no longer works.`,
    );
    await showTicket(ctx.out, t, ctx.out.tty);
  });
}

function transferCommand(command: Command): Command {
  return examples(
    command
      .description('Give a ticket to someone else: it gets a new code, and the old one is refused')
      .argument('<ticket>', 'the ticket (tkt_…)')
      .option('--to-name <name>', 'the new holder’s name')
      .option('--to-email <email>', 'the new holder’s e-mail', emailArg)
      .action(async (id: string, f: TransferFlags, cmd: Command) => transfer(Context.of(cmd), id, f)),
    'tickets transfer tkt_… --to-name "Nia New" --to-email nia@example.com',
  );
}

export function registerTickets(program: Command): void {
  newSellCommand(program);

  const tickets = program
    .command('tickets')
    .description('Issued tickets: show them with their QR code, list attendees');
  examples(tickets, 'tickets tickets show tkt_… --qr', 'tickets tickets list evt_… --search bea');

  examples(
    tickets
      .command('show')
      .description('Show one ticket; --qr draws its code to scan from the screen')
      .argument('<id>', 'the ticket (tkt_…)')
      .option('--qr', 'draw its QR code')
      .action(async (id: string, o: { qr?: boolean }, cmd: Command) => {
        const ctx = Context.of(cmd);
        const client = await ctx.client();
        const ticket = await ctx.out.spin('Loading…', client.tickets.get(id));
        await ctx.out.result(ticket, (t) => showTicket(ctx.out, t, Boolean(o.qr)));
      }),
    'tickets tickets show tkt_…',
    'tickets tickets show tkt_… --qr',
    'tickets tickets show tkt_… --json | jq -r .code',
  );

  examples(
    tickets
      .command('list')
      .description("List an event's attendees: who holds which ticket")
      .argument('<event>', 'the event (evt_…)')
      .option('--search <text>', 'holder or buyer name or e-mail, or an order or ticket id')
      .addOption(
        new Option('--status <status>', 'only valid or only void tickets').choices(['valid', 'void']),
      )
      .option('--limit <n>', 'at most this many', parse.int(1), 1000)
      .action(
        async (
          eventId: string,
          o: { search?: string; status?: 'valid' | 'void'; limit: number },
          cmd: Command,
        ) => {
          const ctx = Context.of(cmd);
          const client = await ctx.client();
          const list = await ctx.out.spin(
            'Loading attendees…',
            client.tickets
              .attendees(eventId, { q: o.search, status: o.status, limit: Math.min(o.limit, 100) })
              .toArray({ limit: o.limit }),
          );
          await ctx.out.result(list, () =>
            ctx.out.table(
              ['TICKET', 'NAME', 'E-MAIL', 'TYPE', 'STATUS', 'ORDER', 'BUYER'],
              list.map((a) => [
                a.ticket_id,
                a.name,
                a.email,
                a.ticket_type_name,
                a.status === 'valid' ? ctx.out.style.green('valid') : ctx.out.style.red('void'),
                a.order_id,
                a.buyer_name,
              ]),
            ),
          );
        },
      ),
    'tickets tickets list evt_…',
    'tickets tickets list evt_… --search bea --status valid',
    'tickets tickets list evt_… --json > attendees.json',
  );

  transferCommand(tickets.command('transfer'));
  transferCommand(program.command('transfer'));

  const refundTarget = async (cmd: Command, id: string, f: RefundFlags, only?: 'ticket') => {
    const ctx = Context.of(cmd);
    const kind = id.startsWith('tkt_') ? 'ticket' : id.startsWith('ord_') && !only ? 'order' : undefined;
    if (!kind)
      throw new UsageError(
        only
          ? `"${id}" is not a ticket id (tkt_…)`
          : `"${id}" is neither a ticket (tkt_…) nor an order (ord_…)`,
      );
    const r = await refund(ctx, await ctx.client(), kind, id, f);
    await ctx.out.result(r, (x) => showRefund(ctx.out, x));
  };

  examples(
    refundOptions(
      tickets
        .command('refund')
        .description('Refund one ticket (by default its price) and void it')
        .argument('<ticket>', 'the ticket (tkt_…)'),
    ).action((id: string, f: RefundFlags, cmd: Command) => refundTarget(cmd, id, f, 'ticket')),
    'tickets tickets refund tkt_… --yes',
  );

  examples(
    refundOptions(
      program
        .command('refund')
        .description('Refund a ticket (voids it) or an order (all that is left, or --amount)')
        .argument('<id>', 'a ticket (tkt_…) or an order (ord_…)'),
    ).action((id: string, f: RefundFlags, cmd: Command) => refundTarget(cmd, id, f)),
    'tickets refund tkt_… --reason "Cannot come"',
    'tickets refund ord_… --amount 10.00 --reason "Late start" --yes',
    'tickets refund ord_… --yes --json',
  );
}
