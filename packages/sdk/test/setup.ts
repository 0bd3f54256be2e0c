import { sampleEvent, type TestServer } from '../../server/test/harness.js';
import { Tickets } from '../src/index.js';

/** An organizer signed up through the SDK, with a published event selling one ticket type (GA, €25, 50 places). */
export async function organizerOnSale(
  s: TestServer,
  who: { email: string; name: string },
  eventName: string,
): Promise<{ tickets: Tickets; token: string; eventId: string; typeId: string }> {
  const tickets = new Tickets({ baseUrl: s.url });
  const session = await tickets.auth.register({ ...who, password: 'correct horse battery' });
  const eventId = (await tickets.events.create(sampleEvent({ name: eventName }))).id;
  const typeId = (
    await tickets.ticketTypes.create(eventId, {
      name: 'GA',
      price: { amount: 2500, currency: 'EUR' },
      capacity: 50,
    })
  ).id;
  await tickets.events.publish(eventId);
  return { tickets, token: session.access_token, eventId, typeId };
}
