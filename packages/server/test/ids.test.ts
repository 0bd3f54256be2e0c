import { ID_PREFIXES } from '@tickets/sdk';
import { TypeID } from 'typeid-js';
import { describe, expect, it } from 'vitest';
import { newId } from '../src/ids.js';

describe('newId', () => {
  it('makes TypeIDs that typeid-js reads back: the prefix, a version 7 UUID of now, the RFC variant', () => {
    const before = Date.now();
    const id = newId('event');
    const parsed = TypeID.fromString(id);
    expect(parsed.getType()).toBe(ID_PREFIXES.event);
    const uuid = parsed.toUUID();
    expect(uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const ms = Number.parseInt(uuid.replace(/-/g, '').slice(0, 12), 16);
    expect(ms).toBeGreaterThanOrEqual(before);
    expect(ms).toBeLessThanOrEqual(Date.now() + 5);
    // And the same string back: the encoding is typeid-js's.
    expect(TypeID.fromUUID(ID_PREFIXES.event, uuid).toString()).toBe(id);
  });

  it('sorts in the order the ids were made, also many within one millisecond, and never repeats', () => {
    const ids = Array.from({ length: 20_000 }, () => newId('ticket'));
    expect(new Set(ids).size).toBe(ids.length);
    const sorted = [...ids].sort();
    expect(sorted).toEqual(ids);
  });

  it('draws the random part afresh for every id', () => {
    const tails = new Set(
      Array.from({ length: 1_000 }, () => TypeID.fromString(newId('order')).toUUID().slice(20)),
    );
    expect(tails.size).toBe(1_000);
  });
});

describe('newId when the clock jumps', () => {
  it('follows the clock again after it jumped ahead once, instead of stamping later ids with that time', () => {
    const real = Date.now;
    try {
      const now = real();
      Date.now = () => now + 3_600_000;
      newId('event');
      Date.now = () => now;
      const ms = Number.parseInt(
        TypeID.fromString(newId('event')).toUUID().replace(/-/g, '').slice(0, 12),
        16,
      );
      expect(ms).toBe(now);
    } finally {
      Date.now = real;
    }
  });
});
