// Agent conversation operations without a runner: what they record, what they refuse, and who may call them.
import crypto from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../../testkit/harness.ts";
import { credit } from "../billing/ledger.ts";
import { loadConfig } from "../config.ts";

let t: TestPlatform;
beforeAll(async () => {
  const agent = { ...loadConfig({}).agent, apiKey: "sk-test", workers: 0 };
  t = await startTestPlatform({ config: { agent } });
});
afterAll(() => t?.close());

async function owner(kind: "site" | "instance" = "site", creditMicros = 1_000_000) {
  const user = await t.account();
  const token = await user.token(["*"]);
  const project = `${kind}-${user.id.slice(0, 8)}`;
  expect((await t.request("POST", "/v1/projects", { token, body: { slug: project, name: "P", kind } })).status).toBe(
    201,
  );
  if (creditMicros)
    await credit(t.platform.db, { accountId: user.id, pool: "ai_credits", amount: creditMicros, reason: "top_up" });
  return { user, token, project };
}
const start = (project: string, token: string, body: Record<string, unknown> = {}) =>
  t.request("POST", `/v1/projects/${project}/agent/conversations`, {
    token,
    body: { project, message: "Add a contact page", ...body },
  });

describe("happy paths", () => {
  it("start_agent_chat records the message and a queued run; send_agent_message waits for the run (409); cancel frees the conversation", async () => {
    const { token, project } = await owner();
    const res = await start(project, token);
    expect(res.status).toBe(201);
    const { conversation, run_id } = res.body as {
      conversation: { id: string; kind: string; mode: string };
      run_id: string;
    };
    expect(conversation).toMatchObject({ kind: "site_editor", mode: "ask" });

    const transcript = (
      await t.request("GET", `/v1/projects/${project}/agent/conversations/${conversation.id}`, { token })
    ).body as {
      messages: { role: string; content: unknown[] }[];
      runs: { id: string; status: string }[];
    };
    expect(transcript.messages).toEqual([
      expect.objectContaining({ role: "user", content: [{ type: "text", text: "Add a contact page" }] }),
    ]);
    expect(transcript.runs).toEqual([expect.objectContaining({ id: run_id, status: "queued" })]);
    const jobs = await t.platform.db.selectFrom("jobs").select(["key", "state"]).where("key", "=", run_id).execute();
    expect(jobs).toEqual([{ key: run_id, state: "ready" }]);

    const busy = await t.request("POST", `/v1/projects/${project}/agent/conversations/${conversation.id}/messages`, {
      token,
      body: { message: "and a map" },
    });
    expect(busy.status).toBe(409);
    const cancel = await t.request("POST", `/v1/projects/${project}/agent/conversations/${conversation.id}/cancel`, {
      token,
      body: {},
    });
    expect(cancel.body).toEqual({ cancelled_run_id: run_id });
    const next = await t.request("POST", `/v1/projects/${project}/agent/conversations/${conversation.id}/messages`, {
      token,
      body: { message: "and a map" },
    });
    expect(next.status).toBe(201);

    const list = (await t.request("GET", `/v1/projects/${project}/agent/conversations`, { token })).body as {
      conversations: { id: string; latest_run: { status: string } }[];
    };
    expect(list.conversations).toEqual([
      expect.objectContaining({ id: conversation.id, latest_run: expect.objectContaining({ status: "queued" }) }),
    ]);
    const events = (await t.request("GET", `/v1/projects/${project}/agent/runs/${run_id}/events`, { token })).body as {
      events: { type: string }[];
    };
    expect(events.events.map((e) => e.type)).toEqual(["run_queued", "run_finished"]);
  });

  it("delete_agent_conversation removes the conversation with its messages and runs, and leaves the others", async () => {
    const { token, project } = await owner();
    const doomed = (await start(project, token)).body as { conversation: { id: string }; run_id: string };
    const kept = (await start(project, token, { message: "Keep me" })).body as { conversation: { id: string } };
    const base = `/v1/projects/${project}/agent/conversations`;

    const del = await t.request("DELETE", `${base}/${doomed.conversation.id}`, { token });
    expect(del.status, JSON.stringify(del.body)).toBe(200);
    expect(del.body).toEqual({ deleted: true });
    expect((await t.request("GET", `${base}/${doomed.conversation.id}`, { token })).status).toBe(404);
    const listed = (await t.request("GET", base, { token })).body.conversations.map((c: { id: string }) => c.id);
    expect(listed).toEqual([kept.conversation.id]);
    const db = t.platform.db;
    expect(
      await db.selectFrom("agent_runs").select("id").where("conversation_id", "=", doomed.conversation.id).execute(),
    ).toEqual([]);
    expect(
      await db
        .selectFrom("agent_messages")
        .select("id")
        .where("conversation_id", "=", doomed.conversation.id)
        .execute(),
    ).toEqual([]);
    // The other conversation's run is untouched.
    expect((await t.request("GET", `${base}/${kept.conversation.id}`, { token })).body.runs).toEqual([
      expect.objectContaining({ status: "queued" }),
    ]);
    // Deleting again: it is gone.
    expect((await t.request("DELETE", `${base}/${doomed.conversation.id}`, { token })).status).toBe(404);
  });

  it("cancel_agent_run ends a run parked on an approval, cancels the approval, and shows in get_agent_conversation and list_agent_run_events", async () => {
    const { token, project } = await owner();
    const { conversation, run_id } = (await start(project, token)).body as {
      conversation: { id: string };
      run_id: string;
    };
    const db = t.platform.db;
    // Parked as the runner parks a run: awaiting a person's decision on one call.
    await db.updateTable("agent_runs").set({ status: "awaiting_approval" }).where("id", "=", run_id).execute();
    const approvalId = crypto.randomUUID();
    await db
      .insertInto("agent_approvals")
      .values({
        id: approvalId,
        run_id,
        conversation_id: conversation.id,
        tool_use_id: "toolu_1",
        tool: "write_file",
        input: JSON.stringify({ path: "a.html", content: "x" }),
        reason: "test",
      })
      .execute();
    const base = `/v1/projects/${project}/agent`;
    const seen = (await t.request("GET", `${base}/runs/${run_id}/events`, { token })).body.events as {
      id: string;
      type: string;
    }[];

    const cancel = await t.request("POST", `${base}/conversations/${conversation.id}/cancel`, { token, body: {} });
    expect(cancel.body).toEqual({ cancelled_run_id: run_id });
    expect(
      (await db.selectFrom("agent_approvals").select("status").where("id", "=", approvalId).executeTakeFirstOrThrow())
        .status,
    ).toBe("cancelled");
    expect((await t.request("GET", `${base}/approvals`, { token })).body.approvals).toEqual([]);
    const got = (await t.request("GET", `${base}/conversations/${conversation.id}`, { token })).body;
    expect(got.runs).toEqual([expect.objectContaining({ id: run_id, status: "cancelled" })]);
    const later = await t.request("GET", `${base}/runs/${run_id}/events?after=${seen.at(-1)?.id}`, { token });
    expect(later.body.run).toMatchObject({ id: run_id, status: "cancelled" });
    expect(later.body.events.map((e: { type: string }) => e.type)).toEqual(["run_finished"]);
    // Nothing left to cancel.
    expect(
      (await t.request("POST", `${base}/conversations/${conversation.id}/cancel`, { token, body: {} })).body,
    ).toEqual({ cancelled_run_id: null });
  });

  it("the run holds only the agent kind's scopes the starting token also holds; publishing only when allowed", async () => {
    const { user, project } = await owner();
    const narrow = await user.token(["agent:write", "files:read", "pages:read", "publish:trigger"]);
    const res = await start(project, narrow, { allow_publish: false });
    const id = (res.body as { conversation: { id: string } }).conversation.id;
    const row = await t.platform.db
      .selectFrom("agent_conversations")
      .select("scopes")
      .where("id", "=", id)
      .executeTakeFirstOrThrow();
    expect(row.scopes.sort()).toEqual(["files:read", "pages:read"]);
  });
});

describe("errors", () => {
  it("an instance project needs an existing instance, named", async () => {
    const { token, project } = await owner("instance");
    const missing = await start(project, token);
    expect(missing.status).toBe(400);
    expect(JSON.stringify(missing.body)).toContain("instance");
    const unknown = await start(project, token, { instance: "nope" });
    expect(unknown.status).toBe(404);
  });

  it("no AI credit is 402 before anything is recorded", async () => {
    const { token, project } = await owner("site", 0);
    const res = await start(project, token);
    expect(res.status).toBe(402);
    expect((await t.request("GET", `/v1/projects/${project}/agent/conversations`, { token })).body).toMatchObject({
      conversations: [],
    });
  });

  it("an unconfigured model is 503 not_configured naming the variable to set", async () => {
    const bare = await startTestPlatform({ config: { agent: { ...loadConfig({}).agent, apiKey: undefined } } });
    try {
      const user = await bare.account();
      const token = await user.token(["*"]);
      expect(
        await bare.request("POST", "/v1/projects", { token, body: { slug: "bare-site", name: "S", kind: "site" } }),
      ).toMatchObject({ status: 201 });
      const res = await bare.request("POST", "/v1/projects/bare-site/agent/conversations", {
        token,
        body: { project: "bare-site", message: "hi" },
      });
      expect(res.status).toBe(503);
      expect(res.body).toMatchObject({
        error: { code: "not_configured", message: expect.stringContaining("ANTHROPIC_API_KEY") },
      });
    } finally {
      await bare.close();
    }
  });

  it("deciding an approval that does not exist is 404; a bad id is 400 naming the field", async () => {
    const { token, project } = await owner();
    const missing = await t.request(
      "POST",
      `/v1/projects/${project}/agent/approvals/00000000-0000-4000-8000-000000000000/approve`,
      { token, body: {} },
    );
    expect(missing.status).toBe(404);
    const bad = await t.request("POST", `/v1/projects/${project}/agent/approvals/not-a-uuid/approve`, {
      token,
      body: {},
    });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain("approval_id");
  });
});

describe("security", () => {
  it("another tenant's conversation is not found, by project and by id", async () => {
    const a = await owner();
    const b = await owner();
    const id = ((await start(a.project, a.token)).body as { conversation: { id: string } }).conversation.id;
    expect(
      (await t.request("GET", `/v1/projects/${a.project}/agent/conversations/${id}`, { token: b.token })).status,
    ).toBe(404);
    // B's own project with A's conversation id: still not found.
    expect(
      (await t.request("GET", `/v1/projects/${b.project}/agent/conversations/${id}`, { token: b.token })).status,
    ).toBe(404);
    expect(
      (await t.request("DELETE", `/v1/projects/${b.project}/agent/conversations/${id}`, { token: b.token })).status,
    ).toBe(404);
  });

  it("talking to an agent needs agent:write; reading needs agent:read", async () => {
    const { user, project } = await owner();
    const readOnly = await user.token(["agent:read"]);
    const res = await start(project, readOnly);
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ error: { required_scope: "agent:write" } });
    const noAgent = await user.token(["projects:read"]);
    expect((await t.request("GET", `/v1/projects/${project}/agent/conversations`, { token: noAgent })).status).toBe(
      403,
    );
  });
});

describe("list_agent_conversations", () => {
  const list = (project: string, token: string, query = "") =>
    t.request("GET", `/v1/projects/${project}/agent/conversations${query}`, { token });

  it("lists the project's conversations most recently active first, a page at a time, each with its latest run", async () => {
    const { token, project } = await owner();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await start(project, token, { message: `task ${i}` });
      expect(res.status).toBe(201);
      ids.push(res.body.conversation.id);
      // One run at a time per conversation; cancelled so it is idle (and the next start is the newest activity).
      await t.request("POST", `/v1/projects/${project}/agent/conversations/${res.body.conversation.id}/cancel`, {
        token,
        body: {},
      });
    }
    const newestFirst = [...ids].reverse();
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 5; page++) {
      const res = await list(project, token, `?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      expect(res.status).toBe(200);
      for (const c of res.body.conversations) {
        expect(c.latest_run).toMatchObject({ status: "cancelled" });
        seen.push(c.id);
      }
      cursor = res.body.next_cursor;
      if (!cursor) break;
    }
    expect(seen).toEqual(newestFirst);
  });

  it("refuses a cursor it did not make and a bad limit, naming the field", async () => {
    const { token, project } = await owner();
    for (const [query, field] of [
      ["?cursor=garbage", "cursor"],
      ["?cursor=not-a-date%7Cid", "cursor"],
      ["?limit=0", "limit"],
    ]) {
      const res = await list(project, token, query);
      expect(res.status, query).toBe(400);
      expect(res.body.error.code).toBe("validation_error");
      expect(res.body.error.issues.map((i: { path: string }) => i.path)).toContain(field);
    }
  });

  it("answers another tenant 404 and lists only the caller's own project's conversations", async () => {
    const a = await owner();
    const b = await owner();
    const theirs = (await start(a.project, a.token)).body.conversation.id as string;
    await start(b.project, b.token);
    const denied = await list(a.project, b.token);
    expect(denied.status).toBe(404);
    expect(denied.body.error.code).toBe("not_found");
    expect(JSON.stringify(denied.body)).not.toContain(theirs);
    const own = await list(b.project, b.token);
    expect(own.body.conversations).toHaveLength(1);
    expect(own.body.conversations[0].id).not.toBe(theirs);
  });
});
