// One owner of inventory: no file but modules/inventory/ writes the `sold` and `held` counters. A text
// scan of the server's sources for every way this code base writes a column: a Kysely `.set({ sold: … })`
// or `sold: eb(…)`, a computed `[counter]: eb(…)`, and SQL text `set "sold" = …`.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../src', import.meta.url));
const OWNER = join('modules', 'inventory');

const WRITES = [
  /\b(sold|held)"?\s*:\s*(eb\(|\d)/, // .set({ sold: eb('sold', '+', n) }) or .set({ held: 0 })
  /\bset\s+"?(sold|held)"?\s*=/i, // SQL: update … set "sold" = "sold" + ?
  /\[(column|counter)\]\s*:\s*eb\(/, // .set((eb) => ({ [counter]: eb(counter, '+', n) }))
  /set \$\{c\} = \$\{c\}/, // SQL built with the counter's name in a variable
  /\$\{sql\.ref\((from|to|counter)\)\}\s*=/, // sql`${sql.ref(to)} = ${sql.ref(to)} + ${n}`
  /(updateTable|insertInto|deleteFrom)\(\s*'inventory_slots'/, // a hot event's slots, by Kysely
  /\b(update|insert into|delete from)\s+"?inventory_slots\b/i, // … or as SQL text
];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** `file:line  text` of every line that writes a counter. */
function writesIn(file: string): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .flatMap((line, i) =>
      WRITES.some((w) => w.test(line)) ? [`${relative(SRC, file)}:${i + 1}  ${line.trim()}`] : [],
    );
}

describe('inventory has one owner', () => {
  it('finds the counter writes in the owner itself (the scan can see a write)', () => {
    const own = sources(join(SRC, OWNER)).flatMap(writesIn);
    // hold/sell, addToTypes, move (types and event), and the precompiled texts.
    expect(own.length).toBeGreaterThanOrEqual(6);
  });

  it('no other file writes sold or held', () => {
    const elsewhere = sources(SRC)
      .filter(
        (f) => !relative(SRC, f).startsWith(OWNER) && !relative(SRC, f).startsWith(join('db', 'migrations')),
      )
      .flatMap(writesIn);
    expect(elsewhere).toEqual([]);
  });
});
