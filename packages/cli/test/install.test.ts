import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';

const CLI_DIR = fileURLToPath(new URL('..', import.meta.url));

/**
 * The README's way to put `tickets` on the PATH on a fresh machine: `npm link` in packages/cli, which
 * needs no PNPM_HOME (`pnpm link --global` fails without one). Run with a prefix of its own, as a
 * fresh machine's global npm folder.
 */
describe('installing the CLI', () => {
  const prefix = mkdtempSync(join(tmpdir(), 'tickets-npm-prefix-'));
  afterAll(() => rmSync(prefix, { recursive: true, force: true }));

  it('npm link puts a working tickets on the PATH, without PNPM_HOME', async () => {
    const env = { npm_config_prefix: prefix, PNPM_HOME: undefined, npm_config_global_bin_dir: undefined };
    const link = await execa('npm', ['link', '--ignore-scripts', '--no-audit', '--no-fund'], {
      cwd: CLI_DIR,
      env,
      reject: false,
      timeout: 60_000,
    });
    expect(link.exitCode, link.stderr).toBe(0);
    const path = `${join(prefix, 'bin')}:${process.env.PATH}`;
    const version = await execa('tickets', ['--version'], { env: { PATH: path }, reject: false });
    expect(version.exitCode, version.stderr).toBe(0);
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+$/);
    const help = await execa('tickets', ['server', 'start', '--help'], {
      env: { PATH: path },
      reject: false,
    });
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toContain('--detach');
  });
});
