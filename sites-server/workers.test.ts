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
