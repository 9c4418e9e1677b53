// The operator's own account on a fresh install: their agent use is metered (ledger rows, get_usage) but never
// refused for lack of credit — they pay the model provider themselves. Customers are still refused at zero.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../../testkit/harness.ts";
import { loadConfig } from "../config.ts";
import { ADMIN_SCOPE } from "../kernel/scopes.ts";
import { ledgerMismatches } from "./ledger.ts";

let t: TestPlatform;
beforeAll(async () => {
  t = await startTestPlatform({ config: { agent: { ...loadConfig({}).agent, apiKey: "sk-test", workers: 0 } } });
});
afterAll(() => t?.close());

describe("the operator's own AI use", () => {
  it("is held, charged and shown in usage with no credit at all; balance still equals the ledger", async () => {
    const meter = t.platform.meter;
    for (let i = 0; i < 3; i++) {
      const hold = await meter.hold({
        accountId: t.operator.id,
        model: "claude-sonnet-5-5",
        inputTokens: 2000,
        maxOutputTokens: 1000,
      });
      const settled = await meter.settle(hold, { inputTokens: 2000, outputTokens: 400 }, { project: "ops" });
      expect(settled.shortfall).toBe(0n);
      expect(settled.charged).toBeGreaterThan(0);
    }
    const token = await t.operator.token(["*", ADMIN_SCOPE]);
    const usage = await t.request("GET", "/v1/billing/usage", { token });
    expect(usage.status).toBe(200);
    expect(usage.body.total.micros).toBeGreaterThan(0);
    expect(usage.body.by_reason.map((r: { key: string }) => r.key)).toContain("ai_usage");
    expect(usage.body.by_model.map((r: { key: string }) => r.key)).toContain("claude-sonnet-5-5");
    expect(await ledgerMismatches(t.platform.db)).toEqual([]);
  });

  it("can start the agent on their own project with no credit; a customer with none gets 402", async () => {
    const token = await t.operator.token(["*", ADMIN_SCOPE]);
    expect(
      (await t.request("POST", "/v1/projects", { token, body: { slug: "op-site", name: "Op", kind: "site" } })).status,
    ).toBe(201);
    const chat = await t.request("POST", "/v1/projects/op-site/agent/conversations", {
      token,
      body: { message: "Make a home page" },
    });
    expect(chat.status, JSON.stringify(chat.body)).toBe(201);

    const customer = await t.account();
    const ct = await customer.token(["*"]);
    expect(
      (await t.request("POST", "/v1/projects", { token: ct, body: { slug: "cust-site", name: "C", kind: "site" } }))
        .status,
    ).toBe(201);
    const refused = await t.request("POST", "/v1/projects/cust-site/agent/conversations", {
      token: ct,
      body: { message: "Make a home page" },
    });
    expect(refused.status).toBe(402);
    await expect(
      t.platform.meter.hold({
        accountId: customer.id,
        model: "claude-sonnet-5-5",
        inputTokens: 10,
        maxOutputTokens: 10,
      }),
    ).rejects.toMatchObject({ code: "payment_required" });
  });
});
