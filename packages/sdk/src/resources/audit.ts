import type { RequestOptions, Tickets } from '../client.js';
import type { AuditEntry, AuditListQuery, Feedback, FeedbackInput } from '../contract/audit.js';
import { routes } from '../contract/routes.js';
import { AutoPaginator } from '../pagination.js';

export type AuditListParams = Omit<AuditListQuery, 'starting_after'>;

/** The organization's audit log: who did what, when, from where (owners and admins; read-only). */
export class AuditResource {
  constructor(private readonly client: Tickets) {}

  /**
   * Entries newest first; filter by actor (usr_…/key_…), action (`refund.created`, or a prefix like
   * `refund.`), target id, and time.
   * @example for await (const e of tickets.audit.list({ action: 'refund.' })) console.log(e.created_at, e.actor.id, e.action)
   */
  list(params: AuditListParams = {}): AutoPaginator<AuditEntry> {
    return new AutoPaginator((cursor) =>
      this.client.request(routes.audit.list, { query: { ...params, starting_after: cursor } }),
    );
  }
}

/** Feedback to whoever runs the server (kept, and sent to their Sentry when they use it). */
export class FeedbackResource {
  constructor(private readonly client: Tickets) {}

  /**
   * Sends a report; name the `request_id` of a request that failed to link it to that error.
   * @example await tickets.feedback.send({ message: 'Checkout froze', request_id: err.requestId })
   */
  send(input: FeedbackInput, options?: RequestOptions): Promise<Feedback> {
    return this.client.request(routes.feedback.send, { body: input }, options);
  }
}
