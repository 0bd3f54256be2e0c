import type { Command } from 'commander';
import { Context } from '../context.js';
import { UsageError } from '../errors.js';
import { examples, parse } from '../help.js';
import { io } from '../io.js';

type ServerIndex = typeof import('@tickets/server');

interface ServerOptions {
  port?: number;
  host?: string;
  db?: string;
  dataDir?: string;
}

/** The environment the server reads, with the flags laid over it. */
function serverEnv(o: ServerOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...io().env };
  if (o.port !== undefined) env.PORT = String(o.port);
  if (o.host) env.HOST = o.host;
  if (o.db) env.DATABASE_URL = o.db;
  if (o.dataDir) env.TICKETS_DATA_DIR = o.dataDir;
  return env;
}

// Loaded only by the server commands: the rest of the CLI starts without the server's dependencies.
async function loadRunServer(): Promise<ServerIndex['runServer']> {
  return (await import('@tickets/server')).runServer;
}

export function registerServer(program: Command): void {
  const server = program.command('server').description('Run the tickets API on this machine');
  examples(
    server,
    'tickets server start',
    'tickets server migrate --db postgres://postgres@127.0.0.1:5432/tickets',
  );

  const dbHelp = 'DATABASE_URL: sqlite:/path/file.db or postgres://… (default: SQLite in the data dir)';
  examples(
    server
      .command('start')
      .description(
        'Start the API server in this process (SQLite under your data dir unless --db says otherwise)',
      )
      .option('-p, --port <port>', 'port to listen on (default: $PORT or 3000)', parse.int(0))
      .option('--host <host>', 'address to listen on (default: $HOST or 127.0.0.1)')
      .option('--db <url>', dbHelp)
      .option(
        '--data-dir <dir>',
        'where the embedded database and files live (default: ~/.local/share/tickets)',
      )
      .action(async (o: ServerOptions, cmd: Command) => {
        Context.of(cmd);
        const runServer = await loadRunServer();
        // Resolves once listening; the process then lives until SIGINT/SIGTERM.
        await runServer(serverEnv(o));
      }),
    'tickets server start',
    'tickets server start --port 8080 --host 0.0.0.0 --db postgres://postgres@127.0.0.1:5432/tickets',
  );

  examples(
    server
      .command('worker')
      .description(
        'Run the background work without the API: deliver queued messages (e-mail, WhatsApp), expire unpaid holds, resend refunds, complete invoices, refund cancelled events; run several against one Postgres, with TICKETS_WORKER=off on the API servers',
      )
      .option('--db <url>', dbHelp)
      .option('--data-dir <dir>', 'where the local outbox folder lives (default: ~/.local/share/tickets)')
      .action(async (o: ServerOptions, cmd: Command) => {
        Context.of(cmd);
        const { runWorker } = await import('@tickets/server');
        // Resolves once running; the process then lives until SIGINT/SIGTERM.
        await runWorker(serverEnv(o));
      }),
    'tickets server worker --db postgres://postgres@127.0.0.1:5432/tickets',
  );

  examples(
    server
      .command('migrate')
      .description('Apply pending database migrations and list them')
      .option('--db <url>', dbHelp)
      .option('--data-dir <dir>', 'where the embedded database lives')
      .action(async (o: ServerOptions, cmd: Command) => {
        const { out } = Context.of(cmd);
        const { ConfigError, loadConfig, openDatabase, migrateToLatest } = (await import(
          '@tickets/server'
        )) as ServerIndex;
        let config: ReturnType<ServerIndex['loadConfig']>;
        try {
          config = loadConfig(serverEnv(o));
        } catch (err) {
          throw err instanceof ConfigError ? new UsageError(err.message) : err;
        }
        const db = openDatabase(config.databaseUrl);
        let applied: string[];
        try {
          applied = await out.spin('Migrating…', migrateToLatest(db));
        } finally {
          await db.close();
        }
        await out.result({ applied }, () => {
          if (applied.length === 0) out.success('The database is up to date.');
          else {
            for (const name of applied) out.line(name);
            out.success(`Applied ${applied.length} migration${applied.length === 1 ? '' : 's'}.`);
          }
        });
      }),
    'tickets server migrate',
    'tickets server migrate --db sqlite:/var/lib/tickets/tickets.db --json',
  );
}
