import { TypeID } from 'typeid-js';

/**
 * Ticket codes: what the QR code carries and the door checks.
 *
 * A code is base64url of 51 payload bytes followed by a 64-byte Ed25519 signature over them:
 *
 *   [0]      format (1)
 *   [1..17)  ticket id   (the UUID inside tkt_…)
 *   [17..33) event id    (evt_…)
 *   [33..49) ticket type (tt_…)
 *   [49..51) code version, big-endian; a transfer raises it so older codes stop working
 *
 * Binary rather than JSON keeps the QR code small enough to scan from a phone screen in bad light.
 * Each event has its own key pair: a code from one event can't be replayed at another, and the door
 * verifies offline with the event's public key. The server signs; this module decodes and verifies,
 * so the server and every door share one implementation.
 */
export const TICKET_CODE_FORMAT = 1;
const PAYLOAD_LENGTH = 51;
const SIGNATURE_LENGTH = 64;

export interface TicketCodePayload {
  ticketId: string;
  eventId: string;
  ticketTypeId: string;
  version: number;
}

export type TicketCodeCheck =
  | ({ valid: true } & TicketCodePayload)
  | { valid: false; reason: 'malformed' | 'bad_signature'; payload?: TicketCodePayload };

const uuidBytes = (id: string, prefix: string): Uint8Array => {
  const parsed = TypeID.fromString(id);
  if (parsed.getType() !== prefix) throw new TypeError(`expected a ${prefix}_ id, got ${id}`);
  return parsed.toUUIDBytes();
};

/** The bytes that get signed. */
export function encodeTicketPayload(p: TicketCodePayload): Uint8Array {
  if (!Number.isInteger(p.version) || p.version < 0 || p.version > 0xffff)
    throw new RangeError('code version must be 0..65535');
  const out = new Uint8Array(PAYLOAD_LENGTH);
  out[0] = TICKET_CODE_FORMAT;
  out.set(uuidBytes(p.ticketId, 'tkt'), 1);
  out.set(uuidBytes(p.eventId, 'evt'), 17);
  out.set(uuidBytes(p.ticketTypeId, 'tt'), 33);
  out[49] = p.version >> 8;
  out[50] = p.version & 0xff;
  return out;
}

/** Joins payload and signature into the code string. */
export function joinTicketCode(payload: Uint8Array, signature: Uint8Array): string {
  const all = new Uint8Array(PAYLOAD_LENGTH + SIGNATURE_LENGTH);
  all.set(payload, 0);
  all.set(signature, PAYLOAD_LENGTH);
  return toBase64Url(all);
}

const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz';

/**
 * The 26-character TypeID suffix of the 16 bytes at `at`: the 128 bits, big-endian, after two zero bits, five at a
 * time. Every scan decodes three ids; typeid-js's round trip through UUID strings was a tenth of a door server's
 * time. A test checks it against typeid-js.
 */
export function typeIdSuffix(bytes: Uint8Array, at = 0): string {
  let out = '';
  let acc = 0;
  let bits = 2;
  for (let i = at; i < at + 16; i++) {
    acc = (acc << 8) | (bytes[i] as number);
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += CROCKFORD[(acc >> bits) & 31];
    }
    acc &= (1 << bits) - 1;
  }
  return out;
}

/** Reads a code without checking its signature (for lookups); null when it is not a ticket code. */
export function decodeTicketCode(
  code: string,
): { payload: TicketCodePayload; signed: Uint8Array; signature: Uint8Array } | null {
  const trimmed = code.trim();
  if (!/^[A-Za-z0-9_-]+$/.test(trimmed)) return null;
  let bytes: Uint8Array;
  try {
    bytes = fromBase64Url(trimmed);
  } catch {
    return null;
  }
  if (bytes.length !== PAYLOAD_LENGTH + SIGNATURE_LENGTH || bytes[0] !== TICKET_CODE_FORMAT) return null;
  const id = (prefix: string, at: number) => `${prefix}_${typeIdSuffix(bytes, at)}`;
  return {
    payload: {
      ticketId: id('tkt', 1),
      eventId: id('evt', 17),
      ticketTypeId: id('tt', 33),
      version: (bytes[49]! << 8) | bytes[50]!,
    },
    signed: bytes.slice(0, PAYLOAD_LENGTH),
    signature: bytes.slice(PAYLOAD_LENGTH),
  };
}

// The global WebCrypto (browsers, Node 20+), not node:crypto: the SDK's entry must bundle for a browser.
type PublicKey = Awaited<ReturnType<typeof crypto.subtle.importKey>>;
const keyCache = new Map<string, Promise<PublicKey>>();

function importPublicKey(publicKey: string): Promise<PublicKey> {
  let key = keyCache.get(publicKey);
  if (!key) {
    key = crypto.subtle.importKey('raw', fromBase64Url(publicKey), { name: 'Ed25519' }, false, ['verify']);
    if (keyCache.size > 1000) keyCache.clear();
    keyCache.set(publicKey, key);
  }
  return key;
}

/**
 * Verifies a code against an event's public key (base64url of the raw 32-byte Ed25519 key, as
 * `GET /api/events/:id/public-key` returns it). Works offline. It says nothing about whether the
 * ticket was refunded or used since: the door's bundle or the server knows that.
 *
 * @example
 * const check = await verifyTicketCode(scanned, event.public_key);
 * if (!check.valid) console.log(`REFUSED: ${check.reason}`); // malformed, or not signed by this event
 */
export async function verifyTicketCode(code: string, publicKey: string): Promise<TicketCodeCheck> {
  const decoded = decodeTicketCode(code);
  if (!decoded) return { valid: false, reason: 'malformed' };
  const key = await importPublicKey(publicKey);
  const ok = await crypto.subtle.verify({ name: 'Ed25519' }, key, decoded.signature, decoded.signed);
  return ok
    ? { valid: true, ...decoded.payload }
    : { valid: false, reason: 'bad_signature', payload: decoded.payload };
}

// Node's Buffer where there is one (a door server decodes a code per scan: it is the fastest), else
// atob/btoa, which browsers have.
function toBase64Url(bytes: Uint8Array): string {
  if (typeof Buffer === 'function') return Buffer.from(bytes).toString('base64url');
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64Url(s: string): Uint8Array {
  if (typeof Buffer === 'function') return new Uint8Array(Buffer.from(s, 'base64url'));
  const binary = atob(s.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}
