import { z } from 'zod';
import { EventId, ID_PREFIXES, idOf, ListQuery, Money, Timestamp } from './common.js';
import { OrderId, RefundId } from './orders.js';

const COUNTRIES = new Intl.DisplayNames(['en'], { type: 'region', fallback: 'none' });

export const CountryCode = z
  .string()
  .regex(/^[A-Za-z]{2}$/, 'must be an ISO 3166-1 alpha-2 country code')
  .transform((c) => c.toUpperCase())
  .refine((c) => COUNTRIES.of(c) !== undefined, 'is not an ISO 3166-1 country code')
  .meta({ example: 'DE' });

/**
 * A VAT or tax id, checked loosely: a two-letter country prefix, then letters and digits with at least
 * one digit (DE123456789, ATU12345678, CHE123456789MWST). Spaces, dots and hyphens are dropped.
 */
export const VatId = z
  .string()
  .transform((v) => v.replace(/[\s.-]/g, '').toUpperCase())
  .refine(
    (v) => /^[A-Z]{2}(?=[A-Z0-9]*\d)[A-Z0-9]{2,14}$/.test(v),
    'must be a VAT id: a two-letter country prefix, then letters and digits (e.g. DE123456789)',
  )
  .meta({ example: 'DE123456789' });

/** Tax rate in basis points: 1900 is 19 %. Prices include it. */
export const TaxRate = z.number().int().min(0).max(10_000).meta({ example: 1900 });

export const InvoicePrefix = z
  .string()
  .regex(/^[A-Za-z0-9]{1,10}$/, 'must be 1 to 10 letters or digits')
  .transform((p) => p.toUpperCase())
  .meta({ example: 'INV' });

export const BillingDetails = z
  .object({
    object: z.literal('billing_details'),
    legal_name: z
      .string()
      .nullable()
      .describe("The seller's name on invoices; the organization's name when null"),
    address_line1: z.string().nullable(),
    address_line2: z.string().nullable(),
    postcode: z.string().nullable(),
    city: z.string().nullable(),
    country: z.string().nullable(),
    vat_id: z.string().nullable(),
    invoice_prefix: z
      .string()
      .describe(
        'Invoices are numbered PREFIX-YEAR-NNNNNN and credit notes PREFIX-CN-YEAR-NNNNNN, each series gapless per year',
      ),
    default_tax_rate: z
      .number()
      .int()
      .describe('Basis points (1900 = 19 %) given to ticket types created without a tax_rate'),
    invoices_without_address: z
      .number()
      .int()
      .describe(
        "Invoices issued while the seller's address was not set, not yet re-issued: they name no seller address (an invoice is never changed once issued; POST /api/invoices/reissue cancels and replaces them)",
      ),
  })
  .meta({ id: 'BillingDetails' });
export type BillingDetails = z.output<typeof BillingDetails>;

const text = (max: number) => z.string().trim().min(1).max(max);

/** PUT merges: fields left out keep their value; null clears one. */
export const BillingDetailsInput = z.strictObject({
  legal_name: text(200).nullish(),
  address_line1: text(200).nullish(),
  address_line2: text(200).nullish(),
  postcode: text(20).nullish(),
  city: text(100).nullish(),
  country: CountryCode.nullish(),
  vat_id: VatId.nullish(),
  invoice_prefix: InvoicePrefix.optional().describe(
    'Changes the prefix of numbers issued from now on; the numbering itself carries on',
  ),
  default_tax_rate: TaxRate.optional().describe(
    'Basis points, 0 to 10000, for ticket types created from now on without a rate; existing types keep theirs',
  ),
});
export type BillingDetailsInput = z.input<typeof BillingDetailsInput>;

export const InvoiceParams = z.object({ id: OrderId });
export const CreditNoteParams = z.object({ id: RefundId });

/** The bytes of a PDF, for routes that declare `produces: 'application/pdf'`. */
export const PdfBytes = z.instanceof(Uint8Array);

/** A paid order whose invoice could not be issued; the server retries it every few seconds. */
export const InvoiceFailure = z
  .object({
    object: z.literal('invoice_failure'),
    order_id: OrderId,
    event_id: EventId,
    buyer_email: z.string(),
    total: Money,
    paid_at: Timestamp.nullable(),
    error: z.string().describe('Why the last attempt failed'),
  })
  .meta({ id: 'InvoiceFailure' });
export type InvoiceFailure = z.output<typeof InvoiceFailure>;

export const InvoiceId = idOf(ID_PREFIXES.invoice);

/** An invoice or a credit note, as issued: what it says is fixed; only `cancelled_by` is ever set later. */
export const Invoice = z
  .object({
    object: z.literal('invoice'),
    id: InvoiceId,
    kind: z.enum(['invoice', 'credit_note']),
    number: z.string().meta({ example: 'INV-2026-000123' }),
    order_id: OrderId,
    refund_id: RefundId.nullable().describe("A credit note's refund (null for one that cancels an invoice)"),
    corrects: z
      .string()
      .nullable()
      .describe('A credit note: the number of the invoice it corrects or cancels'),
    replaces: z.string().nullable().describe('A re-issued invoice: the number of the invoice it replaces'),
    cancelled_by: z
      .string()
      .nullable()
      .describe('An invoice cancelled to be re-issued: the number of the credit note that cancels it'),
    net: Money,
    tax: Money,
    total: Money.describe('Gross: what the buyer paid, tax included'),
    issued_at: Timestamp,
  })
  .meta({ id: 'Invoice' });
export type Invoice = z.output<typeof Invoice>;

export const InvoiceListQuery = ListQuery.extend({
  order: OrderId.optional().describe("Only this order's documents"),
  kind: z.enum(['invoice', 'credit_note']).optional(),
});
export type InvoiceListQuery = z.input<typeof InvoiceListQuery>;

export const InvoiceDocumentParams = z.object({ id: InvoiceId });

export const ReissueInput = z.strictObject({
  limit: z
    .number()
    .int()
    .min(1)
    .max(500)
    .optional()
    .describe('At most this many invoices in one call (default 100); has_more says when more are left'),
});
export type ReissueInput = z.input<typeof ReissueInput>;

/** One re-issue: the invoice cancelled, the credit note that cancels it, and its replacement. */
export const ReissuedInvoice = z.object({
  order_id: OrderId,
  cancelled: z.string().meta({ example: 'INV-2026-000007' }),
  credit_note: z.string().meta({ example: 'INV-CN-2026-000003' }),
  invoice: z.string().meta({ example: 'INV-2026-000131' }),
});

export const InvoiceReissue = z
  .object({
    object: z.literal('invoice_reissue'),
    reissued: z.array(ReissuedInvoice),
    has_more: z.boolean().describe('More invoices without the seller address are left: call again'),
  })
  .meta({ id: 'InvoiceReissue' });
export type InvoiceReissue = z.output<typeof InvoiceReissue>;
