import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, eventOnSale, http, signUp, startTestServer, type TestServer, waitFor } from './harness.js';

describe.each(DIALECTS)('%s: moving a published event tells its ticket holders', (dialect) => {
  let s: TestServer;
  let call: ReturnType<typeof http>;
  let token: string;

  beforeAll(async () => {
    s = await startTestServer(dialect);
    call = http(s.url);
    token = (await signUp(s.url)).token;
  });
  afterAll(() => s.stop());

  const notices = (eventId: string) =>
    s.db.kysely
      .selectFrom('outbox')
      .select(['id', 'order_id', 'status'])
      .where('event_id', '=', eventId)
      .where('kind', '=', 'event_rescheduled')
      .execute();

  it('a new start queues one notice per order, with the new details and an .ics attachment', async () => {
    const { eventId, typeIds } = await eventOnSale(s.url, token, { name: 'Moving Night' }, [
      { name: 'GA', amount: 2000, capacity: 10 },
    ]);
    const order = await call('POST', '/api/tickets/purchase', {
      token,
      body: {
        event: eventId,
        items: [{ ticket_type: typeIds[0], quantity: 2 }],
        buyer: { name: 'Mo Mover', email: 'mo@example.com' },
        payment_method: 'manual',
      },
    });
    expect(order.status).toBe(201);
    // Not a move: the description.
    expect(
      (await call('PUT', `/api/events/${eventId}`, { token, body: { description: 'Bring a coat.' } })).status,
    ).toBe(200);
    expect(await notices(eventId)).toEqual([]);

    const moved = await call('PUT', `/api/events/${eventId}`, {
      token,
      body: {
        starts_at: '2031-02-01T20:00:00+01:00',
        ends_at: '2031-02-01T23:00:00+01:00',
        venue: { name: 'Big Hall', city: 'Hamburg', country: 'DE' },
      },
    });
    expect(moved.status, JSON.stringify(moved.body)).toBe(200);
    const queued = await notices(eventId);
    expect(queued.map((n) => n.order_id)).toEqual([order.body.id]);

    await waitFor(
      () => notices(eventId),
      (rows) => rows.every((r) => r.status === 'sent'),
    );
    const mail = await simpleParser(await readFile(join(s.config.dataDir, 'outbox', `${queued[0]!.id}.eml`)));
    expect(mail.subject).toContain('Moving Night has moved');
    expect(mail.text).toContain('Big Hall');
    const ics = mail.attachments.find((a) => a.filename === 'event.ics');
    expect(ics?.contentType).toBe('text/calendar');
    const calendar = ics!.content.toString('utf8');
    expect(calendar).toContain('BEGIN:VEVENT');
    expect(calendar).toContain(`UID:${eventId}@tickets`);
    expect(calendar).toContain('DTSTART:20310201T190000Z');
    expect(calendar).toContain('LOCATION:Big Hall\\, Hamburg');
  });

  it('moving a draft tells nobody: it has no ticket holders yet', async () => {
    const draft = await call('POST', '/api/events', {
      token,
      body: {
        name: 'Draft Move',
        timezone: 'UTC',
        starts_at: '2031-01-01T20:00:00Z',
        ends_at: '2031-01-01T22:00:00Z',
        currency: 'EUR',
      },
    });
    const res = await call('PUT', `/api/events/${draft.body.id}`, {
      token,
      body: { starts_at: '2031-01-02T20:00:00Z', ends_at: '2031-01-02T22:00:00Z' },
    });
    expect(res.status).toBe(200);
    expect(await notices(draft.body.id)).toEqual([]);
  });
});
