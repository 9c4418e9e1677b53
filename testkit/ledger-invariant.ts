// The billing invariant, checked exactly (bigint) for one account after any test that moves money, above all
// the concurrent ones: for each pool, the balance is the sum of its ledger, every ledger row's balance_after is
// the running sum up to it, what is held is the sum of the active holds, and nothing is negative or past the bound.
import { expect } from "vitest";
import { ledgerMismatches } from "../core/billing/ledger.ts";
import { MAX_MICROS, toMicros } from "../core/billing/money.ts";
import type { DB } from "../core/kernel/operation.ts";

export async function expectLedgerConsistent(db: DB, accountId: string): Promise<void> {
  expect(await ledgerMismatches(db, accountId), "balance = ledger sum").toEqual([]);
  const balances = await db.selectFrom("balances").selectAll().where("account_id", "=", accountId).execute();
  for (const b of balances) {
    const where = `${accountId}/${b.pool}`;
    const entries = await db
      .selectFrom("ledger_entries")
      .select(["id", "amount", "balance_after"])
      .where("account_id", "=", accountId)
      .where("pool", "=", b.pool)
      .orderBy("id")
      .execute();
    // Rows are appended under the balance row's lock, so id order is the order money moved in.
    let running = 0n;
    const chain = entries.map((e) => {
      running += toMicros(e.amount);
      return { id: e.id, running: String(running), balance_after: String(e.balance_after) };
    });
    expect(
      chain.filter((c) => c.running !== c.balance_after),
      `balance_after is the running sum (${where})`,
    ).toEqual([]);
    expect(String(running), `balance (${where})`).toBe(String(b.balance));

    const active = await db
      .selectFrom("holds")
      .select((e) => e.fn.coalesce(e.fn.sum<string>("amount"), e.val("0")).as("total"))
      .where("account_id", "=", accountId)
      .where("pool", "=", b.pool)
      .where("state", "=", "active")
      .executeTakeFirstOrThrow();
    expect(String(active.total), `held = active holds (${where})`).toBe(String(b.held));

    const [balance, held, shortfall] = [toMicros(b.balance), toMicros(b.held), toMicros(b.shortfall)];
    expect(
      balance >= 0n && held >= 0n && held <= balance && shortfall >= 0n,
      `nothing negative, held ≤ balance (${where})`,
    ).toBe(true);
    expect(balance <= MAX_MICROS && shortfall <= MAX_MICROS, `within the bound (${where})`).toBe(true);
  }
}

/** After a run ends, however it ended, none of the account's holds is left active. */
export async function expectNoActiveHolds(db: DB, accountId: string): Promise<void> {
  const active = await db
    .selectFrom("holds")
    .select("id")
    .where("account_id", "=", accountId)
    .where("state", "=", "active")
    .execute();
  expect(active, "holds left active").toEqual([]);
}
