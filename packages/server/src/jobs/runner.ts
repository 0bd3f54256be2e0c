import type { Logger } from 'pino';

/** Work done on a timer, in every process that runs jobs. */
export interface Job {
  name: string;
  everyMs: number;
  /** Resolves with how many things it did (logged when more than none), or anything else. */
  run(): Promise<unknown>;
}

export interface JobRunner {
  /** Stops the timers and waits for the runs in flight, so the database can be closed after it. */
  stop(): Promise<void>;
}

/**
 * Runs each job every `everyMs`. A run that takes longer than its interval is not overlapped by the next
 * tick (that tick is skipped); a failure is logged and the job runs again at its next tick. Every job
 * here must be safe to run in several processes at once: each decides by conditional writes (or a
 * lease) in the database, never by what one process believes.
 */
export function runJobs(jobs: readonly Job[], log: Logger): JobRunner {
  const inFlight = new Set<Promise<void>>();
  const timers = jobs.map((job) => {
    let busy = false;
    const timer = setInterval(() => {
      if (busy) return;
      busy = true;
      const run: Promise<void> = job
        .run()
        .then(
          (did) => {
            if (typeof did === 'number' && did > 0) log.info({ job: job.name, did }, 'job done');
          },
          (err: unknown) => log.error({ err, job: job.name }, 'job failed'),
        )
        .finally(() => {
          busy = false;
          inFlight.delete(run);
        });
      inFlight.add(run);
    }, job.everyMs);
    timer.unref();
    return timer;
  });
  return {
    async stop() {
      for (const timer of timers) clearInterval(timer);
      await Promise.allSettled([...inFlight]);
    },
  };
}
