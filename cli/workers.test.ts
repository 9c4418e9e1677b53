// `bosun workers deploy`: the example folder's bosun.json is read and its modules bundled into one ES module.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect, it } from "vitest";
import { bundleWorker, readWorkerConfig } from "./workers.ts";

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
