// Every operation has a behavioural test that names it. The registry-wide suites in this folder (contract, gate,
// levels, fuzz) call every operation, but only what a test written for the operation asserts shows it does its job:
// an operation id that no test outside core/kernel names is one nobody wrote a test for.
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { allOperations } from "./registry.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");
const SKIP = new Set(["node_modules", ".git", ".bosun"]);

/** Operations with no test of their own, and why. Keep it empty: a new entry needs a reason a reviewer accepts. */
const EXCEPTIONS: Record<string, string> = {};

function testFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return SKIP.has(e.name) ? [] : testFiles(full);
    return e.name.endsWith(".test.ts") ? [full] : [];
  });
}

describe("every operation is named in a behavioural test", () => {
  it("names each operation id in some test file outside the registry-wide suites", () => {
    const kernel = path.join(ROOT, "core/kernel");
    const files = testFiles(ROOT).filter((f) => path.dirname(f) !== kernel);
    expect(files.length).toBeGreaterThan(50);
    const named = new Set(files.flatMap((f) => fs.readFileSync(f, "utf8").match(/\b[a-z][a-z0-9_]*\b/g)));
    const unnamed = allOperations.map((op) => op.id).filter((id) => !named.has(id) && !(id in EXCEPTIONS));
    expect(unnamed, "operations no test names: write one beside the operation's file").toEqual([]);
  });

  it("lists no exception for an operation that is gone or now has a test", () => {
    const ids = new Set(allOperations.map((op) => op.id));
    expect(Object.keys(EXCEPTIONS).filter((id) => !ids.has(id))).toEqual([]);
  });
});
