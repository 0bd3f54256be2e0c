import { Chalk, type ChalkInstance, chalkStderr, default as chalkStdout } from 'chalk';
import { io } from './io.js';

export interface OutputOptions {
  json: boolean;
  /** False with --no-color. */
  color: boolean;
}

export type Cell = string | number | boolean | null | undefined;

/** Colour only where a person will see it, and never when NO_COLOR is set (https://no-color.org). */
function colorLevel(optedIn: boolean, isTTY: boolean | undefined, detected: number): 0 | 1 | 2 | 3 {
  const noColor = io().env.NO_COLOR !== undefined && io().env.NO_COLOR !== '';
  return optedIn && !noColor && isTTY ? (detected as 0 | 1 | 2 | 3) : 0;
}

/**
 * Where everything a command says goes: primary output on stdout (JSON with --json, a table or key/value
 * view on a TTY, tab-separated lines when piped), messages and spinners on stderr.
 */
export class Output {
  readonly json: boolean;
  /** Tables and alignment only when stdout is a terminal. */
  readonly tty = Boolean(io().stdout.isTTY);
  /** Styles for stdout. */
  readonly style: ChalkInstance;
  /** Styles for stderr. */
  readonly errStyle: ChalkInstance;

  constructor(options: OutputOptions) {
    this.json = options.json;
    this.style = new Chalk({ level: colorLevel(options.color, io().stdout.isTTY, chalkStdout.level) });
    this.errStyle = new Chalk({ level: colorLevel(options.color, io().stderr.isTTY, chalkStderr.level) });
  }

  /** With --json, the API's value; otherwise whatever `human` prints. */
  async result<T>(value: T, human: (value: T) => void | Promise<void>): Promise<void> {
    if (this.json) this.printJson(value);
    else await human(value);
  }

  printJson(value: unknown): void {
    io().stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  line(text = ''): void {
    io().stdout.write(`${text}\n`);
  }

  /** A table on a TTY; tab-separated rows without a header otherwise, like gh, for `cut` and `awk`. */
  async table(head: string[], rows: Cell[][]): Promise<void> {
    if (!this.tty) {
      for (const row of rows) this.line(row.map(tsvCell).join('\t'));
      return;
    }
    if (rows.length === 0) {
      io().stderr.write(`${this.errStyle.dim('Nothing to show.')}\n`);
      return;
    }
    const { default: Table } = await import('cli-table3');
    const table = new Table({
      head: head.map((h) => this.style.bold(h)),
      style: { head: [], border: [], compact: true, 'padding-left': 0, 'padding-right': 2 },
      chars: {
        top: '',
        'top-mid': '',
        'top-left': '',
        'top-right': '',
        bottom: '',
        'bottom-mid': '',
        'bottom-left': '',
        'bottom-right': '',
        left: '',
        'left-mid': '',
        mid: '',
        'mid-mid': '',
        right: '',
        'right-mid': '',
        middle: '',
      },
    });
    for (const row of rows) table.push(row.map(plain));
    this.line(table.toString().replace(/ +$/gm, ''));
  }

  /** A key/value view of one object; empty values are left out. */
  details(pairs: Array<[label: string, value: Cell]>): void {
    const shown = pairs.filter(([, v]) => v !== undefined && v !== null && v !== '');
    const width = Math.max(...shown.map(([k]) => k.length));
    for (const [label, value] of shown) {
      const key = this.tty ? this.style.bold(`${label}:`.padEnd(width + 1)) : `${label}:`;
      this.line(`${key} ${plain(value)}`);
    }
  }

  /** A message for the person at the terminal, on stderr so stdout stays clean. */
  info(message: string): void {
    io().stderr.write(`${message}\n`);
  }

  success(message: string): void {
    io().stderr.write(`${this.errStyle.green('✓')} ${message}\n`);
  }

  warn(message: string): void {
    io().stderr.write(`${this.errStyle.yellow('!')} ${message}\n`);
  }

  /**
   * Draws `label [████░░░░] done/total` on stderr, redrawn in place, only when stderr is a terminal.
   * `end()` finishes the line.
   */
  progress(label: string): { update(done: number, total: number): void; end(): void } {
    const tty = Boolean(io().stderr.isTTY && io().stderr.columns);
    let drawn = false;
    return {
      update: (done, total) => {
        if (!tty) return;
        const width = 30;
        const filled = total > 0 ? Math.round((done / total) * width) : width;
        const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
        io().stderr.write(`\r${label} ${this.errStyle.cyan(bar)} ${done}/${total}`);
        drawn = true;
      },
      end: () => {
        if (drawn) io().stderr.write('\n');
      },
    };
  }

  /** Shows a spinner on stderr while `work` runs, only when stderr is a terminal. */
  async spin<T>(text: string, work: Promise<T>): Promise<T> {
    // Loading ora takes a moment; a rejection meanwhile must not count as unhandled (it is awaited below).
    work.catch(() => {});
    // A terminal that reports no width (e.g. under `script`) sends ora into a redraw loop.
    if (!io().stderr.isTTY || !io().stderr.columns) return work;
    const { default: ora } = await import('ora');
    const spinner = ora({
      text,
      stream: io().stderr as NodeJS.WriteStream,
      color: this.errStyle.level > 0 ? 'cyan' : false,
    }).start();
    try {
      return await work;
    } finally {
      spinner.stop();
    }
  }
}

function plain(value: Cell): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  return printable(String(value));
}

/**
 * Text from the server (a buyer's name, an error's detail) made safe to print: control characters —
 * ESC sequences that would move the cursor, recolour or retitle the terminal, a carriage return that
 * would overwrite a line — are shown as `\x1b`-style escapes instead of acting. Tabs and newlines stay;
 * the table and TSV writers deal with them.
 */
export function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it replaces
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : c;
  });
}

/**
 * A cell of piped (tab-separated) output, which spreadsheets open: one starting with `=`, `+`, `-` or
 * `@` would run as a formula there (`=HYPERLINK(…)`), so it is prefixed with `'`, as OWASP advises —
 * except a plain number (`-12.50`), which is data.
 */
export function tsvCell(value: Cell): string {
  const text = plain(value).replace(/[\t\n\r]/g, ' ');
  return /^[=+\-@]/.test(text) && !/^[-+]?\d[\d.,]*$/.test(text) ? `'${text}` : text;
}
