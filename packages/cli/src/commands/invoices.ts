import { existsSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { BillingDetails, BillingDetailsInput, ResponseMeta, Tickets } from '@tickets/sdk';
import type { Command } from 'commander';
import { Context } from '../context.js';
import { CliError, UsageError } from '../errors.js';
import { examples, NONE, orNull, parse } from '../help.js';
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
async function savePdf(
  ctx: Context,
  what: string,
  id: string,
  f: SaveFlags,
  download: (client: Tickets) => Promise<Buffer>,
): Promise<void> {
  const toStdout = f.out === '-';
  if (toStdout && ctx.out.json)
    throw new UsageError('--out - writes the PDF itself to stdout; leave out --json');
  if (toStdout && io().stdout.isTTY)
    throw new UsageError('refusing to write a PDF to the terminal; redirect stdout or give --out <file>');
  // Refused before downloading; the `wx` write below still catches a file that appears meanwhile.
  if (f.out && !toStdout && !f.force && existsSync(f.out)) throw refuseOverwrite(f.out);
  const client = await ctx.client();
  const pdf = await ctx.out.spin('Downloading…', download(client));
  if (toStdout) {
    io().stdout.write(pdf);
    return;
  }
  const number = documentNumber(pdf);
  const file = f.out ?? `${number ?? id}.pdf`;
  try {
    writeFileSync(file, pdf, { flag: f.force ? 'w' : 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw refuseOverwrite(file);
    throw new CliError(`could not write ${file}: ${(err as Error).message}`);
  }
  const saved: SavedPdf = { object: 'file', path: resolve(file), number, bytes: pdf.length };
  await ctx.out.result(saved, () =>
    ctx.out.success(`Saved ${what}${number ? ` ${number}` : ''} to ${file} (${kilobytes(pdf.length)}).`),
  );
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
  if (b.invoices_without_address > 0)
    out.warn(
      `${b.invoices_without_address} invoice${b.invoices_without_address === 1 ? ' was' : 's were'} issued without a seller address${b.address_line1 ? ' (before it was set)' : ': set it with tickets billing set --address …'}. An issued invoice is never changed; re-issuing them (a credit note and a new invoice each) is not supported yet.`,
    );
}

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

export function registerInvoices(program: Command): void {
  const invoices = program
    .command('invoices')
    .description('Invoices of paid orders and credit notes of refunds, as PDF files');
  examples(invoices, 'tickets invoices download ord_…', 'tickets invoices credit-note ref_…');

  examples(
    saveOptions(
      invoices
        .command('download')
        .description("Save a paid order's invoice as PDF, named after its number unless --out says otherwise")
        .argument('<order>', 'the order (ord_…)'),
    ).action((id: string, f: SaveFlags, cmd: Command) =>
      savePdf(Context.of(cmd), 'invoice', id, f, (client) => client.invoices.download(id)),
    ),
    'tickets invoices download ord_…',
    'tickets invoices download ord_… --out invoice.pdf --force',
    'tickets invoices download ord_… --out - | lpr',
  );

  examples(
    saveOptions(
      invoices
        .command('credit-note')
        .description("Save a refund's credit note as PDF, named after its number unless --out says otherwise")
        .argument('<refund>', 'the refund (ref_…)'),
    ).action((id: string, f: SaveFlags, cmd: Command) =>
      savePdf(Context.of(cmd), 'credit note', id, f, (client) => client.invoices.creditNote(id)),
    ),
    'tickets invoices credit-note ref_…',
    'tickets invoices credit-note ref_… --out credit-note.pdf',
  );

  examples(
    invoices
      .command('failed')
      .description('Paid orders whose invoice could not be issued yet, and why (the server retries them)')
      .option('--limit <n>', 'at most this many', parse.int(1), 100)
      .action(async (o: { limit: number }, cmd: Command) => {
        const ctx = Context.of(cmd);
        const client = await ctx.client();
        const list = await ctx.out.spin(
          'Loading…',
          client.invoices.failed({ limit: Math.min(o.limit, 100) }).toArray({ limit: o.limit }),
        );
        await ctx.out.result(list, () =>
          ctx.out.table(
            ['ORDER', 'EVENT', 'BUYER', 'TOTAL', 'PAID', 'WHY'],
            list.map((f) => [
              f.order_id,
              f.event_id,
              f.buyer_email,
              formatMoney(f.total),
              f.paid_at,
              f.error,
            ]),
          ),
        );
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
        const ctx = Context.of(cmd);
        const client = await ctx.client();
        const details = await ctx.out.spin('Loading…', client.invoices.getBilling());
        await ctx.out.result(details, (b) => showBilling(ctx.out, b));
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
      .action(async (f: BillingFlags, cmd: Command) => {
        const ctx = Context.of(cmd);
        const body = billingBody(f);
        if (Object.keys(body).length === 0)
          throw new UsageError(
            'nothing to change: give --legal-name, --address, --address-line2, --postcode, --city, --country, --vat-id, --prefix or --default-tax-rate',
          );
        const client = await ctx.client();
        const details = await ctx.out.spin('Saving…', client.invoices.updateBilling(body));
        await ctx.out.result(details, (b) => {
          ctx.out.success('Saved the billing details.');
          showBilling(ctx.out, b);
        });
      }),
    'tickets billing set --legal-name "Blue Note Events GmbH" --address "Hauptstraße 1" \\\n      --postcode 10115 --city Berlin --country DE --vat-id DE123456789',
    'tickets billing set --prefix BNE',
    'tickets billing set --address-line2 none --json',
  );
}
