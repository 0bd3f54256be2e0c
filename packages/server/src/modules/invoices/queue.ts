import { type Db, groupedWrites } from '../../db/database.js';
import { byDialect } from '../../db/store.js';
import { recordInvoiceFailure } from './failures.js';
import { invoiceOrder, issueInvoices, issueInvoicesOnPostgres, type PaidOrder } from './ledger.js';

interface Waiting {
  paid: PaidOrder;
  orgId: string;
  resolve: (issued: { number: string | null }) => void;
}

/**
 * Numbers paid orders' invoices in groups. An organization's invoice sequence is one row every paid
 * order of the organization must pass through (on Postgres, locked until its transaction commits), so
 * one transaction per order made all sales of an organization queue there. Orders arriving while a
 * group is being numbered wait for the next group; each group is one transaction with consecutive
 * numbers, so the sequence stays gapless (a rollback gives the whole group's numbers back) and a
 * purchase still answers with its invoice number.
 *
 * A group that fails is retried one order at a time; an order that still fails gets no number now,
 * is listed as failed (failures.ts), and the sweeper (`Orders.ensureInvoices`) issues it later.
 */
export class InvoiceQueue {
  private readonly waiting = new Map<string, Waiting[]>();
  private readonly busy = new Set<string>();

  constructor(
    private readonly db: Db,
    private readonly maxGroup = 200,
  ) {}

  /** Resolves to the order's invoice number, or null if it could not be issued now (never rejects). */
  issue(orgId: string, paid: PaidOrder): Promise<{ number: string | null }> {
    return new Promise((resolve) => {
      const waiting: Waiting = { paid, orgId, resolve };
      const queue = this.waiting.get(orgId);
      if (queue) queue.push(waiting);
      else this.waiting.set(orgId, [waiting]);
      if (!this.busy.has(orgId)) {
        this.busy.add(orgId);
        // Let the purchases that finish in this turn of the event loop join the group.
        setImmediate(() => void this.drain(orgId));
      }
    });
  }

  private async drain(orgId: string): Promise<void> {
    try {
      for (;;) {
        const queue = this.waiting.get(orgId);
        if (!queue?.length) break;
        const group = queue.splice(0, this.maxGroup);
        await this.number(orgId, group);
      }
    } finally {
      this.waiting.delete(orgId);
      this.busy.delete(orgId);
    }
  }

  private async number(orgId: string, group: Waiting[]): Promise<void> {
    try {
      // On SQLite, with the other writes of the moment under one commit (see groupedWrites).
      const paid = group.map((w) => w.paid);
      const issue = byDialect(this.db, { postgres: issueInvoicesOnPostgres, sqlite: issueInvoices });
      const numbers = await groupedWrites(this.db)((trx) => issue(trx, orgId, paid));
      for (const [i, w] of group.entries()) w.resolve({ number: numbers[i]! });
      return;
    } catch {
      // One by one below: one order's problem must not cost the others their invoices.
    }
    for (const w of group) {
      try {
        w.resolve({
          number: await this.db.kysely
            .transaction()
            .execute((trx) => invoiceOrder(trx, { id: w.paid.order.id, org_id: orgId })),
        });
      } catch (err) {
        // Listed as failed until the sweeper (Orders.ensureInvoices) issues it.
        await recordInvoiceFailure(this.db.kysely, w.paid.order.id, err);
        w.resolve({ number: null });
      }
    }
  }
}
