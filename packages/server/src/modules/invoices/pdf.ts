import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import PDFDocument from 'pdfkit';
import type { InvoiceDocument } from './documents.js';

// DejaVu Sans covers Latin, Greek and Cyrillic: buyer and seller names print as typed, which the
// built-in PDF fonts (Latin-1 only) would not do.
const require = createRequire(import.meta.url);
let fonts: { body: Buffer; bold: Buffer } | undefined;
export const loadFonts = () =>
  (fonts ??= {
    body: readFileSync(require.resolve('dejavu-fonts-ttf/ttf/DejaVuSans.ttf')),
    bold: readFileSync(require.resolve('dejavu-fonts-ttf/ttf/DejaVuSans-Bold.ttf')),
  });

const LOCALE = 'en-GB';
const COUNTRIES = new Intl.DisplayNames([LOCALE], { type: 'region', fallback: 'code' });

/** The bytes a PDF document writes, once it is ended. */
export function pdfBytes(doc: PDFKit.PDFDocument): Promise<Buffer> {
  const chunks: Buffer[] = [];
  doc.on('data', (c: Buffer) => chunks.push(c));
  return new Promise<Buffer>((resolve, reject) => {
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });
}

export interface IssuedDocument {
  kind: 'invoice' | 'credit_note';
  number: string;
  issued_at: string;
  document: InvoiceDocument;
}

/** Minor units as the currency is written (EUR 2 decimals, JPY none), without going through floats. */
export function formatMoney(amount: number, currency: string): string {
  const format = new Intl.NumberFormat(LOCALE, { style: 'currency', currency });
  const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
  const sign = amount < 0 ? '-' : '';
  const abs = String(Math.abs(amount)).padStart(digits + 1, '0');
  const decimal = digits ? `${abs.slice(0, -digits)}.${abs.slice(-digits)}` : abs;
  // Intl accepts decimal strings and formats them exactly.
  return format.format(`${sign}${decimal}` as unknown as number);
}

/** Basis points as a percentage: 1900 → 19%, 550 → 5.5%. */
export function formatRate(basisPoints: number): string {
  return `${new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 2 }).format(basisPoints / 100)}%`;
}

const day = (iso: string) =>
  new Intl.DateTimeFormat(LOCALE, { dateStyle: 'long', timeZone: 'UTC' }).format(new Date(iso));
const when = (iso: string, timeZone: string) =>
  `${new Intl.DateTimeFormat(LOCALE, { dateStyle: 'long', timeStyle: 'short', timeZone }).format(new Date(iso))} (${timeZone})`;

const PAGE = { left: 50, right: 545, bottom: 780 };
// Items table: description, quantity, unit price, tax rate, net, tax, gross.
const COLUMNS = [
  { title: 'Description', x: 50, width: 160, align: 'left' },
  { title: 'Qty', x: 210, width: 30, align: 'right' },
  { title: 'Unit price', x: 245, width: 65, align: 'right' },
  { title: 'Tax rate', x: 315, width: 45, align: 'right' },
  { title: 'Net', x: 365, width: 60, align: 'right' },
  { title: 'Tax', x: 430, width: 50, align: 'right' },
  { title: 'Gross', x: 485, width: 60, align: 'right' },
] as const;

/** Renders an issued invoice or credit note. Its content comes only from what was fixed at issue. */
export function renderPdf(issued: IssuedDocument): Promise<Buffer> {
  const d = issued.document;
  const credit = issued.kind === 'credit_note';
  const title = credit ? 'Credit note' : 'Invoice';
  // Credit notes show what they take back as negative amounts.
  const money = (amount: number) => formatMoney(credit ? -amount : amount, d.currency);

  const doc = new PDFDocument({
    size: 'A4',
    margin: 50,
    info: {
      Title: `${title} ${issued.number}`,
      Author: d.seller.name,
      CreationDate: new Date(issued.issued_at),
    },
  });
  const { body, bold } = loadFonts();
  doc.registerFont('body', body);
  doc.registerFont('bold', bold);
  const done = pdfBytes(doc);

  // Seller
  doc.font('bold').fontSize(12).text(d.seller.name, PAGE.left, 50, { width: 260 });
  doc.font('body').fontSize(9);
  const place = [d.seller.postcode, d.seller.city].filter(Boolean).join(' ');
  for (const l of [
    d.seller.address_line1,
    d.seller.address_line2,
    place || null,
    d.seller.country ? COUNTRIES.of(d.seller.country) : null,
  ])
    if (l) doc.text(l, { width: 260 });
  if (d.seller.vat_id) doc.text(`VAT ID: ${d.seller.vat_id}`, { width: 260 });
  const sellerBottom = doc.y;

  // Document facts, on the right
  doc.font('bold').fontSize(18).text(title, 330, 50, { width: 215, align: 'right' });
  doc.font('body').fontSize(9);
  const facts: [string, string][] = [
    [`${title} number`, issued.number],
    ['Date', day(issued.issued_at)],
    ['Order', d.order_id],
  ];
  if (d.corrects)
    facts.push(['Corrects invoice', d.corrects.number], ['Invoice date', day(d.corrects.issued_at)]);
  if (d.replaces)
    facts.push(['Replaces invoice', d.replaces.number], ['Invoice date', day(d.replaces.issued_at)]);
  for (const [k, v] of facts) doc.text(`${k}: ${v}`, 330, doc.y, { width: 215, align: 'right' });

  // Buyer and event
  let y = Math.max(sellerBottom, doc.y) + 25;
  doc.font('bold').fontSize(10).text('Bill to', PAGE.left, y);
  doc.font('body').fontSize(9).text(d.buyer.name).text(d.buyer.email);
  const buyerBottom = doc.y;
  doc.font('bold').fontSize(10).text('Event', 300, y, { width: 245 });
  doc.font('body').fontSize(9).text(d.event.name, 300, doc.y, { width: 245 });
  doc.text(when(d.event.starts_at, d.event.timezone), { width: 245 });
  if (d.event.venue) doc.text(d.event.venue, { width: 245 });
  y = Math.max(buyerBottom, doc.y) + 25;

  // Lines
  const header = () => {
    doc.font('bold').fontSize(8);
    for (const c of COLUMNS) doc.text(c.title, c.x, y, { width: c.width, align: c.align });
    y += 14;
    doc
      .moveTo(PAGE.left, y - 3)
      .lineTo(PAGE.right, y - 3)
      .lineWidth(0.5)
      .stroke();
    doc.font('body').fontSize(8);
  };
  header();
  for (const l of d.lines) {
    const cells = [
      l.description,
      String(l.quantity),
      money(l.unit_amount),
      formatRate(l.tax_rate),
      money(l.net),
      money(l.tax),
      money(l.gross),
    ];
    const height = Math.max(...cells.map((t, i) => doc.heightOfString(t, { width: COLUMNS[i]!.width })));
    if (y + height > PAGE.bottom) {
      doc.addPage();
      y = 50;
      header();
    }
    cells.forEach((t, i) => {
      const c = COLUMNS[i]!;
      doc.text(t, c.x, y, { width: c.width, align: c.align });
    });
    y += height + 4;
  }
  doc.moveTo(PAGE.left, y).lineTo(PAGE.right, y).lineWidth(0.5).stroke();
  y += 10;

  // Totals per rate, then overall
  if (y + 40 + 12 * d.totals.length > PAGE.bottom) {
    doc.addPage();
    y = 50;
  }
  doc.font('body').fontSize(8);
  for (const t of d.totals) {
    const cells = [`Subtotal at ${formatRate(t.tax_rate)}`, money(t.net), money(t.tax), money(t.gross)];
    doc.text(cells[0]!, 210, y, { width: 150, align: 'right' });
    cells.slice(1).forEach((text, i) => {
      const c = COLUMNS[4 + i]!;
      doc.text(text, c.x, y, { width: c.width, align: c.align });
    });
    y += 12;
  }
  y += 4;
  doc.font('body').fontSize(9);
  doc.text('Total net', 245, y, { width: 180, align: 'right' });
  doc.text(money(d.net), 430, y, { width: 115, align: 'right' });
  y += 13;
  doc.text('Total tax', 245, y, { width: 180, align: 'right' });
  doc.text(money(d.tax), 430, y, { width: 115, align: 'right' });
  y += 13;
  doc.font('bold').fontSize(10);
  doc.text(credit ? 'Total credited' : 'Total', 245, y, { width: 180, align: 'right' });
  doc.text(money(d.gross), 430, y, { width: 115, align: 'right' });
  y += 30;

  doc.font('body').fontSize(8);
  const notes = ['All prices include tax.'];
  if (credit) {
    if (d.reason) notes.push(`Reason: ${d.reason}`);
    notes.push('The credited amount is refunded with the original payment method.');
  } else if (d.paid_at) notes.push(`Paid on ${day(d.paid_at)} (${d.payment_method}).`);
  doc.text(notes.join('\n'), PAGE.left, y, { width: PAGE.right - PAGE.left });

  doc.end();
  return done;
}
