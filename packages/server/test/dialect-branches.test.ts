// One place for the dialect differences: no file outside src/db/ compares dialects (`db.dialect ===
// 'postgres'`, `dialect !== 'sqlite'`, a `switch (db.dialect)`…). Code that must differ asks the store
// (src/db/store.ts: `storeOf(db)`) or hands both implementations to `byDialect`. A text scan of the
// server's sources.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../src', import.meta.url));
const STORE = 'db';

const BRANCHES = [
  /\bdialect\s*[!=]==?\s*['"`]/, // db.dialect === 'postgres'
  /['"`](sqlite|postgres)['"`]\s*[!=]==?\s*[\w.]*dialect\b/, // 'sqlite' === db.dialect
  /switch\s*\(\s*[\w.]*dialect\s*\)/, // switch (db.dialect)
];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** `file:line  text` of every line that branches on the dialect. */
function branchesIn(file: string): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .flatMap((line, i) =>
      BRANCHES.some((b) => b.test(line)) ? [`${relative(SRC, file)}:${i + 1}  ${line.trim()}`] : [],
    );
}

describe('the dialect differences live in the store', () => {
  it('finds the branches inside src/db (the scan can see one)', () => {
    expect(sources(join(SRC, STORE)).flatMap(branchesIn).length).toBeGreaterThan(0);
  });

  it('no file outside src/db branches on the dialect', () => {
    const elsewhere = sources(SRC)
      .filter((f) => !relative(SRC, f).startsWith(`${STORE}/`))
      .flatMap(branchesIn);
    expect(elsewhere).toEqual([]);
  });
});
