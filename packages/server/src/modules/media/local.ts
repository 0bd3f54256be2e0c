import { execFile, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import sharp from 'sharp';
import type { MediaAssetsTable } from '../../db/schema.js';
import { ApiError } from '../../http/errors.js';
import { fetchPublic } from './fetch-url.js';
import { intake, type MediaLimits } from './intake.js';
import { PRESET_LIST, parseVariant, SIZES, SRCSET_WIDTHS, type Variant } from './presets.js';
import type { Delivery, Incoming, MediaProvider, Placement, Renditions, Stored } from './provider.js';

const run = promisify(execFile);
/** ffprobe and ffmpeg on an uploaded file: a file made to stall them is given up on. */
const TOOL_LIMIT = { timeout: 30_000, killSignal: 'SIGKILL' as const };

/** Whether a program is on the PATH (asked once: ffmpeg for video poster frames). */
const onPath = (() => {
  const known = new Map<string, boolean>();
  return (program: string) => {
    let has = known.get(program);
    if (has === undefined) {
      has = spawnSync(program, ['-version'], { stdio: 'ignore' }).status === 0;
      known.set(program, has);
    }
    return has;
  };
})();

type OutFormat = 'avif' | 'webp' | 'jpeg' | 'png';
const CONTENT_TYPE: Record<OutFormat, string> = {
  avif: 'image/avif',
  webp: 'image/webp',
  jpeg: 'image/jpeg',
  png: 'image/png',
};
const VIDEO_TYPE: Record<string, string> = { mp4: 'video/mp4', mov: 'video/quicktime', webm: 'video/webm' };
const IMMUTABLE = 'public, max-age=31536000, immutable';
const PATH = /^\/media\/(med_[0-9a-hjkmnp-tv-z]{26})\/v([\w-]{1,64})\/([\w.]{1,40})$/;
/** A memory-cached copy is trusted this long before the asset is looked up again (another process may delete it). */
const RECHECK_MS = 60_000;

interface Cached {
  body: Buffer;
  type: string;
  etag: string;
  checked: number;
}

/**
 * The embedded default: originals on disk under `$TICKETS_DATA_DIR/media/originals/<org>/<id>`, served
 * by this server at `/media/<id>/v<version>/<preset>` — made by sharp on first request (resized,
 * cropped around what draws the eye, EXIF orientation applied and every metadata block, GPS included,
 * left out), in the best format the browser's Accept takes (AVIF, WebP, else JPEG/PNG), cached on disk
 * and, while small, in memory. Originals of images are never served (their metadata is the buyer's
 * photographer's business); a video is served as uploaded, with ranges.
 */
export class LocalStore implements MediaProvider {
  readonly kind = 'local' as const;
  private readonly memory = new Map<string, Cached>();
  private memoryBytes = 0;
  private readonly making = new Map<string, Promise<{ body: Buffer; type: string }>>();

  constructor(
    private readonly dir: string,
    private readonly limits: MediaLimits & { allowPrivateUrls: boolean },
    /** Where browsers reach this server (set once it listens, unless configured). */
    private readonly baseUrl: () => string,
    /** The asset an URL names, whatever its organization (delivery URLs are public, like a CDN's). */
    private readonly find: (id: string) => Promise<MediaAssetsTable | undefined>,
    private readonly memoryLimit = 64 * 1024 * 1024,
  ) {}

  private original(a: { org_id: string; id: string }): string {
    return join(this.dir, 'originals', a.org_id, a.id);
  }
  private poster(a: { org_id: string; id: string }): string {
    return join(this.dir, 'originals', a.org_id, `${a.id}.poster.jpg`);
  }

  async put(up: Incoming): Promise<Stored> {
    const at = { org_id: up.orgId, id: up.id };
    const final = this.original(at);
    const tmp = join(this.dir, 'tmp', `${up.id}.${randomUUID()}`);
    await mkdir(join(this.dir, 'tmp'), { recursive: true });
    await mkdir(join(this.dir, 'originals', up.orgId), { recursive: true });
    try {
      await pipeline(up.stream, createWriteStream(tmp, { mode: 0o600 }));
      const { bytes, hash } = up.done();
      let { width, height } = up.sniffed;
      if (up.sniffed.resourceType === 'image' && up.sniffed.format !== 'heic') {
        // The header said what it is; now ask the decoder (a file that only starts like an image fails).
        try {
          // A whole decode (to a thumbnail's size): an image cut short passes a header check, then
          // fails every request for it.
          await sharp(tmp, { limitInputPixels: this.limits.maxPixels, failOn: 'truncated' })
            .resize(200, 200, { fit: 'inside' })
            .raw()
            .toBuffer();
          const meta = await sharp(tmp, { limitInputPixels: this.limits.maxPixels }).metadata();
          if (meta.width && meta.height) {
            const turned = (meta.orientation ?? 1) >= 5;
            width = turned ? meta.height : meta.width;
            height = turned ? meta.width : meta.height;
          }
        } catch (err) {
          throw new ApiError(
            415,
            'unreadable_image',
            `The image could not be decoded: ${(err as Error).message}`,
          );
        }
      }
      await rename(tmp, final);
      const notes: string[] = [];
      let duration: number | null = null;
      let renditions: Renditions | null = null;
      if (up.sniffed.resourceType === 'video') {
        const probed = await this.probeVideo(final, this.poster(at));
        ({ duration, width, height } = {
          ...probed,
          width: probed.width ?? width,
          height: probed.height ?? height,
        });
        renditions = { poster: probed.poster ? 'poster.jpg' : null, mp4: null, hls: null };
        notes.push(...probed.notes);
      }
      if (up.sniffed.format === 'heic')
        notes.push(
          'HEIC is stored as uploaded; this server cannot decode it to make its presets (use Cloudinary).',
        );
      return {
        providerId: `${up.orgId}/${up.id}`,
        version: hash.slice(0, 12),
        resourceType: up.sniffed.resourceType,
        format: up.sniffed.format,
        width,
        height,
        bytes,
        hash,
        duration,
        status: 'ready',
        renditions,
        notes,
      };
    } catch (err) {
      await rm(tmp, { force: true });
      await rm(final, { force: true });
      throw err;
    }
  }

  async fetchUrl(url: string, at: Placement): Promise<Stored> {
    const body = await fetchPublic(url, this.limits.allowPrivateUrls);
    try {
      const checked = await intake(body, this.limits);
      return await this.put({ ...at, ...checked });
    } catch (err) {
      // The origin failing mid-body is the URL's fault, not ours.
      if (err instanceof ApiError) throw err;
      throw new ApiError(
        422,
        'url_unavailable',
        `${url} could not be read to its end: ${(err as Error).message}`,
      );
    } finally {
      body.destroy();
    }
  }

  /** Duration and size by ffprobe, a poster frame by ffmpeg: when they are on the PATH; said plainly when not. */
  private async probeVideo(
    file: string,
    posterFile: string,
  ): Promise<{
    duration: number | null;
    width: number | null;
    height: number | null;
    poster: boolean;
    notes: string[];
  }> {
    const notes: string[] = [];
    let duration: number | null = null;
    let width: number | null = null;
    let height: number | null = null;
    if (onPath('ffprobe')) {
      try {
        const { stdout } = await run(
          'ffprobe',
          [
            '-v',
            'error',
            '-select_streams',
            'v:0',
            '-show_entries',
            'stream=width,height:format=duration',
            '-of',
            'json',
            file,
          ],
          TOOL_LIMIT,
        );
        const out = JSON.parse(stdout) as {
          streams?: { width?: number; height?: number }[];
          format?: { duration?: string };
        };
        width = out.streams?.[0]?.width ?? null;
        height = out.streams?.[0]?.height ?? null;
        duration = out.format?.duration ? Number(out.format.duration) : null;
      } catch {
        notes.push('ffprobe could not read the video: its duration and size are unknown.');
      }
    } else notes.push("No duration or size: ffprobe is not on this server's PATH.");
    let poster = false;
    if (onPath('ffmpeg')) {
      try {
        await run(
          'ffmpeg',
          ['-v', 'error', '-y', '-ss', '1', '-i', file, '-frames:v', '1', posterFile],
          TOOL_LIMIT,
        );
        poster = true;
      } catch {
        try {
          await run('ffmpeg', ['-v', 'error', '-y', '-i', file, '-frames:v', '1', posterFile], TOOL_LIMIT);
          poster = true;
        } catch {
          notes.push('ffmpeg could not take a poster frame from the video.');
        }
      }
    } else notes.push("No poster frame: ffmpeg is not on this server's PATH.");
    return { duration, width, height, poster, notes };
  }

  async remove(asset: MediaAssetsTable): Promise<void> {
    await rm(this.original(asset), { force: true });
    await rm(this.poster(asset), { force: true });
    await rm(join(this.dir, 'cache', asset.id), { recursive: true, force: true });
    this.forget(asset.id);
  }

  private forget(id: string): void {
    for (const [key, entry] of this.memory)
      if (key.startsWith(`${id}/`)) {
        this.memory.delete(key);
        this.memoryBytes -= entry.body.length;
      }
  }

  delivery(asset: MediaAssetsTable): Delivery {
    const base = `${this.baseUrl()}/media/${asset.id}/v${asset.version}`;
    const renditions = asset.renditions ? (JSON.parse(asset.renditions) as Renditions) : null;
    const hasImage = asset.resource_type === 'image' ? asset.format !== 'heic' : Boolean(renditions?.poster);
    return {
      urls: hasImage
        ? (Object.fromEntries(PRESET_LIST.map((p) => [p.name, `${base}/${p.name}`])) as Delivery['urls'])
        : null,
      srcset: hasImage ? SRCSET_WIDTHS.map((w) => `${base}/w_${w} ${w}w`).join(', ') : null,
      sizes: hasImage ? SIZES : null,
      video:
        asset.resource_type === 'video'
          ? {
              original: `${base}/original.${asset.format}`,
              mp4: null,
              hls: null,
              poster: renditions?.poster ? `${base}/poster.jpg` : null,
            }
          : null,
    };
  }

  async sweep(
    before: Date,
    orgIds: string[],
    registered: (providerIds: string[]) => Promise<Set<string>>,
  ): Promise<number> {
    let removed = 0;
    const old = async (file: string) => {
      const st = await stat(file).catch(() => null);
      return st !== null && st.mtime < before;
    };
    // Uploads a crash cut short.
    const tmp = join(this.dir, 'tmp');
    for (const name of await readdir(tmp).catch(() => [] as string[]))
      if (await old(join(tmp, name))) {
        await rm(join(tmp, name), { force: true });
        removed++;
      }
    // Originals no asset names (stored, then the process died before the row was written).
    const originals = join(this.dir, 'originals');
    for (const org of orgIds) {
      const files = (await readdir(join(originals, org)).catch(() => [] as string[])).filter((f) =>
        /^med_\w+$/.test(f),
      );
      if (files.length === 0) continue;
      const known = await registered(files.map((f) => `${org}/${f}`));
      for (const f of files)
        if (!known.has(`${org}/${f}`) && (await old(join(originals, org, f)))) {
          await this.remove({ id: f, org_id: org } as MediaAssetsTable);
          removed++;
        }
    }
    return removed;
  }

  async usage(): Promise<null> {
    return null;
  }

  async render(asset: MediaAssetsTable, preset: 'card' | 'email'): Promise<Buffer | null> {
    const source = this.source(asset);
    if (!source) return null;
    const variant = parseVariant(preset)!;
    try {
      return (await this.make(asset, variant, 'jpeg', source)).body;
    } catch {
      return null;
    }
  }

  /** The file presets are made from: an image's original, a video's poster frame; null when there is none. */
  private source(asset: MediaAssetsTable): string | null {
    if (asset.resource_type === 'image') return asset.format === 'heic' ? null : this.original(asset);
    const renditions = asset.renditions ? (JSON.parse(asset.renditions) as Renditions) : null;
    return renditions?.poster ? this.poster(asset) : null;
  }

  /** Makes (once, however many ask at the same time) and caches on disk a variant in a format. */
  private make(asset: MediaAssetsTable, variant: Variant, format: OutFormat, source: string) {
    const name = variant.kind === 'preset' ? variant.preset.name : `w_${variant.width}`;
    const key = `${asset.id}/${asset.version}/${name}.${format}`;
    let pending = this.making.get(key);
    if (!pending) {
      pending = (async () => {
        const file = join(this.dir, 'cache', key);
        try {
          return { body: await readFile(file), type: CONTENT_TYPE[format] };
        } catch {
          // Not made yet.
        }
        let img = sharp(source, { limitInputPixels: this.limits.maxPixels, animated: false }).rotate();
        if (variant.kind === 'preset' && variant.preset.crop === 'fill')
          img = img.resize(variant.preset.width, variant.preset.height ?? undefined, {
            fit: 'cover',
            position: sharp.strategy.attention,
          });
        else
          img = img.resize({
            width: variant.kind === 'preset' ? variant.preset.width : variant.width,
            fit: 'inside',
            withoutEnlargement: true,
          });
        // sharp writes no metadata unless told to: EXIF (GPS, camera, owner) stays behind.
        if (format === 'avif') img = img.avif({ quality: 50, effort: 2 });
        else if (format === 'webp') img = img.webp({ quality: 80 });
        else if (format === 'png') img = img.png({ compressionLevel: 8 });
        else img = img.flatten({ background: '#ffffff' }).jpeg({ quality: 80, mozjpeg: true });
        const body = await img.toBuffer();
        await mkdir(join(this.dir, 'cache', asset.id, asset.version), { recursive: true });
        const tmp = `${file}.${randomUUID()}`;
        await writeFile(tmp, body);
        await rename(tmp, file);
        return { body, type: CONTENT_TYPE[format] };
      })().finally(() => this.making.delete(key));
      this.making.set(key, pending);
    }
    return pending;
  }

  /** Answers `GET|HEAD /media/…`; false when the path is not one of ours (the caller answers 404). */
  async serve(req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> {
    const m = PATH.exec(path);
    if (!m) return false;
    const [, id, version, name] = m as unknown as [string, string, string, string];
    const accept = String(req.headers.accept ?? '');
    const variant = parseVariant(name);
    if (variant) {
      const memoKey = `${id}/${version}/${name}/${accept.includes('image/avif') ? 'a' : accept.includes('image/webp') ? 'w' : 'o'}`;
      const hit = this.memory.get(memoKey);
      if (hit && Date.now() - hit.checked < RECHECK_MS) {
        this.answer(req, res, hit);
        return true;
      }
      const asset = await this.find(id);
      if (!asset || asset.version !== version) return false;
      const source = this.source(asset);
      if (!source) return false;
      const format = pickFormat(accept, asset.format);
      const etag = `"${version}-${name}-${format}"`;
      if (req.headers['if-none-match'] === etag) {
        // The browser has it: nothing to make.
        res.setHeader('cache-control', IMMUTABLE);
        res.setHeader('etag', etag);
        res.setHeader('vary', 'Accept');
        res.statusCode = 304;
        res.end();
        return true;
      }
      const made = await this.make(asset, variant, format, source);
      const entry: Cached = {
        ...made,
        etag,
        checked: Date.now(),
      };
      this.remember(memoKey, entry);
      res.setHeader('vary', 'Accept');
      this.answer(req, res, entry);
      return true;
    }
    const asset = await this.find(id);
    if (!asset || asset.version !== version || asset.resource_type !== 'video') return false;
    if (name === 'poster.jpg') {
      const source = this.source(asset);
      if (!source) return false;
      const body = await readFile(source);
      this.answer(req, res, { body, type: 'image/jpeg', etag: `"${version}-poster"`, checked: 0 });
      return true;
    }
    if (name !== `original.${asset.format}`) return false;
    return this.sendFile(
      req,
      res,
      this.original(asset),
      VIDEO_TYPE[asset.format] ?? 'application/octet-stream',
      `"${version}-original"`,
    );
  }

  private remember(key: string, entry: Cached): void {
    if (entry.body.length > 512 * 1024) return;
    const had = this.memory.get(key);
    if (had) {
      this.memoryBytes -= had.body.length;
      this.memory.delete(key);
    }
    this.memory.set(key, entry);
    this.memoryBytes += entry.body.length;
    // Oldest first out (Map keeps insertion order; a hit re-inserts nothing, so this is FIFO: good enough).
    for (const [k, e] of this.memory) {
      if (this.memoryBytes <= this.memoryLimit) break;
      this.memory.delete(k);
      this.memoryBytes -= e.body.length;
    }
  }

  private answer(req: IncomingMessage, res: ServerResponse, entry: Cached): void {
    res.setHeader('cache-control', IMMUTABLE);
    res.setHeader('etag', entry.etag);
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('vary', 'Accept');
    if (req.headers['if-none-match'] === entry.etag) {
      res.statusCode = 304;
      res.end();
      return;
    }
    res.statusCode = 200;
    res.setHeader('content-type', entry.type);
    res.setHeader('content-length', entry.body.length);
    res.end(req.method === 'HEAD' ? undefined : entry.body);
  }

  /** A file with HTTP ranges (a video player seeks by them). */
  private async sendFile(
    req: IncomingMessage,
    res: ServerResponse,
    file: string,
    type: string,
    etag: string,
  ): Promise<boolean> {
    const size = await stat(file).then(
      (st) => st.size,
      () => null,
    );
    if (size === null) return false;
    res.setHeader('cache-control', IMMUTABLE);
    res.setHeader('etag', etag);
    res.setHeader('accept-ranges', 'bytes');
    res.setHeader('content-type', type);
    res.setHeader('x-content-type-options', 'nosniff');
    if (req.headers['if-none-match'] === etag) {
      res.statusCode = 304;
      res.end();
      return true;
    }
    // One range (what players ask for); anything else is ignored and the whole file answered (RFC 9110).
    let start = 0;
    let end = size - 1;
    const r = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range?.trim() ?? '');
    const from = r?.[1] ? Number(r[1]) : null;
    const to = r?.[2] ? Number(r[2]) : null;
    const asked =
      r !== null && (from !== null || to !== null) && (from === null || to === null || to >= from);
    if (asked) {
      if (from === null) start = Math.max(0, size - (to as number));
      else {
        start = from;
        end = to === null ? size - 1 : Math.min(to, size - 1);
      }
      // Past the end, or the last 0 bytes: nothing of it can be sent.
      if (start >= size || (from === null && to === 0)) {
        res.statusCode = 416;
        res.setHeader('content-range', `bytes */${size}`);
        res.end();
        return true;
      }
      res.statusCode = 206;
      res.setHeader('content-range', `bytes ${start}-${end}/${size}`);
    } else res.statusCode = 200;
    res.setHeader('content-length', end - start + 1);
    if (req.method === 'HEAD' || size === 0) {
      res.end();
      return true;
    }
    await pipeline(createReadStream(file, { start, end }), res).catch(() => res.destroy());
    return true;
  }
}

/** f_auto: AVIF when the browser takes it, else WebP, else what the original was like (PNG keeps transparency). */
export function pickFormat(accept: string, original: string): OutFormat {
  if (/\bimage\/avif\b/.test(accept)) return 'avif';
  if (/\bimage\/webp\b/.test(accept)) return 'webp';
  return original === 'png' || original === 'gif' ? 'png' : 'jpeg';
}
