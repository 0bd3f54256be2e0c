import { describe, expect, it } from 'vitest';
import type { MessageData, TicketData } from '../src/modules/messaging/templates.js';
import { ticketsPdf as drawHere } from '../src/modules/messaging/ticket-pdf.js';
import { qrPng, ticketsPdf } from '../src/render/pool.js';
import { pdfText, readQr } from './readback.js';

/** The longest the event loop went without a turn while `work` ran. */
async function stalls<T>(work: () => Promise<T>): Promise<{ value: T; longestMs: number }> {
  let longestMs = 0;
  let last = performance.now();
  let running = true;
  const tick = () => {
    const now = performance.now();
    longestMs = Math.max(longestMs, now - last);
    last = now;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  const value = await work();
  running = false;
  // Work done without the loop turning at all (synchronously) is one stall from start to end.
  tick();
  return { value, longestMs };
}

const order = (count: number): MessageData => ({
  org: { name: 'Pool Org' },
  event: {
    id: 'evt_x',
    name: 'Render Night',
    starts: 'Sat, 12 Dec 2026, 20:00 (Europe/Berlin)',
    venue: 'Hall',
    cancelled: false,
  },
  buyer: { name: 'Buyer' },
  order: { id: 'order_x', total: '€25.00', ticket_count: count },
  tickets: Array.from({ length: count }, (_, n) => ({
    id: `ticket_${n}`,
    holder_name: `Holder ${n}`,
    type_name: 'General admission',
    code: `code-${n}-${'x'.repeat(120)}`,
    qr_cid: '',
  })) as TicketData[],
});

describe('render pool', () => {
  it("draws a large order's PDF on a worker thread: the event loop keeps turning while it is drawn", async () => {
    // Warm both (a first render loads pdfkit and the fonts), so what is measured is the drawing alone.
    await ticketsPdf(order(1));
    await drawHere(order(1));
    const here = await stalls(() => drawHere(order(60)));
    const pooled = await stalls(() => ticketsPdf(order(60)));
    const text = await pdfText(pooled.value);
    expect(text).toContain('Holder 0');
    expect(text).toContain('Holder 59');
    // Drawn on this thread, each page is a synchronous stretch that stops the event loop; drawn by the
    // pool, the loop turns all along (measured against the same drawing done here, as machines differ).
    expect(pooled.longestMs).toBeLessThan(here.longestMs / 3);
  });

  it('keeps QR images by code and size, and draws the code asked for', async () => {
    const a = await qrPng('TICKETCODE-ONE', 256);
    expect(await qrPng('TICKETCODE-ONE', 256)).toBe(a);
    const other = await qrPng('TICKETCODE-TWO', 256);
    expect(other).not.toBe(a);
    expect(readQr(a)).toBe('TICKETCODE-ONE');
    expect(readQr(other)).toBe('TICKETCODE-TWO');
    const larger = await qrPng('TICKETCODE-ONE', 512);
    expect(larger.length).toBeGreaterThan(a.length);
    expect(readQr(larger)).toBe('TICKETCODE-ONE');
  });

  it('passes a failure in the thread back as a rejection', async () => {
    await expect(ticketsPdf({ broken: true } as unknown as MessageData)).rejects.toThrow();
  });
});
