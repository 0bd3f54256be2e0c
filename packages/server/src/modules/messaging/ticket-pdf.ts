import PDFDocument from 'pdfkit';
import { loadFonts, pdfBytes } from '../invoices/pdf.js';
import { qrModules } from '../orders/qr.js';
import type { MessageData } from './templates.js';

// What PDF's built-in Helvetica (WinAnsi) prints. Anything else — Greek, Cyrillic, CJK names — needs DejaVu,
// which costs ~25 ms a document to embed: most tickets don't need it.
const WIN_ANSI = /^[\x20-\x7e\xa0-\xff€–—‘’“”•…\n]*$/;

/** Draws a ticket's QR code as vector squares: sharp at any print size, and no image to decode or compress. */
function drawQr(doc: PDFKit.PDFDocument, code: string, x: number, y: number, width: number): void {
  const { size, dark } = qrModules(code);
  const quiet = 4;
  const cell = width / (size + quiet * 2);
  doc.save().fillColor('black');
  for (let row = 0; row < size; row++)
    for (let col = 0; col < size; col++)
      if (dark(row, col)) doc.rect(x + (col + quiet) * cell, y + (row + quiet) * cell, cell, cell);
  doc.fill().restore();
}

/** One A4 page per ticket: event, holder, type and the QR code, large enough to scan from paper. */
export function ticketsPdf(data: MessageData): Promise<Buffer> {
  const doc = new PDFDocument({ size: 'A4', margin: 50, info: { Title: `Tickets — ${data.event.name}` } });
  const texts = [data.org.name, data.event.name, data.event.starts, data.event.venue ?? ''];
  for (const t of data.tickets ?? []) texts.push(t.holder_name, t.type_name);
  if (texts.every((t) => WIN_ANSI.test(t))) {
    doc.registerFont('body', 'Helvetica');
    doc.registerFont('bold', 'Helvetica-Bold');
  } else {
    const { body, bold } = loadFonts();
    doc.registerFont('body', body);
    doc.registerFont('bold', bold);
  }
  const done = pdfBytes(doc);
  (data.tickets ?? []).forEach((ticket, n) => {
    if (n > 0) doc.addPage();
    if (data.event.cover) {
      // The event's cover (its 16:9 card), across the top of every ticket.
      doc.image(Buffer.from(data.event.cover), 50, 50, { fit: [495, 220], align: 'center' });
      doc.y = 50 + 220 + 12;
    }
    doc.font('bold').fontSize(22).text(data.event.name);
    doc.font('body').fontSize(12).text(data.event.starts);
    if (data.event.venue) doc.text(data.event.venue);
    doc.moveDown();
    doc.font('bold').fontSize(16).text(ticket.holder_name);
    doc.font('body').fontSize(12).text(ticket.type_name);
    // A little smaller under a cover, so the page still holds it all above the footer.
    drawQr(doc, ticket.code, 50, doc.y + 20, data.event.cover ? 280 : 300);
    doc.font('body').fontSize(8).text(ticket.id, 50, 720);
    doc.text(`${data.org.name}${data.order ? ` · order ${data.order.id}` : ''}`);
  });
  doc.end();
  return done;
}
