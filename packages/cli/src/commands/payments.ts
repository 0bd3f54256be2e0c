import type { Payout } from '@tickets/sdk';
import { type Command, InvalidArgumentError } from 'commander';
import { Context } from '../context.js';
import { EXIT, UsageError } from '../errors.js';
import { type Factory, factoryOf } from '../factory.js';
import { examples, limitOptions, listed } from '../help.js';
import { io } from '../io.js';
import { formatMoney } from '../money.js';

type Run<O> = (f: Factory, o: O) => Promise<number>;

export interface PayoutsOptions {
  from?: string;
  to?: string;
  limit: number;
  all: boolean;
}

const day = (v: string) => {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(v))
    throw new InvalidArgumentError(`Expected a day such as 2026-11-01, got "${v}".`);
  return v;
};
const payoutId = (v: string) => {
  if (!/^po_\w+$/.test(v)) throw new InvalidArgumentError(`Expected a Stripe payout id (po_…), got "${v}".`);
  return v;
};

const money = (amount: number, currency: string) => formatMoney({ amount, currency: currency.toUpperCase() });

/** `tickets payments payouts`: Stripe's payouts with this organization's part of each. */
export async function payoutsRun(f: Factory, o: PayoutsOptions): Promise<number> {
  const client = await f.client();
  const list = await listed(
    f.ctx,
    'payouts',
    (limit) => client.payouts.list({ from: o.from, to: o.to, limit }),
    o,
  );
  await f.out.result(list, () =>
    f.out.table(
      ['PAYOUT', 'ARRIVAL', 'STATUS', 'PAYOUT AMOUNT', 'OURS GROSS', 'FEES', 'OURS NET', 'LINES'],
      list.map((p: Payout) => [
        p.id,
        p.arrival_date.slice(0, 10),
        p.status,
        money(p.amount, p.currency),
        money(p.totals.gross, p.currency),
        money(p.totals.fees, p.currency),
        money(p.totals.net, p.currency),
        String(p.totals.lines),
      ]),
    ),
  );
  return EXIT.ok;
}

/** `tickets payments payout po_…`: one payout and this organization's orders and refunds in it. */
export async function payoutRun(f: Factory, o: { id: string }): Promise<number> {
  const client = await f.client();
  const p = await f.out.spin('Loading…', client.payouts.get(o.id));
  await f.out.result(p, async () => {
    f.out.details([
      ['Payout', p.id],
      ['Status', p.failure_code ? `${p.status} (${p.failure_code})` : p.status],
      ['Arrival', p.arrival_date.slice(0, 10)],
      ['Amount', money(p.amount, p.currency)],
      [
        'Ours',
        `${money(p.totals.gross, p.currency)} − fees ${money(p.totals.fees, p.currency)} = ${money(p.totals.net, p.currency)}`,
      ],
    ]);
    await f.out.table(
      ['TRANSACTION', 'TYPE', 'ORDER', 'REFUND', 'AMOUNT', 'FEE', 'NET'],
      (p.lines ?? []).map((l) => [
        l.balance_transaction,
        l.type,
        l.order_id ?? '',
        l.refund_id ?? '',
        money(l.amount, l.currency),
        money(l.fee, l.currency),
        money(l.net, l.currency),
      ]),
    );
  });
  return EXIT.ok;
}

export interface ReconcileOptions {
  from: string;
  to: string;
  out?: string;
}

/**
 * `tickets payments reconcile`: this organization's payments and refunds against Stripe's, a line per
 * mismatch; exits 1 when there is any (a script's alarm), 0 when everything matched.
 */
export async function reconcileRun(f: Factory, o: ReconcileOptions): Promise<number> {
  const client = await f.client();
  const rec = await f.out.spin(
    'Comparing with Stripe…',
    client.reconciliations.create({ from: o.from, to: o.to }),
  );
  const rows = rec.lines.map((l) => [
    l.kind,
    l.order_id ?? '',
    l.refund_id ?? '',
    l.stripe_id ?? '',
    l.amount === null || l.currency === null ? '' : money(l.amount, l.currency),
    l.expected_amount === null || l.expected_currency === null
      ? ''
      : money(l.expected_amount, l.expected_currency),
    l.detail,
  ]);
  const head = ['KIND', 'ORDER', 'REFUND', 'STRIPE', 'AT STRIPE', 'HERE', 'DETAIL'];
  if (o.out) {
    const { stringify } = await import('csv-stringify/sync');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(o.out, stringify([head.map((h) => h.toLowerCase().replace(' ', '_')), ...rows]), {
      flag: 'wx',
    }).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'EEXIST') throw new UsageError(`${o.out} exists already; choose another --out`);
      throw err;
    });
  }
  await f.out.result(rec, async () => {
    if (rows.length) await f.out.table(head, rows);
    const summary = `${rec.id}: ${rec.matched} matched, ${rec.mismatches} not (${o.from} to ${o.to}, UTC).`;
    if (rec.mismatches) f.out.warn(summary);
    else f.out.success(summary);
  });
  return rec.mismatches ? EXIT.failure : EXIT.ok;
}

export function registerPayments(
  program: Command,
  run = { payouts: payoutsRun, payout: payoutRun, reconcile: reconcileRun },
): void {
  const payments = program
    .command('payments')
    .description("Stripe's side of the money: payouts and their fees");
  examples(
    payments,
    'tickets payments payouts --from 2026-11-01',
    'tickets payments reconcile --from 2026-11-01 --to 2026-11-30',
  );
  const list = limitOptions(payments.command('payouts'), 20)
    .description("Stripe's payouts with this organization's money in them, newest first")
    .option('--from <day>', 'arriving on or after this day (UTC), e.g. 2026-11-01', day)
    .option('--to <day>', 'arriving before this day (UTC)', day)
    .action(async (flags: Record<string, unknown>, cmd: Command) => {
      io().exitCode = await (run.payouts as Run<PayoutsOptions>)(factoryOf(Context.of(cmd)), {
        from: flags.from as string | undefined,
        to: flags.to as string | undefined,
        limit: flags.limit as number,
        all: Boolean(flags.all),
      });
    });
  examples(list, 'tickets payments payouts', 'tickets payments payouts --from 2026-11-01 --json');
  const one = payments
    .command('payout')
    .description('One payout: its status, and the orders, refunds and fees of this organization in it')
    .argument('<id>', 'the payout (po_…)', payoutId)
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      io().exitCode = await run.payout(factoryOf(Context.of(cmd)), { id });
    });
  examples(one, 'tickets payments payout po_…', 'tickets payments payout po_… --json');
  const reconcile = payments
    .command('reconcile')
    .description(
      "Compare this organization's payments and refunds with Stripe's; exit 1 if anything does not match",
    )
    .requiredOption('--from <day>', 'first day (UTC), e.g. 2026-11-01', day)
    .requiredOption('--to <day>', 'last day (UTC), included', day)
    .option('--out <file>', 'also write the mismatches as CSV to this file')
    .action(async (flags: { from: string; to: string; out?: string }, cmd: Command) => {
      io().exitCode = await run.reconcile(factoryOf(Context.of(cmd)), flags);
    });
  examples(
    reconcile,
    'tickets payments reconcile --from 2026-11-01 --to 2026-11-30',
    'tickets payments reconcile --from 2026-11-01 --to 2026-11-30 --out mismatches.csv',
  );
}
