import { ConfigError, loadConfig } from './config.js';
import { type RunningServer, startServer } from './server.js';

/**
 * Runs the server until SIGTERM/SIGINT: loads configuration from the environment (overridden by the
 * given values), prints where it listens, and shuts down gracefully.
 */
export async function runServer(env: NodeJS.ProcessEnv = process.env): Promise<RunningServer> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const running = await startServer(config);
  process.stderr.write(
    `\ntickets API listening on ${running.url}  (${running.db.dialect}: ${config.databaseUrl.replace(/\/\/[^@]*@/, '//***@')})\n` +
      `Create an account:  tickets signup --api-url ${running.url}\n` +
      `Or sign in:         tickets login --api-url ${running.url}\n` +
      `API reference:      ${running.url}/api/openapi.json\n\n`,
  );
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    running.log.info({ signal }, 'shutting down');
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return running;
}

if (import.meta.url === `file://${process.argv[1]}`) await runServer();
