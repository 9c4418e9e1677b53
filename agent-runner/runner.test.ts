// The agent runner end to end on a site: the real Anthropic SDK against the fake Messages server, runner
// workers leasing runs from Postgres, tools that are operations going through the invoker, approvals,
// metering on the ledger, and a worker stopped mid-run with another picking the run up.

import pino from "pino";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { credit } from "../core/billing/ledger.ts";
import { costOf } from "../core/billing/prices.ts";
import type { AgentConfig } from "../core/config.ts";
import { createSitesApp } from "../sites-server/app.ts";
import { type FakeModelServer, startFakeAnthropic } from "../testkit/fake-anthropic.ts";
import { startTestPlatform, type TestAccount, type TestPlatform } from "../testkit/harness.ts";
import { expectLedgerConsistent, expectNoActiveHolds } from "../testkit/ledger-invariant.ts";
import { tapQueries } from "../testkit/tap-queries.ts";
import { createAnthropicProvider } from "./providers/anthropic.ts";
import type { Bridge } from "./tools.ts";
import { RunWorkers } from "./worker.ts";

const MODEL = "claude-sonnet-5-5";
let t: TestPlatform;
let fake: FakeModelServer;
let workers: RunWorkers[] = [];

const agentConfig = (): AgentConfig => ({
  provider: "anthropic",
  model: MODEL,
  apiKey: "sk-ant-test-key-0123456789",
  baseUrl: undefined, // the tests hand the runner a provider pointed at each test's own fake
  maxOutputTokens: 1024,
  workers: 0,
  maxSteps: 10,
  maxWallSeconds: 120,
  maxCostMicros: 5_000_000,
});

beforeAll(async () => {
  t = await startTestPlatform({ config: { agent: agentConfig() } });
});
// A fake per test: a test that fails cannot leave replies behind for the next one.
beforeEach(async () => {
  fake = await startFakeAnthropic();
});
afterEach(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  workers = [];
  await fake.close();
});
afterAll(() => t?.close());

function startWorkers(leaseMs = 10_000, bridges: Bridge[] = []) {
  const provider = createAnthropicProvider({ apiKey: agentConfig().apiKey!, baseURL: fake.baseURL, maxRetries: 0 });
  const w = new RunWorkers(
    { platform: t.platform, provider, bridges, log: pino({ level: "silent" }) },
    { concurrency: 1, leaseMs, pollMs: 50 },
  ).start();
  workers.push(w);
  return w;
}

async function siteOwner(creditMicros = 2_000_000): Promise<{ user: TestAccount; token: string; project: string }> {
  const user = await t.account();
  const token = await user.token(["*"]);
  const project = `site-${user.id.slice(0, 8)}`;
  const res = await t.request("POST", "/v1/projects", { token, body: { slug: project, name: "Site", kind: "site" } });
  expect(res.status).toBe(201);
  if (creditMicros)
    await credit(t.platform.db, { accountId: user.id, pool: "ai_credits", amount: creditMicros, reason: "top_up" });
  return { user, token, project };
}

/** Polls the run until `until` holds (bounded). */
async function runOf(project: string, token: string, runId: string, until: (status: string) => boolean) {
  for (let i = 0; i < 200; i++) {
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

/** What a worker (or database) crash leaves after a model step that asked for `toolUses`: the run `running`, the
 * model's reply in the transcript, the job's lease expired, so the next worker resumes it. */
async function crashedAfterModelStep(runId: string, conversationId: string, toolUses: Record<string, unknown>[]) {
  const { db } = t.platform;
  await db.updateTable("agent_runs").set({ status: "running" }).where("id", "=", runId).execute();
  await db
    .updateTable("jobs")
    .set({ state: "leased", lease_owner: "dead", lease_expires_at: new Date(Date.now() - 1000) })
    .where("key", "=", runId)
    .execute();
  await db
    .insertInto("agent_messages")
    .values({ conversation_id: conversationId, run_id: runId, role: "assistant", content: JSON.stringify(toolUses) })
    .execute();
}

const conversation = async (project: string, token: string, id: string) =>
  (await t.request("GET", `/v1/projects/${project}/agent/conversations/${id}`, { token })).body as {
    messages: { role: string; content: Record<string, unknown>[] }[];
    runs: {
      status: string;
      cost_micros: number;
      steps_detail: {
        kind: string;
        tool: string | null;
        state: string;
        cost_micros: number;
        usage: Record<string, number> | null;
        is_error: boolean;
        output: string | null;
      }[];
    }[];
    approvals: { id: string; status: string; tool: string }[];
  };

describe("site editor", () => {
  it("writes a file, waits for approval to publish, publishes once approved, and charges every model step exactly", async () => {
    const { user, token, project } = await siteOwner();
    fake.script([
      {
        text: "I'll add the page.",
        toolUse: {
          name: "write_file",
          input: { path: "contact.html", content: "<title>Contact</title><h1>Contact us</h1>" },
        },
      },
      { toolUse: { name: "publish_site", input: {} } },
      { text: "The contact page is live." },
    ]);
    const start = await t.request("POST", `/v1/projects/${project}/agent/conversations`, {
      token,
      body: { project, message: "Add a contact page and publish it", allow_publish: true },
    });
    expect(start.status).toBe(201);
    const { conversation: conv, run_id: runId } = start.body as { conversation: { id: string }; run_id: string };
    startWorkers();

    const parked = await runOf(project, token, runId, (s) => s === "awaiting_approval");
    const asked = parked.events.find((e) => e.type === "approval_requested")!;
    expect(asked.data).toMatchObject({ tool: "publish_site" });
    // The draft edit is the run's proposal (ask mode): not in the draft, nothing live yet.
    const file = await t.request("GET", `/v1/projects/${project}/files/content?path=contact.html`, { token });
    expect(file.status, JSON.stringify(file.body)).toBe(404);
    const proposed = await t.request("GET", `/v1/projects/${project}/proposals?status=pending`, { token });
    expect(proposed.body.proposals.map((p: { files: { path: string }[] }) => p.files.map((f) => f.path))).toEqual([
      ["contact.html"],
    ]);
    expect((await t.request("GET", `/v1/projects/${project}/releases`, { token })).body).toMatchObject({
      releases: [],
    });

    const approve = await t.request(
      "POST",
      `/v1/projects/${project}/agent/approvals/${asked.data.approval_id}/approve`,
      { token, body: {} },
    );
    expect(approve.status).toBe(200);
    const again = await t.request("POST", `/v1/projects/${project}/agent/approvals/${asked.data.approval_id}/deny`, {
      token,
      body: {},
    });
    expect(again.status).toBe(409); // the first decision wins
    await runOf(project, token, runId, (s) => s === "done");
    // The approved publish applied the run's proposal first: what went live is what the run made.
    const after = await t.request("GET", `/v1/projects/${project}/proposals`, { token });
    expect(after.body.proposals.map((p: { status: string }) => p.status)).toEqual(["applied"]);

    const transcript = await conversation(project, token, conv.id);
    const run = transcript.runs[0]!;
    const modelSteps = run.steps_detail.filter((s) => s.kind === "model");
    const toolSteps = run.steps_detail.filter((s) => s.kind === "tool");
    expect(toolSteps.map((s) => [s.tool, s.state, s.is_error])).toEqual([
      ["write_file", "done", false],
      ["publish_site", "done", false],
    ]);
    expect(modelSteps).toHaveLength(3);
    // Each step's cost is the price of exactly what the server reported.
    const reported = fake.usages;
    const expected = reported.map((u) => Number(costOf(t.platform.meter.prices, MODEL, u)));
    expect(modelSteps.map((s) => s.cost_micros)).toEqual(expected);
    expect(modelSteps[0]!.usage).toMatchObject({
      input_tokens: reported[0]!.inputTokens,
      output_tokens: reported[0]!.outputTokens,
    });
    expect(run.cost_micros).toBe(expected.reduce((a, b) => a + b, 0));
    const debits = await t.platform.db
      .selectFrom("ledger_entries")
      .selectAll()
      .where("account_id", "=", user.id)
      .where("reason", "=", "ai_usage")
      .execute();
    expect(debits.map((d) => -Number(d.amount))).toEqual(expected);
    await expectLedgerConsistent(t.platform.db, user.id);
    await expectNoActiveHolds(t.platform.db, user.id);
    // The site is live, and the audit names the agent as the surface of what it did.
    expect(
      ((await t.request("GET", `/v1/projects/${project}/releases`, { token })).body as { releases: unknown[] })
        .releases,
    ).toHaveLength(1);
    await t.platform.audit.flush();
    const audit = await t.platform.db
      .selectFrom("audit_events")
      .select(["operation", "surface"])
      .where("surface", "=", "agent")
      .where("project", "=", project)
      .execute();
    expect(audit.map((a) => a.operation).sort()).toEqual(["publish_site", "write_file"]);
    // The model never saw a project argument: the run is pinned.
    const firstRequest = JSON.parse(fake.requests[0]!.rawBody) as {
      tools: { name: string; input_schema: { properties: Record<string, unknown> } }[];
    };
    expect(firstRequest.tools.find((x) => x.name === "write_file")!.input_schema.properties).not.toHaveProperty(
      "project",
    );
  });

  it("a denied call is not made; the model is told so, with the note", async () => {
    const { token, project } = await siteOwner();
    fake.script([{ toolUse: { name: "publish_site", input: {} } }, { text: "Understood, not publishing." }]);
    const start = await t.request("POST", `/v1/projects/${project}/agent/conversations`, {
      token,
      body: { project, message: "publish", allow_publish: true },
    });
    const { run_id: runId } = start.body as { run_id: string };
    startWorkers();
    const parked = await runOf(project, token, runId, (s) => s === "awaiting_approval");
    const approvalId = parked.events.find((e) => e.type === "approval_requested")!.data.approval_id;
    const pending = (await t.request("GET", `/v1/projects/${project}/agent/approvals`, { token })).body as {
      approvals: { id: string }[];
    };
    expect(pending.approvals.map((a) => a.id)).toEqual([approvalId]);
    await t.request("POST", `/v1/projects/${project}/agent/approvals/${approvalId}/deny`, {
      token,
      body: { note: "not before Monday" },
    });
    await runOf(project, token, runId, (s) => s === "done");
    expect(fake.requests.at(-1)!.rawBody).toContain("the user denied this call: not before Monday");
    expect(
      ((await t.request("GET", `/v1/projects/${project}/releases`, { token })).body as { releases: unknown[] })
        .releases,
    ).toHaveLength(0);
  });

  it("without allow_publish the agent has no publish tool at all", async () => {
    const { token, project } = await siteOwner();
    fake.script([{ text: "ok" }]);
    const start = await t.request("POST", `/v1/projects/${project}/agent/conversations`, {
      token,
      body: { project, message: "hi" },
    });
    startWorkers();
    await runOf(project, token, (start.body as { run_id: string }).run_id, (s) => s === "done");
    const sent = JSON.parse(fake.requests.at(-1)!.rawBody) as { tools: { name: string }[] };
    expect(sent.tools.map((x) => x.name)).toContain("write_file");
    expect(sent.tools.map((x) => x.name)).not.toContain("publish_site");
  });

  it("edits the menu as structured data with update_business_data, into the draft only", async () => {
    const { token, project } = await siteOwner();
    const menu = [{ name: "Bread", items: [{ name: "Rye", price: { amount: 450, currency: "EUR" } }] }];
    fake.script([
      { toolUse: { name: "get_business_data", input: {} } },
      { toolUse: { name: "update_business_data", input: { menu } } },
      {
        toolUse: {
          name: "update_business_data",
          input: { menu: [{ name: "Bread", items: [{ name: "Rye", price: 4.5 }] }] },
        },
      },
      { text: "The menu is updated." },
    ]);
    const start = await t.request("POST", `/v1/projects/${project}/agent/conversations`, {
      token,
      body: { project, message: "Add rye bread at 4.50 EUR to the menu" },
    });
    startWorkers();
    const done = await runOf(
      project,
      token,
      (start.body as { run_id: string }).run_id,
      (s) => s === "done" || s === "failed",
    );
    expect(done.run.status, JSON.stringify(done.run.error)).toBe("done");
    // A price that is not integer minor units is refused back to the model, naming the field.
    const results = done.events.filter((e) => e.type === "tool_result");
    expect(results.map((e) => e.data.is_error)).toEqual([false, false, true]);
    expect(fake.requests.at(-1)!.rawBody).toMatch(/validation_error.*price/);
    // Ask mode: the change is a proposal; the draft gets it when the person applies it.
    expect((await t.request("GET", `/v1/projects/${project}/business`, { token })).body.draft.menu).toBeNull();
    const [proposal] = (await t.request("GET", `/v1/projects/${project}/proposals`, { token })).body.proposals;
    expect(proposal).toMatchObject({ status: "pending", settings_changed: true, files: [] });
    const applied = await t.request("POST", `/v1/projects/${project}/proposals/${proposal.id}/apply`, {
      token,
      body: {},
    });
    expect(applied.status).toBe(200);
    const business = await t.request("GET", `/v1/projects/${project}/business`, { token });
    expect(business.body.draft.menu).toEqual(menu);
    expect(business.body.live.menu).toBeNull();
    expect(business.body.unpublished).toEqual(["menu"]);
  });
});

describe("site workflow", () => {
  it("adds a page with a form, links it from the home page, publishes; the live site serves it and takes a submission", async () => {
    const { user, token, project } = await siteOwner();
    const home =
      '<!doctype html><html><head><title>Home</title></head><body><nav><a href="/">Home</a></nav><h1>Welcome</h1></body></html>';
    expect(
      (
        await t.request("PUT", `/v1/projects/${project}/files`, {
          token,
          body: { project, path: "index.html", content: home },
        })
      ).status,
    ).toBeLessThan(300);
    const form = `<form method="post" action="/_forms/contact"><input type="email" name="email" required><button>Send</button></form>`;
    fake.script([
      { toolUse: { name: "read_file", input: { path: "index.html" } } },
      {
        toolUse: {
          name: "create_page",
          input: { slug: "Contact", title: "Contact", content: `<h1>Contact us</h1>${form}` },
        },
      },
      {
        toolUse: {
          name: "update_site_settings",
          input: {
            settings: { forms: [{ id: "contact", fields: [{ name: "email", type: "email", required: true }] }] },
          },
        },
      },
      {
        toolUse: {
          name: "edit_file",
          input: {
            path: "index.html",
            old_str: '<a href="/">Home</a>',
            new_str: '<a href="/">Home</a> <a href="/contact.html">Contact</a>',
          },
        },
      },
      { toolUse: { name: "publish_site", input: {} } },
      { text: "The contact page is live and linked from the home page." },
    ]);
    const start = await t.request("POST", `/v1/projects/${project}/agent/conversations`, {
      token,
      body: { project, message: "Add a contact page with a form, link it, publish", allow_publish: true },
    });
    const { run_id: runId } = start.body as { run_id: string };
    startWorkers();
    const parked = await runOf(project, token, runId, (s) => s === "awaiting_approval");
    await t.request(
      "POST",
      `/v1/projects/${project}/agent/approvals/${parked.events.find((e) => e.type === "approval_requested")!.data.approval_id}/approve`,
      { token, body: {} },
    );
    const done = await runOf(project, token, runId, (s) => s === "done" || s === "failed");
    expect(done.run.status, JSON.stringify(done.run.error)).toBe("done");
    expect(done.events.filter((e) => e.type === "tool_result").every((e) => e.data.is_error === false)).toBe(true);

    const sites = createSitesApp(t.platform);
    const live = async (p: string, init?: RequestInit) => sites.request(`http://${project}.localhost/${p}`, init);
    expect(await (await live("")).text()).toContain('<a href="/contact.html">Contact</a>');
    const contact = await live("contact.html");
    expect(contact.status).toBe(200);
    expect(await contact.text()).toContain(`action="/_forms/contact"`);
    const submit = await live("_forms/contact", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: "email=ada%40example.test",
    });
    expect(submit.status).toBeLessThan(400);
    const submissions = (await t.request("GET", `/v1/projects/${project}/submissions`, { token })).body as {
      submissions: { data: Record<string, unknown> }[];
    };
    expect(submissions.submissions.map((s) => s.data)).toEqual([{ email: "ada@example.test" }]);
    await expectLedgerConsistent(t.platform.db, user.id);
  });
});

describe("streaming", () => {
  it("streams a run's events as Server-Sent Events until it ends, and resumes after Last-Event-ID", async () => {
    const { token, project } = await siteOwner();
    fake.script([{ toolUse: { name: "list_files", input: {} } }, { text: "There are no files yet." }]);
    const start = await t.request("POST", `/v1/projects/${project}/agent/conversations`, {
      token,
      body: { project, message: "what is there?" },
    });
    const { run_id: runId } = start.body as { run_id: string };
    const url = `/v1/projects/${project}/agent/runs/${runId}/events/stream`;
    const res = await t.app.request(url, { headers: { Authorization: `Bearer ${token}` } });
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    startWorkers();
    const text = await res.text(); // ends when the run does
    const events = [...text.matchAll(/^event: (\w+)$/gm)].map((m) => m[1]);
    expect(events).toEqual([
      "run_queued",
      "run_started",
      "model_step",
      "tool_call",
      "tool_result",
      "model_step",
      "text",
      "run_finished",
    ]);
    expect(text).toContain('"text":"There are no files yet."');

    const ids = [...text.matchAll(/^id: (\d+)$/gm)].map((m) => m[1]!);
    const again = await (
      await t.app.request(url, { headers: { Authorization: `Bearer ${token}`, "Last-Event-ID": ids.at(-2)! } })
    ).text();
    expect([...again.matchAll(/^event: (\w+)$/gm)].map((m) => m[1])).toEqual(["run_finished"]);

    const stranger = await t.account();
    const refused = await t.app.request(url, { headers: { Authorization: `Bearer ${await stranger.token(["*"])}` } });
    expect(refused.status).toBe(404);
  });
});

describe("metering and credentials", () => {
  it("running out of credit mid-run stops the run with payment_required and leaves the ledger consistent", async () => {
    // Enough for the first hold only: the second step's hold is refused before the model is called.
    const { user, token, project } = await siteOwner(0);
    await credit(t.platform.db, { accountId: user.id, pool: "ai_credits", amount: 40_000, reason: "top_up" });
    // The first reply costs more than its hold (a long answer): the overrun leaves too little for a second hold.
    fake.script([{ toolUse: { name: "list_files", input: {} }, usage: { outputTokens: 2_000 } }]);
    const start = await t.request("POST", `/v1/projects/${project}/agent/conversations`, {
      token,
      body: { project, message: "look around" },
    });
    startWorkers();
    const ended = await runOf(project, token, (start.body as { run_id: string }).run_id, (s) => s === "failed");
    expect(ended.run.error).toMatchObject({ code: "payment_required" });
    expect(fake.requests).toHaveLength(1); // the second model call was never made
    await expectLedgerConsistent(t.platform.db, user.id);
    await expectNoActiveHolds(t.platform.db, user.id);
  });

  it("a run cancelled during a tool call gives back the hold placed beside the call's results", async () => {
    const { user, token, project } = await siteOwner();
    // A tool that waits until the test lets it finish: the run is cancelled while it runs.
    let entered!: () => void;
    let finish!: () => void;
    const inCall = new Promise<void>((r) => (entered = r));
    const gate = new Promise<void>((r) => (finish = r));
    const wait: Bridge = {
      spec: { name: "wait_a_moment", description: "Waits.", inputSchema: { type: "object", properties: {} } },
      execute: async () => {
        entered();
        await gate;
        return "waited";
      },
    };
    fake.script([{ toolUse: { name: "wait_a_moment", input: {} } }, { text: "done" }]);
    const start = await t.request("POST", `/v1/projects/${project}/agent/conversations`, {
      token,
      body: { project, message: "wait", mode: "auto" },
    });
    const { conversation, run_id: runId } = start.body as { conversation: { id: string }; run_id: string };
    startWorkers(10_000, [wait]);
    await inCall;
    const cancel = `/v1/projects/${project}/agent/conversations/${conversation.id}/cancel`;
    expect((await t.request("POST", cancel, { token, body: {} })).status).toBe(200);
    finish();
    await runOf(project, token, runId, (s) => s === "cancelled");
    expect(fake.requests).toHaveLength(1); // the next model call was never made
    // The first step's hold settled; the one placed beside the results, once the run was seen cancelled, released.
    await vi.waitFor(async () => {
      const holds = await t.platform.db
        .selectFrom("holds")
        .select("state")
        .where("account_id", "=", user.id)
        .orderBy("created_at")
        .execute();
      expect(holds.map((h) => h.state)).toEqual(["settled", "released"]);
    }, 5_000);
    await expectLedgerConsistent(t.platform.db, user.id);
    await expectNoActiveHolds(t.platform.db, user.id);
  });

  it("revoking the token a run acts under stops it at its next step", async () => {
    const { user, token, project } = await siteOwner();
    const agentToken = await user.token(["agent:write", "agent:read", "files:read", "files:write", "publish:trigger"]);
    fake.script([{ toolUse: { name: "publish_site", input: {} } }]);
    const start = await t.request("POST", `/v1/projects/${project}/agent/conversations`, {
      token: agentToken,
      body: { project, message: "publish", allow_publish: true },
    });
    const { run_id: runId } = start.body as { run_id: string };
    startWorkers();
    const parked = await runOf(project, token, runId, (s) => s === "awaiting_approval");
    const tokens = (await t.request("GET", "/v1/tokens", { token })).body as {
      tokens: { id: string; scopes: string[] }[];
    };
    const id = tokens.tokens.find((x) => x.scopes.includes("publish:trigger") && !x.scopes.includes("*"))!.id;
    expect((await t.request("DELETE", `/v1/tokens/${id}`, { token })).status).toBe(200);
    await t.request(
      "POST",
      `/v1/projects/${project}/agent/approvals/${parked.events.find((e) => e.type === "approval_requested")!.data.approval_id}/approve`,
      { token, body: {} },
    );
    const ended = await runOf(project, token, runId, (s) => s === "failed");
    expect(ended.run.error).toMatchObject({ code: "unauthorized" });
    expect(
      ((await t.request("GET", `/v1/projects/${project}/releases`, { token })).body as { releases: unknown[] })
        .releases,
    ).toHaveLength(0);
    await expectLedgerConsistent(t.platform.db, user.id);
  });
});

/**
 * The statements sent to the database while `fn` runs, in order, each with the `synchronous_commit` a checkpoint
 * reports its own commit was made under (core/kernel/commit-mode.ts). Both databases go through pg.Client.
 */
async function statementsDuring(fn: () => Promise<void>) {
  const seen: { text: string; commit?: string }[] = [];
  const untap = tapQueries((text) => {
    const entry: (typeof seen)[number] = { text };
    seen.push(entry);
    return (answer) => {
      entry.commit = answer.rows?.[0]?.synchronous_commit as string | undefined;
    };
  });
  try {
    await fn();
  } finally {
    untap();
  }
  return seen;
}

describe("durability", () => {
  it("a call with an effect is recorded started by a durable commit before it is made; a read's start, every result and a refusal commit asynchronously", async () => {
    const { user, token, project } = await siteOwner();
    // A reply's first call starts with the model step (durable: it carries money); a second call of one reply
    // starts in a statement of its own.
    fake.script([
      {
        toolUse: [
          { name: "write_file", input: { path: "a.txt", content: "first" } },
          { name: "list_files", input: {} },
        ],
      },
      {
        toolUse: [
          { name: "list_files", input: {} },
          { name: "write_file", input: { path: "d.txt", content: "durable" } },
        ],
      },
      { toolUse: { name: "no_such_tool", input: {} } },
      { text: "done" },
    ]);
    const seen = await statementsDuring(async () => {
      const start = await t.request("POST", `/v1/projects/${project}/agent/conversations`, {
        token,
        body: { project, message: "write d.txt", mode: "auto" },
      });
      startWorkers();
      await runOf(project, token, (start.body as { run_id: string }).run_id, (s) => s === "done");
    });
    const at = (marker: string) => seen.flatMap((s, i) => (s.text.includes(marker) ? [i] : []));
    const steps = at("prepare:agent_model_step");
    expect(steps.map((i) => seen[i]!.commit)).toEqual(["on", "on", "on", "on"]);
    // write_file and list_files start with the first two model steps; the refused call and the final text start none.
    expect(at("prepare:agent_model_step_start")).toEqual(steps.slice(0, 2));
    const starts = at("prepare:agent_tool_start");
    expect(starts.map((i) => seen[i]!.commit)).toEqual(["off", "on"]); // list_files, then write_file
    expect(at("prepare:agent_tool_result").map((i) => seen[i]!.commit)).toEqual(["off", "off", "off", "off"]);
    expect(at("prepare:agent_tool_refused").map((i) => seen[i]!.commit)).toEqual(["off"]);
    // Each write reaches the draft only after its durable start was sent and answered (the loop awaits it).
    const writes = at('insert into "site_draft_files"');
    expect(writes.length).toBe(2);
    expect(writes[0]).toBeGreaterThan(steps[0]!);
    expect(writes[0]).toBeLessThan(steps[1]!);
    expect(writes[1]).toBeGreaterThan(starts[1]!);
    await expectLedgerConsistent(t.platform.db, user.id);
  });

  it("a call its model step started is recorded as not made when the run then stops at its step limit", async () => {
    const { user, token, project } = await siteOwner();
    const limit = agentConfig().maxSteps;
    fake.script(Array.from({ length: limit + 1 }, () => ({ toolUse: { name: "list_files", input: {} } })));
    const start = await t.request("POST", `/v1/projects/${project}/agent/conversations`, {
      token,
      body: { project, message: "list forever", mode: "auto" },
    });
    const runId = (start.body as { run_id: string }).run_id;
    startWorkers();
    await runOf(project, token, runId, (s) => s === "failed");
    expect(fake.requests).toHaveLength(limit);
    const tools = await t.platform.db
      .selectFrom("agent_steps")
      .select(["state", "output", "is_error"])
      .where("run_id", "=", runId)
      .where("kind", "=", "tool")
      .orderBy("id")
      .execute();
    // Every reply's call started with its model step; the last was never made, and says so.
    expect(tools).toHaveLength(limit);
    expect(tools.slice(0, -1).every((s) => s.state === "done" && !s.is_error)).toBe(true);
    expect(tools.at(-1)).toEqual({
      state: "done",
      output: "not made: the run stopped before this call",
      is_error: true,
    });
    await expectLedgerConsistent(t.platform.db, user.id);
    await expectNoActiveHolds(t.platform.db, user.id);
  });

  it("a read whose start a database crash lost is made again when the run resumes, not reported interrupted", async () => {
    const { user, token, project } = await siteOwner();
    const put = await t.request("PUT", `/v1/projects/${project}/files`, {
      token,
      body: { path: "seen.txt", content: "x" },
    });
    expect(put.status).toBe(200);
    fake.script([{ text: "parked while we crash it" }]);
    const start = await t.request("POST", `/v1/projects/${project}/agent/conversations`, {
      token,
      body: { project, message: "list the files", mode: "auto" },
    });
    const { conversation: conv, run_id: runId } = start.body as { conversation: { id: string }; run_id: string };
    // What a crash of the database server can leave of a read: the model step that asked for it (durable), and
    // no trace of the call (its asynchronous start and result lost), the run `running`, its lease expired.
    const db = t.platform.db;
    await crashedAfterModelStep(runId, conv.id, [
      { type: "tool_use", id: "toolu_lost", name: "list_files", input: {} },
    ]);

    startWorkers();
    await runOf(project, token, runId, (s) => s === "done");
    const sent = fake.requests[0]!.rawBody;
    expect(sent).toContain("seen.txt");
    expect(sent).not.toContain("interrupted");
    const steps = await db
      .selectFrom("agent_steps")
      .select(["tool", "state", "is_error"])
      .where("run_id", "=", runId)
      .where("tool_use_id", "=", "toolu_lost")
      .execute();
    expect(steps).toEqual([{ tool: "list_files", state: "done", is_error: false }]);
    await expectLedgerConsistent(db, user.id);
  });

  it("a worker stopped mid-run hands the run over: another resumes it, no tool call runs twice, no hold is left", async () => {
    const { user, token, project } = await siteOwner();
    fake.script([
      { toolUse: { name: "write_file", input: { path: "a.txt", content: "once" } } },
      { text: "slow reply", delayMs: 5_000 },
    ]);
    const start = await t.request("POST", `/v1/projects/${project}/agent/conversations`, {
      token,
      body: { project, message: "write a.txt", mode: "auto" },
    });
    const { conversation: conv, run_id: runId } = start.body as { conversation: { id: string }; run_id: string };
    const first = startWorkers();
    // Wait until the tool call is checkpointed and the next model call is in flight, then stop the worker.
    for (let i = 0; i < 200; i++) {
      const steps = await t.platform.db
        .selectFrom("agent_steps")
        .select(["kind", "state"])
        .where("run_id", "=", runId)
        .execute();
      if (steps.filter((s) => s.kind === "tool" && s.state === "done").length === 1 && fake.pending() === 0) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    await first.stop();
    workers = workers.filter((w) => w !== first);

    fake.script([{ text: "Done: a.txt written." }]);
    startWorkers();
    await runOf(project, token, runId, (s) => s === "done");
    const transcript = await conversation(project, token, conv.id);
    expect(transcript.runs[0]!.steps_detail.filter((s) => s.tool === "write_file")).toHaveLength(1);
    expect(transcript.messages.at(-1)!.content).toEqual([{ type: "text", text: "Done: a.txt written." }]);
    await expectNoActiveHolds(t.platform.db, user.id);
    await expectLedgerConsistent(t.platform.db, user.id);
  });

  it("a tool call caught half-done by a crash is reported as interrupted, not made again, and the crashed attempt's hold is released", async () => {
    const { user, token, project } = await siteOwner();
    fake.script([{ text: "parked while we crash it" }]);
    const start = await t.request("POST", `/v1/projects/${project}/agent/conversations`, {
      token,
      body: { project, message: "write b.txt", mode: "auto" },
    });
    const { conversation: conv, run_id: runId } = start.body as { conversation: { id: string }; run_id: string };
    // What a worker that died mid-call leaves behind: the run `running`, the model's tool call in the
    // transcript, its step `started` but not done, a hold still active, and the job's lease expired.
    const db = t.platform.db;
    await crashedAfterModelStep(runId, conv.id, [
      { type: "tool_use", id: "toolu_crash", name: "write_file", input: { path: "b.txt", content: "x" } },
    ]);
    await db
      .insertInto("agent_steps")
      .values({
        run_id: runId,
        kind: "tool",
        state: "started",
        tool_use_id: "toolu_crash",
        tool: "write_file",
        input: JSON.stringify({ path: "b.txt" }),
      })
      .execute();
    const stale = await t.platform.meter.hold({
      accountId: user.id,
      model: MODEL,
      inputTokens: 1000,
      maxOutputTokens: 1000,
      metadata: { run_id: runId },
    });

    startWorkers();
    await runOf(project, token, runId, (s) => s === "done");
    const sent = fake.requests[0]!.rawBody;
    expect(sent).toContain("interrupted: the runner restarted during this call");
    expect((await t.request("GET", `/v1/projects/${project}/files/content?path=b.txt`, { token })).status).toBe(404); // not made again
    const hold = await db.selectFrom("holds").select("state").where("id", "=", stale.id).executeTakeFirstOrThrow();
    expect(hold.state).toBe("released");
    await expectLedgerConsistent(db, user.id);
  });
});
