import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';

/**
 * Files for the media tests, made here rather than committed: real images drawn by sharp (a gradient,
 * so crops and sizes show), and the smallest containers file-type names as video (the local store
 * doesn't decode video, and the Cloudinary fake doesn't either).
 */
export async function image(
  format: 'jpeg' | 'png' | 'webp' | 'avif' | 'gif',
  width = 1600,
  height = 900,
): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      raw[i] = (x * 255) / width;
      raw[i + 1] = (y * 255) / height;
      raw[i + 2] = 128;
    }
  const img = sharp(raw, { raw: { width, height, channels: 3 } });
  return img.toFormat(format, format === 'avif' ? { effort: 0 } : {}).toBuffer();
}

/** A JPEG carrying EXIF with a GPS position and a camera owner (what must not be served). */
export async function jpegWithGps(): Promise<Buffer> {
  return sharp(await image('jpeg', 800, 600))
    .withExif({
      IFD0: { Copyright: 'Ann Photographer', Artist: 'Ann Photographer' },
      IFD3: {
        GPSLatitudeRef: 'N',
        GPSLatitude: '52/1 31/1 0/1',
        GPSLongitudeRef: 'E',
        GPSLongitude: '13/1 24/1 0/1',
      },
    })
    .jpeg()
    .toBuffer();
}

/** Noise compresses badly: a JPEG of about `kb` kilobytes. */
export async function largeJpeg(kb: number): Promise<Buffer> {
  const side = Math.ceil(Math.sqrt((kb * 1024) / 1.2));
  const raw = Buffer.alloc(side * side * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 2654435761) >>> 24;
  return sharp(raw, { raw: { width: side, height: side, channels: 3 } })
    .jpeg({ quality: 100 })
    .toBuffer();
}

function crc32(buf: Buffer): number {
  let c = ~0;
  for (const byte of buf) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/**
 * A decompression bomb: a valid PNG of a few hundred bytes whose header says 100,000 × 100,000 pixels
 * (ten gigapixels: 30 GB decoded). Only the first rows are there; no decoder should be asked to try.
 */
export function pixelBomb(side = 100_000): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(side, 0);
  ihdr.writeUInt32BE(side, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(side * 3 + 1))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

function box(type: string, payload: Buffer): Buffer {
  const size = Buffer.alloc(4);
  size.writeUInt32BE(8 + payload.length);
  return Buffer.concat([size, Buffer.from(type, 'ascii'), payload]);
}

/** An ISO-BMFF file (MP4, MOV) of the given brand: ftyp, then an mdat of `bytes` filler. */
export function isoVideo(brand: 'isom' | 'qt  ', bytes = 64 * 1024): Buffer {
  const ftyp = box(
    'ftyp',
    Buffer.concat([Buffer.from(brand, 'ascii'), Buffer.alloc(4), Buffer.from(`${brand}mp41`, 'ascii')]),
  );
  const filler = Buffer.alloc(bytes);
  for (let i = 0; i < filler.length; i++) filler[i] = i % 251;
  return Buffer.concat([ftyp, box('mdat', filler)]);
}

/** A WebM file's EBML header (DocType webm), then filler. */
export function webm(bytes = 16 * 1024): Buffer {
  const docType = Buffer.concat([Buffer.from([0x42, 0x82, 0x84]), Buffer.from('webm', 'ascii')]);
  const header = Buffer.concat([Buffer.from([0x1a, 0x45, 0xdf, 0xa3, 0x80 | docType.length]), docType]);
  return Buffer.concat([header, Buffer.alloc(bytes, 7)]);
}

/** An executable (ELF) — what a "poster.jpg" might really be. */
export function elf(): Buffer {
  return Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]), Buffer.alloc(4096, 0x90)]);
}

export const SVG = Buffer.from(
  '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="100" height="100"><script>alert(1)</script><rect width="100" height="100"/></svg>',
);

/** A multipart/form-data body (what a browser's FormData sends) with one file and some fields. */
export function form(
  file: Buffer,
  name = 'poster.jpg',
  type = 'image/jpeg',
  fields: Record<string, string> = {},
): FormData {
  const f = new FormData();
  for (const [k, v] of Object.entries(fields)) f.append(k, v);
  f.append('file', new Blob([file], { type }), name);
  return f;
}

/**
 * The skeleton of a HEIC photo (what an iPhone sends): ftyp `heic`, and the `meta` box's item properties
 * with the image's size (`ispe`). No HEVC data: enough for type and size, which is all that is checked
 * before a byte is stored; the local store can't decode HEIC anyway (it says so in the asset's notes).
 */
export function heicSkeleton(width = 4032, height = 3024): Buffer {
  const ftyp = box(
    'ftyp',
    Buffer.concat([Buffer.from('heic', 'ascii'), Buffer.alloc(4), Buffer.from('mif1heic', 'ascii')]),
  );
  const ispe = Buffer.alloc(12);
  ispe.writeUInt32BE(width, 4);
  ispe.writeUInt32BE(height, 8);
  const ipco = box('ipco', box('ispe', ispe));
  const meta = box(
    'meta',
    Buffer.concat([
      Buffer.alloc(4),
      box('hdlr', Buffer.concat([Buffer.alloc(8), Buffer.from('pict', 'ascii'), Buffer.alloc(13)])),
      box('iprp', ipco),
    ]),
  );
  return Buffer.concat([ftyp, meta, box('mdat', Buffer.alloc(2048, 1))]);
}

/** A web server on loopback answering a 640×360 PNG at /poster.png (for from-url), 404 elsewhere. */
export async function startOrigin(): Promise<{ url: string; close(): void }> {
  const png = await image('png', 640, 360);
  const server = createServer((req, res) => {
    if (req.url === '/poster.png') res.writeHead(200, { 'content-type': 'image/png' }).end(png);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() };
}
