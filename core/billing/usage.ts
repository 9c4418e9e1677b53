// Month-to-date spend, broken down for people and dashboards, and the current burn rate.
import { sql } from "kysely";
import { z } from "zod";
import { defineOperation, reachableProjects } from "../kernel/operation.ts";
import { currentPeriod } from "./ledger.ts";
import { Money, money, toMicros } from "./money.ts";

const Breakdown = z.array(z.object({ key: z.string(), spend: Money }));

export const getUsage = defineOperation({
  id: "get_usage",
  summary: "Get month-to-date usage",
  description: "Spend this calendar month (UTC) by pool, by reason, by model and by project, and the burn rate.",
  tags: ["billing"],
  scope: "billing:read",
  effect: "read",
  level: "any",
  http: { method: "get", path: "/billing/usage" },
  input: z.object({}),
  output: z.object({
    period: z.string(),
    total: Money,
    by_pool: Breakdown,
    by_reason: Breakdown,
    by_model: Breakdown,
    by_project: Breakdown,
    burn_rate: z.object({ last_24h: Money, daily_average_7d: Money }),
  }),
  handler: async (ctx) => {
    const period = currentPeriod();
    const monthStart = new Date(`${period}-01T00:00:00.000Z`);
    // A credential restricted to projects sees only its projects' spend, never the account's other projects'.
    const reach = reachableProjects(ctx.principal);
    const spend = ctx.db
      .selectFrom("ledger_entries")
      .where("account_id", "=", ctx.principal.billedAccount)
      .where("amount", "<", sql<string>`0`)
      .$call((q) => (reach ? q.where(sql<string>`metadata->>'project'`, "in", reach.length ? reach : [""]) : q));
    const group = async (key: ReturnType<typeof sql<string>>) => {
      const rows = await spend
        .where("created_at", ">=", monthStart)
        .select([key.as("key"), sql<string>`-sum(amount)`.as("spend")])
        .groupBy(sql`1`)
        .orderBy(sql`2`, "desc")
        .execute();
      return rows.map((r) => ({ key: r.key ?? "(none)", micros: toMicros(r.spend) }));
    };
    const since = async (ms: number) => {
      const row = await spend
        .where("created_at", ">=", new Date(Date.now() - ms))
        .select(sql<string>`coalesce(-sum(amount), 0)`.as("spend"))
        .executeTakeFirstOrThrow();
      return toMicros(row.spend);
    };
    // Sums are numeric in SQL and bigint here, exact; shown as Money (bounded: spend never exceeds what was
    // credited, and credits are bounded per pool).
    const shown = (rows: { key: string; micros: bigint }[]) =>
      rows.map((r) => ({ key: r.key, spend: money(r.micros) }));
    const byPool = await group(sql<string>`pool`);
    const day = 86_400_000;
    const week = await since(7 * day);
    return {
      period,
      total: money(byPool.reduce((s, r) => s + r.micros, 0n)),
      by_pool: shown(byPool),
      by_reason: shown(await group(sql<string>`reason`)),
      by_model: shown(await group(sql<string>`metadata->>'model'`)),
      by_project: shown(await group(sql<string>`metadata->>'project'`)),
      // Rounded half up, as Math.round did for these non-negative sums.
      burn_rate: { last_24h: money(await since(day)), daily_average_7d: money((week * 2n + 7n) / 14n) },
    };
  },
});
