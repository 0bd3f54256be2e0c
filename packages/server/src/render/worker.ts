/**
 * What the render pool's threads run (see pool.ts): drawing PDFs and QR images, pure CPU work on plain
 * data, kept off the thread that answers requests. Each export takes one argument, as Piscina passes it.
 */
import { setPriority } from 'node:os';
import { renderEml } from '../integrations/email.js';
import type { IssuedDocument } from '../modules/invoices/pdf.js';
import { renderPdf } from '../modules/invoices/pdf.js';
import type { MessageData } from '../modules/messaging/templates.js';
import { ticketsPdf as drawTickets } from '../modules/messaging/ticket-pdf.js';
import type { EmailMessage } from '../modules/messaging/transport.js';
import { qrPng as drawPng, qrSvg as drawSvg } from '../modules/orders/qr.js';

// Rendering is background work: at a lower priority, so on a small machine the thread that answers
// requests gets a core first (on Linux a thread's nice value is its own; elsewhere this may be refused).
// 10, not 19: at 19 a busy machine starved it (~1.5% of a core against one busy process), and messages
// waited seconds to be drawn; at 10 it still gets only about a tenth of a core the request thread wants.
try {
  setPriority(10);
} catch {}

export const ticketsPdf = (data: MessageData): Promise<Buffer> => drawTickets(data);
export const invoicePdf = (issued: IssuedDocument): Promise<Buffer> => renderPdf(issued);
export const qrPng = ({ code, size }: { code: string; size?: number }): Promise<Buffer> =>
  drawPng(code, size);
export const qrSvg = ({ code, size }: { code: string; size?: number }): Promise<Buffer> =>
  drawSvg(code, size);
// Attachments arrive as plain Uint8Arrays (structured clone); nodemailer wants Buffers.
export const eml = (message: EmailMessage): Promise<Buffer> =>
  renderEml({
    ...message,
    attachments: message.attachments.map((a) => ({
      ...a,
      content: Buffer.from(a.content.buffer, a.content.byteOffset, a.content.byteLength),
    })),
  });
