import { CancelledError, UsageError } from './errors.js';
import { io } from './io.js';

/** Prompts only when a person can answer: stdin is a terminal. Scripts get a usage error instead. */
export const canPrompt = (): boolean => Boolean(io().stdin.isTTY);

// Prompts draw on stderr so that stdout (e.g. --json) stays machine-readable.
const context = () => ({ input: io().stdin as NodeJS.ReadStream, output: io().stderr as NodeJS.WriteStream });

export interface AskOptions {
  /** The flag that supplies this value, named in the error when there is no TTY to ask on. */
  flag: string;
  message: string;
  secret?: boolean;
  default?: string;
}

/** Returns the flag's value, or asks for it on a TTY, or fails with a usage error naming the flag. */
export async function ask(value: string | undefined, options: AskOptions): Promise<string> {
  if (value !== undefined && value !== '') return value;
  if (!canPrompt()) throw new UsageError(`missing required option ${options.flag}`);
  const { input, password } = await import('@inquirer/prompts');
  return interruptible(
    options.secret
      ? password(
          { message: options.message, mask: '*', validate: (v) => v.length > 0 || 'Required' },
          context(),
        )
      : input({ message: options.message, required: true, default: options.default }, context()),
  );
}

/**
 * Guards a destructive action: `--yes` skips the question; on a TTY the user is asked; a script
 * without `--yes` gets a usage error rather than a silent deletion.
 */
export async function confirmAction(yes: boolean | undefined, message: string): Promise<void> {
  if (yes) return;
  if (!canPrompt()) throw new UsageError('refusing to do this without --yes when not running interactively');
  const { confirm } = await import('@inquirer/prompts');
  if (!(await interruptible(confirm({ message, default: false }, context())))) throw new CancelledError();
}

/** Reads a secret piped on stdin (e.g. `--password-stdin`), without its trailing newline. */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of io().stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

async function interruptible<T>(prompt: Promise<T>): Promise<T> {
  try {
    return await prompt;
  } catch (err) {
    if (err instanceof Error && err.name === 'ExitPromptError') throw new CancelledError();
    throw err;
  }
}
