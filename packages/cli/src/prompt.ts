import { io } from './io.js';

/** Reads a secret piped on stdin (e.g. `--password-stdin`), without its trailing newline. */
export async function readStdin(stdin: NodeJS.ReadableStream = io().stdin): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}
