import { createPrivateKey, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { promisify } from 'node:util';
import { encodeTicketPayload, joinTicketCode, type TicketCodePayload } from '@tickets/sdk';
import type { Db } from '../../db/database.js';
import { nowIso } from '../../time.js';

export interface EventKey {
  publicKey: string;
  privateKey: KeyObject;
}

/**
 * One Ed25519 key pair per event signs its ticket codes. The private key is kept in the database (so
 * every server process signs alike) as PKCS#8; it never leaves the server.
 */
export class EventKeys {
  private readonly cache = new Map<string, EventKey>();

  constructor(private readonly db: Db) {}

  /** The event's key if this process has it already (no read). */
  cached(eventId: string): EventKey | undefined {
    return this.cache.get(eventId);
  }

  async forEvent(eventId: string): Promise<EventKey> {
    const cached = this.cache.get(eventId);
    if (cached) return cached;
    let row = await this.db.kysely
      .selectFrom('event_keys')
      .selectAll()
      .where('event_id', '=', eventId)
      .executeTakeFirst();
    if (!row) {
      const pair = generateKeyPairSync('ed25519');
      const jwk = pair.publicKey.export({ format: 'jwk' });
      await this.db.kysely
        .insertInto('event_keys')
        .values({
          event_id: eventId,
          public_key: jwk.x!,
          private_key: pair.privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64url'),
          created_at: nowIso(),
        })
        // Two processes may race to create it: the first one wins and both use its key.
        .onConflict((oc) => oc.column('event_id').doNothing())
        .execute();
      row = await this.db.kysely
        .selectFrom('event_keys')
        .selectAll()
        .where('event_id', '=', eventId)
        .executeTakeFirstOrThrow();
    }
    const key = {
      publicKey: row.public_key,
      privateKey: createPrivateKey({
        key: Buffer.from(row.private_key, 'base64url'),
        format: 'der',
        type: 'pkcs8',
      }),
    };
    this.cache.set(eventId, key);
    return key;
  }

  /** The signed code for a ticket (see the SDK's ticket-code.ts for the format). */
  static sign(key: EventKey, payload: TicketCodePayload): string {
    const bytes = encodeTicketPayload(payload);
    return joinTicketCode(bytes, sign(null, bytes, key.privateKey));
  }

  /**
   * Signed codes for many tickets. A signature costs ~35 µs of CPU: a few are signed here and now, but a
   * large order's (500 tickets: ~18 ms) on libuv's thread pool, so the thread that answers requests is
   * not held while they are made.
   */
  static async signAll(key: EventKey, payloads: TicketCodePayload[]): Promise<string[]> {
    if (payloads.length <= SIGN_INLINE) return payloads.map((p) => EventKeys.sign(key, p));
    return Promise.all(
      payloads.map(async (p) => {
        const bytes = encodeTicketPayload(p);
        return joinTicketCode(bytes, await signAsync(null, bytes, key.privateKey));
      }),
    );
  }
}

/** Codes signed on the calling thread: a thread pool hop costs more than a signature. */
const SIGN_INLINE = 10;
const signAsync = promisify(sign) as (algorithm: null, data: Uint8Array, key: KeyObject) => Promise<Buffer>;

/** PEM (SPKI) for a raw base64url Ed25519 public key. */
export function publicKeyPem(raw: string): string {
  const der = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(raw, 'base64url')]);
  return `-----BEGIN PUBLIC KEY-----\n${der.toString('base64')}\n-----END PUBLIC KEY-----\n`;
}
