// A storefront on any website: lists the organization's published events with their ticket types and
// what is left, and sends the buyer to Stripe's hosted checkout. It runs in the browser with a
// publishable key, which can do nothing else: no secret is shipped.
//
//   npx esbuild examples/storefront/main.js --bundle --format=esm --outfile=examples/storefront/main.bundle.js
import { Tickets, TicketsError } from '@tickets/sdk';

const { apiUrl, publishableKey } = document.body.dataset;
const tickets = new Tickets({ baseUrl: apiUrl, token: publishableKey });

const money = ({ amount, currency }) =>
  new Intl.NumberFormat(undefined, { style: 'currency', currency }).format(amount / 100);

async function showEvents() {
  const main = document.querySelector('#events');
  main.textContent = '';
  // Only published events reach a publishable key (and only their public ticket types).
  for await (const event of tickets.events.list({ status: 'published' })) {
    const availability = await tickets.ticketTypes.availability(event.id);
    const card = document.querySelector('#event').content.cloneNode(true);
    card.querySelector('h2').textContent = event.name;
    card.querySelector('.when').textContent = new Date(event.starts_at).toLocaleString(undefined, {
      timeZone: event.timezone,
      dateStyle: 'full',
      timeStyle: 'short',
    });
    const types = card.querySelector('.types');
    for (const type of availability.ticket_types) {
      const label = document.createElement('label');
      label.textContent = `${type.name} — ${money(type.price)} `;
      if (type.on_sale) {
        const quantity = Object.assign(document.createElement('input'), {
          type: 'number',
          min: 0,
          max: Math.min(type.available ?? 10, 10),
          value: 0,
          name: type.ticket_type_id,
        });
        label.append(quantity, ` (${type.available} left)`);
      } else {
        label.className = 'sold-out';
        label.append(type.reason === 'sold_out' ? 'sold out' : 'not on sale');
      }
      types.append(label);
    }
    card.querySelector('form').addEventListener('submit', (e) => checkout(e, event.id));
    main.append(card);
  }
}

async function checkout(submit, eventId) {
  submit.preventDefault();
  const form = new FormData(submit.target);
  const items = [...form.entries()]
    .filter(([name, value]) => name.startsWith('tt_') && Number(value) > 0)
    .map(([ticket_type, value]) => ({ ticket_type, quantity: Number(value) }));
  if (items.length === 0) return;
  try {
    // A pending order holds the tickets (15 minutes) until Stripe confirms the payment; only that
    // completes it. A publishable key cannot order free tickets or pay at the box office.
    const order = await tickets.orders.purchase({
      event: eventId,
      items,
      buyer: { name: form.get('name'), email: form.get('email') },
      payment_method: 'stripe',
      checkout: { success_url: `${location.origin}/thanks.html`, cancel_url: location.href },
    });
    location.assign(order.payment.checkout_url);
    // Or, without `checkout`, confirm in the page with Stripe.js and the PaymentIntent's client secret:
    //   const stripe = Stripe('pk_live_…');  // your Stripe publishable key
    //   const elements = stripe.elements({ clientSecret: order.payment.client_secret });
    //   elements.create('payment').mount('#card');
    //   await stripe.confirmPayment({ elements, confirmParams: { return_url: `${location.origin}/thanks.html` } });
  } catch (err) {
    document.querySelector('#error').textContent =
      err instanceof TicketsError ? err.detail : 'Something went wrong; please try again.';
  }
}

showEvents().catch((err) => {
  document.querySelector('#error').textContent = err.message;
});
