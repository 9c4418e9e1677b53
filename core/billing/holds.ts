// Holds for metered work: reserve the most a call can cost before making it, settle with the actual cost
// after (the unused part released), or release on failure. Holds never settled expire and are released by
// the sweeper, so no money is stuck by a crash. Settling twice charges once.
import crypto from "node:crypto";
import { sql } from "kysely";
import type { Pool } from "../../schema/database.ts";
import { BosunError, notFound } from "../errors.ts";
import type { DB } from "../operation.ts";
import { raiseAlerts } from "./limits.ts";
import { appendEntry, currentPeriod, lockBalance, type LedgerEntry } from "./ledger.ts";

export interface Hold {
  id: string;
  accountId: string;
  pool: Pool;
  amount: number;
  expiresAt: Date;
}

export interface Settlement {
  holdId: string;
  cost: number;
  charged: number;
  /** What the account could not pay; metered work stops until it is. */
  shortfall: number;
  entry: LedgerEntry | null;
}

const money = (n: number) => `$${(n / 1e6).toFixed(6)}`;

export async function placeHold(
  db: DB,
  h: { accountId: string; pool: Pool; amount: number; ttlSeconds?: number; metadata?: Record<string, unknown> },
): Promise<Hold> {
  if (!Number.isSafeInteger(h.amount) || h.amount <= 0) throw new Error("a hold is a positive whole number of micro-dollars");
  const id = crypto.randomUUID();
  const expiresAt = new Date(Date.now() + (h.ttlSeconds ?? 900) * 1000);
  const period = currentPeriod();
  const placed = await db.transaction().execute(async (trx) => {
    // One guarded UPDATE: concurrent holds serialise on the row, and each re-checks the guard after the lock.
    const row = await sql<{ balance: string }>`
      UPDATE balances b SET held = b.held + ${h.amount}
      WHERE b.account_id = ${h.accountId} AND b.pool = ${h.pool}
        AND b.shortfall = 0 AND b.balance - b.held >= ${h.amount}
        AND NOT EXISTS (
          SELECT 1 FROM spend_limits l
          WHERE l.account_id = b.account_id AND l.pool = b.pool AND l.hard_cap IS NOT NULL
            AND (CASE WHEN b.period = ${period} THEN b.period_spend ELSE 0 END) + b.held + ${h.amount} > l.hard_cap)
      RETURNING b.balance`.execute(trx);
    if (!row.rows.length) return false;
    await trx
      .insertInto("holds")
      .values({ id, account_id: h.accountId, pool: h.pool, amount: h.amount, state: "active", metadata: JSON.stringify(h.metadata ?? {}), expires_at: expiresAt })
      .execute();
    return true;
  });
  if (!placed) throw await refusal(db, h.accountId, h.pool, h.amount);
  return { id, accountId: h.accountId, pool: h.pool, amount: h.amount, expiresAt };
}

/** Why a hold was refused, as the error the caller sees (402). */
async function refusal(db: DB, accountId: string, pool: Pool, amount: number): Promise<BosunError> {
  const bal = await db.selectFrom("balances").selectAll().where("account_id", "=", accountId).where("pool", "=", pool).executeTakeFirst();
  const limits = await db.selectFrom("spend_limits").selectAll().where("account_id", "=", accountId).where("pool", "=", pool).executeTakeFirst();
  const balance = Number(bal?.balance ?? 0);
  const held = Number(bal?.held ?? 0);
  const spendable = balance - held;
  const shortfall = Number(bal?.shortfall ?? 0);
  if (shortfall > 0) {
    return new BosunError("payment_required", `an unpaid shortfall of ${money(shortfall)} blocks metered work; add credit`, { pool, shortfall_micros: shortfall });
  }
  const spent = bal?.period === currentPeriod() ? Number(bal.period_spend) : 0;
  if (limits?.hard_cap != null && spent + held + amount > Number(limits.hard_cap)) {
    await raiseAlerts(db, accountId, pool, { spendHitHardCap: true });
    return new BosunError("spend_cap_reached", `the monthly hard cap of ${money(Number(limits.hard_cap))} is reached`, {
      pool,
      hard_cap_micros: Number(limits.hard_cap),
      period_spend_micros: spent,
    });
  }
  return new BosunError("payment_required", `not enough ${pool === "ai_credits" ? "AI credit" : "wallet balance"}: ${money(spendable)} spendable, ${money(amount)} needed`, {
    pool,
    spendable_micros: spendable,
    required_micros: amount,
  });
}

/** Charges the actual cost against a hold. Idempotent per hold: a retried settle returns the first result. */
export async function settleHold(
  db: DB,
  holdId: string,
  s: { cost: number; reason?: string; metadata?: Record<string, unknown> },
): Promise<Settlement> {
  if (!Number.isSafeInteger(s.cost) || s.cost < 0) throw new Error("a cost is a whole number of micro-dollars ≥ 0");
  const result = await db.transaction().execute(async (trx) => {
    const hold = await trx.selectFrom("holds").selectAll().where("id", "=", holdId).forUpdate().executeTakeFirst();
    if (!hold) throw notFound("hold", holdId);
    if (hold.state === "settled") {
      const entry = hold.ledger_entry_id
        ? await trx.selectFrom("ledger_entries").selectAll().where("id", "=", hold.ledger_entry_id).executeTakeFirst()
        : undefined;
      const meta = (entry?.metadata ?? {}) as { cost?: number; shortfall?: number };
      return {
        fresh: false,
        settlement: { holdId, cost: meta.cost ?? Number(hold.charged), charged: Number(hold.charged), shortfall: meta.shortfall ?? 0, entry: null },
        pool: hold.pool,
        accountId: hold.account_id,
      };
    }
    // A hold that expired first has already given its reservation back; the call still happened, so charge it.
    const reserved = hold.state === "active" ? Number(hold.amount) : 0;
    const bal = await lockBalance(trx, hold.account_id, hold.pool);
    const available = bal.balance - (bal.held - reserved);
    const charged = Math.min(s.cost, Math.max(0, available));
    const shortfall = s.cost - charged;
    const balance = bal.balance - charged;
    await trx
      .updateTable("balances")
      .set({
        balance,
        held: bal.held - reserved,
        shortfall: bal.shortfall + shortfall,
        period: currentPeriod(),
        period_spend: bal.periodSpend + charged,
      })
      .where("account_id", "=", hold.account_id)
      .where("pool", "=", hold.pool)
      .execute();
    const entry = await appendEntry(trx, {
      accountId: hold.account_id,
      pool: hold.pool,
      amount: -charged,
      balanceAfter: balance,
      reason: s.reason ?? "ai_usage",
      metadata: { ...(hold.metadata as Record<string, unknown>), ...s.metadata, hold_id: holdId, cost: s.cost, shortfall },
      idempotencyKey: `hold:${holdId}`,
    });
    await trx
      .updateTable("holds")
      .set({ state: "settled", charged, ledger_entry_id: entry.id, closed_at: new Date() })
      .where("id", "=", holdId)
      .execute();
    return { fresh: true, settlement: { holdId, cost: s.cost, charged, shortfall, entry }, pool: hold.pool, accountId: hold.account_id };
  });
  if (result.fresh) await raiseAlerts(db, result.accountId, result.pool, {});
  return result.settlement;
}

/** Gives a hold's reservation back (the call failed or was never made). A closed hold is left as it is. */
export async function releaseHold(db: DB, holdId: string, state: "released" | "expired" = "released"): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const hold = await trx.selectFrom("holds").selectAll().where("id", "=", holdId).forUpdate().executeTakeFirst();
    if (!hold) throw notFound("hold", holdId);
    if (hold.state !== "active") return false;
    await trx
      .updateTable("balances")
      .set((eb) => ({ held: eb("held", "-", hold.amount) }))
      .where("account_id", "=", hold.account_id)
      .where("pool", "=", hold.pool)
      .execute();
    await trx.updateTable("holds").set({ state, closed_at: new Date() }).where("id", "=", holdId).execute();
    return true;
  });
}

/** Releases holds past their expiry; returns how many. */
export async function sweepExpiredHolds(db: DB, now = new Date(), batch = 500): Promise<number> {
  const expired = await db
    .selectFrom("holds")
    .select("id")
    .where("state", "=", "active")
    .where("expires_at", "<", now)
    .limit(batch)
    .execute();
  let released = 0;
  for (const { id } of expired) if (await releaseHold(db, id, "expired")) released++;
  return released;
}
