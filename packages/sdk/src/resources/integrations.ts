import type { RequestOptions, Tickets } from '../client.js';
import type {
  GoogleAnalyticsSettings,
  GoogleAnalyticsSettingsInput,
  GoogleAnalyticsTestResult,
} from '../contract/integrations.js';
import { routes } from '../contract/routes.js';

/**
 * Google Analytics 4: where the server sends its e-commerce events (begin_checkout, purchase, refund)
 * and check-ins, through the Measurement Protocol. Owners and admins set it.
 */
export class GoogleAnalyticsResource {
  constructor(private readonly client: Tickets) {}

  /** @example const { measurement_id, enabled } = await tickets.integrations.googleAnalytics.get() */
  get(): Promise<GoogleAnalyticsSettings> {
    return this.client.request(routes.orgs.googleAnalytics);
  }

  /**
   * Sets the stream and its Measurement Protocol API secret (write-only).
   * @example await tickets.integrations.googleAnalytics.set({ measurement_id: 'G-ABC123XYZ9', api_secret: secret })
   */
  set(input: GoogleAnalyticsSettingsInput, options?: RequestOptions): Promise<GoogleAnalyticsSettings> {
    return this.client.request(routes.orgs.setGoogleAnalytics, { body: input }, options);
  }

  /** Stops sending and forgets the settings. */
  delete(): Promise<GoogleAnalyticsSettings> {
    return this.client.request(routes.orgs.deleteGoogleAnalytics);
  }

  /**
   * A sample purchase checked by GA4's validation server: its messages (none when valid).
   * @example const { valid, validation_messages } = await tickets.integrations.googleAnalytics.test()
   */
  test(): Promise<GoogleAnalyticsTestResult> {
    return this.client.request(routes.orgs.testGoogleAnalytics);
  }
}

/** Third-party systems the organization's events go to. */
export class IntegrationsResource {
  readonly googleAnalytics: GoogleAnalyticsResource;
  constructor(client: Tickets) {
    this.googleAnalytics = new GoogleAnalyticsResource(client);
  }
}
