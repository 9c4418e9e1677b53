// The ledger: a balance changes only together with an append-only ledger row, in one transaction, guarded so
// it never goes below zero (the balances table's CHECK is the last word), and a repeated idempotency key
// returns the first entry instead of moving money again.
import type { Transaction } from "kysely";
import type { Database, Pool } from "../../schema/database.ts";
import { isUniqueViolation } from "../kernel/errors.ts";
import type { DB } from "../kernel/operation.ts";
import { boundExceeded, MAX_MICROS, minMicros, toMicros } from "./money.ts";

export const POOLS: Pool[] = ["wallet", "ai_credits"];

export interface LedgerEntry {
  id: string;
  account_id: string;
  pool: Pool;
  amount: bigint;
  balance_after: bigint;
  reason: string;
  metadata: Record<string, unknown>;
  created_at: Date;
}

export type Trx = Transaction<Database>;

/** The calendar month (UTC) that spend caps count in. */
export const currentPeriod = (now = new Date()) => now.toISOString().slice(0, 7);

export const toEntry = (r: Record<string, unknown>): LedgerEntry => ({
  id: String(r.id),
  account_id: String(r.account_id),
  pool: r.pool as Pool,
  amount: toMicros(r.amount as string),
  balance_after: toMicros(r.balance_after as string),
  reason: String(r.reason),
  metadata: (r.metadata as Record<string, unknown>) ?? {},
  created_at: r.created_at as Date,
});

/** Locks the balance row (creating it at zero if missing). */
export async function lockBalance(trx: Trx, accountId: string, pool: Pool) {
  await trx
    .insertInto("balances")
    .values({ account_id: accountId, pool, balance: 0n, held: 0n, shortfall: 0n, period_spend: 0n })
    .onConflict((oc) => oc.columns(["account_id", "pool"]).doNothing())
    .execute();
  const row = await trx
    .selectFrom("balances")
    .selectAll()
    .where("account_id", "=", accountId)
    .where("pool", "=", pool)
    .forUpdate()
    .executeTakeFirstOrThrow();
  return {
    balance: toMicros(row.balance),
    held: toMicros(row.held),
    shortfall: toMicros(row.shortfall),
    period: row.period,
    periodSpend: row.period === currentPeriod() ? toMicros(row.period_spend) : 0n,
  };
}

export async function appendEntry(
  trx: Trx,
  e: {
    accountId: string;
    pool: Pool;
    amount: bigint;
    balanceAfter: bigint;
    reason: string;
    metadata?: Record<string, unknown>;
    idempotencyKey?: string | null;
  },
): Promise<LedgerEntry> {
  const row = await trx
    .insertInto("ledger_entries")
    .values({
      account_id: e.accountId,
      pool: e.pool,
      amount: e.amount,
      balance_after: e.balanceAfter,
      reason: e.reason,
      metadata: JSON.stringify(e.metadata ?? {}),
      idempotency_key: e.idempotencyKey ?? null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toEntry(row);
}

async function findByKey(db: DB | Trx, accountId: string, pool: Pool, key: string) {
  const row = await db
    .selectFrom("ledger_entries")
    .selectAll()
    .where("account_id", "=", accountId)
    .where("pool", "=", pool)
    .where("idempotency_key", "=", key)
    .executeTakeFirst();
  return row ? toEntry(row) : null;
}

type Credit = {
  accountId: string;
  pool: Pool;
  /** micro-dollars; a number must be a safe integer */
  amount: bigint | number;
  reason: string;
  metadata?: Record<string, unknown>;
  idempotencyKey?: string;
  /** The input field the amount came from, named by the 400 when it would pass the bound. */
  field?: string;
};

/** The total ever credited to a pool. With the balance, it is what MAX_MICROS bounds: every sum of the pool's
 * ledger (debits included: they never exceed the credits) is then at most this. Credits are rare, and the
 * account's rows are found by ledger_account_idx. */
async function creditedTotal(trx: Trx, accountId: string, pool: Pool): Promise<bigint> {
  const row = await trx
    .selectFrom("ledger_entries")
    .select((e) => e.fn.coalesce(e.fn.sum<string>("amount"), e.val("0")).as("total"))
    .where("account_id", "=", accountId)
    .where("pool", "=", pool)
    .where("amount", ">", "0")
    .executeTakeFirstOrThrow();
  return toMicros(String(row.total));
}

/** Adds money, inside the caller's transaction. An unpaid shortfall is paid from it first (its own row).
 * A credit that would take the balance, or the total ever credited, past MAX_MICROS is refused (400 naming
 * `field`) before anything is written. */
export async function creditIn(trx: Trx, c: Credit): Promise<LedgerEntry> {
  const field = c.field ?? "amount";
  const amount = typeof c.amount === "bigint" ? c.amount : Number.isSafeInteger(c.amount) ? BigInt(c.amount) : -1n;
  if (amount <= 0n) throw new Error("a credit is a positive whole number of micro-dollars");
  if (amount > MAX_MICROS) throw boundExceeded(field, "this amount");
  if (c.idempotencyKey) {
    const seen = await findByKey(trx, c.accountId, c.pool, c.idempotencyKey);
    if (seen) return seen;
  }
  const bal = await lockBalance(trx, c.accountId, c.pool);
  // Checked under the row lock, so two concurrent credits cannot both pass.
  if (bal.balance + amount > MAX_MICROS) throw boundExceeded(field, `the ${c.pool} balance after this credit`);
  if ((await creditedTotal(trx, c.accountId, c.pool)) + amount > MAX_MICROS)
    throw boundExceeded(field, `the total ever credited to ${c.pool}`);
  let balance = bal.balance + amount;
  const entry = await appendEntry(trx, { ...c, amount, balanceAfter: balance });
  const repay = minMicros(bal.shortfall, amount);
  if (repay > 0n) {
    balance -= repay;
    await appendEntry(trx, {
      accountId: c.accountId,
      pool: c.pool,
      amount: -repay,
      balanceAfter: balance,
      reason: "shortfall_repayment",
      metadata: { credit_entry_id: entry.id },
    });
  }
  await trx
    .updateTable("balances")
    .set({ balance, shortfall: bal.shortfall - repay })
    .where("account_id", "=", c.accountId)
    .where("pool", "=", c.pool)
    .execute();
  return entry;
}

/** Adds money in its own transaction; safe to retry with the same idempotency key. */
export async function credit(db: DB, c: Credit): Promise<LedgerEntry> {
  try {
    return await db.transaction().execute((trx) => creditIn(trx, c));
  } catch (err) {
    // Two concurrent credits with one key: the loser finds the winner's entry.
    if (c.idempotencyKey && isUniqueViolation(err)) {
      const seen = await findByKey(db, c.accountId, c.pool, c.idempotencyKey);
      if (seen) return seen;
    }
    throw err;
  }
}

/** Proves the invariant: for every account and pool, the ledger sums to the balance (plus the unpaid
 * shortfall never charged). Returns the mismatches; empty means consistent. */
export async function ledgerMismatches(db: DB, accountId?: string) {
  let q = db
    .selectFrom("balances")
    .leftJoin(
      (eb) =>
        eb
          .selectFrom("ledger_entries")
          .select(["account_id", "pool", (e) => e.fn.sum<string>("amount").as("total")])
          .groupBy(["account_id", "pool"])
          .as("l"),
      (join) => join.onRef("l.account_id", "=", "balances.account_id").onRef("l.pool", "=", "balances.pool"),
    )
    .select(["balances.account_id", "balances.pool", "balances.balance", "l.total"]);
  if (accountId) q = q.where("balances.account_id", "=", accountId);
  const rows = await q.execute();
  // Compared as bigint: as numbers, two sums past 2^53 can round to one value and hide a mismatch. Reported
  // as decimal strings, so a report can be JSON.
  return rows
    .filter((r) => toMicros(r.balance) !== toMicros(r.total ?? "0"))
    .map((r) => ({
      account_id: r.account_id,
      pool: r.pool,
      balance: String(r.balance),
      ledger_sum: String(r.total ?? "0"),
    }));
}

/** Balance minus what running work holds; 0 for an account that never had this pool. */
export async function spendableMicros(db: DB, accountId: string, pool: Pool): Promise<bigint> {
  const row = await db
    .selectFrom("balances")
    .select(["balance", "held", "shortfall"])
    .where("account_id", "=", accountId)
    .where("pool", "=", pool)
    .executeTakeFirst();
  if (!row || toMicros(row.shortfall) > 0n) return 0n;
  return toMicros(row.balance) - toMicros(row.held);
}
