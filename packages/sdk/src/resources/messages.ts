import type { RequestOptions, Tickets } from '../client.js';
import type {
  Channel,
  Message,
  MessageListQuery,
  Suppression,
  Template,
  TemplateName,
  TemplatePreview,
  TemplateUpdateInput,
} from '../contract/messages.js';
import { routes } from '../contract/routes.js';
import { AutoPaginator } from '../pagination.js';
import type { ListParams } from './orgs.js';

export type MessageListParams = Omit<MessageListQuery, 'starting_after'>;

export interface SuppressionListParams extends ListParams {
  channel?: Channel;
}

/** The built-in templates, rendered as they would be sent, and the SendGrid template each may use instead. */
export class MessageTemplatesResource {
  constructor(private readonly client: Tickets) {}

  /** Every template, with this organization's SendGrid dynamic template id (or null). @example const templates = await tickets.messages.templates.list() */
  async list(): Promise<Template[]> {
    const page = await this.client.request(routes.messages.templates);
    return page.data;
  }

  /**
   * Sends a template through a SendGrid dynamic template (`d-` and 32 hex digits); null goes back to the built-in one.
   * @example await tickets.messages.templates.update('order_confirmation', { sendgrid_template_id: 'd-…' })
   */
  update(name: TemplateName, input: TemplateUpdateInput, options?: RequestOptions): Promise<Template> {
    return this.client.request(routes.messages.updateTemplate, { params: { name }, body: input }, options);
  }

  /**
   * A template rendered with sample data, exactly as it would be sent (by e-mail unless `channel` says otherwise).
   * @example const { subject, text, html } = await tickets.messages.templates.preview('order_confirmation')
   */
  preview(name: TemplateName, query: { channel?: Channel } = {}): Promise<TemplatePreview> {
    return this.client.request(routes.messages.preview, { params: { name }, query });
  }
}

/** Addresses not written to: bounced, complained, unsubscribed or opted out. */
export class SuppressionsResource {
  constructor(private readonly client: Tickets) {}

  /** Newest first. @example for await (const s of tickets.messages.suppressions.list({ channel: 'email' })) console.log(s.address) */
  list(params: SuppressionListParams = {}): AutoPaginator<Suppression> {
    return new AutoPaginator((cursor) =>
      this.client.request(routes.messages.suppressions, { query: { ...params, starting_after: cursor } }),
    );
  }
}

/**
 * Messages to buyers and attendees (e-mail, WhatsApp): each is queued when something happens (a paid order, a
 * refund, a transfer…) and sent by the server's worker; its status follows the provider's reports.
 */
export class MessagesResource {
  readonly templates: MessageTemplatesResource;
  readonly suppressions: SuppressionsResource;

  constructor(private readonly client: Tickets) {
    this.templates = new MessageTemplatesResource(client);
    this.suppressions = new SuppressionsResource(client);
  }

  /** Messages, newest first. @example for await (const m of tickets.messages.list({ order: 'ord_…', status: 'failed' })) … */
  list(params: MessageListParams = {}): AutoPaginator<Message> {
    return new AutoPaginator((cursor) =>
      this.client.request(routes.messages.list, { query: { ...params, starting_after: cursor } }),
    );
  }

  /** One message with its status history, oldest first. @example const { history } = await tickets.messages.get('msg_…') */
  get(id: string): Promise<Message> {
    return this.client.request(routes.messages.get, { params: { id } });
  }

  /**
   * Sends a failed, dead, bounced, suppressed or cancelled message again, its attempts starting over
   * (ConflictError `message_not_retryable` for any other).
   * @example await tickets.messages.retry('msg_…')
   */
  retry(id: string, options?: RequestOptions): Promise<Message> {
    return this.client.request(routes.messages.retry, { params: { id } }, options);
  }
}
