import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * WAL checkpoints on a thread of their own, for a server's SQLite database.
 *
 * SQLite in WAL mode appends every commit to the -wal file and, by default, the connection whose commit
 * takes the log past 1,000 pages copies it back into the database file right there, fsyncs included. A
 * server has one connection, on its event loop, so every few dozen commits one request stalled every
 * other for the length of a checkpoint and its fsyncs (at the door: a quarter of the scans per second,
 * measured with bench/run.mjs). Here a worker thread with a connection of its own runs PASSIVE
 * checkpoints, which never wait for and never block readers or writers; the fsyncs happen off the event
 * loop. The server's own connection keeps a far larger automatic checkpoint as a safety net, for a log
 * the worker can't keep up with (SAFETY_NET_PAGES in database.ts).
 */
export interface Checkpointer {
  /** Checkpoints that copied pages back so far (for tests and diagnostics). */
  readonly runs: number;
  stop(): Promise<void>;
}

// Plain CommonJS run with `eval`, so the same code serves the compiled server and the TypeScript sources
// the tests run (a worker can't load a .ts file). better-sqlite3 is resolved here and passed in.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
let timer;
const tick = () => {
  let copied = 0;
  try {
    // [{ busy, log, checkpointed }]: log frames in the WAL, checkpointed of those copied back so far.
    const [r] = db.pragma('wal_checkpoint(PASSIVE)');
    copied = r.checkpointed;
    if (copied > 0) parentPort.postMessage(copied);
  } catch {
    // Locked for a moment (another process's checkpoint, say): try again next time.
  }
  // Busy: come back soon; idle: now and then.
  timer = setTimeout(tick, copied > 0 ? workerData.busyMs : workerData.idleMs);
};
parentPort.on('message', (m) => {
  if (m === 'stop') { clearTimeout(timer); db.close(); parentPort.close(); }
});
tick();
`;

export function startCheckpointer(
  file: string,
  options: { busyMs?: number; idleMs?: number } = {},
): Checkpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER, {
    eval: true,
    workerData: { file, driver, busyMs: options.busyMs ?? 50, idleMs: options.idleMs ?? 250 },
  });
  // Never what keeps a process alive.
  worker.unref();
  let runs = 0;
  let exited = false;
  worker.on('message', () => {
    runs++;
  });
  worker.once('exit', () => {
    exited = true;
  });
  // A checkpointer that can't run (a read-only file, say) leaves the safety net to do the work: said
  // once on stderr, as a process warning, since the database's users have no logger to hand here.
  worker.on('error', (err) =>
    process.emitWarning(
      `SQLite checkpoint thread stopped (${err.message}); the server's connection checkpoints instead`,
      'TicketsWarning',
    ),
  );
  let stopped: Promise<void> | undefined;
  return {
    get runs() {
      return runs;
    },
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        if (exited) return resolve();
        // Held again while it stops: otherwise a process with nothing else left to do would end while
        // waiting here, before whatever follows the close (the server's last log line, say).
        worker.ref();
        worker.once('exit', () => resolve());
        worker.postMessage('stop');
        // Closed but somehow still running: end it.
        setTimeout(() => void worker.terminate(), 1_000).unref();
      });
      return stopped;
    },
  };
}
