import { randomBytes } from 'node:crypto';
import { TypeID, typeid } from 'typeid-js';
import { describe, expect, it } from 'vitest';
import { typeIdSuffix } from '../src/ticket-code.js';

describe('typeIdSuffix', () => {
  it('encodes 16 bytes exactly as typeid-js does', () => {
    const samples = [
      new Uint8Array(16),
      new Uint8Array(16).fill(0xff),
      ...Array.from({ length: 2000 }, () => new Uint8Array(randomBytes(16))),
    ];
    for (const bytes of samples)
      expect(typeIdSuffix(bytes)).toBe(TypeID.fromUUIDBytes('tkt', bytes).getSuffix());
  });

  it('reads from an offset, and round-trips real ids', () => {
    for (let i = 0; i < 200; i++) {
      const id = typeid('evt');
      const padded = new Uint8Array(40);
      padded.set(id.toUUIDBytes(), 17);
      expect(`evt_${typeIdSuffix(padded, 17)}`).toBe(id.toString());
    }
  });
});
