// MCP views, asked for with query parameters on /mcp: read_only, project (a pin), toolsets and mode=compact.
// Each narrows what a client sees and can reach; none widens what the token may do.
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hasScope } from "../core/kernel/scopes.ts";
import { startTestPlatform, type TestPlatform } from "../testkit/harness.ts";
import { connectMcp } from "../testkit/mcp-client.ts";
import { offeredByDefault } from "./tools.ts";

let t: TestPlatform;
let token: string; // every scope of a plain account, which owns alpha-site and beta-site
const clients: Client[] = [];

beforeAll(async () => {
  t = await startTestPlatform();
  const owner = await t.account();
  token = await owner.token(["*"]);
  for (const slug of ["alpha-site", "beta-site"]) {
    expect((await t.request("POST", "/v1/projects", { token, body: { slug, name: slug, kind: "site" } })).status).toBe(
      201,
    );
  }
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await t?.close();
});

async function connect(query: string, as = token): Promise<Client> {
  const client = await connectMcp(t.app, as, query);
  clients.push(client);
  return client;
}

const call = async (client: Client, name: string, args: Record<string, unknown> = {}) =>
  (await client.callTool({ name, arguments: args })) as CallToolResult;
const toolError = (r: CallToolResult) => JSON.parse((r.content[0] as { text: string }).text).error;
/** The operations the `*` token may reach over MCP: offered on MCP and within its scopes. */
const mcpOps = () =>
  t.platform.operations.operations.filter(
    (op) => (!op.surfaces || op.surfaces.includes("mcp")) && (op.public || hasScope(["*"], op.scope!)),
  );
/** Those offered with no toolsets named: the opt-in toolsets (account security, setup) left out. */
const defaultOps = () => mcpOps().filter(offeredByDefault);
const slugs = (r: CallToolResult) =>
  (r.structuredContent as { projects: { slug: string }[] }).projects.map((p) => p.slug);

describe("read_only=true", () => {
  it("offers only read tools, and refuses a write tool by name", async () => {
    const client = await connect("read_only=true");
    const { tools } = await client.listTools();
    const reads = defaultOps()
      .filter((op) => op.effect === "read")
      .map((op) => op.id)
      .sort();
    expect(tools.map((x) => x.name).sort()).toEqual(reads);
    for (const tool of tools) expect.soft(tool.annotations?.readOnlyHint, tool.name).toBe(true);

    expect(slugs(await call(client, "list_projects"))).toEqual(["alpha-site", "beta-site"]);
    for (const write of ["create_project", "update_project", "delete_project"]) {
      const res = await call(client, write, { project: "alpha-site", slug: "x-site", name: "X", kind: "site" });
      expect.soft(res.isError, write).toBe(true);
      expect.soft(toolError(res).code, write).toBe("not_found");
    }
    expect((await t.request("GET", "/v1/projects/alpha-site", { token })).body.name).toBe("alpha-site");
    expect((await t.request("GET", "/v1/projects", { token })).body.projects).toHaveLength(2);
  });
});

describe("project=<slug>", () => {
  it("drops the project argument from every tool and acts on the pinned project", async () => {
    const client = await connect("project=alpha-site");
    const { tools } = await client.listTools();
    expect(tools.length).toBeGreaterThan(5);
    for (const tool of tools) {
      expect.soft(Object.keys(tool.inputSchema.properties ?? {}), tool.name).not.toContain("project");
      expect.soft(tool.inputSchema.required ?? [], tool.name).not.toContain("project");
    }
    expect((await call(client, "get_project")).structuredContent).toMatchObject({ slug: "alpha-site" });
    expect((await call(client, "list_project_members")).isError).toBeFalsy();
    expect((await call(client, "update_project", { name: "Alpha renamed" })).structuredContent).toMatchObject({
      slug: "alpha-site",
      name: "Alpha renamed",
    });
    expect(slugs(await call(client, "list_projects"))).toEqual(["alpha-site"]);
    const audit = await call(client, "list_audit_events");
    const events = (audit.structuredContent as { events: { project: string | null }[] }).events;
    expect(events.length).toBeGreaterThan(0);
    expect(new Set(events.map((e) => e.project))).toEqual(new Set(["alpha-site"]));
  });

  it("makes every other project unreachable", async () => {
    const client = await connect("project=alpha-site");
    // Naming another project anyway is refused as if it did not exist, never silently redirected.
    for (const [tool, args] of [
      ["get_project", { project: "beta-site" }],
      ["update_project", { project: "beta-site", name: "hijacked" }],
      ["delete_project", { project: "beta-site" }],
      ["list_audit_events", { project: "beta-site" }],
    ] as const) {
      const res = await call(client, tool, args);
      expect.soft(res.isError, tool).toBe(true);
      expect.soft(toolError(res).code, tool).toBe("not_found");
    }
    // Nor can it reach out and make a new project: a pinned view never reaches the account. Minting a token is
    // not even a tool here (account security is opt-in), and with the toolset named it is still refused.
    const create = await call(client, "create_project", { slug: "gamma-site", name: "G", kind: "site" });
    expect(toolError(create).code).toBe("restricted_credential");
    const mint = { name: "pinned", scopes: ["projects:read"] };
    expect(toolError(await call(client, "create_api_token", mint)).code).toBe("not_found");
    const withSecurity = await connect("project=alpha-site&toolsets=security");
    expect(toolError(await call(withSecurity, "create_api_token", mint)).code).toBe("restricted_credential");

    const rest = await t.request("GET", "/v1/projects", { token });
    expect(rest.body.projects.map((p: { slug: string; name: string }) => [p.slug, p.name])).toEqual([
      ["alpha-site", "Alpha renamed"],
      ["beta-site", "beta-site"],
    ]);
  });

  it("reaches nothing when pinned to a project the caller cannot reach", async () => {
    const stranger = await t.account();
    const client = await connect("project=alpha-site", await stranger.token(["*"]));
    expect(toolError(await call(client, "get_project")).code).toBe("not_found");
    expect(slugs(await call(client, "list_projects"))).toEqual([]);
  });
});

describe("toolsets=<tags>", () => {
  it("offers account security (tokens, sessions, passwords, two-factor) only when the security toolset is named", async () => {
    const security = mcpOps()
      .filter((op) => op.tags.includes("security"))
      .map((op) => op.id)
      .sort();
    expect(security).toEqual(
      expect.arrayContaining(["create_api_token", "setup_totp", "list_sessions", "change_password"]),
    );
    const plain = (await (await connect("")).listTools()).tools.map((x) => x.name);
    for (const id of security) expect.soft(plain, id).not.toContain(id);
    // Not callable by name either: a tool outside the view is not a tool.
    expect(toolError(await call(await connect(""), "list_api_tokens")).code).toBe("not_found");

    const named = await connect("toolsets=security");
    expect((await named.listTools()).tools.map((x) => x.name).sort()).toEqual(security);
    expect((await call(named, "list_api_tokens")).isError).toBeFalsy();
    // Named alongside others, it adds to them.
    const both = (await (await connect("toolsets=projects,security")).listTools()).tools.map((x) => x.name);
    expect(both).toEqual(expect.arrayContaining(["list_projects", "create_api_token"]));
  });

  it("offers only operations with those tags", async () => {
    const client = await connect("toolsets=projects,identity");
    const names = (await client.listTools()).tools.map((x) => x.name).sort();
    const expected = mcpOps()
      .filter((op) => op.tags.some((tag) => tag === "projects" || tag === "identity"))
      .map((op) => op.id)
      .sort();
    expect(names).toEqual(expected.filter((id) => !t.platform.operations.get(id).tags.includes("security")));
    expect(names).toEqual(expect.arrayContaining(["list_projects", "create_project", "get_me"]));
    expect(names).not.toContain("list_audit_events");
    expect(names).not.toContain("create_api_token"); // security: only when named
    expect(toolError(await call(client, "list_audit_events")).code).toBe("not_found");
    expect((await call(client, "get_me")).isError).toBeFalsy();
  });

  it("combines with read_only and project", async () => {
    const client = await connect("toolsets=projects&read_only=1&project=beta-site");
    const { tools } = await client.listTools();
    const expected = mcpOps().filter((op) => op.tags.includes("projects") && op.effect === "read");
    expect(tools.map((x) => x.name).sort()).toEqual(expected.map((op) => op.id).sort());
    expect((await call(client, "get_project")).structuredContent).toMatchObject({ slug: "beta-site" });
  });

  it("refuses a view it does not understand instead of guessing (400 validation_error)", async () => {
    for (const query of ["toolsets=projcts", "mode=tiny", "read_only=yes-please", "project=Not%20A%20Slug"]) {
      const res = await t.app.request(`/mcp?${query}`, {
        method: "POST",
        headers: {
          Authorization: `Bearer ${token}`,
          "Content-Type": "application/json",
          Accept: "application/json, text/event-stream",
        },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list", params: {} }),
      });
      expect.soft(res.status, query).toBe(400);
      expect.soft((await res.json()).error.code, query).toBe("validation_error");
    }
    await expect(connectMcp(t.app, token, "toolsets=nope")).rejects.toMatchObject({ code: 400 });
  });
});

describe("mode=compact", () => {
  it("offers exactly search_operations and call_operation", async () => {
    const client = await connect("mode=compact");
    const { tools } = await client.listTools();
    expect(tools.map((x) => x.name)).toEqual(["search_operations", "call_operation"]);
    const [search, callOp] = tools;
    expect(search!.inputSchema.required).toEqual(["query"]);
    expect(search!.annotations).toMatchObject({ readOnlyHint: true });
    expect(callOp!.inputSchema.required).toEqual(["id"]);
    expect(Object.keys(callOp!.inputSchema.properties ?? {}).sort()).toEqual(["id", "input"]);
    expect(callOp!.annotations).toMatchObject({ readOnlyHint: false, destructiveHint: true });
  });

  it("finds operations with their ids, summaries and input schemas, and calls them through the invoker", async () => {
    const client = await connect("mode=compact");
    await client.listTools();
    const found = await call(client, "search_operations", { query: "create project" });
    const operations = (
      found.structuredContent as { operations: { id: string; summary: string; input_schema: { properties: object } }[] }
    ).operations;
    expect(operations[0]).toMatchObject({ id: "create_project", summary: "Create a project" });
    expect(Object.keys(operations[0]!.input_schema.properties)).toEqual(
      expect.arrayContaining(["slug", "name", "kind"]),
    );

    const created = await call(client, "call_operation", {
      id: "create_project",
      input: { slug: "delta-site", name: "D", kind: "site" },
    });
    expect(created.isError).toBeFalsy();
    expect(created.structuredContent).toMatchObject({ slug: "delta-site", role: "owner" });
    const got = await call(client, "call_operation", { id: "get_project", input: { project: "delta-site" } });
    expect(got.structuredContent).toMatchObject({ slug: "delta-site" });

    // Errors: the same as REST for the same input; an unknown id is not_found.
    const bad = await call(client, "call_operation", {
      id: "create_project",
      input: { slug: "Bad!", name: "", kind: "site" },
    });
    const rest = await t.request("POST", "/v1/projects", { token, body: { slug: "Bad!", name: "", kind: "site" } });
    expect(bad.isError).toBe(true);
    expect(toolError(bad)).toEqual(rest.body.error);
    const unknown = await call(client, "call_operation", { id: "no_such_operation", input: {} });
    expect(unknown.isError).toBe(true);
    expect(toolError(unknown).code).toBe("not_found");
    expect(toolError(await call(client, "call_operation", { input: {} })).code).toBe("validation_error");
    expect(toolError(await call(client, "list_projects")).code).toBe("not_found"); // not a tool in compact mode
  });

  it("still checks scopes: a missing scope is neither found nor callable", async () => {
    const reader = await t.account();
    const client = await connect("mode=compact", await reader.token(["projects:read"]));
    await client.listTools();
    const found = await call(client, "search_operations", { query: "project" });
    const ids = (found.structuredContent as { operations: { id: string }[] }).operations.map((o) => o.id);
    expect(ids).toContain("list_projects");
    expect(ids).not.toContain("create_project");
    const res = await call(client, "call_operation", {
      id: "create_project",
      input: { slug: "eps-site", name: "E", kind: "site" },
    });
    expect(res.isError).toBe(true);
    expect(toolError(res).code).toBe("insufficient_scope");
    expect((await t.request("GET", "/v1/projects/eps-site", { token })).status).toBe(404);
  });

  it("keeps the other views: read_only narrows call_operation, project drops the argument", async () => {
    const client = await connect("mode=compact&read_only=true&project=alpha-site");
    const { tools } = await client.listTools();
    expect(tools.find((x) => x.name === "call_operation")!.annotations).toMatchObject({
      readOnlyHint: true,
      destructiveHint: false,
    });
    const found = await call(client, "search_operations", { query: "project" });
    const operations = (
      found.structuredContent as { operations: { id: string; input_schema: { properties: object } }[] }
    ).operations;
    expect(operations.length).toBeGreaterThan(0);
    for (const op of operations) expect.soft(Object.keys(op.input_schema.properties), op.id).not.toContain("project");
    expect(operations.map((o) => o.id)).not.toContain("delete_project");
    expect((await call(client, "call_operation", { id: "get_project", input: {} })).structuredContent).toMatchObject({
      slug: "alpha-site",
    });
    expect(toolError(await call(client, "call_operation", { id: "delete_project", input: {} })).code).toBe("not_found");
    expect((await t.request("GET", "/v1/projects/alpha-site", { token })).status).toBe(200);
  });
});
