import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../src/db/database.js';

// SQLite only: Postgres checkpoints on its own.
describe('sqlite: WAL checkpoints on a thread of their own', () => {
  const write = async (file: string, options: { backgroundCheckpoints?: boolean }) => {
    const db = openDatabase(`sqlite:${file}`, options);
    await sql`create table if not exists blobs (id integer primary key, data blob not null)`.execute(
      db.kysely,
    );
    // About 2,500 pages of log in 250 commits: past the default 1,000-page automatic checkpoint.
    for (let i = 0; i < 250; i++)
      await db.kysely.transaction().execute(async (trx) => {
        for (let j = 0; j < 10; j++)
          await sql`insert into blobs (data) values (randomblob(3000))`.execute(trx);
      });
    return db;
  };

  it('copies the log back into the database off the event loop, losing nothing', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'tickets-ckpt-')), 'db.sqlite');
    const db = await write(file, { backgroundCheckpoints: true });
    const checkpointer = db.checkpointer;
    expect(checkpointer).toBeDefined();
    // The server's own connection only checkpoints far later (the safety net).
    const [{ wal_autocheckpoint }] = (
      await sql<{
        wal_autocheckpoint: number;
      }>`pragma wal_autocheckpoint`.execute(db.kysely)
    ).rows as [{ wal_autocheckpoint: number }];
    expect(wal_autocheckpoint).toBeGreaterThan(1_000);
    for (let waited = 0; checkpointer!.runs === 0 && waited < 5_000; waited += 50)
      await new Promise((r) => setTimeout(r, 50));
    expect(checkpointer!.runs).toBeGreaterThan(0);
    await db.close();
    const reopened = new SQLite(file, { readonly: true });
    expect((reopened.prepare('select count(*) as n from blobs').get() as { n: number }).n).toBe(2_500);
    reopened.close();
  });

  it('is off unless asked for, and close() is prompt either way', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'tickets-ckpt-')), 'db.sqlite');
    const plain = await write(file, {});
    expect(plain.checkpointer).toBeUndefined();
    await plain.close();
    const started = Date.now();
    const background = openDatabase(`sqlite:${file}`, { backgroundCheckpoints: true });
    await background.close();
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
