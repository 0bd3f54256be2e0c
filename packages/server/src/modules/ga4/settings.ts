import type {
  GoogleAnalyticsSettings,
  GoogleAnalyticsSettingsInput,
  GoogleAnalyticsTestResult,
} from '@tickets/sdk';
import type { z } from 'zod';
import type { Db } from '../../db/database.js';
import type { Ga4SettingsTable, OutboxTable } from '../../db/schema.js';
import type { Principal } from '../../http/app.js';
import { ApiError } from '../../http/errors.js';
import { type Ga4Client, Ga4Error, type Ga4Stream } from '../../integrations/ga4.js';
import { nowIso } from '../../time.js';
import { recordAudit } from '../audit/log.js';
import { DeliveryError } from '../messaging/transport.js';
import { ga4Request, samplePurchase } from './events.js';
import { forgetGa4, GA4_EVENTS } from './queue.js';

function view(row: Ga4SettingsTable | undefined): GoogleAnalyticsSettings {
  return {
    object: 'google_analytics_settings',
    measurement_id: row?.measurement_id ?? null,
    api_secret_last4: row ? row.api_secret.slice(-4) : null,
    enabled: row?.enabled === 1,
    events: [...GA4_EVENTS],
    updated_at: row?.updated_at ?? null,
  };
}

const streamOf = (row: Ga4SettingsTable): Ga4Stream => ({
  measurementId: row.measurement_id,
  apiSecret: row.api_secret,
});

/** An organization's GA4 stream: set, read (the secret never), removed, tried against GA's validation server. */
export class GoogleAnalytics {
  constructor(
    private readonly db: Db,
    private readonly client: Ga4Client,
  ) {}

  private row(orgId: string) {
    return this.db.kysely
      .selectFrom('ga4_settings')
      .selectAll()
      .where('org_id', '=', orgId)
      .executeTakeFirst();
  }

  async get(orgId: string): Promise<GoogleAnalyticsSettings> {
    return view(await this.row(orgId));
  }

  async set(
    by: Principal,
    input: z.output<typeof GoogleAnalyticsSettingsInput>,
  ): Promise<GoogleAnalyticsSettings> {
    const now = nowIso();
    const values = {
      measurement_id: input.measurement_id,
      api_secret: input.api_secret,
      enabled: input.enabled ? 1 : 0,
      updated_at: now,
    };
    await this.db.kysely.transaction().execute(async (trx) => {
      await trx
        .insertInto('ga4_settings')
        .values({ org_id: by.orgId, created_at: now, ...values })
        .onConflict((oc) => oc.column('org_id').doUpdateSet(values))
        .execute();
      await recordAudit(trx, {
        orgId: by.orgId,
        by,
        action: 'integration.google_analytics.set',
        subject: by.orgId,
        data: { measurement_id: input.measurement_id, enabled: input.enabled },
      });
    });
    forgetGa4(by.orgId);
    return this.get(by.orgId);
  }

  async delete(by: Principal): Promise<GoogleAnalyticsSettings> {
    await this.db.kysely.transaction().execute(async (trx) => {
      await trx.deleteFrom('ga4_settings').where('org_id', '=', by.orgId).execute();
      // What was waiting to go has nowhere to go.
      await trx
        .updateTable('outbox')
        .set({ status: 'cancelled', last_error: 'Google Analytics was removed', updated_at: nowIso() })
        .where('org_id', '=', by.orgId)
        .where('channel', '=', 'ga4')
        .where('status', '=', 'queued')
        .execute();
      await recordAudit(trx, {
        orgId: by.orgId,
        by,
        action: 'integration.google_analytics.deleted',
        subject: by.orgId,
        data: {},
      });
    });
    forgetGa4(by.orgId);
    return view(undefined);
  }

  /** A sample purchase, checked by GA4's validation server (nothing is recorded in the property). */
  async test(orgId: string): Promise<GoogleAnalyticsTestResult> {
    const row = await this.row(orgId);
    if (!row)
      throw new ApiError(
        409,
        'not_configured',
        'Google Analytics is not set up: PUT /api/org/integrations/google-analytics first.',
      );
    const org = await this.db.kysely
      .selectFrom('events')
      .select('currency')
      .where('org_id', '=', orgId)
      .orderBy('created_at', 'desc')
      .executeTakeFirst();
    const body = samplePurchase(org?.currency ?? 'EUR');
    let messages: Awaited<ReturnType<Ga4Client['validate']>>;
    try {
      messages = await this.client.validate(streamOf(row), body);
    } catch (err) {
      throw new ApiError(502, 'google_analytics_unavailable', (err as Error).message);
    }
    return {
      object: 'google_analytics_test',
      valid: messages.length === 0,
      validation_messages: messages.map((m) => ({
        field_path: m.fieldPath,
        description: m.description,
        validation_code: m.validationCode,
      })),
      sent: { measurement_id: row.measurement_id, ...body },
    };
  }
}

/**
 * Sends an outbox row of channel `ga4` (for the message worker): the event built from the data as it
 * is now, to the organization's stream. GA answers 2xx whatever it thinks of the body, so a failure is
 * an outage (retried) or a refusal of the request itself (4xx: not retried).
 */
export class Ga4Sender {
  readonly name = 'google-analytics';

  constructor(
    private readonly db: Db,
    private readonly client: Ga4Client,
  ) {}

  async send(row: OutboxTable, signal: AbortSignal): Promise<{ status: number } | { cancel: string }> {
    const settings = await this.db.kysely
      .selectFrom('ga4_settings')
      .selectAll()
      .where('org_id', '=', row.org_id)
      .executeTakeFirst();
    if (!settings) return { cancel: 'Google Analytics is not set up' };
    if (settings.enabled !== 1) return { cancel: 'Google Analytics is turned off' };
    const body = await ga4Request(this.db.kysely, row);
    if (!body) return { cancel: 'nothing to send: the order is gone, or the buyer declined analytics' };
    try {
      return { status: await this.client.collect(streamOf(settings), body, signal) };
    } catch (err) {
      if (!(err instanceof Ga4Error)) throw err;
      const retryable = err.status === null || err.status === 429 || err.status >= 500;
      throw new DeliveryError(err.message, retryable, {
        ...(err.status !== null ? { status: err.status } : {}),
        ...(err.retryAfterMs ? { retryAfterMs: err.retryAfterMs } : {}),
        cause: err,
      });
    }
  }
}
