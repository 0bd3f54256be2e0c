import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { ApiError } from '../http/errors.js';
import { webhooksReceived, webhooksRejected } from './metrics.js';
import { raiseSecurityEvent } from './security.js';

/**
 * A provider's webhook, counted: received, and refused for a bad signature (a security event: someone
 * posts what the provider did not sign) or failed to apply (an error the provider will retry).
 */
export async function countedWebhook<T>(
  db: Kysely<Database>,
  provider: 'stripe' | 'sendgrid' | 'whatsapp',
  via: { requestId: string; ip: string },
  apply: () => Promise<T>,
): Promise<T> {
  webhooksReceived.inc({ provider });
  try {
    return await apply();
  } catch (err) {
    const badSignature = err instanceof ApiError && err.code === 'invalid_signature';
    webhooksRejected.inc({ provider, reason: badSignature ? 'bad_signature' : 'failed' });
    if (badSignature)
      await raiseSecurityEvent(db, {
        kind: 'webhook_bad_signature',
        summary: `a ${provider} webhook with a bad signature from ${via.ip}`,
        orgIds: [],
        by: null,
        via,
        subject: `webhook:${provider}`,
        data: { provider, ip: via.ip },
      });
    throw err;
  }
}
