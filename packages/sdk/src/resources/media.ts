import type { RequestOptions, Tickets, UploadBody } from '../client.js';
import type { Deleted } from '../contract/common.js';
import type {
  MediaAsset,
  MediaConfirmInput,
  MediaFromUrlInput,
  MediaListQuery,
  MediaPresets,
  MediaRole,
  MediaUpdateInput,
  MediaUsage,
  UploadSignature,
  UploadSignatureInput,
} from '../contract/media.js';
import { routes } from '../contract/routes.js';
import { AutoPaginator } from '../pagination.js';

export type MediaListParams = Omit<MediaListQuery, 'starting_after'>;

/**
 * What `media.upload` sends: a file's path (Node.js only), its bytes (a Buffer or Uint8Array), a Blob
 * or File, or a stream (a Node.js Readable such as `fs.createReadStream(…)` or `process.stdin`, or a
 * web ReadableStream).
 */
export type MediaUploadSource =
  | string
  | Uint8Array
  | Blob
  | NodeJS.ReadableStream
  | ReadableStream<Uint8Array>;

/** Where an upload goes and what it is called. */
export interface MediaUploadParams {
  /** The event it belongs to (evt_…); none: the organization's (a logo). */
  event?: string;
  /** `gallery` unless said; a new `cover` replaces the event's old one. */
  role?: MediaRole;
  /** Alternative text for people who cannot see the image. */
  alt?: string;
  /** Order within its role (the gallery is shown by it). */
  position?: number;
  /** The file's name as the server sees it (default: the path's, a File's, or `upload`). */
  filename?: string;
  /** Its type, e.g. `image/jpeg` (default: a Blob's, or guessed from the name); the server reads the bytes anyway. */
  contentType?: string;
  /**
   * For a stream: how many bytes it will give, when known. It is sent as Content-Length (so the server
   * can refuse an oversized file at once) and is the progress total; a stream giving another count fails.
   */
  size?: number;
}

export interface MediaUploadOptions extends RequestOptions {
  /**
   * Called as the file's bytes go out: how many so far, and of how many (null when a stream's size is
   * unknown). Where a runtime cannot stream a request (most browsers, for a Blob), it is called at the
   * start and once the upload is done.
   */
  onProgress?: (sent: number, total: number | null) => void;
}

/** Bytes of the file, one piece at a time; `null` once they are all read. */
interface Chunks {
  next(): Promise<Uint8Array | null>;
  cancel(reason?: unknown): void;
}

interface PreparedSource {
  filename: string;
  contentType: string;
  /** Bytes of the file, when known. */
  size: number | null;
  /** It can be read again from the start (a path, bytes, a Blob): retries are safe. */
  replayable: boolean;
  open(): Chunks;
  /** The whole file as a Blob, for a runtime that cannot stream a request body (a browser). */
  blob?: Blob;
}

/** Pieces of at most this many bytes from a Buffer, so progress moves smoothly. */
const CHUNK = 64 * 1024;

const TYPES: Record<string, string> = {
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  avif: 'image/avif',
  gif: 'image/gif',
  heic: 'image/heic',
  heif: 'image/heif',
  svg: 'image/svg+xml',
  mp4: 'video/mp4',
  m4v: 'video/mp4',
  mov: 'video/quicktime',
  webm: 'video/webm',
};

type NodeFs = typeof import('node:fs');

/** node:fs without importing it, so a browser bundle of the SDK never reaches for it (see reports.ts). */
function nodeFs(): NodeFs | undefined {
  return (
    globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }
  ).process?.getBuiltinModule?.('fs') as NodeFs | undefined;
}

/**
 * Node.js (and Deno, Bun) send a stream as a request body over any HTTP; browsers mostly cannot (Chrome
 * only over HTTP/2), so there a Blob or bytes go as a Blob, which the browser reads from disk itself.
 */
const streamsRequests = () => nodeFs() !== undefined;

const isBlob = (x: unknown): x is Blob => typeof Blob !== 'undefined' && x instanceof Blob;
const isWebStream = (x: unknown): x is ReadableStream<Uint8Array> =>
  typeof (x as ReadableStream | null)?.getReader === 'function';
const isNodeStream = (x: unknown): x is NodeJS.ReadableStream =>
  typeof (x as NodeJS.ReadableStream | null)?.pipe === 'function' &&
  typeof (x as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function';

const basename = (path: string) => path.split(/[\\/]/).filter(Boolean).pop() ?? 'upload';
const typeOf = (filename: string) =>
  TYPES[/\.([^.]+)$/.exec(filename)?.[1]?.toLowerCase() ?? ''] ?? 'application/octet-stream';

const encoder = new TextEncoder();
const bytesOf = (chunk: unknown): Uint8Array =>
  typeof chunk === 'string' ? encoder.encode(chunk) : (chunk as Uint8Array);

function fromIterator(iterator: AsyncIterator<unknown>): Chunks {
  return {
    async next() {
      const { done, value } = await iterator.next();
      return done ? null : bytesOf(value);
    },
    cancel: () => void iterator.return?.().catch(() => {}),
  };
}

function fromWebStream(stream: ReadableStream<Uint8Array>): Chunks {
  const reader = stream.getReader();
  return {
    async next() {
      const { done, value } = await reader.read();
      return done ? null : value;
    },
    cancel: (reason) => void reader.cancel(reason).catch(() => {}),
  };
}

function fromBytes(bytes: Uint8Array): Chunks {
  let at = 0;
  return {
    async next() {
      if (at >= bytes.byteLength) return null;
      const piece = bytes.subarray(at, at + CHUNK);
      at += piece.byteLength;
      return piece;
    },
    cancel: () => {
      at = bytes.byteLength;
    },
  };
}

/** What to send for `source`: its name, type, size, and how to read it (again, where it can be). */
async function prepare(source: MediaUploadSource, params: MediaUploadParams): Promise<PreparedSource> {
  const named = (fallback: string | undefined) => {
    const filename = params.filename ?? fallback ?? 'upload';
    return { filename, contentType: params.contentType ?? typeOf(filename) };
  };
  if (typeof source === 'string') {
    if (/^https?:\/\//i.test(source))
      throw new TypeError(`media.upload() takes a file; for a URL use media.fromUrl({ url: '${source}' })`);
    const fs = nodeFs();
    if (!fs)
      throw new TypeError(
        'media.upload() reads a path with Node.js (20.16 or later); elsewhere pass a Blob, File or stream',
      );
    // ENOENT, EACCES…: Node's own error, naming the path.
    const stat = await fs.promises.stat(source);
    if (!stat.isFile()) throw new TypeError(`${source} is not a file`);
    return {
      ...named(basename(source)),
      size: stat.size,
      replayable: true,
      open: () => fromIterator(fs.createReadStream(source)[Symbol.asyncIterator]()),
    };
  }
  if (source instanceof Uint8Array)
    return {
      ...named(undefined),
      size: source.byteLength,
      replayable: true,
      open: () => fromBytes(source),
      blob: streamsRequests() ? undefined : new Blob([source as Uint8Array<ArrayBuffer>]),
    };
  if (isBlob(source)) {
    const file = named((source as { name?: string }).name || undefined);
    return {
      ...file,
      contentType: params.contentType ?? (source.type || file.contentType),
      size: source.size,
      replayable: true,
      open: () => fromWebStream(source.stream() as ReadableStream<Uint8Array>),
      blob: streamsRequests() ? undefined : source,
    };
  }
  if (isWebStream(source))
    return {
      ...named(undefined),
      size: params.size ?? null,
      replayable: false,
      open: () => fromWebStream(source),
    };
  if (isNodeStream(source)) {
    const file = source as Partial<{ path: unknown; bytesRead: number; start: unknown; end: unknown }>;
    const path = typeof file.path === 'string' ? file.path : undefined;
    let size = params.size ?? null;
    // A whole file not read yet (`fs.createReadStream(path)`): its size is the file's.
    if (size === null && path && file.bytesRead === 0 && file.start === undefined && file.end === Infinity)
      size =
        (
          await nodeFs()
            ?.promises.stat(path)
            .catch(() => undefined)
        )?.size ?? null;
    return {
      ...named(path ? basename(path) : undefined),
      size,
      replayable: false,
      open: () => fromIterator(source[Symbol.asyncIterator]()),
    };
  }
  throw new TypeError('media.upload() takes a path, a Buffer or Uint8Array, a Blob, or a readable stream');
}

/**
 * The part's Content-Disposition. A name outside ASCII goes as `filename*` (RFC 8187, which multipart
 * parsers such as busboy prefer), beside an ASCII `filename`; quotes and line breaks are escaped as
 * browsers do.
 */
function disposition(filename: string): string {
  const escaped = filename.replace(/"/g, '%22').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
  const ascii = escaped.replace(/[^\x20-\x7e]/g, '_');
  const extended = ascii === escaped ? '' : `; filename*=UTF-8''${encodeURIComponent(filename)}`;
  return `form-data; name="file"; filename="${ascii}"${extended}`;
}

function randomBoundary(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `----tickets-sdk-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/**
 * The multipart/form-data body of one file, `file`: made as it is read, the file's bytes passed on as
 * they come (never gathered in memory), its length known when the file's is.
 */
function multipartUpload(
  source: PreparedSource,
  onProgress?: (sent: number, total: number | null) => void,
): UploadBody {
  const boundary = randomBoundary();
  const head = encoder.encode(
    `--${boundary}\r\nContent-Disposition: ${disposition(source.filename)}\r\nContent-Type: ${source.contentType.replace(/[\r\n]/g, '')}\r\n\r\n`,
  );
  const tail = encoder.encode(`\r\n--${boundary}--\r\n`);
  const total = source.size;
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    length: total === null ? null : head.byteLength + total + tail.byteLength,
    replayable: source.replayable,
    open({ touch, fail }) {
      onProgress?.(0, total);
      if (source.blob) return new Blob([head, source.blob, tail]);
      let chunks: Chunks | undefined;
      let sent = 0;
      return new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (!chunks) {
            chunks = source.open();
            controller.enqueue(head);
            touch();
            return;
          }
          let chunk: Uint8Array | null;
          try {
            chunk = await chunks.next();
            if (chunk === null && total !== null && sent !== total)
              throw new Error(`The upload's source gave ${sent} bytes where ${total} were expected`);
          } catch (err) {
            fail(err);
            controller.error(err);
            return;
          }
          if (chunk === null) {
            controller.enqueue(tail);
            controller.close();
            return;
          }
          if (chunk.byteLength === 0) return;
          sent += chunk.byteLength;
          if (total !== null && sent > total) {
            const err = new Error(`The upload's source gave more than the ${total} bytes expected`);
            fail(err);
            chunks.cancel(err);
            controller.error(err);
            return;
          }
          controller.enqueue(chunk);
          touch();
          onProgress?.(sent, total);
        },
        cancel(reason) {
          chunks?.cancel(reason);
        },
      });
    },
  };
}

/**
 * Images and videos: events' covers and galleries, the organization's logo. Each image answers with
 * a URL per delivery preset (thumbnail, card, og, email, full) and a responsive `srcset`.
 */
export class MediaResource {
  constructor(private readonly client: Tickets) {}

  /**
   * Uploads an image or video, streamed: a file is never read into memory whole. A path is read with
   * Node.js's fs; a stream is sent once and never retried (a path, bytes or a Blob are retried like
   * any call). The server reads the type from the bytes: another is refused (415, ValidationError),
   * and so is a file over its limit (413).
   * @example
   * const cover = await tickets.media.upload('poster.jpg', { event: event.id, role: 'cover', alt: 'The band on stage' },
   *   { onProgress: (sent, total) => console.log(`${sent} of ${total} bytes`) })
   * console.log(cover.urls?.card, cover.srcset)
   * @example await tickets.media.upload(fs.createReadStream('trailer.mp4'), { event: event.id, role: 'video' })
   * @example await tickets.media.upload(input.files[0], { event: eventId }) // a File, in a web page
   */
  async upload(
    file: MediaUploadSource,
    params: MediaUploadParams = {},
    options: MediaUploadOptions = {},
  ): Promise<MediaAsset> {
    const { onProgress, ...requestOptions } = options;
    const source = await prepare(file, params);
    const asset = await this.client.requestUpload(
      routes.media.upload,
      { query: { event: params.event, role: params.role, alt: params.alt, position: params.position } },
      multipartUpload(source, onProgress),
      requestOptions,
    );
    // Sent as a Blob, the bytes went out unseen: now they are all gone.
    if (source.blob && source.size !== null) onProgress?.(source.size, source.size);
    return asset;
  }

  /**
   * Adds an image or video the provider fetches from an http(s) URL.
   * @example await tickets.media.fromUrl({ url: 'https://example.com/poster.jpg', event: event.id, role: 'cover' })
   */
  fromUrl(input: MediaFromUrlInput, options?: RequestOptions): Promise<MediaAsset> {
    return this.client.request(routes.media.fromUrl, { body: input }, options);
  }

  /**
   * The organization's media, newest first; by event and role.
   * @example for await (const m of tickets.media.list({ event: event.id, role: 'gallery' })) console.log(m.id, m.urls?.thumbnail)
   */
  list(params: MediaListParams = {}): AutoPaginator<MediaAsset> {
    return new AutoPaginator((cursor) =>
      this.client.request(routes.media.list, { query: { ...params, starting_after: cursor } }),
    );
  }

  /** One asset with its delivery URLs. @example const { urls, srcset } = await tickets.media.get('med_…') */
  get(id: string): Promise<MediaAsset> {
    return this.client.request(routes.media.get, { params: { id } });
  }

  /**
   * Changes its alt text, role or position; making one the `cover` replaces the event's old cover.
   * @example await tickets.media.update('med_…', { alt: 'The crowd at midnight', position: 0 })
   */
  update(id: string, input: MediaUpdateInput): Promise<MediaAsset> {
    return this.client.request(routes.media.update, { params: { id }, body: input });
  }

  /** Deletes an asset, at the provider too. @example await tickets.media.delete('med_…') */
  delete(id: string): Promise<Deleted> {
    return this.client.request(routes.media.delete, { params: { id } });
  }

  /**
   * Storage used: assets and bytes in all and per event, and the Cloudinary account's usage when it is on.
   * @example const { assets, bytes, events } = await tickets.media.usage()
   */
  usage(): Promise<MediaUsage> {
    return this.client.request(routes.media.usage);
  }

  /**
   * The delivery presets every image answers with, and the srcset widths.
   * @example const { data } = await tickets.media.presets()
   */
  presets(): Promise<MediaPresets> {
    return this.client.request(routes.media.presets);
  }

  /**
   * Signed parameters for a browser or app to upload straight to Cloudinary (the secret stays on the
   * server); POST the file to `upload_url` with every field, then `confirm` the id.
   * @example
   * const sig = await tickets.media.uploadSignature({ event: event.id, role: 'gallery' })
   * const form = new FormData(); for (const [k, v] of Object.entries(sig.fields)) form.append(k, v); form.append('file', file)
   * await fetch(sig.upload_url, { method: 'POST', body: form })
   * const asset = await tickets.media.confirm({ id: sig.id, event: event.id, role: 'gallery' })
   */
  uploadSignature(input: UploadSignatureInput = {}, options?: RequestOptions): Promise<UploadSignature> {
    return this.client.request(routes.media.uploadSignature, { body: input }, options);
  }

  /** Registers a direct upload once Cloudinary shows it is there. @example await tickets.media.confirm({ id: sig.id }) */
  confirm(input: MediaConfirmInput, options?: RequestOptions): Promise<MediaAsset> {
    return this.client.request(routes.media.confirm, { body: input }, options);
  }
}
