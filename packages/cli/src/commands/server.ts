import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { Context } from '../context.js';
import { CliError, UsageError } from '../errors.js';
import { examples, parse } from '../help.js';
import { io } from '../io.js';

type ServerIndex = typeof import('@tickets/server');

interface ServerOptions {
  port?: number;
  host?: string;
  db?: string;
  dataDir?: string;
  detach?: boolean;
  logFile?: string;
}

/** What `start --detach` leaves for `stop`: `<data dir>/server.pid`. */
interface PidFile {
  pid: number;
  url: string;
  log_file: string;
  started_at: string;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

async function serverConfig(o: ServerOptions) {
  const { ConfigError, loadConfig } = (await import('@tickets/server')) as ServerIndex;
  try {
    return loadConfig(serverEnv(o));
  } catch (err) {
    throw err instanceof ConfigError ? new UsageError(err.message) : err;
  }
}

function readPidFile(path: string): PidFile | null {
  if (!existsSync(path)) return null;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as PidFile;
  } catch {
    return null;
  }
}

/**
 * `tickets server start --detach`: the server runs on in a process of its own, its log (JSON lines)
 * in a file; this returns once it listens (or says why it could not), and `tickets server stop` ends it.
 */
async function startDetached(ctx: Context, o: ServerOptions): Promise<void> {
  const config = await serverConfig(o);
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const pidPath = join(config.dataDir, 'server.pid');
  const running = readPidFile(pidPath);
  if (running && alive(running.pid))
    throw new CliError(
      `a server already runs in the background at ${running.url} (pid ${running.pid}); stop it with: tickets server stop`,
    );
  const logFile = resolve(o.logFile ?? join(config.dataDir, 'server.log'));
  const fd = openSync(logFile, 'a', 0o600);
  const from = statSync(logFile).size;
  const args = ['server', 'start'];
  if (o.port !== undefined) args.push('--port', String(o.port));
  if (o.host) args.push('--host', o.host);
  if (o.db) args.push('--db', o.db);
  if (o.dataDir) args.push('--data-dir', o.dataDir);
  const bin = fileURLToPath(new URL('../bin.js', import.meta.url));
  const child = spawn(process.execPath, [bin, ...args], {
    detached: true,
    stdio: ['ignore', fd, fd],
    env: { ...serverEnv(o), TICKETS_LOG_FORMAT: io().env.TICKETS_LOG_FORMAT ?? 'json' },
  });
  closeSync(fd);
  let exited: number | null = null;
  child.once('exit', (code) => {
    exited = code ?? 1;
  });
  const logged = () => readFileSync(logFile, 'utf8').slice(from);
  let url: string | undefined;
  const deadline = Date.now() + 30_000;
  await ctx.out.spin(
    'Starting…',
    (async () => {
      while (!url && exited === null && Date.now() < deadline) {
        url = /listening on (http:\/\/\S+)/.exec(logged())?.[1];
        if (!url) await new Promise((r) => setTimeout(r, 50));
      }
    })(),
  );
  if (!url) {
    if (exited === null) child.kill('SIGTERM');
    const last = logged().trim().split('\n').filter(Boolean).at(-1) ?? 'no output';
    throw new CliError(`the server did not start: ${last} (log: ${logFile})`);
  }
  child.unref();
  const pid: PidFile = {
    pid: child.pid as number,
    url,
    log_file: logFile,
    started_at: new Date().toISOString(),
  };
  writeFileSync(pidPath, `${JSON.stringify(pid)}\n`, { mode: 0o600 });
  await ctx.out.result(pid, () => {
    ctx.out.success(`tickets API running in the background at ${url} (pid ${pid.pid}).`);
    ctx.out.info(`Its log: ${logFile}`);
    ctx.out.info('Stop it:  tickets server stop');
  });
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
// Source maps first (Node reads a module's map only if they are on when it loads): the server's stack
// traces, in its logs and in Sentry, then name its TypeScript sources.
async function loadServer(): Promise<ServerIndex> {
  process.setSourceMapsEnabled(true);
  return import('@tickets/server');
}

async function loadRunServer(): Promise<ServerIndex['runServer']> {
  return (await loadServer()).runServer;
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
      .option(
        '--detach',
        'run in the background and return once it listens; stop it with `tickets server stop`',
      )
      .option('--log-file <path>', 'with --detach: where its log goes (default: <data dir>/server.log)')
      .action(async (o: ServerOptions, cmd: Command) => {
        const ctx = Context.of(cmd);
        if (o.logFile && !o.detach) throw new UsageError('--log-file goes with --detach');
        if (o.detach) return startDetached(ctx, o);
        const runServer = await loadRunServer();
        // Resolves once listening; the process then lives until SIGINT/SIGTERM.
        await runServer(serverEnv(o));
      }),
    'tickets server start',
    'tickets server start --detach && tickets signup',
    'tickets server start --port 8080 --host 0.0.0.0 --db postgres://postgres@127.0.0.1:5432/tickets',
  );

  examples(
    server
      .command('stop')
      .description('Stop the server that `tickets server start --detach` left running')
      .option('--data-dir <dir>', 'the data dir it was started with (default: ~/.local/share/tickets)')
      .action(async (o: ServerOptions, cmd: Command) => {
        const ctx = Context.of(cmd);
        const config = await serverConfig(o);
        const pidPath = join(config.dataDir, 'server.pid');
        const running = readPidFile(pidPath);
        if (!running)
          throw new CliError(
            `no server runs in the background (no ${pidPath}); start one with: tickets server start --detach`,
          );
        const was = alive(running.pid);
        if (was) {
          process.kill(running.pid, 'SIGTERM');
          const deadline = Date.now() + 15_000;
          while (alive(running.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
          if (alive(running.pid))
            throw new CliError(
              `pid ${running.pid} did not stop within 15 s; kill it with: kill -9 ${running.pid}`,
            );
        }
        rmSync(pidPath, { force: true });
        await ctx.out.result({ ...running, stopped: was }, () =>
          was
            ? ctx.out.success(`Stopped the tickets API at ${running.url} (pid ${running.pid}).`)
            : ctx.out.info(`The server at ${running.url} (pid ${running.pid}) was not running any more.`),
        );
      }),
    'tickets server stop',
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
        const { runWorker } = await loadServer();
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
