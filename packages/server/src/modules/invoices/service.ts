import type { BillingDetails, BillingDetailsInput } from '@tickets/sdk';
import type { Updateable } from 'kysely';
import type { z } from 'zod';
import type { Db } from '../../db/database.js';
import type { OrganizationRow, OrganizationsTable } from '../../db/schema.js';
import { notFound } from '../../http/errors.js';
import { invoicePdf } from '../../render/pool.js';
import type { InvoiceDocument } from './documents.js';

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
        .where('kind', '=', 'invoice')
        .where('document', 'like', '%"address_line1":null%')
        .executeTakeFirstOrThrow(),
    ]);
    return billingView(org, Number(missing.n));
  }

  async updateBilling(orgId: string, patch: BillingPatch): Promise<BillingDetails> {
    const changes: Updateable<OrganizationsTable> = {};
    for (const f of FIELDS) if (patch[f] !== undefined) Object.assign(changes, { [f]: patch[f] });
    if (Object.keys(changes).length)
      await this.k.updateTable('organizations').set(changes).where('id', '=', orgId).execute();
    return this.billing(orgId);
  }

  private async pdf(
    orgId: string,
    where: { column: 'order_id' | 'refund_id'; id: string },
    what: string,
  ): Promise<{ number: string; pdf: Buffer }> {
    const row = await this.k
      .selectFrom('invoices')
      .selectAll()
      .where('org_id', '=', orgId)
      .where(where.column, '=', where.id)
      .where('kind', '=', where.column === 'order_id' ? 'invoice' : 'credit_note')
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

  creditNotePdf(orgId: string, refundId: string) {
    return this.pdf(orgId, { column: 'refund_id', id: refundId }, 'credit note for this refund');
  }
}
