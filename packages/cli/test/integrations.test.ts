import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeGa4, startFakeGa4 } from '../../server/test/fakes/ga4.js';
import { startTestServer, type TestServer } from '../../server/test/harness.js';
import { type Cli, makeCli, signUpWithEvent } from './run-cli.js';

describe('tickets integrations ga', () => {
  let server: TestServer;
  let ga: FakeGa4;
  let cli: Cli;

  beforeAll(async () => {
    ga = await startFakeGa4();
    server = await startTestServer('sqlite', { TICKETS_GA4_URL: ga.url });
    cli = makeCli();
    await signUpWithEvent(cli, server.url, { org: 'Measured Hall', event: 'Measured Night' });
  });
  afterAll(async () => {
    cli?.cleanup();
    await server?.stop();
    await ga?.close();
  });

  it('sets the stream with the secret from stdin, shows it without the secret, tests it, removes it', async () => {
    const untested = await cli(['integrations', 'ga', 'test']);
    expect(untested.exitCode).toBe(1);
    expect(untested.stderr).toMatch(/not set up/);

    const bad = await cli([
      'integrations',
      'ga',
      'set',
      '--measurement-id',
      'UA-1234-5',
      '--api-secret',
      'x',
    ]);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/Expected a GA4 measurement id \(G-…\)/);
    const noSecret = await cli(['integrations', 'ga', 'set', '--measurement-id', ga.measurementId]);
    expect(noSecret.exitCode).toBe(2);
    expect(noSecret.stderr).toMatch(/missing required option --api-secret/);

    const set = await cli(
      ['integrations', 'ga', 'set', '--measurement-id', ga.measurementId, '--api-secret-stdin'],
      {
        input: `${ga.apiSecret}\n`,
      },
    );
    expect(set.exitCode, set.stderr).toBe(0);
    expect(set.stdout).toContain(ga.measurementId);
    expect(set.stdout).not.toContain(ga.apiSecret);
    const shown = await cli.json(['integrations', 'ga', 'show', '--json']);
    expect(shown).toMatchObject({ measurement_id: ga.measurementId, enabled: true });
    expect(shown.api_secret_last4).toBe(ga.apiSecret.slice(-4));

    const ok = await cli(['integrations', 'ga', 'test']);
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(`${ok.stdout}${ok.stderr}`).toMatch(/accepts a sample purchase/);
    expect(ga.debugHits).toHaveLength(1);

    // A wrong secret: GA4's validation messages, printed, and exit 1.
    await cli([
      'integrations',
      'ga',
      'set',
      '--measurement-id',
      ga.measurementId,
      '--api-secret',
      'wrong-secret-99',
    ]);
    const invalid = await cli(['integrations', 'ga', 'test']);
    expect(invalid.exitCode).toBe(1);
    expect(invalid.stdout).toMatch(/VALUE_INVALID/);
    const json = await cli(['integrations', 'ga', 'test', '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ valid: false });

    const refused = await cli(['integrations', 'ga', 'remove']);
    expect(refused.exitCode).toBe(2);
    expect((await cli(['integrations', 'ga', 'remove', '--yes'])).exitCode).toBe(0);
    expect(await cli.json(['integrations', 'ga', 'show', '--json'])).toMatchObject({ measurement_id: null });
  });
});
