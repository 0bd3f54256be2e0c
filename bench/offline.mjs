// Offline verification at the door, in the CLI's own code path (packages/cli/dist/offline.js):
// signature check against the event key, bundle look-up, this device's queue, and the durable
// (fsync'd) append of each admission. Also the bare signature check for comparison.
//   node bench/offline.mjs [count]
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeTicketPayload, joinTicketCode, verifyTicketCode } from '@tickets/sdk';
import { typeid } from 'typeid-js';
import { OfflineStore, verifyOffline } from '../packages/cli/dist/offline.js';

const count = Number(process.argv[2] ?? 2000);
const eventId = typeid('evt').toString();
const typeId = typeid('tt').toString();
const pair = generateKeyPairSync('ed25519');
const publicKey = pair.publicKey.export({ format: 'jwk' }).x;
const tickets = {};
const codes = [];
for (let i = 0; i < count; i++) {
  const id = typeid('tkt').toString();
  const payload = encodeTicketPayload({ ticketId: id, eventId, ticketTypeId: typeId, version: 1 });
  codes.push(joinTicketCode(payload, sign(null, payload, pair.privateKey)));
  tickets[id] = {
    id,
    ticket_type_id: typeId,
    holder_name: `Guest ${i}`,
    status: 'valid',
    void_reason: null,
    code_version: 1,
    admitted: false,
  };
}
const bundle = {
  version: 1,
  event_id: eventId,
  list: { id: typeid('cl').toString(), name: 'Main entrance' },
  public_key: publicKey,
  cursor: '',
  synced_at: new Date().toISOString(),
  type_names: { [typeId]: 'GA' },
  tickets,
};
const store = new OfflineStore(mkdtempSync(join(tmpdir(), 'tickets-offline-bench-')));
store.save(bundle);

const pct = (xs, p) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

let t = performance.now();
for (const code of codes) if (!(await verifyTicketCode(code, publicKey)).valid) throw new Error('bad code');
const bare = count / ((performance.now() - t) / 1000);

const times = [];
t = performance.now();
for (const code of codes) {
  const s = performance.now();
  const v = await verifyOffline(code, store, bundle, { device_id: 'bench' });
  times.push(performance.now() - s);
  if (v.result !== 'admitted') throw new Error(`expected admitted, got ${v.result}`);
}
const full = count / ((performance.now() - t) / 1000);
const again = await verifyOffline(codes[0], store, bundle, { device_id: 'bench' });
if (again.result !== 'already_used') throw new Error('a second scan must be refused');

console.log(`Offline verification, ${count} distinct codes, one at a time`);
console.log(`  signature only (verifyTicketCode)      ${bare.toFixed(0).padStart(7)} /s`);
console.log(
  `  door path (verify + queue + fsync)     ${full.toFixed(0).padStart(7)} /s   p50 ${pct(times, 50).toFixed(2)} ms   p99 ${pct(times, 99).toFixed(2)} ms`,
);
console.log(
  `  first 100 p50 ${pct(times.slice(0, 100), 50).toFixed(2)} ms, last 100 p50 ${pct(times.slice(-100), 50).toFixed(2)} ms (the queue grows)`,
);
