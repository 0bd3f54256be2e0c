/**
 * A local stand-in for Cloudinary's Upload API, Admin API and delivery host (api.cloudinary.com/v1_1/{cloud}/…
 * and res.cloudinary.com/{cloud}/…), so the real `cloudinary` 2.x SDK is tested over real HTTP without the
 * internet (INTEGRATIONS.md "Cloudinary"). A real HTTP server on 127.0.0.1; nothing here mocks the SDK.
 *
 * Pointing the SDK at it — mind the first-import trap: `lib/uploader.js` and `lib/api_client/execute_request.js`
 * pick `http` or `https` from `upload_prefix` ONCE, when the SDK is first loaded (and `lib/config.js` reads
 * CLOUDINARY_URL once, on first use). Loaded before the prefix is `http:`, every call throws (synchronously,
 * from the SDK) `ERR_INVALID_PROTOCOL: Protocol "http:" not supported. Expected "https:"`, whatever
 * `config({ upload_prefix })` says afterwards. So: start the fake, set `process.env.CLOUDINARY_URL =
 * fake.cloudinaryUrl`, and only then `await import('cloudinary')` (or set CLOUDINARY_URL before the process
 * starts). A per-call `agent: new http.Agent()` option also gets past it. This module never loads the SDK
 * itself until a signed request arrives (it uses `v2.utils.api_sign_request` to check signatures), so
 * importing it does not spring the trap.
 *
 * What it imitates:
 * - Upload API, `POST /v1_1/{cloud}/{image|video|raw|auto}/upload`, `…/{image|video|raw}/destroy`,
 *   `…/{image|video|raw}/explicit`: multipart (what the SDK sends, the file streamed or as a field),
 *   urlencoded or JSON bodies, plus query-string params.
 *   Auth as Cloudinary: `api_key` + `timestamp` + `signature` checked with the SDK's own `api_sign_request`
 *   over every param except `file`, `api_key`, `resource_type`, `cloud_name` and `signature` (empty values
 *   dropped, `x[]` arrays joined with commas; SHA-1 or SHA-256 by the signature's length, signature version 2
 *   or 1); or HTTP Basic `api_key:api_secret`; or, for `upload` only, no auth with an `upload_preset`
 *   (unsigned). Refusals: 401 `Invalid Signature <sig>. String to sign - '<params>'.`, 400 `Stale request -
 *   reported time is <time> which is more than 1 hour ago`, 401 `Invalid api_key <key>`, 401
 *   `Invalid cloud_name <cloud>`, 400 `Missing required parameter - file`, 400 `Invalid image file`, 400
 *   `File size too large. Got N. Maximum is M.` (Free-plan limits per request: image/raw 10 MB, video 100 MB;
 *   a chunked upload is held to them chunk by chunk, not as a whole). Every error body is `{ error: { message } }`.
 * - Chunked uploads, as the SDK's `upload_chunked_stream` / `upload_chunked` / `upload_large` send them: each chunk
 *   (20 MB by default, `chunk_size`) is a separate, normally signed `…/upload` POST carrying the same params (a new
 *   `timestamp` and signature each time) and the chunk as `file`, with `X-Unique-Upload-Id` (one random id per
 *   upload) and `Content-Range: bytes <start>-<end>/<total>` (total `-1` on every chunk but the last). Each chunk
 *   is authenticated as usual and appended to a pending upload kept by that id. Refused with 400, leaving the
 *   pending upload as it was: a malformed `Content-Range`, a chunk whose range length is not its byte count, one
 *   that does not start at the bytes received so far (out of order, a gap, or a first chunk not at 0), one posted
 *   to another resource type than the first, a last chunk not ending at the total, and a chunk over the size
 *   limit (of the URL's resource type; for `auto`, of the type sniffed from the first chunk). A non-last chunk
 *   answers `{ done: false, bytes: <received so far>, upload_id }` and creates nothing; the last one uploads the
 *   assembled bytes with its own params exactly as a whole upload (same public id, eager, notification URL
 *   handling and answer; `file`'s name from the last chunk), and the pending upload is forgotten.
 * - Upload params: `file` (bytes, an http(s) URL the fake fetches, or a base64 data URI), `public_id`,
 *   `folder`, `use_filename`, `unique_filename`, `filename_override`, `tags`, `context` (`k=v|k2=v2`, `\=`
 *   and `\|` escaped), `eager` (`sp_hd/m3u8|c_scale,w_1280/mp4`), `eager_async`, `eager_notification_url`,
 *   `notification_url`, `invalidate`, `overwrite` (default true when signed, false when unsigned; false on an
 *   existing id answers the existing asset with `existing: true`), `upload_preset`, `type`. Others are
 *   accepted and ignored.
 *   Answer: `asset_id`, `public_id`, `version` (≥ now in Unix seconds, strictly increasing), `version_id`,
 *   `signature` (= `api_sign_request({ public_id, version }, secret)`, what `PreloadedFile#is_valid` checks),
 *   `width`/`height` (read from PNG, JPEG and GIF bytes, else 0; absent for raw), `format` (sniffed from the
 *   bytes, else the file name's extension; absent for raw, whose public id keeps the extension),
 *   `resource_type`, `created_at`, `tags`, `bytes`, `type`, `etag` (MD5 hex), `placeholder`, `url`,
 *   `secure_url` (both `{fake.url}/{cloud}/{resource_type}/{type}/v{version}/{public_id}.{format}`),
 *   `asset_folder`, `display_name`, `original_filename`, `api_key`, `context: { custom }` when given,
 *   `overwritten: true` on a replaced id; for video `duration` (from a `duration=12.5` context entry or tag,
 *   else 0) and `playback_url`; with `eager`, `eager: [{ transformation, width, height, bytes, format, url,
 *   secure_url }]`, or with `eager_async` `eager: [{ transformation, status: 'processing', batch_id }]` and
 *   `pending: true`.
 * - `destroy` (`public_id`, `type`, `invalidate`) → `{ result: 'ok' | 'not found' }`; `explicit` (`public_id`,
 *   `type`, `eager`, `eager_async`, notification URLs, `tags`, `context`, `invalidate`) → the asset's details
 *   plus `eager`, or 404 `Resource not found - <id>`. `invalidate` (destroy, explicit, an overwriting upload,
 *   delete_resources) appends the public id to `invalidations`.
 * - Admin API with HTTP Basic `api_key:api_secret` (401 `Must supply api_key` / `Unknown API key <key>` /
 *   `api_secret mismatch`), each answer carrying `X-FeatureRateLimit-Limit/-Remaining/-Reset` (the SDK turns
 *   them into `rate_limit_allowed`, …): `GET /ping`; `GET /usage[/date]` (`plan`, `last_updated`,
 *   `transformations`, `objects`, `bandwidth`, `storage`, `credits`, `requests`, `resources`,
 *   `derived_resources`, `media_limits`, counted from what the fake holds and served);
 *   `GET /resources/{rt}[/{type}]` with `prefix`, `public_ids[]`, `max_results` (default 10, max 500),
 *   `next_cursor`, `direction`, `tags`, `context` (sorted by public id when `prefix` is given, else by creation,
 *   newest first, as Cloudinary documents); `GET /resources/{rt}/tags/{tag}`;
 *   `GET /resources/{rt}/{type}/{public_id}` (with `derived`; 404 `Resource not found - <id>`);
 *   `DELETE /resources/{rt}/{type}` with `public_ids[]`, `prefix` or `all`, `keep_original`, `invalidate` →
 *   `{ deleted: { id: 'deleted' | 'not_found' }, deleted_counts, partial: false }`;
 *   named transformations at `/transformations` and `/transformations/{name}` (the SDK 2.x uses the query
 *   form `?transformation=name` for get/update/delete): `POST` (`name`, `transformation`) → `{ message:
 *   'created' }`, `GET` list → `{ transformations: [{ name: 't_card', named: true, used, allowed_for_strict }] }`
 *   (plus the unnamed ones eager used), `GET` one → `{ name, named, used, allowed_for_strict, info: [{ crop,
 *   gravity, width, height, … }], derived: [] }`, `PUT` (`allowed_for_strict`, `unsafe_update`), `DELETE`;
 *   404 `Transformation <name> not found`.
 * - Delivery, `GET`/`HEAD /{cloud}/{rt}/{type}/[{transformations}/][v{version}/]{public_id}.{ext}`: the stored
 *   bytes (whatever the transformation and extension), `Content-Type` from the extension, 404 with
 *   `X-Cld-Error` for an unknown asset, 400 with `X-Cld-Error` for an unknown `t_<name>`.
 * - Notifications: `completeEager(publicId, { ok })` finishes the asset's oldest processing eager batch and
 *   posts Cloudinary's eager notification (`notification_type: 'eager'`, `timestamp`, `request_id`, `asset_id`,
 *   `batch_id`, `public_id`, `resource_type`, `type`, `eager: [{ transformation, width, height, bytes, format,
 *   url, secure_url }]`, or on failure `eager: [{ transformation, status: 'failed', reason }]`) to its
 *   `eager_notification_url`, else its `notification_url`, as compact JSON with `X-Cld-Timestamp` (Unix
 *   seconds) and `X-Cld-Signature` = SHA-1 hex of body + timestamp + api_secret, which is what
 *   `cloudinary.v2.utils.verifyNotificationSignature(body, timestamp, signature, validFor)` checks.
 *
 * Where it knowingly differs:
 * - Nothing is processed or sent on its own: no transformation is applied (delivery serves the original
 *   bytes), video/audio bytes are not parsed (any bytes are a video; width/height 0), eager batches stay
 *   `processing` until a test calls `completeEager`, and no `upload` notification is ever posted (tests can
 *   post any payload with `notify`). No CDN: URLs are plain `http` on the fake's port, `secure_url` included.
 * - `pending: true` on an `eager_async` answer is this fake's flag, not a field Cloudinary documents: code
 *   should look at `eager[].status`. Success entries in the eager notification carry no `status`.
 * - One asset per public id (Cloudinary keys assets by resource type, type and public id): an upload of an
 *   existing id as another resource type replaces it. Fixed folder mode: `folder` prefixes the public id.
 * - Upload presets are not stored: any `upload_preset` name allows an unsigned upload, with no defaults applied.
 * - Timestamps more than 1 hour in the future are refused too (`… which is more than 1 hour in the future` is
 *   this fake's wording), which catches millisecond timestamps. Error wordings other than the signature,
 *   stale and not-found ones are illustrative; the statuses are the ones Cloudinary uses.
 * - Chunked uploads: the answer to a non-last chunk is this fake's (Cloudinary's is not documented); pending
 *   chunked uploads never expire; the assembled total is not held to any plan maximum.
 * - `failNext` answers carry only the headers given, except that 420/429 get `X-FeatureRateLimit-*` by default.
 *   Remember the uploader parses JSON only for 200/400/401/404/420/429/500 (the Admin client also 403/409):
 *   other statuses reject with `Server returned unexpected status code - N`.
 * - The key and secret are not escaped in `cloudinaryUrl`: one with URL-special characters does not round-trip
 *   (the SDK reads the URL's userinfo undecoded). The defaults are safe.
 *
 * API: `startFakeCloudinary({ cloud?, apiKey?, apiSecret? })` resolves to a `FakeCloudinary`:
 * `url` (`http://127.0.0.1:PORT`, the `upload_prefix` and delivery host), `cloud`, `apiKey`, `apiSecret`,
 * `cloudinaryUrl` (`cloudinary://key:secret@cloud?upload_prefix=…`), `assets` (public id → `FakeAsset`),
 * `transformations` (named transformations by name), `requests` (every API request: method, path, params —
 * file bytes summarised —, the status answered and, for a chunk, its `chunk` headers), `invalidations` (public
 * ids), `notifications` (posted, with the receiver's answer), `pendingChunked` (chunked uploads begun and not
 * finished), `completeEager(publicId, opts?)`, `notify(url, payload, opts?)`,
 * `signNotification(body, timestamp)`, `failNext(n, status, body?, headers?)` (the next n API requests, not
 * delivery), `close()`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { v2 as CloudinaryV2 } from 'cloudinary';

const MAX_BODY = 110 * 1024 * 1024;
const MAX_BYTES = { image: 10_485_760, video: 104_857_600, raw: 10_485_760 } as const;
const RATE_LIMIT = 500;
const STALE_AFTER_SECONDS = 3600;

// ---------------------------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------------------------

export type FakeResourceType = 'image' | 'video' | 'raw';

/** A derived asset: one eager transformation of an asset. */
export interface FakeDerived {
  /** As requested, e.g. `sp_hd/m3u8` or `c_scale,w_1280/mp4`. */
  spec: string;
  /** Without the format, e.g. `sp_hd`. */
  transformation: string;
  /** The extension asked for, else the asset's format. */
  format: string | undefined;
  status: 'complete' | 'processing' | 'failed';
  batchId?: string;
  reason?: string;
}

export interface FakeAsset {
  assetId: string;
  publicId: string;
  resourceType: FakeResourceType;
  /** Delivery type, `upload` unless the request said otherwise. */
  type: string;
  version: number;
  versionId: string;
  /** Undefined for raw. */
  format: string | undefined;
  width: number;
  height: number;
  bytes: Buffer;
  /** MD5 hex of the bytes. */
  etag: string;
  createdAt: Date;
  originalFilename: string;
  /** `folder` as given (empty when none). */
  folder: string;
  tags: string[];
  context: Record<string, string>;
  /** Video only: from a `duration=…` context entry or tag, else 0. */
  duration: number | undefined;
  derived: FakeDerived[];
}

export interface FakeNamedTransformation {
  /** Without `t_`. */
  name: string;
  /** The transformation string, e.g. `c_fill,g_auto,w_800,h_450`. */
  transformation: string;
  allowedForStrict: boolean;
  used: boolean;
}

export interface FakeCloudinaryRequest {
  method: string;
  /** As received (not URL-decoded), without the query string, e.g. `/v1_1/demo/image/upload`. */
  path: string;
  /** Query and body params; `x[]` arrays under `x`; file bytes and data URIs summarised as `<…>`. */
  params: Record<string, string | string[]>;
  /** The status the fake answered with (undefined until answered). */
  status?: number;
  /** A chunk of a chunked upload: its `X-Unique-Upload-Id` and `Content-Range` headers, as sent. */
  chunk?: { uploadId: string; contentRange: string };
}

export interface FakeCloudinaryNotification {
  url: string;
  payload: unknown;
  /** The exact body posted. */
  body: string;
  /** `X-Cld-Timestamp`. */
  timestamp: number;
  /** `X-Cld-Signature` (undefined when sent without one). */
  signature: string | undefined;
  /** The receiver's answer. */
  status: number;
  responseBody: string;
}

export interface NotifyOptions {
  /** `X-Cld-Timestamp`, Unix seconds; default now. Pass an old one to test stale notifications. */
  timestamp?: number;
  /** `wrong`: signed with another secret; `none`: no `X-Cld-Signature`. Default `valid`. */
  signature?: 'valid' | 'wrong' | 'none';
}

export interface CompleteEagerOptions extends NotifyOptions {
  /** Default true. False marks every transformation of the batch failed. */
  ok?: boolean;
  /** Failure reason; default a Cloudinary-like one. */
  reason?: string;
}

export interface FakeCloudinary {
  /** `http://127.0.0.1:PORT`: the `upload_prefix`, and the host of every delivery URL. */
  readonly url: string;
  readonly cloud: string;
  readonly apiKey: string;
  readonly apiSecret: string;
  /** `cloudinary://key:secret@cloud?upload_prefix=http://127.0.0.1:PORT`, for `process.env.CLOUDINARY_URL`. */
  readonly cloudinaryUrl: string;
  /** Public id → asset. */
  readonly assets: Map<string, FakeAsset>;
  /** Name (without `t_`) → named transformation. */
  readonly transformations: Map<string, FakeNamedTransformation>;
  /** Every API request (not delivery), oldest first. */
  readonly requests: FakeCloudinaryRequest[];
  /** Public ids invalidated, in order. */
  readonly invalidations: string[];
  /** Notifications posted, oldest first. */
  readonly notifications: FakeCloudinaryNotification[];
  /** Chunked uploads begun (some chunks received) and not yet finished by their last chunk. */
  readonly pendingChunked: number;
  /**
   * Finishes the oldest processing eager batch of `publicId` (from an upload or explicit with `eager_async`) and
   * posts the eager notification to its notification URL; resolves with what was posted, or null when the
   * batch had no notification URL. Throws when nothing is processing for that id.
   */
  completeEager(publicId: string, opts?: CompleteEagerOptions): Promise<FakeCloudinaryNotification | null>;
  /** Posts any payload (an object is sent as compact JSON), signed as Cloudinary signs notifications. */
  notify(url: string, payload: unknown, opts?: NotifyOptions): Promise<FakeCloudinaryNotification>;
  /** SHA-1 hex of body + timestamp + api_secret: the `X-Cld-Signature` of a notification. */
  signNotification(body: string, timestamp: number): string;
  /**
   * The next `n` API requests (upload and admin, not delivery) answer `status` with `body` (default
   * `{ error: { message } }` fitting the status) and `headers` (420/429 get `X-FeatureRateLimit-*` by default).
   * They are recorded in `requests` but change nothing.
   */
  failNext(n: number, status: number, body?: unknown, headers?: Record<string, string>): void;
  close(): Promise<void>;
}

export interface StartFakeCloudinaryOptions {
  /** Default `tickets-fake`. */
  cloud?: string;
  /** Default 15 random digits. */
  apiKey?: string;
  /** Default 27 random base64url characters. */
  apiSecret?: string;
}

// ---------------------------------------------------------------------------------------------------------------
// The SDK's signing, loaded lazily (see the header: loading it early would spring the first-import trap)
// ---------------------------------------------------------------------------------------------------------------

type SdkUtils = typeof CloudinaryV2.utils;
/** `api_sign_request` takes two more arguments than its type says. */
type SignRequest = (
  params: Record<string, unknown>,
  secret: string,
  algorithm?: 'sha1' | 'sha256' | null,
  version?: number | null,
) => string;

let sdkUtils: Promise<SdkUtils> | undefined;
const loadSdkUtils = () => {
  sdkUtils ??= import('cloudinary').then((m) => m.v2.utils);
  return sdkUtils;
};
const signWith = async (): Promise<SignRequest> =>
  (await loadSdkUtils()).api_sign_request as unknown as SignRequest;

/** Params excluded from the string to sign, as Cloudinary documents and the SDK does. */
const UNSIGNED_PARAMS = new Set(['file', 'api_key', 'resource_type', 'cloud_name', 'signature']);

/** The string Cloudinary quotes in its `Invalid Signature` message (signature version 1 form). */
function stringToSign(params: Record<string, string | string[]>): string {
  return Object.entries(params)
    .map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : v] as const)
    .filter(([, v]) => v !== '')
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

// ---------------------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------------------

class CloudinaryError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const fail = (status: number, message: string, headers?: Record<string, string>) =>
  new CloudinaryError(status, message, headers);

function defaultFailureBody(status: number): { error: { message: string } } {
  const message =
    status === 420 || status === 429
      ? 'Rate Limit Exceeded'
      : status === 401
        ? 'Invalid Signature'
        : status === 404
          ? 'Resource not found'
          : status >= 500
            ? 'General Error'
            : `Error ${status}`;
  return { error: { message } };
}

// ---------------------------------------------------------------------------------------------------------------
// Bytes: sniffing formats and dimensions
// ---------------------------------------------------------------------------------------------------------------

interface Sniffed {
  kind: 'image' | 'video';
  format: string;
  width: number;
  height: number;
}

function jpegSize(b: Buffer): { width: number; height: number } {
  let i = 2;
  while (i + 9 < b.length) {
    if (b.readUInt8(i) !== 0xff) {
      i++;
      continue;
    }
    const marker = b.readUInt8(i + 1);
    if (marker === 0xff) {
      i++;
      continue;
    }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      i += 2;
      continue;
    }
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc)
      return { height: b.readUInt16BE(i + 5), width: b.readUInt16BE(i + 7) };
    i += 2 + b.readUInt16BE(i + 2);
  }
  return { width: 0, height: 0 };
}

function sniff(b: Buffer): Sniffed | undefined {
  const ascii = (from: number, to: number) => b.subarray(from, to).toString('latin1');
  if (
    b.length >= 24 &&
    b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))
  )
    return { kind: 'image', format: 'png', width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
  if (b.length >= 4 && b.readUInt8(0) === 0xff && b.readUInt8(1) === 0xd8 && b.readUInt8(2) === 0xff)
    return { kind: 'image', format: 'jpg', ...jpegSize(b) };
  if (b.length >= 10 && (ascii(0, 6) === 'GIF87a' || ascii(0, 6) === 'GIF89a'))
    return { kind: 'image', format: 'gif', width: b.readUInt16LE(6), height: b.readUInt16LE(8) };
  if (b.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP')
    return { kind: 'image', format: 'webp', width: 0, height: 0 };
  if (b.length >= 12 && ascii(4, 8) === 'ftyp' && ascii(8, 12).startsWith('avi'))
    return { kind: 'image', format: 'avif', width: 0, height: 0 };
  if (b.length >= 5 && ascii(0, 5) === '%PDF-') return { kind: 'image', format: 'pdf', width: 0, height: 0 };
  const head = b
    .subarray(0, 512)
    .toString('utf8')
    .replace(/^\uFEFF/, '')
    .trimStart();
  if (head.startsWith('<svg') || (head.startsWith('<?xml') && head.includes('<svg')))
    return { kind: 'image', format: 'svg', width: 0, height: 0 };
  if (b.length >= 12 && ascii(4, 8) === 'ftyp')
    return { kind: 'video', format: ascii(8, 12) === 'qt  ' ? 'mov' : 'mp4', width: 0, height: 0 };
  if (b.length >= 4 && b.readUInt32BE(0) === 0x1a45dfa3)
    return { kind: 'video', format: 'webm', width: 0, height: 0 };
  if (b.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WAVE')
    return { kind: 'video', format: 'wav', width: 0, height: 0 };
  if (b.length >= 4 && ascii(0, 4) === 'OggS') return { kind: 'video', format: 'ogg', width: 0, height: 0 };
  if (b.length >= 3 && ascii(0, 3) === 'ID3') return { kind: 'video', format: 'mp3', width: 0, height: 0 };
  return undefined;
}

const CONTENT_TYPES: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  avif: 'image/avif',
  svg: 'image/svg+xml',
  pdf: 'application/pdf',
  mp4: 'video/mp4',
  mov: 'video/quicktime',
  webm: 'video/webm',
  m3u8: 'application/x-mpegURL',
  mpd: 'application/dash+xml',
  mp3: 'audio/mpeg',
  wav: 'audio/wav',
  ogg: 'audio/ogg',
  json: 'application/json',
  txt: 'text/plain',
};

const MIME_FORMATS: Record<string, string> = {
  'image/jpeg': 'jpg',
  'video/quicktime': 'mov',
  'audio/mpeg': 'mp3',
  'image/svg+xml': 'svg',
};

// ---------------------------------------------------------------------------------------------------------------
// Params
// ---------------------------------------------------------------------------------------------------------------

type Params = Record<string, string | string[]>;

interface UploadedFile {
  bytes: Buffer;
  filename: string;
}

function addParam(params: Params, key: string, value: string) {
  if (key.endsWith('[]')) {
    const k = key.slice(0, -2);
    const prev = params[k];
    params[k] = Array.isArray(prev) ? [...prev, value] : prev === undefined ? [value] : [prev, value];
  } else params[key] = value;
}

async function parseParams(
  req: IncomingMessage,
  url: URL,
  raw: Buffer,
): Promise<{ params: Params; file?: UploadedFile }> {
  const params: Params = {};
  for (const [k, v] of url.searchParams) addParam(params, k, v);
  const contentType = req.headers['content-type'] ?? '';
  let file: UploadedFile | undefined;
  if (raw.length === 0) return { params };
  if (contentType.startsWith('multipart/form-data')) {
    let form: FormData;
    try {
      // Node's own fetch Request parses multipart bodies: no dependency needed.
      form = await new Request('http://fake.invalid/', {
        method: 'POST',
        headers: { 'content-type': contentType },
        body: raw,
      }).formData();
    } catch (err) {
      throw fail(400, `Invalid multipart body: ${(err as Error).message}`);
    }
    for (const [k, v] of form) {
      if (typeof v === 'string') addParam(params, k, v);
      else if (k === 'file') file = { bytes: Buffer.from(await v.arrayBuffer()), filename: v.name };
      else addParam(params, k, Buffer.from(await v.arrayBuffer()).toString('utf8'));
    }
  } else if (contentType.startsWith('application/json')) {
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      throw fail(400, 'Invalid JSON body');
    }
    if (typeof body === 'object' && body !== null && !Array.isArray(body))
      for (const [k, v] of Object.entries(body)) {
        if (Array.isArray(v)) params[k] = v.map(String);
        else if (v !== null && v !== undefined)
          params[k] = typeof v === 'object' ? JSON.stringify(v) : String(v);
      }
  } else {
    for (const [k, v] of new URLSearchParams(raw.toString('utf8'))) addParam(params, k, v);
  }
  return { params, ...(file ? { file } : {}) };
}

const str = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v.join(',') : v);
const truthy = (v: string | string[] | undefined) => {
  const s = str(v)?.toLowerCase();
  return s === '1' || s === 'true';
};
const falsy = (v: string | string[] | undefined) => {
  const s = str(v)?.toLowerCase();
  return s === '0' || s === 'false';
};
const list = (v: string | string[] | undefined): string[] =>
  (Array.isArray(v) ? v : (v ?? '').split(',')).map((s) => s.trim()).filter(Boolean);

/** Cloudinary's `context` encoding: `k=v|k2=v2`, with `=` and `|` inside values escaped by a backslash. */
function parseContext(v: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!v) return out;
  const pairs: string[] = [];
  let current = '';
  for (let i = 0; i < v.length; i++) {
    const c = v[i];
    if (c === '\\' && i + 1 < v.length) current += c + v[++i];
    else if (c === '|') {
      pairs.push(current);
      current = '';
    } else current += c;
  }
  pairs.push(current);
  for (const pair of pairs) {
    const eq = pair.search(/(?<!\\)=/);
    if (eq < 0) continue;
    const unescapeContext = (s: string) => s.replace(/\\([=|])/g, '$1');
    out[unescapeContext(pair.slice(0, eq))] = unescapeContext(pair.slice(eq + 1));
  }
  return out;
}

function summarise(params: Params, file: UploadedFile | undefined): Params {
  const out: Params = { ...params };
  const f = out.file;
  if (typeof f === 'string' && f.startsWith('data:'))
    out.file = `<${f.slice(0, Math.max(0, f.indexOf(',')))},… ${f.length} chars>`;
  if (file) out.file = `<${file.bytes.length} bytes: ${file.filename}>`;
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Transformations
// ---------------------------------------------------------------------------------------------------------------

const TRANSFORMATION_PARAMS: Record<string, string> = {
  a: 'angle',
  ac: 'audio_codec',
  ar: 'aspect_ratio',
  b: 'background',
  bo: 'border',
  br: 'bit_rate',
  c: 'crop',
  co: 'color',
  d: 'default_image',
  dpr: 'dpr',
  du: 'duration',
  e: 'effect',
  eo: 'end_offset',
  f: 'fetch_format',
  fl: 'flags',
  fps: 'fps',
  g: 'gravity',
  h: 'height',
  ki: 'keyframe_interval',
  l: 'overlay',
  o: 'opacity',
  pg: 'page',
  q: 'quality',
  r: 'radius',
  so: 'start_offset',
  sp: 'streaming_profile',
  t: 'transformation',
  vc: 'video_codec',
  w: 'width',
  x: 'x',
  y: 'y',
  z: 'zoom',
};

/** `c_fill,w_800/e_sepia` → `[{ crop: 'fill', width: 800 }, { effect: 'sepia' }]`, as the Admin API's `info`. */
function transformationInfo(t: string): Record<string, string | number>[] {
  return t
    .split('/')
    .filter((component) => component.includes('_'))
    .map((component) =>
      Object.fromEntries(
        component.split(',').map((part) => {
          const i = part.indexOf('_');
          const key = part.slice(0, i);
          const value = part.slice(i + 1);
          return [TRANSFORMATION_PARAMS[key] ?? key, /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : value];
        }),
      ),
    );
}

/** `sp_hd/m3u8` → `{ transformation: 'sp_hd', format: 'm3u8' }`; `c_fill,w_100` → no format. */
function splitEager(spec: string): { transformation: string; format: string | undefined } {
  const parts = spec.split('/');
  const last = parts.at(-1) ?? '';
  if (parts.length > 1 && /^[a-z0-9]+$/i.test(last))
    return { transformation: parts.slice(0, -1).join('/'), format: last };
  return { transformation: spec, format: undefined };
}

/** Names of the named transformations a transformation string uses (`t_card` → `card`). */
const namedIn = (t: string): string[] =>
  t
    .split(/[/,]/)
    .filter((p) => p.startsWith('t_'))
    .map((p) => p.slice(2));

// ---------------------------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------------------------

interface PendingFailure {
  remaining: number;
  status: number;
  body: unknown;
  headers: Record<string, string>;
}

/** A chunked upload whose last chunk has not arrived yet, keyed by its `X-Unique-Upload-Id`. */
interface PendingChunked {
  /** The resource type of the URL its first chunk was posted to (`auto` included). */
  requested: string;
  /** The resource type whose size limit each chunk is held to (`auto`: sniffed from the first chunk). */
  limitType: FakeResourceType;
  parts: Buffer[];
  received: number;
}

/** `bytes <start>-<end>/<total>` (total `-1` while more chunks are to come), as the SDK's `Content-Range`. */
function parseContentRange(header: string): { start: number; end: number; total: number } | undefined {
  const m = /^bytes (\d+)-(\d+)\/(-1|\d+)$/.exec(header.trim());
  if (!m) return undefined;
  const [start, end, total] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (![start, end, total].every(Number.isSafeInteger) || end < start) return undefined;
  return { start, end, total };
}

interface EagerBatch {
  batchId: string;
  publicId: string;
  specs: string[];
  notificationUrl: string | undefined;
}

const randomHex = (bytes: number) => randomBytes(bytes).toString('hex');
const randomPublicId = () => {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(randomBytes(20), (b) => alphabet[b % alphabet.length]).join('');
};
const unixNow = () => Math.floor(Date.now() / 1000);
const isoSeconds = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
/** `2024-04-11 13:23:38 +0000`, as Cloudinary writes times in its stale-request message. */
const cloudinaryTime = (seconds: number) => {
  const d = new Date(seconds * 1000);
  return Number.isNaN(d.getTime())
    ? String(seconds)
    : d
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d{3}Z$/, ' +0000');
};
const nextHour = () => new Date(Math.ceil((Date.now() + 1) / 3_600_000) * 3_600_000);
const safeDecode = (s: string) => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};

export async function startFakeCloudinary(opts: StartFakeCloudinaryOptions = {}): Promise<FakeCloudinary> {
  const cloud = opts.cloud ?? 'tickets-fake';
  const apiKey = opts.apiKey ?? String(100_000_000_000_000 + Math.floor(Math.random() * 9e14));
  const apiSecret = opts.apiSecret ?? randomBytes(21).toString('base64url').slice(0, 27);
  const assets = new Map<string, FakeAsset>();
  const transformations = new Map<string, FakeNamedTransformation>();
  const requests: FakeCloudinaryRequest[] = [];
  const invalidations: string[] = [];
  const notifications: FakeCloudinaryNotification[] = [];
  const failures: PendingFailure[] = [];
  const batches: EagerBatch[] = [];
  /** Chunked uploads in progress, by `X-Unique-Upload-Id`. */
  const chunkedUploads = new Map<string, PendingChunked>();
  /** Unnamed transformation strings eager has produced (listed by `GET /transformations`). */
  const usedUnnamed = new Set<string>();
  let lastVersion = 0;
  let creationSeq = 0;
  const created = new WeakMap<FakeAsset, number>();
  let bandwidth = 0;
  let deliveries = 0;
  let rateRemaining = RATE_LIMIT;
  let base = '';

  // --- helpers -------------------------------------------------------------------------------------------------

  const fileName = (a: FakeAsset, format = a.format) =>
    a.resourceType === 'raw' || !format ? a.publicId : `${a.publicId}.${format}`;
  const deliveryUrl = (a: FakeAsset, transformation?: string, format?: string) =>
    `${base}/${cloud}/${a.resourceType}/${a.type}/${transformation ? `${transformation}/` : ''}v${a.version}/${fileName(
      a,
      format ?? a.format,
    )
      .split('/')
      .map(encodeURIComponent)
      .join('/')}`;

  function eagerInfo(a: FakeAsset, spec: string) {
    const { transformation, format } = splitEager(spec);
    const info = transformationInfo(transformation);
    const dim = (key: 'width' | 'height') => {
      const v = info.find((i) => typeof i[key] === 'number')?.[key];
      return typeof v === 'number' && v >= 1 ? v : a[key];
    };
    const url = deliveryUrl(a, transformation, format);
    return {
      transformation: spec,
      width: dim('width'),
      height: dim('height'),
      bytes: a.bytes.length,
      format: format ?? a.format,
      url,
      secure_url: url,
    };
  }

  function details(a: FakeAsset) {
    const url = deliveryUrl(a);
    const display = a.publicId.split('/').at(-1) ?? a.publicId;
    return {
      asset_id: a.assetId,
      public_id: a.publicId,
      version: a.version,
      version_id: a.versionId,
      ...(a.resourceType === 'raw' ? {} : { width: a.width, height: a.height, format: a.format }),
      resource_type: a.resourceType,
      created_at: isoSeconds(a.createdAt),
      tags: a.tags,
      bytes: a.bytes.length,
      type: a.type,
      etag: a.etag,
      placeholder: false,
      url,
      secure_url: url,
      asset_folder: a.folder,
      display_name: display,
      ...(Object.keys(a.context).length > 0 ? { context: { custom: a.context } } : {}),
      ...(a.resourceType === 'video'
        ? {
            duration: a.duration ?? 0,
            playback_url: `${base}/${cloud}/video/${a.type}/sp_auto/v${a.version}/${a.publicId}.m3u8`,
          }
        : {}),
    };
  }

  function invalidate(publicId: string) {
    invalidations.push(publicId);
  }

  function checkNamed(t: string) {
    for (const name of namedIn(t)) {
      const named = transformations.get(name);
      if (!named)
        throw fail(400, `Transformation t_${name} not found`, {
          'x-cld-error': `Transformation t_${name} not found`,
        });
      named.used = true;
    }
  }

  /** Starts or performs eager transformations; returns the `eager` answer. */
  function runEager(a: FakeAsset, params: Params) {
    const specs = (str(params.eager) ?? '').split('|').filter(Boolean);
    if (specs.length === 0) return undefined;
    for (const spec of specs) checkNamed(spec);
    const async = truthy(params.eager_async);
    const batchId = async ? randomHex(32) : undefined;
    for (const spec of specs) {
      const { transformation, format } = splitEager(spec);
      a.derived = a.derived.filter((d) => d.spec !== spec);
      a.derived.push({
        spec,
        transformation,
        format: format ?? a.format,
        status: async ? 'processing' : 'complete',
        ...(batchId ? { batchId } : {}),
      });
      if (namedIn(spec).length === 0) usedUnnamed.add(spec);
    }
    if (batchId) {
      batches.push({
        batchId,
        publicId: a.publicId,
        specs,
        notificationUrl: str(params.eager_notification_url) || str(params.notification_url) || undefined,
      });
      return specs.map((spec) => ({ transformation: spec, status: 'processing', batch_id: batchId }));
    }
    return specs.map((spec) => eagerInfo(a, spec));
  }

  // --- auth ----------------------------------------------------------------------------------------------------

  function basicAuth(req: IncomingMessage): 'none' | 'ok' {
    const header = req.headers.authorization;
    if (!header?.startsWith('Basic ')) return 'none';
    const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const key = colon < 0 ? decoded : decoded.slice(0, colon);
    const secret = colon < 0 ? '' : decoded.slice(colon + 1);
    if (key === '') throw fail(401, 'Must supply api_key');
    if (key !== apiKey) throw fail(401, `Unknown API key ${key}`);
    if (secret !== apiSecret) throw fail(401, 'api_secret mismatch');
    return 'ok';
  }

  /** Upload API auth; returns whether the request was authenticated (false: unsigned with a preset). */
  async function authenticateUpload(req: IncomingMessage, action: string, params: Params): Promise<boolean> {
    if (basicAuth(req) === 'ok') return true;
    const signature = str(params.signature);
    if (!signature) {
      if (action === 'upload' && str(params.upload_preset)) return false;
      if (action === 'upload') throw fail(400, 'Upload preset must be specified when using unsigned upload');
      throw fail(401, 'Must supply api_key');
    }
    const key = str(params.api_key);
    if (!key) throw fail(401, 'Must supply api_key');
    if (key !== apiKey) throw fail(401, `Invalid api_key ${key}`);
    const timestamp = str(params.timestamp);
    if (!timestamp) throw fail(400, 'Missing required parameter - timestamp');
    const toSign: Params = {};
    for (const [k, v] of Object.entries(params)) if (!UNSIGNED_PARAMS.has(k)) toSign[k] = v;
    const sign = await signWith();
    const algorithm = signature.length === 64 ? 'sha256' : 'sha1';
    if (![2, 1].some((version) => sign(toSign, apiSecret, algorithm, version) === signature))
      throw fail(401, `Invalid Signature ${signature}. String to sign - '${stringToSign(toSign)}'.`);
    const ts = Number(timestamp);
    if (!Number.isFinite(ts)) throw fail(400, `Invalid timestamp ${timestamp}`);
    if (ts < unixNow() - STALE_AFTER_SECONDS)
      throw fail(400, `Stale request - reported time is ${cloudinaryTime(ts)} which is more than 1 hour ago`);
    if (ts > unixNow() + STALE_AFTER_SECONDS)
      throw fail(
        400,
        `Stale request - reported time is ${cloudinaryTime(ts)} which is more than 1 hour in the future`,
      );
    return true;
  }

  function adminHeaders(): Record<string, string> {
    rateRemaining = Math.max(0, rateRemaining - 1);
    return {
      'x-featureratelimit-limit': String(RATE_LIMIT),
      'x-featureratelimit-remaining': String(rateRemaining),
      'x-featureratelimit-reset': nextHour().toUTCString(),
    };
  }

  // --- Upload API ----------------------------------------------------------------------------------------------

  async function readSource(
    params: Params,
    file: UploadedFile | undefined,
  ): Promise<{ bytes: Buffer; filename: string; mime?: string }> {
    if (file) return file;
    const source = str(params.file);
    if (!source) throw fail(400, 'Missing required parameter - file');
    const data = /^data:([^;,]*)((?:;[^;,]*)*?)(;base64)?,(.*)$/s.exec(source);
    if (data) {
      const payload = data[4] ?? '';
      const bytes = data[3] ? Buffer.from(payload, 'base64') : Buffer.from(safeDecode(payload), 'utf8');
      return { bytes, filename: 'file', ...(data[1] ? { mime: data[1] } : {}) };
    }
    if (/^https?:\/\//i.test(source)) {
      let res: Response;
      try {
        res = await fetch(source, { signal: AbortSignal.timeout(10_000) });
      } catch (err) {
        throw fail(400, `Error in loading ${source} - ${(err as Error).message}`);
      }
      if (!res.ok) throw fail(400, `Error in loading ${source} - ${res.status} ${res.statusText}`);
      const bytes = Buffer.from(await res.arrayBuffer());
      const name = safeDecode(new URL(source).pathname.split('/').at(-1) ?? '') || 'file';
      const mime = res.headers.get('content-type')?.split(';')[0];
      return { bytes, filename: name, ...(mime ? { mime } : {}) };
    }
    throw fail(400, `Unsupported source URL: ${source.slice(0, 100)}`);
  }

  /**
   * An upload, from one request or assembled from chunks; `sizeChecked` says the size limit was already applied
   * (per chunk), so the assembled total is not held to it.
   */
  async function upload(
    requested: string,
    params: Params,
    file: UploadedFile | undefined,
    signed: boolean,
    sizeChecked = false,
  ) {
    const source = await readSource(params, file);
    const filename = str(params.filename_override) || source.filename;
    const dot = filename.lastIndexOf('.');
    const stem = dot > 0 ? filename.slice(0, dot) : filename;
    const ext = dot > 0 ? filename.slice(dot + 1).toLowerCase() : '';
    const sniffed = sniff(source.bytes);
    let resourceType: FakeResourceType;
    if (requested === 'auto') resourceType = sniffed?.kind ?? 'raw';
    else resourceType = requested as FakeResourceType;
    if (resourceType === 'image' && sniffed?.kind !== 'image') throw fail(400, 'Invalid image file');
    if (!sizeChecked) checkSize(source.bytes.length, resourceType);
    const mimeFormat = source.mime ? (MIME_FORMATS[source.mime] ?? source.mime.split('/')[1]) : undefined;
    const format =
      resourceType === 'raw'
        ? undefined
        : resourceType === 'image'
          ? sniffed?.format
          : sniffed?.kind === 'video'
            ? sniffed.format
            : ext || mimeFormat || 'mp4';

    const folder = (str(params.folder) ?? '').replace(/^\/+|\/+$/g, '');
    let id = str(params.public_id);
    if (!id) {
      const safeStem = stem.replace(/[^\w-]+/g, '_') || 'file';
      id = truthy(params.use_filename)
        ? falsy(params.unique_filename)
          ? safeStem
          : `${safeStem}_${randomPublicId().slice(0, 6)}`
        : randomPublicId();
      if (resourceType === 'raw' && ext) id = `${id}.${ext}`;
    }
    const publicId = folder ? `${folder}/${id}` : id;
    const type = str(params.type) || 'upload';

    const existing = assets.get(publicId);
    const overwrite = params.overwrite === undefined ? signed : truthy(params.overwrite);
    if (existing && existing.resourceType === resourceType && existing.type === type && !overwrite)
      return {
        ...details(existing),
        original_filename: existing.originalFilename,
        api_key: apiKey,
        existing: true,
      };

    const tags = list(params.tags);
    const context = parseContext(str(params.context));
    const durationTag = tags.find((t) => t.startsWith('duration='))?.slice('duration='.length);
    const duration = resourceType === 'video' ? Number(context.duration ?? durationTag ?? 0) || 0 : undefined;
    const version = Math.max(lastVersion + 1, unixNow());
    lastVersion = version;
    const asset: FakeAsset = {
      assetId: existing?.assetId ?? randomHex(16),
      publicId,
      resourceType,
      type,
      version,
      versionId: randomHex(16),
      format,
      width: sniffed?.width ?? 0,
      height: sniffed?.height ?? 0,
      bytes: source.bytes,
      etag: createHash('md5').update(source.bytes).digest('hex'),
      createdAt: new Date(),
      originalFilename: stem,
      folder,
      tags,
      context,
      duration,
      derived: [],
    };
    assets.set(publicId, asset);
    created.set(asset, ++creationSeq);
    if (existing && truthy(params.invalidate)) invalidate(publicId);
    const eager = runEager(asset, params);
    const sign = await signWith();
    return {
      ...details(asset),
      signature: sign({ public_id: publicId, version }, apiSecret, null, 1),
      original_filename: stem,
      api_key: apiKey,
      ...(existing ? { overwritten: true } : {}),
      ...(eager ? { eager } : {}),
      ...(eager && truthy(params.eager_async) ? { pending: true } : {}),
    };
  }

  function checkSize(size: number, resourceType: FakeResourceType) {
    if (size > MAX_BYTES[resourceType])
      throw fail(400, `File size too large. Got ${size}. Maximum is ${MAX_BYTES[resourceType]}.`);
  }

  /**
   * One chunk of a chunked upload (`X-Unique-Upload-Id` + `Content-Range`), already authenticated. Appends it to
   * its pending upload; the last chunk (the one with the real total) turns the assembled bytes into an upload.
   * Each chunk is held to the single-request size limit, the total is not. A refused chunk leaves the pending
   * upload as it was, so the right chunk can still be sent.
   */
  async function uploadChunk(
    requested: string,
    params: Params,
    file: UploadedFile | undefined,
    signed: boolean,
    uploadId: string,
    contentRange: string,
  ) {
    const range = parseContentRange(contentRange);
    if (!range) throw fail(400, `Invalid Content-Range header ${contentRange}`);
    if (!file) throw fail(400, 'Missing required parameter - file');
    const { start, end, total } = range;
    const length = end - start + 1;
    if (length !== file.bytes.length)
      throw fail(
        400,
        `Chunk size mismatch: Content-Range ${contentRange} declares ${length} bytes, got ${file.bytes.length}`,
      );
    // From here to the hand-over to upload(), nothing awaits: concurrent chunks of one upload cannot interleave.
    const pending = chunkedUploads.get(uploadId);
    const received = pending?.received ?? 0;
    if (start !== received)
      throw fail(
        400,
        `Chunk out of order for upload ${uploadId}: Content-Range starts at ${start}, ${received} bytes received so far`,
      );
    if (pending && pending.requested !== requested)
      throw fail(
        400,
        `Chunk resource type ${requested} differs from the upload's ${pending.requested} (upload ${uploadId})`,
      );
    const limitType =
      pending?.limitType ??
      (requested === 'auto' ? (sniff(file.bytes)?.kind ?? 'raw') : (requested as FakeResourceType));
    checkSize(file.bytes.length, limitType);
    const last = total !== -1;
    if (last && start + length !== total)
      throw fail(
        400,
        `Chunk size mismatch: Content-Range ${contentRange} ends at ${start + length} bytes, not the total ${total}`,
      );
    const entry: PendingChunked = pending ?? { requested, limitType, parts: [], received: 0 };
    entry.parts.push(file.bytes);
    entry.received += file.bytes.length;
    if (!last) {
      chunkedUploads.set(uploadId, entry);
      return { done: false, bytes: entry.received, upload_id: uploadId };
    }
    chunkedUploads.delete(uploadId);
    const whole = { bytes: Buffer.concat(entry.parts, entry.received), filename: file.filename };
    return upload(requested, params, whole, signed, true);
  }

  function findAsset(publicId: string, resourceType: string, type: string): FakeAsset | undefined {
    const a = assets.get(publicId);
    return a && a.resourceType === resourceType && a.type === type ? a : undefined;
  }

  function destroy(resourceType: string, params: Params) {
    const publicId = str(params.public_id);
    if (!publicId) throw fail(400, 'Missing required parameter - public_id');
    const a = findAsset(publicId, resourceType, str(params.type) || 'upload');
    if (!a) return { result: 'not found' };
    assets.delete(publicId);
    if (truthy(params.invalidate)) invalidate(publicId);
    return { result: 'ok' };
  }

  function explicit(resourceType: string, params: Params) {
    const publicId = str(params.public_id);
    if (!publicId) throw fail(400, 'Missing required parameter - public_id');
    const a = findAsset(publicId, resourceType, str(params.type) || 'upload');
    if (!a) throw fail(404, `Resource not found - ${publicId}`);
    if (params.tags !== undefined) a.tags = list(params.tags);
    if (params.context !== undefined) a.context = parseContext(str(params.context));
    if (truthy(params.invalidate)) invalidate(publicId);
    const eager = runEager(a, params);
    return { ...details(a), ...(eager ? { eager } : {}) };
  }

  // --- Admin API -----------------------------------------------------------------------------------------------

  /** List entries carry `tags` and `context` only when asked for (`tags=true`, `context=true`). */
  function resourceListEntry(a: FakeAsset, params: Params) {
    const { tags, context, ...rest } = details(a) as Record<string, unknown>;
    return {
      ...rest,
      ...(truthy(params.tags) ? { tags } : {}),
      ...(truthy(params.context) && context ? { context } : {}),
    };
  }

  function listResources(resourceType: string, type: string | undefined, params: Params, tag?: string) {
    const maxRaw = str(params.max_results);
    const max = maxRaw === undefined ? 10 : Number(maxRaw);
    if (!Number.isInteger(max) || max < 1 || max > 500) throw fail(400, `Invalid max_results ${maxRaw}`);
    const prefix = str(params.prefix);
    const ids = params.public_ids === undefined ? undefined : new Set(list(params.public_ids));
    let items = [...assets.values()].filter(
      (a) =>
        a.resourceType === resourceType &&
        (type === undefined || a.type === type) &&
        (prefix === undefined || a.publicId.startsWith(prefix)) &&
        (ids === undefined || ids.has(a.publicId)) &&
        (tag === undefined || a.tags.includes(tag)),
    );
    const direction = str(params.direction);
    const ascending = direction === 'asc' || direction === '1';
    const key = (a: FakeAsset): string =>
      prefix !== undefined ? a.publicId : String(created.get(a) ?? 0).padStart(12, '0');
    items.sort((x, y) => key(x).localeCompare(key(y)));
    if (prefix === undefined && !ascending) items.reverse();
    const cursor = str(params.next_cursor);
    if (cursor) {
      let after: string;
      try {
        after = String(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')).after);
      } catch {
        throw fail(400, `Invalid next_cursor ${cursor}`);
      }
      const descending = prefix === undefined && !ascending;
      items = items.filter((a) => (descending ? key(a) < after : key(a) > after));
    }
    const page = items.slice(0, max);
    const last = page.at(-1);
    return {
      resources: page.map((a) => resourceListEntry(a, params)),
      ...(items.length > max && last
        ? { next_cursor: Buffer.from(JSON.stringify({ after: key(last) })).toString('base64url') }
        : {}),
    };
  }

  function deleteResources(resourceType: string, type: string, params: Params) {
    let targets: string[];
    if (params.public_ids !== undefined) targets = list(params.public_ids);
    else if (params.prefix !== undefined) {
      const prefix = str(params.prefix) ?? '';
      targets = [...assets.values()]
        .filter((a) => a.resourceType === resourceType && a.type === type && a.publicId.startsWith(prefix))
        .map((a) => a.publicId);
    } else if (truthy(params.all))
      targets = [...assets.values()]
        .filter((a) => a.resourceType === resourceType && a.type === type)
        .map((a) => a.publicId);
    else throw fail(400, 'Must specify public_ids, prefix or all');
    const keepOriginal = truthy(params.keep_original);
    const deleted: Record<string, 'deleted' | 'not_found'> = {};
    const counts: Record<string, { original: number; derived: number }> = {};
    for (const id of targets) {
      const a = findAsset(id, resourceType, type);
      if (!a) {
        deleted[id] = 'not_found';
        continue;
      }
      deleted[id] = 'deleted';
      counts[id] = { original: keepOriginal ? 0 : 1, derived: a.derived.length };
      if (keepOriginal) a.derived = [];
      else assets.delete(id);
      if (truthy(params.invalidate)) invalidate(id);
    }
    return { deleted, deleted_counts: counts, partial: false };
  }

  function usage() {
    const all = [...assets.values()];
    const storage = all.reduce((n, a) => n + a.bytes.length, 0);
    const derived = all.reduce((n, a) => n + a.derived.filter((d) => d.status === 'complete').length, 0);
    const credits = (x: number) => Math.round(x * 100) / 100;
    const storageCredits = credits(storage / 1e9);
    const bandwidthCredits = credits(bandwidth / 1e9);
    const transformationCredits = credits(derived / 1000);
    const used = credits(storageCredits + bandwidthCredits + transformationCredits);
    return {
      plan: 'Free',
      last_updated: new Date().toISOString().slice(0, 10),
      date_requested: isoSeconds(new Date()),
      transformations: { usage: derived, credits_usage: transformationCredits },
      objects: { usage: all.length + derived },
      bandwidth: { usage: bandwidth, credits_usage: bandwidthCredits },
      storage: { usage: storage, credits_usage: storageCredits },
      credits: { usage: used, limit: 25, used_percent: credits((used / 25) * 100) },
      requests: deliveries,
      resources: all.length,
      derived_resources: derived,
      media_limits: {
        image_max_size_bytes: MAX_BYTES.image,
        video_max_size_bytes: MAX_BYTES.video,
        raw_max_size_bytes: MAX_BYTES.raw,
        image_max_px: 25_000_000,
        asset_max_total_px: 50_000_000,
      },
    };
  }

  const namedEntry = (t: FakeNamedTransformation) => ({
    name: `t_${t.name}`,
    allowed_for_strict: t.allowedForStrict,
    used: t.used,
    named: true,
  });

  function transformationsApi(method: string, pathName: string | undefined, params: Params) {
    const raw = pathName ?? str(params.transformation);
    if (method === 'GET' && raw === undefined) {
      const named = str(params.named);
      const entries = [
        ...(named === 'false' ? [] : [...transformations.values()].map(namedEntry)),
        ...(named === 'true'
          ? []
          : [...usedUnnamed].map((name) => ({ name, allowed_for_strict: false, used: true, named: false }))),
      ];
      return { transformations: entries };
    }
    if (method === 'POST') {
      const name = pathName ?? str(params.name);
      if (!name) throw fail(400, 'Missing required parameter - name');
      if (!/^[\w-]+$/.test(name) || name.startsWith('t_'))
        throw fail(400, `Invalid transformation name ${name}`);
      const definition = str(params.transformation);
      if (!definition) throw fail(400, 'Missing required parameter - transformation');
      if (transformations.has(name)) throw fail(409, `Transformation ${name} already exists`);
      transformations.set(name, {
        name,
        transformation: definition,
        allowedForStrict: truthy(params.allowed_for_strict),
        used: false,
      });
      return { message: 'created' };
    }
    if (raw === undefined) throw fail(400, 'Missing required parameter - transformation');
    const name = raw.startsWith('t_') ? raw.slice(2) : raw;
    const named = transformations.get(name);
    if (method === 'GET') {
      if (named) return { ...namedEntry(named), info: transformationInfo(named.transformation), derived: [] };
      if (usedUnnamed.has(raw)) {
        const derived = [...assets.values()].flatMap((a) =>
          a.derived
            .filter((d) => d.spec === raw && d.status === 'complete')
            .map((d) => ({
              public_id: a.publicId,
              resource_type: a.resourceType,
              type: a.type,
              format: d.format,
              url: deliveryUrl(a, d.transformation, d.format),
              secure_url: deliveryUrl(a, d.transformation, d.format),
              bytes: a.bytes.length,
              id: createHash('md5').update(`${a.publicId}/${d.spec}`).digest('hex'),
            })),
        );
        return {
          name: raw,
          allowed_for_strict: false,
          used: true,
          named: false,
          info: transformationInfo(splitEager(raw).transformation),
          derived,
        };
      }
      throw fail(404, `Transformation ${raw} not found`);
    }
    if (!named) throw fail(404, `Transformation ${raw} not found`);
    if (method === 'PUT') {
      if (params.allowed_for_strict !== undefined) named.allowedForStrict = truthy(params.allowed_for_strict);
      const update = str(params.unsafe_update);
      if (update) named.transformation = update;
      return { message: 'updated' };
    }
    if (method === 'DELETE') {
      transformations.delete(name);
      return { message: 'deleted' };
    }
    throw fail(404, `Unsupported method ${method} for transformations`);
  }

  const RESOURCE_TYPES = new Set(['image', 'video', 'raw']);

  function admin(method: string, segs: string[], params: Params): object {
    const [head, rt, type, ...rest] = segs;
    if (head === 'ping' && segs.length === 1) return { status: 'ok' };
    if (head === 'usage' && segs.length <= 2 && method === 'GET') return usage();
    if (head === 'transformations')
      return transformationsApi(method, segs.length > 1 ? segs.slice(1).join('/') : undefined, params);
    if (head === 'resources') {
      if (rt === undefined && method === 'GET')
        return { resource_types: [...new Set([...assets.values()].map((a) => a.resourceType))] };
      if (rt === undefined || !RESOURCE_TYPES.has(rt)) throw fail(400, `Invalid resource type ${rt ?? ''}`);
      if (type === 'tags' && rest.length > 0 && method === 'GET')
        return listResources(rt, undefined, params, rest.join('/'));
      if (rest.length === 0) {
        if (method === 'GET') return listResources(rt, type, params);
        if (method === 'DELETE' && type !== undefined) return deleteResources(rt, type, params);
      } else if (type !== undefined && method === 'GET') {
        const publicId = rest.join('/');
        const a = findAsset(publicId, rt, type);
        if (!a) throw fail(404, `Resource not found - ${publicId}`);
        return {
          ...details(a),
          derived: a.derived
            .filter((d) => d.status === 'complete')
            .map((d) => ({
              transformation: d.transformation,
              format: d.format,
              bytes: a.bytes.length,
              id: createHash('md5').update(`${a.publicId}/${d.spec}`).digest('hex'),
              url: deliveryUrl(a, d.transformation, d.format),
              secure_url: deliveryUrl(a, d.transformation, d.format),
            })),
        };
      }
    }
    throw fail(404, `Not found: ${method} /${segs.join('/')}`);
  }

  // --- Delivery ------------------------------------------------------------------------------------------------

  function deliver(req: IncomingMessage, res: ServerResponse, segs: string[]) {
    const [c, rt, type, ...rest] = segs;
    const notFound = (message: string) =>
      res.writeHead(404, { 'content-type': 'text/plain', 'x-cld-error': message }).end(message);
    if (c !== cloud || rt === undefined || type === undefined || rest.length === 0 || !RESOURCE_TYPES.has(rt))
      return notFound('Resource not found');
    const vIndex = rest.findIndex((s) => /^v\d+$/.test(s));
    const lookup = (idParts: string[]) => {
      const joined = idParts.join('/');
      if (rt === 'raw') return { a: findAsset(joined, rt, type), ext: undefined };
      const dot = joined.lastIndexOf('.');
      const id = dot > joined.lastIndexOf('/') ? joined.slice(0, dot) : joined;
      const ext = dot > joined.lastIndexOf('/') ? joined.slice(dot + 1) : undefined;
      return { a: findAsset(id, rt, type), ext };
    };
    let found: { a: FakeAsset | undefined; ext: string | undefined } = { a: undefined, ext: undefined };
    let transformation: string[] = [];
    if (vIndex >= 0) {
      transformation = rest.slice(0, vIndex);
      found = lookup(rest.slice(vIndex + 1));
    } else
      for (let k = 0; k < rest.length && !found.a; k++) {
        transformation = rest.slice(0, k);
        found = lookup(rest.slice(k));
      }
    const { a, ext } = found;
    if (!a) return notFound(`Resource not found - ${rest.at(-1) ?? ''}`);
    try {
      checkNamed(transformation.join('/'));
    } catch (err) {
      const message = (err as Error).message;
      return res.writeHead(400, { 'content-type': 'text/plain', 'x-cld-error': message }).end(message);
    }
    const format = ext ?? a.format ?? '';
    deliveries++;
    if (req.method !== 'HEAD') bandwidth += a.bytes.length;
    res
      .writeHead(200, {
        'content-type': CONTENT_TYPES[format.toLowerCase()] ?? 'application/octet-stream',
        'content-length': String(a.bytes.length),
        etag: `"${a.etag}"`,
        'cache-control': 'public, max-age=2592000',
      })
      .end(req.method === 'HEAD' ? undefined : a.bytes);
  }

  // --- dispatch ------------------------------------------------------------------------------------------------

  const respond = (
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ) => {
    if (res.destroyed || res.writableEnded) return;
    res
      .writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers })
      .end(JSON.stringify(body));
  };

  async function readBody(req: IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      const buf = chunk as Buffer;
      size += buf.length;
      if (size > MAX_BODY) throw fail(413, 'Request entity too large');
      chunks.push(buf);
    }
    return Buffer.concat(chunks);
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = req.method ?? 'GET';
    const segs = url.pathname.split('/').slice(1).filter(Boolean).map(safeDecode);
    if (segs[0] !== 'v1_1') {
      await readBody(req);
      if (method !== 'GET' && method !== 'HEAD')
        return respond(res, 405, { error: { message: 'Method not allowed' } });
      return deliver(req, res, segs);
    }

    const raw = await readBody(req);
    const record: FakeCloudinaryRequest = { method, path: url.pathname, params: {} };
    const uploadId = req.headers['x-unique-upload-id'];
    const contentRange = req.headers['content-range'];
    if (typeof uploadId === 'string' && uploadId && typeof contentRange === 'string' && contentRange)
      record.chunk = { uploadId, contentRange };
    requests.push(record);
    const answer = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      record.status = status;
      respond(res, status, body, headers);
    };
    try {
      const { params, file } = await parseParams(req, url, raw);
      record.params = summarise(params, file);

      const failure = failures[0];
      if (failure) {
        if (--failure.remaining <= 0) failures.shift();
        return answer(failure.status, failure.body, failure.headers);
      }

      const [, reqCloud, ...rest] = segs;
      if (reqCloud !== cloud) throw fail(401, `Invalid cloud_name ${reqCloud ?? ''}`);
      const [first, action] = rest;
      const isUploadApi =
        rest.length === 2 &&
        first !== undefined &&
        (RESOURCE_TYPES.has(first) || first === 'auto') &&
        action !== undefined &&
        ['upload', 'destroy', 'explicit'].includes(action);
      if (isUploadApi && first !== undefined && action !== undefined) {
        if (method !== 'POST') throw fail(404, `Unsupported method ${method}`);
        if (first === 'auto' && action !== 'upload') throw fail(400, 'Invalid resource type auto');
        const signed = await authenticateUpload(req, action, params);
        const body =
          action === 'upload' && record.chunk
            ? await uploadChunk(first, params, file, signed, record.chunk.uploadId, record.chunk.contentRange)
            : action === 'upload'
              ? await upload(first, params, file, signed)
              : action === 'destroy'
                ? destroy(first, params)
                : explicit(first, params);
        return answer(200, body);
      }

      if (basicAuth(req) === 'none') throw fail(401, 'Must supply api_key');
      const headers = adminHeaders();
      try {
        return answer(200, admin(method, rest, params), headers);
      } catch (err) {
        if (err instanceof CloudinaryError)
          return answer(err.status, { error: { message: err.message } }, { ...headers, ...err.headers });
        throw err;
      }
    } catch (err) {
      if (err instanceof CloudinaryError)
        return answer(err.status, { error: { message: err.message } }, err.headers);
      return answer(500, { error: { message: `fake Cloudinary crashed: ${String(err)}` } });
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof CloudinaryError)
        return respond(res, err.status, { error: { message: err.message } });
      respond(res, 500, { error: { message: `fake Cloudinary crashed: ${String(err)}` } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  base = `http://127.0.0.1:${port}`;

  // --- notifications -------------------------------------------------------------------------------------------

  const signNotification = (body: string, timestamp: number, secret = apiSecret) =>
    createHash('sha1')
      .update(body + timestamp + secret)
      .digest('hex');

  async function notify(
    url: string,
    payload: unknown,
    o: NotifyOptions = {},
  ): Promise<FakeCloudinaryNotification> {
    const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
    const timestamp = o.timestamp ?? unixNow();
    const signature =
      o.signature === 'none'
        ? undefined
        : signNotification(body, timestamp, o.signature === 'wrong' ? randomHex(16) : apiSecret);
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'Cloudinary',
        'x-cld-timestamp': String(timestamp),
        ...(signature ? { 'x-cld-signature': signature } : {}),
      },
      body,
      signal: AbortSignal.timeout(10_000),
    });
    const delivery: FakeCloudinaryNotification = {
      url,
      payload: typeof payload === 'string' ? JSON.parse(payload) : payload,
      body,
      timestamp,
      signature,
      status: res.status,
      responseBody: await res.text(),
    };
    notifications.push(delivery);
    return delivery;
  }

  async function completeEager(publicId: string, o: CompleteEagerOptions = {}) {
    const index = batches.findIndex((b) => b.publicId === publicId);
    const batch = batches[index];
    if (!batch) throw new Error(`fake Cloudinary: no eager transformation is processing for ${publicId}`);
    batches.splice(index, 1);
    const a = assets.get(publicId);
    if (!a) throw new Error(`fake Cloudinary: ${publicId} was deleted while its eager batch was processing`);
    const ok = o.ok ?? true;
    const reason = o.reason ?? 'Video processing failed: unsupported codec';
    for (const d of a.derived)
      if (d.batchId === batch.batchId) {
        d.status = ok ? 'complete' : 'failed';
        if (!ok) d.reason = reason;
      }
    if (!batch.notificationUrl) return null;
    return notify(
      batch.notificationUrl,
      {
        notification_type: 'eager',
        timestamp: new Date().toISOString(),
        request_id: randomHex(16),
        asset_id: a.assetId,
        batch_id: batch.batchId,
        public_id: a.publicId,
        resource_type: a.resourceType,
        type: a.type,
        eager: batch.specs.map((spec) =>
          ok ? eagerInfo(a, spec) : { transformation: spec, status: 'failed', reason },
        ),
      },
      o,
    );
  }

  return {
    url: base,
    cloud,
    apiKey,
    apiSecret,
    cloudinaryUrl: `cloudinary://${apiKey}:${apiSecret}@${cloud}?upload_prefix=${base}`,
    assets,
    transformations,
    requests,
    invalidations,
    notifications,
    get pendingChunked() {
      return chunkedUploads.size;
    },
    completeEager,
    notify,
    signNotification: (body, timestamp) => signNotification(body, timestamp),
    failNext(n, status, body, headers) {
      if (n <= 0) return;
      const rateLimited = status === 420 || status === 429;
      failures.push({
        remaining: n,
        status,
        body: body ?? defaultFailureBody(status),
        headers:
          headers ??
          (rateLimited
            ? {
                'x-featureratelimit-limit': String(RATE_LIMIT),
                'x-featureratelimit-remaining': '0',
                'x-featureratelimit-reset': nextHour().toUTCString(),
              }
            : {}),
      });
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
