// Money that cannot overflow: amounts are bigint in core and bounded JSON integers on the wire. A grant or cap
// past the bound is a 400 naming the field with nothing written (it used to commit and then answer 500); sums
// past 2^53 stay exact; the representation round-trips on REST and MCP.
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestAccount, type TestPlatform } from "../../testkit/harness.ts";
import { expectLedgerConsistent } from "../../testkit/ledger-invariant.ts";
import { connectMcp } from "../../testkit/mcp-client.ts";
import { loadConfig } from "../config.ts";
import { placeHold, settleHold } from "./holds.ts";
import { credit, ledgerMismatches } from "./ledger.ts";
import { MAX_MICROS, money, toMicros } from "./money.ts";

const MAX = Number(MAX_MICROS); // 10^15 µ$ = $1,000,000,000
const TWO_53 = 2n ** 53n;

let t: TestPlatform;
let adminToken: string;
let adminMcp: Client;
beforeAll(async () => {
  t = await startTestPlatform();
  adminToken = await t.operator.token(["platform:admin"]);
  adminMcp = await connectMcp(t.app, adminToken);
});
afterAll(async () => {
  await adminMcp?.close();
  await t?.close();
});

const grant = (email: string, amount: unknown, pool = "wallet") =>
  t.request("POST", "/v1/admin/credit", {
    token: adminToken,
    body: { email, pool, amount_micros: amount, reason: "test" },
  });
const ledgerRows = async (accountId: string) =>
  (await t.platform.db.selectFrom("ledger_entries").select("id").where("account_id", "=", accountId).execute()).length;
const walletOf = async (accountId: string) =>
  (
    await t.platform.db
      .selectFrom("balances")
      .select("balance")
      .where("account_id", "=", accountId)
      .where("pool", "=", "wallet")
      .executeTakeFirst()
  )?.balance ?? "0";
const mcpCall = async (client: Client, name: string, args: Record<string, unknown>) =>
  (await client.callTool({ name, arguments: args })) as CallToolResult;
const mcpJson = (r: CallToolResult) => JSON.parse((r.content[0] as { text: string }).text);

/** Legacy money written before the bound existed: a wallet at `micros`, with its ledger row. */
async function legacyWallet(user: TestAccount, micros: bigint) {
  await t.platform.db
    .insertInto("ledger_entries")
    .values({
      account_id: user.id,
      pool: "wallet",
      amount: micros,
      balance_after: micros,
      reason: "top_up",
      metadata: "{}",
    })
    .execute();
  await t.platform.db
    .insertInto("balances")
    .values({ account_id: user.id, pool: "wallet", balance: micros, held: 0n, shortfall: 0n, period_spend: 0n })
    .execute();
}

describe("the representation", () => {
  it("shows bounded amounts as exact JSON integers, with exact cents and dollars", () => {
    expect(money(MAX_MICROS)).toEqual({ micros: 1e15, cents: 100_000_000_000, dollars: "1000000000.00" });
    expect(money(999_999_999_999_999n)).toEqual({
      micros: 999_999_999_999_999,
      cents: 99_999_999_999,
      dollars: "999999999.99",
    });
    expect(money("1234567")).toEqual({ micros: 1_234_567, cents: 123, dollars: "1.23" });
    expect(money(-1_500_000n)).toEqual({ micros: -1_500_000, cents: -150, dollars: "-1.50" });
    // Past 2^53 it refuses rather than answer a rounded amount.
    expect(() => money(TWO_53 + 1n)).toThrow(/safe integer/);
    expect(toMicros("9007199254740993")).toBe(TWO_53 + 1n);
    expect(() => toMicros(2 ** 53 + 2)).toThrow();
    expect(() => toMicros("1.5")).toThrow();
  });

  it("round-trips on REST and MCP: what is granted is what every read shows, to the micro-dollar", async () => {
    const user = await t.account();
    const reader = await user.token(["billing:read"]);
    const readerMcp = await connectMcp(t.app, reader);
    try {
      const amount = 123_456_789_012_345; // $123,456,789.012345: past 2^32, exact only as an integer
      const viaMcp = await mcpCall(adminMcp, "grant_credit", {
        email: user.email,
        pool: "wallet",
        amount_micros: amount,
        reason: "mcp",
      });
      expect(viaMcp.isError).toBeFalsy();
      expect(viaMcp.structuredContent).toMatchObject({
        amount: { micros: amount, cents: 12_345_678_901, dollars: "123456789.01" },
        balance_after: { micros: amount },
      });
      expect(mcpJson(viaMcp)).toEqual(viaMcp.structuredContent);
      const viaRest = await grant(user.email, 7);
      expect(viaRest.status).toBe(200);
      expect(viaRest.body).toMatchObject({
        amount: { micros: 7 },
        balance_after: { micros: amount + 7, dollars: "123456789.01" },
      });
      expect(await walletOf(user.id)).toBe(String(amount + 7));

      const restBalances = (await t.request("GET", "/v1/billing/balances", { token: reader })).body;
      const mcpBalances = await mcpCall(readerMcp, "get_balances", {});
      expect(mcpBalances.structuredContent).toEqual(restBalances);
      expect(restBalances.balances).toContainEqual(
        expect.objectContaining({ pool: "wallet", balance: money(amount + 7), spendable: money(amount + 7) }),
      );
      // The raw JSON text carries the integer itself, not a float or a string.
      const raw = await (
        await t.app.request("/v1/billing/balances", { headers: { Authorization: `Bearer ${reader}` } })
      ).text();
      expect(raw).toContain(`"micros":${amount + 7},`);

      const restTx = (await t.request("GET", "/v1/billing/transactions?pool=wallet", { token: reader })).body;
      const mcpTx = await mcpCall(readerMcp, "list_transactions", { pool: "wallet" });
      expect(mcpTx.structuredContent).toEqual(restTx);
      expect(restTx.transactions.map((x: { amount: { micros: number } }) => x.amount.micros)).toEqual([7, amount]);

      // Caps: the largest allowed cap round-trips; one past it is a 400 naming the field, on both surfaces.
      const writer = await user.token(["billing:read", "billing:write"]);
      const cap = await t.request("PUT", "/v1/billing/limits/wallet", {
        token: writer,
        body: { hard_cap: MAX, soft_cap: amount },
      });
      expect(cap.status).toBe(200);
      expect(cap.body).toMatchObject({
        hard_cap: { micros: MAX, dollars: "1000000000.00" },
        soft_cap: { micros: amount },
      });
      const over = await t.request("PUT", "/v1/billing/limits/wallet", { token: writer, body: { hard_cap: MAX + 1 } });
      expect(over.status).toBe(400);
      expect(JSON.stringify(over.body)).toContain("hard_cap");
      const writerMcp = await connectMcp(t.app, writer);
      const overMcp = await mcpCall(writerMcp, "update_spend_limits", { pool: "wallet", hard_cap: 2 ** 53 + 2 });
      await writerMcp.close();
      expect(overMcp.isError).toBe(true);
      expect(mcpJson(overMcp).error).toMatchObject({
        code: "validation_error",
        message: expect.stringContaining("hard_cap"),
      });
      expect((await t.request("GET", "/v1/billing/limits", { token: reader })).body.limits).toContainEqual(
        expect.objectContaining({ pool: "wallet", hard_cap: money(MAX) }),
      );
      await expectLedgerConsistent(t.platform.db, user.id);
    } finally {
      await readerMcp.close();
    }
  });
});

describe("documentation and configuration", () => {
  it("the OpenAPI document says what the representation and the bound are", async () => {
    const doc = (await t.request("GET", "/openapi.json")).body;
    const money = doc.components.schemas.Money;
    expect(money.properties.micros).toMatchObject({
      type: "integer",
      maximum: 2 * MAX,
      description: expect.stringContaining("2^53"),
    });
    const grantOp = doc.paths["/v1/admin/credit"].post;
    const body = grantOp.requestBody.content["application/json"].schema;
    const resolved = body.$ref ? doc.components.schemas[body.$ref.split("/").at(-1)] : body;
    expect(resolved.properties.amount_micros).toMatchObject({ type: "integer", minimum: 1, maximum: MAX });
    expect(grantOp.description).toContain("amount_micros");
  });

  it("a trial credit past the bound is refused at start, not by every registration", () => {
    expect(loadConfig({ BOSUN_TRIAL_CREDIT_USD: "5" }).trialCreditMicros).toBe(5_000_000);
    expect(loadConfig({ BOSUN_TRIAL_CREDIT_USD: "1000000000" }).trialCreditMicros).toBe(MAX);
    expect(() => loadConfig({ BOSUN_TRIAL_CREDIT_USD: "1000000000.01" })).toThrow(/BOSUN_TRIAL_CREDIT_USD/);
    expect(() => loadConfig({ BOSUN_TRIAL_CREDIT_USD: "-1" })).toThrow(/BOSUN_TRIAL_CREDIT_USD/);
    expect(() => loadConfig({ BOSUN_TRIAL_CREDIT_USD: "1e300" })).toThrow(/BOSUN_TRIAL_CREDIT_USD/);
  });
});

describe("the bound", () => {
  it("a grant that would take a balance past the bound is a 400 naming amount_micros, and nothing is written", async () => {
    const user = await t.account();
    const first = await grant(user.email, MAX);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ balance_after: { micros: MAX } });
    // Before the bound, ten of these passed 2^53: the grant committed, then the answer was a 500.
    for (let i = 0; i < 9; i++) {
      const again = await grant(user.email, MAX);
      expect(again.status).toBe(400);
      expect(again.body.error).toMatchObject({
        code: "validation_error",
        issues: [expect.objectContaining({ path: "amount_micros" })],
      });
    }
    const one = await grant(user.email, 1);
    expect(one.status).toBe(400);
    expect(one.body.error.message).toContain("amount_micros");
    expect(await ledgerRows(user.id)).toBe(1);
    expect(await walletOf(user.id)).toBe(String(MAX));
    await expectLedgerConsistent(t.platform.db, user.id);
  });

  it("a grant on a balance already near 2^53 is refused cleanly on REST and MCP: no commit, no 500", async () => {
    const user = await t.account();
    await legacyWallet(user, TWO_53 - 10n);
    const rest = await grant(user.email, 20);
    expect(rest.status).toBe(400);
    expect(rest.body.error.issues).toEqual([expect.objectContaining({ path: "amount_micros" })]);
    const mcp = await mcpCall(adminMcp, "grant_credit", {
      email: user.email,
      pool: "wallet",
      amount_micros: 20,
      reason: "mcp",
    });
    expect(mcp.isError).toBe(true);
    expect(mcpJson(mcp).error).toEqual(rest.body.error);
    // An amount that is not a safe integer never reaches the ledger either.
    const unsafe = await grant(user.email, 2 ** 53 + 2);
    expect(unsafe.status).toBe(400);
    expect(JSON.stringify(unsafe.body)).toContain("amount_micros");
    expect(await ledgerRows(user.id)).toBe(1);
    expect(await walletOf(user.id)).toBe(String(TWO_53 - 10n));
    expect(await ledgerMismatches(t.platform.db, user.id)).toEqual([]);
  });

  it("the total ever credited is bounded too, so no sum of a pool's ledger can pass it", async () => {
    const user = await t.account();
    await credit(t.platform.db, { accountId: user.id, pool: "ai_credits", amount: MAX_MICROS, reason: "top_up" });
    const hold = await placeHold(t.platform.db, { accountId: user.id, pool: "ai_credits", amount: MAX_MICROS });
    await settleHold(t.platform.db, hold.id, { cost: MAX_MICROS }); // all spent: the balance is 0 again
    const refill = await grant(user.email, 1, "ai_credits");
    expect(refill.status).toBe(400);
    expect(refill.body.error.message).toMatch(/amount_micros: the total ever credited/);
    // A direct credit in core is refused the same way.
    await expect(
      credit(t.platform.db, { accountId: user.id, pool: "ai_credits", amount: 1, reason: "top_up" }),
    ).rejects.toMatchObject({ code: "validation_error" });
    // The month's usage sums to exactly the bound, as an exact integer.
    const usage = (await t.request("GET", "/v1/billing/usage", { token: await user.token(["billing:read"]) })).body;
    expect(usage.total).toEqual(money(MAX_MICROS));
    await expectLedgerConsistent(t.platform.db, user.id);
  });

  it("concurrent grants near the bound: exactly those that fit commit, the rest are 400, the ledger sums", async () => {
    const user = await t.account();
    await credit(t.platform.db, { accountId: user.id, pool: "wallet", amount: MAX_MICROS - 5n, reason: "top_up" });
    const results = await Promise.all(Array.from({ length: 12 }, () => grant(user.email, 1)));
    expect(results.map((r) => r.status).sort()).toEqual([...Array(5).fill(200), ...Array(7).fill(400)]);
    expect(await walletOf(user.id)).toBe(String(MAX_MICROS));
    await expectLedgerConsistent(t.platform.db, user.id);
  });

  it("a hold past the bound is refused as payment_required, not an int8 overflow", async () => {
    const user = await t.account();
    await credit(t.platform.db, { accountId: user.id, pool: "ai_credits", amount: 10, reason: "top_up" });
    await expect(
      placeHold(t.platform.db, { accountId: user.id, pool: "ai_credits", amount: 2n ** 70n }),
    ).rejects.toMatchObject({
      code: "payment_required",
      details: { required_micros: String(2n ** 70n) },
    });
    // A settle reporting an absurd cost charges what is spendable and records a bounded shortfall.
    const hold = await placeHold(t.platform.db, { accountId: user.id, pool: "ai_credits", amount: 10 });
    const s = await settleHold(t.platform.db, hold.id, { cost: 2n ** 70n });
    expect(s).toMatchObject({ charged: 10n, shortfall: MAX_MICROS - 10n });
    await expectLedgerConsistent(t.platform.db, user.id);
  });
});

describe("sums past 2^53", () => {
  it("the driver (pg or PGlite, whichever this run uses) gives int8 and numeric as exact strings, converted to bigint", async () => {
    const row = await sql<{
      a: unknown;
      s: unknown;
    }>`select ${TWO_53 + 1n}::int8 as a, sum(x) as s from (values (${TWO_53}::int8), (3::int8)) v(x)`.execute(
      t.platform.db,
    );
    expect(row.rows[0]).toEqual({ a: "9007199254740993", s: "9007199254740995" });
    expect(toMicros(row.rows[0]!.s as string)).toBe(TWO_53 + 3n);
  });

  it("the ledger invariant compares exactly: a mismatch of one micro-dollar past 2^53 is found", async () => {
    const user = await t.account();
    await legacyWallet(user, TWO_53);
    await t.platform.db
      .insertInto("ledger_entries")
      .values({
        account_id: user.id,
        pool: "wallet",
        amount: 1n,
        balance_after: TWO_53 + 1n,
        reason: "top_up",
        metadata: "{}",
      })
      .execute();
    // The ledger sums to 2^53 + 1 and the balance says 2^53: as numbers both are 9007199254740992.
    expect(Number(TWO_53 + 1n)).toBe(Number(TWO_53));
    expect(await ledgerMismatches(t.platform.db, user.id)).toEqual([
      { account_id: user.id, pool: "wallet", balance: String(TWO_53), ledger_sum: String(TWO_53 + 1n) },
    ]);
    await t.platform.db
      .updateTable("balances")
      .set({ balance: sql<string>`balance + 1` })
      .where("account_id", "=", user.id)
      .execute();
    expect(await ledgerMismatches(t.platform.db, user.id)).toEqual([]);
  });
});
