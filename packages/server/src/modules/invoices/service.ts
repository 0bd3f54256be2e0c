import type { BillingDetails, BillingDetailsInput, Invoice, InvoiceReissue, Page } from '@tickets/sdk';
import { type ExpressionBuilder, type Selectable, sql, type Updateable } from 'kysely';
import type { z } from 'zod';
import { type Db, saleTransaction } from '../../db/database.js';
import type { Database, InvoicesTable, OrganizationRow, OrganizationsTable } from '../../db/schema.js';
import type { Principal } from '../../http/app.js';
import { conflict, notFound } from '../../http/errors.js';
import { newestFirst, toPage } from '../../http/pagination.js';
import { invoicePdf } from '../../render/pool.js';
import { changed, recordAudit } from '../audit/log.js';
import type { InvoiceDocument } from './documents.js';
import { type Reissued, reissueInvoice } from './ledger.js';

type BillingPatch = z.output<typeof BillingDetailsInput>;

const FIELDS = [
  'legal_name',
  'address_line1',
  'address_line2',
  'postcode',
  'city',
  'country',
  'vat_id',
  'invoice_prefix',
  'default_tax_rate',
] as const;

/**
 * Invoices that stand (not cancelled by a re-issue) yet name no seller address, with something left
 * that credit notes have not already taken back: what re-issuing corrects.
 */
const withoutAddress = (eb: ExpressionBuilder<Database, 'invoices'>) =>
  eb.and([
    eb('invoices.kind', '=', 'invoice'),
    eb('invoices.cancelled_by', 'is', null),
    eb('invoices.document', 'like', '%"address_line1":null%'),
    eb(
      'invoices.gross_amount',
      '>',
      eb
        .selectFrom('invoices as cn')
        .select(sql<number>`coalesce(sum(cn.gross_amount), 0)`.as('credited'))
        .whereRef('cn.invoice_id', '=', 'invoices.id')
        .where('cn.kind', '=', 'credit_note'),
    ),
  ]);

function invoiceView(r: Selectable<InvoicesTable>, numbers: Map<string, string>): Invoice {
  const d = JSON.parse(r.document) as InvoiceDocument;
  const money = (amount: number) => ({ amount, currency: r.currency });
  return {
    object: 'invoice',
    id: r.id,
    kind: r.kind,
    number: r.number,
    order_id: r.order_id,
    refund_id: r.refund_id,
    corrects: d.corrects?.number ?? null,
    replaces: d.replaces?.number ?? null,
    cancelled_by: r.cancelled_by ? (numbers.get(r.cancelled_by) ?? null) : null,
    net: money(r.net_amount),
    tax: money(r.tax_amount),
    total: money(r.gross_amount),
    issued_at: r.issued_at,
  };
}

function billingView(o: OrganizationRow, invoicesWithoutAddress: number): BillingDetails {
  return {
    object: 'billing_details',
    legal_name: o.legal_name,
    address_line1: o.address_line1,
    address_line2: o.address_line2,
    postcode: o.postcode,
    city: o.city,
    country: o.country,
    vat_id: o.vat_id,
    invoice_prefix: o.invoice_prefix,
    default_tax_rate: o.default_tax_rate,
    invoices_without_address: invoicesWithoutAddress,
  };
}

/** Billing details, and the PDFs of issued invoices and credit notes (issuing is in ledger.ts). */
export class Invoices {
  constructor(private readonly db: Db) {}

  private get k() {
    return this.db.kysely;
  }

  private async org(orgId: string): Promise<OrganizationRow> {
    return this.k.selectFrom('organizations').selectAll().where('id', '=', orgId).executeTakeFirstOrThrow();
  }

  async billing(orgId: string): Promise<BillingDetails> {
    // An invoice's document is fixed when it is issued: one issued before the address was given says none.
    const [org, missing] = await Promise.all([
      this.org(orgId),
      this.k
        .selectFrom('invoices')
        .select((eb) => eb.fn.countAll<number | string>().as('n'))
        .where('org_id', '=', orgId)
        .where(withoutAddress)
        .executeTakeFirstOrThrow(),
    ]);
    return billingView(org, Number(missing.n));
  }

  async updateBilling(by: Principal, patch: BillingPatch): Promise<BillingDetails> {
    const orgId = by.orgId;
    const changes: Updateable<OrganizationsTable> = {};
    for (const f of FIELDS) if (patch[f] !== undefined) Object.assign(changes, { [f]: patch[f] });
    if (Object.keys(changes).length)
      await this.k.transaction().execute(async (trx) => {
        const current = await trx
          .selectFrom('organizations')
          .select([...FIELDS])
          .where('id', '=', orgId)
          .executeTakeFirstOrThrow();
        await trx.updateTable('organizations').set(changes).where('id', '=', orgId).execute();
        const diff = changed(current, changes as Partial<typeof current>);
        if (diff) await recordAudit(trx, { orgId, by, action: 'billing.updated', subject: orgId, ...diff });
      });
    return this.billing(orgId);
  }

  /**
   * Re-issues, one transaction each, up to `limit` of the invoices issued without the seller's address
   * (oldest first). Each takes two numbers from the series, so sales of the organization wait for one
   * re-issue at a time, not for all of them.
   */
  async reissue(orgId: string, by: Principal | null, input: { limit?: number }): Promise<InvoiceReissue> {
    const org = await this.org(orgId);
    const missing = (['address_line1', 'city', 'country'] as const).filter((f) => !org[f]);
    if (missing.length)
      throw conflict(
        'billing_incomplete',
        `Set the seller's address first (missing: ${missing.join(', ')}); re-issued invoices would lack it too.`,
      );
    const limit = input.limit ?? 100;
    const candidates = await this.k
      .selectFrom('invoices')
      .select('id')
      .where('org_id', '=', orgId)
      .where(withoutAddress)
      .orderBy('id')
      .limit(limit + 1)
      .execute();
    const reissued: Reissued[] = [];
    for (const { id } of candidates.slice(0, limit)) {
      const done = await saleTransaction(this.db, async (trx) => {
        const r = await reissueInvoice(trx, orgId, id);
        if (r)
          await recordAudit(trx, {
            orgId,
            by,
            action: 'invoice.reissued',
            subject: r.order_id,
            data: { ...r },
          });
        return r;
      });
      if (done) reissued.push(done);
    }
    return { object: 'invoice_reissue', reissued, has_more: candidates.length > limit };
  }

  /** Invoices and credit notes, newest first. */
  async list(
    orgId: string,
    query: { order?: string; kind?: 'invoice' | 'credit_note'; limit?: number; starting_after?: string },
  ): Promise<Page<Invoice>> {
    const { limit, before } = newestFirst(query);
    const rows = await this.k
      .selectFrom('invoices')
      .selectAll()
      .where('org_id', '=', orgId)
      .$if(query.order !== undefined, (q) => q.where('order_id', '=', query.order!))
      .$if(query.kind !== undefined, (q) => q.where('kind', '=', query.kind!))
      .$if(before !== null, (q) => q.where('id', '<', before!))
      .orderBy('id', 'desc')
      .limit(limit + 1)
      .execute();
    const cancelling = [...new Set(rows.flatMap((r) => (r.cancelled_by ? [r.cancelled_by] : [])))];
    const numbers = new Map(
      cancelling.length
        ? (
            await this.k
              .selectFrom('invoices')
              .select(['id', 'number'])
              .where('id', 'in', cancelling)
              .execute()
          ).map((r) => [r.id, r.number])
        : [],
    );
    return toPage(
      rows,
      limit,
      (r) => [r.id],
      (r) => invoiceView(r, numbers),
    );
  }

  private async pdf(
    orgId: string,
    where: { column: 'order_id' | 'refund_id' | 'id'; id: string },
    what: string,
  ): Promise<{ number: string; pdf: Buffer }> {
    const row = await this.k
      .selectFrom('invoices')
      .selectAll()
      .where('org_id', '=', orgId)
      .where(where.column, '=', where.id)
      // An order's invoice is the one that stands; a document asked for by id may be a cancelled one.
      .$if(where.column === 'order_id', (q) =>
        q.where('kind', '=', 'invoice').where('cancelled_by', 'is', null),
      )
      .$if(where.column === 'refund_id', (q) => q.where('kind', '=', 'credit_note'))
      .executeTakeFirst();
    if (!row) throw notFound(what);
    const pdf = await invoicePdf({
      kind: row.kind,
      number: row.number,
      issued_at: row.issued_at,
      document: JSON.parse(row.document) as InvoiceDocument,
    });
    return { number: row.number, pdf };
  }

  /** 404 for an order of another organization, and for one not invoiced (not paid yet, or free). */
  invoicePdf(orgId: string, orderId: string) {
    return this.pdf(orgId, { column: 'order_id', id: orderId }, 'invoice for this order');
  }

  documentPdf(orgId: string, invoiceId: string) {
    return this.pdf(orgId, { column: 'id', id: invoiceId }, 'invoice or credit note');
  }

  creditNotePdf(orgId: string, refundId: string) {
    return this.pdf(orgId, { column: 'refund_id', id: refundId }, 'credit note for this refund');
  }
}
