import { UsageError } from './errors.js';

export interface Money {
  amount: number;
  currency: string;
}

const PRICE = /^\d+(?:\.\d+)?$/;

/** How many decimal places the currency's minor unit has (EUR 2, JPY 0, KWD 3). */
export function currencyDigits(currency: string): number {
  return (
    new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2
  );
}

/** Checks the shape of a price before anything is sent; the currency is known only later. */
export function checkPrice(text: string, flag = '--price'): string {
  if (!PRICE.test(text.trim()))
    throw new UsageError(`${flag}: "${text}" is not a price; use e.g. 25.00 or 25`);
  return text.trim();
}

/**
 * Converts a typed price (`25`, `25.5`, `25.00`) to integer minor units, without floating point.
 * @example toMinorUnits('25.00', 'EUR') // 2500
 */
export function toMinorUnits(text: string, currency: string, flag = '--price'): number {
  const [whole = '0', rawFraction = ''] = checkPrice(text, flag).split('.');
  const fraction = rawFraction.replace(/0+$/, '');
  const digits = currencyDigits(currency);
  if (fraction.length > digits)
    throw new UsageError(
      digits === 0
        ? `${flag}: ${currency} has no minor unit; use a whole number such as ${whole}`
        : `${flag}: ${currency} prices have at most ${digits} decimal places`,
    );
  const amount = Number(whole) * 10 ** digits + Number(fraction.padEnd(digits, '0') || '0');
  if (!Number.isSafeInteger(amount)) throw new UsageError(`${flag}: "${text}" is too large`);
  return amount;
}

/** @example formatMoney({ amount: 2500, currency: 'EUR' }) // '€25.00' */
export function formatMoney(money: Money): string {
  const format = new Intl.NumberFormat('en', { style: 'currency', currency: money.currency });
  const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
  return format.format(money.amount / 10 ** digits);
}
