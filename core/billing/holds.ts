// Holds for metered work: reserve the most a call can cost before making it, settle with the actual cost
// after (the unused part released), or release on failure. Holds never settled expire and are released by
// the sweeper, so no money is stuck by a crash. Settling twice charges once.
import crypto from "node:crypto";
import { sql } from "kysely";
import type { Pool } from "../../schema/database.ts";
import { commitModeCte } from "../kernel/commit-mode.ts";
import { BosunError, notFound } from "../kernel/errors.ts";
import type { DB } from "../kernel/operation.ts";
import { runSql } from "../kernel/prepared.ts";
import { currentPeriod, type LedgerEntry, toEntry } from "./ledger.ts";
import { raiseAlerts, raiseDueAlerts } from "./limits.ts";
import { MAX_MICROS, microsNumber, minMicros, toMicros, usdText } from "./money.ts";
import { ALONE, tickBatcher } from "./tick-batcher.ts";

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
  const hold = holdRequest(h);
  // No balance can ever pay more than the bound: refuse without asking the database (and without an int8 overflow).
  if (!hold) return null;
  // Inside a caller's transaction it runs there, at once; otherwise with the other holds of this turn.
  if (db.isTransaction) return placeHold1(db, hold);
  return batchersOf(db).hold(`${hold.accountId}:${hold.pool}`, hold);
}

/** A hold to place, with its id; null when no balance could pay it (past the bound). */
export function holdRequest(h: Parameters<typeof placeHold>[1]): HoldRequest | null {
  const amount = wholeMicros(h.amount, "a hold");
  if (amount === 0n) throw new Error("a hold is a positive whole number of micro-dollars");
  if (amount > MAX_MICROS) return null;
  return {
    id: crypto.randomUUID(),
    accountId: h.accountId,
    pool: h.pool,
    amount,
    expiresAt: new Date(Date.now() + (h.ttlSeconds ?? 900) * 1000),
    metadata: JSON.stringify(h.metadata ?? {}),
  };
}

export interface HoldRequest {
  id: string;
  accountId: string;
  pool: Pool;
  amount: bigint;
  expiresAt: Date;
  /** as JSON */
  metadata: string;
}

/**
 * Places holds (of distinct balance rows) in one statement, one round trip, prepared once per connection (its
 * parse and plan cost more than its run); each is placed or refused (null) on its own (holdCtes). Its commit need
 * not wait for the disk: a hold moves no money, and the settle's durable commit flushes the WAL past it
 * (docs/billing.md). Inside a caller's transaction the caller's setting stands: its commit may carry money.
 */
async function placeHolds(db: DB, holds: HoldRequest[]): Promise<(Hold | null)[]> {
  const placed = await runSql(
    db,
    sql<{ id: string }>`/* prepare:billing_hold${sql.raw(holds.length === 1 ? "" : "_batch")} */
    WITH ${commitModeCte(db, false)},
    ${holdCtes(...holds)}
    SELECT placed.id FROM placed, commit_mode`,
  );
  const ids = new Set(placed.rows.map((r) => r.id));
  return holds.map((h) => (ids.has(h.id) ? heldBy(h) : null));
}

/** The hold a placed request made. */
export const heldBy = (h: HoldRequest): Hold => ({
  id: h.id,
  accountId: h.accountId,
  pool: h.pool,
  amount: h.amount,
  expiresAt: h.expiresAt,
});

/**
 * Holds as CTEs ending in `placed` (the id of each hold placed; a refused one has no row), so a caller can place
 * one with what it records in the same statement (the agent's tool results). `hl` locks the balance rows in
 * (account, pool) order, as the settle does (concurrent statements lock in one order: no deadlock between them,
 * whatever order their callers came in); the guarded UPDATE then re-checks each guard on the row's latest version
 * (spendable, no shortfall, under the hard cap), and the hold rows it pays for are inserted in the same statement.
 * Its CTEs are named `h…` so that they sit beside a caller's (and settleCtes') in one statement.
 */
export function holdCtes(...holds: HoldRequest[]) {
  const period = currentPeriod();
  const [one] = holds;
  // One hold (the common case, and every hold of a contended account) binds scalars, which the planner folds in:
  // locking the row a second time and joining a function's rows cost a contended row more than they save.
  const input =
    one && holds.length === 1
      ? sql`hi AS (SELECT ${one.id}::uuid AS id, ${one.accountId}::uuid AS account_id, ${one.pool}::text AS pool,
        ${one.amount}::bigint AS amount, ${one.metadata}::jsonb AS metadata, ${one.expiresAt}::timestamptz AS expires_at),
      hl AS (SELECT * FROM hi),`
      : sql`hi AS (
        SELECT * FROM unnest(${holds.map((h) => h.id)}::uuid[], ${holds.map((h) => h.accountId)}::uuid[],
          ${holds.map((h) => h.pool)}::text[], ${holds.map((h) => h.amount)}::bigint[],
          ${holds.map((h) => h.metadata)}::jsonb[], ${holds.map((h) => h.expiresAt)}::timestamptz[])
          WITH ORDINALITY AS hi(id, account_id, pool, amount, metadata, expires_at, n)),
      hl AS (
        SELECT hi.* FROM hi JOIN balances b ON b.account_id = hi.account_id AND b.pool = hi.pool
        ORDER BY b.account_id, b.pool
        FOR UPDATE OF b),`;
  return sql`${input}
    hb AS (
      UPDATE balances b SET held = b.held + hl.amount
      FROM hl
      WHERE b.account_id = hl.account_id AND b.pool = hl.pool
        AND b.shortfall = 0 AND b.balance - b.held >= hl.amount
        AND NOT EXISTS (
          SELECT 1 FROM spend_limits sl
          WHERE sl.account_id = b.account_id AND sl.pool = b.pool AND sl.hard_cap IS NOT NULL
            AND (CASE WHEN b.period = ${period} THEN b.period_spend ELSE 0 END) + b.held + hl.amount > sl.hard_cap)
      RETURNING hl.*),
    placed AS (
      INSERT INTO holds (id, account_id, pool, amount, state, metadata, expires_at)
      SELECT hb.id, hb.account_id, hb.pool, hb.amount, 'active', hb.metadata, hb.expires_at FROM hb
      RETURNING id)`;
}

const placeHold1 = async (db: DB, hold: HoldRequest) => (await placeHolds(db, [hold]))[0] ?? null;

/** The batchers of one database handle (never of a transaction: its statements run in it, in order). */
const batchers = new WeakMap<DB, ReturnType<typeof makeBatchers>>();
const batchersOf = (db: DB) => {
  let b = batchers.get(db);
  if (!b) batchers.set(db, (b = makeBatchers(db)));
  return b;
};
const makeBatchers = (db: DB) => ({
  hold: tickBatcher<HoldRequest, Hold | null>({
    one: (h) => placeHold1(db, h),
    many: (holds) => placeHolds(db, holds),
  }),
  settle: tickBatcher<Charge, SettledRow | null>({
    one: (c) => settleCharge1(db, c),
    // A charge the batch did not settle (a second hold of one account, or one settled before) runs on its own.
    many: async (charges) => (await settleCharges(db, charges)).map((row) => row ?? ALONE),
  }),
});

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
  hold_id: string;
  has_limits: boolean;
  low_balance_alert: string | null;
  soft_cap: string | null;
  hard_cap: string | null;
};

// A cost past the bound (a provider reporting absurd usage) is charged as the bound: no balance can pay more,
// and the shortfall it leaves blocks metered work all the same.
const costOf = (c: Charge) => minMicros(wholeMicros(c.cost, "a cost"), MAX_MICROS);

/**
 * The settle as CTEs, ending in `settled` (a SettledRow per charge settled; none for a hold already settled or
 * not found), so a caller can record what the charge pays for in the same statement (the agent's model step).
 * `h` locks the unsettled holds (a concurrent settle waits, then finds its hold settled and gets no row); `f`
 * keeps one charge per balance row (an UPDATE changes a row once: a second hold of one account gets no row here
 * and is settled by a statement of its own); `c` locks the balance rows. Every statement here locks holds (in id
 * order) before balance rows (in account order), whatever order its callers came in, so concurrent statements
 * cannot deadlock each other. `c` computes, from each row's latest version, what is charged: the cost, up to what
 * is spendable once this hold's reservation is given back (an expired hold already gave it back: the call still
 * happened, so it is charged). The shortfall saturates at the bound: an overlapping expired hold could otherwise
 * add a second overrun past it. Then the balances, their ledger rows (balance_after is the new balance: rows are
 * appended under the row lock) and the holds, plus each account's spend limits for the alert check, so that needs
 * no read of its own. No `INSERT … ON CONFLICT`. The text depends only on whether there is one charge or more
 * (each a prepared statement's).
 */
export function settleCtes(...charges: Charge[]) {
  const period = currentPeriod();
  const [one] = charges;
  // One charge (the agent's step, every settle of a contended account) binds scalars, as placeHolds does.
  const input =
    one && charges.length === 1
      ? sql`i AS (SELECT ${one.holdId}::uuid AS hold_id, ${costOf(one)}::bigint AS cost, ${one.reason ?? "ai_usage"}::text AS reason,
        ${JSON.stringify(one.metadata ?? {})}::jsonb AS metadata, 1::bigint AS n)`
      : sql`i AS (
      SELECT * FROM unnest(${charges.map((c) => c.holdId)}::uuid[], ${charges.map(costOf)}::bigint[],
        ${charges.map((c) => c.reason ?? "ai_usage")}::text[], ${charges.map((c) => JSON.stringify(c.metadata ?? {}))}::jsonb[])
        WITH ORDINALITY AS i(hold_id, cost, reason, metadata, n))`;
  return sql`${input},
    h AS (
      SELECT i.n, i.cost, i.reason, i.metadata AS charge_metadata, holds.id AS hold_id, holds.account_id, holds.pool,
        holds.metadata, CASE WHEN holds.state = 'active' THEN holds.amount ELSE 0 END AS reserved
      FROM i JOIN holds ON holds.id = i.hold_id
      WHERE holds.state <> 'settled'
      ORDER BY holds.id
      FOR UPDATE OF holds),
    f AS (SELECT DISTINCT ON (account_id, pool) * FROM h ORDER BY account_id, pool, n),
    c AS (
      SELECT f.*,
        LEAST(f.cost, GREATEST(0, b.balance - (b.held - f.reserved))) AS charged,
        LEAST(f.cost - LEAST(f.cost, GREATEST(0, b.balance - (b.held - f.reserved))),
          ${MAX_MICROS}::bigint - b.shortfall) AS shortfall_added
      FROM balances b JOIN f ON b.account_id = f.account_id AND b.pool = f.pool
      ORDER BY b.account_id, b.pool
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
        c.hold_id, c.cost, c.reason, c.charge_metadata, c.charged, c.shortfall_added, c.metadata),
    e AS (
      INSERT INTO ledger_entries (account_id, pool, amount, balance_after, reason, metadata, idempotency_key)
      SELECT b.account_id, b.pool, -b.charged, b.balance, b.reason,
        b.metadata || b.charge_metadata
          || jsonb_build_object('hold_id', b.hold_id::text, 'cost', b.cost, 'shortfall', b.shortfall_added),
        'hold:' || b.hold_id
      FROM b
      RETURNING *),
    u AS (
      UPDATE holds SET state = 'settled', charged = -e.amount, ledger_entry_id = e.id, closed_at = now()
      FROM e JOIN b ON e.idempotency_key = 'hold:' || b.hold_id
      WHERE holds.id = b.hold_id),
    settled AS (
      SELECT e.*, b.hold_id, b.shortfall_added, b.balance AS bal_balance, b.held AS bal_held, b.period AS bal_period,
        b.period_spend AS bal_period_spend, l.account_id IS NOT NULL AS has_limits,
        l.low_balance_alert, l.soft_cap, l.hard_cap
      FROM e JOIN b ON e.idempotency_key = 'hold:' || b.hold_id
      LEFT JOIN spend_limits l ON l.account_id = e.account_id AND l.pool = e.pool)`;
}

/** Settles charges in one statement, one round trip, prepared once per connection (it is on the path of every
 * model call): each charge's SettledRow, or undefined when it settled nothing (see settleCtes). */
async function settleCharges(db: DB, charges: Charge[]): Promise<(SettledRow | undefined)[]> {
  const { rows } = await runSql(
    db,
    sql<SettledRow>`/* prepare:billing_settle${sql.raw(charges.length === 1 ? "" : "_batch")} */
    WITH ${settleCtes(...charges)}
    SELECT * FROM settled`,
  );
  const byHold = new Map(rows.map((r) => [r.hold_id, r]));
  return charges.map((c) => byHold.get(c.holdId.toLowerCase()));
}

const settleCharge1 = async (db: DB, charge: Charge) => (await settleCharges(db, [charge]))[0] ?? null;

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

/** Charges the actual cost against a hold. Idempotent per hold: a retried settle returns the first result.
 * Given the hold (not only its id), settles of distinct accounts in one turn go in one statement. */
export async function settleHold(
  db: DB,
  hold: string | Pick<Hold, "id" | "accountId" | "pool">,
  s: { cost: bigint | number; reason?: string; metadata?: Record<string, unknown> },
): Promise<Settlement> {
  const holdId = typeof hold === "string" ? hold : hold.id;
  const charge = { holdId, ...s };
  costOf(charge); // a bad cost is the caller's error, before it can join (and fail) a batch
  // Inside a caller's transaction it runs there, at once. A hold given by id only may share its account with
  // another of the batch: `f` (settleCtes) then settles one, and the other runs again on its own.
  const row = db.isTransaction
    ? await settleCharge1(db, charge)
    : await batchersOf(db).settle(
        typeof hold === "string" ? `hold:${holdId}` : `${hold.accountId}:${hold.pool}`,
        charge,
      );
  return settlementOf(db, charge, row ?? undefined);
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
