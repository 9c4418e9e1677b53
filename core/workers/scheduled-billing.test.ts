// A scheduled run is usage like a request: an account its wallet has stopped (402) runs no cron either.
import { afterAll, beforeAll, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../../testkit/harness.ts";
import { credit } from "../billing/ledger.ts";

let t: TestPlatform;
beforeAll(async () => {
  t = await startTestPlatform({ config: { workersRequestTimeoutMs: 10_000, workersBillingFlushMs: 3_600_000 } });
}, 60_000);
afterAll(() => t?.close());

const burner = `export default {
  fetch() { return new Response("ok"); },
  scheduled() { const end = Date.now() + 300; while (Date.now() < end) {} console.log("ran"); },
};`;

it("a stopped account's worker runs no scheduled handler; a paying one's runs", async () => {
  const owner = await t.account();
  const token = await owner.token(["*"]);
  await t.request("POST", "/v1/projects", { token, body: { slug: "cronpay", name: "cronpay", kind: "site" } });
  const dep = await t.request("POST", "/v1/projects/cronpay/workers/burn/deployments", {
    token,
    body: { modules: [{ name: "index.js", content: burner }], main_module: "index.js" },
  });
  expect(dep.status).toBe(201);
  const project = await t.platform.db
    .selectFrom("projects")
    .select("id")
    .where("slug", "=", "cronpay")
    .executeTakeFirstOrThrow();
  const run = () =>
    t.platform.workers.runScheduled({
      projectId: project.id,
      workerName: "burn",
      cron: "* * * * *",
      scheduledTime: new Date(),
    });
  // Stopped (its wallet could not pay at the last flush): no run.
  (t.platform.workersMeter as unknown as { blocked: Set<string> }).blocked.add(owner.id);
  const refused = await run();
  expect(refused.ok).toBe(false);
  expect(refused.logs).toEqual([]);
  expect(refused.error).toMatch(/spending limit/);
  // Paid: it runs.
  await credit(t.platform.db, { accountId: owner.id, pool: "wallet", amount: 1_000_000, reason: "top_up" });
  await t.platform.workersMeter.flush();
  const ran = await run();
  expect(ran.ok).toBe(true);
}, 60_000);
