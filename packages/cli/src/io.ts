import { AsyncLocalStorage } from 'node:async_hooks';

/** An output stream, and whether a person is looking at it. */
export interface Terminal extends NodeJS.WritableStream {
  isTTY?: boolean;
  columns?: number;
}

/**
 * Where one invocation of the CLI reads, writes and looks up its settings: the process's own streams
 * and environment when run as `tickets`, or fakes when a test runs a command in-process (as `gh` tests
 * its commands with its IOStreams). Every command reaches it through `io()`, so in-process runs, even
 * concurrent ones, never see each other's output, environment or exit code.
 */
export interface IO {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  stdout: Terminal;
  stderr: Terminal;
  env: Record<string, string | undefined>;
  /** The answer, when a command's answer is a refusal rather than an error (`tickets validate`). */
  exitCode?: number;
}

export const processIO = (): IO => ({
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
});

const current = new AsyncLocalStorage<IO>();
let fallback: IO | undefined;

/** The IO of the invocation running now. */
export function io(): IO {
  const active = current.getStore();
  if (active) return active;
  fallback ??= processIO();
  return fallback;
}

/** Runs one invocation with its own IO. */
export function withIO<T>(value: IO, run: () => Promise<T>): Promise<T> {
  return current.run(value, run);
}
