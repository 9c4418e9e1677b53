// The n8n and Zapier recipes of docs/events.md, run as written: a real agent run parks on publish_site, its
// approval.requested delivery reaches a receiver running the documented code, which approves through the API;
// the run resumes, publishes, and its agent_run.finished arrives too.
import fs from "node:fs";
import { createRequire } from "node:module";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startFakeRunner } from "../../testkit/fake-runner.ts";
import { startTestPlatform, type TestPlatform } from "../../testkit/harness.ts";
import { receiver, until } from "../../testkit/webhook-receiver.ts";
import { credit } from "../billing/ledger.ts";
import { EventWorkers } from "./worker.ts";

const doc = fs.readFileSync(new URL("../../docs/events.md", import.meta.url), "utf8");
const block = (name: string) => {
  const m = new RegExp(`<!-- ${name}:begin -->\\n\`\`\`js\\n([\\s\\S]*?)\`\`\`\\n<!-- ${name}:end -->`).exec(doc);
  if (!m) throw new Error(`docs/events.md has no ${name} block`);
  return m[1]!;
};
const require = createRequire(import.meta.url);
type Call = { method: string; url: string; headers: Record<string, string>; body: string } | null;
const handleBosunEvent = new Function("require", `${block("recipe")}\nreturn handleBosunEvent;`)(require) as (
  raw: string,
  headers: Record<string, string>,
  env: { secret: string; bosunUrl: string; token: string },
) => Call;
const verifyBosunSignature = new Function("require", `${block("recipe-zapier")}\nreturn verifyBosunSignature;`)(
  require,
) as (raw: string, headers: Record<string, string>, secret: string) => boolean;

let t: TestPlatform;
let runner: Awaited<ReturnType<typeof startFakeRunner>>;
let events: EventWorkers;

beforeAll(async () => {
  t = await startTestPlatform({
    config: {
      egressAllowPrivate: true,
      events: { workers: 0, retryBaseMs: 50, maxAttempts: 5, timeoutMs: 5000 },
      agent: {
        provider: "anthropic",
        model: "claude-sonnet-5-5",
        apiKey: "sk-ant-test-key-0123456789",
        baseUrl: undefined,
        maxOutputTokens: 1024,
        workers: 0,
        maxSteps: 10,
        maxWallSeconds: 120,
        maxCostMicros: 5_000_000,
      },
    },
  });
  runner = await startFakeRunner(t.platform);
  events = new EventWorkers(t.platform, { concurrency: 1, pollMs: 20 }).start();
});
afterAll(async () => {
  await events?.stop();
  await runner?.workers.stop();
  await runner?.fake.close();
  await t?.close();
});

it("an n8n/Zapier flow running the documented receiver approves a waiting publish, and the run finishes", async () => {
  const owner = await t.account();
  const token = await owner.token(["*"]);
  await t.request("POST", "/v1/projects", { token, body: { slug: "recipe-site", name: "R", kind: "site" } });
  await credit(t.platform.db, { accountId: owner.id, pool: "ai_credits", amount: 2_000_000, reason: "top_up" });
  const approver = await owner.token(["agent:write", "publish:trigger"], { projects: ["recipe-site"] });

  const calls: { call: Call; status?: number }[] = [];
  let secret = "";
  const rx = await receiver(() => 200);
  const ep = await t.request("POST", "/v1/webhooks", {
    token,
    body: { url: rx.url, project: "recipe-site", events: ["approval.requested", "agent_run.finished"] },
  });
  expect(ep.status).toBe(201);
  secret = ep.body.secret;

  runner.fake.script([
    { toolUse: { name: "write_file", input: { path: "index.html", content: "<h1>Hi</h1>" } } },
    { toolUse: { name: "publish_site", input: {} } },
    { text: "Published." },
  ]);
  const start = await t.request("POST", "/v1/projects/recipe-site/agent/conversations", {
    token,
    body: { project: "recipe-site", message: "Make a home page and publish it", allow_publish: true },
  });
  expect(start.status).toBe(201);

  // The flow: each delivery through the documented code; the call it returns goes to the API.
  let seen = 0;
  const flow = async () => {
    for (; seen < rx.got.length; seen++) {
      const got = rx.got[seen]!;
      const headers = got.headers as Record<string, string>;
      expect(verifyBosunSignature(got.body, headers, secret)).toBe(true);
      const call = handleBosunEvent(got.body, headers, { secret, bosunUrl: "https://bosun.example", token: approver });
      const entry: (typeof calls)[number] = { call };
      if (call) {
        const res = await t.request(call.method, call.url.replace("https://bosun.example", ""), {
          headers: call.headers,
          body: call.body,
        });
        entry.status = res.status;
      }
      calls.push(entry);
    }
  };
  const finished = await until(async () => {
    await flow();
    return rx.got.find((g) => JSON.parse(g.body).type === "agent_run.finished");
  }, 30_000);
  expect(JSON.parse(finished.body).data).toMatchObject({
    project: "recipe-site",
    status: "done",
    run_id: start.body.run_id,
  });
  const approvals = calls.filter((c) => c.call);
  expect(approvals).toHaveLength(1);
  expect(approvals[0]!.status).toBe(200);
  const decided = await t.platform.db
    .selectFrom("events")
    .select("data")
    .where("type", "=", "approval.decided")
    .execute();
  expect(decided.map((e) => e.data)).toMatchObject([{ project: "recipe-site", decision: "approved" }]);
  const releases = await t.request("GET", "/v1/projects/recipe-site/releases", { token });
  expect(releases.body.releases).toHaveLength(1);

  // The same delivery again (at least once) approves nothing twice: the idempotency key is the webhook-id.
  const asked = rx.got.find((g) => JSON.parse(g.body).type === "approval.requested")!;
  const again = handleBosunEvent(asked.body, asked.headers as Record<string, string>, {
    secret,
    bosunUrl: "https://bosun.example",
    token: approver,
  })!;
  const replay = await t.request(again.method, again.url.replace("https://bosun.example", ""), {
    headers: again.headers,
    body: again.body,
  });
  expect(replay.status).toBe(200);

  // Forgeries fail both verifiers; the hand-written one agrees with the library.
  const forged = asked.body.replace("publish_site", "run_command");
  const headers = asked.headers as Record<string, string>;
  expect(verifyBosunSignature(forged, headers, secret)).toBe(false);
  expect(() => handleBosunEvent(forged, headers, { secret, bosunUrl: "x", token: "x" })).toThrow();
  const other = `whsec_${Buffer.alloc(32, 1).toString("base64")}`;
  expect(verifyBosunSignature(asked.body, headers, other)).toBe(false);
  const now = new Date();
  const fresh = { "webhook-id": "msg_x", "webhook-timestamp": String(Math.floor(now.getTime() / 1000)) };
  const signed = { ...fresh, "webhook-signature": new Webhook(secret).sign("msg_x", now, "{}") };
  expect(verifyBosunSignature("{}", signed, secret)).toBe(true);
  await rx.close();
});
