// The sites listener hands `{worker}.{project}.localhost` to the workers runtime, bodies beyond the form limit
// included (streamed both ways, under the worker's own body limit); one label (`{project}.localhost`) is still a
// site, and its worker_routes stream too.
import crypto from "node:crypto";
import http from "node:http";
import { type ServerType, serve } from "@hono/node-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { credit } from "../core/billing/ledger.ts";
import { startTestPlatform, type TestPlatform } from "../testkit/harness.ts";
import { createSitesApp } from "./app.ts";

let t: TestPlatform;
let token: string;

beforeAll(async () => {
  t = await startTestPlatform();
  const owner = await t.account();
  token = await owner.token(["*"]);
  // Requests are charged: an empty wallet would answer 402 once usage is flushed.
  await credit(t.platform.db, { accountId: owner.id, pool: "wallet", amount: 10_000_000, reason: "top_up" });
  await t.request("POST", "/v1/projects", { token, body: { slug: "edge", name: "edge", kind: "site" } });
}, 60_000);
afterAll(() => t?.close());

it("deploy_worker answers on {worker}.{project}.localhost of the sites listener, with large bodies", async () => {
  const code = `export default { async fetch(req) { const u = new URL(req.url); return new Response(u.host + " " + (await req.text()).length); } };`;
  const dep = await t.request("POST", "/v1/projects/edge/workers/echo/deployments", {
    token,
    body: { modules: [{ name: "index.js", content: code }], main_module: "index.js" },
  });
  expect(dep.status).toBe(201);
  const sites = createSitesApp(t.platform);
  const body = "x".repeat(200_000);
  const res = await sites.request("http://echo.edge.localhost:8788/", {
    method: "POST",
    body,
    headers: { host: "echo.edge.localhost:8788" },
  });
  expect(res.status).toBe(200);
  expect(await res.text()).toBe("echo.edge.localhost:8788 200000");
  const none = await sites.request("http://nope.edge.localhost/", { headers: { host: "nope.edge.localhost" } });
  expect(none.status).toBe(404);
}, 60_000);

it("worker_routes (a site setting) forward /api/* on the site's origin to the project's worker, once published", async () => {
  const code = `export default { async fetch(req) { const u = new URL(req.url); return new Response("api " + req.method + " " + u.pathname + " " + (await req.text())); } };`;
  expect(
    (
      await t.request("POST", "/v1/projects/edge/workers/api/deployments", {
        token,
        body: { modules: [{ name: "index.js", content: code }], main_module: "index.js" },
      })
    ).status,
  ).toBe(201);
  await t.request("PUT", "/v1/projects/edge/files", { token, body: { path: "index.html", content: "<h1>home</h1>" } });
  expect((await t.request("POST", "/v1/projects/edge/releases", { token })).status).toBe(201);
  const sites = createSitesApp(t.platform);
  const get = (path: string, init: RequestInit = {}) =>
    sites.request(`http://edge.localhost${path}`, { ...init, headers: { host: "edge.localhost" } });

  const set = await t.request("PATCH", "/v1/projects/edge/settings", {
    token,
    body: { settings: { worker_routes: [{ pattern: "/api/*", worker: "api" }] } },
  });
  expect(set.body).toMatchObject({ updated: ["worker_routes"], rejected: [], unpublished: ["worker_routes"] });
  // A draft setting: not live before publish.
  expect((await get("/api/x")).status).toBe(404);

  expect((await t.request("POST", "/v1/projects/edge/releases", { token })).status).toBe(201);
  const routed = await get("/api/x", { method: "POST", body: "hi" });
  expect([routed.status, await routed.text()]).toEqual([200, "api POST /api/x hi"]);
  // Other paths are still the site's files.
  const home = await get("/");
  expect([home.status, await home.text()]).toEqual([200, "<h1>home</h1>"]);

  // A route to a worker that is not deployed answers 404; a malformed route is rejected with why.
  const bad = await t.request("PATCH", "/v1/projects/edge/settings", {
    token,
    body: { settings: { worker_routes: [{ pattern: "api/*", worker: "api" }] } },
  });
  expect(bad.body.rejected.map((r: { key: string }) => r.key)).toEqual(["worker_routes"]);
  await t.request("PATCH", "/v1/projects/edge/settings", {
    token,
    body: { settings: { worker_routes: [{ pattern: "/fn", worker: "missing" }] } },
  });
  await t.request("POST", "/v1/projects/edge/releases", { token });
  expect((await get("/fn")).status).toBe(404);
  expect((await get("/api/x")).status).toBe(404); // the old route went with the new release
}, 60_000);

// ---- streaming through a real listener (Node's own request and response reach the runtime) ---------------------

const STREAM_WORKER = `
let started = 0, completed = 0;
const hex = (b) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, "0")).join("");
export default {
  async fetch(req) {
    const u = new URL(req.url);
    if (u.pathname.endsWith("/echo")) {
      started++;
      const body = await req.arrayBuffer();
      completed++;
      return new Response(u.pathname + " " + body.byteLength + " " + hex(await crypto.subtle.digest("SHA-256", body)));
    }
    if (u.pathname.endsWith("/stream")) {
      const n = Number(u.searchParams.get("n"));
      let i = 0;
      return new Response(new ReadableStream({ pull(c) { if (i < n) c.enqueue(new Uint8Array(65536).fill(97 + (i++ % 26))); else c.close(); } }));
    }
    return Response.json({ started, completed });
  },
};`;

interface Answer {
  status: number;
  body: Buffer;
}

/** A request with any Host header and a body written in 64 KB chunks (chunked unless `length` is declared). */
function call(port: number, host: string, path: string, body?: Buffer, length?: number): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { host };
    if (length !== undefined) headers["content-length"] = length;
    const req = http.request({ host: "127.0.0.1", port, path, method: body ? "POST" : "GET", headers, agent: false });
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    // The server may answer (413) and close before the whole body is written: the answer is what counts.
    req.on("error", (err) => setTimeout(() => reject(err), 200));
    if (!body) return void req.end();
    let at = 0;
    const write = () => {
      while (at < body.length) {
        const chunk = body.subarray(at, at + 65536);
        at += chunk.length;
        if (!req.write(chunk)) return void req.once("drain", write);
      }
      req.end();
    };
    write();
  });
}

const sha = (b: Buffer) => crypto.createHash("sha256").update(b).digest("hex");

describe("over a real listener", () => {
  let server: ServerType;
  let port: number;
  const counts = async () => JSON.parse((await call(port, "big.edge.localhost", "/counts")).body.toString());

  beforeAll(async () => {
    const dep = await t.request("POST", "/v1/projects/edge/workers/big/deployments", {
      token,
      body: {
        modules: [{ name: "index.js", content: STREAM_WORKER }],
        main_module: "index.js",
        limits: { body_bytes: 6 * 1024 * 1024 },
      },
    });
    expect(dep.status).toBe(201);
    port = await new Promise<number>((resolve) => {
      server = serve({ fetch: createSitesApp(t.platform).fetch, port: 0, hostname: "127.0.0.1" }, (info) =>
        resolve(info.port),
      );
    });
  }, 60_000);
  afterAll(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

  it("a 5 MB body streams to the worker on {worker}.{project}.localhost, chunked or with a length; a streamed response arrives intact", async () => {
    const body = crypto.randomBytes(5 * 1024 * 1024);
    const chunked = await call(port, "big.edge.localhost", "/echo", body);
    expect([chunked.status, chunked.body.toString()]).toEqual([200, `/echo ${body.length} ${sha(body)}`]);
    const declared = await call(port, "big.edge.localhost", "/echo", body, body.length);
    expect([declared.status, declared.body.toString()]).toEqual([200, `/echo ${body.length} ${sha(body)}`]);

    const streamed = await call(port, "big.edge.localhost", "/stream?n=80");
    expect(streamed.status).toBe(200);
    expect(streamed.body.length).toBe(80 * 65536);
    for (let i = 0; i < 80; i++) expect(streamed.body[i * 65536 + 1234]).toBe(97 + (i % 26));
    // HEAD: the worker's status and headers, no body.
    const head = await new Promise<http.IncomingMessage>((resolve, reject) =>
      http
        .request(
          { host: "127.0.0.1", port, path: "/stream?n=2", method: "HEAD", headers: { host: "big.edge.localhost" } },
          resolve,
        )
        .on("error", reject)
        .end(),
    );
    const headBody: Buffer[] = [];
    for await (const c of head) headBody.push(c as Buffer);
    expect([head.statusCode, Buffer.concat(headBody).length]).toEqual([200, 0]);
    // The same through the WHATWG path (app.request).
    const web = await createSitesApp(t.platform).request("http://big.edge.localhost/stream?n=3", {
      headers: { host: "big.edge.localhost" },
    });
    expect((await web.arrayBuffer()).byteLength).toBe(3 * 65536);
  }, 60_000);

  it("a body over the worker's limit is 413 with a page: a declared length never reaches the worker, a chunked one is cut", async () => {
    const before = await counts();
    const body = Buffer.alloc(7 * 1024 * 1024, 120);
    const declared = await call(port, "big.edge.localhost", "/echo", body, body.length);
    expect(declared.status).toBe(413);
    expect(declared.body.toString()).toContain("at most 6291456 bytes");
    expect(await counts()).toEqual(before); // not even started

    const chunked = await call(port, "big.edge.localhost", "/echo", body);
    expect(chunked.status).toBe(413);
    const after = await counts();
    expect(after.completed).toBe(before.completed); // the worker never had the whole body
    // The limit is validated like the rest of the bundle.
    const bad = await t.request("POST", "/v1/projects/edge/workers/big/deployments", {
      token,
      body: {
        modules: [{ name: "index.js", content: STREAM_WORKER }],
        main_module: "index.js",
        limits: { body_bytes: 0 },
      },
    });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain("limits.body_bytes");
  }, 60_000);

  it("worker_routes stream bodies past the site's 64 KB form limit, live and in a draft preview (the worker sees the path without the preview prefix)", async () => {
    await t.request("PATCH", "/v1/projects/edge/settings", {
      token,
      body: { settings: { worker_routes: [{ pattern: "/api/*", worker: "big" }] } },
    });
    const body = crypto.randomBytes(5 * 1024 * 1024);
    // Draft settings: a preview link routes already, the live site not yet.
    const link = await t.request("POST", "/v1/projects/edge/preview-links", { token, body: {} });
    expect(link.status).toBe(201);
    const previewPath = new URL(link.body.url).pathname;
    const preview = await call(port, "edge.localhost", `${previewPath}api/echo`, body);
    expect([preview.status, preview.body.toString()]).toEqual([200, `/api/echo ${body.length} ${sha(body)}`]);

    expect((await t.request("POST", "/v1/projects/edge/releases", { token })).status).toBe(201);
    const live = await call(port, "edge.localhost", "/api/echo", body, body.length);
    expect([live.status, live.body.toString()]).toEqual([200, `/api/echo ${body.length} ${sha(body)}`]);
    // The site's own forms keep the form limit.
    const form = await call(port, "edge.localhost", "/_forms/contact", Buffer.alloc(100_000, 97), 100_000);
    expect(form.status).toBe(413);
  }, 60_000);
});
