import { ID_PREFIXES } from '@tickets/sdk';
import { typeid } from 'typeid-js';

export type IdKind = keyof typeof ID_PREFIXES;

/** A new prefixed, time-sortable id (TypeID: prefix + UUIDv7 in base32). */
export function newId(kind: IdKind): string {
  return typeid(ID_PREFIXES[kind]).toString();
}
