// The sites listener hands `{worker}.{project}.localhost` to the workers runtime, bodies beyond the form limit
// included; one label (`{project}.localhost`) is still a site.
import { afterAll, beforeAll, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../testkit/harness.ts";
import { createSitesApp } from "./app.ts";

let t: TestPlatform;
let token: string;

beforeAll(async () => {
  t = await startTestPlatform();
  const owner = await t.account();
  token = await owner.token(["*"]);
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
