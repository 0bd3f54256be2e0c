import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../server/test/harness.js';
import { pdfText } from '../../server/test/readback.js';
import { billingSetRun } from '../src/commands/invoices.js';
import { BIN, type Cli, fakePrompter, makeCli, signUpWithEvent, withFactory } from './run-cli.js';

const YEAR = new Date().getUTCFullYear();

/** The text of a PDF file, as a reader sees it. */
const pdfFileText = (file: string) => pdfText(readFileSync(file));

const isPdf = (bytes: Buffer) => bytes.subarray(0, 5).toString('latin1') === '%PDF-';

/** Invoices and billing details through the built `tickets` binary, against a real server. */
describe('sqlite: tickets billing and invoices', () => {
  let server: TestServer;
  let cli: Cli;
  let scratch: string;
  let eventId: string;

  /** Runs `tickets` in `cwd` (where a download lands by default), stdout kept as bytes. */
  const inDir = async (cwd: string, args: string[]) => {
    const r = await execa('node', [BIN, ...args], {
      cwd,
      env: {
        TICKETS_CONFIG_DIR: cli.configDir,
        NO_COLOR: '1',
        TICKETS_API_URL: undefined,
        TICKETS_API_KEY: undefined,
        TICKETS_PROFILE: undefined,
      },
      input: '',
      encoding: 'buffer',
      reject: false,
      timeout: 20_000,
    });
    return {
      exitCode: r.exitCode ?? -1,
      stdout: Buffer.from(r.stdout),
      stderr: Buffer.from(r.stderr).toString(),
    };
  };

  const sell = (name: string) =>
    cli.json(['sell', eventId, '--name', name, '--email', 'bea@example.com', '--qty', '2', '--no-qr']);

  beforeAll(async () => {
    server = await startTestServer('sqlite');
    cli = makeCli();
    scratch = mkdtempSync(join(tmpdir(), 'tickets-cli-invoices-'));
    eventId = await signUpWithEvent(cli, server.url, { org: 'Blue Note', event: 'Invoice Night' });
    await cli.json(['types', 'create', eventId, '--name', 'GA', '--price', '25.00', '--capacity', '50']);
    await cli.json(['events', 'publish', eventId]);
  });
  afterAll(async () => {
    cli.cleanup();
    rmSync(scratch, { recursive: true, force: true });
    await server.stop();
  });

  it('sells before the seller address is set: billing show warns; tax rates in percent, and an organization default', async () => {
    await cli.json(['sell', eventId, '--type', 'GA', '--name', 'Early Ed', '--email', 'ed@example.com']);
    const warned = await cli(['billing', 'show']);
    expect(warned.stderr).toContain(
      '1 invoice was issued without a seller address: set it with tickets billing set --address …',
    );
    const other = (
      await cli.json([
        'events',
        'create',
        '--name',
        'Tax Night',
        '--timezone',
        'Europe/Berlin',
        '--currency',
        'EUR',
        '--starts',
        '2031-11-30 20:00',
        '--ends',
        '2031-11-30 23:00',
      ])
    ).id as string;
    const reduced = await cli.json([
      'types',
      'create',
      other,
      '--name',
      'Book',
      '--price',
      '10',
      '--capacity',
      '5',
      '--tax-rate',
      '7.5%',
    ]);
    expect(reduced.tax_rate).toBe(750);
    expect((await cli.json(['billing', 'set', '--default-tax-rate', '19'])).default_tax_rate).toBe(1900);
    const standard = await cli.json([
      'types',
      'create',
      other,
      '--name',
      'Seat',
      '--price',
      '30',
      '--capacity',
      '5',
    ]);
    expect(standard.tax_rate).toBe(1900);
    const changed = await cli(['types', 'update', standard.id, '--tax-rate', '0']);
    expect(changed.exitCode, changed.stderr).toBe(0);
    expect(changed.stdout).toContain('Tax: 0% included');
    for (const bad of ['120', 'nineteen', '7.555', '-1']) {
      const r = await cli(['types', 'update', standard.id, '--tax-rate', bad]);
      expect(r.exitCode, bad).toBe(2);
    }
    await cli.json(['billing', 'set', '--default-tax-rate', '0']);
  });

  it('billing set saves the details (--json: the API object), and billing show prints them', async () => {
    const set = await cli.json([
      'billing',
      'set',
      '--legal-name',
      'Blue Note Events GmbH',
      '--address',
      'Hauptstraße 1',
      '--address-line2',
      'Hinterhaus',
      '--postcode',
      '10115',
      '--city',
      'Berlin',
      '--country',
      'de',
      '--vat-id',
      'DE 123 456 789',
      '--prefix',
      'bne',
    ]);
    expect(set).toEqual({
      object: 'billing_details',
      legal_name: 'Blue Note Events GmbH',
      address_line1: 'Hauptstraße 1',
      address_line2: 'Hinterhaus',
      postcode: '10115',
      city: 'Berlin',
      country: 'DE',
      vat_id: 'DE123456789',
      invoice_prefix: 'BNE',
      default_tax_rate: 0,
      invoices_without_address: 1,
    });

    const cleared = await cli(['billing', 'set', '--address-line2', 'none']);
    expect(cleared.exitCode, cleared.stderr).toBe(0);
    expect(cleared.stderr).toContain('Saved the billing details.');
    const shown = await cli(['billing', 'show']);
    expect(shown.exitCode, shown.stderr).toBe(0);
    expect(shown.stdout.split('\n')).toEqual([
      'Legal name: Blue Note Events GmbH',
      'Address: Hauptstraße 1',
      'Postcode: 10115',
      'City: Berlin',
      'Country: DE',
      'VAT ID: DE123456789',
      'Invoice prefix: BNE',
      'Default tax rate: 0%',
    ]);
    // The order sold before the address was set keeps its invoice without one, and billing says so.
    expect(shown.stderr).toContain(
      '1 invoice was issued without a seller address (before it was set): re-issue them with tickets invoices reissue',
    );
    expect((await cli.json(['billing', 'show'])).address_line2).toBeNull();
  });

  it('re-issues invoices issued without the address: billing set asks on a terminal, invoices reissue needs --yes in a script', async () => {
    const asked: string[] = [];
    const no = fakePrompter({
      confirm: async (message) => {
        asked.push(message);
        return false;
      },
    });
    const kept = await withFactory(cli, { tty: true, prompter: no }, (f) =>
      billingSetRun(f, { body: { address_line2: 'Hof 2' } }),
    );
    expect(kept.result).toBe(0);
    expect(asked).toEqual([expect.stringContaining('Re-issue 1 invoice issued without the seller address?')]);
    expect(kept.stderr).toContain('re-issue them with tickets invoices reissue');
    // Not asked when nobody can answer, and not done either.
    const script = await cli(['billing', 'set', '--address-line2', 'none']);
    expect(script.exitCode, script.stderr).toBe(0);
    expect((await cli.json(['billing', 'show'])).invoices_without_address).toBe(1);
    const piped = await cli(['invoices', 'reissue']);
    expect(piped.exitCode).toBe(2);
    expect(piped.stderr).toContain('without --yes');

    const yes = fakePrompter({ confirm: async () => true });
    const done = await withFactory(cli, { tty: true, prompter: yes }, (f) =>
      billingSetRun(f, { body: { address_line2: 'Hof 3' } }),
    );
    expect(done.result).toBe(0);
    expect(done.stdout).toContain('CANCELLED');
    expect(done.stderr).toContain('Re-issued 1 invoice.');
    expect(done.stderr).not.toContain('issued without a seller address');
    expect((await cli.json(['billing', 'show'])).invoices_without_address).toBe(0);

    const docs = await cli.json(['invoices', 'list', '--all']);
    const cancelled = docs.find((d: { cancelled_by: string | null }) => d.cancelled_by);
    expect(cancelled).toBeDefined();
    const mine = await cli.json(['invoices', 'list', '--order', cancelled.order_id]);
    expect(mine.map((d: { kind: string }) => d.kind)).toEqual(['invoice', 'credit_note', 'invoice']);
    expect(mine[0].replaces).toBe(cancelled.number);
    const piped2 = await cli(['invoices', 'list', '--order', cancelled.order_id]);
    expect(piped2.stdout).toContain(`cancelled by ${mine[1].number}`);
    expect(piped2.stdout).toContain(`replaces ${cancelled.number}`);

    // The cancelled invoice can still be saved, by its id.
    const dir = mkdtempSync(join(scratch, 'reissued-'));
    const saved = await inDir(dir, ['invoices', 'download', cancelled.id]);
    expect(saved.exitCode, saved.stderr).toBe(0);
    expect(await pdfFileText(join(dir, `${cancelled.number}.pdf`))).toContain(cancelled.number);
    const bad = await cli(['invoices', 'download', 'ref_123']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('Expected an order id (ord_…) or an invoice id (invc_…)');

    const nothing = await cli(['invoices', 'reissue', '--yes']);
    expect(nothing.exitCode, nothing.stderr).toBe(0);
    expect(nothing.stderr).toContain('nothing to re-issue');
  });

  it('sells, then invoices download saves <invoice number>.pdf here; the PDF names the number and seller', async () => {
    const order = await sell('Ian Invoiced');
    expect(order.invoice_number).toMatch(new RegExp(`^BNE-${YEAR}-\\d{6}$`));
    const dir = mkdtempSync(join(scratch, 'default-'));

    const r = await inDir(dir, ['invoices', 'download', order.id]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.length).toBe(0);
    const file = join(dir, `${order.invoice_number}.pdf`);
    expect(r.stderr).toContain(`Saved invoice ${order.invoice_number} to ${order.invoice_number}.pdf`);
    expect(isPdf(readFileSync(file))).toBe(true);
    const text = await pdfFileText(file);
    expect(text).toContain(order.invoice_number);
    expect(text).toContain('Blue Note Events GmbH');

    // Downloading again into the same place would overwrite it: refused with exit 2, the file untouched.
    writeFileSync(file, 'keep me');
    const again = await inDir(dir, ['invoices', 'download', order.id]);
    expect(again.exitCode).toBe(2);
    expect(again.stderr).toContain(
      `${order.invoice_number}.pdf already exists; pass --force to overwrite it`,
    );
    expect(readFileSync(file, 'utf8')).toBe('keep me');
  });

  it('invoices failed lists the paid orders whose invoice could not be issued, and why', async () => {
    expect(await cli.json(['invoices', 'failed'])).toEqual([]);
    const order = await sell('Fay Failed');
    // As the server records a failed attempt (see the server's invoice-failures test for the real one).
    await server.db.kysely
      .updateTable('orders')
      .set({ invoice_number: null, invoice_error: 'disk full' })
      .where('id', '=', order.id)
      .execute();
    try {
      expect(await cli.json(['invoices', 'failed'])).toEqual([
        expect.objectContaining({ order_id: order.id, error: 'disk full' }),
      ]);
      const piped = await cli(['invoices', 'failed']);
      expect(piped.exitCode).toBe(0);
      expect(piped.stdout).toContain(order.id);
      expect(piped.stdout).toContain('disk full');
    } finally {
      await server.db.kysely
        .updateTable('orders')
        .set({ invoice_number: order.invoice_number, invoice_error: null })
        .where('id', '=', order.id)
        .execute();
    }
  });

  it('--out names the file, refuses an existing one (exit 2) unless --force, and --json says where it went', async () => {
    const order = await sell('Otto Out');
    const out = join(scratch, 'mine.pdf');
    writeFileSync(out, 'keep me');

    const refused = await cli(['invoices', 'download', order.id, '--out', out]);
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toContain(`${out} already exists; pass --force to overwrite it`);
    expect(readFileSync(out, 'utf8')).toBe('keep me');

    const forced = await cli.json(['invoices', 'download', order.id, '--out', out, '--force']);
    expect(forced).toEqual({
      object: 'file',
      path: out,
      number: order.invoice_number,
      bytes: readFileSync(out).length,
    });
    expect(isPdf(readFileSync(out))).toBe(true);
    expect(await pdfFileText(out)).toContain(order.invoice_number);
  });

  it('--out - writes the PDF itself to stdout, for a pipe', async () => {
    const order = await sell('Pia Piped');
    const r = await inDir(scratch, ['invoices', 'download', order.id, '--out', '-']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(isPdf(r.stdout)).toBe(true);
    const file = join(scratch, 'piped.pdf');
    writeFileSync(file, r.stdout);
    expect(await pdfFileText(file)).toContain(order.invoice_number);
    expect(existsSync(join(scratch, `${order.invoice_number}.pdf`))).toBe(false);
  });

  it("invoices credit-note saves a refund's credit note, named after its number", async () => {
    const order = await sell('Rae Refunded');
    const refund = await cli.json(['refund', order.id, '--yes']);
    expect(refund.credit_note_number).toMatch(new RegExp(`^BNE-CN-${YEAR}-\\d{6}$`));
    const dir = mkdtempSync(join(scratch, 'credit-'));

    const r = await inDir(dir, ['invoices', 'credit-note', refund.id]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain(`Saved credit note ${refund.credit_note_number}`);
    const text = await pdfFileText(join(dir, `${refund.credit_note_number}.pdf`));
    expect(text).toContain(refund.credit_note_number);
    expect(text).toContain(order.invoice_number);
  });

  it('exits 2 on usage errors, 1 when the API refuses, 4 when not signed in', async () => {
    const none = await cli(['billing', 'set']);
    expect(none.exitCode).toBe(2);
    expect(none.stderr).toContain('nothing to change');

    const badVat = await cli(['billing', 'set', '--vat-id', '123']);
    expect(badVat.exitCode).toBe(1);
    expect(badVat.stderr).toContain('  --vat-id: ');
    expect((await cli.json(['billing', 'show'])).vat_id).toBe('DE123456789');

    const missing = await cli(['invoices', 'download', 'ord_01jd6x3k7qf0v8c6w2x9yq4e5b', '--out', '-']);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toContain('not_found');
    const both = await cli([
      'invoices',
      'download',
      'ord_01jd6x3k7qf0v8c6w2x9yq4e5b',
      '--out',
      '-',
      '--json',
    ]);
    expect(both.exitCode).toBe(2);

    const stranger = makeCli({ TICKETS_API_URL: server.url });
    try {
      const r = await stranger(['billing', 'show']);
      expect(r.exitCode).toBe(4);
    } finally {
      stranger.cleanup();
    }
  });
});
