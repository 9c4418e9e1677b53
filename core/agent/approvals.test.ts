// Deciding on a tool call needs the power the call uses: a token that may talk to agents but lacks the tool's own
// scope can neither approve nor deny it, on REST and on MCP (Telegram: telegram/bridge.test.ts).
// The parked runs are recorded directly: what is under test is the decision, not the runner that parks them.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestAccount, type TestPlatform } from "../../testkit/harness.ts";
import { connectMcp } from "../../testkit/mcp-client.ts";
import { parkRunOnApproval } from "../../testkit/parked-approval.ts";

let t: TestPlatform;
let owner: TestAccount;
let ownerToken: string;
beforeAll(async () => {
  t = await startTestPlatform();
  owner = await t.account();
  ownerToken = await owner.token(["*"]);
  for (const [slug, kind] of [
    ["ops", "instance"],
    ["web", "site"],
  ] as const) {
    expect(
      (await t.request("POST", "/v1/projects", { token: ownerToken, body: { slug, name: slug, kind } })).status,
    ).toBe(201);
  }
});
afterAll(() => t?.close());

/** A run parked on one pending call of `tool`, in project `slug`. */
const parked = (slug: "ops" | "web", tool: string, input: Record<string, unknown>) =>
  parkRunOnApproval(t.platform.db, {
    projectSlug: slug,
    accountId: owner.id,
    instance: slug === "ops" ? "box" : undefined,
    tool,
    input,
    reason: "test",
  });
const statusOf = async (id: string) =>
  (await t.platform.db.selectFrom("agent_approvals").select("status").where("id", "=", id).executeTakeFirstOrThrow())
    .status;

async function member(role: string, scopes: string[]) {
  const m = await t.account();
  for (const project of ["ops", "web"]) await t.addMember(project, ownerToken, m, role); // members join by invitation only
  return m.token(scopes);
}

describe("approvals need the approved power", () => {
  it("REST: without instances:exec a run_command call can be neither approved nor denied (403 naming it); with it, it can", async () => {
    const { approvalId } = await parked("ops", "run_command", { command: "touch ~/x" });
    const noExec = await member("developer", ["agent:*", "instances:read", "instances:files"]);
    for (const action of ["approve", "deny"]) {
      const res = await t.request("POST", `/v1/projects/ops/agent/approvals/${approvalId}/${action}`, {
        token: noExec,
        body: {},
      });
      expect(res.status, JSON.stringify(res.body)).toBe(403);
      expect(res.body.error).toMatchObject({ code: "insufficient_scope", required_scope: "instances:exec" });
      expect(res.body.error.message).toContain("instances:exec");
    }
    expect(await statusOf(approvalId)).toBe("pending");
    const events = await t.platform.db.selectFrom("agent_run_events").select("type").execute();
    expect(events.map((e) => e.type)).not.toContain("approval_decided");

    // Another project's approval stays not found, whatever the scopes.
    const other = await t.request("POST", `/v1/projects/web/agent/approvals/${approvalId}/approve`, {
      token: ownerToken,
      body: {},
    });
    expect(other.status).toBe(404);

    const withExec = await member("developer", ["agent:write", "instances:exec"]);
    const ok = await t.request("POST", `/v1/projects/ops/agent/approvals/${approvalId}/approve`, {
      token: withExec,
      body: {},
    });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(await statusOf(approvalId)).toBe("approved");
  });

  it("the scope comes from the operation registry: publish_site needs publish:trigger, write_remote_file instances:exec", async () => {
    const publish = await parked("web", "publish_site", {});
    const write = await parked("ops", "write_remote_file", {
      path: "/home/u/.ssh/authorized_keys",
      content: "ssh-ed25519 AAAA attacker",
    });
    const editor = await member("developer", ["agent:write", "files:write", "pages:write", "instances:files"]);
    const p = await t.request("POST", `/v1/projects/web/agent/approvals/${publish.approvalId}/approve`, {
      token: editor,
      body: {},
    });
    expect(p.status).toBe(403);
    expect(p.body.error.required_scope).toBe("publish:trigger");
    const w = await t.request("POST", `/v1/projects/ops/agent/approvals/${write.approvalId}/approve`, {
      token: editor,
      body: {},
    });
    expect(w.status).toBe(403);
    expect(w.body.error.required_scope).toBe("instances:exec");
    expect([await statusOf(publish.approvalId), await statusOf(write.approvalId)]).toEqual(["pending", "pending"]);

    const publisher = await member("developer", ["agent:write", "publish:trigger"]);
    expect(
      (
        await t.request("POST", `/v1/projects/web/agent/approvals/${publish.approvalId}/deny`, {
          token: publisher,
          body: {},
        })
      ).status,
    ).toBe(200);
    expect(await statusOf(publish.approvalId)).toBe("denied");
  });

  it("a bridge tool (fetch_url) is no operation and needs agent:write only", async () => {
    const { approvalId } = await parked("ops", "fetch_url", { url: "https://example.com/" });
    const talker = await member("developer", ["agent:write"]);
    expect(
      (await t.request("POST", `/v1/projects/ops/agent/approvals/${approvalId}/approve`, { token: talker, body: {} }))
        .status,
    ).toBe(200);
  });

  it("MCP: the same refusal as a tool error naming the scope; the approval stays pending", async () => {
    const { approvalId } = await parked("ops", "edit_remote_file", { path: "/etc/hosts", old_str: "a", new_str: "b" });
    const noExec = await member("developer", ["agent:*", "instances:files"]);
    const client = await connectMcp(t.app, noExec);
    try {
      for (const name of ["approve_tool_call", "deny_tool_call"]) {
        const res = (await client.callTool({ name, arguments: { project: "ops", approval_id: approvalId } })) as {
          isError?: boolean;
          content: { type: string; text: string }[];
        };
        expect(res.isError).toBe(true);
        expect(res.content.map((c) => c.text).join("\n")).toContain("instances:exec");
      }
    } finally {
      await client.close();
    }
    expect(await statusOf(approvalId)).toBe("pending");

    const full = await connectMcp(t.app, ownerToken);
    try {
      const res = (await full.callTool({
        name: "deny_tool_call",
        arguments: { project: "ops", approval_id: approvalId, note: "no" },
      })) as { isError?: boolean };
      expect(res.isError).toBeFalsy();
    } finally {
      await full.close();
    }
    expect(await statusOf(approvalId)).toBe("denied");
  });

  it("approve_tool_call resumes the run: decided once, the run queued again with a job, the event recorded, gone from list_pending_approvals", async () => {
    const { approvalId, runId } = await parked("web", "write_file", { path: "a.html", content: "x" });
    const pending = async () =>
      (await t.request("GET", "/v1/projects/web/agent/approvals", { token: ownerToken })).body.approvals.map(
        (a: { id: string }) => a.id,
      );
    expect(await pending()).toContain(approvalId);

    const res = await t.request("POST", `/v1/projects/web/agent/approvals/${approvalId}/approve`, {
      token: ownerToken,
      body: { note: "go ahead" },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toEqual({ id: approvalId, status: "approved", run_id: runId });
    const db = t.platform.db;
    const row = await db
      .selectFrom("agent_approvals")
      .select(["status", "decided_by", "decided_via", "note"])
      .where("id", "=", approvalId)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ status: "approved", decided_by: owner.id, decided_via: "rest", note: "go ahead" });
    expect(
      (await db.selectFrom("agent_runs").select("status").where("id", "=", runId).executeTakeFirstOrThrow()).status,
    ).toBe("queued");
    expect(await db.selectFrom("jobs").select("state").where("key", "=", runId).execute()).toEqual([
      { state: "ready" },
    ]);
    const events = await db
      .selectFrom("agent_run_events")
      .select(["type", "data"])
      .where("run_id", "=", runId)
      .execute();
    expect(events.filter((e) => e.type === "approval_decided")).toHaveLength(1);
    expect(await pending()).not.toContain(approvalId);

    // Decided once: a second decision, either way, is a conflict naming how it was decided, and changes nothing.
    for (const action of ["approve", "deny"]) {
      const again = await t.request("POST", `/v1/projects/web/agent/approvals/${approvalId}/${action}`, {
        token: ownerToken,
        body: {},
      });
      expect(again.status, action).toBe(409);
      expect(again.body.error.message).toContain("already approved (via rest)");
    }
    expect(await statusOf(approvalId)).toBe("approved");
    expect(await db.selectFrom("jobs").select("state").where("key", "=", runId).execute()).toHaveLength(1);
  });
});
