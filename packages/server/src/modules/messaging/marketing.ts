import type {
  Campaign,
  CampaignPreview,
  Contact,
  ContactList,
  ContactListSync,
  Deleted,
  Page,
} from '@tickets/sdk';
import { type Kysely, type Selectable, sql } from 'kysely';
import type { Db } from '../../db/database.js';
import type { CampaignsTable, ContactListsTable, Database, OutboxTable } from '../../db/schema.js';
import type { Principal } from '../../http/app.js';
import { ApiError, conflict, notFound, validationFailed } from '../../http/errors.js';
import { DEFAULT_LIMIT, decodeCursor, newestFirst, toPage, toPageAsync } from '../../http/pagination.js';
import { newId } from '../../ids.js';
import type { SendGridMarketing } from '../../integrations/sendgrid.js';
import { nowIso, toUtc } from '../../time.js';
import { recordAudit } from '../audit/log.js';
import { MERGE_FIELDS, mergeValues, unknownMergeFields } from './merge-fields.js';
import { notifyQueued, queueMessages } from './outbox.js';
import { campaignData } from './render.js';
import { renderEmail } from './templates.js';
import { DeliveryError } from './transport.js';

type ListRow = Selectable<ContactListsTable>;
type CampaignRow = Selectable<CampaignsTable>;
type OutboxRow = Selectable<OutboxTable>;

const CHUNK = 500;

/** The addresses of a list now: buyers of paid orders (opted in, if the list says so) and, unless opted-in only, ticket holders; suppressed addresses left out. */
function contactsQuery(k: Kysely<Database>, list: ListRow) {
  const buyers = k
    .selectFrom('orders')
    .select(['buyer_email as email', 'buyer_name as name', 'marketing_opt_in as opted_in'])
    .where('org_id', '=', list.org_id)
    .where('status', 'in', ['paid', 'partially_refunded'])
    .$if(list.event_id !== null, (q) => q.where('event_id', '=', list.event_id as string))
    .$if(list.opted_in_only === 1, (q) => q.where('marketing_opt_in', '=', 1));
  const everyone =
    list.opted_in_only === 1
      ? buyers
      : buyers.union(
          k
            .selectFrom('tickets')
            .select([
              sql<string>`lower(holder_email)`.as('email'),
              'holder_name as name',
              sql<number>`0`.as('opted_in'),
            ])
            .where('org_id', '=', list.org_id)
            .where('status', '=', 'valid')
            .where('holder_email', 'is not', null)
            .$if(list.event_id !== null, (q) => q.where('event_id', '=', list.event_id as string)),
        );
  return k
    .selectFrom(everyone.as('c'))
    .select([
      'c.email',
      (eb) => eb.fn.min('c.name').as('name'),
      (eb) => eb.fn.max('c.opted_in').as('opted_in'),
    ])
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('suppressions')
            .select('suppressions.address')
            .where('suppressions.org_id', '=', list.org_id)
            .where('suppressions.channel', '=', 'email')
            .whereRef('suppressions.address', '=', 'c.email'),
        ),
      ),
    )
    .groupBy('c.email');
}

/** Contact lists built from attendees, and campaigns sent to them through the outbox. */
export class Marketing {
  constructor(
    private readonly db: Db,
    private readonly sendgrid: SendGridMarketing | null,
  ) {}

  private get k() {
    return this.db.kysely;
  }

  async lists(orgId: string, query: { limit?: number; starting_after?: string }): Promise<Page<ContactList>> {
    const { limit, before } = newestFirst(query);
    const rows = await this.k
      .selectFrom('contact_lists')
      .selectAll()
      .where('org_id', '=', orgId)
      .$if(before !== null, (q) => q.where('id', '<', before as string))
      .orderBy('id', 'desc')
      .limit(limit + 1)
      .execute();
    return toPageAsync(
      rows,
      limit,
      (r) => [r.id],
      (r) => this.listView(r),
    );
  }

  async createList(
    orgId: string,
    input: { name: string; event?: string | null; opted_in_only: boolean },
  ): Promise<ContactList> {
    if (input.event) {
      const event = await this.k
        .selectFrom('events')
        .select('id')
        .where('org_id', '=', orgId)
        .where('id', '=', input.event)
        .executeTakeFirst();
      if (!event) throw notFound('event');
    }
    const row: ListRow = {
      id: newId('contactList'),
      org_id: orgId,
      name: input.name,
      event_id: input.event ?? null,
      opted_in_only: input.opted_in_only ? 1 : 0,
      sendgrid_list_id: null,
      synced_at: null,
      created_at: nowIso(),
    };
    await this.k.insertInto('contact_lists').values(row).execute();
    return this.listView(row);
  }

  async getList(orgId: string, id: string): Promise<ContactList> {
    return this.listView(await this.listRow(orgId, id));
  }

  async deleteList(orgId: string, id: string): Promise<Deleted> {
    await this.listRow(orgId, id);
    const used = await this.k
      .selectFrom('campaigns')
      .select('id')
      .where('list_id', '=', id)
      .executeTakeFirst();
    if (used) throw conflict('list_in_use', `Campaign ${used.id} uses this list; it cannot be deleted.`);
    await this.k.deleteFrom('contact_lists').where('id', '=', id).execute();
    return { id, object: 'contact_list', deleted: true };
  }

  async contacts(
    orgId: string,
    id: string,
    query: { limit?: number; starting_after?: string },
  ): Promise<Page<Contact>> {
    const list = await this.listRow(orgId, id);
    const limit = query.limit ?? DEFAULT_LIMIT;
    const after = query.starting_after ? decodeCursor(query.starting_after, 1) : null;
    const rows = await this.k
      .selectFrom(contactsQuery(this.k, list).as('l'))
      .selectAll()
      .$if(after !== null, (q) => q.where('l.email', '>', String(after?.[0])))
      .orderBy('l.email')
      .limit(limit + 1)
      .execute();
    return toPage(
      rows,
      limit,
      (r) => [r.email],
      (r) => ({
        object: 'contact' as const,
        email: r.email,
        name: r.name ?? '',
        opted_in: Number(r.opted_in) === 1,
      }),
    );
  }

  /** Copies the list to SendGrid Marketing contacts, creating its SendGrid list the first time. */
  async syncList(orgId: string, id: string): Promise<ContactListSync> {
    if (!this.sendgrid)
      throw new ApiError(
        501,
        'provider_not_configured',
        'SendGrid is not set up on this server (SENDGRID_API_KEY).',
      );
    const list = await this.listRow(orgId, id);
    const contacts = await contactsQuery(this.k, list).execute();
    const sendgrid = this.sendgrid;
    // SendGrid refusing or unreachable is a bad gateway here, not our error; the caller may try again.
    const call = async <T>(what: Promise<T>): Promise<T> => {
      try {
        return await what;
      } catch (err) {
        if (err instanceof DeliveryError)
          throw new ApiError(err.retryable ? 503 : 502, 'provider_error', `SendGrid: ${err.message}`);
        throw err;
      }
    };
    let sendgridListId = list.sendgrid_list_id;
    if (!sendgridListId) {
      sendgridListId = (await call(sendgrid.createList(`${list.name} (${list.id})`))).id;
      // Kept at once: a sync that fails after this reuses the list instead of making another.
      await this.k
        .updateTable('contact_lists')
        .set({ sendgrid_list_id: sendgridListId })
        .where('id', '=', id)
        .execute();
    }
    let jobId = '';
    for (let i = 0; i < contacts.length; i += 10_000) {
      const chunk = contacts.slice(i, i + 10_000).map((c) => {
        const [first, ...rest] = (c.name ?? '').split(' ');
        return { email: c.email, first_name: first ?? '', last_name: rest.join(' ') };
      });
      jobId = (await call(sendgrid.upsertContacts(chunk, [sendgridListId]))).jobId;
    }
    await this.k.updateTable('contact_lists').set({ synced_at: nowIso() }).where('id', '=', id).execute();
    return {
      object: 'contact_list_sync',
      list_id: id,
      sendgrid_list_id: sendgridListId,
      contacts: contacts.length,
      job_id: jobId,
    };
  }

  async campaigns(
    orgId: string,
    query: { status?: CampaignRow['status']; limit?: number; starting_after?: string },
  ): Promise<Page<Campaign>> {
    const { limit, before } = newestFirst(query);
    const rows = await this.k
      .selectFrom('campaigns')
      .selectAll()
      .where('org_id', '=', orgId)
      .$if(query.status !== undefined, (q) => q.where('status', '=', query.status as CampaignRow['status']))
      .$if(before !== null, (q) => q.where('id', '<', before as string))
      .orderBy('id', 'desc')
      .limit(limit + 1)
      .execute();
    return toPageAsync(
      rows,
      limit,
      (r) => [r.id],
      (r) => this.campaignView(r),
    );
  }

  async createCampaign(
    orgId: string,
    input: {
      name: string;
      subject: string;
      body: string;
      list: string;
      sendgrid_template_id?: string | null;
      send_at?: string;
    },
  ): Promise<Campaign> {
    await this.listRow(orgId, input.list);
    // A typo in a merge field would go out literally to every recipient: refused here, naming the known ones.
    const unknown = (['subject', 'body'] as const).flatMap((path) =>
      unknownMergeFields(input[path]).map((name) => ({
        path,
        message: `{{${name}}} is not a merge field; use ${Object.keys(MERGE_FIELDS)
          .map((f) => `{{${f}}}`)
          .join(', ')}`,
        code: 'unknown_merge_field',
      })),
    );
    if (unknown.length) throw validationFailed(unknown);
    if (input.send_at && Date.parse(input.send_at) <= Date.now())
      throw new ApiError(422, 'validation_failed', 'send_at must be in the future.', [
        { path: 'send_at', message: 'must be in the future', code: 'in_the_past' },
      ]);
    const now = nowIso();
    const row: CampaignRow = {
      id: newId('campaign'),
      org_id: orgId,
      name: input.name,
      subject: input.subject,
      body: input.body,
      list_id: input.list,
      sendgrid_template_id: input.sendgrid_template_id ?? null,
      status: input.send_at ? 'scheduled' : 'draft',
      send_at: input.send_at ? toUtc(input.send_at) : null,
      sent_at: null,
      created_at: now,
      updated_at: now,
    };
    await this.k.insertInto('campaigns').values(row).execute();
    return this.campaignView(row);
  }

  async getCampaign(orgId: string, id: string): Promise<Campaign> {
    return this.campaignView(await this.campaignRow(orgId, id));
  }

  /** The first contact of a campaign's list (or the one with `email`), whose merge fields a preview or test uses. */
  private async sampleContact(
    campaign: CampaignRow,
    email?: string,
  ): Promise<{ list: ListRow; contact: { email: string; name: string } | null }> {
    const list = await this.listRow(campaign.org_id, campaign.list_id);
    const contact = await contactsQuery(this.k, list)
      .$if(email !== undefined, (q) => q.having('c.email', '=', email!.toLowerCase()))
      .orderBy('c.email')
      .limit(1)
      .executeTakeFirst();
    if (email !== undefined && !contact)
      throw notFound(`contact ${email} on the campaign's list (suppressed addresses are left out)`);
    return { list, contact: contact ? { email: contact.email, name: contact.name ?? '' } : null };
  }

  /** The campaign as one contact of its list will get it. */
  async previewCampaign(
    orgId: string,
    id: string,
    email: string | undefined,
    unsubscribeUrl: (email: string) => Promise<string>,
  ): Promise<CampaignPreview> {
    const campaign = await this.campaignRow(orgId, id);
    const { list, contact } = await this.sampleContact(campaign, email);
    const values = await mergeValues(this.k, orgId, list.event_id, contact ?? { email: '', name: '' });
    const org = await this.k
      .selectFrom('organizations')
      .select('name')
      .where('id', '=', orgId)
      .executeTakeFirstOrThrow();
    const data = campaignData(
      { name: campaign.name, subject: campaign.subject, body: campaign.body, org_name: org.name },
      values,
      await unsubscribeUrl(contact?.email ?? 'preview@example.com'),
    );
    const { subject, text, html } = renderEmail('campaign', data);
    return {
      object: 'campaign_preview',
      campaign_id: id,
      as: contact,
      merge_fields: values,
      subject,
      text,
      html,
    };
  }

  /** Sends the campaign once to `to`, marked [Test] and merged as its list's first contact; not in its totals. */
  async testCampaign(orgId: string, id: string, to: string): Promise<OutboxRow> {
    const campaign = await this.campaignRow(orgId, id);
    const { list, contact } = await this.sampleContact(campaign);
    const [messageId] = await queueMessages(this.k, orgId, [
      {
        template: 'campaign',
        channel: 'email',
        recipient: to,
        eventId: list.event_id,
        payload: {
          test_of: campaign.id,
          name: contact?.name ?? '',
          ...(contact ? { as_email: contact.email, as_name: contact.name } : {}),
        },
      },
    ]);
    notifyQueued(this.db);
    return this.k.selectFrom('outbox').selectAll().where('id', '=', messageId!).executeTakeFirstOrThrow();
  }

  /** Queues one message per address on the list now; a campaign is sent once (the status change is conditional). */
  async sendCampaign(by: Principal, id: string): Promise<Campaign> {
    const orgId = by.orgId;
    const campaign = await this.campaignRow(orgId, id);
    if (campaign.status !== 'draft' && campaign.status !== 'scheduled')
      throw conflict(
        'campaign_not_sendable',
        `Only draft or scheduled campaigns can be sent; this one is ${campaign.status}.`,
      );
    await this.queueCampaign(campaign, by);
    notifyQueued(this.db);
    return this.getCampaign(orgId, id);
  }

  /** `by`: who sent it now; null for a scheduled campaign the worker sends (recorded as the system's). */
  private async queueCampaign(campaign: CampaignRow, by: Principal | null): Promise<boolean> {
    const list = await this.k
      .selectFrom('contact_lists')
      .selectAll()
      .where('id', '=', campaign.list_id)
      .executeTakeFirstOrThrow();
    return this.k.transaction().execute(async (trx) => {
      const now = nowIso();
      const claimed = await trx
        .updateTable('campaigns')
        .set({ status: 'sent', sent_at: now, updated_at: now })
        .where('id', '=', campaign.id)
        .where('status', '=', campaign.status)
        .executeTakeFirst();
      if (!claimed.numUpdatedRows) return false;
      const contacts = await contactsQuery(trx, list).execute();
      for (let i = 0; i < contacts.length; i += CHUNK)
        await queueMessages(
          trx,
          campaign.org_id,
          contacts.slice(i, i + CHUNK).map((c) => ({
            template: 'campaign' as const,
            channel: 'email' as const,
            recipient: c.email,
            eventId: list.event_id,
            campaignId: campaign.id,
            payload: { name: c.name },
          })),
        );
      await recordAudit(trx, {
        orgId: campaign.org_id,
        by,
        action: 'campaign.sent',
        subject: campaign.id,
        before: { status: campaign.status },
        after: { status: 'sent' },
        data: {
          recipients: contacts.length,
          template: campaign.sendgrid_template_id ?? 'campaign',
          list_id: campaign.list_id,
          subject: campaign.subject,
        },
      });
      return true;
    });
  }

  /** Scheduled campaigns whose time has come (the worker calls this); each is queued once across workers. */
  async sendDue(): Promise<number> {
    const due = await this.k
      .selectFrom('campaigns')
      .selectAll()
      .where('status', '=', 'scheduled')
      .where('send_at', '<=', nowIso())
      .limit(10)
      .execute();
    let sent = 0;
    for (const campaign of due) if (await this.queueCampaign(campaign, null)) sent++;
    return sent;
  }

  /** Cancels a draft or scheduled campaign, or the messages of a sent one that have not gone out yet. */
  async cancelCampaign(orgId: string, id: string): Promise<Campaign> {
    const campaign = await this.campaignRow(orgId, id);
    const now = nowIso();
    if (campaign.status === 'draft' || campaign.status === 'scheduled') {
      const res = await this.k
        .updateTable('campaigns')
        .set({ status: 'cancelled', updated_at: now })
        .where('id', '=', id)
        .where('status', '=', campaign.status)
        .executeTakeFirst();
      if (!res.numUpdatedRows)
        throw conflict('campaign_changed', 'The campaign changed meanwhile; look at it again.');
      return this.getCampaign(orgId, id);
    }
    if (campaign.status !== 'sent')
      throw conflict('campaign_not_cancellable', `The campaign is ${campaign.status}.`);
    const pending = await this.k
      .updateTable('outbox')
      .set({ status: 'cancelled', updated_at: now, last_error: 'campaign cancelled' })
      .where('campaign_id', '=', id)
      .where('status', '=', 'queued')
      .executeTakeFirst();
    if (!Number(pending.numUpdatedRows))
      throw conflict('campaign_not_cancellable', 'Every message of this campaign has been sent already.');
    await this.k
      .updateTable('campaigns')
      .set({ status: 'cancelled', updated_at: now })
      .where('id', '=', id)
      .execute();
    return this.getCampaign(orgId, id);
  }

  private async listRow(orgId: string, id: string): Promise<ListRow> {
    const row = await this.k
      .selectFrom('contact_lists')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) throw notFound('contact list');
    return row;
  }

  private async campaignRow(orgId: string, id: string): Promise<CampaignRow> {
    const row = await this.k
      .selectFrom('campaigns')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) throw notFound('campaign');
    return row;
  }

  private async listView(r: ListRow): Promise<ContactList> {
    const { n } = await this.k
      .selectFrom(contactsQuery(this.k, r).as('l'))
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return {
      id: r.id,
      object: 'contact_list',
      name: r.name,
      event_id: r.event_id,
      opted_in_only: r.opted_in_only === 1,
      contacts: Number(n),
      sendgrid_list_id: r.sendgrid_list_id,
      synced_at: r.synced_at,
      created_at: r.created_at,
    };
  }

  private async campaignView(r: CampaignRow): Promise<Campaign> {
    const counts = await this.k
      .selectFrom('outbox')
      .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
      .where('campaign_id', '=', r.id)
      .groupBy('status')
      .execute();
    return {
      id: r.id,
      object: 'campaign',
      name: r.name,
      subject: r.subject,
      body: r.body,
      list_id: r.list_id,
      sendgrid_template_id: r.sendgrid_template_id,
      status: r.status,
      send_at: r.send_at,
      sent_at: r.sent_at,
      totals: Object.fromEntries(counts.map((c) => [c.status, Number(c.n)])),
      created_at: r.created_at,
      updated_at: r.updated_at,
    };
  }
}
