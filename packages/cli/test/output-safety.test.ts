// What the CLI prints of the server's text is safe: a name that is a spreadsheet formula does not run
// when piped output is opened as a sheet, and control characters (ESC sequences, a carriage return) in
// a name or an error's detail are shown, not obeyed by the terminal.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../server/test/harness.js';
import { printable, tsvCell } from '../src/output.js';
import { type Cli, makeCli, signUpWithEvent } from './run-cli.js';

describe('printable text and spreadsheet-safe cells', () => {
  it('shows control characters as escapes, keeps the rest', () => {
    expect(printable('Ann\u001b[2J\u001b]0;pwned\u0007 Lee\r')).toBe(
      'Ann\\x1b[2J\\x1b]0;pwned\\x07 Lee\\x0d',
    );
    expect(printable('Zoë 東京 🎷\tand\nmore')).toBe('Zoë 東京 🎷\tand\nmore');
    expect(printable('C1 \u009b31m')).toBe('C1 \\x9b31m');
  });

  it("neutralises formulas with a leading ', but not numbers", () => {
    expect(tsvCell('=HYPERLINK("http://evil.example","x")')).toBe('\'=HYPERLINK("http://evil.example","x")');
    expect(tsvCell('+1 555 0100')).toBe("'+1 555 0100");
    expect(tsvCell('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(tsvCell('-cmd')).toBe("'-cmd");
    expect(tsvCell('-12.50')).toBe('-12.50');
    expect(tsvCell(-3)).toBe('-3');
    expect(tsvCell('a\tb\nc')).toBe('a b c');
  });
});

describe('sqlite: the CLI prints what buyers typed safely', () => {
  let server: TestServer;
  let cli: Cli;
  let eventId: string;

  beforeAll(async () => {
    server = await startTestServer('sqlite');
    cli = makeCli();
    eventId = await signUpWithEvent(cli, server.url, { org: 'Safe Output', event: 'Formula Night' });
    await cli.json(['types', 'create', eventId, '--name', 'GA', '--price', '10', '--capacity', '10']);
    await cli.json(['events', 'publish', eventId]);
  });
  afterAll(async () => {
    cli.cleanup();
    await server.stop();
  });

  it('piped order lists neutralise formulas and escape control characters', async () => {
    for (const [name, email] of [
      ['=HYPERLINK("http://evil.example","Click")', 'formula@example.com'],
      ['Eve\u001b[31mRed\u001b[0m', 'escape@example.com'],
    ] as const)
      await cli.json(['sell', eventId, '--type', 'GA', '--qty', '1', '--name', name, '--email', email]);
    const piped = await cli(['orders', 'list', '--event', eventId]);
    expect(piped.exitCode).toBe(0);
    const names = piped.stdout
      .trim()
      .split('\n')
      .map((row) => row.split('\t')[3]);
    expect(names).toContain('\'=HYPERLINK("http://evil.example","Click")');
    expect(names).toContain('Eve\\x1b[31mRed\\x1b[0m');
    expect(piped.stdout).not.toContain('\u001b');
  });
});
