import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeStripe, startFakeStripe } from '../../server/test/fakes/stripe.js';
import { startTestServer, type TestServer, waitFor } from '../../server/test/harness.js';
import { type Cli, makeCli, signUpWithEvent } from './run-cli.js';

describe('sqlite: tickets payments', () => {
  let stripe: FakeStripe;
  let server: TestServer;
  let cli: Cli;
  let eventId: string;

  beforeAll(async () => {
    stripe = await startFakeStripe();
    server = await startTestServer('sqlite', {
      STRIPE_SECRET_KEY: stripe.secretKey,
      STRIPE_WEBHOOK_SECRET: stripe.webhookSecret,
      STRIPE_API_URL: stripe.url,
      TICKETS_HOLD_SWEEP_SECONDS: '1',
    });
    stripe.setWebhookUrl(`${server.url}/api/webhooks/stripe`);
    cli = makeCli();
    eventId = await signUpWithEvent(cli, server.url, { org: 'Payout Hall', event: 'Paid Night' });
    const type = await cli.json([
      'types',
      'create',
      eventId,
      '--name',
      'GA',
      '--price',
      '25.00',
      '--capacity',
      '50',
    ]);
    await cli.json(['events', 'publish', eventId]);
    // An online sale, paid at Stripe.
    const token = cli.config().profiles.default!.access_token!;
    const res = await fetch(`${server.url}/api/tickets/purchase`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        event: eventId,
        items: [{ ticket_type: type.id, quantity: 2 }],
        buyer: { name: 'Pat Payout', email: 'pat@example.com' },
        payment_method: 'stripe',
      }),
    });
    const order = (await res.json()) as { payment: { payment_intent_id: string } };
    await stripe.succeedPaymentIntent(order.payment.payment_intent_id);
  });
  afterAll(async () => {
    cli?.cleanup();
    await server?.stop();
    await stripe?.close();
  });

  it('lists payouts with our part of each, and shows one with its orders and fees', async () => {
    const { payout } = await stripe.createPayout({ currency: 'eur', deliver: true });
    const listed = await waitFor(
      () =>
        cli.json<{ id: string; lines_loaded: boolean; totals: { net: number } }[]>(['payments', 'payouts']),
      (l) => l[0]?.lines_loaded === true,
    );
    expect(listed.map((p) => p.id)).toEqual([payout.id]);
    // 2 × 25.00 less 2.9 % + 30.
    expect(listed[0]!.totals).toEqual({ gross: 5000, fees: 175, net: 4825, lines: 1 });
    const table = await cli(['payments', 'payouts']);
    expect(table.exitCode).toBe(0);
    expect(table.stdout).toContain(payout.id);
    expect(table.stdout).toContain('€48.25');
    const one = await cli(['payments', 'payout', payout.id]);
    expect(one.exitCode, one.stderr).toBe(0);
    expect(one.stdout).toMatch(/charge\s+ord_\w+\s+€50\.00\s+€1\.75\s+€48\.25/);
    // Reconciled: everything matches (exit 0); a charge made outside tickets does not (exit 1, CSV).
    const today = new Date().toISOString().slice(0, 10);
    const clean = await cli(['payments', 'reconcile', '--from', today, '--to', today]);
    expect(clean.exitCode, clean.stderr).toBe(0);
    expect(clean.stderr).toMatch(/1 matched, 0 not/);
    const foreign = await stripe.createCharge({ amount: 999, currency: 'eur' });
    const out = join(cli.configDir, 'mismatches.csv');
    const dirty = await cli(['payments', 'reconcile', '--from', today, '--to', today, '--out', out]);
    expect(dirty.exitCode).toBe(1);
    expect(dirty.stdout).toMatch(new RegExp(`charge_without_order.*${foreign.charge.id}.*€9\\.99`));
    expect(readFileSync(out, 'utf8').split('\n')[0]).toBe('kind,order,refund,stripe,at_stripe,here,detail');
    const json = await cli(['payments', 'reconcile', '--from', today, '--to', today, '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ object: 'reconciliation', mismatches: 1 });
    const bad = await cli(['payments', 'payout', 'ord_123']);
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr).toMatch(/po_/);
  });
});
