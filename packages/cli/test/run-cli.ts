import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { execa } from 'execa';
import { Context } from '../src/context.js';
import { type Factory, factoryOf, type Prompter } from '../src/factory.js';
import { withIO } from '../src/io.js';
import { main } from '../src/program.js';

/** The built binary: the tests run what users run. */
export const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url));

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

/** Collects what a command writes, as a pipe would (not a terminal). */
class Captured extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

/**
 * Runs `tickets …` in this process, with its own streams and environment (see src/io.ts), as gh tests
 * its commands: fast, and each run apart from the others even when they overlap. Output is trimmed of
 * its last newline, as execa does for the spawned binary.
 */
async function runInProcess(
  args: string[],
  env: Record<string, string | undefined>,
  input: string,
): Promise<CliResult> {
  const stdout = new Captured();
  const stderr = new Captured();
  const exitCode = await main(['node', 'tickets', ...args], {
    stdin: Readable.from([Buffer.from(input)]),
    stdout,
    stderr,
    env,
  });
  const trim = (t: string) => t.replace(/\n$/, '');
  return { exitCode, stdout: trim(stdout.text), stderr: trim(stderr.text) };
}

/**
 * A `tickets` command with its own empty config directory, no colour, and no outside TICKETS_* settings.
 * It runs in-process (src/program.ts `main`, with fake streams); `spawn: true` runs the built binary
 * instead, for what only a process has: signals, a server in the foreground, a terminal.
 */
export function makeCli(
  baseEnv: Record<string, string | undefined> = {},
  opts: { spawn?: boolean } = {},
): Cli {
  const configDir = mkdtempSync(join(tmpdir(), 'tickets-cli-test-'));
  const run = async (
    args: string[],
    options: { env?: Record<string, string | undefined>; input?: string } = {},
  ): Promise<CliResult> => {
    const env = {
      TICKETS_CONFIG_DIR: configDir,
      NO_COLOR: '1',
      TICKETS_API_URL: undefined,
      TICKETS_API_KEY: undefined,
      TICKETS_PROFILE: undefined,
      ...baseEnv,
      ...options.env,
    };
    if (!opts.spawn) return runInProcess(args, { ...process.env, ...env }, options.input ?? '');
    if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npx tsc -b\` first`);
    const result = await execa('node', [BIN, ...args], {
      env,
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

/**
 * Runs a command's `run(factory, options)` directly, as gh's tests call closeRun: fake streams (a pipe,
 * or a terminal with `tty`), the profiles of `cli`, and the prompter and clock a test gives.
 */
export async function withFactory<T>(
  cli: Cli,
  options: { json?: boolean; tty?: boolean; prompter?: Prompter; now?: () => Date },
  run: (f: Factory) => Promise<T>,
): Promise<{ result: T; stdout: string; stderr: string }> {
  const stdout = Object.assign(new Captured(), { isTTY: options.tty, columns: options.tty ? 0 : undefined });
  const stderr = Object.assign(new Captured(), { isTTY: options.tty, columns: options.tty ? 0 : undefined });
  const stdin = Object.assign(Readable.from([]), { isTTY: options.tty });
  const env = {
    ...process.env,
    TICKETS_CONFIG_DIR: cli.configDir,
    NO_COLOR: '1',
    TICKETS_API_URL: undefined,
  };
  const result = await withIO({ stdin, stdout, stderr, env }, async () => {
    const f = factoryOf(new Context({ json: options.json, color: false }));
    return run({
      ...f,
      prompter: options.prompter ?? fakePrompter({ interactive: false }),
      now: options.now ?? f.now,
    });
  });
  return { result, stdout: stdout.text, stderr: stderr.text };
}

/**
 * A prompter that answers as a test says; any question the test did not expect fails it. Interactive
 * (a person at a terminal) unless told otherwise.
 */
export function fakePrompter(answers: Partial<Prompter>): Prompter {
  const unexpected = (message: string) => Promise.reject(new Error(`unexpected question: ${message}`));
  return {
    interactive: true,
    select: unexpected,
    input: unexpected,
    password: unexpected,
    confirm: unexpected,
    ...answers,
  };
}

/** What a run function threw: its class and message (main() turns a UsageError into exit 2). */
export async function thrown(work: Promise<unknown>): Promise<Error> {
  try {
    await work;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected it to fail');
}

/**
 * Reads a command's flags into its options as gh's tests do: `record` is a run function that only keeps
 * the options it is given; `parse` builds a program with it and returns the options the last run got.
 */
export function flagRecorder() {
  const seen: unknown[] = [];
  const record = async (_f: unknown, o: unknown) => {
    seen.push(o);
    return 0;
  };
  const parse = async (build: (program: Command) => void, ...args: string[]) => {
    const program = new Command('tickets').exitOverride().configureOutput({ writeErr: () => {} });
    build(program);
    await program.parseAsync(['node', 'tickets', ...args]);
    return seen.at(-1);
  };
  return { record, parse };
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
