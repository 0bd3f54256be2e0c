/**
 * Real server processes (the built `dist/main.js`, as deployed) for tests that prove claims about several
 * processes sharing one database.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { http } from './harness.js';

const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));
/** The `tickets` command, as deployed (deploy/Procfile: `tickets server start`). */
const CLI = fileURLToPath(new URL('../../cli/dist/bin.js', import.meta.url));

export interface ServerProcess {
  url: string;
  call: ReturnType<typeof http>;
  child: ChildProcess;
  /** Everything the process wrote to stderr, for failure messages. */
  stderr: () => string;
}

/** Starts `node dist/main.js` on the database and resolves with the URL it prints on stderr. */
export function startProcess(
  databaseUrl: string,
  env: Record<string, string> = {},
  /** `cli`: through `tickets server start`, as deploy/ runs it, rather than dist/main.js. */
  entry: 'main' | 'cli' = 'main',
): Promise<ServerProcess> {
  const child = spawn(process.execPath, entry === 'cli' ? [CLI, 'server', 'start'] : [MAIN], {
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      DATABASE_URL: databaseUrl,
      LOG_LEVEL: 'warn',
      // Each process runs a message worker; its local outbox goes to a temp dir, not the user's home.
      TICKETS_DATA_DIR: mkdtempSync(join(tmpdir(), 'tickets-mp-')),
      TICKETS_REGISTER_MAX_PER_IP: '100000',
      TICKETS_REGISTER_MAX_PER_DOMAIN: '100000',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start within 20 s:\n${stderr}`));
    }, 20_000);
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderr += chunk;
      const url = /listening on (http:\/\/\S+)/.exec(stderr)?.[1];
      if (url) {
        clearTimeout(timer);
        resolve({ url, call: http(url), child, stderr: () => stderr });
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code ?? signal}) before listening:\n${stderr}`));
    });
  });
}

/** Starts two processes on one database at once (so they also race to migrate it). */
export async function startTwo(
  databaseUrl: string,
  env: Record<string, string> = {},
): Promise<[ServerProcess, ServerProcess]> {
  const started = await Promise.allSettled([startProcess(databaseUrl, env), startProcess(databaseUrl, env)]);
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) {
    for (const s of started) if (s.status === 'fulfilled') await stopProcess(s.value);
    throw failed.reason;
  }
  return started.map((s) => (s as PromiseFulfilledResult<ServerProcess>).value) as [
    ServerProcess,
    ServerProcess,
  ];
}

export async function stopProcess(p: ServerProcess | undefined): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => p.child.once('exit', () => resolve()));
  p.child.kill('SIGTERM');
  const killed = setTimeout(() => p.child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(killed);
}
