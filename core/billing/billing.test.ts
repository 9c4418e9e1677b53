// The billing operations over REST, and the meter the agent runner calls: trial credit, grants, caps and
// alerts, usage, pagination — and who may do what.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../../testkit/harness.ts";
import { expectLedgerConsistent } from "../../testkit/ledger-invariant.ts";
import { issueLinkToken } from "../identity/one-time.ts";
import { placeHold, settleHold } from "./holds.ts";
import { credit, ledgerMismatches } from "./ledger.ts";

let t: TestPlatform;
let adminToken: string;
beforeAll(async () => {
  t = await startTestPlatform({ config: { trialCreditMicros: 2_000_000 } });
  adminToken = await t.operator.token(["platform:admin"]);
});
afterAll(() => t?.close());

const balances = async (token: string) => {
  const res = await t.request("GET", "/v1/billing/balances", { token });
  expect(res.status).toBe(200);
  type Balance = { pool: "wallet" | "ai_credits"; spendable: { micros: number }; balance: { micros: number } };
  const list = (res.body as { balances: Balance[] }).balances;
  return { wallet: list.find((b) => b.pool === "wallet")!, ai_credits: list.find((b) => b.pool === "ai_credits")! };
};
/** An account (made directly, so without trial credit) with this much AI credit. */
async function funded(micros: number) {
  const user = await t.account();
  await credit(t.platform.db, { accountId: user.id, pool: "ai_credits", amount: micros, reason: "top_up" });
  return user;
}
const events = async (token: string) =>
  ((await t.request("GET", "/v1/billing/events", { token })).body as { events: { kind: string; pool: string }[] })
    .events;

describe("happy paths", () => {
  it("a registered account gets its trial AI credit once its email is verified, in micros, cents and dollars", async () => {
    const email = "trial@example.test";
    const reg = await t.request("POST", "/v1/auth/register", {
      body: { email, name: "Trial", password: "a-long-password" },
    });
    expect(reg.status).toBe(201);
    const login = await t.request("POST", "/v1/auth/login", { body: { email, password: "a-long-password" } });
    const token = (login.body as { token: string }).token;
    expect((await balances(token)).ai_credits.balance.micros).toBe(0);
    // The link register emails (this platform sends no email, so it is issued here; onboarding.test.ts follows a real one).
    const link = await issueLinkToken(t.platform.db, {
      purpose: "verify_email",
      email,
      accountId: (reg.body as { id: string }).id,
    });
    expect((await t.request("POST", "/v1/auth/verify-email", { body: { token: link.token } })).status).toBe(200);
    const b = await balances(token);
    expect(b.ai_credits).toMatchObject({ balance: { micros: 2_000_000, cents: 200, dollars: "2.00" } });
    expect(b.wallet.balance.micros).toBe(0);
  });

  it("the operator grants credit with a reason; it shows in transactions, and a shortfall is paid from it first", async () => {
    const user = await t.account();
    const token = await user.token(["billing:read"]);
    const grant = await t.request("POST", "/v1/admin/credit", {
      token: adminToken,
      body: { email: user.email, pool: "wallet", amount_micros: 5_000_000, reason: "goodwill" },
    });
    expect(grant.status).toBe(200);
    expect(grant.body).toMatchObject({
      pool: "wallet",
      amount: { micros: 5_000_000 },
      balance_after: { micros: 5_000_000 },
    });

    const list = await t.request("GET", "/v1/billing/transactions?pool=wallet", { token });
    expect((list.body as { transactions: unknown[] }).transactions).toEqual([
      expect.objectContaining({
        type: "credit",
        reason: "top_up",
        amount: expect.objectContaining({ micros: 5_000_000 }),
        metadata: expect.objectContaining({ note: "goodwill" }),
      }),
    ]);
    expect(await ledgerMismatches(t.platform.db)).toEqual([]);
  });

  it("the meter charges exact token costs, one ledger row per call, visible in usage by model and project", async () => {
    const user = await funded(2_000_000);
    const token = await user.token(["billing:read"]);
    const meter = t.platform.meter;
    // claude-sonnet-4-5 at $3 in / $15 out / $3.75 cache write / $0.30 cache read per M, margin as configured.
    const hold = await meter.hold({
      accountId: user.id,
      model: "claude-sonnet-4-5",
      inputTokens: 1000,
      maxOutputTokens: 1000,
    });
    const settled = await meter.settle(
      hold,
      { inputTokens: 1000, outputTokens: 500, cacheWriteTokens: 2000, cacheReadTokens: 10_000 },
      { project: "site-a", conversationId: "c1" },
    );
    const base = 1000 * 3 + 500 * 15 + 2000 * 3.75 + 10_000 * 0.3; // micro-dollars before margin
    const expected = Math.ceil((base * (10_000 + meter.prices.marginBps)) / 10_000);
    expect(settled).toMatchObject({ cost: BigInt(expected), charged: BigInt(expected), shortfall: 0n });
    expect(await meter.settle(hold, { inputTokens: 1, outputTokens: 1 })).toMatchObject({ charged: BigInt(expected) }); // a retry charges once

    const usage = (await t.request("GET", "/v1/billing/usage", { token })).body as Record<
      string,
      { key: string; spend: { micros: number } }[]
    >;
    expect(usage.by_model).toEqual([
      { key: "claude-sonnet-4-5", spend: expect.objectContaining({ micros: expected }) },
    ]);
    expect(usage.by_project).toEqual([{ key: "site-a", spend: expect.objectContaining({ micros: expected }) }]);
    const debits = (await t.request("GET", "/v1/billing/transactions?type=debit", { token })).body as {
      transactions: { metadata: Record<string, unknown> }[];
    };
    expect(debits.transactions).toHaveLength(1); // the hold itself moved no money
    expect(debits.transactions[0]!.metadata).toMatchObject({
      model: "claude-sonnet-4-5",
      input_tokens: 1000,
      output_tokens: 500,
      cache_read_tokens: 10_000,
      conversation_id: "c1",
    });
    expect((await balances(token)).ai_credits.balance.micros).toBe(2_000_000 - expected);
    await expectLedgerConsistent(t.platform.db, user.id);
  });

  it("crossing the soft cap raises one alert; crossing the hard cap refuses the next hold with 402 spend_cap_reached", async () => {
    const user = await funded(2_000_000);
    const token = await user.token(["billing:read", "billing:write"]);
    const set = await t.request("PUT", "/v1/billing/limits/ai_credits", {
      token,
      body: { soft_cap: 30, hard_cap: 50, low_balance_alert: 1_000 },
    });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ soft_cap: { micros: 30 }, hard_cap: { micros: 50 } });

    for (const cost of [20, 15, 10]) {
      const h = await placeHold(t.platform.db, { accountId: user.id, pool: "ai_credits", amount: 15 });
      await settleHold(t.platform.db, h.id, { cost });
    }
    expect((await events(token)).filter((e) => e.kind === "soft_cap")).toHaveLength(1); // crossed at 35, still 45: once
    // 45 spent; a hold of 10 would make 55 > 50.
    await expect(
      placeHold(t.platform.db, { accountId: user.id, pool: "ai_credits", amount: 10 }),
    ).rejects.toMatchObject({ code: "spend_cap_reached", status: 402 });
    await expect(
      placeHold(t.platform.db, { accountId: user.id, pool: "ai_credits", amount: 10 }),
    ).rejects.toMatchObject({ code: "spend_cap_reached" });
    expect((await events(token)).filter((e) => e.kind === "hard_cap")).toHaveLength(1);
    expect((await events(token)).filter((e) => e.kind === "low_balance")).toHaveLength(0); // $2 left: not low
    // The hard cap is also a catalog event (webhooks, notifications), published once; the soft cap is not.
    const published = await t.platform.db
      .selectFrom("events")
      .select(["type", "data"])
      .where("account_id", "=", user.id)
      .where("type", "in", ["spend_cap.reached", "balance.low"])
      .execute();
    expect(published).toEqual([
      {
        type: "spend_cap.reached",
        data: { project: null, pool: "ai_credits", period_spend_micros: 45, hard_cap_micros: 50 },
      },
    ]);

    // Raising the cap lets work go on.
    await t.request("PUT", "/v1/billing/limits/ai_credits", { token, body: { hard_cap: null } });
    await expect(
      placeHold(t.platform.db, { accountId: user.id, pool: "ai_credits", amount: 10 }),
    ).resolves.toMatchObject({ amount: 10n });
    await expectLedgerConsistent(t.platform.db, user.id);
  });

  it("paginates transactions newest first with a cursor", async () => {
    const user = await t.account();
    const token = await user.token(["billing:read"]);
    for (let i = 1; i <= 5; i++)
      await credit(t.platform.db, { accountId: user.id, pool: "wallet", amount: i, reason: "top_up" });
    const seen: number[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 5; page++) {
      const res = await t.request(
        "GET",
        `/v1/billing/transactions?pool=wallet&limit=2${cursor ? `&cursor=${cursor}` : ""}`,
        { token },
      );
      const body = res.body as { transactions: { amount: { micros: number } }[]; next_cursor: string | null };
      seen.push(...body.transactions.map((x) => x.amount.micros));
      cursor = body.next_cursor;
      if (!cursor) break;
    }
    expect(seen).toEqual([5, 4, 3, 2, 1]);
  });
});

describe("errors", () => {
  it("an out-of-credit hold is 402 payment_required naming what is spendable", async () => {
    const user = await t.account();
    await expect(
      t.platform.meter.hold({ accountId: user.id, model: "claude-sonnet-4-5", inputTokens: 10, maxOutputTokens: 10 }),
    ).rejects.toMatchObject({
      code: "payment_required",
      status: 402,
    });
  });

  it("bad limits and grants are 400 naming the field, and change nothing", async () => {
    const user = await t.account();
    const token = await user.token(["billing:read", "billing:write"]);
    const neg = await t.request("PUT", "/v1/billing/limits/ai_credits", { token, body: { hard_cap: -5 } });
    expect(neg.status).toBe(400);
    expect(JSON.stringify(neg.body)).toContain("hard_cap");
    const pool = await t.request("PUT", "/v1/billing/limits/gold", { token, body: { hard_cap: 5 } });
    expect(pool.status).toBe(400);
    expect(JSON.stringify(pool.body)).toContain("pool");
    const limits = (await t.request("GET", "/v1/billing/limits", { token })).body as {
      limits: { hard_cap: unknown }[];
    };
    expect(limits.limits.every((l) => l.hard_cap === null)).toBe(true);

    const fraction = await t.request("POST", "/v1/admin/credit", {
      token: adminToken,
      body: { email: user.email, pool: "wallet", amount_micros: 1.5, reason: "x" },
    });
    expect(fraction.status).toBe(400);
    const nobody = await t.request("POST", "/v1/admin/credit", {
      token: adminToken,
      body: { email: "nobody@example.test", pool: "wallet", amount_micros: 1, reason: "x" },
    });
    expect(nobody.status).toBe(404);
    expect((await balances(await user.token(["billing:read"]))).wallet.balance.micros).toBe(0);
  });
});

describe("security", () => {
  it("only the operator grants credit: a customer holding every scope gets 403 naming platform:admin", async () => {
    const user = await t.account();
    const res = await t.request("POST", "/v1/admin/credit", {
      token: await user.token(["*"]),
      body: { email: user.email, pool: "wallet", amount_micros: 1_000_000, reason: "free money" },
    });
    expect(res.status).toBe(403);
    expect(JSON.stringify(res.body)).toContain("platform:admin");
    expect((await balances(await user.token(["billing:read"]))).wallet.balance.micros).toBe(0);
  });

  it("each account sees only its own balances, transactions and alerts", async () => {
    const a = await t.account();
    const b = await t.account();
    await credit(t.platform.db, { accountId: a.id, pool: "wallet", amount: 777, reason: "top_up" });
    const tokenB = await b.token(["billing:read"]);
    expect((await balances(tokenB)).wallet.balance.micros).toBe(0);
    const list = (await t.request("GET", "/v1/billing/transactions?pool=wallet", { token: tokenB })).body as {
      transactions: unknown[];
    };
    expect(list.transactions).toEqual([]);
  });

  it("reading billing needs billing:read and changing limits billing:write", async () => {
    const user = await t.account();
    const noBilling = await user.token(["projects:read"]);
    const read = await t.request("GET", "/v1/billing/balances", { token: noBilling });
    expect(read.status).toBe(403);
    expect(JSON.stringify(read.body)).toContain("billing:read");
    const write = await t.request("PUT", "/v1/billing/limits/wallet", {
      token: await user.token(["billing:read"]),
      body: { hard_cap: 1 },
    });
    expect(write.status).toBe(403);
    expect(JSON.stringify(write.body)).toContain("billing:write");
  });
});

describe("list_billing_events", () => {
  /** An account whose AI credit crossed its low balance alert, its soft cap and its hard cap: three alerts. */
  async function alerted() {
    const user = await funded(100);
    const token = await user.token(["billing:read", "billing:write"]);
    const set = await t.request("PUT", "/v1/billing/limits/ai_credits", {
      token,
      body: { soft_cap: 30, hard_cap: 50, low_balance_alert: 1_000 },
    });
    expect(set.status).toBe(200);
    for (const cost of [20, 15, 10]) {
      const h = await placeHold(t.platform.db, { accountId: user.id, pool: "ai_credits", amount: 15 });
      await settleHold(t.platform.db, h.id, { cost });
    }
    await expect(
      placeHold(t.platform.db, { accountId: user.id, pool: "ai_credits", amount: 10 }),
    ).rejects.toMatchObject({ code: "spend_cap_reached" });
    return { user, token };
  }
  type Page = {
    events: { id: string; kind: string; pool: string; window: string; detail: object }[];
    next_cursor: null;
  };

  it("lists the account's alerts newest first with their details, a page at a time", async () => {
    const { token } = await alerted();
    const all = await t.request("GET", "/v1/billing/events", { token });
    expect(all.status).toBe(200);
    const body = all.body as Page;
    expect(body.events.map((e) => e.kind)).toEqual(["hard_cap", "soft_cap", "low_balance"]);
    expect(body.next_cursor).toBeNull();
    expect(body.events[1]).toMatchObject({
      pool: "ai_credits",
      window: new Date().toISOString().slice(0, 7),
      detail: { period_spend_micros: 35, soft_cap_micros: 30 },
    });

    const first = (await t.request("GET", "/v1/billing/events?limit=2", { token })).body as {
      events: { kind: string }[];
      next_cursor: string;
    };
    expect(first.events.map((e) => e.kind)).toEqual(["hard_cap", "soft_cap"]);
    const rest = (await t.request("GET", `/v1/billing/events?limit=2&cursor=${first.next_cursor}`, { token }))
      .body as Page;
    expect(rest.events.map((e) => e.kind)).toEqual(["low_balance"]);
    expect(rest.next_cursor).toBeNull();
  });

  it("answers bad paging with 400 naming the field, and a token without billing:read with 403", async () => {
    const { user, token } = await alerted();
    for (const [query, field] of [
      ["limit=0", "limit"],
      ["limit=500", "limit"],
      ["cursor=abc", "cursor"],
    ]) {
      const res = await t.request("GET", `/v1/billing/events?${query}`, { token });
      expect(res.status, query).toBe(400);
      expect(res.body.error.code).toBe("validation_error");
      expect(res.body.error.issues.map((i: { path: string }) => i.path)).toContain(field);
    }
    const denied = await t.request("GET", "/v1/billing/events", { token: await user.token(["billing:write"]) });
    expect(denied.status).toBe(403);
    expect(denied.body.error).toMatchObject({ code: "insufficient_scope", required_scope: "billing:read" });
  });

  it("never shows another account's alerts, not even through its cursor", async () => {
    const { token } = await alerted();
    const theirs = (await t.request("GET", "/v1/billing/events", { token })).body as Page;
    expect(theirs.events).toHaveLength(3);
    const other = await (await t.account()).token(["billing:read"]);
    expect((await t.request("GET", "/v1/billing/events", { token: other })).body).toEqual({
      events: [],
      next_cursor: null,
    });
    const newest = theirs.events[0]?.id ?? "";
    const past = await t.request("GET", `/v1/billing/events?cursor=${Number(newest) + 1}`, { token: other });
    expect(past.body.events).toEqual([]);
  });
});

describe("get_spend_limits", () => {
  it("shows both pools' limits as set, only to their account, and needs billing:read", async () => {
    const user = await t.account();
    const token = await user.token(["billing:read", "billing:write"]);
    const set = await t.request("PUT", "/v1/billing/limits/ai_credits", {
      token,
      body: { soft_cap: 3_000_000, hard_cap: 5_000_000 },
    });
    expect(set.status).toBe(200);
    const got = await t.request("GET", "/v1/billing/limits", { token: await user.token(["billing:read"]) });
    expect(got.status).toBe(200);
    const byPool = Object.fromEntries(got.body.limits.map((l: { pool: string }) => [l.pool, l]));
    expect(Object.keys(byPool).sort()).toEqual(["ai_credits", "wallet"]);
    expect(byPool.ai_credits).toMatchObject({
      soft_cap: { micros: 3_000_000, dollars: "3.00" },
      hard_cap: { micros: 5_000_000 },
      low_balance_alert: null,
    });
    expect(byPool.wallet).toMatchObject({ soft_cap: null, hard_cap: null, low_balance_alert: null });

    const other = await (await t.account()).token(["billing:read"]);
    const theirs = await t.request("GET", "/v1/billing/limits", { token: other });
    expect(theirs.body.limits.every((l: { hard_cap: unknown }) => l.hard_cap === null)).toBe(true);
    const unknown = await t.request("GET", "/v1/billing/limits?zz_unknown=1", { token });
    expect(unknown.status).toBe(400);
    expect(JSON.stringify(unknown.body.error.issues)).toContain("zz_unknown");
    const denied = await t.request("GET", "/v1/billing/limits", { token: await user.token(["billing:write"]) });
    expect(denied.status).toBe(403);
    expect(denied.body.error.required_scope).toBe("billing:read");
  });
});
