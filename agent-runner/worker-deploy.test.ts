// The site editor deploys a worker in `ask` mode: deploy_worker is not a draft write, so it is not swallowed by
// the run's proposal — it parks on an approval, and only once a person approves does the worker serve. Reading
// the worker's logs (list_worker_logs: a visitor's request can shape them) taints the run for the trifecta rule.
import pino from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import { credit } from "../core/billing/ledger.ts";
import type { AgentConfig } from "../core/config.ts";
import { type FakeModelServer, startFakeAnthropic } from "../testkit/fake-anthropic.ts";
import { startTestPlatform, type TestPlatform } from "../testkit/harness.ts";
import { createAnthropicProvider } from "./providers/anthropic.ts";
import { RunWorkers } from "./worker.ts";

const agent: AgentConfig = {
  provider: "anthropic",
  model: "claude-sonnet-5-5",
  apiKey: "sk-ant-test-key-0123456789",
  baseUrl: undefined,
  maxOutputTokens: 1024,
  workers: 0,
  maxSteps: 10,
  maxWallSeconds: 120,
  maxCostMicros: 5_000_000,
};

let t: TestPlatform;
let fake: FakeModelServer;
let runners: RunWorkers;

beforeAll(async () => {
  t = await startTestPlatform({ config: { agent } });
  fake = await startFakeAnthropic();
  const provider = createAnthropicProvider({ apiKey: agent.apiKey ?? "", baseURL: fake.baseURL, maxRetries: 0 });
  runners = new RunWorkers(
    { platform: t.platform, provider, bridges: [], log: pino({ level: "silent" }) },
    { concurrency: 1, leaseMs: 10_000, pollMs: 50 },
  ).start();
}, 60_000);
afterAll(async () => {
  await runners?.stop();
  await fake?.close();
  await t?.close();
});

async function runOf(project: string, token: string, runId: string, until: (status: string) => boolean) {
  for (let i = 0; i < 400; i++) {
    const res = await t.request("GET", `/v1/projects/${project}/agent/runs/${runId}/events`, { token });
    const body = res.body as {
      run: { status: string; error: unknown };
      events: { type: string; data: Record<string, unknown> }[];
    };
    if (until(body.run.status)) return body;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`run ${runId} never reached the expected state`);
}

it("site editor in ask mode: deploy_worker waits for approval (no proposal), approve → deployed; list_worker_logs taints the run", async () => {
  const user = await t.account();
  const token = await user.token(["*"]);
  await credit(t.platform.db, { accountId: user.id, pool: "ai_credits", amount: 2_000_000, reason: "top_up" });
  await credit(t.platform.db, { accountId: user.id, pool: "wallet", amount: 2_000_000, reason: "top_up" });
  const project = "agent-wkr";
  expect(
    (await t.request("POST", "/v1/projects", { token, body: { slug: project, name: "Shop", kind: "site" } })).status,
  ).toBe(201);

  const code = `export default { fetch(req) { console.log("visitor says", new URL(req.url).search); return new Response("api up"); } };`;
  fake.script([
    {
      text: "Deploying the API worker.",
      toolUse: {
        name: "deploy_worker",
        input: { worker: "api", modules: [{ name: "index.js", content: code }], main_module: "index.js" },
      },
    },
    { toolUse: { name: "list_worker_logs", input: { worker: "api" } } },
    { text: "The worker is live." },
  ]);
  const start = await t.request("POST", `/v1/projects/${project}/agent/conversations`, {
    token,
    body: { project, message: "Deploy an API worker" },
  });
  expect(start.status).toBe(201);
  const runId = (start.body as { run_id: string }).run_id;

  const parked = await runOf(project, token, runId, (s) => s === "awaiting_approval");
  const offered = (JSON.parse(fake.requests[0]?.rawBody ?? "{}") as { tools: { name: string }[] }).tools.map(
    (x) => x.name,
  );
  for (const name of ["deploy_worker", "rollback_worker", "set_worker_var", "list_worker_logs", "get_worker_metrics"])
    expect(offered).toContain(name);
  const asked = parked.events.find((e) => e.type === "approval_requested");
  expect(asked?.data).toMatchObject({ tool: "deploy_worker" });
  expect(String(asked?.data.reason)).toContain("live worker");
  // Nothing deployed yet, and no proposal holds it: a worker has no draft.
  expect((await t.request("GET", `/v1/projects/${project}/workers/api`, { token })).status).toBe(404);
  expect((await t.request("GET", `/v1/projects/${project}/proposals`, { token })).body.proposals).toEqual([]);

  const approve = await t.request(
    "POST",
    `/v1/projects/${project}/agent/approvals/${asked?.data.approval_id}/approve`,
    {
      token,
      body: {},
    },
  );
  expect(approve.status).toBe(200);
  const done = await runOf(project, token, runId, (s) => !["queued", "running", "awaiting_approval"].includes(s));
  expect(done.run.status, JSON.stringify(done.run.error)).toBe("done");
  expect(done.events.filter((e) => e.type === "tool_result").map((e) => e.data.is_error)).toEqual([false, false]);

  const worker = await t.request("GET", `/v1/projects/${project}/workers/api`, { token });
  expect(worker.status).toBe(200);
  const res = await t.platform.workers.serve(project, "api", new Request(`http://api.${project}.localhost/?x=1`));
  expect([res.status, await res.text()]).toEqual([200, "api up"]);

  const row = await t.platform.db
    .selectFrom("agent_runs")
    .select("untrusted_input")
    .where("id", "=", runId)
    .executeTakeFirstOrThrow();
  expect(row.untrusted_input).toMatchObject({ tool: "list_worker_logs" });
}, 120_000);
