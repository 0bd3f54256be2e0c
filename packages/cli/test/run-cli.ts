import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

/** The built binary: the tests run what users run. */
export const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url));
if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npx tsc -b\` first`);

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface Cli {
  (
    args: string[],
    options?: { env?: Record<string, string | undefined>; input?: string },
  ): Promise<CliResult>;
  /** Runs and parses stdout as JSON, failing with stderr when the command did not succeed. */
  // biome-ignore lint/suspicious/noExplicitAny: tests inspect arbitrary JSON
  json<T = any>(args: string[], options?: { env?: Record<string, string | undefined> }): Promise<T>;
  configDir: string;
  /** The stored profiles, as the CLI wrote them. */
  config(): { current_profile: string; profiles: Record<string, Record<string, string>> };
  cleanup(): void;
}

/** A `tickets` command with its own empty config directory, no colour, and no outside TICKETS_* settings. */
export function makeCli(baseEnv: Record<string, string | undefined> = {}): Cli {
  const configDir = mkdtempSync(join(tmpdir(), 'tickets-cli-test-'));
  const run = async (
    args: string[],
    options: { env?: Record<string, string | undefined>; input?: string } = {},
  ): Promise<CliResult> => {
    const result = await execa('node', [BIN, ...args], {
      env: {
        TICKETS_CONFIG_DIR: configDir,
        NO_COLOR: '1',
        TICKETS_API_URL: undefined,
        TICKETS_API_KEY: undefined,
        TICKETS_PROFILE: undefined,
        ...baseEnv,
        ...options.env,
      },
      input: options.input ?? '',
      reject: false,
      timeout: 20_000,
    });
    return { exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr };
  };
  const cli = run as Cli;
  cli.json = async (args, options) => {
    const r = await run([...args, '--json'], options);
    if (r.exitCode !== 0) throw new Error(`tickets ${args.join(' ')} exited ${r.exitCode}:\n${r.stderr}`);
    return JSON.parse(r.stdout);
  };
  cli.configDir = configDir;
  cli.config = () => JSON.parse(readFileSync(join(configDir, 'config.json'), 'utf8'));
  cli.cleanup = () => rmSync(configDir, { recursive: true, force: true });
  return cli;
}

let counter = 0;
export const uniqueEmail = (who = 'ann') =>
  `${who}-${process.pid}-${++counter}-${Math.random().toString(36).slice(2, 8)}@example.com`;

export const PASSWORD = 'correct horse battery staple';

/** The URL a `tickets server start` child prints once it listens (rejects if it exits first). */
export function listeningUrl(child: {
  stderr: NodeJS.ReadableStream | null;
  once(event: 'exit', listener: () => void): unknown;
}): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let seen = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      const m = /listening on (http:\/\/\S+)/.exec(seen);
      if (m) resolve(m[1]!);
    });
    child.once('exit', () => reject(new Error(`server exited early:\n${seen}`)));
  });
}

/**
 * Signs the CLI up as an organizer of a new organization and creates a draft event (Berlin, EUR,
 * New Year's Eve 2031); returns the event id. The setup most CLI test files start from.
 */
export async function signUpWithEvent(
  cli: Cli,
  apiUrl: string,
  names: { org: string; event: string },
): Promise<string> {
  const signup = await cli([
    'signup',
    '--email',
    uniqueEmail(),
    '--name',
    'Ann Organizer',
    '--password',
    PASSWORD,
    '--org-name',
    names.org,
    '--api-url',
    apiUrl,
  ]);
  if (signup.exitCode !== 0) throw new Error(`signup failed: ${signup.stderr}`);
  const event = await cli.json([
    'events',
    'create',
    '--name',
    names.event,
    '--timezone',
    'Europe/Berlin',
    '--currency',
    'EUR',
    '--starts',
    '2031-12-31 20:00',
    '--ends',
    '2032-01-01 02:00',
  ]);
  return event.id;
}
