// Holds for metered work: reserve the most a call can cost before making it, settle with the actual cost
// after (the unused part released), or release on failure. Holds never settled expire and are released by
// the sweeper, so no money is stuck by a crash. Settling twice charges once.
import crypto from "node:crypto";
import { sql } from "kysely";
import type { Pool } from "../../schema/database.ts";
import { commitModeCte } from "../kernel/commit-mode.ts";
import { BosunError, notFound } from "../kernel/errors.ts";
import type { DB } from "../kernel/operation.ts";
import { currentPeriod, type LedgerEntry, toEntry } from "./ledger.ts";
import { raiseAlerts, raiseDueAlerts } from "./limits.ts";
import { MAX_MICROS, microsNumber, minMicros, toMicros, usdText } from "./money.ts";

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
  const hold = await tryPlaceHold(db, h);
  if (hold) return hold;
  throw await refusal(db, h.accountId, h.pool, wholeMicros(h.amount, "a hold"));
}

/** placeHold, but a refused hold is null (no refusal read): the meter tops up the operator and retries. */
export async function tryPlaceHold(db: DB, h: Parameters<typeof placeHold>[1]): Promise<Hold | null> {
  const amount = wholeMicros(h.amount, "a hold");
  if (amount === 0n) throw new Error("a hold is a positive whole number of micro-dollars");
  // No balance can ever pay more than the bound: refuse without asking the database (and without an int8 overflow).
  if (amount > MAX_MICROS) return null;
  const id = crypto.randomUUID();
  const expiresAt = new Date(Date.now() + (h.ttlSeconds ?? 900) * 1000);
  const period = currentPeriod();
  // One statement, one round trip, prepared once per connection (its parse and plan cost more than its run): the guarded UPDATE (concurrent holds serialise on the row, and each re-checks
  // the guard after the lock) and the hold row it pays for, atomically. Its commit need not wait for the disk:
  // a hold moves no money, and the settle's durable commit flushes the WAL past it (docs/billing.md). Inside a
  // caller's transaction the caller's setting stands: its commit may carry money.
  const placed = await sql<{ id: string }>`/* prepare:billing_hold */
    WITH ${commitModeCte(db, false)},
    b AS (
      UPDATE balances b SET held = b.held + ${amount}::bigint
      WHERE b.account_id = ${h.accountId} AND b.pool = ${h.pool}
        AND b.shortfall = 0 AND b.balance - b.held >= ${amount}::bigint
        AND NOT EXISTS (
          SELECT 1 FROM spend_limits l
          WHERE l.account_id = b.account_id AND l.pool = b.pool AND l.hard_cap IS NOT NULL
            AND (CASE WHEN b.period = ${period} THEN b.period_spend ELSE 0 END) + b.held + ${amount}::bigint > l.hard_cap)
      RETURNING b.account_id, b.pool)
    INSERT INTO holds (id, account_id, pool, amount, state, metadata, expires_at)
    SELECT ${id}, b.account_id, b.pool, ${amount}::bigint, 'active', ${JSON.stringify(h.metadata ?? {})}::jsonb,
      ${expiresAt}::timestamptz
    FROM b, commit_mode
    RETURNING id`.execute(db);
  if (!placed.rows.length) return null;
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

/** What a settle charges: the hold, the actual cost, the ledger row's reason and metadata. */
export interface Charge {
  holdId: string;
  cost: bigint | number;
  reason?: string;
  metadata?: Record<string, unknown>;
}

/** The row a settle statement returns (the `settled` CTE of settleCtes): the ledger entry, the shortfall it
 * added, the balance after it and the account's spend limits. */
export type SettledRow = Record<string, unknown> & {
  shortfall_added: string;
  bal_balance: string;
  bal_held: string;
  bal_period: string;
  bal_period_spend: string;
  has_limits: boolean;
  low_balance_alert: string | null;
  soft_cap: string | null;
  hard_cap: string | null;
};

// A cost past the bound (a provider reporting absurd usage) is charged as the bound: no balance can pay more,
// and the shortfall it leaves blocks metered work all the same.
const costOf = (c: Charge) => minMicros(wholeMicros(c.cost, "a cost"), MAX_MICROS);

/**
 * The settle as CTEs, ending in `settled` (one SettledRow, none when the hold was already settled or does not
 * exist), so a caller can record what the charge pays for in the same statement (the agent's model step).
 * `h` locks the unsettled hold (a concurrent settle waits, then finds it settled and gets no row); `c` locks
 * the balance row and computes, from its latest version, what is charged: the cost, up to what is spendable
 * once this hold's reservation is given back (an expired hold already gave it back: the call still happened,
 * so it is charged). The shortfall saturates at the bound: an overlapping expired hold could otherwise add a
 * second overrun past it. Then the balance, its ledger row (balance_after is the new balance: rows are appended
 * under the row lock) and the hold, plus the account's spend limits for the alert check, so that needs no read
 * of its own. No `INSERT … ON CONFLICT`. The text is the same for every charge (a prepared statement's).
 */
export function settleCtes(charge: Charge) {
  const { holdId } = charge;
  const cost = costOf(charge);
  const period = currentPeriod();
  return sql`h AS (
      SELECT id, account_id, pool, metadata, CASE WHEN state = 'active' THEN amount ELSE 0 END AS reserved
      FROM holds WHERE id = ${holdId} AND state <> 'settled'
      FOR UPDATE),
    c AS (
      SELECT b.account_id, b.pool, h.reserved, h.metadata,
        LEAST(${cost}::bigint, GREATEST(0, b.balance - (b.held - h.reserved))) AS charged,
        LEAST(${cost}::bigint - LEAST(${cost}::bigint, GREATEST(0, b.balance - (b.held - h.reserved))),
          ${MAX_MICROS}::bigint - b.shortfall) AS shortfall_added
      FROM balances b JOIN h ON b.account_id = h.account_id AND b.pool = h.pool
      FOR UPDATE OF b),
    b AS (
      UPDATE balances bal SET
        balance = bal.balance - c.charged,
        held = bal.held - c.reserved,
        shortfall = bal.shortfall + c.shortfall_added,
        period = ${period},
        period_spend = (CASE WHEN bal.period = ${period} THEN bal.period_spend ELSE 0 END) + c.charged
      FROM c WHERE bal.account_id = c.account_id AND bal.pool = c.pool
      RETURNING bal.account_id, bal.pool, bal.balance, bal.held, bal.period, bal.period_spend,
        c.charged, c.shortfall_added, c.metadata),
    e AS (
      INSERT INTO ledger_entries (account_id, pool, amount, balance_after, reason, metadata, idempotency_key)
      SELECT b.account_id, b.pool, -b.charged, b.balance, ${charge.reason ?? "ai_usage"},
        b.metadata || ${JSON.stringify(charge.metadata ?? {})}::jsonb
          || jsonb_build_object('hold_id', ${holdId}::text, 'cost', ${cost}::bigint, 'shortfall', b.shortfall_added),
        ${`hold:${holdId}`}
      FROM b
      RETURNING *),
    u AS (
      UPDATE holds SET state = 'settled', charged = -e.amount, ledger_entry_id = e.id, closed_at = now()
      FROM e WHERE holds.id = ${holdId}),
    settled AS (
      SELECT e.*, b.shortfall_added, b.balance AS bal_balance, b.held AS bal_held, b.period AS bal_period,
        b.period_spend AS bal_period_spend, l.account_id IS NOT NULL AS has_limits,
        l.low_balance_alert, l.soft_cap, l.hard_cap
      FROM e JOIN b ON true
      LEFT JOIN spend_limits l ON l.account_id = e.account_id AND l.pool = e.pool)`;
}

/** The settlement a settle statement returned; raises the spend alerts it made due (after its commit: an alert
 * a crash skipped here is raised by the next settle, the condition still holding). No row: the first settlement
 * again, or 404. */
export async function settlementOf(db: DB, charge: Charge, row: SettledRow | undefined): Promise<Settlement> {
  if (!row) return settledBefore(db, charge.holdId);
  const entry = toEntry(row);
  if (row.has_limits)
    await raiseDueAlerts(
      db,
      entry.account_id,
      entry.pool,
      row,
      { balance: row.bal_balance, held: row.bal_held, period: row.bal_period, period_spend: row.bal_period_spend },
      {},
    );
  return {
    holdId: charge.holdId,
    cost: costOf(charge),
    charged: -entry.amount,
    shortfall: toMicros(row.shortfall_added),
    entry,
  };
}

/** Charges the actual cost against a hold. Idempotent per hold: a retried settle returns the first result. */
export async function settleHold(
  db: DB,
  holdId: string,
  s: { cost: bigint | number; reason?: string; metadata?: Record<string, unknown> },
): Promise<Settlement> {
  const charge = { holdId, ...s };
  // One statement, one round trip, prepared once per connection: it is on the path of every model call.
  const { rows } = await sql<SettledRow>`/* prepare:billing_settle */
    WITH ${settleCtes(charge)}
    SELECT * FROM settled`.execute(db);
  return settlementOf(db, charge, rows[0]);
}

/** A settle that found no unsettled hold: the first settlement again, or 404. */
async function settledBefore(db: DB, holdId: string): Promise<Settlement> {
  const hold = await db.selectFrom("holds").selectAll().where("id", "=", holdId).executeTakeFirst();
  if (!hold) throw notFound("hold", holdId);
  if (hold.state !== "settled") throw new Error(`hold ${holdId} has no balance row to settle against`);
  const entry = hold.ledger_entry_id
    ? await db.selectFrom("ledger_entries").selectAll().where("id", "=", hold.ledger_entry_id).executeTakeFirst()
    : undefined;
  const meta = (entry?.metadata ?? {}) as { cost?: number; shortfall?: number };
  const charged = toMicros(hold.charged);
  return {
    holdId,
    cost: meta.cost != null ? toMicros(meta.cost) : charged,
    charged,
    shortfall: toMicros(meta.shortfall ?? 0),
    entry: null,
  };
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
