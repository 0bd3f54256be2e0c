import pino, { type Logger } from 'pino';
import type { Config } from './config.js';

/**
 * The server's logger. A person watching a terminal reads lines ("12:00:01 INFO request completed …")
 * on stderr, beside the other messages; piped or collected, it is one JSON object per line on stdout,
 * as pino writes it (TICKETS_LOG_FORMAT=json|pretty to choose).
 */
export async function createLogger(
  config: Pick<Config, 'logLevel' | 'logFormat'>,
  service: string,
  stderr: NodeJS.WriteStream = process.stderr,
): Promise<Logger> {
  const options = { level: config.logLevel, base: { service } };
  const pretty = config.logFormat === 'pretty' || (config.logFormat === 'auto' && Boolean(stderr.isTTY));
  if (!pretty) return pino(options);
  // Loaded only for a terminal: a server in production never pays for it.
  const { default: prettyStream } = await import('pino-pretty');
  return pino(
    options,
    prettyStream({
      destination: 2,
      colorize: Boolean(stderr.isTTY) && !process.env.NO_COLOR,
      translateTime: 'HH:MM:ss',
      ignore: 'pid,hostname,service',
      singleLine: true,
      sync: true,
    }),
  );
}
