import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { deflateSync } from 'node:zlib';
import type {
  v2 as CloudinaryV2,
  UploadApiErrorResponse,
  UploadApiOptions,
  UploadApiResponse,
} from 'cloudinary';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeCloudinary, startFakeCloudinary } from './fakes/cloudinary.js';

// ---------------------------------------------------------------------------------------------------------------
// Test media
// ---------------------------------------------------------------------------------------------------------------

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const byte of buf) c = (CRC_TABLE[(c ^ byte) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const typed = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typed));
  return Buffer.concat([length, typed, crc]);
}
/** A valid truecolour PNG of width × height, built with node:zlib. */
function png(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: RGB
  const rows: Buffer[] = [];
  for (let y = 0; y < height; y++) {
    const row = Buffer.alloc(1 + width * 3); // filter byte 0, then RGB
    for (let x = 0; x < width; x++) row.set([(x * 80) & 0xff, (y * 120) & 0xff, 200], 1 + x * 3);
    rows.push(row);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(Buffer.concat(rows))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}
/** The start of a baseline JPEG: SOI, APP0 (JFIF), SOF0 of 800 × 450. Enough for the header to be read. */
const JPEG_HEAD = Buffer.from([
  0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01,
  0x00, 0x00, 0xff, 0xc0, 0x00, 0x11, 0x08, 0x01, 0xc2, 0x03, 0x20, 0x03, 0x01, 0x22, 0x00, 0x02, 0x11, 0x01,
  0x03, 0x11, 0x01, 0xff, 0xd9,
]);
/** An MP4-looking file (an `ftyp` box, then noise). */
const VIDEO = Buffer.concat([
  Buffer.from([0, 0, 0, 0x18]),
  Buffer.from('ftypmp42', 'latin1'),
  randomBytes(64),
]);

const POSTER = png(3, 2);
const dataUri = (bytes: Buffer, mime = 'image/png') => `data:${mime};base64,${bytes.toString('base64')}`;
const unixNow = () => Math.floor(Date.now() / 1000);

/** Resolves with what a promise rejected with; fails if it resolved. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

// ---------------------------------------------------------------------------------------------------------------
// A local notification receiver, which also serves a file for upload-from-URL
// ---------------------------------------------------------------------------------------------------------------

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

async function startReceiver() {
  const received: Received[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (req.method === 'GET' && req.url === '/media/poster.png') {
      res.writeHead(200, { 'content-type': 'image/png' }).end(POSTER);
      return;
    }
    received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

// ---------------------------------------------------------------------------------------------------------------

describe('Cloudinary fake, with the real cloudinary SDK', () => {
  let fake: FakeCloudinary;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let cld: typeof CloudinaryV2;
  let prefixFromEnv: unknown;

  beforeAll(async () => {
    fake = await startFakeCloudinary({
      cloud: 'tickets-test',
      apiKey: '614335564976464',
      apiSecret: 'fake-secret_123',
    });
    receiver = await startReceiver();
    // The first-import trap: the SDK chooses http or https from upload_prefix when it is first loaded, so the
    // http:// prefix must be in CLOUDINARY_URL before this (the only) import of it in this file.
    process.env.CLOUDINARY_URL = fake.cloudinaryUrl;
    cld = (await import('cloudinary')).v2;
    prefixFromEnv = cld.config().upload_prefix;
    cld.config({
      cloud_name: fake.cloud,
      api_key: fake.apiKey,
      api_secret: fake.apiSecret,
      upload_prefix: fake.url,
    });
  });
  afterAll(async () => {
    delete process.env.CLOUDINARY_URL;
    await receiver?.close();
    await fake?.close();
  });

  function uploadStream(bytes: Buffer, options: UploadApiOptions): Promise<UploadApiResponse> {
    return new Promise((resolve, reject) => {
      const stream = cld.uploader.upload_stream(options, (error, result) => {
        if (error) reject(error);
        else if (result) resolve(result);
        else reject(new Error('upload_stream called back with neither an error nor a result'));
      });
      // In several chunks, so the body really is streamed.
      Readable.from([bytes.subarray(0, 8), bytes.subarray(8, 20), bytes.subarray(20)]).pipe(stream);
    });
  }

  /** Splits bytes into pieces of `size` (the last one shorter). */
  const pieces = (bytes: Buffer, size: number) =>
    Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) =>
      bytes.subarray(i * size, (i + 1) * size),
    );

  /**
   * A callback for the SDK's chunked uploads, which return a stream, not a promise. The v1 uploader calls back
   * with ONE argument (the last chunk's result, or `{ error }`); the v2 one used here wraps that callback
   * (`v1_result_adapter`) into `(error, result)`, as its types say. It is called once, after the last chunk or
   * the first refused one.
   */
  const settle =
    (resolve: (r: UploadApiResponse) => void, reject: (e: unknown) => void) =>
    (error?: UploadApiErrorResponse, result?: UploadApiResponse) => {
      if (error) reject(error);
      else if (result) resolve(result);
      else reject(new Error('a chunked upload called back with neither an error nor a result'));
    };

  /** The SDK's `upload_chunked_stream`, fed `bytes` in pieces of `pieceSize`. */
  function uploadChunked(
    bytes: Buffer,
    options: UploadApiOptions,
    pieceSize: number,
  ): Promise<UploadApiResponse> {
    return new Promise((resolve, reject) => {
      const stream = cld.uploader.upload_chunked_stream(options, settle(resolve, reject));
      // Pieces that do not line up with chunk_size, as a file read would give them.
      Readable.from(pieces(bytes, pieceSize)).pipe(stream);
    });
  }

  /** One chunk as the SDK posts it (signed multipart, the two headers), built by hand to post what it never would. */
  async function postChunk(
    bytes: Buffer,
    headers: { uploadId: string; contentRange: string },
    params: Record<string, string>,
    resourceType = 'video',
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const signed = { ...params, timestamp: String(unixNow()) };
    const form = new FormData();
    for (const [k, v] of Object.entries(signed)) form.append(k, v);
    form.append('signature', cld.utils.api_sign_request(signed, fake.apiSecret));
    form.append('api_key', fake.apiKey);
    form.append('file', new Blob([bytes]), 'file');
    const res = await fetch(`${fake.url}/v1_1/${fake.cloud}/${resourceType}/upload`, {
      method: 'POST',
      headers: { 'X-Unique-Upload-Id': headers.uploadId, 'Content-Range': headers.contentRange },
      body: form,
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  it('is what CLOUDINARY_URL points the SDK at', () => {
    expect(fake.cloudinaryUrl).toBe(
      `cloudinary://614335564976464:fake-secret_123@tickets-test?upload_prefix=${fake.url}`,
    );
    expect(prefixFromEnv).toBe(fake.url);
    expect(fake.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('takes a streamed multipart PNG, reads its size, stores it and serves it back', async () => {
    const decoded = PNG.sync.read(POSTER);
    expect([decoded.width, decoded.height]).toEqual([3, 2]);

    const res = await uploadStream(POSTER, {
      folder: 'events/42',
      filename: 'poster.png',
      tags: ['event-42'],
    });

    expect(res.public_id).toMatch(/^events\/42\/[a-z0-9]{20}$/);
    expect(res).toMatchObject({
      width: 3,
      height: 2,
      format: 'png',
      bytes: POSTER.length,
      resource_type: 'image',
      type: 'upload',
      original_filename: 'poster',
      tags: ['event-42'],
      asset_folder: 'events/42',
      api_key: fake.apiKey,
    });
    expect(res.asset_id).toMatch(/^[0-9a-f]{32}$/);
    expect(res.version_id).toMatch(/^[0-9a-f]{32}$/);
    expect(res.version).toBeGreaterThanOrEqual(unixNow() - 5);
    expect(res.etag).toBe(createHash('md5').update(POSTER).digest('hex'));
    expect(res.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(res.secure_url).toBe(`${fake.url}/tickets-test/image/upload/v${res.version}/${res.public_id}.png`);
    expect(res.url).toBe(res.secure_url);
    // The answer's signature, as Cloudinary signs it (what PreloadedFile#is_valid checks).
    expect(res.signature).toBe(
      cld.utils.api_sign_request({ public_id: res.public_id, version: res.version }, fake.apiSecret),
    );

    expect(fake.assets.get(res.public_id)?.bytes.equals(POSTER)).toBe(true);
    const request = fake.requests.at(-1);
    expect(request).toMatchObject({ method: 'POST', path: '/v1_1/tickets-test/image/upload', status: 200 });
    expect(request?.params).toMatchObject({
      api_key: fake.apiKey,
      folder: 'events/42',
      tags: 'event-42',
      file: `<${POSTER.length} bytes: poster.png>`,
    });
    expect(request?.params.signature).toMatch(/^[0-9a-f]{40}$/);
    expect(Number(request?.params.timestamp)).toBeGreaterThanOrEqual(unixNow() - 5);

    const delivered = await fetch(res.secure_url);
    expect(delivered.status).toBe(200);
    expect(delivered.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await delivered.arrayBuffer()).equals(POSTER)).toBe(true);
  });

  it('takes a data URI, with context, and versions an overwrite of the same public id', async () => {
    const first = await cld.uploader.upload(dataUri(POSTER), {
      public_id: 'cover',
      folder: 'events/7',
      context: { alt: 'Main stage', caption: 'a=b|c' },
    });
    expect(first).toMatchObject({
      public_id: 'events/7/cover',
      width: 3,
      height: 2,
      bytes: POSTER.length,
      original_filename: 'file',
      context: { custom: { alt: 'Main stage', caption: 'a=b|c' } },
    });
    expect(first.overwritten).toBeUndefined();

    const bigger = png(4, 5);
    const second = await cld.uploader.upload(dataUri(bigger), {
      public_id: 'cover',
      folder: 'events/7',
      invalidate: true,
    });
    expect(second).toMatchObject({ public_id: 'events/7/cover', width: 4, height: 5, overwritten: true });
    expect(second.version).toBeGreaterThan(first.version);
    expect(second.asset_id).toBe(first.asset_id);
    expect(second.version_id).not.toBe(first.version_id);
    expect(fake.invalidations).toContain('events/7/cover');
    const served = await fetch(first.secure_url); // the old version's URL serves the current bytes
    expect(Buffer.from(await served.arrayBuffer()).equals(bigger)).toBe(true);
  });

  it('reads JPEG dimensions and uploads from a URL it fetches', async () => {
    const jpeg = await cld.uploader.upload(dataUri(JPEG_HEAD, 'image/jpeg'), { public_id: 'jpeg-probe' });
    expect(jpeg).toMatchObject({ format: 'jpg', width: 800, height: 450, bytes: JPEG_HEAD.length });

    const remote = await cld.uploader.upload(`${receiver.url}/media/poster.png`, { folder: 'remote' });
    expect(remote).toMatchObject({ original_filename: 'poster', width: 3, height: 2, format: 'png' });
    expect(remote.public_id).toMatch(/^remote\/[a-z0-9]{20}$/);
    expect(fake.requests.at(-1)?.params.file).toBe(`${receiver.url}/media/poster.png`);
    expect(fake.assets.get(remote.public_id)?.bytes.equals(POSTER)).toBe(true);
  });

  it('refuses a wrong secret, a stale timestamp and bytes that are not an image, storing nothing', async () => {
    const before = fake.assets.size;

    const wrongSecret = await rejection(
      cld.uploader.upload(dataUri(POSTER), { api_secret: 'not-the-secret' }),
    );
    expect(wrongSecret).toMatchObject({ http_code: 401, name: 'Error' });
    expect((wrongSecret as { message: string }).message).toMatch(
      /^Invalid Signature [0-9a-f]{40}\. String to sign - 'timestamp=\d+'\.$/,
    );

    const stale = await rejection(cld.uploader.upload(dataUri(POSTER), { timestamp: unixNow() - 3700 }));
    expect(stale).toMatchObject({ http_code: 400 });
    expect((stale as { message: string }).message).toMatch(
      /^Stale request - reported time is \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 which is more than 1 hour ago$/,
    );

    const notImage = await rejection(
      cld.uploader.upload(dataUri(Buffer.from('hello'), 'text/plain'), { folder: 'nope' }),
    );
    expect(notImage).toMatchObject({ http_code: 400, message: 'Invalid image file' });

    expect(fake.assets.size).toBe(before);
    expect(fake.requests.slice(-3).map((r) => r.status)).toEqual([401, 400, 400]);
  });

  it('answers Admin API resource look-ups, with rate-limit headers, and refuses bad credentials', async () => {
    const up = await uploadStream(POSTER, { public_id: 'probe', folder: 'adm' });
    const resource = await cld.api.resource(up.public_id);
    expect(resource).toMatchObject({
      public_id: 'adm/probe',
      version: up.version,
      bytes: POSTER.length,
      width: 3,
      height: 2,
      format: 'png',
      secure_url: up.secure_url,
      derived: [],
      rate_limit_allowed: 500,
    });
    expect(resource.rate_limit_remaining).toBeLessThan(500);

    const missing = await rejection(cld.api.resource('adm/nope'));
    expect(missing).toMatchObject({ error: { message: 'Resource not found - adm/nope', http_code: 404 } });

    const badSecret = await rejection(cld.api.resource(up.public_id, { api_secret: 'wrong' }));
    expect(badSecret).toMatchObject({ error: { message: 'api_secret mismatch', http_code: 401 } });
  });

  it('paginates resources under a prefix with next_cursor', async () => {
    await uploadStream(POSTER, { public_id: 'two', folder: 'gallery' });
    await uploadStream(POSTER, { public_id: 'one', folder: 'gallery' });

    const first = await cld.api.resources({ type: 'upload', prefix: 'gallery/', max_results: 1 });
    expect(first.resources.map((r: { public_id: string }) => r.public_id)).toEqual(['gallery/one']);
    expect(first.next_cursor).toEqual(expect.any(String));

    const second = await cld.api.resources({
      type: 'upload',
      prefix: 'gallery/',
      max_results: 1,
      next_cursor: first.next_cursor,
    });
    expect(second.resources.map((r: { public_id: string }) => r.public_id)).toEqual(['gallery/two']);
    expect(second.next_cursor).toBeUndefined();
    expect(second.rate_limit_remaining).toBe(first.rate_limit_remaining - 1);
  });

  it('destroys with invalidate, then says not found', async () => {
    const up = await uploadStream(POSTER, { public_id: 'gone', folder: 'trash' });
    expect(await cld.uploader.destroy(up.public_id, { invalidate: true })).toEqual({ result: 'ok' });
    expect(fake.assets.has(up.public_id)).toBe(false);
    expect(fake.requests.at(-1)?.params).toMatchObject({ public_id: 'trash/gone', invalidate: 'true' });

    expect(await cld.uploader.destroy(up.public_id, { invalidate: true })).toEqual({ result: 'not found' });
    expect(fake.invalidations.filter((id) => id === up.public_id)).toEqual(['trash/gone']);
    expect((await fetch(up.secure_url)).status).toBe(404);
  });

  it('deletes resources through the Admin API', async () => {
    const up = await uploadStream(POSTER, { public_id: 'x', folder: 'bulk' });
    const res = await cld.api.delete_resources([up.public_id, 'bulk/ghost']);
    expect(res.deleted).toEqual({ 'bulk/x': 'deleted', 'bulk/ghost': 'not_found' });
    expect(res.partial).toBe(false);
    expect(fake.assets.has(up.public_id)).toBe(false);
    expect(fake.requests.at(-1)).toMatchObject({
      method: 'DELETE',
      path: '/v1_1/tickets-test/resources/image/upload',
      params: { public_ids: ['bulk/x', 'bulk/ghost'] },
    });
  });

  it('creates, lists and gets named transformations, and delivers through one', async () => {
    expect(await cld.api.create_transformation('card', 'c_fill,g_auto,w_800,h_450')).toMatchObject({
      message: 'created',
    });
    expect(fake.transformations.get('card')?.transformation).toBe('c_fill,g_auto,w_800,h_450');

    const listed = await cld.api.transformations({ named: true });
    expect(listed.transformations).toEqual([
      { name: 't_card', named: true, used: false, allowed_for_strict: false },
    ]);

    const card = await cld.api.transformation('card');
    expect(card).toMatchObject({ name: 't_card', named: true });
    expect(card.info).toEqual([{ crop: 'fill', gravity: 'auto', width: 800, height: 450 }]);

    const unknown = await rejection(cld.api.transformation('nope'));
    expect(unknown).toMatchObject({ error: { message: 'Transformation nope not found', http_code: 404 } });

    const up = await uploadStream(POSTER, { public_id: 'card-source', folder: 'tx' });
    const viaCard = await fetch(up.secure_url.replace('/image/upload/', '/image/upload/t_card/'));
    expect(viaCard.status).toBe(200);
    expect(Buffer.from(await viaCard.arrayBuffer()).equals(POSTER)).toBe(true);
    expect(fake.transformations.get('card')?.used).toBe(true);
    const viaUnknown = await fetch(up.secure_url.replace('/image/upload/', '/image/upload/t_nope/'));
    expect(viaUnknown.status).toBe(400);
    expect(viaUnknown.headers.get('x-cld-error')).toBe('Transformation t_nope not found');
  });

  it('reports usage from what it stores and serves', async () => {
    const up = await uploadStream(POSTER, { public_id: 'usage-probe' });
    const before = await cld.api.usage();
    const stored = [...fake.assets.values()].reduce((n, a) => n + a.bytes.length, 0);
    expect(before).toMatchObject({
      plan: 'Free',
      resources: fake.assets.size,
      storage: { usage: stored },
      derived_resources: expect.any(Number),
      objects: { usage: expect.any(Number) },
      credits: { limit: 25 },
    });
    await (await fetch(up.secure_url)).arrayBuffer();
    const after = await cld.api.usage();
    expect(after.bandwidth.usage - before.bandwidth.usage).toBe(POSTER.length);
    expect(after.requests - before.requests).toBe(1);
  });

  it('answers an eager_async video upload as pending and posts a signed eager notification on completeEager', async () => {
    const notificationUrl = `${receiver.url}/hooks/cloudinary`;
    const receivedBefore = receiver.received.length;
    const res = await uploadStream(VIDEO, {
      resource_type: 'video',
      folder: 'events/42/videos',
      filename: 'teaser.mp4',
      eager: [
        { streaming_profile: 'hd', format: 'm3u8' },
        { crop: 'scale', width: 1280, format: 'mp4' },
      ],
      eager_async: true,
      eager_notification_url: notificationUrl,
      context: { duration: '12.5' },
    });
    expect(res).toMatchObject({
      resource_type: 'video',
      format: 'mp4',
      duration: 12.5,
      bytes: VIDEO.length,
      original_filename: 'teaser',
      pending: true,
      eager: [
        { transformation: 'sp_hd/m3u8', status: 'processing' },
        { transformation: 'c_scale,w_1280/mp4', status: 'processing' },
      ],
    });
    expect(fake.requests.at(-1)?.params.eager).toBe('sp_hd/m3u8|c_scale,w_1280/mp4');
    expect(receiver.received).toHaveLength(receivedBefore); // nothing is posted on its own

    const posted = await fake.completeEager(res.public_id, { ok: true });
    expect(posted?.status).toBe(200);
    expect(receiver.received).toHaveLength(receivedBefore + 1);
    const got = receiver.received.at(-1) as Received;
    expect(got.headers['content-type']).toBe('application/json');
    const timestamp = Number(got.headers['x-cld-timestamp']);
    const signature = String(got.headers['x-cld-signature']);
    expect(Math.abs(timestamp - unixNow())).toBeLessThan(5);
    expect(signature).toBe(
      createHash('sha1')
        .update(got.body + timestamp + fake.apiSecret)
        .digest('hex'),
    );
    expect(cld.utils.verifyNotificationSignature(got.body, timestamp, signature)).toBe(true);
    expect(
      cld.utils.verifyNotificationSignature(got.body.replace('sp_hd', 'sp_sd'), timestamp, signature),
    ).toBe(false);

    const payload = JSON.parse(got.body);
    expect(payload).toMatchObject({
      notification_type: 'eager',
      public_id: res.public_id,
      asset_id: res.asset_id,
      batch_id: res.eager[0].batch_id,
      resource_type: 'video',
      eager: [
        {
          transformation: 'sp_hd/m3u8',
          format: 'm3u8',
          secure_url: `${fake.url}/tickets-test/video/upload/sp_hd/v${res.version}/${res.public_id}.m3u8`,
        },
        { transformation: 'c_scale,w_1280/mp4', width: 1280, format: 'mp4' },
      ],
    });
    const hls = await fetch(payload.eager[0].secure_url);
    expect(hls.status).toBe(200);
    expect(hls.headers.get('content-type')).toBe('application/x-mpegURL');

    const detail = await cld.api.resource(res.public_id, { resource_type: 'video' });
    expect(detail.derived.map((d: { transformation: string }) => d.transformation)).toEqual([
      'sp_hd',
      'c_scale,w_1280',
    ]);
    await expect(fake.completeEager(res.public_id)).rejects.toThrow(/no eager transformation is processing/);
  });

  it('posts a failed eager notification for explicit, whose stale timestamp fails verification', async () => {
    const notificationUrl = `${receiver.url}/hooks/cloudinary`;
    const up = await uploadStream(VIDEO, { resource_type: 'video', public_id: 'explicit-probe' });
    expect(up.duration).toBe(0);
    const explicit = await cld.uploader.explicit(up.public_id, {
      type: 'upload',
      resource_type: 'video',
      eager: [{ streaming_profile: 'full_hd', format: 'm3u8' }],
      eager_async: true,
      eager_notification_url: notificationUrl,
    });
    expect(explicit.eager).toEqual([
      {
        transformation: 'sp_full_hd/m3u8',
        status: 'processing',
        batch_id: expect.stringMatching(/^[0-9a-f]{64}$/),
      },
    ]);

    const staleTimestamp = unixNow() - 3 * 3600;
    const posted = await fake.completeEager(up.public_id, { ok: false, timestamp: staleTimestamp });
    if (!posted) throw new Error('expected a notification');
    expect(posted.timestamp).toBe(staleTimestamp);
    expect(JSON.parse(posted.body).eager).toEqual([
      { transformation: 'sp_full_hd/m3u8', status: 'failed', reason: expect.any(String) },
    ]);
    const signature = posted.signature as string;
    // Stale for the default 2-hour window, yet correctly signed: only its age fails it.
    expect(cld.utils.verifyNotificationSignature(posted.body, posted.timestamp, signature)).toBe(false);
    expect(cld.utils.verifyNotificationSignature(posted.body, posted.timestamp, signature, 4 * 3600)).toBe(
      true,
    );

    const forged = await fake.notify(
      notificationUrl,
      { notification_type: 'upload' },
      { signature: 'wrong' },
    );
    expect(
      cld.utils.verifyNotificationSignature(forged.body, forged.timestamp, forged.signature as string),
    ).toBe(false);
  });

  it('fails the next requests on demand: 420 rate limits for upload and admin, then recovers', async () => {
    fake.failNext(1, 420);
    const uploadLimited = await rejection(cld.uploader.upload(dataUri(POSTER), { folder: 'limited' }));
    // The uploader rejects with the error object itself…
    expect(uploadLimited).toMatchObject({ http_code: 420, message: 'Rate Limit Exceeded', name: 'Error' });

    fake.failNext(1, 420);
    const adminLimited = await rejection(cld.api.usage());
    // …the Admin API with { error, request_options, query_params }.
    expect(adminLimited).toMatchObject({ error: { http_code: 420, message: 'Rate Limit Exceeded' } });

    fake.failNext(1, 503);
    const unavailable = await rejection(cld.uploader.upload(dataUri(POSTER), { folder: 'limited' }));
    expect(unavailable).toMatchObject({
      http_code: 503,
      name: 'UnexpectedResponse',
      message: 'Server returned unexpected status code - 503',
    });

    const ok = await cld.uploader.upload(dataUri(POSTER), { folder: 'limited' });
    expect(ok.width).toBe(3);
    expect(fake.requests.slice(-4).map((r) => r.status)).toEqual([420, 420, 503, 200]);
  });

  it('assembles a chunked upload_chunked_stream video, answering the last chunk as a whole eager_async upload', async () => {
    const notificationUrl = `${receiver.url}/hooks/cloudinary`;
    const video = Buffer.concat([VIDEO, randomBytes(300_000 - VIDEO.length)]);
    const chunkSize = 64 * 1024;
    const requestsBefore = fake.requests.length;
    const pendingBefore = fake.pendingChunked;

    const res = await uploadChunked(
      video,
      {
        resource_type: 'video',
        public_id: 'chunked-teaser',
        folder: 'events/42/videos',
        chunk_size: chunkSize,
        eager: [{ streaming_profile: 'hd', format: 'm3u8' }],
        eager_async: true,
        eager_notification_url: notificationUrl,
      },
      50_000,
    );

    expect(res).toMatchObject({
      public_id: 'events/42/videos/chunked-teaser',
      resource_type: 'video',
      format: 'mp4',
      bytes: video.length,
      pending: true,
      eager: [{ transformation: 'sp_hd/m3u8', status: 'processing' }],
    });
    expect(res.etag).toBe(createHash('md5').update(video).digest('hex'));
    expect(res.signature).toBe(
      cld.utils.api_sign_request({ public_id: res.public_id, version: res.version }, fake.apiSecret),
    );
    expect(fake.assets.get(res.public_id)?.bytes.equals(video)).toBe(true);
    expect(fake.pendingChunked).toBe(pendingBefore);

    // One signed POST per chunk, all with the same unique id, in order; total -1 until the last.
    const chunks = fake.requests.slice(requestsBefore);
    const sizes = pieces(video, chunkSize).map((p) => p.length);
    expect(sizes).toEqual([chunkSize, chunkSize, chunkSize, chunkSize, 300_000 - 4 * chunkSize]);
    expect(chunks).toHaveLength(sizes.length);
    const uploadId = chunks[0]?.chunk?.uploadId;
    expect(uploadId).toEqual(expect.any(String));
    let start = 0;
    for (const [i, request] of chunks.entries()) {
      const size = sizes[i] as number;
      const last = i === sizes.length - 1;
      expect(request).toMatchObject({
        method: 'POST',
        path: '/v1_1/tickets-test/video/upload',
        status: 200,
        chunk: { uploadId, contentRange: `bytes ${start}-${start + size - 1}/${last ? video.length : -1}` },
        params: {
          public_id: 'chunked-teaser',
          folder: 'events/42/videos',
          eager: 'sp_hd/m3u8',
          eager_async: '1',
          file: `<${size} bytes: file>`,
        },
      });
      expect(request.params.signature).toMatch(/^[0-9a-f]{40}$/);
      start += size;
    }

    // The eager batch of the assembled upload completes and notifies as any other.
    const posted = await fake.completeEager(res.public_id);
    expect(posted?.url).toBe(notificationUrl);
    expect(posted?.payload).toMatchObject({ notification_type: 'eager', public_id: res.public_id });
  });

  it('uploads a file with upload_large in chunks, as raw by default', async () => {
    const bytes = randomBytes(150_000);
    const dir = await mkdtemp(join(tmpdir(), 'cld-fake-'));
    const path = join(dir, 'export.bin');
    await writeFile(path, bytes);
    try {
      const res = await new Promise<UploadApiResponse>((resolve, reject) => {
        cld.uploader.upload_large(path, { chunk_size: 100_000, folder: 'exports' }, settle(resolve, reject));
      });
      expect(res).toMatchObject({ resource_type: 'raw', bytes: bytes.length, original_filename: 'export' });
      expect(fake.assets.get(res.public_id)?.bytes.equals(bytes)).toBe(true);
      expect(fake.requests.slice(-2).map((r) => r.chunk?.contentRange)).toEqual([
        'bytes 0-99999/-1',
        'bytes 100000-149999/150000',
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('holds each request to the size limit: a whole upload over it is refused, the same bytes in chunks are not', async () => {
    const limit = 10_485_760; // image, Free plan
    const big = Buffer.concat([POSTER, Buffer.alloc(limit + 1_000_000 - POSTER.length)]);

    const whole = await rejection(uploadStream(big, { public_id: 'too-big', folder: 'limits' }));
    expect(whole).toMatchObject({
      http_code: 400,
      message: `File size too large. Got ${big.length}. Maximum is ${limit}.`,
    });
    expect(fake.assets.has('limits/too-big')).toBe(false);

    const chunked = await uploadChunked(
      big,
      { public_id: 'big-enough', folder: 'limits', chunk_size: 5_000_000 },
      1_000_000,
    );
    expect(chunked).toMatchObject({ public_id: 'limits/big-enough', bytes: big.length, width: 3, height: 2 });
    expect(fake.assets.get('limits/big-enough')?.bytes.equals(big)).toBe(true);
    expect(fake.requests.slice(-3).map((r) => r.chunk?.contentRange)).toEqual([
      'bytes 0-4999999/-1',
      'bytes 5000000-9999999/-1',
      `bytes 10000000-${big.length - 1}/${big.length}`,
    ]);

    // A single chunk over the limit is refused like a whole upload.
    const oversized = await postChunk(
      big.subarray(0, limit + 1),
      { uploadId: 'oversized-chunk', contentRange: `bytes 0-${limit}/-1` },
      { public_id: 'limits/oversized' },
      'image',
    );
    expect(oversized).toEqual({
      status: 400,
      body: { error: { message: `File size too large. Got ${limit + 1}. Maximum is ${limit}.` } },
    });
    expect(fake.pendingChunked).toBe(0);
  });

  it('refuses an out-of-order, mis-sized or mis-totalled chunk with 400, creating nothing until the right ones come', async () => {
    const video = Buffer.concat([VIDEO, randomBytes(300 - VIDEO.length)]);
    const params = { public_id: 'chunks/out-of-order' };
    const uploadId = 'a1b2c3d4e5f6';
    const at = (contentRange: string) => ({ uploadId, contentRange });
    const pendingBefore = fake.pendingChunked;

    const first = await postChunk(video.subarray(0, 100), at('bytes 0-99/-1'), params);
    expect(first).toEqual({ status: 200, body: { done: false, bytes: 100, upload_id: uploadId } });
    expect(fake.pendingChunked).toBe(pendingBefore + 1);
    expect(fake.assets.has('chunks/out-of-order')).toBe(false);

    // A gap: the last chunk, starting past the 100 bytes received.
    const gap = await postChunk(video.subarray(200), at('bytes 200-299/300'), params);
    expect(gap.status).toBe(400);
    expect(gap.body).toEqual({
      error: {
        message: `Chunk out of order for upload ${uploadId}: Content-Range starts at 200, 100 bytes received so far`,
      },
    });
    // The first chunk again.
    expect((await postChunk(video.subarray(0, 100), at('bytes 0-99/-1'), params)).status).toBe(400);
    // A range declaring 100 bytes, with 50.
    const misSized = await postChunk(video.subarray(100, 150), at('bytes 100-199/-1'), params);
    expect(misSized.status).toBe(400);
    expect(misSized.body).toMatchObject({
      error: { message: expect.stringMatching(/^Chunk size mismatch/) },
    });
    // A last chunk not ending at its total.
    expect((await postChunk(video.subarray(100), at('bytes 100-299/400'), params)).status).toBe(400);
    // A new upload whose first chunk does not start at 0.
    const orphan = await postChunk(
      video.subarray(100, 200),
      { uploadId: 'never-started', contentRange: 'bytes 100-199/-1' },
      params,
    );
    expect(orphan.status).toBe(400);
    expect(fake.assets.has('chunks/out-of-order')).toBe(false);
    expect(fake.pendingChunked).toBe(pendingBefore + 1);

    // The refusals left the pending upload as it was: the right chunks still complete it.
    const second = await postChunk(video.subarray(100, 200), at('bytes 100-199/-1'), params);
    expect(second).toEqual({ status: 200, body: { done: false, bytes: 200, upload_id: uploadId } });
    const last = await postChunk(video.subarray(200), at('bytes 200-299/300'), params);
    expect(last).toMatchObject({
      status: 200,
      body: { public_id: 'chunks/out-of-order', resource_type: 'video', bytes: 300 },
    });
    expect(fake.assets.get('chunks/out-of-order')?.bytes.equals(video)).toBe(true);
    expect(fake.pendingChunked).toBe(pendingBefore);
    expect(fake.requests.slice(-8).map((r) => r.status)).toEqual([200, 400, 400, 400, 400, 400, 200, 200]);
  });
});
