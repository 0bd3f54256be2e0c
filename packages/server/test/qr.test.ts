import { verifyTicketCode } from '@tickets/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, http, sampleEvent, signUp, startTestServer, type TestServer } from './harness.js';
import { modulesBitmap, readQr, readQrWithZxing } from './readback.js';

/** PNG width and height, from the IHDR chunk. */
const pngSize = (png: Buffer) => ({ width: png.readUInt32BE(16), height: png.readUInt32BE(20) });

/** Every tag opens and closes in order, attributes are quoted, and nothing but tags is in between. */
function assertWellFormedXml(xml: string): void {
  const tag = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<&]*")*)\s*(\/?)>/y;
  const open: string[] = [];
  let at = xml.indexOf('<');
  expect(xml.slice(0, at).trim()).toBe('');
  while (at < xml.length) {
    tag.lastIndex = at;
    const m = tag.exec(xml);
    if (!m) throw new Error(`not well-formed at ${at}: ${xml.slice(at, at + 40)}`);
    const [, closing, name, , selfClosing] = m;
    if (closing) expect(open.pop(), `</${name}> closes`).toBe(name);
    else if (!selfClosing) open.push(name!);
    at = tag.lastIndex;
    const next = xml.indexOf('<', at);
    const text = xml.slice(at, next === -1 ? undefined : next);
    expect(text.trim(), 'text between tags').toBe('');
    at = next === -1 ? xml.length : next;
  }
  expect(open).toEqual([]);
}

/**
 * Draws the SVG's path the way a browser would (qrcode's `M x y`, `m dx 0`, `h n` runs of dark modules)
 * into a grid of modules, so the decoder reads what the SVG shows, not what we meant it to.
 */
function svgModules(svg: string): boolean[][] {
  const box = /viewBox="0 0 (\d+) (\d+)"/.exec(svg);
  const d = /<path[^>]*stroke="#000000"[^>]*\bd="([^"]+)"/.exec(svg);
  if (!box || !d) throw new Error('no viewBox or no dark path');
  const n = Number(box[1]);
  const dark = Array.from({ length: n }, () => new Array<boolean>(n).fill(false));
  let x = 0;
  let y = 0;
  for (const [, cmd, a, b] of d[1]!.matchAll(/([MmHh])\s*(-?[\d.]+)(?:\s+(-?[\d.]+))?/g)) {
    const dx = Number(a);
    if (cmd === 'M') [x, y] = [dx, Math.floor(Number(b))];
    else if (cmd === 'm') [x, y] = [x + dx, y + Math.floor(Number(b ?? 0))];
    else if (cmd === 'h') {
      for (let i = 0; i < dx; i++) dark[y]![x + i] = true;
      x += dx;
    } else throw new Error(`unexpected path command ${cmd}`);
  }
  return dark;
}

describe.each(DIALECTS)('%s: ticket QR images', (dialect) => {
  let s: TestServer;
  let call: ReturnType<typeof http>;
  let token: string;
  let eventId: string;
  let ticket: { id: string; code: string };

  const image = (path: string, as = token) =>
    fetch(s.url + path, { headers: { authorization: `Bearer ${as}` } });

  beforeAll(async () => {
    s = await startTestServer(dialect);
    call = http(s.url);
    token = (await signUp(s.url)).token;
    const event = await call('POST', '/api/events', { token, body: sampleEvent({ name: 'QR Night' }) });
    eventId = event.body.id;
    const type = await call('POST', `/api/events/${eventId}/ticket-types`, {
      token,
      body: { name: 'General admission', price: { amount: 2500, currency: 'EUR' }, capacity: 10 },
    });
    expect((await call('POST', `/api/events/${eventId}/publish`, { token })).status).toBe(200);
    const order = await call('POST', '/api/tickets/purchase', {
      token,
      body: {
        event: eventId,
        items: [{ ticket_type: type.body.id, quantity: 1 }],
        buyer: { name: 'Bea Buyer', email: 'bea@example.com' },
        payment_method: 'manual',
      },
    });
    expect(order.status, JSON.stringify(order.body)).toBe(201);
    ticket = order.body.tickets[0];
  });
  afterAll(() => s.stop());

  it('draws the ticket’s signed code as a PNG a barcode reader reads back, verifiable with the event key', async () => {
    const res = await image(`/api/tickets/${ticket.id}/qr.png`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(res.headers.get('cache-control')).toContain('no-store');
    const png = Buffer.from(await res.arrayBuffer());
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    // Phone-sized by default: a 53-module symbol and its quiet zone, 61 modules, at 8 pixels a module.
    expect(pngSize(png)).toEqual({ width: 488, height: 488 });

    const scanned = readQr(png);
    expect(scanned).toBe(ticket.code);
    // A second, independent decoder reads the same: a bug shared by the encoder and jsQR can't hide.
    expect(readQrWithZxing(png)).toBe(ticket.code);
    const key = await call('GET', `/api/events/${eventId}/public-key`, { token });
    expect(await verifyTicketCode(scanned, key.body.public_key)).toMatchObject({
      valid: true,
      ticketId: ticket.id,
      eventId,
    });
  });

  it('renders the size asked for, to the largest sharp size that fits, and refuses sizes out of range', async () => {
    const small = Buffer.from(await (await image(`/api/tickets/${ticket.id}/qr.png?size=200`)).arrayBuffer());
    expect(pngSize(small)).toEqual({ width: 183, height: 183 }); // 61 modules × 3 pixels
    expect(readQr(small)).toBe(ticket.code);
    expect(readQrWithZxing(small)).toBe(ticket.code);
    const big = Buffer.from(await (await image(`/api/tickets/${ticket.id}/qr.png?size=1024`)).arrayBuffer());
    expect(pngSize(big).width).toBe(976); // 61 × 16

    const tooSmall = await call('GET', `/api/tickets/${ticket.id}/qr.png?size=20`, { token });
    expect(tooSmall.status).toBe(400);
    expect(tooSmall.body).toMatchObject({ code: 'invalid_query', errors: [{ path: 'size' }] });
    const tooBig = await call('GET', `/api/tickets/${ticket.id}/qr.png?size=2048`, { token });
    expect(tooBig.status).toBe(400);
    expect(tooBig.body).toMatchObject({ code: 'invalid_query', errors: [{ path: 'size' }] });
  });

  it('serves a well-formed SVG that draws the same code', async () => {
    const res = await image(`/api/tickets/${ticket.id}/qr.svg?size=300`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/svg+xml');
    const svg = await res.text();
    assertWellFormedXml(svg);
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="300" height="300" /);
    expect(/viewBox="([^"]*)"/.exec(svg)?.[1]).toBe('0 0 61 61');
    // The SVG's quiet zone is in its light background; the bitmap adds its own.
    expect(readQr(modulesBitmap(svgModules(svg), 6, 0))).toBe(ticket.code);
  });

  it('carries the new code after a transfer, so the old image stops admitting anyone', async () => {
    const fresh = await call('POST', '/api/tickets/purchase', {
      token,
      body: {
        event: eventId,
        items: [
          {
            ticket_type: (await call('GET', `/api/tickets/${ticket.id}`, { token })).body.ticket_type_id,
            quantity: 1,
          },
        ],
        buyer: { name: 'Tom Transfer', email: 'tom@example.com' },
        payment_method: 'manual',
      },
    });
    const t = fresh.body.tickets[0];
    const before = readQr(Buffer.from(await (await image(`/api/tickets/${t.id}/qr.png`)).arrayBuffer()));
    const moved = await call('PUT', `/api/tickets/${t.id}/transfer`, {
      token,
      body: { name: 'Nia New', email: 'nia@example.com' },
    });
    expect(moved.status).toBe(200);
    const after = readQr(Buffer.from(await (await image(`/api/tickets/${t.id}/qr.png`)).arrayBuffer()));
    expect(before).toBe(t.code);
    expect(after).toBe(moved.body.code);
    expect(after).not.toBe(before);
  });

  it('shows another organization no image, and nobody without credentials', async () => {
    const other = await signUp(s.url, 'Otto Other');
    for (const ext of ['png', 'svg']) {
      const res = await call('GET', `/api/tickets/${ticket.id}/qr.${ext}`, { token: other.token });
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(res.body.code).toBe('not_found');
    }
    expect((await call('GET', `/api/tickets/${ticket.id}/qr.png`)).status).toBe(401);
    expect((await call('GET', '/api/tickets/tkt_01jd6x3k7qf0v8c6w2x9yq4e5b/qr.png', { token })).status).toBe(
      404,
    );
  });
});
