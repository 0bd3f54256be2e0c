import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { formatMoney, toMinorUnits } from '../src/money.js';
import { buildProgram } from '../src/program.js';
import { formatDateTime, parseDateTime } from '../src/time.js';

describe('prices', () => {
  it('converts typed prices to minor units with the currency’s own digits', () => {
    expect(toMinorUnits('25.00', 'EUR')).toBe(2500);
    expect(toMinorUnits('25', 'EUR')).toBe(2500);
    expect(toMinorUnits('0.1', 'USD')).toBe(10);
    expect(toMinorUnits('19.990', 'EUR')).toBe(1999);
    expect(toMinorUnits('2500', 'JPY')).toBe(2500);
    expect(toMinorUnits('1.234', 'KWD')).toBe(1234);
  });

  it('refuses what is not a price, or more decimals than the currency has', () => {
    expect(() => toMinorUnits('abc', 'EUR')).toThrow('is not a price');
    expect(() => toMinorUnits('-5', 'EUR')).toThrow('is not a price');
    expect(() => toMinorUnits('1,50', 'EUR')).toThrow('is not a price');
    expect(() => toMinorUnits('1.999', 'EUR')).toThrow('at most 2 decimal places');
    expect(() => toMinorUnits('25.5', 'JPY')).toThrow('JPY has no minor unit');
  });

  it('shows money with its currency symbol', () => {
    expect(formatMoney({ amount: 2500, currency: 'EUR' })).toBe('€25.00');
    expect(formatMoney({ amount: 2500, currency: 'JPY' })).toBe('¥2,500');
    expect(formatMoney({ amount: 0, currency: 'USD' })).toBe('$0.00');
  });
});

describe('dates', () => {
  it('reads wall-clock time in the event’s zone, and keeps an explicit offset', () => {
    expect(parseDateTime('2031-12-31 20:00', 'Europe/Berlin', '--starts')).toBe('2031-12-31T19:00:00Z');
    expect(parseDateTime('2031-07-01T20:00', 'Europe/Berlin', '--starts')).toBe('2031-07-01T18:00:00Z');
    expect(parseDateTime('2031-12-31T20:00:00+09:00', 'Europe/Berlin', '--starts')).toBe(
      '2031-12-31T11:00:00Z',
    );
    expect(parseDateTime('2031-12-31', 'America/New_York', '--from')).toBe('2031-12-31T05:00:00Z');
  });

  it('refuses malformed dates, unknown zones and times skipped by a clock change', () => {
    expect(() => parseDateTime('tomorrow', 'UTC', '--starts')).toThrow('--starts: "tomorrow" is not a date');
    expect(() => parseDateTime('2031-02-30 10:00', 'UTC', '--starts')).toThrow('not a valid date');
    expect(() => parseDateTime('2031-12-31 20:00', 'Mars/Olympus', '--starts')).toThrow(
      'not an IANA time zone',
    );
    expect(() => parseDateTime('2031-03-30 02:30', 'Europe/Berlin', '--starts')).toThrow('does not exist');
  });

  it('shows an instant in the event’s zone', () => {
    expect(formatDateTime('2031-12-31T19:00:00.000Z', 'Europe/Berlin')).toBe('2031-12-31 20:00');
    expect(formatDateTime('2031-12-31T19:00:00.000Z', 'Asia/Tokyo', true)).toBe('2032-01-01 04:00 +09:00');
  });
});

describe('help', () => {
  it('ends every command’s help with an example', () => {
    const missing: string[] = [];
    const visit = (command: Command, path: string) => {
      let text = '';
      command.configureOutput({ writeOut: (s) => (text += s), writeErr: (s) => (text += s) });
      command.outputHelp();
      if (!/Examples:\n {2}\$ tickets /.test(text)) missing.push(path);
      for (const sub of command.commands) visit(sub, `${path} ${sub.name()}`);
    };
    visit(buildProgram(), 'tickets');
    expect(missing).toEqual([]);
  });
});

describe('in-process runs', () => {
  it('keep their streams, environment and exit code apart, even when they overlap', async () => {
    const { makeCli } = await import('./run-cli.js');
    const clis = [makeCli(), makeCli()];
    try {
      const urls = ['http://127.0.0.1:1/a', 'http://127.0.0.1:2/b'];
      const [a, b] = await Promise.all(
        clis.map((cli, i) => cli(['whoami'], { env: { TICKETS_API_URL: urls[i] } })),
      );
      for (const [r, own, other] of [
        [a, urls[0], urls[1]],
        [b, urls[1], urls[0]],
      ] as const) {
        expect(r?.exitCode).toBe(4);
        expect(r?.stderr).toContain(own);
        expect(r?.stderr).not.toContain(other);
        expect(r?.stdout).toBe('');
      }
      // The process's own exit code is untouched by the runs.
      expect(process.exitCode ?? 0).toBe(0);
    } finally {
      for (const cli of clis) cli.cleanup();
    }
  });
});
