import http from "node:http";
import type { AddressInfo } from "node:net";
import { type ServerType, serve } from "@hono/node-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isPostgresUrl } from "../schema/open-database.ts";
import { startTestPlatform, type TestPlatform } from "../testkit/harness.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let t: TestPlatform;
beforeAll(async () => {
  t = await startTestPlatform();
});
afterAll(() => t?.close());

describe("the HTTP app", () => {
  it("/healthz answers with the database kind", async () => {
    const res = await t.request("GET", "/healthz");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ok: true, database: isPostgresUrl(process.env.DATABASE_URL) ? "postgres" : "pglite" });
  });

  it("/docs is an HTML page naming every operation", async () => {
    const res = await t.request("GET", "/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    expect(res.body).toMatch(/^<!doctype html>/i);
    const ops = t.platform.operations.operations;
    expect(ops.length).toBeGreaterThan(10);
    for (const op of ops) {
      expect(res.body, op.id).toContain(`<code>${op.id}</code>`);
      expect(res.body, op.id).toContain(`/v1${op.http.path}`);
    }
  });

  it("puts a generated X-Request-Id on every kind of response", async () => {
    const token = await t.operator.token(["projects:read"]);
    const responses = [
      await t.app.request("/healthz"),
      await t.app.request("/docs"),
      await t.app.request("/openapi.json"),
      await t.app.request("/v1/projects", { headers: { Authorization: `Bearer ${token}` } }),
      await t.app.request("/v1/projects"), // 401
      await t.app.request("/v1/nowhere"), // 404
      await t.app.request("/mcp", {
        method: "POST",
        headers: {
          Authorization: `Bearer ${token}`,
          "Content-Type": "application/json",
          Accept: "application/json, text/event-stream",
        },
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 1,
          method: "tools/call",
          params: { name: "list_projects", arguments: {} },
        }),
      }),
    ];
    const ids = responses.map((r) => r.headers.get("x-request-id"));
    for (const [i, id] of ids.entries())
      expect(id ?? "(none)", `response ${i} (${responses[i]!.status})`).toMatch(UUID);
    expect(new Set(ids).size).toBe(ids.length);
    // Re-stamping the header keeps the MCP answer (an SSE stream) intact.
    expect(await responses.at(-1)!.text()).toContain('"structuredContent"');
    await Promise.all(responses.slice(0, -1).map((r) => r.body?.cancel()));
  });

  it("echoes a sane client X-Request-Id and replaces garbage", async () => {
    for (const sane of ["req-123", "trace.abc:42_x", "a".repeat(128)]) {
      const res = await t.request("GET", "/v1/projects", { headers: { "X-Request-Id": sane } });
      expect(res.headers.get("x-request-id")).toBe(sane);
    }
    for (const garbage of ["has spaces", "<script>alert(1)</script>", "a".repeat(129), "semi;colon", 'quote"d']) {
      const res = await t.request("GET", "/healthz", { headers: { "X-Request-Id": garbage } });
      const id = res.headers.get("x-request-id");
      expect(id).not.toBe(garbage);
      expect(id).toMatch(UUID);
    }
  });

  it("the request id reaches the audit record", async () => {
    const token = await t.operator.token(["projects:write", "audit:read"]);
    const requestId = `audit-${Date.now()}`;
    const created = await t.request("POST", "/v1/projects", {
      token,
      body: { slug: "req-id-site", name: "R", kind: "site" },
      headers: { "X-Request-Id": requestId },
    });
    expect(created.status).toBe(201);
    const audit = await t.request("GET", "/v1/audit-events?operation=create_project", { token });
    expect(audit.body.events.find((e: { request_id: string }) => e.request_id === requestId)).toMatchObject({
      surface: "rest",
      outcome: "ok",
      project: "req-id-site",
    });
  });

  it("an unknown route is a JSON 404", async () => {
    for (const [method, path] of [
      ["GET", "/v1/nowhere"],
      ["GET", "/nowhere"],
      ["PUT", "/v1/projects"],
    ] as const) {
      const res = await t.request(method, path);
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      expect(res.body.error.code).toBe("not_found");
      expect(res.body.error.message).toContain(path);
    }
  });

  it("a body over 1 MB is a JSON 413, whether or not Content-Length says so", async () => {
    const token = await t.operator.token(["projects:write"]);
    const big = JSON.stringify({ slug: "big-body", name: "x".repeat(1024 * 1024), kind: "site" });
    const declared = await t.request("POST", "/v1/projects", { token, body: big });
    expect(declared.status).toBe(413);
    expect(declared.body.error.code).toBe("payload_too_large");
    // Streamed without a Content-Length: the limit still holds while reading.
    const bytes = new TextEncoder().encode(big);
    const stream = new ReadableStream({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 64 * 1024) controller.enqueue(bytes.subarray(i, i + 64 * 1024));
        controller.close();
      },
    });
    const streamed = await t.app.request("/v1/projects", {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: stream,
      duplex: "half",
    } as RequestInit);
    expect(streamed.status).toBe(413);
    expect((await streamed.json()).error.code).toBe("payload_too_large");
    const exists = await t.platform.db
      .selectFrom("projects")
      .select("id")
      .where("slug", "=", "big-body")
      .executeTakeFirst();
    expect(exists).toBeUndefined();
  });

  it("invalid JSON, or JSON that is not an object, is a 400", async () => {
    const token = await t.operator.token(["projects:write"]);
    for (const body of ["{not json", '{"slug": "x",}', "[1,2]", '"a string"', "null"]) {
      const res = await t.request("POST", "/v1/projects", { token, body });
      expect(res.status, body).toBe(400);
      expect(res.body.error.code).toBe("validation_error");
      expect(res.body.error.issues).toHaveLength(1);
    }
  });
});

describe("rate limits", () => {
  let limited: TestPlatform;
  let server: ServerType;
  let port: number;

  /** A real HTTP request (the limiter keys anonymous calls on the socket's address), from a chosen local address. */
  function call(path: string, opts: { token?: string; from?: string } = {}) {
    return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: any }>((resolve, reject) => {
      const req = http.request(
        {
          host: "127.0.0.1",
          port,
          path,
          localAddress: opts.from ?? "127.0.0.1",
          headers: opts.token ? { Authorization: `Bearer ${opts.token}` } : {},
          timeout: 10_000,
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (chunk) => (text += chunk));
          res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: JSON.parse(text) }));
        },
      );
      req.on("timeout", () => req.destroy(new Error(`GET ${path} timed out`)));
      req.on("error", reject);
      req.end();
    });
  }

  beforeAll(async () => {
    limited = await startTestPlatform({ config: { rateLimitPerMinute: 3 } });
    server = await new Promise<ServerType>((resolve) => {
      const s = serve({ fetch: limited.app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(s));
    });
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    await limited?.close();
  });

  it("reports X-RateLimit-* on authenticated calls and answers 429 with Retry-After past the limit, per token", async () => {
    const user = await limited.account();
    const token = await user.token(["projects:read"]);
    const before = Math.floor(Date.now() / 1000);
    for (const remaining of [2, 1, 0]) {
      const res = await call("/v1/projects", { token });
      expect(res.status).toBe(200);
      expect(res.headers["x-ratelimit-limit"]).toBe("3");
      expect(res.headers["x-ratelimit-remaining"]).toBe(String(remaining));
      const reset = Number(res.headers["x-ratelimit-reset"]);
      expect(reset).toBeGreaterThan(before);
      expect(reset).toBeLessThanOrEqual(before + 62);
    }
    const over = await call("/v1/projects", { token });
    expect(over.status).toBe(429);
    expect(over.body.error.code).toBe("rate_limited");
    const retryAfter = Number(over.headers["retry-after"]);
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(over.body.error.retry_after).toBe(retryAfter);
    expect(over.headers["x-ratelimit-remaining"]).toBe("0");
    expect(over.headers["x-ratelimit-limit"]).toBe("3");

    // Another token of the same account has its own window.
    const other = await call("/v1/projects", { token: await user.token(["projects:read"]) });
    expect(other.status).toBe(200);
    expect(other.headers["x-ratelimit-remaining"]).toBe("2");
  });

  it("limits anonymous public operations per client IP", async () => {
    for (let i = 0; i < 3; i++) {
      const res = await call("/v1/scopes");
      expect(res.status).toBe(200);
      expect(res.headers["x-ratelimit-limit"]).toBe("3");
    }
    const over = await call("/v1/scopes");
    expect(over.status).toBe(429);
    expect(over.body.error.code).toBe("rate_limited");
    expect(Number(over.headers["retry-after"])).toBeGreaterThanOrEqual(1);

    // Another client address is not affected; nor is a token holder on the limited address.
    const elsewhere = await call("/v1/scopes", { from: "127.0.0.2" });
    expect(elsewhere.status).toBe(200);
    expect(elsewhere.body.scopes.length).toBeGreaterThan(0);
    const withToken = await call("/v1/scopes", { token: await (await limited.account()).token(["projects:read"]) });
    expect(withToken.status).toBe(200);
  });
});
