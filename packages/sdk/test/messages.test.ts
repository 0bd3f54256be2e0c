import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, startTestServer, type TestServer } from '../../server/test/harness.js';
import {
  ConflictError,
  type Message,
  type MessageListParams,
  type Tickets,
  ValidationError,
} from '../src/index.js';
import { organizerOnSale } from './setup.js';

/** Polls the list until a message matches, or fails after `ms` with what was last seen. */
async function waitFor(
  tickets: Tickets,
  params: MessageListParams,
  done: (m: Message) => boolean,
  ms = 10_000,
): Promise<Message> {
  const deadline = Date.now() + ms;
  let seen: Message[] = [];
  while (Date.now() < deadline) {
    seen = await tickets.messages.list(params).toArray();
    const found = seen.find(done);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(
    `no matching message within ${ms} ms; saw ${JSON.stringify(seen.map((m) => [m.id, m.status]))}`,
  );
}

describe.each(DIALECTS)('%s: messages with the SDK', (dialect) => {
  let s: TestServer;
  let tickets: Tickets;
  let eventId: string;
  let typeId: string;
  let orderId: string;
  let confirmation: Message;

  beforeAll(async () => {
    s = await startTestServer(dialect);
    ({ tickets, eventId, typeId } = await organizerOnSale(
      s,
      { email: `messenger-${dialect}@example.com`, name: 'Mo Messenger' },
      'SDK Messages Night',
    ));
    const order = await tickets.orders.purchase({
      event: eventId,
      items: [{ ticket_type: typeId, quantity: 1 }],
      buyer: { name: 'Bea Buyer', email: 'Bea@Example.com' },
      payment_method: 'manual',
    });
    orderId = order.id;
  });
  afterAll(() => s.stop());

  it('sends the confirmation of a paid order to the local outbox when no provider is set up', async () => {
    confirmation = await waitFor(tickets, { order: orderId }, (m) => m.status === 'sent');
    expect(confirmation).toMatchObject({
      object: 'message',
      channel: 'email',
      template: 'order_confirmation',
      recipient: 'bea@example.com',
      status: 'sent',
      attempts: 1,
      provider: 'file',
      order_id: orderId,
      event_id: eventId,
      last_error: null,
    });
    expect(confirmation.subject).toEqual(expect.any(String));
    expect(confirmation.sent_at).not.toBeNull();
    expect(readdirSync(join(s.config.messaging.outboxDir)).some((f) => f.endsWith('.eml'))).toBe(true);
  });

  it('filters the list by order, status, channel, recipient and template', async () => {
    const ids = async (params: MessageListParams) =>
      (await tickets.messages.list(params).toArray()).map((m) => m.id);
    expect(await ids({ order: orderId })).toEqual([confirmation.id]);
    expect(await ids({ order: orderId, status: 'sent', channel: 'email' })).toEqual([confirmation.id]);
    expect(await ids({ recipient: 'BEA@example.com', template: 'order_confirmation' })).toEqual([
      confirmation.id,
    ]);
    expect(await ids({ order: orderId, status: 'queued' })).toEqual([]);
    expect(await ids({ order: orderId, channel: 'whatsapp' })).toEqual([]);
    expect(await ids({ event: eventId, template: 'refund_confirmation' })).toEqual([]);
    await expect(tickets.messages.list({ channel: 'sms' as 'email' })).rejects.toBeInstanceOf(
      ValidationError,
    );
  });

  it('shows a message with its history, queued then sent', async () => {
    const message = await tickets.messages.get(confirmation.id);
    expect(message.id).toBe(confirmation.id);
    expect(message.history?.map((e) => e.status)).toEqual(['queued', 'sent']);
    expect(message.history?.[1]?.detail).toContain('file');
  });

  it('refuses to retry a message that was sent', async () => {
    const err = await tickets.messages.retry(confirmation.id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect(err).toMatchObject({ status: 409, code: 'message_not_retryable' });
    expect((await tickets.messages.get(confirmation.id)).status).toBe('sent');
  });

  it('previews a template with sample data, by e-mail and by WhatsApp', async () => {
    const email = await tickets.messages.templates.preview('order_confirmation');
    expect(email).toMatchObject({ object: 'template_preview', name: 'order_confirmation', channel: 'email' });
    expect(email.subject).toEqual(expect.any(String));
    expect(email.html).toMatch(/<html/i);
    expect(email.text.length).toBeGreaterThan(0);
    const whatsapp = await tickets.messages.templates.preview('order_confirmation', { channel: 'whatsapp' });
    expect(whatsapp).toMatchObject({ channel: 'whatsapp', subject: null, html: null });
    expect(whatsapp.text.length).toBeGreaterThan(0);
  });

  it('maps a template to a SendGrid dynamic template and back, refusing a malformed id', async () => {
    const sendgridId = `d-${'0123456789abcdef'.repeat(2)}`;
    const before = await tickets.messages.templates.list();
    expect(before.find((t) => t.name === 'order_confirmation')?.sendgrid_template_id).toBeNull();

    const updated = await tickets.messages.templates.update('order_confirmation', {
      sendgrid_template_id: sendgridId,
    });
    expect(updated).toMatchObject({
      object: 'template',
      name: 'order_confirmation',
      sendgrid_template_id: sendgridId,
    });
    const mapped = await tickets.messages.templates.list();
    expect(mapped.find((t) => t.name === 'order_confirmation')?.sendgrid_template_id).toBe(sendgridId);
    expect(mapped.find((t) => t.name === 'refund_confirmation')?.sendgrid_template_id).toBeNull();

    const bad = await tickets.messages.templates
      .update('order_confirmation', { sendgrid_template_id: 'd-123' })
      .catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(ValidationError);
    // The server answers every malformed input with 422 validation_failed, naming the field.
    expect(bad).toMatchObject({ status: 422, code: 'validation_failed' });
    expect((bad as ValidationError).errors.map((e) => e.path)).toEqual(['sendgrid_template_id']);

    await tickets.messages.templates.update('order_confirmation', { sendgrid_template_id: null });
    const back = await tickets.messages.templates.list();
    expect(back.find((t) => t.name === 'order_confirmation')?.sendgrid_template_id).toBeNull();
  });

  it('resends an order confirmation as a new message, which is sent too', async () => {
    const queued = await tickets.orders.resend(orderId);
    expect(queued).toHaveLength(1);
    const [again] = queued;
    expect(again).toMatchObject({ channel: 'email', template: 'order_confirmation', order_id: orderId });
    expect(again!.id).not.toBe(confirmation.id);
    await waitFor(tickets, { order: orderId }, (m) => m.id === again!.id && m.status === 'sent');
    expect((await tickets.messages.list({ order: orderId }).toArray()).map((m) => m.id)).toEqual([
      again!.id,
      confirmation.id,
    ]);
  });

  it('lists no suppressions for a fresh organization', async () => {
    expect(await tickets.messages.suppressions.list().toArray()).toEqual([]);
    expect(await tickets.messages.suppressions.list({ channel: 'whatsapp' }).toArray()).toEqual([]);
  });
});
