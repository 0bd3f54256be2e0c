import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SentryFake, startSentryFake } from '../../server/test/fakes/sentry.js';
import { type Cli, makeCli } from './run-cli.js';

// Built at run time, so no source line of this file (sent with a stack frame) carries it.
const SECRET = ['tk', 'live', 'crashcrashcrash42'].join('_');

/** The CLI's own crash reports: only when the user opted in, only for bugs, scrubbed, to the real SDK's endpoint. */
describe('tickets: crash reports (telemetry)', () => {
  let fake: SentryFake;
  let cli: Cli;

  beforeAll(async () => {
    fake = await startSentryFake();
    cli = makeCli({ TICKETS_TELEMETRY_DSN: fake.dsn });
  });
  afterAll(async () => {
    cli.cleanup();
    await fake.close();
  });

  it('sends nothing until the user turns it on', async () => {
    const crashed = await cli(['events', 'list'], { env: { TICKETS_DEBUG_CRASH: SECRET } });
    expect(crashed.exitCode).toBe(1);
    expect(crashed.stderr).toContain('a crash on purpose');
    expect(crashed.stderr).not.toContain('crash report was sent');
    expect(fake.envelopes).toHaveLength(0);
  });

  it('sends a crash, scrubbed, once on; never an API error or a usage error', async () => {
    const on = await cli(['config', 'set', 'telemetry', 'on']);
    expect(on.exitCode, on.stderr).toBe(0);
    expect((cli.config() as { telemetry?: string }).telemetry).toBe('on');
    const crashed = await cli(['events', 'list'], { env: { TICKETS_DEBUG_CRASH: SECRET } });
    expect(crashed.exitCode).toBe(1);
    expect(crashed.stderr).toMatch(/A crash report was sent \(\w+\); thank you\./);
    const event = await fake.waitFor('event');
    expect(event.exception.values[0].value).toBe('a crash on purpose (TICKETS_DEBUG_CRASH=tk_[Filtered])');
    expect(event.release).toMatch(/^tickets-cli@/);
    expect(event.server_name).toBe('cli');
    expect(fake.envelopes.map((e) => e.raw.toString()).join('\n')).not.toContain(SECRET);

    fake.clear();
    // An API error (no server there) and a usage error are the user's business, not a bug.
    const apiError = await cli(['events', 'list'], {
      env: { TICKETS_API_URL: 'http://127.0.0.1:9', TICKETS_API_KEY: 'tk_x' },
    });
    expect(apiError.exitCode).toBe(1);
    const usage = await cli(['events', 'list', '--limit', 'many']);
    expect(usage.exitCode).toBe(2);
    await new Promise((r) => setTimeout(r, 300));
    expect(fake.envelopes).toHaveLength(0);

    const off = await cli(['config', 'set', 'telemetry', 'off']);
    expect(off.exitCode).toBe(0);
    await cli(['events', 'list'], { env: { TICKETS_DEBUG_CRASH: '1' } });
    expect(fake.envelopes).toHaveLength(0);
    expect((await cli(['config', 'set', 'telemetry', 'maybe'])).exitCode).toBe(2);
  });
});
