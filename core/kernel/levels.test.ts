// Account-level vs project-level, proven for every operation in the registry (a new one is covered with no
// change here): every operation × {unrestricted, restricted to project A, restricted to project B}.
// - `account` operations: refused to a restricted credential with 403 restricted_credential, nothing changed;
//   an unrestricted one passes the gate.
// - `project` operations on A: allowed for an A-restricted credential, 404 (like a missing project) for a
//   B-restricted one, nothing changed.
// - `any` operations: a restricted credential's answer names only its own projects.
// Plus the other restricted principals: an MCP `project=` pin and an agent run's principal.
import crypto from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../../testkit/harness.ts";
import { connectMcp } from "../../testkit/mcp-client.ts";
import { callRest, dbSnapshot, sampleInput, toolError } from "../../testkit/operation-inputs.ts";
import { credit } from "../billing/ledger.ts";
import { invoke } from "./invoker.ts";
import { isProjectScoped, levelOf, type Operation, type Principal } from "./operation.ts";

const EVERY_OPERATION_TIMEOUT = 300_000;
const A = "lvl-proj-a";
const B = "lvl-proj-b";
let t: TestPlatform;
let ops: readonly Operation[];
const SCOPES = ["*", "platform:admin"];
let unrestricted: string;
const onRest = (op: Operation) => !op.surfaces || op.surfaces.includes("rest");
/** Fresh hints per call: an unknown account id (never the owner's), an email with no account. */
const hints = (extra: Record<string, unknown> = {}) => ({
  account_id: crypto.randomUUID(),
  email: "someone@example.test",
  ...extra,
});

/** Creates the project, with an audit event in it. */
async function seedProject(slug: string) {
  const res = await t.request("POST", "/v1/projects", {
    token: unrestricted,
    body: { slug, name: slug, kind: "site" },
  });
  expect(res.status).toBe(201);
  expect((await t.request("GET", `/v1/projects/${slug}`, { token: unrestricted })).status).toBe(200);
}

beforeAll(async () => {
  t = await startTestPlatform();
  ops = t.platform.operations.operations;
  // The operator: holds platform:admin too, so operator-only operations are in the matrix with their real level.
  unrestricted = await t.operator.token(SCOPES);
  for (const slug of [A, B]) await seedProject(slug);
  // Spend in each project, so usage and transactions have something to filter.
  await credit(t.platform.db, { accountId: t.operator.id, pool: "ai_credits", amount: 10_000_000, reason: "top_up" });
  for (const project of [A, B]) {
    const hold = await t.platform.meter.hold({
      accountId: t.operator.id,
      model: "claude-sonnet-4-5",
      inputTokens: 100,
      maxOutputTokens: 100,
    });
    await t.platform.meter.settle(hold, { inputTokens: 100, outputTokens: 50 }, { project });
  }
});
afterAll(() => t?.close());

describe("account vs project level, every operation", () => {
  it("every operation has a level, and project-level ones are exactly those with a project input", () => {
    for (const op of ops) {
      if (levelOf(op) === "project") expect(isProjectScoped(op), op.id).toBe(true);
      if (!isProjectScoped(op)) expect(["account", "any"], op.id).toContain(op.level);
    }
    const account = ops.filter((op) => levelOf(op) === "account").map((op) => op.id);
    for (const id of [
      "create_project",
      "create_api_token",
      "setup_totp",
      "confirm_totp",
      "disable_totp",
      "update_spend_limits",
      "get_spend_limits",
      "change_password",
      "list_sessions",
      "revoke_session",
      "logout",
    ]) {
      expect(account).toContain(id);
    }
  });

  it(
    "refuses every account-level operation to a credential restricted to A or to B (403, nothing changed); not to an unrestricted one",
    async () => {
      const restricted = {
        A: await t.operator.token(SCOPES, { projects: [A] }),
        B: await t.operator.token(SCOPES, { projects: [B] }),
      };
      const accountOps = ops.filter((op) => levelOf(op) === "account" && onRest(op));
      expect(accountOps.length).toBeGreaterThan(10);
      const client = await connectMcp(t.app, restricted.A);
      const tools = (await client.listTools()).tools.map((x) => x.name);
      for (const op of accountOps) {
        const before = await dbSnapshot(t.platform.db, ["audit_events"]);
        for (const [label, token] of Object.entries(restricted)) {
          const res = await callRest(t, op, sampleInput(op, hints()), { token });
          expect.soft(res.status, `${op.id} (${label})`).toBe(403);
          expect.soft(res.body?.error?.code, `${op.id} (${label})`).toBe("restricted_credential");
          expect.soft(res.body?.error?.message, `${op.id} (${label})`).toContain(op.id);
        }
        expect.soft(tools, op.id).not.toContain(op.id); // not offered on MCP either
        const mcp = await client.callTool({ name: op.id, arguments: sampleInput(op, hints()) });
        expect.soft(mcp.isError, op.id).toBe(true);
        expect.soft(["restricted_credential", "not_found"], op.id).toContain(toolError(mcp).code);
        expect.soft(await dbSnapshot(t.platform.db, ["audit_events"]), op.id).toEqual(before);

        const open = await callRest(t, op, sampleInput(op, hints()), { token: unrestricted });
        expect.soft(open.body?.error?.code, `${op.id} (unrestricted)`).not.toBe("restricted_credential");
        expect.soft(open.status, `${op.id} (unrestricted)`).toBeLessThan(500);
      }
      await client.close();
    },
    EVERY_OPERATION_TIMEOUT,
  );

  it(
    "runs every project-level operation on A for an A-restricted credential; answers 404 to a B-restricted one, changing nothing",
    async () => {
      const onA = await t.operator.token(SCOPES, { projects: [A] });
      const onB = await t.operator.token(SCOPES, { projects: [B] });
      // Deleting the project goes last: everything before it needs A.
      const projectOps = ops
        .filter((op) => levelOf(op) === "project" && onRest(op))
        .sort((x, y) => Number(x.id === "delete_project") - Number(y.id === "delete_project"));
      expect(projectOps.length).toBeGreaterThan(30);
      for (const op of projectOps) {
        const input = sampleInput(op, hints({ project: A }));
        const before = await dbSnapshot(t.platform.db, ["audit_events"]);
        const refused = await callRest(t, op, input, { token: onB });
        expect.soft(refused.status, `${op.id} (B on A)`).toBe(404);
        expect.soft(refused.body?.error, `${op.id} (B on A)`).toMatchObject({ code: "not_found", resource: "project" });
        expect.soft(await dbSnapshot(t.platform.db, ["audit_events"]), op.id).toEqual(before);

        const allowed = await callRest(t, op, input, { token: onA });
        const err = allowed.body?.error;
        // Past the gate: whatever the operation itself answers (a missing page, an unset model key), never a refusal.
        expect.soft(err?.code, `${op.id} (A on A)`).not.toBe("restricted_credential");
        expect.soft(err?.code, `${op.id} (A on A)`).not.toBe("insufficient_scope");
        expect.soft(err?.code, `${op.id} (A on A)`).not.toBe("internal");
        if (err?.code === "not_found")
          expect.soft(err.resource, `${op.id} (A on A): ${err.message}`).not.toBe("project");
      }
      expect((await t.request("GET", `/v1/projects/${A}`, { token: unrestricted })).status).toBe(404); // delete_project ran
      await seedProject(A); // for the tests after this one
    },
    EVERY_OPERATION_TIMEOUT,
  );

  it(
    "filters every any-level operation's answer to the credential's projects",
    async () => {
      const onA = await t.operator.token(SCOPES, { projects: [A] });
      const onB = await t.operator.token(SCOPES, { projects: [B] });
      const anyOps = ops.filter((op) => levelOf(op) === "any" && onRest(op));
      const answers: Record<string, Record<string, string>> = {};
      // The trail is paged: look at the calls that named the two projects, which the seed made.
      const probe = { list_audit_events: { operation: "get_project" } } as Record<string, Record<string, unknown>>;
      for (const op of anyOps) {
        answers[op.id] = {};
        for (const [label, token, own, other] of [
          ["A", onA, A, B],
          ["B", onB, B, A],
          ["all", unrestricted, "", ""],
        ] as const) {
          const res = await callRest(t, op, sampleInput(op, hints(probe[op.id])), { token });
          expect.soft(res.body?.error?.code, `${op.id} (${label})`).not.toBe("restricted_credential");
          expect.soft(res.status, `${op.id} (${label})`).toBeLessThan(500);
          const text = JSON.stringify(res.body);
          answers[op.id]![label] = text;
          if (other) expect.soft(text, `${op.id} (${label}) names ${other}, outside its reach`).not.toContain(other);
          void own;
        }
      }
      // The lists that hold both projects' data for the account show both unrestricted, and the own one restricted
      // (so the filter is not just "show nothing").
      for (const id of ["list_projects", "list_audit_events", "list_transactions", "get_usage", "list_api_tokens"]) {
        expect.soft(answers[id]!.all, `${id} (all)`).toContain(A);
        expect.soft(answers[id]!.all, `${id} (all)`).toContain(B);
        expect.soft(answers[id]!.A, `${id} (A)`).toContain(A);
        expect.soft(answers[id]!.B, `${id} (B)`).toContain(B);
      }
      // A restricted token sees itself only, and may revoke only itself.
      const listed = JSON.parse(answers.list_api_tokens!.A!).tokens;
      expect(listed).toHaveLength(1);
      expect(listed[0].projects).toEqual([A]);
      const all = (await t.request("GET", "/v1/tokens", { token: unrestricted })).body.tokens as {
        id: string;
        projects: string[] | null;
      }[];
      const someoneElse = all.find((x) => x.id !== listed[0].id)!;
      expect(someoneElse).toBeDefined();
      expect((await t.request("DELETE", `/v1/tokens/${someoneElse.id}`, { token: onA })).status).toBe(404);
      expect((await t.request("GET", "/v1/me", { token: unrestricted })).status).toBe(200);
      expect((await t.request("DELETE", `/v1/tokens/${listed[0].id}`, { token: onA })).status).toBe(200);
      expect((await t.request("GET", "/v1/me", { token: onA })).status).toBe(401);
    },
    EVERY_OPERATION_TIMEOUT,
  );
});

describe("the findings, one by one, for a token restricted to one project", () => {
  it("cannot create a project, see or revoke the account's tokens, change or read spend limits, read other projects' spend, touch two-factor or the password", async () => {
    const ci = await t.operator.token(SCOPES, { projects: [A] });
    const other = await t.operator.token(["projects:read"]);
    const accountBefore = await t.platform.db
      .selectFrom("accounts")
      .selectAll()
      .where("id", "=", t.operator.id)
      .executeTakeFirstOrThrow();
    const otherId = (await t.request("GET", "/v1/tokens", { token: unrestricted })).body.tokens.find(
      (x: { prefix: string }) => other.startsWith(x.prefix),
    ).id;
    const calls: [string, string, unknown?][] = [
      ["POST", "/v1/projects", { slug: "ci-made", name: "x", kind: "site" }],
      ["POST", "/v1/tokens", { name: "wider", preset: "full" }],
      ["DELETE", `/v1/tokens/${otherId}`],
      ["PUT", "/v1/billing/limits/ai_credits", { hard_cap: 0 }],
      ["GET", "/v1/billing/limits"],
      ["POST", "/v1/me/totp/setup", {}],
      ["POST", "/v1/me/password", { current_password: "x", new_password: "a long new password" }],
      ["GET", "/v1/me/sessions"],
    ];
    for (const [method, path, body] of calls) {
      const res = await t.request(method, path, { token: ci, body });
      expect.soft(res.status, `${method} ${path}`).toBe(method === "DELETE" ? 404 : 403);
    }
    expect((await t.request("GET", "/v1/projects", { token: other })).status).toBe(200); // still alive
    // No two-factor secret of its own, no new password: the owner's account is as it was.
    expect(
      await t.platform.db.selectFrom("accounts").selectAll().where("id", "=", t.operator.id).executeTakeFirstOrThrow(),
    ).toEqual(accountBefore);
    const usage = await t.request("GET", "/v1/billing/usage", { token: ci });
    expect(usage.body.by_project.map((r: { key: string }) => r.key)).toEqual([A]);
  });
});

describe("every kind of restricted principal", () => {
  it("an MCP session pinned with project= cannot reach account operations, even with an unrestricted token", async () => {
    const pinned = await connectMcp(t.app, unrestricted, `project=${A}`);
    const names = (await pinned.listTools()).tools.map((x) => x.name);
    expect(names).toContain("get_project");
    expect(names).not.toContain("create_project");
    const res = await pinned.callTool({
      name: "create_project",
      arguments: { slug: "pin-made", name: "x", kind: "site" },
    });
    expect(res.isError).toBe(true);
    expect(toolError(res).code).toBe("restricted_credential");
    await pinned.close();
  });

  it("an agent run's principal (pinned to its project) and a Telegram link's cannot call account operations", async () => {
    // Their checkers (run still running, link still there) are proven in their own tests; here only the level
    // rule, which reads nothing but the principal's projects and pins.
    const checkers = t.platform.credentialCheckers;
    const saved = [checkers.get("agent_run")!, checkers.get("telegram_link")!] as const;
    checkers.set("agent_run", async () => {});
    checkers.set("telegram_link", async () => {});
    try {
      for (const kind of ["agent_run", "telegram_link"] as const) {
        const principal: Principal = {
          account: { id: t.operator.id, email: t.operator.email, isOperator: true },
          billedAccount: t.operator.id,
          credential: { kind, id: crypto.randomUUID() },
          scopes: ["*"],
          projects: [A],
          pins: { project: A },
          surface: kind === "agent_run" ? "agent" : "telegram",
          clientIp: null,
        };
        await expect(
          invoke(t.platform, "create_project", { slug: "agent-made", name: "x", kind: "site" }, principal),
        ).rejects.toMatchObject({ code: "restricted_credential" });
        await expect(invoke(t.platform, "setup_totp", {}, principal)).rejects.toMatchObject({
          code: "restricted_credential",
        });
        await expect(invoke(t.platform, "get_project", { project: A }, principal)).resolves.toMatchObject({ slug: A });
        await expect(invoke(t.platform, "get_project", { project: B }, principal)).rejects.toMatchObject({
          code: "not_found",
        });
        const projects = (await invoke(t.platform, "list_projects", {}, principal)) as { projects: { slug: string }[] };
        expect(projects.projects.map((p) => p.slug)).toEqual([A]);
      }
    } finally {
      checkers.set("agent_run", saved[0]);
      checkers.set("telegram_link", saved[1]);
    }
  });
});
