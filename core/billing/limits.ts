// Spend limits per pool (a low-balance alert, a monthly soft cap that alerts, a monthly hard cap that refuses
// new paid work) and the billing events they raise — each once per month, not on every request.
import { z } from "zod";
import type { Pool } from "../../schema/database.ts";
import { publishEvent } from "../events/publish.ts";
import { iso, Timestamp } from "../kernel/common.ts";
import { present } from "../kernel/errors.ts";
import { type DB, defineOperation } from "../kernel/operation.ts";
import { IdCursor, Limit, pageOf } from "../kernel/pagination.ts";
import { currentPeriod } from "./ledger.ts";
import { Micros, Money, microsNumber, money, PoolName, toMicros } from "./money.ts";

type Kind = "low_balance" | "soft_cap" | "hard_cap";

/** Raises the alerts an account's current state calls for, once per window (the month). */
export async function raiseAlerts(db: DB, accountId: string, pool: Pool, opts: { spendHitHardCap?: boolean }) {
  const limits = await db
    .selectFrom("spend_limits")
    .selectAll()
    .where("account_id", "=", accountId)
    .where("pool", "=", pool)
    .executeTakeFirst();
  if (!limits) return;
  const bal = await db
    .selectFrom("balances")
    .selectAll()
    .where("account_id", "=", accountId)
    .where("pool", "=", pool)
    .executeTakeFirst();
  if (!bal) return;
  await raiseDueAlerts(db, accountId, pool, limits, bal, opts);
}

type Amount = string | bigint | null;

/** raiseAlerts on limits and a balance the caller already holds (a settle reads both in its one statement). */
export async function raiseDueAlerts(
  db: DB,
  accountId: string,
  pool: Pool,
  limits: { low_balance_alert: Amount; soft_cap: Amount; hard_cap: Amount },
  bal: { balance: Amount; held: Amount; period: string; period_spend: Amount },
  opts: { spendHitHardCap?: boolean },
) {
  const window = currentPeriod();
  const spent = bal.period === window ? toMicros(bal.period_spend) : 0n;
  const spendable = toMicros(bal.balance) - toMicros(bal.held);
  const due: [Kind, Record<string, unknown>][] = [];
  // Compared as bigint; the event details are bounded amounts, so JSON numbers.
  if (limits.low_balance_alert != null && spendable < toMicros(limits.low_balance_alert)) {
    due.push([
      "low_balance",
      { spendable_micros: microsNumber(spendable), threshold_micros: microsNumber(limits.low_balance_alert) },
    ]);
  }
  if (limits.soft_cap != null && spent >= toMicros(limits.soft_cap)) {
    due.push([
      "soft_cap",
      { period_spend_micros: microsNumber(spent), soft_cap_micros: microsNumber(limits.soft_cap) },
    ]);
  }
  if (limits.hard_cap != null && (opts.spendHitHardCap || spent >= toMicros(limits.hard_cap))) {
    due.push([
      "hard_cap",
      { period_spend_micros: microsNumber(spent), hard_cap_micros: microsNumber(limits.hard_cap) },
    ]);
  }
  for (const [kind, detail] of due) {
    const raised = await db
      .insertInto("billing_events")
      .values({ account_id: accountId, pool, kind, window, detail: JSON.stringify(detail) })
      .onConflict((oc) => oc.columns(["account_id", "pool", "kind", "window"]).doNothing())
      .returning("kind")
      .executeTakeFirst();
    // Published once, when the alert is first raised in its window (the soft cap stays a billing event only).
    const type = kind === "low_balance" ? "balance.low" : kind === "hard_cap" ? "spend_cap.reached" : null;
    if (raised && type) await publishEvent(db, { type, account: accountId, data: { pool, ...detail } });
  }
}

const Limits = z
  .object({
    pool: PoolName,
    low_balance_alert: Money.nullable(),
    soft_cap: Money.nullable(),
    hard_cap: Money.nullable(),
  })
  .meta({ id: "SpendLimits" });

const orNull = (v: string | null | undefined) => (v == null ? null : money(v));

async function readLimits(db: DB, accountId: string) {
  const rows = await db.selectFrom("spend_limits").selectAll().where("account_id", "=", accountId).execute();
  return (["wallet", "ai_credits"] as Pool[]).map((pool) => {
    const r = rows.find((x) => x.pool === pool);
    return {
      pool,
      low_balance_alert: orNull(r?.low_balance_alert),
      soft_cap: orNull(r?.soft_cap),
      hard_cap: orNull(r?.hard_cap),
    };
  });
}

export const getSpendLimits = defineOperation({
  id: "get_spend_limits",
  summary: "Get spend limits",
  tags: ["billing"],
  scope: "billing:read",
  effect: "read",
  level: "account",
  http: { method: "get", path: "/billing/limits" },
  input: z.object({}),
  output: z.object({ limits: z.array(Limits) }),
  handler: async (ctx) => ({ limits: await readLimits(ctx.db, ctx.principal.billedAccount) }),
});

export const updateSpendLimits = defineOperation({
  id: "update_spend_limits",
  summary: "Set spend limits for a pool",
  description:
    "Amounts in micro-dollars; null clears a limit, an omitted field is left as it is. Caps count the calendar month (UTC). " +
    "The hard cap refuses new paid work with 402 spend_cap_reached.",
  tags: ["billing"],
  scope: "billing:write",
  effect: "write",
  level: "account",
  http: { method: "put", path: "/billing/limits/{pool}" },
  input: z.object({
    pool: PoolName,
    low_balance_alert: Micros.nullable().optional(),
    soft_cap: Micros.nullable().optional(),
    hard_cap: Micros.nullable().optional(),
  }),
  output: Limits,
  handler: async (ctx, input) => {
    const accountId = ctx.principal.billedAccount;
    const { pool, ...changes } = input;
    // Caps are bounded by their schema (Micros: at most MAX_MICROS), so a cap past the bound is a 400 naming it.
    const set = Object.fromEntries(
      Object.entries(changes)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => [k, v === null ? null : toMicros(v)]),
    ) as { low_balance_alert?: bigint | null; soft_cap?: bigint | null; hard_cap?: bigint | null };
    await ctx.db
      .insertInto("spend_limits")
      .values({ account_id: accountId, pool, ...set })
      // Nothing to change (every field omitted): `do update set` with no columns is not SQL.
      .onConflict((oc) =>
        Object.keys(set).length
          ? oc.columns(["account_id", "pool"]).doUpdateSet(set)
          : oc.columns(["account_id", "pool"]).doNothing(),
      )
      .execute();
    return present(
      (await readLimits(ctx.db, accountId)).find((l) => l.pool === pool),
      `the ${pool} limit just written`,
    );
  },
});

export const listBillingEvents = defineOperation({
  id: "list_billing_events",
  summary: "List billing alerts",
  description: "Low balance, soft cap and hard cap alerts; each is raised at most once per pool per month.",
  tags: ["billing"],
  scope: "billing:read",
  effect: "read",
  level: "account",
  http: { method: "get", path: "/billing/events" },
  input: z.object({ limit: Limit, cursor: IdCursor }),
  output: z.object({
    events: z.array(
      z.object({
        id: z.string(),
        pool: PoolName,
        kind: z.string(),
        window: z.string(),
        detail: z.record(z.string(), z.unknown()),
        created_at: Timestamp,
      }),
    ),
    next_cursor: z.string().nullable(),
  }),
  handler: async (ctx, input) => {
    let q = ctx.db
      .selectFrom("billing_events")
      .selectAll()
      .where("account_id", "=", ctx.principal.billedAccount)
      .orderBy("id", "desc")
      .limit(input.limit + 1);
    if (input.cursor) q = q.where("id", "<", input.cursor);
    const { page, next_cursor } = pageOf(await q.execute(), input.limit, (last) => String(last.id));
    return {
      events: page.map((e) => ({
        id: String(e.id),
        pool: e.pool,
        kind: e.kind,
        window: e.window,
        detail: e.detail as Record<string, unknown>,
        created_at: iso(e.created_at),
      })),
      next_cursor,
    };
  },
});
