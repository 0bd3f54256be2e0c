/**
 * Which databases this test run covers. Every database test runs once per dialect in DIALECTS; by default
 * both. `TEST_DIALECTS=sqlite` (what `pnpm test:sqlite` sets) runs the SQLite half alone, for a machine
 * without Postgres.
 */
export const ALL_DIALECTS = ['sqlite', 'postgres'] as const;
export type TestDialect = (typeof ALL_DIALECTS)[number];

function chosenDialects(value: string | undefined): readonly TestDialect[] {
  if (!value) return ALL_DIALECTS;
  const names = value.split(',').map((name) => name.trim());
  for (const name of names) {
    if (!(ALL_DIALECTS as readonly string[]).includes(name)) {
      throw new Error(
        `TEST_DIALECTS: unknown database "${name}" (expected ${ALL_DIALECTS.join(' and/or ')})`,
      );
    }
  }
  return ALL_DIALECTS.filter((d) => names.includes(d));
}

export const DIALECTS = chosenDialects(process.env.TEST_DIALECTS);

/** Whether this run covers Postgres: tests written for Postgres alone are skipped when it doesn't. */
export const ON_POSTGRES = DIALECTS.includes('postgres');

export const POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
