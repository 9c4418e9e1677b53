// `bosun workers deploy`: the example folder's bosun.json is read, its modules bundled into one ES module, and
// (as the README walks a newcomer through) deployed with its KV binding and cron triggers.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect, it } from "vitest";
import { createSitesApp } from "../sites-server/app.ts";
import { startTestPlatform } from "../testkit/harness.ts";
import { bundleWorker, deployWorkerDir, readWorkerConfig } from "./workers.ts";

const example = path.join(import.meta.dirname, "..", "examples", "worker-hello");

it("bundles examples/worker-hello into one module with its import inlined", async () => {
  const config = readWorkerConfig(example);
  expect(config).toMatchObject({ name: "hello", project: "demo", main: "src/index.js" });
  const code = await bundleWorker(example, config);
  expect(code).toContain("from a Bosun worker");
  expect(code).not.toMatch(/import .* from "\.\/greet\.js"/);
  expect(code).toMatch(/export\s*{[^}]*default/);
});

it("refuses a folder without bosun.json or without a required field", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bosun-worker-"));
  expect(() => readWorkerConfig(dir)).toThrow(/bosun.json not found/);
  fs.writeFileSync(path.join(dir, "bosun.json"), JSON.stringify({ name: "x", project: "p" }));
  expect(() => readWorkerConfig(dir)).toThrow(/"main" is required/);
});

it("deploys examples/worker-hello as the README says: it answers with its KV binding, and its crons become triggers", async () => {
  const t = await startTestPlatform();
  try {
    const owner = await t.account();
    const token = await owner.token(["*"]);
    expect(
      (await t.request("POST", "/v1/projects", { token, body: { slug: "demo", name: "Demo", kind: "site" } })).status,
    ).toBe(201);
    expect((await t.request("POST", "/v1/projects/demo/kv", { token, body: { name: "visits" } })).status).toBe(201);
    const api = {
      base: "http://127.0.0.1",
      token,
      fetch: async (url: string, init: RequestInit) => t.app.request(url, init),
    };
    const lines: string[] = [];
    await deployWorkerDir(example, (s) => lines.push(s), api);
    expect(lines.join("\n")).toMatch(/deployed version [0-9a-f]{12}/);
    expect(lines).toContain("cron */5 * * * * (UTC) added");

    const sites = createSitesApp(t.platform);
    const visit = () => sites.request("http://hello.demo.localhost/", { headers: { host: "hello.demo.localhost" } });
    expect(await (await visit()).text()).toBe("Hello from a Bosun worker — visit number 1\n");
    expect(await (await visit()).text()).toBe("Hello from a Bosun worker — visit number 2\n");

    // A second deploy with another schedule: the old trigger goes, the new one comes; the same code is not redeployed.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bosun-worker-"));
    fs.cpSync(example, dir, { recursive: true });
    const config = JSON.parse(fs.readFileSync(path.join(dir, "bosun.json"), "utf8"));
    fs.writeFileSync(
      path.join(dir, "bosun.json"),
      JSON.stringify({ ...config, crons: [{ cron: "0 3 * * *", timezone: "Europe/Berlin" }] }),
    );
    lines.length = 0;
    await deployWorkerDir(dir, (s) => lines.push(s), api);
    expect(lines).toEqual(
      expect.arrayContaining(["cron */5 * * * * (UTC) removed", "cron 0 3 * * * (Europe/Berlin) added"]),
    );
    const triggers = await t.request("GET", "/v1/projects/demo/cron-triggers?worker=hello", { token });
    expect(triggers.body.triggers).toMatchObject([{ worker: "hello", cron: "0 3 * * *", timezone: "Europe/Berlin" }]);
  } finally {
    await t.close();
  }
}, 120_000);
