import { CompiledQuery, type Kysely, type Selectable, sql, type Transaction } from 'kysely';
import type { Database, InvoicesTable, OrganizationsTable } from '../../db/schema.js';
import { newId } from '../../ids.js';
import { nowIso } from '../../time.js';
import { allocate, type DocumentLine, type InvoiceDocument, line, totals } from './documents.js';
import { formatMoney } from './pdf.js';

type Trx = Transaction<Database>;
type Series = 'invoice' | 'credit_note';

/**
 * Invoices and credit notes, numbered gaplessly per organization, series and calendar year (UTC):
 * `INV-2026-000123` and `INV-CN-2026-000004` (the prefix is the organization's `invoice_prefix`).
 * Credit notes have a series of their own, so refunds never leave holes in the invoice series.
 *
 * A number is taken by incrementing the sequence row inside the transaction that makes the order paid
 * (or records the refund): a rollback gives it back, and a concurrent transaction waits on the row
 * (Postgres row lock; SQLite's single writer) and gets the next one. So numbers are never skipped or
 * used twice, and once committed never change.
 *
 * What a document says (seller, buyer, event, lines, totals) is fixed in `invoices.document` when it
 * is issued: later edits to billing details, events or ticket types don't rewrite old invoices. An
 * invoice that must say something else (issued before the seller's address was set) is re-issued:
 * cancelled by a credit note, and replaced by a new invoice with a new number (`reissueInvoice`).
 */

export function formatNumber(prefix: string, series: Series, year: number, n: number): string {
  return `${prefix}${series === 'credit_note' ? '-CN' : ''}-${year}-${String(n).padStart(6, '0')}`;
}

/**
 * The next number of a series, taken in the caller's transaction. One statement: the first document
 * of a year creates the row, every other one increments it; on Postgres the upsert locks the row until
 * the transaction ends, so concurrent issuers queue here rather than read the same value.
 */
export async function takeNumber(trx: Trx, orgId: string, series: Series, year: number): Promise<number> {
  return takeNumbers(trx, orgId, series, year, 1);
}

/** The last of the next `count` numbers of a series (so they are `last - count + 1 … last`). */
export async function takeNumbers(
  trx: Trx,
  orgId: string,
  series: Series,
  year: number,
  count: number,
): Promise<number> {
  const row = await trx
    .insertInto('invoice_sequences')
    .values({ org_id: orgId, series, year, last_number: count })
    .onConflict((oc) =>
      oc
        .columns(['org_id', 'series', 'year'])
        .doUpdateSet((eb) => ({ last_number: eb('invoice_sequences.last_number', '+', count) })),
    )
    .returning('last_number')
    .executeTakeFirstOrThrow();
  return Number(row.last_number);
}

type Seller = { prefix: string; seller: InvoiceDocument['seller'] };

/**
 * An organization's invoice prefix and billing details, read once per transaction: billing details are
 * changed in transactions of their own, so within one (on SQLite, a whole group of sales; see
 * groupedWrites) the row cannot change under it.
 */
const sellers = new WeakMap<Trx, Map<string, Seller>>();

async function seller(trx: Trx, orgId: string): Promise<Seller> {
  let known = sellers.get(trx);
  const cached = known?.get(orgId);
  if (cached) return cached;
  const org = await trx
    .selectFrom('organizations')
    .selectAll()
    .where('id', '=', orgId)
    .executeTakeFirstOrThrow();
  const out = {
    prefix: org.invoice_prefix,
    seller: {
      name: org.legal_name ?? org.name,
      address_line1: org.address_line1,
      address_line2: org.address_line2,
      postcode: org.postcode,
      city: org.city,
      country: org.country,
      vat_id: org.vat_id,
    },
  };
  if (!known) {
    known = new Map();
    sellers.set(trx, known);
  }
  known.set(orgId, out);
  return out;
}

async function issue(
  trx: Trx,
  orgId: string,
  kind: Series,
  prefix: string,
  refs: { order_id: string; refund_id: string | null; invoice_id: string | null },
  document: InvoiceDocument,
): Promise<string> {
  const issuedAt = nowIso();
  const year = new Date(issuedAt).getUTCFullYear();
  const sequence = await takeNumber(trx, orgId, kind, year);
  const row = documentRow(
    orgId,
    kind,
    formatNumber(prefix, kind, year, sequence),
    sequence,
    year,
    refs,
    document,
    issuedAt,
  );
  await trx.insertInto('invoices').values(row).execute();
  return row.number;
}

function documentRow(
  orgId: string,
  kind: Series,
  number: string,
  sequence: number,
  year: number,
  refs: { order_id: string; refund_id: string | null; invoice_id: string | null },
  document: InvoiceDocument,
  issuedAt: string,
): InvoicesTable {
  return {
    id: newId('invoice'),
    org_id: orgId,
    kind,
    number,
    year,
    sequence,
    ...refs,
    cancelled_by: null,
    currency: document.currency,
    net_amount: document.net,
    tax_amount: document.tax,
    gross_amount: document.gross,
    document: JSON.stringify(document),
    issued_at: issuedAt,
  };
}

/**
 * Called in the transaction that makes an order paid, so the invoice number is taken (or not) with
 * the payment itself: a rolled-back payment leaves no gap in the sequence. Free orders get none: there
 * is nothing to invoice. Calling it again for an invoiced order changes nothing.
 */
export async function issueInvoice(trx: Trx, order: { id: string; org_id: string }): Promise<string | null> {
  const row = await trx
    .selectFrom('orders')
    .innerJoin('events', 'events.id', 'orders.event_id')
    .selectAll('orders')
    .select([
      'events.name as event_name',
      'events.starts_at as event_starts_at',
      'events.timezone as event_timezone',
      'events.venue_name',
      'events.venue_city',
    ])
    .where('orders.id', '=', order.id)
    .executeTakeFirstOrThrow();
  if (row.invoice_number !== null || row.total_amount === 0) return row.invoice_number;
  const items = await trx
    .selectFrom('order_items')
    .selectAll()
    .where('order_id', '=', order.id)
    .orderBy('ticket_type_id')
    .execute();
  const lines = items.map((i) => saleLine(i, row.voucher_code, row.currency));
  const { prefix, seller: from } = await seller(trx, order.org_id);
  const number = await issue(
    trx,
    order.org_id,
    'invoice',
    prefix,
    { order_id: order.id, refund_id: null, invoice_id: null },
    {
      seller: from,
      buyer: { name: row.buyer_name, email: row.buyer_email },
      event: {
        name: row.event_name,
        starts_at: row.event_starts_at,
        timezone: row.event_timezone,
        venue: [row.venue_name, row.venue_city].filter(Boolean).join(', ') || null,
      },
      order_id: order.id,
      payment_method: row.payment_method,
      paid_at: row.paid_at,
      currency: row.currency,
      lines,
      ...totals(lines),
    },
  );
  await trx
    .updateTable('orders')
    .set({ invoice_number: number })
    .where('id', '=', order.id)
    .where('invoice_number', 'is', null)
    .execute();
  return number;
}

/**
 * Credit notes for refunds recorded before their orders' invoices existed. Called once the invoices are
 * written, in the same transaction: a refund either committed before and is seen here, or sees the
 * invoice and issues its own credit note.
 */
async function creditEarlierRefunds(trx: Trx, orderIds: string[]): Promise<void> {
  const refunds = await trx
    .selectFrom('refunds')
    .select(['id', 'org_id', 'order_id'])
    .where('order_id', 'in', orderIds)
    .where('status', '=', 'succeeded')
    .orderBy('id')
    .execute();
  for (const r of refunds) await issueCreditNote(trx, r);
}

/**
 * An order line on its invoice: what was charged (tax on the discounted price), and where a code
 * changed the price, the price before it and the discount in the description.
 */
function saleLine(
  i: { name: string; quantity: number; unit_amount: number; tax_rate: number; list_amount?: number | null },
  code: string | null,
  currency: string,
): DocumentLine {
  const off = i.list_amount !== null && i.list_amount !== undefined ? i.list_amount - i.unit_amount : 0;
  const description =
    off > 0
      ? `${i.name} (${formatMoney(i.list_amount!, currency)} less ${formatMoney(off, currency)}${code ? `, code ${code}` : ''})`
      : i.name;
  return line(description, i.quantity, i.unit_amount, i.tax_rate);
}

/** `issueInvoice`, then the credit notes of refunds recorded before the invoice existed. */
export async function invoiceOrder(trx: Trx, order: { id: string; org_id: string }): Promise<string | null> {
  const number = await issueInvoice(trx, order);
  await creditEarlierRefunds(trx, [order.id]);
  return number;
}

/** What invoicing a just-paid order needs, all of it already in hand when the order is sold. */
export interface PaidOrder {
  order: {
    id: string;
    buyer_name: string;
    buyer_email: string;
    payment_method: string;
    paid_at: string | null;
    currency: string;
    voucher_code?: string | null;
  };
  /** In ticket type id order, as `issueInvoice` lists them. */
  items: {
    name: string;
    quantity: number;
    unit_amount: number;
    tax_rate: number;
    list_amount?: number | null;
  }[];
  event: {
    name: string;
    starts_at: string;
    timezone: string;
    venue_name: string | null;
    venue_city: string | null;
  };
}

/** The invoices of paid orders, numbered from `first`, as rows to insert. */
function invoiceRows(
  orgId: string,
  { prefix, seller: from }: Seller,
  paid: PaidOrder[],
  year: number,
  first: number,
  issuedAt: string,
): InvoicesTable[] {
  return paid.map(({ order, items, event }, i) => {
    const lines = items.map((l) => saleLine(l, order.voucher_code ?? null, order.currency));
    const document: InvoiceDocument = {
      seller: from,
      buyer: { name: order.buyer_name, email: order.buyer_email },
      event: {
        name: event.name,
        starts_at: event.starts_at,
        timezone: event.timezone,
        venue: [event.venue_name, event.venue_city].filter(Boolean).join(', ') || null,
      },
      order_id: order.id,
      payment_method: order.payment_method,
      paid_at: order.paid_at,
      currency: order.currency,
      lines,
      ...totals(lines),
    };
    return documentRow(
      orgId,
      'invoice',
      formatNumber(prefix, 'invoice', year, first + i),
      first + i,
      year,
      { order_id: order.id, refund_id: null, invoice_id: null },
      document,
      issuedAt,
    );
  });
}

/** `takeNumbers(…, 'invoice', year, 1)` as SQLite text, so the sale path skips building it. */
const TAKE_ONE_SQLITE =
  'insert into "invoice_sequences" ("org_id", "series", "year", "last_number") values (?, \'invoice\', ?, 1) ' +
  'on conflict ("org_id", "series", "year") do update set "last_number" = "invoice_sequences"."last_number" + 1 ' +
  'returning "last_number"';

/**
 * The invoice of an order being sold, in the sale's own transaction (SQLite, where the sale is one
 * unit of a group of writes and there is no row lock to queue on): its number is taken here, so the
 * caller writes the order with it and then inserts this row (after the order: it refers to it). A
 * rollback of the sale gives the number back. The order is new, so it has no refunds to credit.
 */
export async function invoiceForSaleOnSqlite(
  trx: Trx,
  orgId: string,
  paid: PaidOrder,
  issuedAt = nowIso(),
): Promise<InvoicesTable> {
  const from = await seller(trx, orgId);
  const year = new Date(issuedAt).getUTCFullYear();
  const taken = await trx.executeQuery<{ last_number: number }>(
    CompiledQuery.raw(TAKE_ONE_SQLITE, [orgId, year]),
  );
  const sequence = Number(taken.rows[0]!.last_number);
  return invoiceRows(orgId, from, [paid], year, sequence, issuedAt)[0]!;
}

/**
 * Invoices several paid orders of one organization in the caller's transaction, with consecutive
 * numbers taken in one step: what `issueInvoice` does for each, in a handful of statements for all.
 * The orders must not be invoiced yet and must cost something; if any of them turns out invoiced
 * already, this throws, so the caller's rollback gives every number back. Returns the numbers in the
 * orders' order.
 */
export async function issueInvoices(trx: Trx, orgId: string, paid: PaidOrder[]): Promise<string[]> {
  const from = await seller(trx, orgId);
  const issuedAt = nowIso();
  const year = new Date(issuedAt).getUTCFullYear();
  // The sequence row is the organization's queue (locked until commit on Postgres): taken after the
  // seller is read, and only JavaScript runs between it and the writes below.
  const last = await takeNumbers(trx, orgId, 'invoice', year, paid.length);
  const rows = invoiceRows(orgId, from, paid, year, last - paid.length + 1, issuedAt);
  const numbers = rows.map((r) => r.number);
  await trx.insertInto('invoices').values(rows).execute();
  const ids = paid.map((p) => p.order.id);
  const updated = await trx
    .updateTable('orders')
    .set({
      invoice_number: sql<string>`case id ${sql.join(
        ids.map((id, i) => sql`when ${id} then ${numbers[i]!}`),
        sql` `,
      )} end`,
    })
    .where('id', 'in', ids)
    .where('invoice_number', 'is', null)
    .executeTakeFirst();
  if (Number(updated.numUpdatedRows) !== ids.length) throw new Error('an order was invoiced meanwhile');
  await creditEarlierRefunds(trx, ids);
  return numbers;
}

/**
 * `issueInvoices` on Postgres in four statements instead of six: the sequence is taken and the seller
 * read in one statement; the invoices and the orders' numbers are written in one; then refunds are read
 * (after the orders' rows are written, as in issueInvoices) and credit notes issued.
 */
export async function issueInvoicesOnPostgres(trx: Trx, orgId: string, paid: PaidOrder[]): Promise<string[]> {
  const issuedAt = nowIso();
  const year = new Date(issuedAt).getUTCFullYear();
  // The sequence row is the organization's queue (locked until commit): only JavaScript runs between
  // taking it and the writes below.
  const taken = await trx.executeQuery<Record<string, unknown>>(
    CompiledQuery.raw(
      `with s as (insert into invoice_sequences (org_id, series, year, last_number) values ($1, 'invoice', $2::integer, $3::integer) ` +
        `on conflict (org_id, series, year) do update set last_number = invoice_sequences.last_number + $3::integer returning last_number) ` +
        `select o.*, s.last_number as taken_last_number from organizations o, s where o.id = $1`,
      [orgId, year, paid.length],
    ),
  );
  const org = taken.rows[0] as (Selectable<OrganizationsTable> & { taken_last_number: number }) | undefined;
  if (!org) throw new Error('no such organization');
  const from: Seller = {
    prefix: org.invoice_prefix,
    seller: {
      name: org.legal_name ?? org.name,
      address_line1: org.address_line1,
      address_line2: org.address_line2,
      postcode: org.postcode,
      city: org.city,
      country: org.country,
      vat_id: org.vat_id,
    },
  };
  const last = Number(org.taken_last_number);
  const rows = invoiceRows(orgId, from, paid, year, last - paid.length + 1, issuedAt);
  const numbers = rows.map((r) => r.number);
  const ids = paid.map((p) => p.order.id);
  const params: unknown[] = [];
  const p = (v: unknown, type: 'text' | 'integer' = 'text') => {
    params.push(v);
    return `$${params.length}::${type}`;
  };
  const columns = Object.keys(rows[0]!) as (keyof InvoicesTable)[];
  const integers = new Set(['year', 'sequence', 'net_amount', 'tax_amount', 'gross_amount']);
  const invoices = rows
    .map((r) => `(${columns.map((c) => p(r[c], integers.has(c) ? 'integer' : 'text')).join(', ')})`)
    .join(', ');
  const cases = ids.map((id, i) => `when ${p(id)} then ${p(numbers[i])}`).join(' ');
  const idList = ids.map((id) => p(id)).join(', ');
  const written = await trx.executeQuery<{ updated: number }>(
    CompiledQuery.raw(
      `with i as (insert into invoices (${columns.map((c) => `"${c}"`).join(', ')}) values ${invoices}), ` +
        `u as (update orders set invoice_number = case id ${cases} end where id in (${idList}) and invoice_number is null returning id)` +
        ' select count(*) as updated from u',
      params,
    ),
  );
  if (Number(written.rows[0]?.updated) !== ids.length) throw new Error('an order was invoiced meanwhile');
  await creditEarlierRefunds(trx, ids);
  return numbers;
}

/**
 * Called in the transaction that records a refund: the refund gets a credit note number, referring to
 * the order's invoice. Orders without an invoice (free ones) get no credit note. Only a refund that
 * has succeeded gets one: one still pending with a payment provider may yet fail, and a credit note
 * once issued is never withdrawn; call this again in the transaction that marks it succeeded.
 */
export async function issueCreditNote(
  trx: Trx,
  refund: { id: string; org_id: string; order_id: string },
): Promise<void> {
  await lockOrder(trx, refund.order_id);
  const invoice = await currentInvoice(trx, refund.order_id);
  if (!invoice) return;
  const done = await trx
    .selectFrom('invoices')
    .select('id')
    .where('refund_id', '=', refund.id)
    .executeTakeFirst();
  if (done) return;
  const r = await trx.selectFrom('refunds').selectAll().where('id', '=', refund.id).executeTakeFirstOrThrow();
  if (r.amount === 0 || r.status !== 'succeeded') return;
  const { replaces: _, ...original } = JSON.parse(invoice.document) as InvoiceDocument;
  let lines: DocumentLine[];
  const ticket = r.ticket_id
    ? await trx
        .selectFrom('tickets')
        .innerJoin('order_items', (j) =>
          j
            .onRef('order_items.order_id', '=', 'tickets.order_id')
            .onRef('order_items.ticket_type_id', '=', 'tickets.ticket_type_id'),
        )
        .select(['order_items.name', 'order_items.tax_rate', 'order_items.unit_amount'])
        .where('tickets.id', '=', r.ticket_id)
        .executeTakeFirst()
    : undefined;
  if (ticket) lines = [line(`${ticket.name} (1 ticket)`, 1, r.amount, ticket.tax_rate)];
  else lines = allocate(r.amount, original.lines);
  const { prefix, seller: from } = await seller(trx, refund.org_id);
  await issue(
    trx,
    refund.org_id,
    'credit_note',
    prefix,
    { order_id: refund.order_id, refund_id: refund.id, invoice_id: invoice.id },
    {
      ...original,
      seller: from,
      paid_at: original.paid_at,
      lines,
      ...totals(lines),
      corrects: { number: invoice.number, issued_at: invoice.issued_at },
      reason: r.reason,
    },
  );
}

/** The credit note number a refund got, if any. */
export async function creditNoteNumber(trx: Kysely<Database>, refundId: string): Promise<string | null> {
  const row = await trx
    .selectFrom('invoices')
    .select('number')
    .where('refund_id', '=', refundId)
    .executeTakeFirst();
  return row?.number ?? null;
}

/**
 * Takes the order's row lock until the transaction ends (a write that changes nothing; SQLite has a
 * single writer anyway). Credit notes and re-issues of an order take it first, so a re-issue never
 * runs between a refund reading the order's current invoice and crediting it.
 */
async function lockOrder(trx: Trx, orderId: string, invoiceNumber?: string): Promise<boolean> {
  const res = await trx
    .updateTable('orders')
    .set((eb) => ({ invoice_number: eb.ref('invoice_number') }))
    .where('id', '=', orderId)
    .$if(invoiceNumber !== undefined, (q) => q.where('invoice_number', '=', invoiceNumber!))
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/** The order's invoice that stands: the one no re-issue has cancelled. */
function currentInvoice(trx: Trx, orderId: string) {
  return trx
    .selectFrom('invoices')
    .selectAll()
    .where('order_id', '=', orderId)
    .where('kind', '=', 'invoice')
    .where('cancelled_by', 'is', null)
    .executeTakeFirst();
}

/** What one re-issue did. */
export interface Reissued {
  order_id: string;
  /** The invoice cancelled, its cancelling credit note, and the invoice that replaces it (numbers). */
  cancelled: string;
  credit_note: string;
  invoice: string;
}

/**
 * Re-issues an invoice with the seller's details as they are now, in the caller's transaction: a credit
 * note cancels what the invoice still stands for (its amount less the credit notes of its refunds), and
 * a new invoice for that amount, numbered next in the series, replaces it as the order's invoice. Both
 * documents refer to the old invoice; the old one is never changed but for `cancelled_by`. Refunds
 * made later are credited against the new invoice. Answers null, changing nothing, when the invoice is
 * no longer the order's current one (re-issued meanwhile) or nothing of it is left to cancel.
 */
export async function reissueInvoice(trx: Trx, orgId: string, invoiceId: string): Promise<Reissued | null> {
  const old = await trx
    .selectFrom('invoices')
    .selectAll()
    .where('id', '=', invoiceId)
    .where('org_id', '=', orgId)
    .where('kind', '=', 'invoice')
    .executeTakeFirst();
  // The order's row first (refunds take it first too); then the invoice is read again under it.
  if (!old || !(await lockOrder(trx, old.order_id, old.number))) return null;
  const current = await currentInvoice(trx, old.order_id);
  if (current?.id !== old.id) return null;
  const {
    replaces: _r,
    corrects: _c,
    reason: _why,
    ...original
  } = JSON.parse(old.document) as InvoiceDocument;
  const lines = await standingLines(trx, old.id, original.lines);
  if (lines.length === 0) return null;
  const { prefix, seller: from } = await seller(trx, orgId);
  const issuedAt = nowIso();
  const year = new Date(issuedAt).getUTCFullYear();
  const invoiceSeq = await takeNumber(trx, orgId, 'invoice', year);
  const noteSeq = await takeNumber(trx, orgId, 'credit_note', year);
  const invoiceNumber = formatNumber(prefix, 'invoice', year, invoiceSeq);
  const was = { number: old.number, issued_at: old.issued_at };
  const body = { ...original, seller: from, lines, ...totals(lines) };
  const note = documentRow(
    orgId,
    'credit_note',
    formatNumber(prefix, 'credit_note', year, noteSeq),
    noteSeq,
    year,
    { order_id: old.order_id, refund_id: null, invoice_id: old.id },
    {
      ...body,
      corrects: was,
      reason: `Cancels invoice ${old.number}: re-issued as ${invoiceNumber} with the seller's details`,
    },
    issuedAt,
  );
  const replacement = documentRow(
    orgId,
    'invoice',
    invoiceNumber,
    invoiceSeq,
    year,
    { order_id: old.order_id, refund_id: null, invoice_id: null },
    { ...body, replaces: was },
    issuedAt,
  );
  await trx.insertInto('invoices').values(note).execute();
  // Cancelled before its replacement is written: an order has one invoice not cancelled (unique index).
  await trx.updateTable('invoices').set({ cancelled_by: note.id }).where('id', '=', old.id).execute();
  await trx.insertInto('invoices').values(replacement).execute();
  await trx
    .updateTable('orders')
    .set({ invoice_number: invoiceNumber })
    .where('id', '=', old.order_id)
    .execute();
  return { order_id: old.order_id, cancelled: old.number, credit_note: note.number, invoice: invoiceNumber };
}

/**
 * What an invoice still stands for, line by line: its lines less what its credit notes took back, rate
 * by rate (a ticket's refund takes back that ticket at its own rate; a refund of part of an order, its
 * share of each rate). Within a rate, what is left is spread over that rate's lines. Empty when all of
 * it was credited.
 */
async function standingLines(trx: Trx, invoiceId: string, lines: DocumentLine[]): Promise<DocumentLine[]> {
  const notes = await trx
    .selectFrom('invoices')
    .select('document')
    .where('invoice_id', '=', invoiceId)
    .where('kind', '=', 'credit_note')
    .execute();
  const credited = new Map<number, number>();
  for (const note of notes)
    for (const l of (JSON.parse(note.document) as InvoiceDocument).lines)
      credited.set(l.tax_rate, (credited.get(l.tax_rate) ?? 0) + l.gross);
  const byRate = new Map<number, DocumentLine[]>();
  for (const l of lines) byRate.set(l.tax_rate, [...(byRate.get(l.tax_rate) ?? []), l]);
  return [...byRate].flatMap(([rate, mine]) => {
    const whole = mine.reduce((sum, l) => sum + l.gross, 0);
    const left = Math.max(0, whole - (credited.get(rate) ?? 0));
    return left === whole ? mine : allocate(left, mine);
  });
}
