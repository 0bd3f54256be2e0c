import type { RequestOptions, Tickets } from '../client.js';
import type { Deleted } from '../contract/common.js';
import type {
  Campaign,
  CampaignCreateInput,
  CampaignPreview,
  CampaignPreviewQuery,
  CampaignStatus,
  CampaignTestInput,
  Contact,
  ContactList,
  ContactListCreateInput,
  ContactListSync,
  Message,
} from '../contract/messages.js';
import { routes } from '../contract/routes.js';
import { AutoPaginator } from '../pagination.js';
import type { MessageListParams } from './messages.js';
import type { ListParams } from './orgs.js';

export interface CampaignListParams extends ListParams {
  status?: CampaignStatus;
}

export type CampaignRecipientParams = Omit<MessageListParams, 'campaign'>;

/** Contact lists built from attendees: one event's or every event's, opted-in buyers only unless asked. */
export class ContactListsResource {
  constructor(private readonly client: Tickets) {}

  /** Every contact list. @example for await (const l of tickets.lists.list()) console.log(l.name, l.contacts) */
  list(params: ListParams = {}): AutoPaginator<ContactList> {
    return new AutoPaginator((cursor) =>
      this.client.request(routes.marketing.lists, { query: { ...params, starting_after: cursor } }),
    );
  }

  /**
   * A list of one event's attendees (or, without `event`, of every event's); only buyers who opted in to
   * marketing e-mail unless `opted_in_only` is false.
   * @example const list = await tickets.lists.create({ name: 'Jazz fans', event: 'evt_…' })
   */
  create(input: ContactListCreateInput, options?: RequestOptions): Promise<ContactList> {
    return this.client.request(routes.marketing.createList, { body: input }, options);
  }

  /** One list, with how many addresses it has now. @example const { contacts } = await tickets.lists.get('lst_…') */
  get(id: string): Promise<ContactList> {
    return this.client.request(routes.marketing.getList, { params: { id } });
  }

  /** Deletes a list no campaign uses (ConflictError otherwise). @example await tickets.lists.delete('lst_…') */
  delete(id: string): Promise<Deleted> {
    return this.client.request(routes.marketing.deleteList, { params: { id } });
  }

  /** A list's addresses now, suppressed ones left out. @example for await (const c of tickets.lists.contacts('lst_…')) console.log(c.email) */
  contacts(id: string, params: ListParams = {}): AutoPaginator<Contact> {
    return new AutoPaginator((cursor) =>
      this.client.request(routes.marketing.contacts, {
        params: { id },
        query: { ...params, starting_after: cursor },
      }),
    );
  }

  /**
   * Copies the list to SendGrid Marketing contacts, creating the SendGrid list the first time
   * (`provider_not_configured`, 501, when the server has no SendGrid key).
   * @example const { job_id } = await tickets.lists.sync('lst_…')
   */
  sync(id: string, options?: RequestOptions): Promise<ContactListSync> {
    return this.client.request(routes.marketing.syncList, { params: { id } }, options);
  }
}

/** Campaigns: one e-mail to every address on a contact list, sent through the server's outbox. */
export class CampaignsResource {
  constructor(private readonly client: Tickets) {}

  /** Newest first. @example for await (const c of tickets.campaigns.list({ status: 'sent' })) console.log(c.name, c.totals) */
  list(params: CampaignListParams = {}): AutoPaginator<Campaign> {
    return new AutoPaginator((cursor) =>
      this.client.request(routes.marketing.campaigns, { query: { ...params, starting_after: cursor } }),
    );
  }

  /**
   * A draft, or with `send_at` a scheduled campaign that goes out by itself at that time.
   * @example const c = await tickets.campaigns.create({ name: 'Spring', subject: 'New dates', body: 'Hello…', list: 'lst_…' })
   */
  create(input: CampaignCreateInput, options?: RequestOptions): Promise<Campaign> {
    return this.client.request(routes.marketing.createCampaign, { body: input }, options);
  }

  /** One campaign, with its recipients counted by message status. @example const { totals } = await tickets.campaigns.get('cmp_…') */
  get(id: string): Promise<Campaign> {
    return this.client.request(routes.marketing.getCampaign, { params: { id } });
  }

  /**
   * The campaign as one contact of its list will get it (its first, or `email`): merge fields filled in.
   * @example const { subject, text } = await tickets.campaigns.preview('cmp_…')
   */
  preview(id: string, params: CampaignPreviewQuery = {}): Promise<CampaignPreview> {
    return this.client.request(routes.marketing.previewCampaign, { params: { id }, query: params });
  }

  /**
   * Sends the campaign once to you (or `email`), marked [Test]; it is not counted in the campaign's totals.
   * @example await tickets.campaigns.test('cmp_…', { email: 'me@example.com' })
   */
  test(id: string, input: CampaignTestInput = {}, options?: RequestOptions): Promise<Message> {
    return this.client.request(routes.marketing.testCampaign, { params: { id }, body: input }, options);
  }

  /** Queues one message per address on its list now, at once. @example await tickets.campaigns.send('cmp_…') */
  send(id: string, options?: RequestOptions): Promise<Campaign> {
    return this.client.request(routes.marketing.sendCampaign, { params: { id } }, options);
  }

  /**
   * Cancels a draft or scheduled campaign, or the unsent messages of a sending one (ConflictError once sent).
   * @example await tickets.campaigns.cancel('cmp_…')
   */
  cancel(id: string, options?: RequestOptions): Promise<Campaign> {
    return this.client.request(routes.marketing.cancelCampaign, { params: { id } }, options);
  }

  /** The campaign's messages, one per recipient, newest first. @example for await (const m of tickets.campaigns.recipients('cmp_…', { status: 'bounced' })) … */
  recipients(id: string, params: CampaignRecipientParams = {}): AutoPaginator<Message> {
    return this.client.messages.list({ ...params, campaign: id });
  }
}
