/**
 * Reading our own output back the way a user's device would: QR codes through real barcode decoders,
 * PDFs through a real PDF text extractor. Pure JavaScript (what `pnpm install` brings), so the suite
 * needs no Debian packages (zbarimg, pdftotext) and runs on any machine with Node.
 */
import {
  BarcodeFormat,
  BinaryBitmap,
  DecodeHintType,
  HybridBinarizer,
  NotFoundException,
  QRCodeReader,
  RGBLuminanceSource,
} from '@zxing/library';
import jsQRModule from 'jsqr';
import { getDocument } from 'pdfjs-dist/legacy/build/pdf.mjs';
import type { TextItem } from 'pdfjs-dist/types/src/display/api.js';
import { PNG } from 'pngjs';

// jsqr is CommonJS typed as an ES module: Node hands us module.exports, which is the function (and also
// has it as .default, which is what TypeScript believes the default import is).
const jsQR = jsQRModule.default;

/** RGBA pixels, as a decoder takes them. */
export interface Bitmap {
  data: Uint8ClampedArray;
  width: number;
  height: number;
}

/** Decodes a PNG into RGBA pixels (pngjs), transparency composited onto white as a screen shows it. */
export function pngPixels(png: Buffer): Bitmap {
  const image = PNG.sync.read(png);
  const data = new Uint8ClampedArray(image.data.length);
  for (let i = 0; i < image.data.length; i += 4) {
    const alpha = image.data[i + 3]! / 255;
    for (let c = 0; c < 3; c++) data[i + c] = Math.round(image.data[i + c]! * alpha + 255 * (1 - alpha));
    data[i + 3] = 255;
  }
  return { data, width: image.width, height: image.height };
}

/**
 * A grid of modules (true = dark) drawn as a black-on-white bitmap, `scale` pixels a module, with a
 * quiet zone of `margin` light modules around it (a decoder needs one to find the symbol).
 */
export function modulesBitmap(dark: boolean[][], scale = 6, margin = 4): Bitmap {
  const modules = Math.max(...dark.map((r) => r.length)) + margin * 2;
  const rows = dark.length + margin * 2;
  const width = modules * scale;
  const height = rows * scale;
  const data = new Uint8ClampedArray(width * height * 4).fill(255);
  for (let y = 0; y < dark.length; y++) {
    const row = dark[y]!;
    for (let x = 0; x < row.length; x++) {
      if (!row[x]) continue;
      for (let py = 0; py < scale; py++) {
        const start = ((y + margin) * scale + py) * width + (x + margin) * scale;
        for (let px = 0; px < scale; px++) data.fill(0, (start + px) * 4, (start + px) * 4 + 3);
      }
    }
  }
  return { data, width, height };
}

const asBitmap = (image: Buffer | Bitmap): Bitmap => (Buffer.isBuffer(image) ? pngPixels(image) : image);

/** The text of the QR code in an image (jsQR), or '' when it holds none. */
export function readQr(image: Buffer | Bitmap): string {
  const { data, width, height } = asBitmap(image);
  return jsQR(data, width, height, { inversionAttempts: 'dontInvert' })?.data ?? '';
}

/**
 * The same, through ZXing: a second decoder written independently of jsQR (and of the `qrcode` encoder),
 * so a bug shared by our encoder and one decoder can't pass unnoticed. PURE_BARCODE because our images
 * are computer-drawn, square and unrotated: zxing-js's finder-pattern search (for photos) misses about
 * one in seven of them at 8 pixels a module, while its pure-barcode path read 300 of 300.
 */
export function readQrWithZxing(image: Buffer | Bitmap): string {
  const { data, width, height } = asBitmap(image);
  const luminance = new Uint8ClampedArray(width * height);
  for (let i = 0; i < luminance.length; i++) {
    luminance[i] = (data[i * 4]! * 299 + data[i * 4 + 1]! * 587 + data[i * 4 + 2]! * 114) / 1000;
  }
  const bitmap = new BinaryBitmap(new HybridBinarizer(new RGBLuminanceSource(luminance, width, height)));
  const hints = new Map<DecodeHintType, unknown>([
    [DecodeHintType.POSSIBLE_FORMATS, [BarcodeFormat.QR_CODE]],
    [DecodeHintType.TRY_HARDER, true],
    [DecodeHintType.PURE_BARCODE, true],
  ]);
  try {
    return new QRCodeReader().decode(bitmap, hints).getText();
  } catch (err) {
    if (err instanceof NotFoundException) return '';
    throw err;
  }
}

/**
 * A PDF's text as a reader sees it, page after page (pdf.js): the pieces of text that share a baseline
 * joined left to right into one line (so a table row stays on one line, as `pdftotext -layout` keeps it),
 * lines top to bottom, runs of spaces squeezed to one.
 */
export async function pdfText(pdf: Buffer | Uint8Array): Promise<string> {
  const doc = await getDocument({
    data: new Uint8Array(pdf),
    useSystemFonts: false,
    isEvalSupported: false,
    verbosity: 0,
  }).promise;
  try {
    const pages: string[] = [];
    for (let n = 1; n <= doc.numPages; n++) {
      const page = await doc.getPage(n);
      const items = (await page.getTextContent()).items.filter(
        (item): item is TextItem => 'str' in item && item.str.trim() !== '',
      );
      // Baselines within 2 points are one line (a bold run may sit a fraction higher or lower).
      const lines: { y: number; items: TextItem[] }[] = [];
      for (const item of items) {
        const y = item.transform[5]!;
        const line = lines.find((l) => Math.abs(l.y - y) < 2);
        if (line) line.items.push(item);
        else lines.push({ y, items: [item] });
      }
      lines.sort((a, b) => b.y - a.y);
      pages.push(
        lines
          .map((l) =>
            l.items
              .sort((a, b) => a.transform[4]! - b.transform[4]!)
              .map((i) => i.str)
              .join(' ')
              .replace(/[ \t]+/g, ' ')
              .trim(),
          )
          .join('\n'),
      );
    }
    return `${pages.join('\n\f')}\n`;
  } finally {
    await doc.destroy();
  }
}
