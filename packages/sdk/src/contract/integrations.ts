import { z } from 'zod';
import { Timestamp } from './common.js';

/**
 * Google Analytics 4 (server-side e-commerce events through the Measurement Protocol): an organization's
 * web stream, and what its checkout tells the server about the buyer's browser session.
 */
const MeasurementId = z
  .string()
  .trim()
  .regex(/^G-[A-Z0-9]{4,20}$/, 'must be a GA4 measurement id (G-…, from Admin → Data streams)')
  .meta({ example: 'G-ABC123XYZ9' });

export const GoogleAnalyticsSettingsInput = z
  .strictObject({
    measurement_id: MeasurementId,
    api_secret: z
      .string()
      .trim()
      .min(8)
      .max(100)
      .regex(/^[\w-]+$/, 'must be a Measurement Protocol API secret (letters, digits, - and _)')
      .describe("The stream's Measurement Protocol API secret; write-only (never answered back)"),
    enabled: z.boolean().default(true).describe('false: keep the settings, send nothing'),
  })
  .meta({ id: 'GoogleAnalyticsSettingsInput' });
export type GoogleAnalyticsSettingsInput = z.input<typeof GoogleAnalyticsSettingsInput>;

export const GoogleAnalyticsSettings = z
  .object({
    object: z.literal('google_analytics_settings'),
    measurement_id: z.string().nullable().describe('null: not set up, nothing is sent'),
    api_secret_last4: z
      .string()
      .nullable()
      .describe("The secret's last four characters, to tell which it is"),
    enabled: z.boolean(),
    events: z
      .array(z.string())
      .describe('What is sent: begin_checkout, purchase, refund, ticket_checked_in, waitlist_joined'),
    updated_at: Timestamp.nullable(),
  })
  .meta({ id: 'GoogleAnalyticsSettings' });
export type GoogleAnalyticsSettings = z.output<typeof GoogleAnalyticsSettings>;

export const GoogleAnalyticsTestResult = z
  .object({
    object: z.literal('google_analytics_test'),
    valid: z.boolean().describe("Google's validation server found nothing wrong with the sample purchase"),
    validation_messages: z.array(
      z.object({ field_path: z.string(), description: z.string(), validation_code: z.string() }),
    ),
    sent: z.record(z.string(), z.unknown()).describe('The sample request as sent (the API secret left out)'),
  })
  .meta({ id: 'GoogleAnalyticsTestResult' });
export type GoogleAnalyticsTestResult = z.output<typeof GoogleAnalyticsTestResult>;

/** The browser's GA4 identity, so the server's e-commerce events join the buyer's session. */
export const PurchaseAnalytics = z
  .strictObject({
    client_id: z
      .string()
      .trim()
      .min(1)
      .max(100)
      .describe("gtag's client id (the _ga cookie's last two parts, or gtag('get', …, 'client_id'))")
      .meta({ example: '1234567890.1701234567' }),
    session_id: z
      .string()
      .trim()
      .regex(/^\d{1,20}$/, 'must be the numeric GA4 session id')
      .optional()
      .describe("gtag's session id (gtag('get', …, 'session_id'))"),
    user_id: z.string().trim().min(1).max(256).optional().describe('Your own id of the signed-in buyer'),
  })
  .meta({ id: 'PurchaseAnalytics' });
export type PurchaseAnalytics = z.input<typeof PurchaseAnalytics>;
