import type { Refund, RefundStatus } from '@tickets/sdk';
import { type Command, Option } from 'commander';
import { Context } from '../context.js';
import { EXIT } from '../errors.js';
import { type Factory, factoryOf } from '../factory.js';
import { examples, limitOptions, listed, parse } from '../help.js';
import { io } from '../io.js';
import { formatMoney } from '../money.js';
import type { Output } from '../output.js';
import { showRefund } from './orders.js';

const STATUSES = ['pending', 'succeeded', 'failed'] as const satisfies readonly RefundStatus[];

const idArg = parse.id;

export interface RefundListOptions {
  event?: string;
  order?: string;
  status?: RefundStatus;
  limit: number;
  all: boolean;
}

export interface RefundShowOptions {
  /** The refund (ref_…). */
  id: string;
}

type Run<O> = (f: Factory, o: O) => Promise<number>;

/** The refunds of an order, or of a list, as a table (on a terminal) or tab-separated lines. */
export async function refundTable(out: Output, refunds: Refund[]): Promise<void> {
  const { formatDateTime, localZone } = await import('../time.js');
  await out.table(
    ['REFUND', 'DATE', 'ORDER', 'TICKET', 'AMOUNT', 'STATUS', 'CREDIT NOTE', 'REASON'],
    refunds.map((r) => [
      r.id,
      out.tty ? formatDateTime(r.created_at, localZone()) : r.created_at,
      r.order_id,
      r.ticket_id ?? (r.voided_tickets.length ? `all (${r.voided_tickets.length})` : ''),
      formatMoney(r.amount),
      r.status === 'failed' ? out.style.red(r.status) : r.status,
      r.credit_note_number,
      r.reason,
    ]),
  );
}

/** `tickets refunds list`: refunds newest first, never cut short without saying so. */
export async function refundListRun(f: Factory, o: RefundListOptions): Promise<number> {
  const client = await f.client();
  const list = await listed(
    f.ctx,
    'refunds',
    (limit) => client.refunds.list({ event: o.event, order: o.order, status: o.status, limit }),
    o,
  );
  await f.out.result(list, () => refundTable(f.out, list));
  return EXIT.ok;
}

export function registerRefunds(program: Command): void {
  const refunds = program
    .command('refunds')
    .description('Refunds made: list them by event, order or status, show one');
  examples(refunds, 'tickets refunds list --event evt_…', 'tickets refunds show ref_…');

  newRefundListCommand(refunds);
  newRefundShowCommand(refunds);
}

/** `tickets refunds list`: its flags become RefundListOptions for `run` (refundListRun). */
export function newRefundListCommand(refunds: Command, run: Run<RefundListOptions> = refundListRun): Command {
  const command = limitOptions(refunds.command('list'), 30)
    .description('List refunds, newest first')
    .option('--event <event>', "only refunds of this event's orders (evt_…)", idArg('evt', 'an event'))
    .option('--order <order>', 'only refunds of this order (ord_…)', idArg('ord', 'an order'))
    .addOption(new Option('--status <status>', 'only refunds in this status').choices(STATUSES))
    .action(async (flags: Record<string, unknown>, cmd: Command) => {
      const options: RefundListOptions = {
        event: flags.event as string | undefined,
        order: flags.order as string | undefined,
        status: flags.status as RefundStatus | undefined,
        limit: flags.limit as number,
        all: Boolean(flags.all),
      };
      io().exitCode = await run(factoryOf(Context.of(cmd)), options);
    });
  return examples(
    command,
    'tickets refunds list --event evt_…',
    'tickets refunds list --order ord_…',
    'tickets refunds list --status pending --all --json',
  );
}

/** `tickets refunds show`. */
export function newRefundShowCommand(refunds: Command, run: Run<RefundShowOptions> = refundShowRun): Command {
  const command = refunds
    .command('show')
    .description('Show one refund: amount, status, the tickets it voided, its credit note')
    .argument('<refund>', 'the refund (ref_…)', idArg('ref', 'a refund'))
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { id });
    });
  return examples(command, 'tickets refunds show ref_…', 'tickets refunds show ref_… --json');
}

/** One refund: amount, status, the tickets it voided, its credit note. */
export async function refundShowRun(f: Factory, o: RefundShowOptions): Promise<number> {
  const client = await f.client();
  const r = await f.out.spin('Loading…', client.refunds.get(o.id));
  await f.out.result(r, (x) => showRefund(f.out, x, false));
  return EXIT.ok;
}
