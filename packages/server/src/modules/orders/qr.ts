import { createRequire } from 'node:module';
import QRCode from 'qrcode';
import { memoize } from '../../memo.js';

/** qrcode's PNG renderer, which draws a symbol already made (its toBuffer would make it again). */
const pngRenderer = createRequire(import.meta.url)('qrcode/lib/renderer/png.js') as {
  renderToBuffer(
    symbol: QRCode.QRCode,
    options: QRCode.QRCodeToBufferOptions,
    done: (err: Error | null, png: Buffer) => void,
  ): void;
};

/** Large enough to scan from a phone held up to a door scanner in bad light; small enough to send. */
export const DEFAULT_QR_SIZE = 512;
/** The four-module light border the QR standard asks for: scanners find the code by it. */
const QUIET_ZONE = 4;

// M recovers from ~15% damage (a cracked screen, a crease in a printout) and keeps a 154-character code
// at version 9 (53×53 modules), whose modules stay large at any size a phone shows.
// One byte-mode segment: left to itself the encoder splits a code into numeric/alphanumeric runs
// depending on its random characters, so the symbol's size would vary from ticket to ticket.
const segments = (code: string) => [{ data: Buffer.from(code, 'utf8'), mode: 'byte' as const }];
// Choosing the best of eight masks is the costly part of encoding; a ticket's symbol is wanted several times (the
// PNG's scale, the PNG, the PDF), so the last couple of thousand are kept. A new code (transfer) is a new key.
const symbol = memoize(2000, (code) => QRCode.create(segments(code), { errorCorrectionLevel: 'M' }));

/**
 * Whole pixels per module, the most that fit in `size` (at least one): fractional modules blur at
 * their edges, which some scanners misread.
 */
function scaleFor(modules: number, size: number): number {
  return Math.max(1, Math.floor(size / (modules + QUIET_ZONE * 2)));
}

/** A ticket's code as a PNG at most `size` pixels wide (exactly, when `size` divides evenly). */
export function qrPng(code: string, size = DEFAULT_QR_SIZE): Promise<Buffer> {
  const made = symbol(code);
  const scale = scaleFor(made.modules.size, size);
  // Drawn from the kept symbol: encoding (the eight masks) was the costliest part, done once per code.
  const options: QRCode.QRCodeToBufferOptions = {
    type: 'png',
    errorCorrectionLevel: 'M',
    margin: QUIET_ZONE,
    scale,
    // Paeth on every row instead of trying all five filters per row (pngjs's default): within a few percent
    // of the size, in half the time — it was the largest cost of rendering a ticket e-mail. And zlib at
    // level 6, not 9: the same bytes for a QR image (measured: 3,999 either way), in half the time again.
    // (pngjs options qrcode passes on, which @types/qrcode does not list)
    rendererOpts: { filterType: 4, deflateLevel: 6 } as QRCode.QRCodeToBufferOptions['rendererOpts'],
  };
  return new Promise((resolve, reject) =>
    pngRenderer.renderToBuffer(made, options, (err, png) => (err ? reject(err) : resolve(png))),
  );
}

/** A ticket's code as an SVG drawn `size` pixels wide; it scales without loss when printed. */
export async function qrSvg(code: string, size = DEFAULT_QR_SIZE): Promise<Buffer> {
  const svg = await QRCode.toString(segments(code), {
    type: 'svg',
    errorCorrectionLevel: 'M',
    margin: QUIET_ZONE,
    width: size,
  });
  return Buffer.from(svg, 'utf8');
}

/** The code's modules (true: dark), row by row, with the size of a side: for drawing it as vectors (PDF). */
export function qrModules(code: string): { size: number; dark: (row: number, col: number) => boolean } {
  const { modules } = symbol(code);
  return { size: modules.size, dark: (row, col) => Boolean(modules.get(row, col)) };
}
