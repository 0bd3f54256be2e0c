import type { Tickets } from '@tickets/sdk';
import type { Context } from './context.js';
import { CancelledError, UsageError } from './errors.js';
import { type IO, io } from './io.js';
import type { Output } from './output.js';

/**
 * What a command needs from the world, as gh's cmdutil.Factory gives it: the invocation's streams,
 * its output helpers, the profile, an API client, someone to ask and a clock. A command's factory
 * function turns flags into an Options value; its `run(factory, options)` does the work and answers
 * an exit code. Tests call `run` directly with fake streams, a fake prompter or clock, and a client
 * pointed at a real in-process server.
 */
export interface Factory {
  readonly io: IO;
  readonly out: Output;
  /** Profiles: which server, which credentials, this device's settings. */
  readonly ctx: Context;
  client(): Promise<Tickets>;
  readonly prompter: Prompter;
  now(): Date;
}

export interface Choice<T extends string> {
  value: T;
  name: string;
  description?: string;
}

/** Questions for the person at the terminal; never asked when nobody can answer. */
export interface Prompter {
  /** A person can answer: stdin is a terminal. */
  readonly interactive: boolean;
  select<T extends string>(message: string, choices: Choice<T>[]): Promise<T>;
  /** A line of text; Enter takes the default. */
  input(
    message: string,
    options?: { default?: string; validate?: (value: string) => true | string },
  ): Promise<string>;
  /** A secret, not echoed. */
  password(message: string): Promise<string>;
  /** Yes or no; Enter takes no. */
  confirm(message: string): Promise<boolean>;
}

/** Asks on the invocation's own terminal (stderr, so stdout stays clean for --json). */
export function terminalPrompter(streams: IO = io()): Prompter {
  const context = () => ({
    input: streams.stdin as NodeJS.ReadStream,
    output: streams.stderr as NodeJS.WriteStream,
  });
  return {
    interactive: Boolean(streams.stdin.isTTY),
    async select(message, choices) {
      if (!streams.stdin.isTTY)
        throw new UsageError(`cannot ask "${message}" when not running interactively`);
      const { select } = await import('@inquirer/prompts');
      return interruptible(select({ message, choices }, context()));
    },
    async input(message, options = {}) {
      if (!streams.stdin.isTTY)
        throw new UsageError(`cannot ask "${message}" when not running interactively`);
      const { input } = await import('@inquirer/prompts');
      return interruptible(
        input({ message, default: options.default, required: true, validate: options.validate }, context()),
      );
    },
    async password(message) {
      if (!streams.stdin.isTTY)
        throw new UsageError(`cannot ask "${message}" when not running interactively`);
      const { password } = await import('@inquirer/prompts');
      return interruptible(
        password({ message, mask: '*', validate: (v) => v.length > 0 || 'Required' }, context()),
      );
    },
    async confirm(message) {
      if (!streams.stdin.isTTY)
        throw new UsageError(`cannot ask "${message}" when not running interactively`);
      const { confirm } = await import('@inquirer/prompts');
      return interruptible(confirm({ message, default: false }, context()));
    },
  };
}

/**
 * A value from its flag, or asked for on a terminal, or a usage error naming the flag: every prompt has
 * a flag, so a script never hangs on a question.
 */
export async function askFor(
  f: Factory,
  value: string | undefined,
  options: { flag: string; message: string; secret?: boolean; default?: string },
): Promise<string> {
  if (value !== undefined && value !== '') return value;
  if (!f.prompter.interactive) throw new UsageError(`missing required option ${options.flag}`);
  return options.secret
    ? f.prompter.password(options.message)
    : f.prompter.input(options.message, { default: options.default });
}

/**
 * Guards a destructive action: `--yes` skips the question; on a terminal the user is asked; a script
 * without `--yes` gets a usage error rather than a silent deletion.
 */
export async function confirmFor(f: Factory, yes: boolean | undefined, message: string): Promise<void> {
  if (yes) return;
  if (!f.prompter.interactive)
    throw new UsageError('refusing to do this without --yes when not running interactively');
  if (!(await f.prompter.confirm(message))) throw new CancelledError();
}

async function interruptible<T>(prompt: Promise<T>): Promise<T> {
  try {
    return await prompt;
  } catch (err) {
    if (err instanceof Error && err.name === 'ExitPromptError') throw new CancelledError();
    throw err;
  }
}

/** The factory of a command run from the command line. */
export function factoryOf(ctx: Context): Factory {
  return {
    io: io(),
    out: ctx.out,
    ctx,
    client: () => ctx.client(),
    prompter: terminalPrompter(),
    now: () => new Date(),
  };
}
