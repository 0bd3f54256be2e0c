/**
 * What an invoice or a credit note says: its lines with net, tax and gross (prices are tax-inclusive),
 * the totals per tax rate, and the parties. Pure arithmetic on minor units, no database.
 */

export interface DocumentLine {
  description: string;
  quantity: number;
  /** Gross, minor units. */
  unit_amount: number;
  /** Basis points. */
  tax_rate: number;
  net: number;
  tax: number;
  gross: number;
}

export interface RateTotal {
  tax_rate: number;
  net: number;
  tax: number;
  gross: number;
}

export interface InvoiceDocument {
  seller: {
    name: string;
    address_line1: string | null;
    address_line2: string | null;
    postcode: string | null;
    city: string | null;
    country: string | null;
    vat_id: string | null;
  };
  buyer: { name: string; email: string };
  event: { name: string; starts_at: string; timezone: string; venue: string | null };
  order_id: string;
  payment_method: string;
  paid_at: string | null;
  currency: string;
  lines: DocumentLine[];
  totals: RateTotal[];
  net: number;
  tax: number;
  gross: number;
  /** Credit notes: the invoice they correct, and why. */
  corrects?: { number: string; issued_at: string };
  /** A re-issued invoice: the invoice it replaces (cancelled by a credit note). */
  replaces?: { number: string; issued_at: string };
  reason?: string | null;
}

/** The net part of a tax-inclusive amount, rounded half up: round(gross / (1 + rate)). */
export function netOf(gross: number, taxRate: number): number {
  const divisor = 10_000 + taxRate;
  return Math.floor((gross * 20_000 + divisor) / (2 * divisor));
}

/** A line's net and tax; tax is gross − net, so the three always add up. */
export function line(
  description: string,
  quantity: number,
  unitAmount: number,
  taxRate: number,
  gross = unitAmount * quantity,
): DocumentLine {
  const net = netOf(gross, taxRate);
  return { description, quantity, unit_amount: unitAmount, tax_rate: taxRate, net, tax: gross - net, gross };
}

/** Totals per tax rate (highest first) and overall, as the sums of the lines. */
export function totals(lines: DocumentLine[]): Pick<InvoiceDocument, 'totals' | 'net' | 'tax' | 'gross'> {
  const byRate = new Map<number, RateTotal>();
  for (const l of lines) {
    const t = byRate.get(l.tax_rate) ?? { tax_rate: l.tax_rate, net: 0, tax: 0, gross: 0 };
    t.net += l.net;
    t.tax += l.tax;
    t.gross += l.gross;
    byRate.set(l.tax_rate, t);
  }
  const rates = [...byRate.values()].sort((a, b) => b.tax_rate - a.tax_rate);
  const sum = (k: 'net' | 'tax' | 'gross') => rates.reduce((s, r) => s + r[k], 0);
  return { totals: rates, net: sum('net'), tax: sum('tax'), gross: sum('gross') };
}

/**
 * Splits an amount over lines in proportion to their gross (largest remainder), so the parts add up
 * to the amount exactly. A refund of a whole line's worth gives back that line as it was.
 */
export function allocate(amount: number, lines: DocumentLine[]): DocumentLine[] {
  const whole = lines.reduce((s, l) => s + l.gross, 0);
  if (whole === 0) return [];
  const shares = lines.map((l, i) => {
    const exact = (amount * l.gross) / whole;
    return { i, part: Math.floor(exact), rest: exact - Math.floor(exact) };
  });
  let left = amount - shares.reduce((s, p) => s + p.part, 0);
  for (const s of [...shares].sort((a, b) => b.rest - a.rest || a.i - b.i)) {
    if (left <= 0) break;
    s.part++;
    left--;
  }
  return shares
    .filter((s) => s.part > 0)
    .map(({ i, part }) => {
      const l = lines[i]!;
      return part === l.gross ? l : line(`${l.description} (part)`, 1, part, l.tax_rate);
    });
}
