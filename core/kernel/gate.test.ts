// The one gate, proven for every operation in the registry (a new operation is covered with no change here):
// (a) without its scope a token is refused (403 insufficient_scope on REST, an error on MCP) and nothing changes;
// (b) another tenant's project is "not found", exactly like a project that does not exist;
// (c) an expired or revoked token is refused (401) on every operation.
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestAccount, type TestPlatform } from "../../testkit/harness.ts";
import { connectMcp, everyToolset } from "../../testkit/mcp-client.ts";
import { callRest, dbSnapshot, sampleInput, toolError } from "../../testkit/operation-inputs.ts";
import { isProjectScoped, type Operation } from "./operation.ts";
import { scopeCatalog } from "./scopes.ts";

/** These walk every operation in the registry: their time grows with it (bounded, not a speed check). */
const EVERY_OPERATION_TIMEOUT = 300_000;
let t: TestPlatform;
let ops: readonly Operation[];
let tenant: TestAccount; // owns "other-proj"
let caller: TestAccount; // holds every scope, but is no member of "other-proj"
let callerToken: string;
/** Operator tokens holding every catalog scope except one, keyed by the missing scope. */
const withoutScope = new Map<string, string>();
const onMcp = (op: Operation) => !op.surfaces || op.surfaces.includes("mcp");
const onRest = (op: Operation) => !op.surfaces || op.surfaces.includes("rest");

beforeAll(async () => {
  t = await startTestPlatform();
  ops = t.platform.operations.operations;
  tenant = await t.account();
  const tenantToken = await tenant.token(["*"]);
  expect(
    (
      await t.request("POST", "/v1/projects", {
        token: tenantToken,
        body: { slug: "other-proj", name: "Theirs", kind: "site" },
      })
    ).status,
  ).toBe(201);
  caller = await t.account();
  callerToken = await caller.token(["*"]);

  const operatorAll = await t.operator.token(["*"]);
  expect(
    (
      await t.request("POST", "/v1/projects", {
        token: operatorAll,
        body: { slug: "gate-proj", name: "Gate", kind: "site" },
      })
    ).status,
  ).toBe(201);
  const all = scopeCatalog.map((s) => s.scope);
  for (const op of ops) {
    if (op.public || !op.scope || withoutScope.has(op.scope)) continue;
    withoutScope.set(op.scope, await t.operator.token(all.filter((s) => s !== op.scope)));
  }
});
afterAll(() => t?.close());

/** One MCP client per missing scope, with the tools it lists (many operations share a scope). */
const mcpClients = new Map<string, { client: Client; listed: string[] }>();
async function mcpWithout(scope: string, token: string) {
  let entry = mcpClients.get(scope);
  if (!entry) {
    const client = await connectMcp(t.app, token, everyToolset(t.platform.operations.operations));
    entry = { client, listed: (await client.listTools()).tools.map((x) => x.name) };
    mcpClients.set(scope, entry);
  }
  return entry;
}

/** The error body with the project slug taken out, to compare two refusals. */
const withoutSlug = (error: unknown, slug: string) => JSON.parse(JSON.stringify(error).replaceAll(slug, "<project>"));

describe("the one gate", () => {
  it(
    "refuses an operation to a token holding every scope but its own, on REST and MCP, and changes nothing",
    async () => {
      const gated = ops.filter((op) => !op.public);
      expect(gated.length).toBeGreaterThan(10);
      const requestIds: [string, string][] = [];
      for (const op of gated) {
        const scope = op.scope ?? "";
        const token = withoutScope.get(scope) ?? "";
        const input = sampleInput(op, { project: "gate-proj", account_id: t.operator.id, email: caller.email });
        const before = await dbSnapshot(t.platform.db, ["audit_events"]);

        if (onRest(op)) {
          const rest = await callRest(t, op, input, { token });
          expect.soft(rest.status, op.id).toBe(403);
          expect.soft(rest.body?.error?.code, op.id).toBe("insufficient_scope");
          expect.soft(rest.body?.error?.required_scope, op.id).toBe(op.scope);
          requestIds.push([op.id, rest.headers.get("x-request-id")!]);
        }
        if (onMcp(op)) {
          const { client, listed } = await mcpWithout(scope, token);
          expect.soft(listed, op.id).not.toContain(op.id);
          // Hidden from the list, but a client can still name it: it must fail, never run.
          const res = await client.callTool({ name: op.id, arguments: input });
          expect.soft(res.isError, op.id).toBe(true);
          expect.soft(toolError(res), op.id).toMatchObject({ code: "insufficient_scope", required_scope: op.scope });
        }
        expect.soft(await dbSnapshot(t.platform.db, ["audit_events"]), op.id).toEqual(before);
      }

      for (const { client } of mcpClients.values()) await client.close();

      // Each refusal is in the audit trail, under its operation.
      await t.platform.audit.flush();
      for (const [opId, requestId] of requestIds) {
        const rows = await t.platform.db
          .selectFrom("audit_events")
          .selectAll()
          .where("request_id", "=", requestId)
          .execute();
        expect
          .soft(
            rows.map((r) => [r.operation, r.outcome]),
            opId,
          )
          .toEqual([[opId, "insufficient_scope"]]);
      }
    },
    EVERY_OPERATION_TIMEOUT,
  );

  it(
    "answers another tenant's project exactly like a missing one: 404 not_found on REST and MCP",
    async () => {
      const scoped = ops.filter((op) => isProjectScoped(op) && onRest(op));
      expect(scoped.length).toBeGreaterThan(5);
      const client = await connectMcp(t.app, callerToken, everyToolset(t.platform.operations.operations));
      const hints = { account_id: tenant.id, email: tenant.email };
      for (const op of scoped) {
        const before = await dbSnapshot(t.platform.db, ["audit_events"]);
        const theirs = sampleInput(op, { ...hints, project: "other-proj" });
        const missing = sampleInput(op, { ...hints, project: "none-proj" });

        const a = await callRest(t, op, theirs, { token: callerToken });
        const b = await callRest(t, op, missing, { token: callerToken });
        expect.soft(a.status, op.id).toBe(404);
        expect.soft(a.body?.error?.code, op.id).toBe("not_found");
        expect.soft(b.status, op.id).toBe(404);
        expect.soft(withoutSlug(a.body, "other-proj"), op.id).toEqual(withoutSlug(b.body, "none-proj"));

        if (onMcp(op)) {
          const ma = await client.callTool({ name: op.id, arguments: theirs });
          const mb = await client.callTool({ name: op.id, arguments: missing });
          expect.soft(ma.isError, op.id).toBe(true);
          expect.soft(toolError(ma).code, op.id).toBe("not_found");
          expect.soft(withoutSlug(ma, "other-proj"), op.id).toEqual(withoutSlug(mb, "none-proj"));
        }
        expect.soft(await dbSnapshot(t.platform.db, ["audit_events"]), op.id).toEqual(before);
      }
      // Pinning the other tenant's project on MCP does not reach it either.
      const pinned = await connectMcp(
        t.app,
        callerToken,
        `project=other-proj&${everyToolset(t.platform.operations.operations)}`,
      );
      const got = await pinned.callTool({ name: "get_project", arguments: {} });
      expect(got.isError).toBe(true);
      expect(toolError(got).code).toBe("not_found");
      await pinned.close();
      await client.close();
    },
    EVERY_OPERATION_TIMEOUT,
  );

  it(
    "refuses an expired and a revoked token with 401 on every operation",
    async () => {
      const user = await t.account();
      const expired = await user.token(["*"], { expiresInDays: 1 });
      await t.platform.db
        .updateTable("api_tokens")
        .set({ expires_at: new Date(Date.now() - 1000) })
        .where("account_id", "=", user.id)
        .execute();
      const minter = await user.token(["*"]);
      const created = await t.request("POST", "/v1/tokens", { token: minter, body: { name: "doomed", scopes: ["*"] } });
      expect(created.status).toBe(201);
      const revoked: string = created.body.token;
      expect((await t.request("GET", "/v1/me", { token: revoked })).status).toBe(200); // used once: now cached
      const mcpBefore = await connectMcp(t.app, revoked); // connected while still valid
      expect((await t.request("DELETE", `/v1/tokens/${created.body.id}`, { token: minter })).status).toBe(200);

      for (const op of ops.filter(onRest)) {
        const input = sampleInput(op, { project: "other-proj", account_id: tenant.id, email: tenant.email });
        for (const [label, token, word] of [
          ["expired", expired, "expired"],
          ["revoked", revoked, "revoked"],
        ] as const) {
          const res = await callRest(t, op, input, { token });
          expect.soft(res.status, `${op.id} (${label})`).toBe(401);
          expect.soft(res.body?.error?.code, `${op.id} (${label})`).toBe("unauthorized");
          expect.soft(res.body?.error?.message, `${op.id} (${label})`).toContain(word);
          expect.soft(res.headers.get("www-authenticate"), `${op.id} (${label})`).toMatch(/^Bearer/);
        }
      }

      await expect(connectMcp(t.app, expired)).rejects.toMatchObject({ code: 401 });
      await expect(connectMcp(t.app, revoked)).rejects.toMatchObject({ code: 401 });
      await expect(mcpBefore.callTool({ name: "get_me", arguments: {} })).rejects.toMatchObject({ code: 401 });
      await mcpBefore.close();
    },
    EVERY_OPERATION_TIMEOUT,
  );
});
