// AI proposals: a site-editor run in `ask` mode changes nothing in the draft; its writes land in a proposal the
// person reviews (get_proposal's unified diff), applies or discards — and applying never overwrites an edit the
// person made meanwhile (409 naming the files, nothing applied). An `auto` run writes the draft, recorded as an
// applied proposal. The runs are real: the runner on the Anthropic SDK against the fake model server.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ScriptedReply } from "../../testkit/fake-anthropic.ts";
import { startFakeRunner } from "../../testkit/fake-runner.ts";
import { startTestPlatform, type TestPlatform } from "../../testkit/harness.ts";
import { credit } from "../billing/ledger.ts";
import { loadConfig } from "../config.ts";
import { sweepOrphanBlobs } from "./blobs.ts";

let t: TestPlatform;
let runner: Awaited<ReturnType<typeof startFakeRunner>>;

beforeAll(async () => {
  t = await startTestPlatform({ config: { agent: { ...loadConfig({}).agent, apiKey: "sk-test", workers: 0 } } });
  runner = await startFakeRunner(t.platform);
});
afterAll(async () => {
  await runner?.workers.stop();
  await runner?.fake.close();
  await t?.close();
});

interface Site {
  project: string;
  token: string;
  user: Awaited<ReturnType<TestPlatform["account"]>>;
  api(method: string, path: string, body?: unknown, token?: string): ReturnType<TestPlatform["request"]>;
}

let n = 0;
async function site(): Promise<Site> {
  const user = await t.account();
  const token = await user.token(["*"]);
  const project = `prop-${++n}-${user.id.slice(0, 6)}`;
  expect(
    (await t.request("POST", "/v1/projects", { token, body: { slug: project, name: "P", kind: "site" } })).status,
  ).toBe(201);
  await credit(t.platform.db, { accountId: user.id, pool: "ai_credits", amount: 5_000_000, reason: "top_up" });
  const api: Site["api"] = (method, path, body, as = token) =>
    t.request(method, `/v1/projects/${project}${path}`, { token: as, body });
  await api("PUT", "/files", { path: "index.html", content: "<h1>Home</h1>\n<p>Welcome</p>\n" });
  await api("PUT", "/files", { path: "about.html", content: "<h1>About</h1>\n" });
  await api("PUT", "/files", { path: "old.html", content: "<h1>Old</h1>\n" });
  return { project, token, user, api };
}

async function runAgent(s: Site, script: ScriptedReply[], mode: "ask" | "auto" = "ask") {
  runner.fake.script(script);
  const start = await s.api("POST", "/agent/conversations", { project: s.project, message: "Tidy the site", mode });
  expect(start.status, JSON.stringify(start.body)).toBe(201);
  const runId = (start.body as { run_id: string }).run_id;
  for (let i = 0; i < 400; i++) {
    const res = await s.api("GET", `/agent/runs/${runId}/events`);
    const body = res.body as { run: { status: string; error: unknown }; events: { type: string; data: any }[] };
    if (!["queued", "running"].includes(body.run.status)) {
      expect(body.run.status, JSON.stringify(body.run.error)).toBe("done");
      return { runId, events: body.events };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("the run never settled");
}

const content = async (s: Site, path: string) => {
  const res = await s.api("GET", `/files/content?path=${encodeURIComponent(path)}`);
  return res.status === 200 ? (res.body as { content: string }).content : null;
};

/** A run that edits index.html, reads it back, adds a page, deletes old.html and changes a setting. */
const EDITS: ScriptedReply[] = [
  { toolUse: { name: "edit_file", input: { path: "index.html", old_str: "Welcome", new_str: "Welcome, friend" } } },
  { toolUse: { name: "read_file", input: { path: "index.html" } } },
  { toolUse: { name: "create_page", input: { slug: "contact", title: "Contact", content: "<p>Call us</p>" } } },
  { toolUse: { name: "delete_file", input: { path: "old.html" } } },
  { toolUse: { name: "update_site_settings", input: { settings: { site_name: "Ada's" } } } },
  { text: "Proposed: a warmer welcome, a contact page, old page gone." },
];

describe("AI proposals", () => {
  it("an ask-mode run proposes instead of writing; get_proposal diffs it; apply_proposal applies it", async () => {
    const s = await site();
    const run = await runAgent(s, EDITS);

    // The agent read back its own proposed change (the overlay), with no approval asked for the delete.
    const results = run.events.filter((e) => e.type === "tool_result");
    expect(
      results.map((e) => e.data.is_error),
      runner.fake.requests.at(-1)?.rawBody.slice(-3000),
    ).toEqual([false, false, false, false, false]);
    expect(run.events.some((e) => e.type === "approval_requested")).toBe(false);
    const readBack = runner.fake.requests
      .map((r) => r.rawBody)
      .find((b) => b.includes("Welcome, friend") && b.includes("total_lines"));
    expect(readBack).toBeTruthy();

    // The draft is untouched.
    expect(await content(s, "index.html")).toBe("<h1>Home</h1>\n<p>Welcome</p>\n");
    expect(await content(s, "contact.html")).toBeNull();
    expect(await content(s, "old.html")).toBe("<h1>Old</h1>\n");
    expect((await s.api("GET", "/settings")).body.draft.site_name).toBeUndefined();

    // The run's stream carries the proposal before its end; list_proposals shows it pending.
    const types = run.events.map((e) => e.type);
    expect(types.slice(-2)).toEqual(["proposal", "run_finished"]);
    const listed = await s.api("GET", "/proposals?status=pending");
    expect(listed.status).toBe(200);
    const [p] = listed.body.proposals;
    expect(p).toMatchObject({ status: "pending", run_id: run.runId, settings_changed: true });
    expect(p.message_id).toBeTruthy();
    expect(p.files.map((f: any) => [f.path, f.change])).toEqual([
      ["contact.html", "write"],
      ["index.html", "write"],
      ["old.html", "delete"],
    ]);
    expect(run.events.at(-2)?.data).toMatchObject({ proposal_id: p.id, status: "pending", files: 3 });

    // get_proposal: a unified diff per file against the draft now.
    const got = await s.api("GET", `/proposals/${p.id}`);
    expect(got.status).toBe(200);
    const diffs = Object.fromEntries(got.body.files.map((f: any) => [f.path, f.diff]));
    expect(diffs["index.html"]).toBe(
      "--- a/index.html\n+++ b/index.html\n@@ -1,2 +1,2 @@\n <h1>Home</h1>\n-<p>Welcome</p>\n+<p>Welcome, friend</p>\n",
    );
    expect(diffs["old.html"]).toBe("--- a/old.html\n+++ /dev/null\n@@ -1,1 +0,0 @@\n-<h1>Old</h1>\n");
    expect(diffs["contact.html"]).toMatch(/^--- \/dev\/null\n\+\+\+ b\/contact.html\n@@ -0,0 \+1,\d+ @@\n/);
    expect(got.body.settings).toEqual(["site_name"]);
    expect(got.body.conflicts).toEqual([]);

    // Its blobs survive the orphan sweep: only the proposal refers to them.
    await sweepOrphanBlobs(t.platform.db, 0);
    expect((await s.api("GET", `/proposals/${p.id}`)).body.files.length).toBe(3);

    const applied = await s.api("POST", `/proposals/${p.id}/apply`, {});
    expect(applied.status, JSON.stringify(applied.body)).toBe(200);
    expect(applied.body).toMatchObject({ applied: 3, overwritten: [], proposal: { status: "applied" } });
    expect(await content(s, "index.html")).toBe("<h1>Home</h1>\n<p>Welcome, friend</p>\n");
    expect(await content(s, "contact.html")).toContain("Call us");
    expect(await content(s, "old.html")).toBeNull();
    expect((await s.api("GET", "/settings")).body.draft.site_name).toBe("Ada's");

    // Once decided, it cannot be decided again.
    expect((await s.api("POST", `/proposals/${p.id}/apply`, {})).status).toBe(409);
    expect((await s.api("POST", `/proposals/${p.id}/discard`, {})).status).toBe(409);
    const events = await t.platform.db
      .selectFrom("events")
      .select(["type", "data"])
      .where("type", "in", ["proposal.created", "proposal.applied"])
      .execute();
    const mine = events.filter((e) => (e.data as { proposal_id: string }).proposal_id === p.id).map((e) => e.type);
    expect(mine.sort()).toEqual(["proposal.applied", "proposal.created"]);
  });

  it("discard_proposal leaves the draft as it is", async () => {
    const s = await site();
    await runAgent(s, [
      { toolUse: { name: "write_file", input: { path: "index.html", content: "<h1>Replaced</h1>" } } },
      { text: "Done." },
    ]);
    const [p] = (await s.api("GET", "/proposals")).body.proposals;
    const discarded = await s.api("POST", `/proposals/${p.id}/discard`, {});
    expect(discarded.status).toBe(200);
    expect(discarded.body.proposal.status).toBe("discarded");
    expect(await content(s, "index.html")).toBe("<h1>Home</h1>\n<p>Welcome</p>\n");
    expect((await s.api("GET", "/proposals?status=pending")).body.proposals).toEqual([]);
    expect((await s.api("GET", "/proposals?status=discarded")).body.proposals.map((x: any) => x.id)).toEqual([p.id]);
  });

  it("apply_proposal over a file the user changed meanwhile: 409 naming it, nothing applied; force overwrites", async () => {
    const s = await site();
    await runAgent(s, [
      { toolUse: { name: "write_file", input: { path: "index.html", content: "<h1>Agent home</h1>\n" } } },
      { toolUse: { name: "write_file", input: { path: "about.html", content: "<h1>Agent about</h1>\n" } } },
      { text: "Done." },
    ]);
    const [p] = (await s.api("GET", "/proposals")).body.proposals;
    // The person edits index.html after the proposal was made.
    await s.api("PUT", "/files", { path: "index.html", content: "<h1>My own edit</h1>\n" });

    const got = await s.api("GET", `/proposals/${p.id}`);
    expect(got.body.conflicts).toEqual(["index.html"]);
    expect(got.body.files.find((f: any) => f.path === "index.html")).toMatchObject({ conflict: true });
    expect(got.body.files.find((f: any) => f.path === "index.html").diff).toContain("-<h1>My own edit</h1>");

    const refused = await s.api("POST", `/proposals/${p.id}/apply`, {});
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe("conflict");
    expect(refused.body.error.files).toEqual(["index.html"]);
    expect(refused.body.error.message).toContain("index.html");
    // Atomic: neither file changed, the user's edit is kept, the proposal is still pending.
    expect(await content(s, "index.html")).toBe("<h1>My own edit</h1>\n");
    expect(await content(s, "about.html")).toBe("<h1>About</h1>\n");
    expect((await s.api("GET", `/proposals/${p.id}`)).body.status).toBe("pending");

    const forced = await s.api("POST", `/proposals/${p.id}/apply`, { force: true });
    expect(forced.status).toBe(200);
    expect(forced.body.overwritten).toEqual(["index.html"]);
    expect(await content(s, "index.html")).toBe("<h1>Agent home</h1>\n");
    expect(await content(s, "about.html")).toBe("<h1>Agent about</h1>\n");
  });

  it("an auto-mode run writes the draft, recorded as an applied proposal", async () => {
    const s = await site();
    const run = await runAgent(
      s,
      [
        { toolUse: { name: "write_file", input: { path: "index.html", content: "<h1>Auto</h1>\n" } } },
        { toolUse: { name: "delete_file", input: { path: "old.html" } } },
        { text: "Done." },
      ],
      "auto",
    );
    expect(await content(s, "index.html")).toBe("<h1>Auto</h1>\n");
    expect(await content(s, "old.html")).toBeNull();
    const [p] = (await s.api("GET", "/proposals")).body.proposals;
    expect(p).toMatchObject({ status: "applied", run_id: run.runId });
    expect(p.decided_at).toBeTruthy();
    expect(p.files.map((f: any) => [f.path, f.change])).toEqual([
      ["index.html", "write"],
      ["old.html", "delete"],
    ]);
    expect(run.events.find((e) => e.type === "proposal")?.data).toMatchObject({ status: "applied", files: 2 });
  });

  it("another tenant gets 404; a token without files:write gets 403 on apply and discard", async () => {
    const s = await site();
    await runAgent(s, [
      { toolUse: { name: "write_file", input: { path: "index.html", content: "<h1>New</h1>" } } },
      { text: "Done." },
    ]);
    const [p] = (await s.api("GET", "/proposals")).body.proposals;
    const stranger = await (await t.account()).token(["*"]);
    expect((await s.api("GET", "/proposals", undefined, stranger)).status).toBe(404);
    expect((await s.api("GET", `/proposals/${p.id}`, undefined, stranger)).status).toBe(404);
    expect((await s.api("POST", `/proposals/${p.id}/apply`, {}, stranger)).status).toBe(404);

    const ro = await s.user.token(["files:read"]);
    expect((await s.api("GET", `/proposals/${p.id}`, undefined, ro)).status).toBe(200);
    const apply = await s.api("POST", `/proposals/${p.id}/apply`, {}, ro);
    expect(apply.status).toBe(403);
    expect(apply.body.error.code).toBe("insufficient_scope");
    expect((await s.api("POST", `/proposals/${p.id}/discard`, {}, ro)).status).toBe(403);
    expect(await content(s, "index.html")).toBe("<h1>Home</h1>\n<p>Welcome</p>\n");
  });
});
