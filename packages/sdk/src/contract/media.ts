import { z } from 'zod';
import { EventId, ID_PREFIXES, idOf, ListQuery, Timestamp } from './common.js';

export const MediaId = idOf(ID_PREFIXES.media);

/** What an asset is for: an event's poster (one per event), its gallery, the organizer's logo, a trailer. */
export const MediaRole = z.enum(['cover', 'gallery', 'logo', 'video']);
export type MediaRole = z.output<typeof MediaRole>;

/**
 * The delivery presets every image answers with (one table on the server: `GET /api/media/presets`).
 * Each is served in the best format the browser takes (`f_auto`) at an automatic quality (`q_auto`).
 */
export const PRESET_NAMES = ['thumbnail', 'card', 'og', 'email', 'full'] as const;
export const PresetName = z.enum(PRESET_NAMES);
export type PresetName = z.output<typeof PresetName>;

/** Widths the responsive `srcset` offers. */
export const SRCSET_WIDTHS = [320, 640, 960, 1280, 1920] as const;

export const MediaUrls = z
  .object(Object.fromEntries(PRESET_NAMES.map((n) => [n, z.string()])) as Record<PresetName, z.ZodString>)
  .describe('One delivery URL per preset; versioned, so a replaced image never shows stale');

export const MediaAsset = z
  .object({
    id: MediaId,
    object: z.literal('media'),
    event: EventId.nullable(),
    role: MediaRole,
    alt: z.string().describe('Alternative text for people who cannot see the image'),
    position: z.number().int().describe('Order within its role (the gallery is shown by it)'),
    status: z
      .enum(['processing', 'ready', 'failed'])
      .describe("Video is `processing` until the provider's renditions are made"),
    failure_reason: z.string().nullable(),
    resource_type: z.enum(['image', 'video']),
    format: z.string().describe('jpg, png, webp, avif, gif, heic, mp4, mov, webm'),
    width: z.number().int().nullable(),
    height: z.number().int().nullable(),
    bytes: z.number().int(),
    duration: z.number().nullable().describe('Seconds, for video'),
    hash: z
      .string()
      .describe(
        "SHA-256 of the uploaded bytes (hex); for a direct or fetched upload, Cloudinary's etag (MD5)",
      ),
    provider: z.enum(['local', 'cloudinary']),
    provider_id: z.string().describe("The provider's id (Cloudinary's public id, the local store's key)"),
    version: z.string().describe('Changes whenever the bytes do; part of every URL'),
    urls: MediaUrls.nullable().describe('Null for a video without a poster frame'),
    srcset: z.string().nullable().describe('For <img srcset>: the image at 320–1920 pixels wide'),
    sizes: z.string().nullable().describe('For <img sizes>'),
    video: z
      .object({
        original: z.string(),
        mp4: z.string().nullable().describe('An MP4 at 720p (null until processed, or without a provider)'),
        hls: z.string().nullable().describe('An HLS stream (.m3u8)'),
        poster: z.string().nullable().describe('A frame as a JPEG'),
      })
      .nullable(),
    notes: z
      .array(z.string())
      .describe('What the provider could not do, said plainly (e.g. no poster frame)'),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .meta({ id: 'MediaAsset' });
export type MediaAsset = z.output<typeof MediaAsset>;

const alt = z.string().trim().max(500);
const position = z.coerce.number().int().min(0).max(10_000);

/** Where an upload goes: its event, role, alt text (sent as query parameters, or form fields before the file). */
export const MediaUploadQuery = z.object({
  event: EventId.optional().describe('The event it belongs to; none: the organization (a logo)'),
  role: MediaRole.default('gallery'),
  alt: alt.optional(),
  position: position.optional(),
});
export type MediaUploadQuery = z.input<typeof MediaUploadQuery>;

export const MediaFromUrlInput = z.strictObject({
  url: z
    .url({ protocol: /^https?$/ })
    .max(2000)
    .describe('An http(s) URL the provider fetches'),
  event: EventId.optional(),
  role: MediaRole.default('gallery'),
  alt: alt.optional(),
  position: position.optional(),
});
export type MediaFromUrlInput = z.input<typeof MediaFromUrlInput>;

export const MediaUpdateInput = z.strictObject({
  alt: alt.optional(),
  role: MediaRole.optional(),
  position: position.optional(),
});
export type MediaUpdateInput = z.input<typeof MediaUpdateInput>;

export const MediaListQuery = ListQuery.extend({
  event: EventId.optional(),
  role: MediaRole.optional(),
});
export type MediaListQuery = z.input<typeof MediaListQuery>;

export const UploadSignatureInput = z.strictObject({
  resource_type: z.enum(['image', 'video']).default('image'),
  event: EventId.optional(),
  role: MediaRole.default('gallery'),
});
export type UploadSignatureInput = z.input<typeof UploadSignatureInput>;

export const UploadSignature = z
  .object({
    object: z.literal('upload_signature'),
    id: MediaId.describe('The id the asset will have: confirm it with POST /api/media/confirm'),
    upload_url: z.string().describe("Cloudinary's upload endpoint: POST the file there as multipart"),
    fields: z
      .record(z.string(), z.string())
      .describe('Send every one as a form field, beside `file`; they are signed, change none'),
    expires_at: Timestamp.describe('Cloudinary refuses the signature an hour after it was made'),
  })
  .meta({ id: 'UploadSignature' });
export type UploadSignature = z.output<typeof UploadSignature>;

export const MediaConfirmInput = z.strictObject({
  id: MediaId.describe('The id the upload signature gave'),
  resource_type: z.enum(['image', 'video']).default('image'),
  event: EventId.optional(),
  role: MediaRole.default('gallery'),
  alt: alt.optional(),
  position: position.optional(),
});
export type MediaConfirmInput = z.input<typeof MediaConfirmInput>;

export const MediaPreset = z.object({
  name: PresetName,
  description: z.string(),
  width: z.number().int(),
  height: z.number().int().nullable().describe('Null: the height follows the image'),
  crop: z.enum(['fill', 'limit']),
  transformation: z.string().describe("As Cloudinary writes it (also the named transformation's value)"),
});
export const MediaPresets = z.object({
  object: z.literal('list'),
  data: z.array(MediaPreset),
  srcset_widths: z.array(z.number().int()),
  sizes: z.string(),
});
export type MediaPresets = z.output<typeof MediaPresets>;

export const MediaUsage = z
  .object({
    object: z.literal('media_usage'),
    provider: z.enum(['local', 'cloudinary']),
    assets: z.number().int(),
    bytes: z.number().int(),
    events: z.array(
      z.object({ event: EventId.nullable(), assets: z.number().int(), bytes: z.number().int() }),
    ),
    provider_usage: z
      .object({
        plan: z.string().nullable(),
        storage_bytes: z.number().nullable(),
        bandwidth_bytes: z.number().nullable(),
        transformations: z.number().nullable(),
        credits_used: z.number().nullable(),
        credits_limit: z.number().nullable(),
      })
      .nullable()
      .describe("The whole Cloudinary account's figures, from its Admin API (null on the local store)"),
  })
  .meta({ id: 'MediaUsage' });
export type MediaUsage = z.output<typeof MediaUsage>;
