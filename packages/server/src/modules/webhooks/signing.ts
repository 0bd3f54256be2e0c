import { createHmac, randomBytes } from 'node:crypto';

/**
 * Webhook signatures as Standard Webhooks defines them (standardwebhooks.com; Svix, and Stripe in
 * spirit): `webhook-id` (the delivery's id, the same on every attempt), `webhook-timestamp` (Unix
 * seconds) and `webhook-signature`, a space-separated list of `v1,<base64 HMAC-SHA256 of
 * "id.timestamp.body">` — one per secret in use, so a receiver that has not switched to a rotated secret
 * yet still verifies. The SDK's `verifyWebhook` checks them.
 */

/** A new signing secret: `whsec_` and 24 random bytes in base64 (the key is those bytes). */
export const newSecret = () => `whsec_${randomBytes(24).toString('base64')}`;

const keyOf = (secret: string) => Buffer.from(secret.replace(/^whsec_/, ''), 'base64');

export function sign(id: string, timestamp: number, body: string, secret: string): string {
  return `v1,${createHmac('sha256', keyOf(secret)).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

/** The three headers of a delivery, signed with every secret given. */
export function signedHeaders(
  id: string,
  body: string,
  secrets: string[],
  now = new Date(),
): Record<string, string> {
  const timestamp = Math.floor(now.getTime() / 1000);
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': secrets.map((s) => sign(id, timestamp, body, s)).join(' '),
  };
}
