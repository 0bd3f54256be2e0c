// usage: node /tmp/drive.mjs <url> purchase|validate
import autocannon from 'autocannon';

const [url, mode] = process.argv.slice(2);
const dur = Number(process.env.D ?? 5);
async function json(path, init = {}) {
  const res = await fetch(url + path, {
    ...init,
    headers: { 'content-type': 'application/json', ...init.headers },
  });
  if (!res.ok) throw new Error(`${path} ${res.status} ${await res.text()}`);
  return res.json();
}
const s = await json('/api/auth/register', {
  method: 'POST',
  body: JSON.stringify({ email: `p${Date.now()}@x.com`, password: 'correct horse battery', name: 'B' }),
});
const token = s.access_token;
const api = (m, p, b) =>
  json(p, {
    method: m,
    headers: { authorization: `Bearer ${token}` },
    body: b === undefined ? undefined : JSON.stringify(b),
  });
const ev = await api('POST', '/api/events', {
  name: 'E',
  timezone: 'Europe/Berlin',
  starts_at: '2030-12-31T20:00:00+01:00',
  ends_at: '2031-01-01T02:00:00+01:00',
  currency: 'EUR',
  capacity: 100000,
  venue: { name: 'H', city: 'B', country: 'DE' },
});
const types = [];
for (let i = 0; i < (mode === 'validate' ? 5 : 1); i++)
  types.push(
    (
      await api('POST', `/api/events/${ev.id}/ticket-types`, {
        name: 'GA' + i,
        price: { amount: 2500, currency: 'EUR' },
        capacity: 20000,
      })
    ).id,
  );
await api('POST', `/api/events/${ev.id}/publish`);

import { readFileSync } from 'node:fs';

const cpu = () => {
  try {
    const f = readFileSync(`/proc/${process.env.SP}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return NaN;
  }
};
const run = (opts) =>
  new Promise((res, rej) => {
    const c0 = cpu();
    autocannon({ url, connections: 20, duration: dur, ...opts }, (e, r) => {
      if (r) r.cpuMs = (cpu() - c0) / (r['2xx'] || 1);
      e ? rej(e) : res(r);
    });
  });
if (mode === 'purchase') {
  let n = 0;
  const r = await run({
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    requests: [
      {
        method: 'POST',
        path: '/api/tickets/purchase',
        setupRequest: (req) => {
          n++;
          return {
            ...req,
            headers: { ...req.headers, 'idempotency-key': `k${n}` },
            body: JSON.stringify({
              event: ev.id,
              items: [{ ticket_type: types[0], quantity: 1 }],
              buyer: { name: `B ${n}`, email: `b${n}@x.example` },
              payment_method: 'manual',
            }),
          };
        },
      },
    ],
  });
  console.log(
    'purchase',
    r['2xx'] / r.duration,
    'cpu ms/req',
    r.cpuMs.toFixed(2),
    r.non2xx,
    r.latency.p50,
    r.latency.p99,
  );
} else {
  const codes = [];
  for (let n = 0; n < 60; n++) {
    const o = await api('POST', '/api/tickets/purchase', {
      event: ev.id,
      items: types.map((t) => ({ ticket_type: t, quantity: 100 })),
      buyer: { name: 'x', email: `x${n}@y.example` },
      payment_method: 'manual',
    });
    for (const t of o.tickets) codes.push(t.code);
  }
  codes.sort(() => Math.random() - 0.5);
  const key = (await api('POST', '/api/api-keys', { name: 'door', scopes: ['checkin'] })).secret;
  let n = 0;
  const r = await run({
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    requests: [
      {
        method: 'POST',
        path: '/api/tickets/validate',
        setupRequest: (req) => {
          n++;
          return {
            ...req,
            body: JSON.stringify({
              code: codes[n % codes.length],
              device_id: `s${n % 20}`,
              gate: `G${n % 8}`,
            }),
          };
        },
      },
    ],
  });
  console.log(
    'validate',
    r['2xx'] / r.duration,
    'cpu ms/req',
    r.cpuMs.toFixed(2),
    r.non2xx,
    r.latency.p50,
    r.latency.p99,
  );
}
