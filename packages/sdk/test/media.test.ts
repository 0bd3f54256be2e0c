// tickets.media: uploads streamed as multipart/form-data (a path, bytes, a Blob, a Node or web stream),
// their Content-Length, progress, retries (never for a stream), and the media routes against the real server.
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sampleEvent, startTestServer, type TestServer } from '../../server/test/harness.js';
import { ApiError, ConnectionError, NotFoundError, Tickets, ValidationError } from '../src/index.js';

/** A real PNG (random pixels, so it does not compress away), made with the server package's pngjs. */
function png(width: number, height: number): Buffer {
  type Png = { data: Buffer };
  const { PNG } = createRequire(new URL('../../server/package.json', import.meta.url))('pngjs') as {
    PNG: { new (o: { width: number; height: number }): Png; sync: { write(p: Png): Buffer } };
  };
  const image = new PNG({ width, height });
  let seed = 2463534242;
  for (let i = 0; i < image.data.length; i++) {
    // xorshift32: noise that deflate cannot shrink, the same every run.
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    image.data[i] = i % 4 === 3 ? 255 : seed & 0xff;
  }
  return PNG.sync.write(image);
}

interface Received {
  url: URL;
  headers: IncomingMessage['headers'];
  body: Buffer;
  part: { disposition: string; type: string; bytes: Buffer } | null;
}

/** The one part of a multipart/form-data body, read the plain way (the body is small). */
function onlyPart(contentType: string, body: Buffer): Received['part'] {
  const boundary = /boundary=(.+)$/.exec(contentType)?.[1];
  if (!boundary) return null;
  const open = Buffer.from(`--${boundary}\r\n`);
  const close = Buffer.from(`\r\n--${boundary}--\r\n`);
  if (!body.subarray(0, open.length).equals(open) || !body.subarray(body.length - close.length).equals(close))
    return null;
  const inner = body.subarray(open.length, body.length - close.length);
  const split = inner.indexOf('\r\n\r\n');
  const head = inner.subarray(0, split).toString('utf8').split('\r\n');
  const header = (name: string) =>
    head
      .find((l) => l.toLowerCase().startsWith(`${name}:`))
      ?.slice(name.length + 1)
      .trim() ?? '';
  return {
    disposition: header('content-disposition'),
    type: header('content-type'),
    bytes: inner.subarray(split + 4),
  };
}

/** A stand-in for the API that keeps what each upload sent; `plan` answers a status instead (503…). */
async function recorder() {
  const seen: Received[] = [];
  const plan: number[] = [];
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of req) chunks.push(chunk as Buffer);
    } catch {
      return; // the client gave up mid-body (a source that failed)
    }
    const body = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', 'http://x');
    seen.push({ url, headers: req.headers, body, part: onlyPart(req.headers['content-type'] ?? '', body) });
    const status = plan.shift();
    if (status) {
      res.writeHead(status, { 'content-type': 'application/problem+json', 'x-request-id': `req_${status}` });
      res.end(JSON.stringify({ status, code: `planned_${status}`, detail: `planned ${status}` }));
      return;
    }
    res.writeHead(201, { 'content-type': 'application/json', 'x-request-id': 'req_upload' });
    res.end(
      JSON.stringify({ id: 'med_fake', object: 'media', bytes: seen.at(-1)!.part?.bytes.length ?? -1 }),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, seen, plan, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('media.upload: the multipart body it streams', () => {
  let api: Awaited<ReturnType<typeof recorder>>;
  let tickets: Tickets;
  let dir: string;
  const bytes = png(300, 200);

  beforeAll(async () => {
    api = await recorder();
    tickets = new Tickets({ baseUrl: api.url, token: 'tk_test', maxRetries: 2 });
    dir = mkdtempSync(join(tmpdir(), 'sdk-media-'));
  });
  afterAll(async () => {
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends a Buffer as the part `file`, with Content-Length, the params as the query, and progress to the total', async () => {
    const progress: [number, number | null][] = [];
    const asset = await tickets.media.upload(
      bytes,
      {
        event: 'evt_01h455vb4pex5vsknk084sn02q',
        role: 'cover',
        alt: 'The band',
        position: 3,
        filename: 'poster.png',
      },
      { onProgress: (sent, total) => progress.push([sent, total]) },
    );
    expect(asset).toMatchObject({ id: 'med_fake', bytes: bytes.length });
    expect(
      (asset as unknown as { lastResponse: { status: number; requestId: string } }).lastResponse,
    ).toMatchObject({
      status: 201,
      requestId: 'req_upload',
    });
    const r = api.seen.at(-1)!;
    expect(r.url.pathname).toBe('/api/media');
    expect(Object.fromEntries(r.url.searchParams)).toEqual({
      event: 'evt_01h455vb4pex5vsknk084sn02q',
      role: 'cover',
      alt: 'The band',
      position: '3',
    });
    expect(r.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    expect(r.headers['content-length']).toBe(String(r.body.length));
    expect(r.headers['transfer-encoding']).toBeUndefined();
    expect(r.headers.authorization).toBe('Bearer tk_test');
    expect(r.part).toEqual({
      disposition: 'form-data; name="file"; filename="poster.png"',
      type: 'image/png',
      bytes,
    });
    // The file's bytes, not the envelope's: from 0 to the total, never backwards, in several steps.
    expect(bytes.length).toBeGreaterThan(150_000);
    expect(progress[0]).toEqual([0, bytes.length]);
    expect(progress.at(-1)).toEqual([bytes.length, bytes.length]);
    expect(progress.length).toBeGreaterThan(2);
    expect(progress.every(([sent], i) => i === 0 || sent >= progress[i - 1]![0])).toBe(true);
  });

  it("reads a path as it sends it: the file's name, its type from the name, its size as Content-Length", async () => {
    const path = join(dir, 'crowd shot.png');
    writeFileSync(path, bytes);
    let last: [number, number | null] = [0, null];
    await tickets.media.upload(path, {}, { onProgress: (sent, total) => (last = [sent, total]) });
    const r = api.seen.at(-1)!;
    expect(r.part).toMatchObject({
      disposition: 'form-data; name="file"; filename="crowd shot.png"',
      type: 'image/png',
    });
    expect(r.part!.bytes.equals(bytes)).toBe(true);
    expect(r.headers['content-length']).toBe(String(r.body.length));
    expect(last).toEqual([bytes.length, bytes.length]);
    expect([...r.url.searchParams.keys()]).toEqual([]);
  });

  it('streams a Node Readable chunked (its size unknown), and knows the size of fs.createReadStream(path)', async () => {
    const progress: [number, number | null][] = [];
    await tickets.media.upload(
      Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)]),
      { filename: 'stdin.png' },
      { onProgress: (sent, total) => progress.push([sent, total]) },
    );
    let r = api.seen.at(-1)!;
    expect(r.headers['content-length']).toBeUndefined();
    expect(r.headers['transfer-encoding']).toBe('chunked');
    expect(r.part!.bytes.equals(bytes)).toBe(true);
    expect(progress.at(-1)).toEqual([bytes.length, null]);

    const path = join(dir, 'file-stream.png');
    writeFileSync(path, bytes);
    await tickets.media.upload(createReadStream(path));
    r = api.seen.at(-1)!;
    expect(r.headers['content-length']).toBe(String(r.body.length));
    expect(r.part!.disposition).toContain('filename="file-stream.png"');
    expect(r.part!.bytes.equals(bytes)).toBe(true);
  });

  it('sends a web ReadableStream (with its size when given) and a Blob (with its type)', async () => {
    await tickets.media.upload(new Blob([bytes]).stream(), { size: bytes.length, filename: 'web.png' });
    let r = api.seen.at(-1)!;
    expect(r.headers['content-length']).toBe(String(r.body.length));
    expect(r.part!.bytes.equals(bytes)).toBe(true);

    await tickets.media.upload(new Blob([bytes], { type: 'image/webp' }));
    r = api.seen.at(-1)!;
    expect(r.part).toMatchObject({
      disposition: 'form-data; name="file"; filename="upload"',
      type: 'image/webp',
    });
    expect(r.part!.bytes.equals(bytes)).toBe(true);
  });

  it('names a file outside ASCII with filename* too, and escapes quotes', async () => {
    await tickets.media.upload(bytes, { filename: 'Plakat "Größe".png' });
    expect(api.seen.at(-1)!.part!.disposition).toBe(
      `form-data; name="file"; filename="Plakat %22Gr__e%22.png"; filename*=UTF-8''${encodeURIComponent('Plakat "Größe".png')}`,
    );
  });

  it('retries a Buffer after a 503, but sends a stream once', async () => {
    api.plan.push(503);
    const before = api.seen.length;
    await tickets.media.upload(bytes, { filename: 'again.png' });
    expect(api.seen.length - before).toBe(2);
    expect(api.seen.at(-1)!.part!.bytes.equals(bytes)).toBe(true);

    api.plan.push(503);
    const err = await tickets.media.upload(Readable.from([bytes])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 503, code: 'planned_503', requestId: 'req_503' });
    expect(api.seen.length - before).toBe(3);
  });

  it("throws a source's own error (a missing file, a stream that fails), never as a connection error", async () => {
    const missing = await tickets.media.upload(join(dir, 'nope.png')).catch((e: unknown) => e);
    expect(missing).toMatchObject({ code: 'ENOENT' });
    const broken = new Readable({
      read() {
        this.destroy(Object.assign(new Error('disk on fire'), { code: 'EIO' }));
      },
    });
    const failed = await tickets.media.upload(broken).catch((e: unknown) => e);
    expect(failed).toMatchObject({ message: 'disk on fire', code: 'EIO' });
    const short = await tickets.media
      .upload(Readable.from([bytes.subarray(0, 10)]), { size: 20 })
      .catch((e: unknown) => e);
    expect((short as Error).message).toMatch(/gave 10 bytes where 20 were expected/);
    await expect(tickets.media.upload('https://example.com/a.png')).rejects.toThrow(/media\.fromUrl/);
  });

  it('times out a stalled upload (no byte sent or answered for `timeout`): a ConnectionError', async () => {
    const silent = createServer((req) => req.resume());
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const client = new Tickets({
        baseUrl: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`,
        timeout: 300,
        maxRetries: 0,
      });
      const err = await client.media.upload(bytes).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectionError);
      expect((err as ConnectionError).detail).toMatch(/stalled/);
    } finally {
      silent.closeAllConnections();
      await new Promise((r) => silent.close(r));
    }
  });

  it('events.setCover uploads with role cover and the event', async () => {
    await tickets.events.setCover('evt_01h455vb4pex5vsknk084sn02q', bytes, {
      alt: 'Poster',
      filename: 'p.png',
    });
    expect(Object.fromEntries(api.seen.at(-1)!.url.searchParams)).toEqual({
      event: 'evt_01h455vb4pex5vsknk084sn02q',
      role: 'cover',
      alt: 'Poster',
    });
  });
});

describe('sqlite: tickets.media against the real server', () => {
  let s: TestServer;
  let tickets: Tickets;
  let eventId: string;
  let dir: string;
  const bytes = png(64, 48);

  beforeAll(async () => {
    s = await startTestServer('sqlite');
    tickets = new Tickets({ baseUrl: s.url });
    await tickets.auth.register({
      email: 'media-sdk@example.com',
      password: 'correct horse battery',
      name: 'Mia',
    });
    eventId = (await tickets.events.create(sampleEvent({ name: 'Media Night' }))).id;
    dir = mkdtempSync(join(tmpdir(), 'sdk-media-'));
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await s?.stop();
  });

  it('uploads a Buffer: 201, a media asset with its preset URLs and srcset', async () => {
    const progress: number[] = [];
    const asset = await tickets.media.upload(
      bytes,
      { event: eventId, alt: 'From a Buffer', filename: 'buffer.png' },
      { onProgress: (sent, total) => progress.push(total === bytes.length ? sent : -1) },
    );
    expect(asset).toMatchObject({
      id: expect.stringMatching(/^med_/),
      object: 'media',
      event: eventId,
      role: 'gallery',
      alt: 'From a Buffer',
      resource_type: 'image',
      format: 'png',
      width: 64,
      height: 48,
      bytes: bytes.length,
      status: 'ready',
    });
    expect(Object.keys(asset.urls ?? {}).sort()).toEqual(['card', 'email', 'full', 'og', 'thumbnail']);
    expect(asset.srcset).toBeTruthy();
    expect(progress.at(-1)).toBe(bytes.length);
    expect(progress).not.toContain(-1);
    expect((await tickets.media.get(asset.id)).id).toBe(asset.id);
  });

  it('uploads from a path and from a stream, and lists them by event', async () => {
    const path = join(dir, 'from-path.png');
    writeFileSync(path, bytes);
    let fromPathSent = 0;
    const fromPath = await tickets.media.upload(
      path,
      { event: eventId, position: 1 },
      { onProgress: (sent) => (fromPathSent = sent) },
    );
    expect(fromPath).toMatchObject({ bytes: bytes.length, position: 1 });
    expect(fromPathSent).toBe(bytes.length);

    const progress: [number, number | null][] = [];
    const fromStream = await tickets.media.upload(
      Readable.from([bytes.subarray(0, 100), bytes.subarray(100)]),
      { event: eventId, filename: 'stream.png' },
      { onProgress: (sent, total) => progress.push([sent, total]) },
    );
    expect(fromStream).toMatchObject({ bytes: bytes.length, width: 64 });
    expect(progress.at(-1)).toEqual([bytes.length, null]);

    const listed = await tickets.media.list({ event: eventId }).toArray();
    expect(listed.map((m) => m.id)).toEqual(expect.arrayContaining([fromPath.id, fromStream.id]));
  });

  it("sets an event's cover, which the event then shows", async () => {
    const cover = await tickets.events.setCover(eventId, bytes, {
      alt: 'The poster',
      filename: 'poster.png',
    });
    expect(cover).toMatchObject({ role: 'cover', event: eventId, alt: 'The poster' });
    const event = await tickets.events.get(eventId);
    expect(event.cover?.id).toBe(cover.id);
    expect(event.cover?.urls?.og).toBeTruthy();
  });

  it('updates, counts and deletes', async () => {
    const asset = await tickets.media.upload(bytes, { event: eventId, filename: 'short-lived.png' });
    expect((await tickets.media.update(asset.id, { alt: 'Renamed' })).alt).toBe('Renamed');
    const usage = await tickets.media.usage();
    expect(usage).toMatchObject({ object: 'media_usage', provider: 'local' });
    expect(usage.assets).toBeGreaterThanOrEqual(4);
    expect(usage.events.find((e) => e.event === eventId)?.assets).toBeGreaterThanOrEqual(4);
    const presets = await tickets.media.presets();
    expect(presets.data.map((p) => p.name)).toEqual(['thumbnail', 'card', 'og', 'email', 'full']);
    expect(await tickets.media.delete(asset.id)).toMatchObject({ id: asset.id, deleted: true });
    await expect(tickets.media.get(asset.id)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('refuses a text file called .png with 415, from a Buffer and from a stream', async () => {
    const text = Buffer.from('This is not a picture, whatever its name says.\n'.repeat(20));
    const err = await tickets.media.upload(text, { filename: 'fake.png' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).status).toBe(415);
    expect((err as ValidationError).detail).toBeTruthy();
    const streamed = await tickets.media
      .upload(Readable.from([text]), { filename: 'fake.png' })
      .catch((e: unknown) => e);
    expect(streamed).toMatchObject({ status: 415 });
  });

  it('gets 413 for a file over the limit, whether its size was said (Content-Length) or streamed', async () => {
    const small = await startTestServer('sqlite', { TICKETS_MEDIA_MAX_IMAGE_BYTES: '50000' });
    try {
      const client = new Tickets({ baseUrl: small.url });
      await client.auth.register({
        email: 'big@example.com',
        password: 'correct horse battery',
        name: 'Big',
      });
      const big = png(300, 200);
      expect(big.length).toBeGreaterThan(150_000);
      const said = await client.media.upload(big, { filename: 'big.png' }).catch((e: unknown) => e);
      expect(said).toBeInstanceOf(ValidationError);
      expect(said).toMatchObject({ status: 413 });
      const streamed = await client.media
        .upload(Readable.from([big.subarray(0, 60_000), big.subarray(60_000)]), { filename: 'big.png' })
        .catch((e: unknown) => e);
      expect(streamed).toMatchObject({ status: 413 });
      expect((await client.media.usage()).assets).toBe(0);
    } finally {
      await small.stop();
    }
  });
});
