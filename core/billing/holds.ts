// Holds for metered work: reserve the most a call can cost before making it, settle with the actual cost
// after (the unused part released), or release on failure. Holds never settled expire and are released by
// the sweeper, so no money is stuck by a crash. Settling twice charges once.
import crypto from "node:crypto";
import { sql } from "kysely";
import type { Pool } from "../../schema/database.ts";
import { BosunError, notFound } from "../kernel/errors.ts";
import type { DB } from "../kernel/operation.ts";
import { appendEntry, currentPeriod, type LedgerEntry, lockBalance } from "./ledger.ts";
import { raiseAlerts } from "./limits.ts";
import { MAX_MICROS, maxMicros, microsNumber, minMicros, toMicros, usdText } from "./money.ts";

export interface Hold {
  id: string;
  accountId: string;
  pool: Pool;
  amount: bigint;
  expiresAt: Date;
}

export interface Settlement {
  holdId: string;
  cost: bigint;
  charged: bigint;
  /** What the account could not pay; metered work stops until it is. */
  shortfall: bigint;
  entry: LedgerEntry | null;
}

/** A whole number of micro-dollars ≥ 0, as bigint; a JS number must be a safe integer. */
const wholeMicros = (v: bigint | number, what: string) => {
  if (typeof v === "number" && !Number.isSafeInteger(v)) throw new Error(`${what} is a whole number of micro-dollars`);
  const m = toMicros(v);
  if (m < 0n) throw new Error(`${what} is a whole number of micro-dollars ≥ 0`);
  return m;
};

export async function placeHold(
  db: DB,
  h: {
    accountId: string;
    pool: Pool;
    amount: bigint | number;
    ttlSeconds?: number;
    metadata?: Record<string, unknown>;
  },
): Promise<Hold> {
  const amount = wholeMicros(h.amount, "a hold");
  if (amount === 0n) throw new Error("a hold is a positive whole number of micro-dollars");
  // No balance can ever pay more than the bound: refuse without asking the database (and without an int8 overflow).
  if (amount > MAX_MICROS) throw await refusal(db, h.accountId, h.pool, amount);
  const id = crypto.randomUUID();
  const expiresAt = new Date(Date.now() + (h.ttlSeconds ?? 900) * 1000);
  const period = currentPeriod();
  const placed = await db.transaction().execute(async (trx) => {
    // One guarded UPDATE: concurrent holds serialise on the row, and each re-checks the guard after the lock.
    const row = await sql<{ balance: string }>`
      UPDATE balances b SET held = b.held + ${amount}
      WHERE b.account_id = ${h.accountId} AND b.pool = ${h.pool}
        AND b.shortfall = 0 AND b.balance - b.held >= ${amount}
        AND NOT EXISTS (
          SELECT 1 FROM spend_limits l
          WHERE l.account_id = b.account_id AND l.pool = b.pool AND l.hard_cap IS NOT NULL
            AND (CASE WHEN b.period = ${period} THEN b.period_spend ELSE 0 END) + b.held + ${amount} > l.hard_cap)
      RETURNING b.balance`.execute(trx);
    if (!row.rows.length) return false;
    await trx
      .insertInto("holds")
      .values({
        id,
        account_id: h.accountId,
        pool: h.pool,
        amount,
        state: "active",
        metadata: JSON.stringify(h.metadata ?? {}),
        expires_at: expiresAt,
      })
      .execute();
    return true;
  });
  if (!placed) throw await refusal(db, h.accountId, h.pool, amount);
  return { id, accountId: h.accountId, pool: h.pool, amount, expiresAt };
}

/** Why a hold was refused, as the error the caller sees (402). */
async function refusal(db: DB, accountId: string, pool: Pool, amount: bigint): Promise<BosunError> {
  const bal = await db
    .selectFrom("balances")
    .selectAll()
    .where("account_id", "=", accountId)
    .where("pool", "=", pool)
    .executeTakeFirst();
  const limits = await db
    .selectFrom("spend_limits")
    .selectAll()
    .where("account_id", "=", accountId)
    .where("pool", "=", pool)
    .executeTakeFirst();
  const balance = toMicros(bal?.balance);
  const held = toMicros(bal?.held);
  const spendable = balance - held;
  const shortfall = toMicros(bal?.shortfall);
  if (shortfall > 0n) {
    return new BosunError(
      "payment_required",
      `an unpaid shortfall of ${usdText(shortfall)} blocks metered work; add credit`,
      { pool, shortfall_micros: microsNumber(shortfall) },
    );
  }
  const spent = bal?.period === currentPeriod() ? toMicros(bal.period_spend) : 0n;
  if (limits?.hard_cap != null && spent + held + amount > toMicros(limits.hard_cap)) {
    await raiseAlerts(db, accountId, pool, { spendHitHardCap: true });
    return new BosunError(
      "spend_cap_reached",
      `the monthly hard cap of ${usdText(toMicros(limits.hard_cap))} is reached`,
      {
        pool,
        hard_cap_micros: microsNumber(limits.hard_cap),
        period_spend_micros: microsNumber(spent),
      },
    );
  }
  // The amount asked for is the one figure here not bounded by a balance: past 2^53 it is given as a string.
  const required = amount <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(amount) : String(amount);
  return new BosunError(
    "payment_required",
    `not enough ${pool === "ai_credits" ? "AI credit" : "wallet balance"}: ${usdText(spendable)} spendable, ${usdText(amount)} needed`,
    {
      pool,
      spendable_micros: microsNumber(spendable),
      required_micros: required,
    },
  );
}

/** Charges the actual cost against a hold. Idempotent per hold: a retried settle returns the first result. */
export async function settleHold(
  db: DB,
  holdId: string,
  s: { cost: bigint | number; reason?: string; metadata?: Record<string, unknown> },
): Promise<Settlement> {
  // A cost past the bound (a provider reporting absurd usage) is charged as the bound: no balance can pay more,
  // and the shortfall it leaves blocks metered work all the same.
  const cost = minMicros(wholeMicros(s.cost, "a cost"), MAX_MICROS);
  const result = await db.transaction().execute(async (trx) => {
    const hold = await trx.selectFrom("holds").selectAll().where("id", "=", holdId).forUpdate().executeTakeFirst();
    if (!hold) throw notFound("hold", holdId);
    if (hold.state === "settled") {
      const entry = hold.ledger_entry_id
        ? await trx.selectFrom("ledger_entries").selectAll().where("id", "=", hold.ledger_entry_id).executeTakeFirst()
        : undefined;
      const meta = (entry?.metadata ?? {}) as { cost?: number; shortfall?: number };
      const charged = toMicros(hold.charged);
      return {
        fresh: false,
        settlement: {
          holdId,
          cost: meta.cost != null ? toMicros(meta.cost) : charged,
          charged,
          shortfall: toMicros(meta.shortfall ?? 0),
          entry: null,
        },
        pool: hold.pool,
        accountId: hold.account_id,
      };
    }
    // A hold that expired first has already given its reservation back; the call still happened, so charge it.
    const reserved = hold.state === "active" ? toMicros(hold.amount) : 0n;
    const bal = await lockBalance(trx, hold.account_id, hold.pool);
    const available = bal.balance - (bal.held - reserved);
    const charged = minMicros(cost, maxMicros(0n, available));
    // Saturates at the bound: an overlapping expired hold could otherwise add a second overrun past it.
    const shortfall = minMicros(cost - charged, MAX_MICROS - bal.shortfall);
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
      // Bounded amounts, so safe JSON numbers.
      metadata: {
        ...(hold.metadata as Record<string, unknown>),
        ...s.metadata,
        hold_id: holdId,
        cost: microsNumber(cost),
        shortfall: microsNumber(shortfall),
      },
      idempotencyKey: `hold:${holdId}`,
    });
    await trx
      .updateTable("holds")
      .set({ state: "settled", charged, ledger_entry_id: entry.id, closed_at: new Date() })
      .where("id", "=", holdId)
      .execute();
    return {
      fresh: true,
      settlement: { holdId, cost, charged, shortfall, entry },
      pool: hold.pool,
      accountId: hold.account_id,
    };
  });
  if (result.fresh) await raiseAlerts(db, result.accountId, result.pool, {});
  return result.settlement;
}

/** Gives a hold's reservation back (the call failed or was never made). A closed hold is left as it is. */
export async function releaseHold(
  db: DB,
  holdId: string,
  state: "released" | "expired" = "released",
): Promise<boolean> {
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
