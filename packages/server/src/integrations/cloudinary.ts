import { Agent } from 'node:http';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { UploadApiOptions, UploadApiResponse, v2 } from 'cloudinary';
import type { Logger } from 'pino';
import type { MediaAssetsTable } from '../db/schema.js';
import { ApiError } from '../http/errors.js';
import { accept, type MediaLimits, tooLarge } from '../modules/media/intake.js';
import {
  cloudinaryTransformation,
  namedTransformation,
  PRESET_LIST,
  SIZES,
  SRCSET_WIDTHS,
} from '../modules/media/presets.js';
import type {
  Delivery,
  Incoming,
  MediaProvider,
  Placement,
  ProviderUsage,
  Renditions,
  Stored,
} from '../modules/media/provider.js';

type Cloudinary = typeof v2;

/** Cloudinary's answer to a failed call: the uploader's `{ message, http_code }`, the Admin API's `{ error: … }`. */
interface CloudinaryFailure {
  message?: string;
  http_code?: number;
  error?: { message?: string; http_code?: number };
}

const FORMAT_MIME: Record<string, string> = {
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  avif: 'image/avif',
  gif: 'image/gif',
  heic: 'image/heic',
  heif: 'image/heif',
  mp4: 'video/mp4',
  mov: 'video/quicktime',
  webm: 'video/webm',
};

/**
 * The renditions a video gets, made by Cloudinary asynchronously after the upload: an HLS stream
 * (Cloudinary's `hd` streaming profile), an MP4 at 720p, and a poster frame it chooses (`so_auto`).
 * Their order is the order of the notification's `eager` list.
 */
const VIDEO_EAGER = [
  { streaming_profile: 'hd', format: 'm3u8' },
  { width: 1280, height: 720, crop: 'limit', format: 'mp4' },
  { start_offset: 'auto', format: 'jpg' },
];

export interface CloudinarySettings {
  url: string;
  limits: MediaLimits;
  /** Where Cloudinary posts its notifications (this server's /api/webhooks/cloudinary). */
  notificationUrl: () => string;
  /** The CDN base of delivery URLs instead of https://res.cloudinary.com (a custom domain; a test's fake). */
  deliveryUrl?: string;
  /** Video is sent in chunks of this size (Cloudinary's SDK default is 20 MB; at least 5 MB). */
  chunkBytes?: number;
  log: Logger;
}

export function parseCloudinaryUrl(url: string): {
  cloudName: string;
  apiKey: string;
  apiSecret: string;
  uploadPrefix?: string;
} {
  const u = new URL(url);
  return {
    cloudName: u.hostname,
    apiKey: decodeURIComponent(u.username),
    apiSecret: decodeURIComponent(u.password),
    uploadPrefix: u.searchParams.get('upload_prefix') ?? undefined,
  };
}

/**
 * Media at Cloudinary, with the real `cloudinary` SDK: uploads streamed (`upload_stream`), URLs fetched
 * by Cloudinary itself, named transformations for the presets, eager video renditions announced by a
 * signed notification, destroy with CDN invalidation, the Admin API for checks and usage.
 */
export class CloudinaryProvider implements MediaProvider {
  readonly kind = 'cloudinary' as const;
  readonly cloudName: string;
  private readonly apiKey: string;
  private readonly apiSecret: string;
  private readonly uploadPrefix: string;
  /** The SDK picks http or https once, when first loaded; an http prefix (a local fake) gets an agent per call. */
  private readonly agent: Agent | undefined;

  private constructor(
    private readonly sdk: Cloudinary,
    private readonly settings: CloudinarySettings,
  ) {
    const parsed = parseCloudinaryUrl(settings.url);
    this.cloudName = parsed.cloudName;
    this.apiKey = parsed.apiKey;
    this.apiSecret = parsed.apiSecret;
    this.uploadPrefix = parsed.uploadPrefix ?? 'https://api.cloudinary.com';
    this.agent = this.uploadPrefix.startsWith('http:') ? new Agent({ keepAlive: true }) : undefined;
  }

  static async create(settings: CloudinarySettings): Promise<CloudinaryProvider> {
    const sdk = (await import('cloudinary')).v2;
    const provider = new CloudinaryProvider(sdk, settings);
    sdk.config({
      cloud_name: provider.cloudName,
      api_key: provider.apiKey,
      api_secret: provider.apiSecret,
      upload_prefix: provider.uploadPrefix,
      secure: true,
    });
    return provider;
  }

  /** Options every call carries (the credentials explicitly: another module may configure the SDK too). */
  private options<T extends object>(extra: T): T & UploadApiOptions {
    return {
      cloud_name: this.cloudName,
      api_key: this.apiKey,
      api_secret: this.apiSecret,
      upload_prefix: this.uploadPrefix,
      ...(this.agent ? { agent: this.agent } : {}),
      ...extra,
    } as T & UploadApiOptions;
  }

  private publicId(at: Placement): string {
    return `tickets/${at.orgId}/${at.id}`;
  }

  /** The parameters an upload of a resource type is made with (also what a direct upload's signature covers). */
  private uploadParams(resourceType: 'image' | 'video', at: Placement): Record<string, unknown> {
    return {
      public_id: this.publicId(at),
      overwrite: false,
      ...(resourceType === 'video'
        ? {
            eager: VIDEO_EAGER,
            eager_async: true,
            eager_notification_url: this.settings.notificationUrl(),
          }
        : {}),
    };
  }

  /** Creates the presets' named transformations that are missing (on start; safe to run on every start). */
  async ensurePresets(): Promise<string[]> {
    const created: string[] = [];
    for (const preset of PRESET_LIST) {
      const name = namedTransformation(preset.name);
      try {
        await this.sdk.api.transformation(name, this.options({}));
      } catch (err) {
        if (status(err) !== 404) throw failure(err, 'reading the named transformations');
        await this.sdk.api.create_transformation(name, cloudinaryTransformation(preset), this.options({}));
        created.push(name);
      }
    }
    return created;
  }

  async put(up: Incoming): Promise<Stored> {
    const params = this.uploadParams(up.sniffed.resourceType, up);
    // Video in chunks: Cloudinary takes at most 100 MB in one request, and the server's video limit is
    // larger. Each chunk (20 MB by default) is held in memory while it is sent: bounded, whatever the file's size.
    const chunked = up.sniffed.resourceType === 'video';
    const result = await new Promise<UploadApiResponse>((resolve, reject) => {
      const options = this.options({
        ...params,
        resource_type: up.sniffed.resourceType,
        ...(chunked ? { chunk_size: this.settings.chunkBytes ?? 20_000_000 } : {}),
      });
      const done = (error: unknown, res: UploadApiResponse | undefined) =>
        error || !res ? reject(error ?? new Error('no answer')) : resolve(res);
      const target = (chunked
        ? this.sdk.uploader.upload_chunked_stream(options, done)
        : this.sdk.uploader.upload_stream(options, done)) as unknown as Writable;
      pipeline(up.stream, target).catch((err: unknown) => {
        // The SDK gives no handle on its request: a failed upload (too large) must not leave it
        // waiting for the rest of a body that will never come. Its stream pipes into the request.
        // (A chunked upload's chunks are whole requests: the one in flight ends; none follow it.)
        const request = (target as unknown as { _readableState?: { pipes?: Writable[] } })._readableState
          ?.pipes?.[0];
        request?.destroy();
        reject(err);
      });
    }).catch((err: unknown) => {
      throw err instanceof ApiError ? err : failure(err, 'uploading');
    });
    const { bytes, hash } = up.done();
    return this.stored(result, hash, bytes);
  }

  async fetchUrl(url: string, at: Placement): Promise<Stored> {
    // Cloudinary fetches it (from the internet, not from here). What it got is checked afterwards and
    // destroyed when it is not acceptable.
    let result: UploadApiResponse;
    try {
      result = await this.sdk.uploader.upload(
        url,
        this.options({ ...this.uploadParams('image', at), resource_type: 'auto' }),
      );
    } catch (err) {
      throw failure(err, `fetching ${url}`);
    }
    await this.check(result);
    if (result.resource_type === 'video')
      // Uploaded as auto, so the video's renditions were not asked for: ask now.
      await this.askRenditions(result.public_id).catch(async (err: unknown) => {
        await this.destroy(result.public_id, 'video');
        throw failure(err, 'asking for the video renditions');
      });
    return this.stored(result, result.etag, result.bytes);
  }

  /** Asks Cloudinary to make a video's renditions (asynchronously; its notification says when). */
  private async askRenditions(publicId: string): Promise<void> {
    await this.sdk.uploader.explicit(
      publicId,
      this.options({
        type: 'upload',
        resource_type: 'video',
        eager: VIDEO_EAGER,
        eager_async: true,
        eager_notification_url: this.settings.notificationUrl(),
      }),
    );
  }

  private async destroy(publicId: string, resourceType: string): Promise<void> {
    await this.sdk.uploader
      .destroy(publicId, this.options({ resource_type: resourceType, invalidate: true }))
      .catch((e: unknown) =>
        this.settings.log.warn({ err: e, publicId }, 'could not destroy a refused upload'),
      );
  }

  /** Refuses (and destroys) an asset Cloudinary took that this server would not have. */
  private async check(result: {
    public_id: string;
    resource_type: string;
    format?: string;
    bytes: number;
    width?: number;
    height?: number;
  }): Promise<void> {
    try {
      const known = accept(
        FORMAT_MIME[result.format ?? ''],
        { width: result.width ?? null, height: result.height ?? null },
        this.settings.limits,
      );
      if (known.resourceType !== result.resource_type)
        throw new ApiError(415, 'unsupported_media_type', `Cloudinary took it as ${result.resource_type}.`);
      const limit =
        known.resourceType === 'image'
          ? this.settings.limits.maxImageBytes
          : this.settings.limits.maxVideoBytes;
      if (result.bytes > limit) throw tooLarge(known.resourceType, limit);
    } catch (err) {
      await this.destroy(result.public_id, result.resource_type);
      throw err;
    }
  }

  private stored(result: UploadApiResponse, hash: string, bytes: number): Stored {
    const video = result.resource_type === 'video';
    return {
      providerId: result.public_id,
      version: String(result.version),
      resourceType: video ? 'video' : 'image',
      format: result.format === 'jpeg' ? 'jpg' : result.format,
      width: result.width || null,
      height: result.height || null,
      bytes,
      hash,
      duration: video ? Number((result as { duration?: number }).duration) || null : null,
      status: video ? 'processing' : 'ready',
      renditions: null,
      notes: [],
    };
  }

  /**
   * For a browser or app uploading straight to Cloudinary: the parameters, signed with the API secret
   * (which stays here). The public id is chosen here, inside the organization's folder, so `confirm`
   * registers only what this signature allowed.
   */
  signUpload(
    resourceType: 'image' | 'video',
    at: Placement,
  ): { uploadUrl: string; fields: Record<string, string>; expiresAt: Date } {
    const timestamp = Math.floor(Date.now() / 1000);
    // Signed with the rest: a browser can't send Cloudinary another kind of file under this signature.
    const params: Record<string, string> = {
      timestamp: String(timestamp),
      allowed_formats: resourceType === 'image' ? 'jpg,png,webp,avif,gif,heic' : 'mp4,mov,webm',
    };
    for (const [k, v] of Object.entries(this.uploadParams(resourceType, at)))
      params[k] =
        k === 'eager'
          ? // What the SDK itself sends for `eager` (untyped in its .d.ts), so the signature covers the same text.
            (this.sdk.utils as unknown as { build_eager(e: unknown): string }).build_eager(v)
          : String(v);
    const signature = this.sdk.utils.api_sign_request(params, this.apiSecret);
    return {
      uploadUrl: `${this.uploadPrefix}/v1_1/${this.cloudName}/${resourceType}/upload`,
      fields: { ...params, api_key: this.apiKey, signature },
      expiresAt: new Date((timestamp + 3600) * 1000),
    };
  }

  /** Looks a direct upload up with the Admin API and checks it; 404 when it is not there. */
  async confirm(resourceType: 'image' | 'video', at: Placement): Promise<Stored> {
    let found: UploadApiResponse & {
      derived?: { transformation: string; secure_url: string; format?: string }[];
    };
    try {
      found = (await this.sdk.api.resource(
        this.publicId(at),
        this.options({ resource_type: resourceType }),
      )) as typeof found;
    } catch (err) {
      if (status(err) === 404)
        throw new ApiError(
          404,
          'upload_not_found',
          `Cloudinary has no ${resourceType} uploaded for ${at.id}: upload it first.`,
        );
      throw failure(err, 'checking the upload');
    }
    await this.check(found);
    const stored = this.stored(found, found.etag, found.bytes);
    // The renditions may already be made (their notification came before this confirmation); if none
    // were asked for (uploaded without the signature's eager), ask now.
    if (stored.resourceType === 'video' && (found.derived?.length ?? 0) === 0)
      await this.askRenditions(found.public_id).catch((err: unknown) => {
        throw failure(err, 'asking for the video renditions');
      });
    if (stored.resourceType === 'video' && (found.derived?.length ?? 0) >= VIDEO_EAGER.length) {
      stored.status = 'ready';
      stored.renditions = this.renditionsOf(
        found.derived!.map((d) => ({ ...d, format: d.format ?? d.secure_url.split('.').pop() })),
      );
    }
    return stored;
  }

  /** A video's renditions, by format, from a notification's (or a resource's derived) list. */
  renditionsOf(
    eager: { secure_url?: string; url?: string; format?: string; transformation?: string }[],
  ): Renditions {
    const byFormat = (f: string) => {
      const e = eager.find((x) => (x.format ?? (x.secure_url ?? x.url ?? '').split('.').pop()) === f);
      return e ? this.cdn(e.secure_url ?? e.url ?? '') : null;
    };
    return { hls: byFormat('m3u8'), mp4: byFormat('mp4'), poster: byFormat('jpg') };
  }

  /** Checks a notification's X-Cld-Signature (SHA-1 of body + timestamp + secret) and its age. */
  verifyNotification(
    body: string,
    timestamp: string | undefined,
    signature: string | undefined,
    maxAgeSeconds = 7200,
  ): 'ok' | 'unsigned' | 'stale' | 'bad' {
    if (!timestamp || !signature) return 'unsigned';
    const ts = Number(timestamp);
    if (!Number.isFinite(ts)) return 'bad';
    const age = Date.now() / 1000 - ts;
    if (age > maxAgeSeconds || age < -300) return 'stale';
    return this.sdk.utils.verifyNotificationSignature(body, ts, signature, maxAgeSeconds) ? 'ok' : 'bad';
  }

  async remove(asset: MediaAssetsTable): Promise<void> {
    try {
      await this.sdk.uploader.destroy(
        asset.provider_id,
        this.options({ resource_type: asset.resource_type, invalidate: true }),
      );
    } catch (err) {
      throw failure(err, 'deleting');
    }
  }

  async sweep(
    before: Date,
    orgIds: string[],
    registered: (providerIds: string[]) => Promise<Set<string>>,
  ): Promise<number> {
    let removed = 0;
    for (const orgId of orgIds)
      for (const resourceType of ['image', 'video'] as const)
        removed += await this.sweepFolder(`tickets/${orgId}/`, resourceType, before, registered);
    return removed;
  }

  private async sweepFolder(
    prefix: string,
    resourceType: 'image' | 'video',
    before: Date,
    registered: (providerIds: string[]) => Promise<Set<string>>,
  ): Promise<number> {
    let removed = 0;
    let cursor: string | undefined;
    do {
      const page = (await this.sdk.api.resources(
        this.options({
          type: 'upload',
          prefix,
          resource_type: resourceType,
          max_results: 500,
          ...(cursor ? { next_cursor: cursor } : {}),
        }),
      )) as { resources: { public_id: string; created_at: string }[]; next_cursor?: string };
      cursor = page.next_cursor;
      const old = page.resources
        .filter((r) => Date.parse(r.created_at) < before.getTime())
        .map((r) => r.public_id);
      if (old.length === 0) continue;
      const known = await registered(old);
      const orphans = old.filter((id) => !known.has(id));
      if (orphans.length === 0) continue;
      await this.sdk.api.delete_resources(
        orphans,
        this.options({ resource_type: resourceType, invalidate: true }),
      );
      removed += orphans.length;
    } while (cursor);
    return removed;
  }

  /** Delivery URLs point at Cloudinary's CDN (or the configured base): nothing is fetched to make them. */
  private cdn(url: string): string {
    const base = this.settings.deliveryUrl;
    return base ? url.replace(/^https?:\/\/res\.cloudinary\.com/, base.replace(/\/+$/, '')) : url;
  }

  private url(asset: MediaAssetsTable, options: Record<string, unknown>): string {
    return this.cdn(
      this.sdk.url(asset.provider_id, {
        cloud_name: this.cloudName,
        secure: true,
        version: asset.version,
        // No `?_a=` SDK-usage tag: the URLs are the API's answer, compared and cached as they are.
        urlAnalytics: false,
        ...options,
      }),
    );
  }

  delivery(asset: MediaAssetsTable): Delivery {
    const video = asset.resource_type === 'video';
    // A video's images are frames of it (`so_auto`, as JPEG→f_auto); an image's are itself.
    const frame = video ? { resource_type: 'video', start_offset: 'auto' } : { resource_type: 'image' };
    const renditions = asset.renditions ? (JSON.parse(asset.renditions) as Renditions) : null;
    const urls = Object.fromEntries(
      PRESET_LIST.map((p) => [
        p.name,
        this.url(asset, {
          ...frame,
          ...(video ? { format: 'jpg' } : {}),
          transformation: [{ transformation: namedTransformation(p.name) }],
        }),
      ]),
    ) as Delivery['urls'];
    return {
      urls,
      srcset: SRCSET_WIDTHS.map(
        (w) =>
          `${this.url(asset, {
            ...frame,
            ...(video ? { format: 'jpg' } : {}),
            transformation: [
              { crop: 'limit', width: w },
              { fetch_format: 'auto', quality: 'auto' },
            ],
          })} ${w}w`,
      ).join(', '),
      sizes: SIZES,
      video: video
        ? {
            original: this.url(asset, { resource_type: 'video', format: asset.format }),
            mp4: renditions?.mp4 ?? null,
            hls: renditions?.hls ?? null,
            poster: renditions?.poster ?? this.url(asset, { ...frame, format: 'jpg' }),
          }
        : null,
    };
  }

  async usage(): Promise<ProviderUsage> {
    try {
      const u = (await this.sdk.api.usage(this.options({}))) as Record<string, unknown>;
      const part = (k: string, f = 'usage') => {
        const v = (u[k] as Record<string, unknown> | undefined)?.[f];
        return typeof v === 'number' ? v : null;
      };
      return {
        plan: typeof u.plan === 'string' ? u.plan : null,
        storage_bytes: part('storage'),
        bandwidth_bytes: part('bandwidth'),
        transformations: part('transformations'),
        credits_used: part('credits'),
        credits_limit: part('credits', 'limit'),
      };
    } catch (err) {
      throw failure(err, 'reading the usage');
    }
  }

  async render(asset: MediaAssetsTable, preset: 'card' | 'email'): Promise<Buffer | null> {
    // PDFs take JPEG or PNG: the preset's geometry as JPEG, rather than f_auto's choice.
    const p = PRESET_LIST.find((x) => x.name === preset)!;
    const video = asset.resource_type === 'video';
    const jpeg = this.url(asset, {
      resource_type: asset.resource_type,
      ...(video ? { start_offset: 'auto' } : {}),
      format: 'jpg',
      transformation: [
        p.crop === 'fill'
          ? { crop: 'fill', gravity: 'auto', width: p.width, height: p.height }
          : { crop: 'limit', width: p.width },
        { quality: 'auto' },
      ],
    });
    try {
      // A slow CDN must not hold up the message worker: without the image, the message goes without it.
      const res = await fetch(jpeg, {
        headers: { accept: 'image/jpeg' },
        signal: AbortSignal.timeout(10_000),
      });
      return res.ok ? Buffer.from(await res.arrayBuffer()) : null;
    } catch {
      return null;
    }
  }
}

function status(err: unknown): number | undefined {
  const e = err as CloudinaryFailure;
  return e?.error?.http_code ?? e?.http_code;
}

/** A Cloudinary failure as the API's answer: its 4xx refusals said as such, anything else a 502. */
function failure(err: unknown, doing: string): ApiError {
  const e = err as CloudinaryFailure;
  const message = e?.error?.message ?? e?.message ?? String(err);
  const code = status(err);
  if (code === 400 || code === 415)
    return new ApiError(422, 'provider_refused', `Cloudinary refused it (${doing}): ${message}`);
  if (code === 420 || code === 429)
    return new ApiError(
      503,
      'provider_rate_limited',
      `Cloudinary's rate limit was reached (${doing}); try again shortly.`,
      undefined,
      { 'retry-after': '60' },
    );
  return new ApiError(502, 'provider_failed', `Cloudinary failed while ${doing}: ${message}`);
}
