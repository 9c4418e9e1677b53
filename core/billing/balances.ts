// Balances and transactions as the customer sees them, and the operator's manual top-up or refund.
import { sql } from "kysely";
import { z } from "zod";
import { Email, iso, Timestamp } from "../kernel/common.ts";
import { notFound } from "../kernel/errors.ts";
import { defineOperation, reachableProjects } from "../kernel/operation.ts";
import { IdCursor, Limit, pageOf } from "../kernel/pagination.ts";
import { credit, POOLS } from "./ledger.ts";
import { absMicros, Micros, Money, money, PoolName, toMicros } from "./money.ts";

const Balance = z
  .object({ pool: PoolName, balance: Money, held: Money, spendable: Money, shortfall: Money })
  .meta({ id: "Balance" });

const Transaction = z
  .object({
    id: z.string(),
    pool: PoolName,
    type: z.enum(["credit", "debit"]),
    amount: Money.meta({ description: "Always positive; `type` gives the direction" }),
    balance_after: Money,
    reason: z.string(),
    metadata: z.record(z.string(), z.unknown()),
    created_at: Timestamp,
  })
  .meta({ id: "Transaction" });

export const getBalances = defineOperation({
  id: "get_balances",
  summary: "Get your balances",
  description:
    "Both pools: the wallet (platform resources) and AI credits (agent tokens), with what is held by running work.",
  tags: ["billing"],
  scope: "billing:read",
  effect: "read",
  level: "any",
  http: { method: "get", path: "/billing/balances" },
  input: z.object({}),
  output: z.object({ balances: z.array(Balance) }),
  handler: async (ctx) => {
    const rows = await ctx.db
      .selectFrom("balances")
      .selectAll()
      .where("account_id", "=", ctx.principal.billedAccount)
      .execute();
    return {
      balances: POOLS.map((pool) => {
        const r = rows.find((x) => x.pool === pool);
        const balance = toMicros(r?.balance);
        const held = toMicros(r?.held);
        return {
          pool,
          balance: money(balance),
          held: money(held),
          spendable: money(balance - held),
          shortfall: money(toMicros(r?.shortfall)),
        };
      }),
    };
  },
});

export const listTransactions = defineOperation({
  id: "list_transactions",
  summary: "List ledger transactions",
  description: "Newest first. A credential restricted to projects sees only its projects' entries.",
  tags: ["billing"],
  scope: "billing:read",
  effect: "read",
  level: "any",
  http: { method: "get", path: "/billing/transactions" },
  input: z.object({
    pool: PoolName.optional(),
    type: z.enum(["credit", "debit"]).optional(),
    since: z.iso.datetime({ offset: true }).optional(),
    limit: Limit,
    cursor: IdCursor,
  }),
  output: z.object({ transactions: z.array(Transaction), next_cursor: z.string().nullable() }),
  handler: async (ctx, input) => {
    let q = ctx.db
      .selectFrom("ledger_entries")
      .selectAll()
      .where("account_id", "=", ctx.principal.billedAccount)
      .orderBy("id", "desc")
      .limit(input.limit + 1);
    // A credential restricted to projects sees only what its projects spent, not top-ups or other projects' spend.
    const reach = reachableProjects(ctx.principal);
    if (reach) q = q.where(sql<string>`metadata->>'project'`, "in", reach.length ? reach : [""]);
    if (input.pool) q = q.where("pool", "=", input.pool);
    if (input.type === "credit") q = q.where("amount", ">", sql<string>`0`);
    if (input.type === "debit") q = q.where("amount", "<=", sql<string>`0`);
    if (input.since) q = q.where("created_at", ">=", new Date(input.since));
    if (input.cursor) q = q.where("id", "<", input.cursor);
    const { page, next_cursor } = pageOf(await q.execute(), input.limit, (last) => String(last.id));
    return {
      transactions: page.map((r) => ({
        id: String(r.id),
        pool: r.pool,
        type: toMicros(r.amount) > 0n ? ("credit" as const) : ("debit" as const),
        amount: money(absMicros(toMicros(r.amount))),
        balance_after: money(r.balance_after),
        reason: r.reason,
        metadata: r.metadata as Record<string, unknown>,
        created_at: iso(r.created_at),
      })),
      next_cursor,
    };
  },
});

export const grantCredit = defineOperation({
  id: "grant_credit",
  summary: "Grant credit to an account (operator)",
  description:
    "A manual top-up or refund into one pool, with a reason; an unpaid shortfall is paid from it first. Refused (400 naming `amount_micros`, nothing written) past 10^15 micro-dollars in the pool's balance or total credited.",
  tags: ["billing", "platform"],
  scope: "platform:admin",
  effect: "write",
  level: "account",
  http: { method: "post", path: "/admin/credit" },
  input: z.object({
    email: Email.meta({ description: "The account to credit" }),
    pool: PoolName,
    amount_micros: Micros.min(1),
    kind: z.enum(["top_up", "refund"]).default("top_up"),
    reason: z.string().min(1).max(500),
  }),
  output: z.object({ transaction_id: z.string(), pool: PoolName, amount: Money, balance_after: Money }),
  handler: async (ctx, input) => {
    const account = await ctx.db
      .selectFrom("accounts")
      .select("id")
      .where("email", "=", input.email)
      .executeTakeFirst();
    if (!account) throw notFound("account", input.email);
    const entry = await credit(ctx.db, {
      accountId: account.id,
      pool: input.pool,
      amount: BigInt(input.amount_micros),
      field: "amount_micros",
      reason: input.kind,
      metadata: { note: input.reason, granted_by: ctx.principal.account.id, request_id: ctx.requestId },
    });
    return {
      transaction_id: entry.id,
      pool: entry.pool,
      amount: money(entry.amount),
      balance_after: money(entry.balance_after),
    };
  },
});
