import type { PaymentMethod } from '@tickets/sdk';

/**
 * How each way of paying behaves in the sale. The sale and refunds ask these rules, never the method's
 * name: a new way of paying (another provider, an invoice on account) is a new entry here and an
 * adapter behind PaymentProvider (integrations/stripe.ts), not a branch in the sale.
 */
export interface PaymentRules {
  /**
   * The money is in hand when the order is sold (the box office, a free order): the order is paid at
   * once. Otherwise its tickets are held until the provider confirms the payment (a webhook).
   */
  readonly paidAtOnce: boolean;
  /**
   * Where a refund's money goes back: `manual` is given back by the organizer and recorded here as
   * succeeded; a provider's refund is sent to it, and pending until it confirms.
   */
  readonly refundsThrough: 'manual' | 'stripe';
}

export const PAYMENT_METHODS: Record<PaymentMethod, PaymentRules> = {
  free: { paidAtOnce: true, refundsThrough: 'manual' },
  manual: { paidAtOnce: true, refundsThrough: 'manual' },
  stripe: { paidAtOnce: false, refundsThrough: 'stripe' },
};

/** The rules of an order's payment method (as stored on the order). */
export function paymentRules(method: string): PaymentRules {
  const rules = PAYMENT_METHODS[method as PaymentMethod];
  if (!rules) throw new Error(`unknown payment method ${method}`);
  return rules;
}
