import type { RequestOptions, Tickets } from '../client.js';

import type { BillingDetails, BillingDetailsInput, InvoiceFailure } from '../contract/invoices.js';
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
