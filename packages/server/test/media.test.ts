import { existsSync, readdirSync } from 'node:fs';
import { mkdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DIALECTS,
  eventOnSale,
  http,
  sampleEvent,
  signUp,
  startTestServer,
  type TestServer,
  waitFor,
} from './harness.js';
import {
  elf,
  form,
  heicSkeleton,
  image,
  isoVideo,
  jpegWithGps,
  largeJpeg,
  pixelBomb,
  SVG,
  startOrigin,
  webm,
} from './media-files.js';

const IMAGE_LIMIT = 256 * 1024;

describe.each(DIALECTS)('%s: media on the local store', (dialect) => {
  let s: TestServer;
  let call: ReturnType<typeof http>;
  let token: string;
  let eventId: string;
  let origin: Awaited<ReturnType<typeof startOrigin>>;
  let originUrl: string;

  beforeAll(async () => {
    s = await startTestServer(dialect, {
      TICKETS_MEDIA_MAX_IMAGE_BYTES: String(IMAGE_LIMIT),
      TICKETS_MEDIA_MAX_VIDEO_BYTES: String(512 * 1024),
      TICKETS_MEDIA_MAX_PIXELS: String(40_000_000),
      TICKETS_MEDIA_ALLOW_PRIVATE_URLS: 'true',
    });
    call = http(s.url);
    token = (await signUp(s.url)).token;
    const created = await call('POST', '/api/events', { token, body: sampleEvent() });
    eventId = created.body.id;
    // A web server to fetch from (from-url).
    origin = await startOrigin();
    originUrl = origin.url;
  });
  afterAll(async () => {
    origin?.close();
    await s?.stop();
  });

  const upload = async (
    file: Buffer,
    query: string,
    opts: { name?: string; type?: string; as?: string; fields?: Record<string, string> } = {},
  ) => {
    const res = await fetch(`${s.url}/api/media${query ? `?${query}` : ''}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${opts.as ?? token}` },
      body: form(file, opts.name, opts.type, opts.fields),
    });
    // biome-ignore lint/suspicious/noExplicitAny: tests inspect arbitrary JSON
    const body: any = await res.json();
    return { status: res.status, headers: res.headers, body };
  };
  const mediaDir = () => join(s.config.dataDir, 'media', 'originals');
  const storedFiles = () =>
    existsSync(mediaDir())
      ? readdirSync(mediaDir(), { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).length
      : 0;
  const rows = async () =>
    Number(
      (
        await s.db.kysely
          .selectFrom('media_assets')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );

  it('takes every accepted type, named by its bytes, and answers its URLs', async () => {
    const cases: [Buffer, string, string, string][] = [
      [await image('jpeg'), 'a.jpg', 'image/jpeg', 'jpg'],
      [await image('png', 400, 300), 'a.png', 'image/png', 'png'],
      [await image('webp'), 'a.webp', 'image/webp', 'webp'],
      [await image('avif'), 'a.avif', 'image/avif', 'avif'],
      [await image('gif', 320, 200), 'a.gif', 'image/gif', 'gif'],
      [heicSkeleton(), 'IMG_0001.HEIC', 'image/heic', 'heic'],
      // Names and declared types that lie: the bytes decide.
      [await image('webp'), 'photo.jpg', 'image/jpeg', 'webp'],
      [isoVideo('isom'), 'trailer.mp4', 'video/mp4', 'mp4'],
      [isoVideo('qt  '), 'clip.mov', 'video/quicktime', 'mov'],
      [webm(), 'clip.webm', 'application/octet-stream', 'webm'],
    ];
    for (const [bytes, name, type, format] of cases) {
      const video = ['mp4', 'mov', 'webm'].includes(format);
      const res = await upload(
        bytes,
        `event=${eventId}&role=${video ? 'video' : 'gallery'}&alt=${encodeURIComponent(name)}`,
        { name, type },
      );
      expect(res.status, `${name}: ${JSON.stringify(res.body)}`).toBe(201);
      expect(res.body).toMatchObject({
        object: 'media',
        event: eventId,
        format,
        resource_type: video ? 'video' : 'image',
        bytes: bytes.length,
        provider: 'local',
        status: 'ready',
        alt: name,
      });
      expect(res.body.hash).toMatch(/^[0-9a-f]{64}$/);
      if (!video && format !== 'heic') {
        expect(res.body.width).toBeGreaterThan(0);
        expect(Object.keys(res.body.urls)).toEqual(['thumbnail', 'card', 'og', 'email', 'full']);
        expect(res.body.urls.card).toBe(`${s.url}/media/${res.body.id}/v${res.body.version}/card`);
        expect(res.body.srcset.split(', ')).toHaveLength(5);
        expect(res.body.srcset).toContain('/w_1920 1920w');
        expect(res.body.sizes).toBeTruthy();
      }
      if (format === 'heic') {
        expect([res.body.width, res.body.height]).toEqual([4032, 3024]);
        expect(res.body.notes.join(' ')).toMatch(/HEIC/);
      }
      if (video) {
        expect(res.body.video.original).toBe(
          `${s.url}/media/${res.body.id}/v${res.body.version}/original.${format}`,
        );
        // Without ffmpeg there is no poster frame, and the answer says so.
        if (!res.body.video.poster) expect(res.body.notes.join(' ')).toMatch(/ffmpeg/);
      }
    }
  });

  it('refuses what is not an accepted image or video, and stores nothing of it', async () => {
    const before = { files: storedFiles(), rows: await rows() };
    const exe = await upload(elf(), `event=${eventId}`, { name: 'poster.jpg', type: 'image/jpeg' });
    expect(exe.status).toBe(415);
    expect(exe.headers.get('content-type')).toMatch(/problem\+json/);
    expect(exe.body.detail).toMatch(/application\/x-elf/);
    const svg = await upload(SVG, `event=${eventId}`, { name: 'logo.svg', type: 'image/svg+xml' });
    expect(svg.status).toBe(415);
    expect(svg.body.detail).toMatch(/SVG/);
    const text = await upload(Buffer.from('hello, world\n'.repeat(100)), '', {
      name: 'x.png',
      type: 'image/png',
    });
    expect(text.status).toBe(415);
    const bomb = await upload(pixelBomb(), `event=${eventId}`, { name: 'bomb.png', type: 'image/png' });
    expect(bomb.status).toBe(413);
    expect(bomb.body.code).toBe('too_many_pixels');
    expect(bomb.body.detail).toMatch(/100000×100000/);
    const big = await largeJpeg(IMAGE_LIMIT / 1024 + 64);
    expect(big.length).toBeGreaterThan(IMAGE_LIMIT);
    const oversized = await upload(big, `event=${eventId}`);
    expect(oversized.status).toBe(413);
    expect(oversized.body.code).toBe('file_too_large');
    const notMultipart = await call('POST', '/api/media', { token, body: { file: 'x' } });
    expect(notMultipart.status).toBe(415);
    const noFile = await fetch(`${s.url}/api/media`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: (() => {
        const f = new FormData();
        f.append('alt', 'x');
        return f;
      })(),
    });
    expect(noFile.status).toBe(400);
    const wrongRole = await upload(isoVideo('isom'), `event=${eventId}&role=cover`, { name: 'a.mp4' });
    expect(wrongRole.status).toBe(422);
    const coverWithoutEvent = await upload(await image('jpeg', 100, 100), 'role=cover');
    expect(coverWithoutEvent.status).toBe(422);
    expect({ files: storedFiles(), rows: await rows() }).toEqual(before);
    // The temporary files of the refused uploads are gone too.
    const tmp = join(s.config.dataDir, 'media', 'tmp');
    expect(existsSync(tmp) ? readdirSync(tmp) : []).toEqual([]);
  });

  it('serves presets made by sharp, in the format the browser takes, cached and immutable', async () => {
    const up = await upload(await image('jpeg', 1600, 900), `event=${eventId}&role=gallery`);
    const { urls, srcset } = up.body;
    const webp = await fetch(urls.card, { headers: { accept: 'image/avif;q=0,image/webp,*/*' } });
    // (A q=0 is not honoured by this simple negotiation; the request below asks plainly.)
    expect(webp.status).toBe(200);
    const plainWebp = await fetch(urls.card, { headers: { accept: 'image/webp,*/*' } });
    expect(plainWebp.headers.get('content-type')).toBe('image/webp');
    expect(plainWebp.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(plainWebp.headers.get('vary')).toBe('Accept');
    const etag = plainWebp.headers.get('etag');
    expect(etag).toBeTruthy();
    const meta = await sharp(Buffer.from(await plainWebp.arrayBuffer())).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['webp', 800, 450]);
    const again = await fetch(urls.card, { headers: { accept: 'image/webp,*/*', 'if-none-match': etag! } });
    expect(again.status).toBe(304);
    const avif = await fetch(urls.thumbnail, { headers: { accept: 'image/avif,image/webp,*/*' } });
    const a = await sharp(Buffer.from(await avif.arrayBuffer())).metadata();
    expect([avif.headers.get('content-type'), a.width, a.height]).toEqual(['image/avif', 200, 200]);
    const jpeg = await fetch(urls.og);
    const j = await sharp(Buffer.from(await jpeg.arrayBuffer())).metadata();
    expect([jpeg.headers.get('content-type'), j.width, j.height]).toEqual(['image/jpeg', 1200, 630]);
    const email = await sharp(Buffer.from(await (await fetch(urls.email)).arrayBuffer())).metadata();
    expect([email.width, email.height]).toEqual([600, 240]);
    // full and the srcset never enlarge: 1600 wide stays 1600 at 1920.
    const full = await sharp(Buffer.from(await (await fetch(urls.full)).arrayBuffer())).metadata();
    expect([full.width, full.height]).toEqual([1600, 900]);
    const w640 = srcset
      .split(', ')
      .find((x: string) => x.endsWith(' 640w'))
      .split(' ')[0];
    const small = await sharp(Buffer.from(await (await fetch(w640)).arrayBuffer())).metadata();
    expect([small.width, small.height]).toEqual([640, 360]);
    // Made once and kept on disk.
    expect(
      existsSync(join(s.config.dataDir, 'media', 'cache', up.body.id, up.body.version, 'card.webp')),
    ).toBe(true);
    // A wrong version, an unknown preset, a width not in the srcset: not found.
    expect((await fetch(urls.card.replace(`/v${up.body.version}/`, '/v000000000000/'))).status).toBe(404);
    expect((await fetch(urls.card.replace('/card', '/huge'))).status).toBe(404);
    expect((await fetch(urls.card.replace('/card', '/w_333'))).status).toBe(404);
    // The original of an image is never served (its metadata is not for the public).
    expect((await fetch(urls.card.replace('/card', '/original.jpg'))).status).toBe(404);
  });

  it('strips EXIF (GPS, owner) from everything it serves', async () => {
    const photo = await jpegWithGps();
    expect((await sharp(photo).metadata()).exif).toBeDefined();
    const up = await upload(photo, `event=${eventId}`);
    expect(up.status).toBe(201);
    for (const name of ['full', 'card'] as const) {
      const bytes = Buffer.from(await (await fetch(up.body.urls[name])).arrayBuffer());
      const meta = await sharp(bytes).metadata();
      expect(meta.exif).toBeUndefined();
      expect(bytes.includes(Buffer.from('Ann Photographer'))).toBe(false);
    }
  });

  it('keeps nothing of an upload the client abandons, or whose body breaks after the file', async () => {
    const before = { files: storedFiles(), rows: await rows() };
    const jpeg = await image('jpeg', 1200, 800);
    const boundary = 'x-tickets-test-boundary';
    const head = Buffer.from(
      `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="a.jpg"\r\ncontent-type: image/jpeg\r\n\r\n`,
    );
    // Gone mid-file: half the bytes, then the connection closed.
    await new Promise<void>((resolve) => {
      const req = httpRequest(`${s.url}/api/media?event=${eventId}`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': `multipart/form-data; boundary=${boundary}`,
          'content-length': String(head.length + jpeg.length + 100),
        },
      });
      req.on('error', () => resolve());
      req.write(Buffer.concat([head, jpeg.subarray(0, jpeg.length / 2)]));
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 200);
    });
    const tmp = join(s.config.dataDir, 'media', 'tmp');
    await waitFor(
      async () => (existsSync(tmp) ? readdirSync(tmp).length : 0),
      (n) => n === 0,
    );
    // The whole file, then a body that ends inside the next part's headers.
    const broken = Buffer.concat([
      head,
      jpeg,
      Buffer.from(`\r\n--${boundary}\r\ncontent-disposition: form-da`),
    ]);
    const res = await fetch(`${s.url}/api/media?event=${eventId}&role=cover`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': `multipart/form-data; boundary=${boundary}`,
      },
      body: broken,
    });
    expect(res.status).toBe(400);
    // A JPEG cut short passes a header check; it is refused as what it is, not served as errors later.
    const cut = await upload(jpeg.subarray(0, Math.floor(jpeg.length * 0.6)), `event=${eventId}`);
    expect(cut.status).toBe(415);
    expect(cut.body.code).toBe('unreadable_image');
    await waitFor(
      async () => ({ files: storedFiles(), rows: await rows() }),
      (now) => now.files === before.files && now.rows === before.rows,
    );
  });

  it('serves a video as uploaded, with ranges', async () => {
    const clip = isoVideo('isom', 100_000);
    const up = await upload(clip, `event=${eventId}&role=video`, { name: 'trailer.mp4', type: 'video/mp4' });
    const url = up.body.video.original;
    const whole = await fetch(url);
    expect(whole.headers.get('accept-ranges')).toBe('bytes');
    expect(Buffer.from(await whole.arrayBuffer()).equals(clip)).toBe(true);
    const part = await fetch(url, { headers: { range: 'bytes=100-199' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 100-199/${clip.length}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(clip.subarray(100, 200))).toBe(true);
    const tail = await fetch(url, { headers: { range: 'bytes=-10' } });
    expect(Buffer.from(await tail.arrayBuffer()).equals(clip.subarray(clip.length - 10))).toBe(true);
    expect((await fetch(url, { headers: { range: `bytes=${clip.length}-` } })).status).toBe(416);
    expect((await fetch(url, { headers: { range: 'bytes=-0' } })).status).toBe(416);
    // Several ranges, or one that makes no sense: ignored, the whole file answered.
    for (const range of ['bytes=0-1,4-5', 'bytes=9-3', 'items=0-1']) {
      const whole = await fetch(url, { headers: { range } });
      expect([whole.status, Number(whole.headers.get('content-length'))]).toEqual([200, clip.length]);
    }
  });

  it('replaces a cover: the event shows the new one, the old one is gone with its cached copies', async () => {
    const ev = (await call('POST', '/api/events', { token, body: sampleEvent({ name: 'Covers' }) })).body.id;
    const first = await upload(await image('jpeg', 1200, 800), `event=${ev}&role=cover&alt=First`);
    expect(first.status).toBe(201);
    expect((await fetch(first.body.urls.card)).status).toBe(200);
    const cache = join(s.config.dataDir, 'media', 'cache', first.body.id);
    expect(existsSync(cache)).toBe(true);
    const second = await upload(await image('png', 1200, 800), `event=${ev}&role=cover&alt=Second`);
    expect(second.status).toBe(201);
    // Versioned URLs: the new cover's differ from the old one's.
    expect(second.body.urls.card).not.toBe(first.body.urls.card);
    const event = await call('GET', `/api/events/${ev}`, { token });
    expect(event.body.cover).toMatchObject({ id: second.body.id, alt: 'Second', role: 'cover' });
    expect((await call('GET', `/api/media/${first.body.id}`, { token })).status).toBe(404);
    expect((await fetch(first.body.urls.card)).status).toBe(404);
    expect(existsSync(cache)).toBe(false);
    const audit = await call('GET', `/api/audit-log?action=media.cover_replaced&target=${second.body.id}`, {
      token,
    });
    expect(audit.body.data[0].data.replaced).toBe(first.body.id);
  });

  it('keeps one cover when many are set at once', async () => {
    const ev = (await call('POST', '/api/events', { token, body: sampleEvent({ name: 'Race' }) })).body.id;
    const files = await Promise.all(Array.from({ length: 8 }, (_, i) => image('jpeg', 300 + i, 200)));
    const answers = await Promise.all(files.map((f) => upload(f, `event=${ev}&role=cover`)));
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 201));
    const covers = await s.db.kysely
      .selectFrom('media_assets')
      .selectAll()
      .where('event_id', '=', ev)
      .execute();
    expect(covers).toHaveLength(1);
    // The losers' files are gone from the store: only the winner's original is left for this event.
    const mine = readdirSync(join(mediaDir(), covers[0]!.org_id)).filter((f) =>
      answers.some((a) => a.body.id === f),
    );
    expect(mine).toEqual([covers[0]!.id]);
  });

  it('lists by event and role with a cursor, updates, and deletes', async () => {
    const ev = (await call('POST', '/api/events', { token, body: sampleEvent({ name: 'Gallery' }) })).body.id;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push((await upload(await image('webp', 200 + i, 100), `event=${ev}`)).body.id);
    expect(
      (await call('GET', `/api/media?event=${ev}`, { token })).body.data.map(
        (m: { position: number }) => m.position,
      ),
    ).toEqual([4, 3, 2, 1, 0]);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: { body: { data: { id: string }[]; next_cursor: string | null } } = await call(
        'GET',
        `/api/media?event=${ev}&role=gallery&limit=2${cursor ? `&starting_after=${cursor}` : ''}`,
        { token },
      );
      seen.push(...res.body.data.map((m) => m.id));
      cursor = res.body.next_cursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
    const updated = await call('PUT', `/api/media/${ids[0]}`, {
      token,
      body: { alt: 'The stage', position: 9 },
    });
    expect(updated.body).toMatchObject({ alt: 'The stage', position: 9 });
    const promoted = await call('PUT', `/api/media/${ids[1]}`, { token, body: { role: 'cover' } });
    expect(promoted.body.role).toBe('cover');
    const event = await call('GET', `/api/events/${ev}`, { token });
    expect(event.body.cover.id).toBe(ids[1]);
    expect(event.body.gallery.map((m: { id: string }) => m.id)).toEqual([ids[2], ids[3], ids[4], ids[0]]);
    const bad = await call('PUT', `/api/media/${ids[2]}`, { token, body: { role: 'video' } });
    expect(bad.status).toBe(422);
    const deleted = await call('DELETE', `/api/media/${ids[2]}`, { token });
    expect(deleted.body).toEqual({ id: ids[2], object: 'media', deleted: true });
    expect((await call('GET', `/api/media/${ids[2]}`, { token })).status).toBe(404);
    const listed = await call('GET', '/api/events', { token });
    expect(listed.body.data.find((e: { id: string }) => e.id === ev).gallery).toHaveLength(3);
  });

  it('shows the cover to buyers: the e-mail banner, the PDF, the WhatsApp header', async () => {
    const {
      eventId: ev,
      typeIds: [typeId],
    } = await eventOnSale(s.url, token, { name: 'Poster Night' }, [
      { name: 'GA', amount: 1000, capacity: 10 },
    ]);
    const cover = await upload(
      await image('jpeg', 1600, 900),
      `event=${ev}&role=cover&alt=The band on stage`,
    );
    expect(cover.status).toBe(201);
    const sold = await call('POST', '/api/tickets/purchase', {
      token,
      body: {
        event: ev,
        items: [{ ticket_type: typeId, quantity: 1 }],
        buyer: { name: 'Pia Poster', email: 'pia@example.com', phone: '+441632960962' },
        payment_method: 'manual',
      },
    });
    expect(sold.status).toBe(201);
    const sent = await waitFor(
      async () =>
        (await call('GET', `/api/messages?order=${sold.body.id}`, { token })).body.data as {
          id: string;
          channel: string;
          status: string;
        }[],
      (m) => m.length === 2 && m.every((x) => x.status === 'sent'),
    );
    const outbox = join(s.config.dataDir, 'outbox');
    const email = sent.find((m) => m.channel === 'email')!;
    const mail = await simpleParser(await readFile(join(outbox, `${email.id}.eml`)), { keepCidLinks: true });
    expect(mail.html).toContain(`cid:cover-${ev}`);
    expect(mail.html).toContain('alt="The band on stage"');
    const banner = mail.attachments.find((a) => a.cid === `cover-${ev}`)!;
    const b = await sharp(banner.content).metadata();
    expect([banner.contentType, b.width, b.height]).toEqual(['image/jpeg', 600, 240]);
    const pdf = mail.attachments.find((a) => a.contentType === 'application/pdf')!;
    expect(pdf.content.includes(Buffer.from('/Subtype /Image'))).toBe(true);
    const wa = sent.find((m) => m.channel === 'whatsapp')!;
    const header = await sharp(await readFile(join(outbox, `${wa.id}.whatsapp.png`))).metadata();
    // The cover above the ticket's QR code, in one header image.
    expect([header.width, header.height]).toEqual([600, 640]);
  });

  it('sweeps away files no asset names, a day on', async () => {
    const kept = await upload(await image('jpeg', 300, 200), `event=${eventId}`);
    const orgId = (
      await s.db.kysely
        .selectFrom('media_assets')
        .select('org_id')
        .where('id', '=', kept.body.id)
        .executeTakeFirstOrThrow()
    ).org_id;
    const dir = join(s.config.dataDir, 'media');
    const orphan = join(dir, 'originals', orgId, 'med_01jd6x3k7qf0v8c6w2x9yq4e5b');
    const young = join(dir, 'originals', orgId, 'med_01jd6x3k7qf0v8c6w2x9yq4e5c');
    const crashed = join(dir, 'tmp', 'med_01jd6x3k7qf0v8c6w2x9yq4e5d.part');
    await mkdir(join(dir, 'tmp'), { recursive: true });
    for (const f of [orphan, young, crashed]) await writeFile(f, 'x');
    const dayAgo = new Date(Date.now() - 25 * 3600_000);
    for (const f of [orphan, crashed, join(dir, 'originals', orgId, kept.body.id)])
      await utimes(f, dayAgo, dayAgo);
    expect(await s.media.sweep()).toBe(2);
    expect([existsSync(orphan), existsSync(crashed), existsSync(young)]).toEqual([false, false, true]);
    // The asset's own file, as old, is kept and still served.
    expect((await fetch(kept.body.urls.thumbnail)).status).toBe(200);
    await rm(young);
  });

  it("answers 404 for another organization's media and events", async () => {
    const mine = await upload(await image('jpeg', 300, 200), `event=${eventId}`);
    const other = (await signUp(s.url, 'Bob Rival')).token;
    for (const [method, body] of [['GET'], ['PUT', { alt: 'x' }], ['DELETE']] as const)
      expect((await call(method, `/api/media/${mine.body.id}`, { token: other, body })).status).toBe(404);
    expect((await call('GET', '/api/media', { token: other })).body.data).toEqual([]);
    const intoTheirs = await upload(await image('jpeg', 300, 200), `event=${eventId}`, { as: other });
    expect(intoTheirs.status).toBe(404);
    expect((await call('GET', `/api/media/${mine.body.id}`, { token })).status).toBe(200);
  });

  it('fetches from a URL, refusing private addresses unless allowed', async () => {
    const ok = await call('POST', '/api/media/from-url', {
      token,
      body: { url: `${originUrl}/poster.png`, event: eventId, alt: 'Fetched' },
    });
    expect(ok.status).toBe(201);
    expect(ok.body).toMatchObject({ format: 'png', width: 640, height: 360, alt: 'Fetched' });
    const missing = await call('POST', '/api/media/from-url', {
      token,
      body: { url: `${originUrl}/nope.png` },
    });
    expect(missing.status).toBe(422);
  });

  it('counts usage per event, lists the presets, and deletes media with its event', async () => {
    const usage = await call('GET', '/api/media/usage', { token });
    expect(usage.body).toMatchObject({ object: 'media_usage', provider: 'local', provider_usage: null });
    expect(usage.body.assets).toBe(
      usage.body.events.reduce((n: number, e: { assets: number }) => n + e.assets, 0),
    );
    const presets = await call('GET', '/api/media/presets', { token });
    expect(presets.body.data.map((p: { name: string }) => p.name)).toEqual([
      'thumbnail',
      'card',
      'og',
      'email',
      'full',
    ]);
    expect(presets.body.data[1]).toMatchObject({
      width: 800,
      height: 450,
      transformation: 'c_fill,g_auto,w_800,h_450/f_auto,q_auto',
    });
    const ev = (await call('POST', '/api/events', { token, body: sampleEvent({ name: 'Doomed' }) })).body.id;
    const a = await upload(await image('jpeg', 300, 200), `event=${ev}&role=cover`);
    const original = join(
      mediaDir(),
      (
        await s.db.kysely
          .selectFrom('media_assets')
          .select('org_id')
          .where('id', '=', a.body.id)
          .executeTakeFirstOrThrow()
      ).org_id,
      a.body.id,
    );
    expect(existsSync(original)).toBe(true);
    expect((await call('DELETE', `/api/events/${ev}`, { token })).status).toBe(200);
    expect(existsSync(original)).toBe(false);
    expect((await call('GET', `/api/media/${a.body.id}`, { token })).status).toBe(404);
  });
});

describe('media from a URL, on a server that keeps to public addresses', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer('sqlite');
  });
  afterAll(() => s?.stop());

  it('refuses loopback, private and metadata addresses', async () => {
    const { token } = await signUp(s.url);
    const call = http(s.url);
    for (const url of [
      'http://127.0.0.1:9/x.png',
      'http://10.0.0.1/x.png',
      'http://169.254.169.254/latest/meta-data',
      'http://[::1]/x.png',
      'http://localhost/x.png',
    ]) {
      const res = await call('POST', '/api/media/from-url', { token, body: { url } });
      expect(res.status, url).toBe(400);
      expect(res.body.code).toBe('url_not_allowed');
    }
    expect(
      Number(
        (
          await s.db.kysely
            .selectFrom('media_assets')
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      ),
    ).toBe(0);
  });
});
