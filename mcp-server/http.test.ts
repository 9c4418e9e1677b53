// The /mcp endpoint itself: bearer authentication on every request (so a revoked token stops a connected
// client at its next call), the DNS-rebinding guard, and the HTTP edges of a stateless server.
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../http/app.ts";
import { MAX_JSON_BODY } from "../http/request.ts";
import { startTestPlatform, type TestPlatform } from "../testkit/harness.ts";
import { connectMcp } from "../testkit/mcp-client.ts";

let t: TestPlatform;
let token: string;
const clients: Client[] = [];

beforeAll(async () => {
  t = await startTestPlatform();
  token = await (await t.account()).token(["*"]);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await t?.close();
});

const MCP_HEADERS = { "Content-Type": "application/json", Accept: "application/json, text/event-stream" };
const initialize = JSON.stringify({
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "0" } },
});
const toolsCall = (name: string) =>
  JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name, arguments: {} } });

describe("authentication", () => {
  it("answers /mcp without a bearer with 401 JSON, and the SDK client sees the 401", async () => {
    const res = await t.app.request("/mcp", { method: "POST", headers: MCP_HEADERS, body: initialize });
    expect(res.status).toBe(401);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect((await res.json()).error).toMatchObject({ code: "unauthorized" });
    await expect(connectMcp(t.app, null)).rejects.toMatchObject({ code: 401 });
  });

  it("answers an invalid or malformed token with 401", async () => {
    for (const authorization of ["Bearer bsn_not-a-real-token", "Bearer garbage.jwt.value", "Basic dXNlcjpwYXNz"]) {
      const res = await t.app.request("/mcp", {
        method: "POST",
        headers: { ...MCP_HEADERS, Authorization: authorization },
        body: initialize,
      });
      expect.soft(res.status, authorization).toBe(401);
      expect.soft((await res.json()).error.code, authorization).toBe("unauthorized");
    }
    await expect(connectMcp(t.app, "bsn_not-a-real-token")).rejects.toMatchObject({ code: 401 });
  });

  it("re-checks the credential on every call: a token revoked mid-session fails at its next tool call", async () => {
    const user = await t.account();
    const admin = await user.token(["tokens:read", "tokens:write"]);
    const doomed = await user.token(["projects:read", "account:read"]);
    const client = await connectMcp(t.app, doomed);
    clients.push(client);
    const me = (await client.callTool({ name: "get_me", arguments: {} })) as CallToolResult;
    expect(me.isError).toBeFalsy();
    const prefix = (me.structuredContent as { credential: { prefix: string } }).credential.prefix;

    const listed = await t.request("GET", "/v1/tokens", { token: admin });
    const id = listed.body.tokens.find((x: { prefix: string }) => x.prefix === prefix).id;
    expect((await t.request("DELETE", `/v1/tokens/${id}`, { token: admin })).status).toBe(200);

    // Either refusal is a failure the client sees at once; a stateless server answers the request with 401.
    const next = client.callTool({ name: "list_projects", arguments: {} }).then(
      (r) => ({ result: r as CallToolResult }),
      (err) => ({ error: err as { code?: number } }),
    );
    const outcome = await next;
    if ("error" in outcome) expect(outcome.error.code).toBe(401);
    else {
      expect(outcome.result.isError).toBe(true);
      expect(JSON.parse((outcome.result.content[0] as { text: string }).text).error.code).toBe("unauthorized");
    }
    const raw = await t.app.request("/mcp", {
      method: "POST",
      headers: { ...MCP_HEADERS, Authorization: `Bearer ${doomed}` },
      body: toolsCall("list_projects"),
    });
    expect(raw.status).toBe(401);
    expect((await raw.json()).error).toMatchObject({ code: "unauthorized", message: "this token has been revoked" });
  });
});

describe("DNS-rebinding guard", () => {
  const allowedHosts = ["127.0.0.1:8787", "localhost:8787"];
  let guarded: ReturnType<typeof createApp>;
  beforeAll(() => {
    guarded = createApp(t.platform, { mcp: { allowedHosts } });
  });
  const post = (headers: Record<string, string>) =>
    guarded.request("http://127.0.0.1:8787/mcp", {
      method: "POST",
      headers: { ...MCP_HEADERS, Authorization: `Bearer ${token}`, ...headers },
      body: initialize,
    });

  it("refuses a foreign Host or Origin with 403, before looking at the credential", async () => {
    for (const headers of <Record<string, string>[]>[
      { Host: "evil.example" },
      { Host: "evil.example:8787" },
      { Host: "127.0.0.1:9999" },
      { Host: "127.0.0.1:8787", Origin: "http://evil.example" },
      { Host: "127.0.0.1:8787", Origin: "http://127.0.0.1:9999" },
      { Host: "localhost:8787", Origin: "null" },
    ]) {
      const res = await post(headers);
      const what = JSON.stringify(headers);
      expect.soft(res.status, what).toBe(403);
      expect.soft((await res.json()).error.code, what).toBe("forbidden");
    }
    const anonymous = await guarded.request("http://127.0.0.1:8787/mcp", {
      method: "POST",
      headers: { ...MCP_HEADERS, Host: "evil.example" },
      body: initialize,
    });
    expect(anonymous.status).toBe(403);
  });

  it("accepts the allowed Host, with or without an allowed Origin", async () => {
    for (const headers of <Record<string, string>[]>[
      { Host: "127.0.0.1:8787" },
      { Host: "localhost:8787" },
      { Host: "127.0.0.1:8787", Origin: "http://localhost:8787" },
      { Host: "localhost:8787", Origin: "http://127.0.0.1:8787" },
    ]) {
      const res = await post(headers);
      const what = JSON.stringify(headers);
      expect.soft(res.status, what).toBe(200);
      expect.soft(await res.text(), what).toContain('"serverInfo"');
    }
    // Unguarded elsewhere: the guard belongs to /mcp only.
    const rest = await guarded.request("http://evil.example/v1/projects", {
      headers: { Authorization: `Bearer ${token}`, Host: "evil.example" },
    });
    expect(rest.status).toBe(200);
  });

  it("lets an SDK client through when its Host is allowed", async () => {
    // connectMcp talks to http://127.0.0.1/mcp, so its Host is 127.0.0.1.
    const client = await connectMcp(createApp(t.platform, { mcp: { allowedHosts: ["127.0.0.1"] } }), token);
    clients.push(client);
    expect((await client.listTools()).tools.length).toBeGreaterThan(5);
    await expect(connectMcp(guarded, token)).rejects.toMatchObject({ code: 403 });
  });
});

describe("stateless transport", () => {
  it("answers GET and DELETE with 405 (no session stream to open or end)", async () => {
    for (const method of ["GET", "DELETE"]) {
      const res = await t.app.request("/mcp", {
        method,
        headers: { Authorization: `Bearer ${token}`, Accept: "text/event-stream" },
      });
      expect.soft(res.status, method).toBe(405);
      expect.soft(res.headers.get("allow"), method).toBe("POST");
      await res.body?.cancel();
    }
  });

  it("answers each POST on its own, without initialize first", async () => {
    const res = await t.app.request("/mcp", {
      method: "POST",
      headers: { ...MCP_HEADERS, Authorization: `Bearer ${token}` },
      body: toolsCall("list_projects"),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("mcp-session-id")).toBeNull();
    expect(await res.text()).toContain('"structuredContent"');
  });

  it("refuses a body over the limit with 413", async () => {
    const body = JSON.stringify({ jsonrpc: "2.0", id: 3, method: "ping", params: { pad: "x".repeat(MAX_JSON_BODY) } });
    const res = await t.app.request("/mcp", {
      method: "POST",
      headers: { ...MCP_HEADERS, Authorization: `Bearer ${token}` },
      body,
    });
    expect(res.status).toBe(413);
    expect((await res.json()).error.code).toBe("payload_too_large");
    // A declared length over the limit is refused on the header alone (http/request.ts boundedBody).
    const declared = await t.app.request("/mcp", {
      method: "POST",
      headers: { ...MCP_HEADERS, Authorization: `Bearer ${token}`, "Content-Length": String(MAX_JSON_BODY + 1) },
      body: toolsCall("list_projects"),
    });
    expect(declared.status).toBe(413);
    expect((await declared.json()).error.code).toBe("payload_too_large");
  });

  // A single tools/call or tools/list is answered without an SDK server (http.ts answerDirectly); a batch of
  // one still goes through the SDK's. Both must give the same answer, and the SDK's refusals must still apply.
  it("answers a lone tools/call or tools/list exactly as the SDK server answers it (a batch of one)", async () => {
    const post = (body: unknown, headers: Record<string, string> = {}) =>
      t.app.request("/mcp", {
        method: "POST",
        headers: { ...MCP_HEADERS, Authorization: `Bearer ${token}`, ...headers },
        body: JSON.stringify(body),
      });
    for (const message of [
      { jsonrpc: "2.0", id: 7, method: "tools/list" },
      { jsonrpc: "2.0", id: "c", method: "tools/call", params: { name: "list_projects", arguments: {} } },
      { jsonrpc: "2.0", id: 8, method: "tools/call", params: { name: "no_such_tool", arguments: {} } },
      { jsonrpc: "2.0", id: 9, method: "tools/call", params: { name: "get_project", arguments: { project: 5 } } },
    ]) {
      const direct = await post(message);
      const viaSdk = await post([message]);
      expect.soft(direct.status, message.method).toBe(200);
      expect.soft(direct.headers.get("content-type"), message.method).toBe("application/json");
      expect.soft(direct.headers.get("x-request-id"), message.method).toMatch(/^[\w-]{8,}$/);
      // The SDK answers a batch of one with the lone response, not an array.
      expect.soft(await direct.json(), JSON.stringify(message)).toEqual(await viaSdk.json());
    }
  });

  it("still refuses what the SDK transport refuses on a lone tools/call", async () => {
    const call = { jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "list_projects", arguments: {} } };
    const post = (body: unknown, headers: Record<string, string> = {}) =>
      t.app.request("/mcp", {
        method: "POST",
        headers: { ...MCP_HEADERS, Authorization: `Bearer ${token}`, ...headers },
        body: JSON.stringify(body),
      });
    const cases: [string, Response, number, number][] = [
      ["accept json only", await post(call, { Accept: "application/json" }), 406, -32000],
      ["not json", await post(call, { "Content-Type": "text/plain" }), 415, -32000],
      ["unknown protocol version", await post(call, { "MCP-Protocol-Version": "1999-01-01" }), 400, -32000],
      ["no jsonrpc", await post({ id: 3, method: "tools/call", params: call.params }), 400, -32700],
    ];
    for (const [label, res, status, code] of cases) {
      expect.soft(res.status, label).toBe(status);
      expect.soft((await res.json()).error.code, label).toBe(code);
    }
    // Params the SDK's schema refuses: a JSON-RPC error naming them, not a tool result.
    const bad = await post({ ...call, params: { name: 42 } });
    expect(bad.status).toBe(200);
    const body = await bad.json();
    expect(body.id).toBe(3);
    expect(body.error.message).toMatch(/name/);
    expect(body.result).toBeUndefined();
  });
});
