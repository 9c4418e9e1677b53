// `bosun mcp` as an MCP client launches it: a child process on stdio, driven by the SDK's StdioClientTransport.
// First on its own database (a token minted with `bosun token create`), then as a relay to a running server's
// /mcp (BOSUN_URL), with the view flags passed along. Every child is closed by its client, killed in afterAll
// if it is still there, and every wait is bounded.
import { execFile } from "node:child_process";
import fs from "node:fs";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { type ServerType, serve } from "@hono/node-server";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import {
  type CallToolResult,
  type JSONRPCMessage,
  type Progress,
  ToolListChangedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { defineOperation } from "../core/kernel/operation.ts";
import { isPostgresUrl } from "../schema/open-database.ts";
import { freshPostgresDatabase, startTestPlatform, type TestPlatform } from "../testkit/harness.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const BIN = path.join(ROOT, "bin", "bosun.js");
const WAIT = { timeout: 20_000 }; // every MCP request: a hung child fails the test instead of stalling it

// No built-in operation reports progress yet; this one does, to prove progress crosses the relay.
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
    ctx.progress({ progress: 1, total: 2 });
    ctx.progress({ progress: 2, total: 2 });
    return { done: true as const };
  },
});

let dataDir: string; // the child's own data dir (PGlite), or where its master key lives on Postgres
let localEnv: Record<string, string>;
let localToken: string;
let pgdb: Awaited<ReturnType<typeof freshPostgresDatabase>> | null = null;
let t: TestPlatform; // the server the relay talks to
let http: ServerType;
let serverUrl: string;
const children: { client: Client; transport: StdioClientTransport; pid: number | null }[] = [];

function baseEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: process.env.HOME ?? os.tmpdir(),
    BOSUN_LOG_LEVEL: "warn",
  };
  if (process.env.TMPDIR) env.TMPDIR = process.env.TMPDIR; // where tsx keeps its compile cache
  return { ...env, ...extra };
}

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function spawnMcp(args: string[], env: Record<string, string>) {
  let stderr = "";
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [BIN, "mcp", ...args],
    cwd: ROOT,
    env,
    stderr: "pipe",
  });
  transport.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const client = new Client({ name: "bosun-stdio-test", version: "0.0.0" });
  const child = { client, transport, pid: null as number | null };
  children.push(child);
  try {
    await client.connect(transport, WAIT);
  } catch (err) {
    throw new Error(`bosun mcp ${args.join(" ")} did not start: ${(err as Error).message}\nstderr: ${stderr}`);
  } finally {
    child.pid = transport.pid;
  }
  return { client, transport, pid: child.pid!, stderr: () => stderr };
}

const call = async (client: Client, name: string, args: Record<string, unknown> = {}) =>
  (await client.callTool({ name, arguments: args }, undefined, WAIT)) as CallToolResult;
const toolError = (r: CallToolResult) => JSON.parse((r.content[0] as { text: string }).text).error;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "bosun-stdio-"));
  if (isPostgresUrl(process.env.DATABASE_URL)) pgdb = await freshPostgresDatabase(process.env.DATABASE_URL);
  localEnv = baseEnv({ BOSUN_DATA_DIR: dataDir, ...(pgdb ? { DATABASE_URL: pgdb.url } : {}) });
  const [minted, platform] = await Promise.all([
    promisify(execFile)(process.execPath, [BIN, "token", "create", "--name", "t", "--preset", "full"], {
      cwd: ROOT,
      env: localEnv,
      timeout: 60_000,
    }),
    startTestPlatform({ operations: [progressProbe] }),
  ]);
  t = platform;
  localToken = minted.stdout.trim();
  expect(localToken).toMatch(/^bsn_\S+$/); // only the token on stdout

  http = await new Promise<ServerType>((resolve) => {
    const server = serve({ fetch: t.app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(server));
  });
  serverUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await Promise.all(children.map((c) => c.client.close().catch(() => {})));
  for (const { pid } of children) if (pid && isAlive(pid)) process.kill(pid, "SIGKILL");
  await new Promise<void>((resolve) => (http ? http.close(() => resolve()) : resolve()));
  await t?.close();
  await pgdb?.drop();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

describe("bosun mcp on its own database", () => {
  it("lists tools, creates and lists projects, and exits cleanly when the client closes", async () => {
    const { client, pid, stderr } = await spawnMcp([], baseEnv({ ...localEnv, BOSUN_TOKEN: localToken }));
    const names = (await client.listTools(undefined, WAIT)).tools.map((x) => x.name);
    expect(names).toEqual(expect.arrayContaining(["create_project", "list_projects", "get_me"]));
    expect(names).not.toContain("login");
    expect(names).not.toContain("create_api_token"); // account security: only with --toolsets security

    const created = await call(client, "create_project", { slug: "stdio-site", name: "Stdio", kind: "site" });
    expect(created.isError, JSON.stringify(created)).toBeFalsy();
    expect(created.structuredContent).toMatchObject({ slug: "stdio-site", role: "owner" });
    const listed = await call(client, "list_projects");
    expect((listed.structuredContent as { projects: { slug: string }[] }).projects.map((p) => p.slug)).toEqual([
      "stdio-site",
    ]);
    const dup = await call(client, "create_project", { slug: "stdio-site", name: "Stdio", kind: "site" });
    expect(dup.isError).toBe(true);
    expect(toolError(dup).code).toBe("conflict");
    await expect(client.ping(WAIT)).resolves.toEqual({});

    // Closing stdin ends the process by itself (no SIGTERM needed), with the database closed and its lock released.
    const started = Date.now();
    await client.close();
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(isAlive(pid)).toBe(false);
    if (!pgdb) expect(fs.existsSync(path.join(dataDir, "db.lock"))).toBe(false);
    expect(stderr()).toBe("");
  });

  it("takes view flags, and stops working once its token is revoked", async () => {
    const { client } = await spawnMcp(
      ["--project", "stdio-site", "--mode", "compact", "--toolsets", "projects,identity,security"],
      baseEnv({ ...localEnv, BOSUN_TOKEN: localToken }),
    );
    const { tools } = await client.listTools(undefined, WAIT);
    expect(tools.map((x) => x.name)).toEqual(["search_operations", "call_operation"]);
    const got = await call(client, "call_operation", { id: "get_project", input: {} });
    expect(got.structuredContent).toMatchObject({ slug: "stdio-site" });

    const me = await call(client, "call_operation", { id: "get_me", input: {} });
    const prefix = (me.structuredContent as { credential: { prefix: string } }).credential.prefix;
    const tokens = await call(client, "call_operation", { id: "list_api_tokens", input: {} });
    const id = (tokens.structuredContent as { tokens: { id: string; prefix: string }[] }).tokens.find(
      (x) => x.prefix === prefix,
    )!.id;
    const listChanged = new Promise<void>((resolve) =>
      client.setNotificationHandler(ToolListChangedNotificationSchema, () => resolve()),
    );
    const revoked = await call(client, "call_operation", { id: "revoke_api_token", input: { id } });
    expect(revoked.isError).toBeFalsy();
    // A stateful session hears of it: the tool list is now empty, and the client was told so.
    await Promise.race([
      listChanged,
      new Promise((_, reject) => setTimeout(() => reject(new Error("no list_changed")), 10_000)),
    ]);
    expect((await client.listTools(undefined, WAIT)).tools).toEqual([]);
    // The process resolved its principal at start; the invoker re-checks the credential on every call.
    const after = await call(client, "call_operation", { id: "get_project", input: {} });
    expect(after.isError).toBe(true);
    expect(toolError(after)).toMatchObject({ code: "unauthorized", message: "this token has been revoked" });
    await client.close();
  });
});

describe("bosun mcp relaying to BOSUN_URL", () => {
  let relayToken: string;
  beforeAll(async () => {
    relayToken = await (await t.account()).token(["*"]);
    expect(
      (
        await t.request("POST", "/v1/projects", {
          token: relayToken,
          body: { slug: "relay-site", name: "Relay", kind: "site" },
        })
      ).status,
    ).toBe(201);
  });
  const relayEnv = (token: string) =>
    baseEnv({ BOSUN_URL: serverUrl, BOSUN_TOKEN: token, BOSUN_DATA_DIR: path.join(dataDir, "unused") });

  it("relays tools/call and passes the view flags along (--read-only)", async () => {
    const { client, transport } = await spawnMcp(["--read-only"], relayEnv(relayToken));
    const { tools } = await client.listTools(undefined, WAIT);
    expect(tools.length).toBeGreaterThan(3);
    for (const tool of tools) expect.soft(tool.annotations?.readOnlyHint, tool.name).toBe(true);
    expect(tools.map((x) => x.name)).not.toContain("create_project");

    const listed = await call(client, "list_projects");
    expect((listed.structuredContent as { projects: { slug: string }[] }).projects.map((p) => p.slug)).toEqual([
      "relay-site",
    ]);
    const refused = await call(client, "create_project", { slug: "nope-site", name: "N", kind: "site" });
    expect(refused.isError).toBe(true);
    expect(toolError(refused).code).toBe("not_found");

    // Progress notifications come back through the relay, in order, before the result. They are checked on the
    // wire: the SDK client (1.32) dispatches a response at once but a notification a microtask later, so progress
    // that arrives in the same read from the pipe as the result never reaches onprogress
    // (modelcontextprotocol/typescript-sdk#2580) — a client-side race no server can prevent.
    const wire: JSONRPCMessage[] = [];
    const dispatch = transport.onmessage!;
    transport.onmessage = (msg: JSONRPCMessage) => {
      wire.push(msg);
      dispatch(msg);
    };
    const events: Progress[] = []; // filled, or not, by the race above: not asserted
    const probed = (await client.callTool({ name: "progress_probe", arguments: {} }, undefined, {
      ...WAIT,
      onprogress: (p) => events.push(p),
    })) as CallToolResult;
    expect(probed.structuredContent).toEqual({ done: true });
    const progressToken = (wire[0] as { params?: { progressToken?: unknown } }).params?.progressToken;
    expect(progressToken).toBeDefined();
    expect(wire).toEqual([
      { jsonrpc: "2.0", method: "notifications/progress", params: { progressToken, progress: 1, total: 2 } },
      { jsonrpc: "2.0", method: "notifications/progress", params: { progressToken, progress: 2, total: 2 } },
      expect.objectContaining({
        id: progressToken,
        result: expect.objectContaining({ structuredContent: { done: true } }),
      }),
    ]);
    await client.close();
  });

  it("relays writes without flags, to the server's database", async () => {
    const { client } = await spawnMcp([], relayEnv(relayToken));
    const created = await call(client, "create_project", { slug: "relayed-site", name: "Relayed", kind: "instance" });
    expect(created.structuredContent).toMatchObject({ slug: "relayed-site", kind: "instance" });
    const rest = await t.request("GET", "/v1/projects/relayed-site", { token: relayToken });
    expect(rest.body).toEqual(created.structuredContent);
    await client.close();
  });

  it("reports the server's refusal at once instead of leaving the client waiting", async () => {
    for (const [args, token, status] of [
      [[], "bsn_not-a-real-token", 401],
      [["--toolsets", "nope"], relayToken, 400],
    ] as const) {
      const transport = new StdioClientTransport({
        command: process.execPath,
        args: [BIN, "mcp", ...args],
        cwd: ROOT,
        env: relayEnv(token),
        stderr: "pipe",
      });
      const client = new Client({ name: "bosun-stdio-test", version: "0.0.0" });
      children.push({ client, transport, pid: null });
      const started = Date.now();
      await expect(client.connect(transport, WAIT)).rejects.toThrow(new RegExp(`\\b${status}\\b`));
      expect(Date.now() - started).toBeLessThan(WAIT.timeout);
      children.at(-1)!.pid = transport.pid;
      await client.close();
    }
  });
});
