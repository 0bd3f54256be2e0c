import { existsSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type {
  BillingDetails,
  BillingDetailsInput,
  Invoice,
  InvoiceReissue,
  ResponseMeta,
  Tickets,
} from '@tickets/sdk';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { Context } from '../context.js';
import { CliError, EXIT, UsageError } from '../errors.js';
import { confirmFor, type Factory, factoryOf } from '../factory.js';
import { examples, limitOptions, listed, NONE, orNull, parse } from '../help.js';
import { io } from '../io.js';
import { formatMoney } from '../money.js';
import type { Output } from '../output.js';

interface SaveFlags {
  out?: string;
  force?: boolean;
}

/** What `invoices download --json` prints: where the PDF went. */
interface SavedPdf {
  object: 'file';
  path: string;
  number: string | null;
  bytes: number;
}

const refuseOverwrite = (file: string) =>
  new UsageError(`${file} already exists; pass --force to overwrite it`);

/** The document's number, from the file name the server gives it (e.g. `INV-2026-000001.pdf`). */
function documentNumber(pdf: Buffer): string | null {
  const { lastResponse } = pdf as Buffer & { lastResponse?: ResponseMeta };
  const disposition = lastResponse?.headers.get('content-disposition') ?? '';
  const name = /filename="([^"]+)\.pdf"/.exec(disposition)?.[1];
  // A file name from elsewhere lands in the current directory only if it is a plain one.
  return name && /^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(name) ? name : null;
}

const kilobytes = (n: number) => `${Math.max(1, Math.round(n / 1024))} kB`;

/** Downloads a PDF to --out, stdout (`--out -`) or `<number>.pdf` here, never overwriting without --force. */
export async function savePdf(
  f: Factory,
  what: string,
  id: string,
  o: SaveFlags,
  download: (client: Tickets) => Promise<Buffer>,
): Promise<number> {
  const toStdout = o.out === '-';
  if (toStdout && f.out.json)
    throw new UsageError('--out - writes the PDF itself to stdout; leave out --json');
  if (toStdout && f.io.stdout.isTTY)
    throw new UsageError('refusing to write a PDF to the terminal; redirect stdout or give --out <file>');
  // Refused before downloading; the `wx` write below still catches a file that appears meanwhile.
  if (o.out && !toStdout && !o.force && existsSync(o.out)) throw refuseOverwrite(o.out);
  const client = await f.client();
  const pdf = await f.out.spin('Downloading…', download(client));
  if (toStdout) {
    f.io.stdout.write(pdf);
    return EXIT.ok;
  }
  const number = documentNumber(pdf);
  const file = o.out ?? `${number ?? id}.pdf`;
  try {
    writeFileSync(file, pdf, { flag: o.force ? 'w' : 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw refuseOverwrite(file);
    throw new CliError(`could not write ${file}: ${(err as Error).message}`);
  }
  const saved: SavedPdf = { object: 'file', path: resolve(file), number, bytes: pdf.length };
  await f.out.result(saved, () =>
    f.out.success(`Saved ${what}${number ? ` ${number}` : ''} to ${file} (${kilobytes(pdf.length)}).`),
  );
  return EXIT.ok;
}

function saveOptions(command: Command): Command {
  return command
    .option('-o, --out <file>', 'where to save it; "-" writes it to stdout (default: <number>.pdf here)')
    .option('-f, --force', 'overwrite the file if it exists');
}

function showBilling(out: Output, b: BillingDetails): void {
  out.details([
    ['Legal name', b.legal_name],
    ['Address', b.address_line1],
    ['Address line 2', b.address_line2],
    ['Postcode', b.postcode],
    ['City', b.city],
    ['Country', b.country],
    ['VAT ID', b.vat_id],
    ['Invoice prefix', b.invoice_prefix],
    ['Default tax rate', `${b.default_tax_rate / 100}%`],
  ]);
  if (!b.legal_name) out.info("Invoices show the organization's name until --legal-name is set.");
  const n = b.invoices_without_address;
  if (n > 0)
    out.warn(
      `${n} invoice${n === 1 ? ' was' : 's were'} issued without a seller address${
        hasAddress(b)
          ? ' (before it was set): re-issue them with tickets invoices reissue (a credit note cancels each, a new invoice replaces it)'
          : ': set it with tickets billing set --address … --city … --country …, then re-issue them'
      }.`,
    );
}

/** What a re-issued invoice must name, and the server asks for. */
const hasAddress = (b: BillingDetails) => Boolean(b.address_line1 && b.city && b.country);

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

interface BillingFlags {
  legalName?: string;
  address?: string;
  addressLine2?: string;
  postcode?: string;
  city?: string;
  country?: string;
  vatId?: string;
  prefix?: string;
  defaultTaxRate?: number;
}

export interface BillingSetOptions {
  body: BillingDetailsInput;
  /** Re-issue the invoices issued without the address: true does, false does not, undefined asks. */
  reissue?: boolean;
}

function billingBody(f: BillingFlags): BillingDetailsInput {
  const body: BillingDetailsInput = {
    legal_name: orNull(f.legalName),
    address_line1: orNull(f.address),
    address_line2: orNull(f.addressLine2),
    postcode: orNull(f.postcode),
    city: orNull(f.city),
    country: orNull(f.country),
    vat_id: orNull(f.vatId),
    invoice_prefix: f.prefix,
    default_tax_rate: f.defaultTaxRate,
  };
  for (const key of Object.keys(body) as (keyof BillingDetailsInput)[])
    if (body[key] === undefined) delete body[key];
  return body;
}

/** Every re-issue, a page of them per request until none is left. */
async function reissueAll(f: Factory, total: number): Promise<InvoiceReissue['reissued']> {
  const client = await f.client();
  const done: InvoiceReissue['reissued'] = [];
  const bar = total > 100 ? f.out.progress('Re-issuing invoices') : null;
  const run = async () => {
    for (;;) {
      const page = await client.invoices.reissue({ limit: 100 });
      done.push(...page.reissued);
      bar?.update(done.length, Math.max(total, done.length));
      if (!page.has_more) return;
    }
  };
  try {
    await (bar ? run() : f.out.spin('Re-issuing…', run()));
  } finally {
    bar?.end();
  }
  return done;
}

async function reissueTable(out: Output, done: InvoiceReissue['reissued']): Promise<void> {
  await out.table(
    ['ORDER', 'CANCELLED', 'CREDIT NOTE', 'NEW INVOICE'],
    done.map((r) => [r.order_id, r.cancelled, r.credit_note, r.invoice]),
  );
}

const REISSUE_QUESTION = (n: number) =>
  `Re-issue ${plural(n, 'invoice')} issued without the seller address? Each is cancelled by a credit note and replaced by a new invoice with the address.`;

export interface ReissueOptions {
  yes: boolean;
}

/** `tickets invoices reissue`: corrects every invoice issued without the seller address. */
export async function reissueRun(f: Factory, o: ReissueOptions): Promise<number> {
  const client = await f.client();
  const billing = await f.out.spin('Loading…', client.invoices.getBilling());
  const n = billing.invoices_without_address;
  if (!hasAddress(billing))
    throw new UsageError(
      "the seller's address is not set, so re-issued invoices would lack it too: set it with tickets billing set --address … --city … --country …",
    );
  if (n === 0) {
    await f.out.result([], () => f.out.info('No invoice lacks the seller address: nothing to re-issue.'));
    return EXIT.ok;
  }
  await confirmFor(f, o.yes, REISSUE_QUESTION(n));
  const done = await reissueAll(f, n);
  await f.out.result(done, async () => {
    await reissueTable(f.out, done);
    f.out.success(`Re-issued ${plural(done.length, 'invoice')}.`);
  });
  return EXIT.ok;
}

/** `tickets billing set`: saves the details, and offers to correct invoices issued without them. */
export async function billingSetRun(f: Factory, o: BillingSetOptions): Promise<number> {
  if (Object.keys(o.body).length === 0)
    throw new UsageError(
      'nothing to change: give --legal-name, --address, --address-line2, --postcode, --city, --country, --vat-id, --prefix or --default-tax-rate',
    );
  const client = await f.client();
  let details = await f.out.spin('Saving…', client.invoices.updateBilling(o.body));
  if (!f.out.json) f.out.success('Saved the billing details.');
  const n = details.invoices_without_address;
  const offer = n > 0 && hasAddress(details);
  if (o.reissue && !hasAddress(details))
    throw new UsageError('--reissue needs the seller address: give --address, --city and --country too');
  const reissue =
    offer && (o.reissue ?? (f.prompter.interactive ? await f.prompter.confirm(REISSUE_QUESTION(n)) : false));
  if (reissue) {
    const done = await reissueAll(f, n);
    if (!f.out.json) {
      await reissueTable(f.out, done);
      f.out.success(`Re-issued ${plural(done.length, 'invoice')}.`);
    }
    details = await client.invoices.getBilling();
  }
  await f.out.result(details, (b) => showBilling(f.out, b));
  return EXIT.ok;
}

export interface InvoiceListOptions {
  order?: string;
  kind?: 'invoice' | 'credit_note';
  limit: number;
  all: boolean;
}

/** What a document did to another: the invoice it corrects or replaces, or the note that cancelled it. */
function relation(d: Invoice): string {
  if (d.cancelled_by) return `cancelled by ${d.cancelled_by}`;
  if (d.replaces) return `replaces ${d.replaces}`;
  if (d.corrects) return `${d.refund_id ? 'credits' : 'cancels'} ${d.corrects}`;
  return '';
}

/** `tickets invoices list`: every invoice and credit note, newest first. */
export async function invoiceListRun(f: Factory, o: InvoiceListOptions): Promise<number> {
  const client = await f.client();
  const list = await listed(
    f.ctx,
    'documents',
    (limit) => client.invoices.list({ order: o.order, kind: o.kind, limit }),
    o,
  );
  await f.out.result(list, () =>
    f.out.table(
      ['NUMBER', 'KIND', 'ORDER', 'TOTAL', 'ISSUED', 'NOTE', 'ID'],
      list.map((d) => [
        d.number,
        d.kind === 'credit_note' ? 'credit note' : 'invoice',
        d.order_id,
        formatMoney(d.total),
        d.issued_at.slice(0, 10),
        relation(d),
        d.id,
      ]),
    ),
  );
  return EXIT.ok;
}

const documentArg = (value: string): string => {
  if (!/^(ord|invc)_\w+$/.test(value))
    throw new InvalidArgumentError(`Expected an order id (ord_…) or an invoice id (invc_…), got "${value}".`);
  return value;
};

export function registerInvoices(program: Command): void {
  const invoices = program
    .command('invoices')
    .description('Invoices of paid orders and credit notes of refunds, as PDF files');
  examples(
    invoices,
    'tickets invoices download ord_…',
    'tickets invoices credit-note ref_…',
    'tickets invoices list --order ord_…',
    'tickets invoices reissue',
  );

  examples(
    saveOptions(
      invoices
        .command('download')
        .description(
          "Save a paid order's invoice (or any invoice or credit note, by its invc_ id) as PDF, named after its number unless --out says otherwise",
        )
        .argument(
          '<order>',
          'the order (ord_…): its invoice; or a document (invc_…) from invoices list',
          documentArg,
        ),
    ).action(async (id: string, o: SaveFlags, cmd: Command) => {
      io().exitCode = await savePdf(
        factoryOf(Context.of(cmd)),
        id.startsWith('invc_') ? 'document' : 'invoice',
        id,
        o,
        (client) =>
          id.startsWith('invc_') ? client.invoices.downloadDocument(id) : client.invoices.download(id),
      );
    }),
    'tickets invoices download ord_…',
    'tickets invoices download ord_… --out invoice.pdf --force',
    'tickets invoices download ord_… --out - | lpr',
    'tickets invoices download invc_…',
  );

  examples(
    saveOptions(
      invoices
        .command('credit-note')
        .description("Save a refund's credit note as PDF, named after its number unless --out says otherwise")
        .argument('<refund>', 'the refund (ref_…)', parse.id('ref', 'a refund')),
    ).action(async (id: string, o: SaveFlags, cmd: Command) => {
      io().exitCode = await savePdf(factoryOf(Context.of(cmd)), 'credit note', id, o, (client) =>
        client.invoices.creditNote(id),
      );
    }),
    'tickets invoices credit-note ref_…',
    'tickets invoices credit-note ref_… --out credit-note.pdf',
  );

  examples(
    limitOptions(invoices.command('list'), 30)
      .description(
        'List invoices and credit notes, newest first, with what each corrects, replaces or was cancelled by',
      )
      .option('--order <order>', "only this order's documents (ord_…)", parse.id('ord', 'an order'))
      .addOption(
        new Option('--kind <kind>', 'only invoices or only credit notes').choices(['invoice', 'credit_note']),
      )
      .action(async (flags: Omit<InvoiceListOptions, 'all'> & { all?: boolean }, cmd: Command) => {
        io().exitCode = await invoiceListRun(factoryOf(Context.of(cmd)), {
          ...flags,
          all: Boolean(flags.all),
        });
      }),
    'tickets invoices list --order ord_…',
    'tickets invoices list --kind credit_note --all --json',
  );

  examples(
    invoices
      .command('reissue')
      .description(
        "Re-issue invoices issued before the seller's address was set: a credit note cancels each, a new invoice with the address replaces it",
      )
      .option('-y, --yes', 'do it without asking')
      .action(async (o: { yes?: boolean }, cmd: Command) => {
        io().exitCode = await reissueRun(factoryOf(Context.of(cmd)), { yes: Boolean(o.yes) });
      }),
    'tickets invoices reissue',
    'tickets invoices reissue --yes --json | jq -r ".[].invoice"',
  );

  examples(
    invoices
      .command('failed')
      .description('Paid orders whose invoice could not be issued yet, and why (the server retries them)')
      .option('--limit <n>', 'at most this many', parse.int(1), 100)
      .action(async (o: { limit: number }, cmd: Command) => {
        io().exitCode = await failedRun(factoryOf(Context.of(cmd)), o);
      }),
    'tickets invoices failed',
    'tickets invoices failed --json | jq -r ".[].order_id"',
  );

  const billing = program
    .command('billing')
    .description("Your organization's billing details: the seller on its invoices");
  examples(billing, 'tickets billing show', 'tickets billing set --legal-name "Blue Note Events GmbH"');

  examples(
    billing
      .command('show')
      .description('Show the billing details invoices are issued with')
      .action(async (_o: unknown, cmd: Command) => {
        io().exitCode = await billingShowRun(factoryOf(Context.of(cmd)));
      }),
    'tickets billing show',
    'tickets billing show --json',
  );

  const clear = ` ("${NONE}" clears it)`;
  examples(
    billing
      .command('set')
      .description('Change billing details; the rest keep their value, and issued invoices keep theirs')
      .option('--legal-name <name>', `the seller's name on invoices (default: the organization's)${clear}`)
      .option('--address <line>', `street address${clear}`)
      .option('--address-line2 <line>', `second address line${clear}`)
      .option('--postcode <code>', `postcode${clear}`)
      .option('--city <city>', `city${clear}`)
      .option('--country <code>', `ISO 3166 two-letter country code, e.g. DE${clear}`)
      .option('--vat-id <id>', `VAT id with its country prefix, e.g. DE123456789${clear}`)
      .option('--prefix <prefix>', 'prefix of invoice numbers issued from now on, 1 to 10 letters or digits')
      .option(
        '--default-tax-rate <percent>',
        'tax rate, in percent, for ticket types created from now on without --tax-rate (e.g. 19)',
        parse.taxRate,
      )
      .option(
        '--reissue',
        'then re-issue the invoices issued without the seller address (asked on a terminal when left out)',
      )
      .option('--no-reissue', 'do not re-issue them, and do not ask')
      .action(async (flags: BillingFlags & { reissue?: boolean }, cmd: Command) => {
        io().exitCode = await billingSetRun(factoryOf(Context.of(cmd)), {
          body: billingBody(flags),
          reissue: flags.reissue,
        });
      }),
    'tickets billing set --legal-name "Blue Note Events GmbH" --address "Hauptstraße 1" \\\n      --postcode 10115 --city Berlin --country DE --vat-id DE123456789',
    'tickets billing set --address "Hauptstraße 1" --city Berlin --country DE --reissue',
    'tickets billing set --prefix BNE',
    'tickets billing set --address-line2 none --json',
  );
}

async function billingShowRun(f: Factory): Promise<number> {
  const client = await f.client();
  const details = await f.out.spin('Loading…', client.invoices.getBilling());
  await f.out.result(details, (b) => showBilling(f.out, b));
  return EXIT.ok;
}

async function failedRun(f: Factory, o: { limit: number }): Promise<number> {
  const client = await f.client();
  const list = await f.out.spin(
    'Loading…',
    client.invoices.failed({ limit: Math.min(o.limit, 100) }).toArray({ limit: o.limit }),
  );
  await f.out.result(list, () =>
    f.out.table(
      ['ORDER', 'EVENT', 'BUYER', 'TOTAL', 'PAID', 'WHY'],
      list.map((x) => [x.order_id, x.event_id, x.buyer_email, formatMoney(x.total), x.paid_at, x.error]),
    ),
  );
  return EXIT.ok;
}
