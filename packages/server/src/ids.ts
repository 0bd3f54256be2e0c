import { randomFillSync } from 'node:crypto';
import { ID_PREFIXES, typeIdSuffix } from '@tickets/sdk';

export type IdKind = keyof typeof ID_PREFIXES;

// Random bytes drawn in bulk: one system call per 512 ids instead of one per id.
const pool = new Uint8Array(16 * 512);
let poolAt = pool.length;
const bytes = new Uint8Array(16);
let lastMs = 0;
let sequence = 0;

/**
 * A new prefixed, time-sortable id (TypeID: prefix + UUIDv7 in Crockford base32), the same format
 * typeid-js makes, built here because typeid-js's way (a UUID string, parsed back into bytes, then
 * encoded) was a few percent of a busy door server's time.
 *
 * Ids of one process sort in the order they were made, as typeid-js's did: within one millisecond the
 * 12-bit rand_a field counts up from a random start (RFC 9562, method 1), and when it runs out the
 * timestamp moves on a millisecond.
 */
export function newId(kind: IdKind): string {
  if (poolAt === pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  let ms = Date.now();
  // Ahead of the clock by more than a moment (it was set back, or jumped ahead once): start again from
  // the clock, as uuid's v7 does, rather than stamp every later id with that time.
  if (ms > lastMs || lastMs - ms > 10_000) {
    // A random start in the lower half, leaving room to count up.
    sequence = ((pool[poolAt] as number) << 3) | ((pool[poolAt + 1] as number) & 7);
    lastMs = ms;
  } else if (++sequence > 0xfff) {
    sequence = 0;
    lastMs++;
  }
  ms = lastMs;
  // 48-bit big-endian millisecond timestamp.
  const high = Math.floor(ms / 2 ** 32);
  bytes[0] = (high >>> 8) & 0xff;
  bytes[1] = high & 0xff;
  bytes[2] = (ms >>> 24) & 0xff;
  bytes[3] = (ms >>> 16) & 0xff;
  bytes[4] = (ms >>> 8) & 0xff;
  bytes[5] = ms & 0xff;
  // Version 7 and the 12-bit sequence.
  bytes[6] = 0x70 | (sequence >>> 8);
  bytes[7] = sequence & 0xff;
  // Variant 10, then 62 random bits.
  bytes[8] = 0x80 | ((pool[poolAt + 2] as number) & 0x3f);
  for (let i = 9; i < 16; i++) bytes[i] = pool[poolAt + i - 6] as number;
  poolAt += 16;
  return `${ID_PREFIXES[kind]}_${typeIdSuffix(bytes)}`;
}
