import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { generate } from "otplib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestAccount, type TestPlatform, type TestResponse } from "../../testkit/harness.ts";
import { connectMcp } from "../../testkit/mcp-client.ts";

let t: TestPlatform;
beforeAll(async () => {
  t = await startTestPlatform();
});
afterAll(() => t?.close());

const rowsFor = async (requestId: string) => {
  await t.platform.audit.flush();
  return t.platform.db.selectFrom("audit_events").selectAll().where("request_id", "=", requestId).execute();
};
/** Every audit row as raw text, to search for strings that must never be there. */
const rawAudit = async () => {
  await t.platform.audit.flush();
  return JSON.stringify(await t.platform.db.selectFrom("audit_events").selectAll().execute());
};
const project = (token: string, slug: string) =>
  t.request("POST", "/v1/projects", { token, body: { slug, name: slug, kind: "site" } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Event = {
  id: string;
  request_id: string;
  operation: string;
  project: string | null;
  outcome: string;
  at: string;
  actor: { account_id: string | null };
};
async function events(token: string, query = ""): Promise<Event[]> {
  const res = await t.request("GET", `/v1/audit-events?limit=200${query}`, { token });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.events;
}

/** An MCP client that notes the X-Request-Id of each tools/call response. */
async function mcpClient(token: string) {
  const callIds: string[] = [];
  const transport = new StreamableHTTPClientTransport(new URL("http://127.0.0.1/mcp"), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
    fetch: async (input, init) => {
      const res = await t.app.request(String(input instanceof Request ? input.url : input), init as RequestInit);
      if (typeof init?.body === "string" && init.body.includes('"tools/call"'))
        callIds.push(res.headers.get("x-request-id")!);
      return res;
    },
  });
  const client = new Client({ name: "audit-test", version: "0.0.0" });
  await client.connect(transport);
  return { client, callIds };
}

describe("audit records", () => {
  it("one record per REST call: request id, actor, operation, surface, project, outcome, duration", async () => {
    const user = await t.account();
    const token = await user.token(["projects:read", "projects:write", "audit:read"]);
    const readOnly = await user.token(["projects:read"]);

    const created = await project(token, "audited");
    const got = await t.request("GET", "/v1/projects/audited", { token, headers: { "X-Request-Id": "trace-abc.123" } });
    expect(got.headers.get("x-request-id")).toBe("trace-abc.123");
    const missing = await t.request("GET", "/v1/projects/not-there", { token });
    const refused = await t.request("PATCH", "/v1/projects/audited", { token: readOnly, body: { name: "x" } });
    const invalid = await t.request("POST", "/v1/projects", { token, body: { slug: "NO", name: "x", kind: "site" } });
    const cli = await t.request("GET", "/v1/projects/audited", { token, headers: { "X-Bosun-Client": "cli" } });

    const expectations: [TestResponse, string, Record<string, unknown>][] = [
      [created, token, { operation: "create_project", surface: "rest", project: "audited", outcome: "ok" }],
      [got, token, { operation: "get_project", surface: "rest", project: "audited", outcome: "ok" }],
      [missing, token, { operation: "get_project", surface: "rest", project: null, outcome: "not_found" }],
      [
        refused,
        readOnly,
        { operation: "update_project", surface: "rest", project: null, outcome: "insufficient_scope" },
      ],
      [invalid, token, { operation: "create_project", surface: "rest", project: null, outcome: "validation_error" }],
      [cli, token, { operation: "get_project", surface: "cli", project: "audited", outcome: "ok" }],
    ];
    for (const [res, used, expected] of expectations) {
      const requestId = res.headers.get("x-request-id")!;
      expect(requestId).toBeTruthy();
      const rows = await rowsFor(requestId);
      expect(rows, `${expected.operation} ${expected.outcome}`).toHaveLength(1);
      const row = rows[0]!;
      expect(row).toMatchObject({ ...expected, account_id: user.id, token_prefix: used.slice(0, 12) });
      expect(Number.isInteger(row.duration_ms) && row.duration_ms >= 0).toBe(true);
      expect(JSON.stringify(row)).not.toContain(used);
    }
    // Through list_audit_events, with the same shape.
    const listed = (await events(token)).find((e) => e.request_id === "trace-abc.123");
    expect(listed).toMatchObject({
      operation: "get_project",
      surface: "rest",
      project: "audited",
      outcome: "ok",
      actor: { account_id: user.id, token_prefix: token.slice(0, 12) },
      duration_ms: expect.any(Number),
    });
  });

  it("one record per MCP tool call, under the request id of its HTTP response", async () => {
    const user = await t.account();
    const token = await user.token(["projects:read", "projects:write"]);
    const { client, callIds } = await mcpClient(token);
    const ok = await client.callTool({
      name: "create_project",
      arguments: { slug: "via-mcp", name: "M", kind: "site" },
    });
    expect(ok.isError).toBeFalsy();
    const dup = await client.callTool({
      name: "create_project",
      arguments: { slug: "via-mcp", name: "M", kind: "site" },
    });
    expect(dup.isError).toBe(true);
    const read = await client.callTool({ name: "get_project", arguments: { project: "via-mcp" } });
    expect(read.isError).toBeFalsy();
    await client.close();

    expect(callIds).toHaveLength(3);
    const outcomes = ["ok", "conflict", "ok"];
    const operations = ["create_project", "create_project", "get_project"];
    for (const [i, requestId] of callIds.entries()) {
      const rows = await rowsFor(requestId);
      expect(rows, `call ${i}`).toHaveLength(1);
      expect(rows[0]).toMatchObject({
        operation: operations[i],
        outcome: outcomes[i],
        surface: "mcp",
        account_id: user.id,
        token_prefix: token.slice(0, 12),
      });
    }
  });

  it("never holds a secret: passwords, TOTP secrets and codes, tokens and sessions are kept out", async () => {
    const password = "a secret password 8f2c";
    const email = "secretive@example.test";
    expect((await t.request("POST", "/v1/auth/register", { body: { email, name: "S", password } })).status).toBe(201);
    const wrongPassword = "another secret 91ab7";
    expect((await t.request("POST", "/v1/auth/login", { body: { email, password: wrongPassword } })).status).toBe(401);
    const login = await t.request("POST", "/v1/auth/login", { body: { email, password } });
    expect(login.status).toBe(200);
    const session: string = login.body.token;

    const minted = await t.request("POST", "/v1/tokens", {
      token: session,
      body: { name: "ci", scopes: ["projects:read"] },
    });
    expect(minted.status).toBe(201);
    const apiToken: string = minted.body.token;
    expect((await t.request("GET", "/v1/projects", { token: apiToken })).status).toBe(200);

    const setup = await t.request("POST", "/v1/me/totp/setup", { token: session });
    const secret: string = setup.body.secret;
    const code = await generate({ secret });
    const confirm = await t.request("POST", "/v1/me/totp/confirm", { token: session, body: { code } });
    expect(confirm.status).toBe(200);
    const backupCodes: string[] = confirm.body.backup_codes;
    const next = await generate({ secret, epoch: Math.floor(Date.now() / 1000) + 30 });
    expect((await t.request("POST", "/v1/auth/login", { body: { email, password, totp_code: next } })).status).toBe(
      200,
    );
    expect(
      (await t.request("POST", "/v1/auth/login", { body: { email, password, totp_code: backupCodes[0] } })).status,
    ).toBe(200);

    const raw = await rawAudit();
    for (const s of [password, wrongPassword, session, apiToken, secret, code, next, ...backupCodes]) {
      expect(raw, "a secret is in audit_events").not.toContain(s);
    }
    // The calls themselves are recorded, with the secret fields redacted.
    const logins = await t.platform.db
      .selectFrom("audit_events")
      .selectAll()
      .where("operation", "=", "login")
      .where("outcome", "=", "ok")
      .execute();
    const mine = logins.filter((r) => (r.input as Record<string, unknown> | null)?.email === email);
    expect(mine.length).toBe(3);
    expect(mine[0]!.input).toMatchObject({ email, password: "[redacted]" });
    expect(mine.some((r) => (r.input as Record<string, unknown>).totp_code === "[redacted]")).toBe(true);
  });
});

describe("list_audit_events", () => {
  let owner: TestAccount;
  let ownerToken: string;
  let member: TestAccount;
  let memberToken: string;
  let since = "";

  beforeAll(async () => {
    owner = await t.account();
    ownerToken = await owner.token(["*"]);
    member = await t.account();
    memberToken = await member.token(["*"]);
    expect((await project(ownerToken, "filter-one")).status).toBe(201);
    expect((await project(ownerToken, "filter-two")).status).toBe(201);
    await t.addMember("filter-one", ownerToken, member, "developer");
    await t.request("GET", "/v1/projects/filter-one", { token: memberToken });
    await t.request("GET", "/v1/projects/nowhere", { token: ownerToken });
    await sleep(5);
    since = new Date().toISOString();
    await sleep(5);
    await t.request("PATCH", "/v1/projects/filter-two", { token: ownerToken, body: { name: "Two" } });
    await t.request("GET", "/v1/projects/filter-one", { token: memberToken });
  });

  it("shows your own calls and every call on your projects, newest first", async () => {
    const all = await events(ownerToken);
    const ids = all.map((e) => BigInt(e.id));
    expect(ids).toEqual([...ids].sort((a, b) => (a > b ? -1 : a < b ? 1 : 0)));
    expect(all.some((e) => e.actor.account_id === member.id && e.project === "filter-one")).toBe(true);
    for (const e of all)
      expect(e.actor.account_id === owner.id || ["filter-one", "filter-two"].includes(e.project!)).toBe(true);
  });

  it("filters by project, operation, actor, outcome and since", async () => {
    const byProject = await events(ownerToken, "&project=filter-one");
    expect(byProject.length).toBeGreaterThanOrEqual(3);
    expect(new Set(byProject.map((e) => e.project))).toEqual(new Set(["filter-one"]));

    const byOperation = await events(ownerToken, "&operation=create_project");
    expect(byOperation.map((e) => e.project).sort()).toEqual(["filter-one", "filter-two"]);

    const byActor = await events(ownerToken, `&actor=${member.id}`);
    expect(byActor.length).toBe(2);
    expect(byActor.every((e) => e.actor.account_id === member.id && e.operation === "get_project")).toBe(true);

    const byOutcome = await events(ownerToken, "&outcome=not_found");
    expect(byOutcome.length).toBe(1);
    expect(byOutcome[0]).toMatchObject({
      operation: "get_project",
      outcome: "not_found",
      actor: { account_id: owner.id },
    });

    const bySince = await events(ownerToken, `&since=${encodeURIComponent(since)}`);
    expect(bySince.every((e) => e.at >= since)).toBe(true);
    const ops = bySince.filter((e) => e.operation !== "list_audit_events").map((e) => `${e.operation} ${e.project}`);
    expect(ops.sort()).toEqual(["get_project filter-one", "update_project filter-two"]);

    const combined = await events(
      ownerToken,
      `&project=filter-one&actor=${member.id}&since=${encodeURIComponent(since)}`,
    );
    expect(combined).toHaveLength(1);

    expect((await t.request("GET", "/v1/audit-events?since=yesterday", { token: ownerToken })).status).toBe(400);
    expect((await t.request("GET", "/v1/audit-events?actor=someone", { token: ownerToken })).status).toBe(400);
  });

  it("pages with a cursor, without gaps or overlap", async () => {
    const everything = await events(ownerToken, "&operation=get_project");
    expect(everything.length).toBeGreaterThanOrEqual(3);
    const paged: string[] = [];
    let cursor: string | null = null;
    do {
      const res: TestResponse = await t.request(
        "GET",
        `/v1/audit-events?operation=get_project&limit=1${cursor ? `&cursor=${cursor}` : ""}`,
        { token: ownerToken },
      );
      expect(res.status).toBe(200);
      expect(res.body.events.length).toBeLessThanOrEqual(1);
      paged.push(...res.body.events.map((e: Event) => e.id));
      cursor = res.body.next_cursor;
    } while (cursor);
    expect(paged).toEqual(everything.map((e) => e.id));
  });

  it("never shows another tenant's events", async () => {
    const stranger = await t.account();
    const strangerToken = await stranger.token(["*"]);
    expect((await project(strangerToken, "stranger-own")).status).toBe(201);

    const seen = await events(strangerToken);
    expect(seen.length).toBeGreaterThan(0);
    for (const e of seen) {
      expect(e.actor.account_id).toBe(stranger.id);
      expect(["filter-one", "filter-two"]).not.toContain(e.project);
    }
    expect((await t.request("GET", "/v1/audit-events?project=filter-one", { token: strangerToken })).status).toBe(404);
    expect(await events(strangerToken, `&actor=${owner.id}`)).toEqual([]);

    // Trying to take a slug that is someone else's is the stranger's own event, not the owner's.
    expect((await project(strangerToken, "filter-one")).status).toBe(409);
    const ownerView = await events(ownerToken);
    expect(ownerView.filter((e) => e.actor.account_id === stranger.id)).toEqual([]);

    // A removed member sees the project's events no more (only their own calls).
    expect(
      (await t.request("DELETE", `/v1/projects/filter-one/members/${member.id}`, { token: ownerToken })).status,
    ).toBe(200);
    const memberView = await events(memberToken);
    expect(memberView.every((e) => e.actor.account_id === member.id)).toBe(true);
  });

  it("a token restricted to some projects sees only their events", async () => {
    const user = await t.account();
    const full = await user.token(["*"]);
    expect((await project(full, "seen-proj")).status).toBe(201);
    expect((await project(full, "unseen-proj")).status).toBe(201);
    await t.request("PATCH", "/v1/projects/unseen-proj", { token: full, body: { name: "secret plans" } });
    const restricted = await user.token(["audit:read", "projects:read"], { projects: ["seen-proj"] });
    await t.request("GET", "/v1/projects/seen-proj", { token: restricted });

    const seen = await events(restricted);
    expect(seen.some((e) => e.project === "seen-proj")).toBe(true);
    expect(seen.filter((e) => e.project === "unseen-proj")).toEqual([]);
    expect((await t.request("GET", "/v1/audit-events?project=unseen-proj", { token: restricted })).status).toBe(404);
    // Pinned to a project on MCP, the same holds.
    const pinned = await connectMcp(t.app, full, "project=seen-proj");
    const res = await pinned.callTool({ name: "list_audit_events", arguments: {} });
    expect(res.isError).toBeFalsy();
    const pinnedEvents = (res.structuredContent as { events: Event[] }).events;
    expect(pinnedEvents.length).toBeGreaterThan(0);
    expect(pinnedEvents.every((e) => e.project === "seen-proj")).toBe(true);
    await pinned.close();
    // The unrestricted token sees both.
    expect((await events(full)).some((e) => e.project === "unseen-proj")).toBe(true);
  });

  it("a deleted project's trail does not pass to whoever takes its slug next", async () => {
    const first = await t.account();
    const firstToken = await first.token(["*"]);
    expect((await project(firstToken, "reused-slug")).status).toBe(201);
    await t.request("PATCH", "/v1/projects/reused-slug", { token: firstToken, body: { name: "private name" } });
    expect((await t.request("DELETE", "/v1/projects/reused-slug", { token: firstToken })).status).toBe(200);
    await sleep(5);

    const next = await t.account();
    const nextToken = await next.token(["*"]);
    expect((await project(nextToken, "reused-slug")).status).toBe(201);
    for (const view of [await events(nextToken), await events(nextToken, "&project=reused-slug")]) {
      expect(view.length).toBeGreaterThan(0);
      expect(view.filter((e) => e.actor.account_id === first.id)).toEqual([]);
    }
    // The first owner still sees their own calls.
    expect((await events(firstToken, "&operation=update_project")).length).toBe(1);
  });

  it("a batch of read records lands whole: one statement, any text, nulls and times kept exactly", async () => {
    const at = new Date("2026-01-02T03:04:05.678Z");
    const awkward = ['quote " and \\ backslash', "NULL", "", "{braces},commas", "ünïcode ✓"];
    const ids = awkward.map((_, i) => `batch-${i}-${Date.now()}`);
    for (const [i, text] of awkward.entries()) {
      await t.platform.audit.record(
        {
          request_id: ids[i]!,
          at: i % 2 ? at : at.toISOString(),
          account_id: null,
          token_prefix: i === 0 ? null : text,
          operation: "list_projects",
          surface: "rest",
          project: i === 1 ? null : text,
          outcome: "ok",
          duration_ms: i,
          client_ip: i === 2 ? null : "::1",
          input: i === 3 ? null : JSON.stringify({ text, n: i }),
        },
        false,
      );
    }
    for (const [i, text] of awkward.entries()) {
      const [row] = await rowsFor(ids[i]!);
      expect(row).toMatchObject({
        token_prefix: i === 0 ? null : text,
        project: i === 1 ? null : text,
        duration_ms: i,
        client_ip: i === 2 ? null : "::1",
        input: i === 3 ? null : { text, n: i },
      });
      expect(new Date(row!.at).toISOString()).toBe(at.toISOString());
    }
  });
});
