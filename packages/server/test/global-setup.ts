import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { TestProject } from 'vitest/node';

import { ON_POSTGRES, POSTGRES_URL } from './dialects.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Every Postgres schema a test makes in this run starts with it, so the run can drop them all at its end. */
    pgSchemaPrefix: string;
  }
}

/**
 * Why test schemas are dropped here, once, and not by each test file when it ends: Kysely's migrator
 * introspects the tables of every schema, and a schema dropped by another file in the middle of that
 * query fails it with `schema "t_…" does not exist` (seen in CI). Nothing is dropped while tests run.
 */
export default async function setup(project: TestProject) {
  if (ON_POSTGRES) await assertPostgresReachable();
  const prefix = `t_${randomBytes(3).toString('hex')}_`;
  project.provide('pgSchemaPrefix', prefix);
  return async () => {
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    try {
      await client.connect();
      const { rows } = await client.query<{ nspname: string }>(
        'select nspname from pg_namespace where starts_with(nspname, $1)',
        [prefix],
      );
      for (const { nspname } of rows) await client.query(`drop schema if exists ${nspname} cascade`);
    } catch {
      // No Postgres (a SQLite-only run) or already gone: nothing to clean.
    } finally {
      await client.end().catch(() => {});
    }
  };
}

/**
 * Fails the run at once, with one message saying what to do, when the Postgres half of the suite has no
 * Postgres to talk to: otherwise every Postgres test fails on its own with a connection error.
 */
async function assertPostgresReachable(): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    await client.query('select 1');
  } catch (err) {
    const reason = (err as { code?: string; message?: string }).code ?? (err as Error).message;
    const failure = new Error(
      [
        `Postgres is not reachable at ${POSTGRES_URL.replace(/\/\/[^@/]*@/, '//…@')} (${reason}).`,
        'Half of the suite runs on Postgres. Either:',
        '  - start it (Debian: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start;',
        '    macOS: brew services start postgresql), with trust auth and a database named test,',
        '  - point TEST_POSTGRES_URL at a Postgres you have (a throwaway database: tests create schemas in it),',
        '  - or run the SQLite half alone: pnpm test:sqlite',
      ].join('\n'),
    );
    failure.stack = failure.message; // the message is the whole story; a stack from here only hides it
    throw failure;
  } finally {
    await client.end().catch(() => {});
  }
}
