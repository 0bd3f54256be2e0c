// The SDK in a web page: its main entry bundles for the browser (no node: imports, no Node globals),
// and the bundle runs in a bare JavaScript realm with only what a browser has — listing events and
// starting a purchase with a publishable key, and verifying a ticket code with WebCrypto.
import { generateKeyPairSync, sign } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { encodeTicketPayload, joinTicketCode } from '../src/index.js';

const ENTRY = fileURLToPath(new URL('../src/index.ts', import.meta.url));

async function bundle(): Promise<{ code: string; inputs: string[] }> {
  const out = await build({
    entryPoints: [ENTRY],
    bundle: true,
    platform: 'browser',
    format: 'iife',
    globalName: 'TicketsSDK',
    target: 'es2022',
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  return { code: out.outputFiles[0]!.text, inputs: Object.keys(out.metafile.inputs) };
}

describe('the SDK in a browser', () => {
  it('bundles for the browser without node: modules or Node globals', async () => {
    const { code, inputs } = await bundle();
    expect(inputs.filter((i) => i.startsWith('node:') || i.includes('(disabled)'))).toEqual([]);
    expect(code).not.toMatch(/\brequire\(|["']node:/);
    expect(code).not.toMatch(/\bprocess\.(env|versions)/);
  });

  it('bundles the storefront example (examples/storefront) for the browser', async () => {
    const out = await build({
      entryPoints: [fileURLToPath(new URL('../../../examples/storefront/main.js', import.meta.url))],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(out.metafile.inputs);
    expect(inputs.some((i) => i.includes('sdk/dist/client.js'))).toBe(true);
    expect(inputs.filter((i) => i.startsWith('node:'))).toEqual([]);
  });

  it('runs in a realm with only browser globals: pk_ key requests, and WebCrypto ticket codes', async () => {
    const { code } = await bundle();
    const requests: { url: string; method: string; headers: Record<string, string>; body: unknown }[] = [];
    // Like a browser's fetch: called with any `this` but the window, it throws.
    const fakeFetch = async function (this: unknown, url: string, init: RequestInit) {
      if (this !== undefined && this !== context) throw new TypeError('Illegal invocation');
      requests.push({
        url,
        method: init.method ?? 'GET',
        headers: Object.fromEntries(new Headers(init.headers).entries()),
        body: init.body ? JSON.parse(String(init.body)) : undefined,
      });
      const reply = url.includes('/api/tickets/purchase')
        ? { id: 'ord_x', status: 'pending', payment: { checkout_url: 'https://checkout.stripe.test/c' } }
        : { object: 'list', data: [{ id: 'evt_x', name: 'Jazz' }], has_more: false, next_cursor: null };
      return new Response(JSON.stringify(reply), {
        status: url.includes('purchase') ? 201 : 200,
        headers: { 'content-type': 'application/json' },
      });
    };
    // What a page has: no process, Buffer, require or module.
    const context: vm.Context = vm.createContext({
      fetch: fakeFetch,
      crypto: globalThis.crypto,
      URL,
      URLSearchParams,
      Headers,
      Response,
      AbortSignal,
      TextEncoder,
      TextDecoder,
      atob,
      btoa,
      setTimeout,
      clearTimeout,
      console,
    });
    vm.runInContext(code, context);
    expect(vm.runInContext('typeof Buffer + typeof process + typeof require', context)).toBe(
      'undefinedundefinedundefined',
    );

    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const rawPublic = publicKey.export({ format: 'jwk' }).x!;
    const payload = encodeTicketPayload({
      ticketId: 'tkt_01h455vb4pex5vsknk084sn02q',
      eventId: 'evt_01h455vb4pex5vsknk084sn02q',
      ticketTypeId: 'tt_01h455vb4pex5vsknk084sn02q',
      version: 1,
    });
    const ticketCode = joinTicketCode(payload, new Uint8Array(sign(null, payload, privateKey)));
    context.input = { ticketCode, rawPublic };

    const result = await vm.runInContext(
      `(async () => {
        const tickets = new TicketsSDK.Tickets({ baseUrl: 'https://api.example.test', token: 'pk_live_abc' });
        const events = [];
        for await (const e of tickets.events.list({ status: 'published' })) events.push(e.id);
        const order = await tickets.orders.purchase({
          event: 'evt_01h455vb4pex5vsknk084sn02q',
          items: [{ ticket_type: 'tt_01h455vb4pex5vsknk084sn02q', quantity: 1 }],
          buyer: { name: 'Web Buyer', email: 'web@example.com' },
          payment_method: 'stripe',
        });
        const good = await TicketsSDK.verifyTicketCode(input.ticketCode, input.rawPublic);
        const forged = await TicketsSDK.verifyTicketCode(input.ticketCode.slice(0, -4) + 'AAAA', input.rawPublic);
        return JSON.stringify({ events, order: order.payment.checkout_url, good: good.valid, ticket: good.ticketId, forged: forged.valid });
      })()`,
      context,
    );
    expect(JSON.parse(result)).toEqual({
      events: ['evt_x'],
      order: 'https://checkout.stripe.test/c',
      good: true,
      ticket: 'tkt_01h455vb4pex5vsknk084sn02q',
      forged: false,
    });
    expect(requests.map((r) => `${r.method} ${new URL(r.url).pathname}`)).toEqual([
      'GET /api/events',
      'POST /api/tickets/purchase',
    ]);
    expect(requests.every((r) => r.headers.authorization === 'Bearer pk_live_abc')).toBe(true);
    expect(requests[1]!.headers['idempotency-key']).toMatch(/^[0-9a-f-]{36}$/);
  });
});
