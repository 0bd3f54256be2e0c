import type { RequestOptions, Tickets } from '../client.js';

import type {
  BillingDetails,
  BillingDetailsInput,
  Invoice,
  InvoiceFailure,
  InvoiceListQuery,
  InvoiceReissue,
  ReissueInput,
} from '../contract/invoices.js';
import type { RouteDef } from '../contract/routes.js';
import { routes } from '../contract/routes.js';
import { AutoPaginator } from '../pagination.js';

/** Billing details, and the PDFs of invoices (one per paid order) and credit notes (one per refund of one). */
export class InvoicesResource {
  constructor(private readonly client: Tickets) {}

  /** The seller's details as invoices show them. @example const { legal_name, invoice_prefix } = await tickets.invoices.getBilling() */
  getBilling(): Promise<BillingDetails> {
    return this.client.request(routes.invoices.getBilling);
  }

  /**
   * Changes the given fields (null clears one); invoices already issued keep what they said.
   * @example await tickets.invoices.updateBilling({ legal_name: 'Blue Note Events GmbH', country: 'DE', vat_id: 'DE123456789' })
   */
  updateBilling(input: BillingDetailsInput, options?: RequestOptions): Promise<BillingDetails> {
    return this.client.request(routes.invoices.updateBilling, { body: input }, options);
  }

  /**
   * A paid order's invoice as PDF bytes (NotFoundError until it is paid).
   * @example writeFileSync(`${order.invoice_number}.pdf`, await tickets.invoices.download(order.id))
   */
  download(orderId: string): Promise<Buffer> {
    return this.pdf(routes.invoices.invoicePdf, orderId);
  }

  /**
   * A refund's credit note as PDF bytes (NotFoundError when the refunded order had no invoice).
   * @example writeFileSync(`${refund.credit_note_number}.pdf`, await tickets.invoices.creditNote(refund.id))
   */
  creditNote(refundId: string): Promise<Buffer> {
    return this.pdf(routes.invoices.creditNotePdf, refundId);
  }

  /**
   * Invoices and credit notes, newest first (every document of an order with `order`, re-issues included).
   * @example for await (const doc of tickets.invoices.list({ order: order.id })) console.log(doc.number, doc.kind)
   */
  list(params: Omit<InvoiceListQuery, 'starting_after'> = {}): AutoPaginator<Invoice> {
    return new AutoPaginator((cursor) =>
      this.client.request(routes.invoices.list, { query: { ...params, starting_after: cursor } }),
    );
  }

  /**
   * Any invoice or credit note as PDF bytes, by its id (`invc_…`), including cancelled ones.
   * @example writeFileSync(`${doc.number}.pdf`, await tickets.invoices.downloadDocument(doc.id))
   */
  downloadDocument(invoiceId: string): Promise<Buffer> {
    return this.pdf(routes.invoices.documentPdf, invoiceId);
  }

  /**
   * Re-issues invoices that were issued without the seller's address (see getBilling's
   * `invoices_without_address`): a credit note cancels each and a new invoice, numbered next, replaces it.
   * Call again while `has_more`. Answers 409 `billing_incomplete` until the address is set.
   * @example let r; do { r = await tickets.invoices.reissue(); } while (r.has_more);
   */
  reissue(input: ReissueInput = {}, options?: RequestOptions): Promise<InvoiceReissue> {
    return this.client.request(routes.invoices.reissue, { body: input }, options);
  }

  /**
   * Paid orders whose invoice could not be issued yet, with why; the server retries them every few seconds.
   * @example for await (const f of tickets.invoices.failed()) console.log(f.order_id, f.error)
   */
  failed(params: { limit?: number } = {}): AutoPaginator<InvoiceFailure> {
    return new AutoPaginator((cursor) =>
      this.client.request(routes.invoices.failed, { query: { ...params, starting_after: cursor } }),
    );
  }

  /** The bytes, carrying a non-enumerable `lastResponse` like every other answer (its headers name the file). */
  private async pdf(route: RouteDef, id: string): Promise<Buffer> {
    const { body, lastResponse } = await this.client.requestRaw(route, { params: { id } });
    return Object.defineProperty(body, 'lastResponse', { value: lastResponse, enumerable: false });
  }
}
