// MCP tools, driven by the SDK's own Client over Streamable HTTP: one tool per operation with its schemas and
// effect-derived annotations, filtered by scope; results with structuredContent; errors as isError results
// with the same code and message as REST; ping, logging/setLevel, and progress notifications.
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { CallToolResult, Progress } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { defineOperation } from "../core/kernel/operation.ts";
import { hasScope } from "../core/kernel/scopes.ts";
import { startTestPlatform, type TestPlatform } from "../testkit/harness.ts";
import { connectMcp } from "../testkit/mcp-client.ts";
import { IDEMPOTENCY_META } from "./server.ts";
import { offeredByDefault, onMcp } from "./tools.ts";

// No built-in operation reports progress yet: this one does, twice, to prove the plumbing.
const progressProbe = defineOperation({
  id: "progress_probe",
  summary: "Report progress twice (test only)",
  tags: ["testing"],
  scope: "projects:read",
  effect: "read",
  level: "any",
  http: { method: "get", path: "/testing/progress-probe" },
  input: z.object({}),
  output: z.object({ done: z.literal(true) }),
  handler: async (ctx) => {
    ctx.progress({ progress: 1, total: 2, message: "half way" });
    ctx.progress({ progress: 2, total: 2, message: "done" });
    return { done: true as const };
  },
});

// Waits until its call is abandoned, and says so: proves a client hanging up reaches the handler's ctx.signal.
let abandoned: () => void = () => {};
let started: () => void = () => {};
const waitProbe = defineOperation({
  id: "wait_probe",
  summary: "Wait until cancelled (test only)",
  tags: ["testing"],
  scope: "projects:read",
  effect: "read",
  level: "any",
  http: { method: "get", path: "/testing/wait-probe" },
  input: z.object({}),
  output: z.object({ done: z.literal(true) }),
  handler: async (ctx) => {
    started();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 10_000);
      ctx.signal.addEventListener("abort", () => (clearTimeout(timer), abandoned(), resolve()), { once: true });
    });
    return { done: true as const };
  },
});

let t: TestPlatform;
let full: string; // every scope the operator can hold
const clients: Client[] = [];

beforeAll(async () => {
  t = await startTestPlatform({ operations: [progressProbe, waitProbe] });
  full = await t.operator.token(["*", "platform:admin"]);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await t?.close();
});

async function connect(token: string, query = ""): Promise<Client> {
  const client = await connectMcp(t.app, token, query);
  clients.push(client);
  return client;
}

const call = async (client: Client, name: string, args: Record<string, unknown> = {}) =>
  (await client.callTool({ name, arguments: args })) as CallToolResult;
const toolError = (r: CallToolResult) => JSON.parse((r.content[0] as { text: string }).text).error;

describe("tools", () => {
  it("offers one tool per operation by default: its id, a short description, a lean input schema, no output schema", async () => {
    const client = await connect(full);
    const { tools } = await client.listTools();
    const offered = t.platform.operations.operations.filter((op) => onMcp(op) && offeredByDefault(op));
    expect(tools.map((x) => x.name).sort()).toEqual(offered.map((op) => op.id).sort());
    expect(tools.map((x) => x.name)).not.toContain("login"); // REST/CLI only

    // The spec's defaults for hints left out: not read-only, destructive, not idempotent, open world.
    const hint = (tool: (typeof tools)[number], key: "readOnlyHint" | "destructiveHint" | "openWorldHint") =>
      tool.annotations?.[key] ?? { readOnlyHint: false, destructiveHint: true, openWorldHint: true }[key];
    for (const op of offered) {
      const tool = tools.find((x) => x.name === op.id)!;
      expect.soft(tool.description, op.id).toContain(op.summary);
      if (op.description) expect.soft(tool.description, op.id).toContain(op.description);
      expect.soft(tool.description, op.id).not.toMatch(/Needs scope/); // the list is already filtered by scope
      expect.soft(tool.inputSchema.type, op.id).toBe("object");
      expect
        .soft(Object.keys(tool.inputSchema.properties ?? {}).sort(), op.id)
        .toEqual(Object.keys(op.input.shape).sort());
      expect.soft(JSON.stringify(tool.inputSchema), op.id).not.toMatch(/"(pattern|maxLength|example)"/);
      expect.soft(tool.outputSchema, op.id).toBeUndefined();
      expect.soft(hint(tool, "readOnlyHint"), op.id).toBe(op.effect === "read");
      if (op.effect !== "read") expect.soft(hint(tool, "destructiveHint"), op.id).toBe(op.effect === "destructive");
      expect.soft(hint(tool, "openWorldHint"), op.id).toBe(!!op.openWorld);
    }
    const create = tools.find((x) => x.name === "create_project")!;
    expect(create.inputSchema.required).toEqual(expect.arrayContaining(["slug", "name", "kind"]));
    expect(create.inputSchema.properties?.kind).toMatchObject({ enum: expect.arrayContaining(["site"]) });
    expect(tools.find((x) => x.name === "delete_project")!.annotations?.readOnlyHint).toBeFalsy();
    expect(hint(tools.find((x) => x.name === "delete_project")!, "destructiveHint")).toBe(true);
  });

  it("with output_schema=true, carries output schemas, every input bound, titles and all four hints", async () => {
    const client = await connect(full, "output_schema=true");
    const { tools } = await client.listTools();
    const offered = t.platform.operations.operations.filter((op) => onMcp(op) && offeredByDefault(op));
    expect(tools).toHaveLength(offered.length);
    for (const op of offered) {
      const tool = tools.find((x) => x.name === op.id)!;
      expect.soft(tool.title, op.id).toBe(op.summary);
      expect.soft(tool.outputSchema?.type, op.id).toBe("object");
      expect.soft(tool.annotations, op.id).toMatchObject({
        readOnlyHint: op.effect === "read",
        destructiveHint: op.effect === "destructive",
        openWorldHint: !!op.openWorld,
      });
      expect.soft(typeof tool.annotations?.idempotentHint, op.id).toBe("boolean");
      if (op.effect === "read") expect.soft(tool.annotations?.idempotentHint, op.id).toBe(true);
    }
    expect(tools.find((x) => x.name === "create_project")!.inputSchema.properties?.slug).toMatchObject({
      pattern: expect.any(String),
      maxLength: expect.any(Number),
    });
    await expect(connectMcp(t.app, full, "output_schema=maybe")).rejects.toMatchObject({ code: 400 });
  });

  it("shows a caller only the tools its scopes allow", async () => {
    const user = await t.account();
    const scopes = ["projects:read", "members:read"];
    const client = await connect(await user.token(scopes));
    const names = (await client.listTools()).tools.map((x) => x.name).sort();
    const allowed = t.platform.operations.operations
      .filter((op) => onMcp(op) && offeredByDefault(op) && (op.public || hasScope(scopes, op.scope!)))
      .map((op) => op.id)
      .sort();
    expect(names).toEqual(allowed);
    expect(names).toEqual(
      expect.arrayContaining(["list_projects", "get_project", "list_project_members", "list_scopes"]),
    );
    for (const hidden of [
      "create_project",
      "delete_project",
      "create_api_token",
      "list_accounts",
      "list_audit_events",
    ]) {
      expect(names).not.toContain(hidden);
    }
  });

  it("returns structuredContent that matches the output schema and the REST answer", async () => {
    const user = await t.account();
    const token = await user.token(["*"]);
    // The client validates structuredContent against the output schemas it has seen: ask for them.
    const client = await connect(token, "output_schema=true&toolsets=projects,identity,audit,security");
    expect((await client.listTools()).tools.every((x) => x.outputSchema)).toBe(true);
    const created = await call(client, "create_project", { slug: "tools-site", name: "Tools", kind: "site" });
    expect(created.isError).toBeFalsy();
    expect(created.structuredContent).toMatchObject({ slug: "tools-site", name: "Tools", kind: "site", role: "owner" });
    expect(JSON.parse((created.content[0] as { text: string }).text)).toEqual(created.structuredContent);

    const reads: [string, Record<string, unknown>, string][] = [
      ["get_project", { project: "tools-site" }, "/v1/projects/tools-site"],
      ["list_projects", {}, "/v1/projects"],
      ["list_project_members", { project: "tools-site" }, "/v1/projects/tools-site/members"],
      ["get_me", {}, "/v1/me"],
      ["list_api_tokens", {}, "/v1/tokens"],
      ["list_scopes", {}, "/v1/scopes"],
    ];
    for (const [name, args, path] of reads) {
      const res = await call(client, name, args);
      expect.soft(res.isError, name).toBeFalsy();
      const rest = await t.request("GET", path, { token });
      expect.soft(rest.status, name).toBe(200);
      expect.soft(res.structuredContent, name).toEqual(rest.body);
    }
    const audit = await call(client, "list_audit_events", { project: "tools-site" });
    expect(audit.isError).toBeFalsy();
    expect((audit.structuredContent as { events: { operation: string; surface: string }[] }).events).toContainEqual(
      expect.objectContaining({ operation: "create_project", surface: "mcp" }),
    );
  });

  it("answers errors as isError results with the same code and message as REST", async () => {
    const owner = await t.account();
    const ownerToken = await owner.token(["*"]);
    const reader = await owner.token(["projects:read"]);
    expect(
      (
        await t.request("POST", "/v1/projects", {
          token: ownerToken,
          body: { slug: "err-site", name: "E", kind: "site" },
        })
      ).status,
    ).toBe(201);
    const ownerMcp = await connect(ownerToken);
    const readerMcp = await connect(reader);

    const cases: {
      what: string;
      client: Client;
      tool: string;
      args: Record<string, unknown>;
      rest: [string, string, unknown?];
      token: string;
      code: string;
    }[] = [
      {
        what: "invalid input",
        client: ownerMcp,
        tool: "create_project",
        args: { slug: "Bad Slug!", name: "", kind: "house" },
        rest: ["POST", "/v1/projects"],
        token: ownerToken,
        code: "validation_error",
      },
      {
        what: "unknown field",
        client: ownerMcp,
        tool: "create_project",
        args: { slug: "ok-slug", name: "n", kind: "site", colour: "red" },
        rest: ["POST", "/v1/projects"],
        token: ownerToken,
        code: "validation_error",
      },
      {
        what: "conflict",
        client: ownerMcp,
        tool: "create_project",
        args: { slug: "err-site", name: "E", kind: "site" },
        rest: ["POST", "/v1/projects"],
        token: ownerToken,
        code: "conflict",
      },
      {
        what: "missing project",
        client: ownerMcp,
        tool: "get_project",
        args: { project: "no-such-site" },
        rest: ["GET", "/v1/projects/no-such-site"],
        token: ownerToken,
        code: "not_found",
      },
      {
        what: "bad path value",
        client: ownerMcp,
        tool: "get_project",
        args: { project: "X" },
        rest: ["GET", "/v1/projects/X"],
        token: ownerToken,
        code: "validation_error",
      },
      {
        what: "missing scope",
        client: readerMcp,
        tool: "create_project",
        args: { slug: "new-site", name: "N", kind: "site" },
        rest: ["POST", "/v1/projects"],
        token: reader,
        code: "insufficient_scope",
      },
      {
        what: "missing scope (destructive)",
        client: readerMcp,
        tool: "delete_project",
        args: { project: "err-site" },
        rest: ["DELETE", "/v1/projects/err-site"],
        token: reader,
        code: "insufficient_scope",
      },
    ];
    for (const c of cases) {
      const res = await call(c.client, c.tool, c.args);
      expect.soft(res.isError, c.what).toBe(true);
      expect.soft(res.structuredContent, c.what).toBeUndefined();
      const [method, path] = c.rest;
      const rest = await t.request(method, path, { token: c.token, body: method === "POST" ? c.args : undefined });
      expect.soft(rest.body?.error?.code, c.what).toBe(c.code);
      expect.soft(toolError(res), c.what).toEqual(rest.body.error);
    }
    // Nothing was created or deleted by the refused calls.
    const list = await t.request("GET", "/v1/projects", { token: ownerToken });
    expect(list.body.projects.map((p: { slug: string }) => p.slug)).toEqual(["err-site"]);
  });

  it("a retried write with the same idempotency key in _meta happens once and answers the same", async () => {
    const user = await t.account();
    const client = await connect(await user.token(["projects:read", "projects:write"]));
    const call = () =>
      client.callTool({
        name: "create_project",
        arguments: { slug: "once-only", name: "Once", kind: "site" },
        _meta: { [IDEMPOTENCY_META]: "retry-1" },
      }) as Promise<CallToolResult>;
    const first = await call();
    const second = await call();
    expect(first.isError).toBeFalsy();
    expect(second).toEqual(first);
    const fresh = (await client.callTool({
      name: "create_project",
      arguments: { slug: "once-only", name: "Once", kind: "site" },
    })) as CallToolResult;
    expect(fresh.isError).toBe(true); // without the key it is a new attempt
    expect(toolError(fresh).code).toBe("conflict");
  });

  it("answers an unknown tool with isError not_found", async () => {
    const client = await connect(full);
    const res = await call(client, "no_such_tool");
    expect(res.isError).toBe(true);
    expect(toolError(res)).toMatchObject({ code: "not_found" });
    // login exists, but is not a tool
    expect(toolError(await call(client, "login", { email: "a@b.test", password: "x" }))).toMatchObject({
      code: "not_found",
    });
  });
});

describe("protocol", () => {
  it("answers ping and logging/setLevel", async () => {
    const client = await connect(full);
    expect(client.getServerCapabilities()).toMatchObject({ tools: {}, logging: {} });
    expect(client.getServerVersion()).toMatchObject({ name: "bosun" });
    await expect(client.ping()).resolves.toEqual({});
    await expect(client.setLoggingLevel("debug")).resolves.toEqual({});
    await expect(client.setLoggingLevel("error")).resolves.toEqual({});
  });

  it("sends progress notifications of a long operation to the caller, in order, before the result", async () => {
    const client = await connect(full);
    await client.listTools();
    const events: Progress[] = [];
    const res = (await client.callTool({ name: "progress_probe", arguments: {} }, undefined, {
      onprogress: (p) => events.push(p),
      timeout: 10_000,
    })) as CallToolResult;
    expect(res.isError).toBeFalsy();
    expect(res.structuredContent).toEqual({ done: true });
    expect(events).toEqual([
      { progress: 1, total: 2, message: "half way" },
      { progress: 2, total: 2, message: "done" },
    ]);

    // The same through compact mode's call_operation: it takes the same path.
    const compact = await connect(full, "mode=compact");
    const compactEvents: Progress[] = [];
    const viaCompact = (await compact.callTool(
      { name: "call_operation", arguments: { id: "progress_probe", input: {} } },
      undefined,
      {
        onprogress: (p) => compactEvents.push(p),
        timeout: 10_000,
      },
    )) as CallToolResult;
    expect(viaCompact.structuredContent).toEqual({ done: true });
    expect(compactEvents.map((e) => e.progress)).toEqual([1, 2]);
  });

  it("aborts a running handler when its client goes away", async () => {
    const client = await connectMcp(t.app, full);
    const aborted = new Promise<void>((resolve) => (abandoned = resolve));
    const waiting = new Promise<void>((resolve) => (started = resolve));
    const running = client.callTool({ name: "wait_probe", arguments: {} }).catch((err: Error) => err);
    await waiting; // the handler is waiting now (a fixed sleep would race a loaded machine)
    await client.close(); // ends the HTTP request
    const outcome = await Promise.race([
      aborted.then(() => "aborted"),
      new Promise((r) => setTimeout(() => r("still running"), 5_000)),
    ]);
    expect(outcome).toBe("aborted");
    expect(await running).toBeInstanceOf(Error);
  });

  it("aborts a call the client cancels (notifications/cancelled in a POST of its own), and only for the same credential", async () => {
    const client = await connect(full);
    const aborted = new Promise<void>((resolve) => (abandoned = resolve));
    const waiting = new Promise<void>((resolve) => (started = resolve));
    const controller = new AbortController();
    const running = client
      .callTool({ name: "wait_probe", arguments: {} }, undefined, { signal: controller.signal })
      .catch((err: Error) => err);
    await waiting;
    const settled = (ms: number) =>
      Promise.race([aborted.then(() => "aborted"), new Promise((r) => setTimeout(() => r("still running"), ms))]);

    // Another credential naming every id a client could have used: nothing of this caller's is touched.
    const stranger = await (await t.account()).token(["projects:read"]);
    const cancels = [0, 1, 2, 3, 4, 5].map((id) => ({
      jsonrpc: "2.0",
      method: "notifications/cancelled",
      params: { requestId: id, reason: "not yours" },
    }));
    const res = await t.app.request("/mcp", {
      method: "POST",
      headers: {
        Authorization: `Bearer ${stranger}`,
        "Content-Type": "application/json",
        Accept: "application/json, text/event-stream",
        "Mcp-Protocol-Version": "2025-06-18",
      },
      body: JSON.stringify(cancels),
    });
    expect(res.status).toBe(202);
    expect(await settled(300)).toBe("still running");

    // The SDK client's own abort sends notifications/cancelled: the handler's ctx.signal aborts.
    controller.abort("changed my mind");
    expect(await settled(5_000)).toBe("aborted");
    expect(await running).toBeInstanceOf(Error);
  });
});
