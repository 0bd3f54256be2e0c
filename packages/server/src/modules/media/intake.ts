import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { fileTypeFromBuffer } from 'file-type';
import { imageSize } from 'image-size';
import { ApiError } from '../../http/errors.js';

/**
 * What may be uploaded, by the type its bytes say (never its name or the Content-Type a client sent):
 * the image formats browsers and phones make, and the video containers browsers play. No SVG (it can
 * carry scripts), no PDF, nothing else.
 */
const ACCEPTED: Record<string, { resourceType: 'image' | 'video'; format: string }> = {
  'image/jpeg': { resourceType: 'image', format: 'jpg' },
  'image/png': { resourceType: 'image', format: 'png' },
  'image/webp': { resourceType: 'image', format: 'webp' },
  'image/avif': { resourceType: 'image', format: 'avif' },
  'image/gif': { resourceType: 'image', format: 'gif' },
  'image/heic': { resourceType: 'image', format: 'heic' },
  'image/heif': { resourceType: 'image', format: 'heic' },
  'video/mp4': { resourceType: 'video', format: 'mp4' },
  'video/quicktime': { resourceType: 'video', format: 'mov' },
  'video/webm': { resourceType: 'video', format: 'webm' },
};

export const ACCEPTED_FORMATS = 'JPEG, PNG, WebP, AVIF, GIF, HEIC images and MP4, MOV, WebM video';

/** The first bytes file-type needs to name a type. */
const SNIFF_BYTES = 4100;
/** How far into an image its dimensions are looked for (a JPEG's EXIF block may come first): bounded memory. */
const DIMENSION_BYTES = 1024 * 1024;

export interface MediaLimits {
  maxImageBytes: number;
  maxVideoBytes: number;
  maxPixels: number;
}

export interface Sniffed {
  resourceType: 'image' | 'video';
  format: string;
  mime: string;
  width: number | null;
  height: number | null;
}

export interface Intake {
  sniffed: Sniffed;
  /** The whole file, head included, as it arrives: fails with a 413 past the size limit for its type. */
  stream: Readable;
  /** Its size and SHA-256, once `stream` has ended. */
  done(): { bytes: number; hash: string };
}

const mb = (n: number) => `${Math.round((n / 1024 / 1024) * 10) / 10} MB`;

export function tooLarge(kind: 'image' | 'video', limit: number): ApiError {
  return new ApiError(
    413,
    'file_too_large',
    `The ${kind} is larger than ${mb(limit)}, the most this server takes for ${kind === 'image' ? 'images' : 'video'}.`,
  );
}

/** Checks a type and an image's dimensions against what is accepted; throws the 415 or 413 that says why. */
export function accept(
  mime: string | undefined,
  dims: { width: number | null; height: number | null },
  limits: MediaLimits,
  what = 'The file',
): { resourceType: 'image' | 'video'; format: string } {
  const known = mime ? ACCEPTED[mime] : undefined;
  if (!known)
    throw new ApiError(
      415,
      'unsupported_media_type',
      mime === 'application/xml' || mime === 'image/svg+xml'
        ? `${what} is SVG, which is not accepted (it can carry scripts); send ${ACCEPTED_FORMATS}.`
        : `${what} is ${mime ? `of type ${mime}` : 'of no type we recognise'}; send ${ACCEPTED_FORMATS}.`,
    );
  if (known.resourceType === 'image') {
    if (!dims.width || !dims.height)
      throw new ApiError(
        415,
        'unreadable_image',
        `${what}'s dimensions could not be read: it is not a whole image.`,
      );
    const pixels = dims.width * dims.height;
    if (pixels > limits.maxPixels)
      throw new ApiError(
        413,
        'too_many_pixels',
        `${what} is ${dims.width}×${dims.height} pixels (${Math.round(pixels / 1e6)} megapixels); the most this server takes is ${Math.round(limits.maxPixels / 1e6)} megapixels.`,
      );
  }
  return known;
}

/**
 * Reads the head of an upload to learn what it is (file-type on its bytes; an image's dimensions from
 * its header, so a pixel bomb is refused before a byte is stored), then hands on the whole file as a
 * stream that counts and hashes it and fails past the size limit for its type. Nothing is buffered
 * beyond the head (at most 1 MB for an image, 4 KB for video).
 */
export async function intake(source: AsyncIterable<Buffer>, limits: MediaLimits): Promise<Intake> {
  const it = source[Symbol.asyncIterator]();
  const chunks: Buffer[] = [];
  let size = 0;
  let ended = false;
  const pull = async () => {
    const next = await it.next();
    if (next.done) {
      ended = true;
      return;
    }
    const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value);
    chunks.push(chunk);
    size += chunk.length;
  };
  while (!ended && size < SNIFF_BYTES) await pull();
  if (size === 0) throw new ApiError(400, 'empty_file', 'The file is empty.');
  const type = await fileTypeFromBuffer(Buffer.concat(chunks));
  const known = type ? ACCEPTED[type.mime] : undefined;
  let width: number | null = null;
  let height: number | null = null;
  if (known?.resourceType === 'image') {
    // Tried again only once the head has doubled: a header sent in tiny pieces costs no more than
    // a few parses (never one per piece).
    let triedAt = 0;
    for (;;) {
      if (size < triedAt * 2 && !ended && size < DIMENSION_BYTES) {
        await pull();
        continue;
      }
      triedAt = size;
      try {
        const dims = imageSize(Buffer.concat(chunks));
        width = dims.width ?? null;
        height = dims.height ?? null;
        if (dims.orientation && dims.orientation >= 5) [width, height] = [height, width];
        break;
      } catch {
        // The header runs past what has arrived: read on, up to DIMENSION_BYTES.
        if (ended || size >= DIMENSION_BYTES) break;
        await pull();
      }
    }
  }
  const accepted = accept(type?.mime, { width, height }, limits);
  const limit = accepted.resourceType === 'image' ? limits.maxImageBytes : limits.maxVideoBytes;
  if (size > limit) throw tooLarge(accepted.resourceType, limit);

  const hash = createHash('sha256');
  let total = 0;
  let finished = false;
  const head = Buffer.concat(chunks);
  async function* whole(): AsyncGenerator<Buffer> {
    hash.update(head);
    total = head.length;
    yield head;
    if (!ended)
      for (;;) {
        const next = await it.next();
        if (next.done) break;
        const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value);
        total += chunk.length;
        if (total > limit) throw tooLarge(accepted.resourceType, limit);
        hash.update(chunk);
        yield chunk;
      }
    finished = true;
  }
  let digest: string | undefined;
  return {
    sniffed: { ...accepted, mime: type!.mime, width, height },
    stream: Readable.from(whole(), { objectMode: false }),
    done() {
      if (!finished) throw new Error('the upload has not been read to its end');
      digest ??= hash.digest('hex');
      return { bytes: total, hash: digest };
    },
  };
}
