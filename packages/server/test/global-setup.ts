import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { TestProject } from 'vitest/node';

const POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

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
export default function setup(project: TestProject) {
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
