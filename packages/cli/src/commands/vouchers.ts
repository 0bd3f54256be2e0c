import type { Voucher, VoucherCreateInput, VoucherRedemption, VoucherUpdateInput } from '@tickets/sdk';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { Context } from '../context.js';
import { EXIT, UsageError } from '../errors.js';
import { confirmFor, type Factory, factoryOf } from '../factory.js';
import { examples, limitOptions, listed, NONE, orNull, parse } from '../help.js';
import { io } from '../io.js';
import { formatMoney, toMinorUnits } from '../money.js';
import { localZone, parseDateTime } from '../time.js';

type Run<O> = (f: Factory, o: O) => Promise<number>;

/** The flags that say what a code does, shared by create and update. */
export interface VoucherFlags {
  event?: string | typeof NONE;
  types?: string[];
  percent?: number;
  amount?: string;
  per?: 'ticket' | 'order';
  price?: string;
  noDiscount?: boolean;
  maxUses?: number | typeof NONE;
  maxPerEmail?: number | typeof NONE;
  validFrom?: string | typeof NONE;
  validUntil?: string | typeof NONE;
  hiddenTypes?: boolean;
  comment?: string;
}

export interface VoucherCreateOptions extends VoucherFlags {
  code?: string;
  count?: number;
  prefix?: string;
  /** Tickets of its one --type held for each code's holders. */
  reserve?: number;
}

const percentArg = (v: string): number => {
  const n = Number(v.replace(/%$/, ''));
  if (!/^\d+(\.\d{1,2})?%?$/.test(v) || !(n > 0 && n <= 100))
    throw new InvalidArgumentError(
      `Expected a percentage above 0 and at most 100, e.g. 20 or 12.5, got "${v}".`,
    );
  return n;
};
const codeArg = (v: string): string => {
  if (!/^[A-Za-z0-9_-]{3,40}$/.test(v))
    throw new InvalidArgumentError(`Expected a code of 3 to 40 letters, digits, - or _, got "${v}".`);
  return v.toUpperCase();
};
const voucherId = parse.id('vch', 'a voucher');
const typeList = (v: string, previous: string[] = []) => [
  ...previous,
  ...v
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean),
];

function describeDiscount(v: Voucher): string {
  const d = v.discount;
  if (!d) return 'none (unlocks only)';
  if ('percent' in d) return `${d.percent} % off`;
  if ('amount' in d) return `${formatMoney(d.amount)} off each ${d.per === 'order' ? 'order' : 'ticket'}`;
  return `${formatMoney(d.price)} per ticket`;
}
const uses = (v: Voucher) => `${v.uses}${v.max_uses === null ? '' : `/${v.max_uses}`}`;

/**
 * The API's fields from the flags: a discount (at most one kind), amounts in the event's currency,
 * dates in the event's time zone (else this machine's).
 */
async function fieldsOf(f: Factory, o: VoucherFlags, currentEvent: string | null = null) {
  const kinds = [
    o.percent !== undefined,
    o.amount !== undefined,
    o.price !== undefined,
    Boolean(o.noDiscount),
  ];
  if (kinds.filter(Boolean).length > 1)
    throw new UsageError('give one of --percent, --amount, --price or --no-discount');
  if (o.per && o.amount === undefined) throw new UsageError('--per goes with --amount');
  const client = await f.client();
  const eventId = o.event === NONE ? null : (o.event ?? currentEvent);
  const event = eventId ? await f.out.spin('Loading…', client.events.get(eventId)) : null;
  const money = (text: string, flag: string) => {
    if (!event) throw new UsageError(`${flag} needs --event (an amount is in the event's currency)`);
    return { amount: toMinorUnits(text, event.currency, flag), currency: event.currency };
  };
  const zone = event?.timezone ?? localZone();
  const when = (v: string | typeof NONE | undefined, flag: string) =>
    v === undefined ? undefined : v === NONE ? null : parseDateTime(v, zone, flag);
  const discount =
    o.percent !== undefined
      ? { percent: o.percent }
      : o.amount !== undefined
        ? { amount: money(o.amount, '--amount'), per: o.per ?? 'ticket' }
        : o.price !== undefined
          ? { price: money(o.price, '--price') }
          : o.noDiscount
            ? null
            : undefined;
  return {
    ...(o.event !== undefined ? { event: orNull(o.event) } : {}),
    ...(o.types !== undefined ? { ticket_types: o.types.length ? o.types : null } : {}),
    ...(discount !== undefined ? { discount } : {}),
    ...(o.maxUses !== undefined ? { max_uses: orNull(o.maxUses) } : {}),
    ...(o.maxPerEmail !== undefined ? { max_uses_per_email: orNull(o.maxPerEmail) } : {}),
    ...(o.validFrom !== undefined ? { valid_from: when(o.validFrom, '--valid-from') } : {}),
    ...(o.validUntil !== undefined ? { valid_until: when(o.validUntil, '--valid-until') } : {}),
    ...(o.hiddenTypes !== undefined ? { unlocks_hidden: o.hiddenTypes } : {}),
    ...(o.comment !== undefined ? { comment: o.comment || null } : {}),
  };
}

function showVoucher(f: Factory, v: Voucher): void {
  f.out.details([
    ['Code', v.code],
    ['ID', v.id],
    ['Event', v.event_id ?? 'every event'],
    ['Ticket types', v.ticket_type_ids?.join(', ') ?? 'all'],
    ['Discount', describeDiscount(v)],
    ['Hidden types', v.unlocks_hidden ? 'unlocked' : 'not unlocked'],
    [
      'Reserved',
      v.reserved ? `${v.reserved_left} of ${v.reserved} tickets still held for its holders` : null,
    ],
    [
      'Uses',
      `${uses(v)}${v.max_uses_per_email === null ? '' : ` (at most ${v.max_uses_per_email} per buyer)`}`,
    ],
    ['Valid', `${v.valid_from ?? 'now'} → ${v.valid_until ?? 'no end'}`],
    ['Active', v.active ? 'yes' : 'no'],
    ['Comment', v.comment],
  ]);
}

export async function voucherCreateRun(f: Factory, o: VoucherCreateOptions): Promise<number> {
  if ((o.code === undefined) === (o.count === undefined))
    throw new UsageError('give either --code or --count');
  if (o.prefix !== undefined && o.count === undefined) throw new UsageError('--prefix goes with --count');
  const client = await f.client();
  const input = {
    ...(o.code ? { code: o.code } : { count: o.count, ...(o.prefix ? { prefix: o.prefix } : {}) }),
    ...(o.reserve ? { reserve: o.reserve } : {}),
    ...(await fieldsOf(f, o)),
  } as VoucherCreateInput;
  const made = await f.out.spin('Creating…', client.vouchers.create(input));
  await f.out.result(made.data, async () => {
    if (made.data.length === 1) return showVoucher(f, made.data[0]!);
    f.out.success(`Created ${made.data.length} codes (${describeDiscount(made.data[0]!)}).`);
    await f.out.table(
      ['CODE', 'ID'],
      made.data.map((v) => [v.code, v.id]),
    );
  });
  return EXIT.ok;
}

export interface VoucherListOptions {
  event?: string;
  active?: boolean;
  code?: string;
  limit: number;
  all?: boolean;
}

function voucherList(f: Factory, o: VoucherListOptions): Promise<Voucher[]> {
  return f.client().then((client) =>
    listed(
      f.ctx,
      'codes',
      (limit) =>
        client.vouchers.list({
          event: o.event,
          code: o.code,
          limit,
          ...(o.active !== undefined ? { active: o.active ? 'true' : 'false' } : {}),
        }),
      o,
    ),
  );
}

export async function voucherListRun(f: Factory, o: VoucherListOptions): Promise<number> {
  const list = await voucherList(f, o);
  await f.out.result(list, () =>
    f.out.table(
      ['CODE', 'ID', 'DISCOUNT', 'USES', 'VALID UNTIL', 'ACTIVE'],
      list.map((v) => [
        v.code,
        v.id,
        describeDiscount(v),
        uses(v),
        v.valid_until ?? '',
        v.active ? 'yes' : 'no',
      ]),
    ),
  );
  return EXIT.ok;
}

/** `tickets vouchers export --out codes.csv`: the codes as CSV, for a mail merge or a printer. */
export async function voucherExportRun(
  f: Factory,
  o: VoucherListOptions & { out?: string },
): Promise<number> {
  const list = await voucherList(f, { ...o, all: true });
  const { stringify } = await import('csv-stringify/sync');
  const csv = stringify([
    ['code', 'id', 'event_id', 'discount', 'uses', 'max_uses', 'valid_from', 'valid_until', 'active'],
    ...list.map((v) => [
      v.code,
      v.id,
      v.event_id ?? '',
      describeDiscount(v),
      v.uses,
      v.max_uses ?? '',
      v.valid_from ?? '',
      v.valid_until ?? '',
      v.active,
    ]),
  ]);
  if (!o.out) {
    f.io.stdout.write(csv);
    return EXIT.ok;
  }
  const { writeFile } = await import('node:fs/promises');
  await writeFile(o.out, csv);
  f.out.success(`Wrote ${list.length} codes to ${o.out}.`);
  return EXIT.ok;
}

export async function voucherRedemptionsRun(f: Factory, o: { id: string; limit: number; all?: boolean }) {
  const client = await f.client();
  const list: VoucherRedemption[] = await listed(
    f.ctx,
    'redemptions',
    (limit) => client.vouchers.redemptions(o.id, { limit }),
    o,
  );
  await f.out.result(list, () =>
    f.out.table(
      ['ORDER', 'E-MAIL', 'DISCOUNT', 'STATUS', 'AT'],
      list.map((r) => [r.order_id, r.email, formatMoney(r.discount), r.status, r.created_at]),
    ),
  );
  return EXIT.ok;
}

/** The flags every create and update has. */
function voucherOptions(command: Command): Command {
  return command
    .option('--event <event>', 'only for this event (evt_…; update: none for every event)')
    .option('--type <types>', 'only for these ticket types (tt_…, comma-separated or repeated)', typeList)
    .option('--percent <n>', 'a percentage off each ticket (e.g. 20 or 12.5)', percentArg)
    .option('--amount <money>', "an amount off, in the event's currency (e.g. 5.00)", parse.price)
    .addOption(
      new Option('--per <what>', 'with --amount: off each ticket or off the order').choices([
        'ticket',
        'order',
      ]),
    )
    .option('--price <money>', 'a fixed price per ticket (never above its own)', parse.price)
    .option('--no-discount', 'no discount: the code only unlocks hidden ticket types')
    .option('--max-uses <n>', 'orders in all (update: none for no limit)', parse.intOrNone(1))
    .option('--max-per-email <n>', 'orders per buyer e-mail (update: none)', parse.intOrNone(1))
    .option('--valid-from <date>', "from (the event's time zone; update: none)", parse.dateOrNone)
    .option('--valid-until <date>', "until (the event's time zone; update: none)", parse.dateOrNone)
    .option('--no-hidden-types', 'do not unlock hidden ticket types')
    .option('--comment <text>', 'for the organizer, never shown to buyers');
}

function flagsOf(flags: Record<string, unknown>): VoucherFlags {
  return {
    event: flags.event as string | undefined,
    types: flags.type as string[] | undefined,
    percent: flags.percent as number | undefined,
    amount: flags.amount as string | undefined,
    per: flags.per as 'ticket' | 'order' | undefined,
    price: flags.price as string | undefined,
    // Commander's --no-discount sets discount: false; its default is true.
    noDiscount: flags.discount === false,
    maxUses: flags.maxUses as number | typeof NONE | undefined,
    maxPerEmail: flags.maxPerEmail as number | typeof NONE | undefined,
    validFrom: flags.validFrom as string | undefined,
    validUntil: flags.validUntil as string | undefined,
    hiddenTypes: flags.hiddenTypes === false ? false : undefined,
    comment: flags.comment as string | undefined,
  };
}

/** `tickets vouchers`: the group and each of its commands. */
export function registerVouchers(program: Command, run: { create?: Run<VoucherCreateOptions> } = {}): void {
  const vouchers = program
    .command('vouchers')
    .description('Discount codes: a percentage or an amount off, a fixed price, hidden ticket types');
  examples(
    vouchers,
    'tickets vouchers create --event evt_… --percent 20 --max-uses 100 --count 50 --prefix JAZZ',
    'tickets vouchers list --event evt_…',
    'tickets sell evt_… --type GA:2 --name "Bea Buyer" --email bea@example.com --voucher JAZZ-7K2M9Q4R',
  );
  examples(
    voucherOptions(
      vouchers
        .command('create')
        .description('Make a code, or --count generated ones (8 characters, no 0/O or 1/I/L)')
        .option('--code <code>', 'the code, as buyers type it (any case)', codeArg)
        .option('--count <n>', 'generate this many codes', parse.int(1))
        .option('--prefix <text>', 'generated codes start with it: JAZZ-7K2M9Q4R')
        .option(
          '--reserve <n>',
          "hold this many tickets of its one --type for each code's holders (nobody else can buy them)",
          parse.int(1),
        ),
    ).action(async (flags: Record<string, unknown>, cmd: Command) => {
      io().exitCode = await (run.create ?? voucherCreateRun)(factoryOf(Context.of(cmd)), {
        ...flagsOf(flags),
        code: flags.code as string | undefined,
        count: flags.count as number | undefined,
        prefix: flags.prefix as string | undefined,
        reserve: flags.reserve as number | undefined,
      });
    }),
    'tickets vouchers create --code SUMMER20 --event evt_… --percent 20',
    'tickets vouchers create --event evt_… --percent 20 --max-uses 1 --count 50 --prefix JAZZ --json',
    'tickets vouchers create --code CREW --event evt_… --type tt_… --price 0 --max-per-email 2',
    'tickets vouchers create --code PRESS --event evt_… --type tt_… --reserve 10 --no-discount',
    'tickets vouchers create --code TEN-OFF --event evt_… --amount 10.00 --per order --valid-until "2026-12-31 23:59"',
  );
  const listFlags = (c: Command) =>
    limitOptions(c, 100)
      .option('--event <event>', 'only codes of this event (evt_…)', parse.id('evt', 'an event'))
      .option('--code <prefix>', 'only codes starting with this')
      .option('--active', 'only active codes')
      .option('--inactive', 'only deactivated codes');
  const listOptions = (flags: Record<string, unknown>): VoucherListOptions => {
    if (flags.active && flags.inactive) throw new UsageError('give --active or --inactive, not both');
    return {
      event: flags.event as string | undefined,
      code: flags.code as string | undefined,
      ...(flags.active ? { active: true } : flags.inactive ? { active: false } : {}),
      limit: flags.limit as number,
      all: Boolean(flags.all),
    };
  };
  examples(
    listFlags(vouchers.command('list').description("The organization's codes, newest first")).action(
      async (flags: Record<string, unknown>, cmd: Command) => {
        io().exitCode = await voucherListRun(factoryOf(Context.of(cmd)), listOptions(flags));
      },
    ),
    'tickets vouchers list --event evt_… --active',
  );
  examples(
    listFlags(
      vouchers.command('export').description('Every code (of the filters) as CSV, to a file or stdout'),
    )
      .option('--out <file>', 'write here (default: stdout)')
      .action(async (flags: Record<string, unknown>, cmd: Command) => {
        io().exitCode = await voucherExportRun(factoryOf(Context.of(cmd)), {
          ...listOptions(flags),
          out: flags.out as string | undefined,
        });
      }),
    'tickets vouchers export --event evt_… --code JAZZ --out codes.csv',
  );
  examples(
    vouchers
      .command('show')
      .description('One code: what it does and how often it was used')
      .argument('<id>', 'the voucher (vch_…)', voucherId)
      .action(async (id: string, _flags: unknown, cmd: Command) => {
        const f = factoryOf(Context.of(cmd));
        const v = await f.out.spin('Loading…', (await f.client()).vouchers.get(id));
        await f.out.result(v, () => showVoucher(f, v));
        io().exitCode = EXIT.ok;
      }),
    'tickets vouchers show vch_…',
  );
  examples(
    voucherOptions(
      vouchers
        .command('update')
        .description('Change what a code does from now on (orders placed keep their prices)')
        .argument('<id>', 'the voucher (vch_…)', voucherId)
        .option('--activate', 'accept it again')
        .option('--deactivate', 'refuse it at checkout from now on'),
    ).action(async (id: string, flags: Record<string, unknown>, cmd: Command) => {
      if (flags.activate && flags.deactivate)
        throw new UsageError('give --activate or --deactivate, not both');
      const f = factoryOf(Context.of(cmd));
      const client = await f.client();
      const current = await client.vouchers.get(id);
      const input: VoucherUpdateInput = {
        ...(await fieldsOf(f, flagsOf(flags), current.event_id)),
        ...(flags.activate ? { active: true } : flags.deactivate ? { active: false } : {}),
      };
      const v = await f.out.spin('Saving…', client.vouchers.update(id, input));
      await f.out.result(v, () => showVoucher(f, v));
      io().exitCode = EXIT.ok;
    }),
    'tickets vouchers update vch_… --deactivate',
    'tickets vouchers update vch_… --max-uses 200 --valid-until none',
  );
  examples(
    vouchers
      .command('delete')
      .description('Delete a code nobody used (one that was used: update --deactivate)')
      .argument('<id>', 'the voucher (vch_…)', voucherId)
      .option('-y, --yes', 'do not ask for confirmation')
      .action(async (id: string, flags: { yes?: boolean }, cmd: Command) => {
        const f = factoryOf(Context.of(cmd));
        await confirmFor(f, flags.yes, `Delete voucher ${id}?`);
        const gone = await f.out.spin('Deleting…', (await f.client()).vouchers.delete(id));
        await f.out.result(gone, () => f.out.success(`Deleted ${id}.`));
        io().exitCode = EXIT.ok;
      }),
    'tickets vouchers delete vch_… --yes',
  );
  examples(
    limitOptions(
      vouchers
        .command('redemptions')
        .description('The orders that used a code, newest first')
        .argument('<id>', 'the voucher (vch_…)', voucherId),
      100,
    ).action(async (id: string, flags: { limit: number; all?: boolean }, cmd: Command) => {
      io().exitCode = await voucherRedemptionsRun(factoryOf(Context.of(cmd)), { id, ...flags });
    }),
    'tickets vouchers redemptions vch_… --json',
  );
}
