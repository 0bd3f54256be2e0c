import type { Transaction } from 'kysely';
import { type Db, groupedWrites } from '../../db/database.js';
import type { Database } from '../../db/schema.js';
import { byDialect } from '../../db/store.js';
import { recordInvoiceFailure } from './failures.js';
import {
  invoiceOrder,
  issueInvoices,
  issueInvoicesOnPostgres,
  type KeyAnswer,
  type PaidOrder,
} from './ledger.js';

export type { KeyAnswer };

interface Waiting {
  paid: PaidOrder;
  orgId: string;
  answer?: (number: string) => KeyAnswer;
  resolve: (issued: { number: string | null; answered: boolean }) => void;
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

  /**
   * Resolves to the order's invoice number, or null if it could not be issued now (never rejects).
   * With `answer`, the purchase's Idempotency-Key (claimed, in progress) is answered in the group's
   * transaction too, with what `answer` makes of the number: `answered` says whether it was.
   */
  issue(
    orgId: string,
    paid: PaidOrder,
    answer?: (number: string) => KeyAnswer,
  ): Promise<{ number: string | null; answered: boolean }> {
    return new Promise((resolve) => {
      const waiting: Waiting = { paid, orgId, answer, resolve };
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
      const answers = (numbers: string[]) =>
        group.flatMap((w, i) => (w.answer ? [w.answer(numbers[i]!)] : []));
      const paid = group.map((w) => w.paid);
      const issue = byDialect(this.db, { postgres: issueInvoicesOnPostgres, sqlite: issueInvoicesOnSqlite });
      const numbers = await groupedWrites(this.db)((trx) => issue(trx, orgId, paid, answers));
      for (const [i, w] of group.entries()) w.resolve({ number: numbers[i]!, answered: !!w.answer });
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
          answered: false,
        });
      } catch (err) {
        // Listed as failed until the sweeper (Orders.ensureInvoices) issues it.
        await recordInvoiceFailure(this.db.kysely, w.paid.order.id, err);
        w.resolve({ number: null, answered: false });
      }
    }
  }
}

/**
 * SQLite: the invoices, then the answers of the Idempotency-Keys waiting on them, statement by statement
 * (Postgres does it in one statement: see issueInvoicesOnPostgres).
 */
async function issueInvoicesOnSqlite(
  trx: Transaction<Database>,
  orgId: string,
  paid: PaidOrder[],
  answers: (numbers: string[]) => KeyAnswer[],
): Promise<string[]> {
  const numbers = await issueInvoices(trx, orgId, paid);
  for (const a of answers(numbers))
    await trx
      .updateTable('idempotency_keys')
      .set({ state: 'done', response_status: a.status, response_body: a.body })
      .where('scope', '=', a.scope)
      .where('key', '=', a.key)
      .execute();
  return numbers;
}
