import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeCloudinary, startFakeCloudinary } from './fakes/cloudinary.js';
import { DIALECTS, http, sampleEvent, signUp, startTestServer, type TestServer } from './harness.js';
import { form, image, isoVideo, SVG, startOrigin } from './media-files.js';

// The real `cloudinary` SDK, inside the server, against a local fake of Cloudinary's Upload, Admin and
// delivery APIs. The SDK picks http or https when first loaded: CLOUDINARY_URL (with the fake's http
// upload_prefix) is in the environment before the server, which loads it, starts.
describe.each(DIALECTS)('%s: media on Cloudinary', (dialect) => {
  let fake: FakeCloudinary;
  let s: TestServer;
  let call: ReturnType<typeof http>;
  let token: string;
  let eventId: string;
  let origin: Awaited<ReturnType<typeof startOrigin>>;
  let originUrl: string;

  beforeAll(async () => {
    fake = await startFakeCloudinary({
      cloud: 'tickets-test',
      apiKey: '614335564976464',
      apiSecret: 'fake-secret_123',
    });
    process.env.CLOUDINARY_URL = fake.cloudinaryUrl;
    s = await startTestServer(dialect, {
      CLOUDINARY_URL: fake.cloudinaryUrl,
      TICKETS_CLOUDINARY_DELIVERY_URL: fake.url,
      TICKETS_CLOUDINARY_CHUNK_BYTES: String(5 * 1024 * 1024),
    });
    call = http(s.url);
    token = (await signUp(s.url)).token;
    eventId = (await call('POST', '/api/events', { token, body: sampleEvent() })).body.id;
    // A web server to fetch from (from-url).
    origin = await startOrigin();
    originUrl = origin.url;
  });
  afterAll(async () => {
    delete process.env.CLOUDINARY_URL;
    origin?.close();
    await s?.stop();
    await fake?.close();
  });

  const upload = async (file: Buffer, query: string, name = 'poster.jpg', type = 'image/jpeg') => {
    const res = await fetch(`${s.url}/api/media?${query}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: form(file, name, type),
    });
    // biome-ignore lint/suspicious/noExplicitAny: tests inspect arbitrary JSON
    const body: any = await res.json();
    return { status: res.status, body };
  };

  it('creates the presets as named transformations on start, once', async () => {
    for (const [name, value] of [
      ['tickets_card', 'c_fill,g_auto,w_800,h_450/f_auto,q_auto'],
      ['tickets_thumbnail', 'c_fill,g_auto,w_200,h_200/f_auto,q_auto'],
      ['tickets_og', 'c_fill,g_auto,w_1200,h_630/f_auto,q_auto'],
      ['tickets_email', 'c_fill,g_auto,w_600,h_240/f_auto,q_auto'],
      ['tickets_full', 'c_limit,w_1920/f_auto,q_auto'],
    ] as const)
      expect(fake.transformations.get(name)?.transformation, name).toBe(value);
    const creates = () =>
      fake.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/transformations')).length;
    const before = creates();
    // A second server on the same account finds them there.
    const again = await startTestServer('sqlite', { CLOUDINARY_URL: fake.cloudinaryUrl });
    await again.stop();
    expect(creates()).toBe(before);
  });

  it('streams an upload to Cloudinary and answers its preset URLs, versioned', async () => {
    const bytes = await image('jpeg', 1600, 900);
    const res = await upload(bytes, `event=${eventId}&role=gallery&alt=Stage`);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({
      provider: 'cloudinary',
      format: 'jpg',
      width: 1600,
      height: 900,
      bytes: bytes.length,
      status: 'ready',
    });
    const publicId = res.body.provider_id as string;
    expect(publicId).toMatch(/^tickets\/org_\w+\/med_\w+$/);
    // Streamed whole: the fake holds exactly the bytes sent.
    expect(fake.assets.get(publicId)?.bytes.equals(bytes)).toBe(true);
    expect(res.body.urls.card).toBe(
      `${fake.url}/tickets-test/image/upload/t_tickets_card/v${res.body.version}/${publicId}`,
    );
    expect(res.body.srcset).toContain('c_limit,w_640/f_auto,q_auto');
    // The CDN (the fake) serves it.
    expect((await fetch(res.body.urls.card)).status).toBe(200);
  });

  it('refuses a bad file before anything reaches Cloudinary', async () => {
    const uploads = () => fake.requests.filter((r) => r.path.endsWith('/upload')).length;
    const before = uploads();
    expect((await upload(SVG, `event=${eventId}`, 'x.svg', 'image/svg+xml')).status).toBe(415);
    expect(uploads()).toBe(before);
  });

  it("processes a video's renditions and applies the signed notification once", async () => {
    const res = await upload(isoVideo('isom'), `event=${eventId}&role=video`, 'trailer.mp4', 'video/mp4');
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ status: 'processing', resource_type: 'video' });
    const publicId = res.body.provider_id;
    const asked = fake.requests.find(
      (r) => r.path.endsWith('/video/upload') && r.params.public_id === publicId,
    )!;
    expect(asked.params.eager).toBe('sp_hd/m3u8|c_limit,h_720,w_1280/mp4|so_auto/jpg');
    expect(asked.params.eager_notification_url).toBe(`${s.url}/api/webhooks/cloudinary`);
    const sent = await fake.completeEager(publicId, { ok: true });
    expect(sent?.status).toBe(200);
    expect(JSON.parse(sent!.responseBody)).toEqual({ received: true, applied: 1 });
    const ready = await call('GET', `/api/media/${res.body.id}`, { token });
    expect(ready.body.status).toBe('ready');
    expect(ready.body.video.hls).toMatch(/\.m3u8$/);
    expect(ready.body.video.mp4).toMatch(/\.mp4$/);
    expect(ready.body.video.poster).toMatch(/\.jpg$/);
    // The same notification again changes nothing.
    const again = await fake.notify(sent!.url, JSON.parse(sent!.body));
    expect(JSON.parse(again.responseBody)).toEqual({ received: true, applied: 0 });

    const failing = await upload(isoVideo('isom', 2048), `event=${eventId}&role=video`, 'b.mp4', 'video/mp4');
    await fake.completeEager(failing.body.provider_id, { ok: false, reason: 'Video is corrupt' });
    const failed = await call('GET', `/api/media/${failing.body.id}`, { token });
    expect(failed.body).toMatchObject({ status: 'failed', failure_reason: 'Video is corrupt' });
  });

  it('asks Cloudinary to send again a notification about an asset not registered yet', async () => {
    const sent = await fake.notify(`${s.url}/api/webhooks/cloudinary`, {
      notification_type: 'eager',
      public_id: 'tickets/org_x/med_not_yet',
      eager: [],
    });
    expect(sent.status).toBe(404);
  });

  it('sends video to Cloudinary in chunks (it takes 100 MB at most in one request)', async () => {
    const clip = isoVideo('isom', 12 * 1024 * 1024);
    const res = await upload(clip, `event=${eventId}&role=video`, 'long.mp4', 'video/mp4');
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const chunks = fake.requests.filter((r) => r.chunk && r.params.public_id === res.body.provider_id);
    expect(chunks.map((r) => r.chunk!.contentRange)).toEqual([
      `bytes 0-${5 * 1024 * 1024 - 1}/-1`,
      `bytes ${5 * 1024 * 1024}-${10 * 1024 * 1024 - 1}/-1`,
      `bytes ${10 * 1024 * 1024}-${clip.length - 1}/${clip.length}`,
    ]);
    expect(new Set(chunks.map((r) => r.chunk!.uploadId)).size).toBe(1);
    expect(fake.assets.get(res.body.provider_id)?.bytes.equals(clip)).toBe(true);
    expect(res.body).toMatchObject({ bytes: clip.length, status: 'processing' });
  });

  it('refuses notifications that are unsigned, wrongly signed or stale', async () => {
    const url = `${s.url}/api/webhooks/cloudinary`;
    const payload = { notification_type: 'eager', public_id: 'tickets/x/y', eager: [] };
    for (const [opts, code] of [
      [{ signature: 'wrong' }, 'signature_invalid'],
      [{ signature: 'none' }, 'signature_missing'],
      [{ timestamp: Math.floor(Date.now() / 1000) - 3 * 3600 }, 'signature_stale'],
    ] as const) {
      const sent = await fake.notify(url, payload, opts);
      expect(sent.status).toBe(400);
      expect(JSON.parse(sent.responseBody).code).toBe(code);
    }
  });

  it("replacing a cover invalidates the old one's CDN copies and deletes it", async () => {
    const ev = (await call('POST', '/api/events', { token, body: sampleEvent({ name: 'Cover swap' }) })).body
      .id;
    const first = await upload(await image('jpeg', 800, 600), `event=${ev}&role=cover`);
    const second = await upload(await image('png', 800, 600), `event=${ev}&role=cover`);
    expect(second.status).toBe(201);
    expect(fake.invalidations).toContain(first.body.provider_id);
    expect(fake.assets.has(first.body.provider_id)).toBe(false);
    expect(fake.assets.has(second.body.provider_id)).toBe(true);
    expect((await call('GET', `/api/events/${ev}`, { token })).body.cover.id).toBe(second.body.id);
    const del = await call('DELETE', `/api/media/${second.body.id}`, { token });
    expect(del.status).toBe(200);
    expect(fake.assets.has(second.body.provider_id)).toBe(false);
    expect(fake.invalidations).toContain(second.body.provider_id);
  });

  it("deletes an event's media at Cloudinary with the event", async () => {
    const ev = (await call('POST', '/api/events', { token, body: sampleEvent({ name: 'Gone' }) })).body.id;
    const a = await upload(await image('jpeg', 400, 300), `event=${ev}&role=cover`);
    const b = await upload(await image('png', 400, 300), `event=${ev}&role=gallery`);
    expect((await call('DELETE', `/api/events/${ev}`, { token })).status).toBe(200);
    for (const asset of [a, b]) {
      expect(fake.assets.has(asset.body.provider_id)).toBe(false);
      expect(fake.invalidations).toContain(asset.body.provider_id);
    }
  });

  it('signs a direct upload, then confirms it with the Admin API', async () => {
    const signed = await call('POST', '/api/media/upload-signature', {
      token,
      body: { event: eventId, role: 'gallery' },
    });
    expect(signed.status).toBe(200);
    expect(signed.body.fields.api_key).toBe(fake.apiKey);
    expect(JSON.stringify(signed.body)).not.toContain(fake.apiSecret);
    // The browser's part: straight to Cloudinary.
    const direct = new FormData();
    for (const [k, v] of Object.entries(signed.body.fields as Record<string, string>)) direct.append(k, v);
    direct.append('file', new Blob([await image('png', 1024, 768)]), 'photo.png');
    const posted = await fetch(signed.body.upload_url, { method: 'POST', body: direct });
    expect(posted.status).toBe(200);
    // A field changed after signing is refused by Cloudinary.
    const tampered = new FormData();
    for (const [k, v] of Object.entries(signed.body.fields as Record<string, string>))
      tampered.append(k, k === 'public_id' ? 'tickets/org_other/med_x' : v);
    tampered.append('file', new Blob([await image('webp', 10, 10)]), 'x.webp');
    expect((await fetch(signed.body.upload_url, { method: 'POST', body: tampered })).status).toBe(401);

    const confirmed = await call('POST', '/api/media/confirm', {
      token,
      body: { id: signed.body.id, event: eventId, alt: 'Direct' },
    });
    expect(confirmed.status).toBe(201);
    expect(confirmed.body).toMatchObject({
      id: signed.body.id,
      format: 'png',
      width: 1024,
      height: 768,
      alt: 'Direct',
      provider: 'cloudinary',
    });
    // Confirming again (twice at once, as a double click does) answers the same asset, still there.
    const twice = await Promise.all(
      [1, 2].map(() => call('POST', '/api/media/confirm', { token, body: { id: signed.body.id } })),
    );
    expect(twice.map((r) => [r.status, r.body.id])).toEqual([
      [201, signed.body.id],
      [201, signed.body.id],
    ]);
    expect(fake.assets.has(signed.body.fields.public_id)).toBe(true);
    // Another organization can't.
    expect((await call('POST', '/api/media/confirm', { token, body: { id: signed.body.id } })).body.id).toBe(
      signed.body.id,
    );
    const other = (await signUp(s.url, 'Eve')).token;
    expect(
      (await call('POST', '/api/media/confirm', { token: other, body: { id: signed.body.id } })).status,
    ).toBe(404);
    // Nothing uploaded under an id: 404.
    const unused = await call('POST', '/api/media/upload-signature', { token, body: {} });
    expect((await call('POST', '/api/media/confirm', { token, body: { id: unused.body.id } })).status).toBe(
      404,
    );
  });

  it('sweeps away direct uploads never confirmed', async () => {
    const signed = await call('POST', '/api/media/upload-signature', { token, body: {} });
    const direct = new FormData();
    for (const [k, v] of Object.entries(signed.body.fields as Record<string, string>)) direct.append(k, v);
    direct.append('file', new Blob([await image('png', 50, 50)]), 'x.png');
    expect((await fetch(signed.body.upload_url, { method: 'POST', body: direct })).status).toBe(200);
    const kept = await upload(await image('jpeg', 60, 40), `event=${eventId}`);
    // Everything counts as a day old (a cutoff a minute ahead): only what no asset names goes.
    const removed = await s.media.sweep(-60_000);
    expect(removed).toBeGreaterThanOrEqual(1);
    expect(fake.assets.has(signed.body.fields.public_id)).toBe(false);
    expect(fake.assets.has(kept.body.provider_id)).toBe(true);
    const rows = await s.db.kysely.selectFrom('media_assets').select('provider_id').execute();
    expect(rows.every((r) => fake.assets.has(r.provider_id))).toBe(true);
  });

  it('refuses (and destroys) a direct upload of a type it does not take', async () => {
    const signed = await call('POST', '/api/media/upload-signature', { token, body: {} });
    const direct = new FormData();
    for (const [k, v] of Object.entries(signed.body.fields as Record<string, string>)) direct.append(k, v);
    direct.append('file', new Blob([SVG]), 'logo.svg');
    expect((await fetch(signed.body.upload_url, { method: 'POST', body: direct })).status).toBe(200);
    const publicId = signed.body.fields.public_id;
    expect(fake.assets.has(publicId)).toBe(true);
    const confirmed = await call('POST', '/api/media/confirm', { token, body: { id: signed.body.id } });
    expect(confirmed.status).toBe(415);
    expect(fake.assets.has(publicId)).toBe(false);
  });

  it('has Cloudinary fetch a URL', async () => {
    const res = await call('POST', '/api/media/from-url', {
      token,
      body: { url: `${originUrl}/poster.png`, event: eventId },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({ provider: 'cloudinary', format: 'png', width: 640, height: 360 });
    const got = await fetch(`${fake.url}/tickets-test/image/upload/${res.body.provider_id}.png`);
    expect((await sharp(Buffer.from(await got.arrayBuffer())).metadata()).width).toBe(640);
  });

  it("reports usage with the account's, and says what Cloudinary's failures mean", async () => {
    const usage = await call('GET', '/api/media/usage', { token });
    expect(usage.body.provider).toBe('cloudinary');
    expect(usage.body.provider_usage.plan).toBeTruthy();
    expect(usage.body.provider_usage.storage_bytes).toBeGreaterThan(0);
    fake.failNext(1, 500);
    const down = await upload(await image('jpeg', 100, 100), `event=${eventId}`);
    expect(down.status).toBe(502);
    expect(down.body.code).toBe('provider_failed');
    fake.failNext(1, 420);
    const limited = await upload(await image('jpeg', 100, 100), `event=${eventId}`);
    expect(limited.status).toBe(503);
    expect(limited.body.code).toBe('provider_rate_limited');
    // Nothing was registered for the failed uploads.
    const rows = await s.db.kysely.selectFrom('media_assets').select('provider_id').execute();
    expect(rows.every((r) => fake.assets.has(r.provider_id))).toBe(true);
    // And the local store's /media/ is not served.
    expect((await fetch(`${s.url}/media/x`)).status).toBe(404);
  });
});
