import { availableParallelism } from 'node:os';
import { sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { traced } from '../integrations/sentry.js';
import { memoize } from '../memo.js';
import type { IssuedDocument } from '../modules/invoices/pdf.js';
import type { MessageData } from '../modules/messaging/templates.js';
import type { EmailMessage } from '../modules/messaging/transport.js';
import type * as Worker from './worker.js';

/**
 * PDFs and QR images are drawn on worker threads, never on the thread that answers requests: a 500-ticket
 * order's PDF (500 pages) took over a second of the main thread, and every request waited behind it. One
 * pool per process, started at the first render; its threads exit when idle (and never keep the process
 * alive), so a process that renders nothing pays nothing.
 */
let pool: Piscina | null = null;
let threads = Math.max(1, availableParallelism() - 1);

/** The thread that runs pool.ts runs worker.js beside it. */
function workerFile(): string {
  const file = fileURLToPath(new URL('./worker.js', import.meta.url));
  // Under vitest this module runs from its TypeScript source, but a worker thread is plain Node: it loads
  // the compiled twin from dist (built by `tsc -b`, which `pnpm test` runs first).
  return import.meta.url.endsWith('.ts') ? file.replace(`${sep}src${sep}`, `${sep}dist${sep}`) : file;
}

function thePool(): Piscina {
  pool ??= new Piscina({ filename: workerFile(), minThreads: 0, maxThreads: threads, idleTimeout: 30_000 });
  return pool;
}

/** Sets how many threads render (TICKETS_RENDER_THREADS; by default one less than the cores, at least one). */
export function configureRenderPool(options: { threads?: number }): void {
  if (options.threads) threads = options.threads;
}

/** Stops the pool's threads (a server's close). A later render starts a new pool. */
export async function closeRenderPool(): Promise<void> {
  const running = pool;
  pool = null;
  await running?.destroy();
}

type Task = keyof typeof Worker;
// Buffers cross threads as plain Uint8Arrays (copied): made Buffers again here.
// Each drawing is a span of the request (or send) that asked for it, when tracing is on.
const run = <T>(name: Task, input: T): Promise<Buffer> =>
  traced(name.startsWith('qr') ? 'qr.render' : name === 'eml' ? 'mime.render' : 'pdf.render', name, () =>
    thePool()
      .run(input, { name })
      .then((u8: Uint8Array) => Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength)),
  );

/** One PDF of an order's tickets, a page each. */
export const ticketsPdf = (data: MessageData): Promise<Buffer> => run('ticketsPdf', data);

/** An issued invoice or credit note as a PDF. */
export const invoicePdf = (issued: IssuedDocument): Promise<Buffer> => run('invoicePdf', issued);

/**
 * QR images by code and size: a ticket's image is fetched again and again (a wallet page, the e-mails of an
 * order, a reprint), and a transfer gives the ticket a new code, so a kept image never shows an old one.
 */
const png = memoize(2000, (key) => {
  const [size, code] = splitKey(key);
  return run('qrPng', { code, size });
});
const svg = memoize(500, (key) => {
  const [size, code] = splitKey(key);
  return run('qrSvg', { code, size });
});
const splitKey = (key: string): [number | undefined, string] => {
  const at = key.indexOf(' ');
  const size = key.slice(0, at);
  return [size ? Number(size) : undefined, key.slice(at + 1)];
};

/** A ticket's code as a PNG at most `size` pixels wide (see orders/qr.ts). */
export const qrPng = (code: string, size?: number): Promise<Buffer> => png(`${size ?? ''} ${code}`);

/** A ticket's code as an SVG `size` pixels wide. */
export const qrSvg = (code: string, size?: number): Promise<Buffer> => svg(`${size ?? ''} ${code}`);

/**
 * A whole e-mail as MIME (nodemailer), for the local .eml outbox: base64-encoding a 500-page PDF and
 * scanning a long HTML body for its encoding took ~100 ms of the main thread per message.
 */
export const eml = (message: EmailMessage): Promise<Buffer> => run('eml', message);
