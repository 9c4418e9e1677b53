import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it, vi } from "vitest";
import { scenarios } from "../evals/scenarios/index.ts";
import { evalCommand, resolveModels, selectScenarios } from "./eval.ts";

describe("bosun eval", () => {
  it("selects scenarios by glob", () => {
    expect(selectScenarios(["fix-*"]).map((s) => s.name)).toEqual(["fix-service-config", "fix-broken-links"]);
    expect(selectScenarios(["memory-question", "rename-?age"]).map((s) => s.name)).toEqual([
      "memory-question",
      "rename-page",
    ]);
    expect(selectScenarios(undefined)).toBe(scenarios);
    expect(selectScenarios(["nothing.*"])).toEqual([]);
  });

  it("replays the passing transcripts when no model is configured, and uses the configured model when one is", () => {
    expect(resolveModels({}, {})).toEqual([
      { id: "replay:pass", provider: "anthropic", model: "claude-sonnet-5-5", replay: "pass" },
    ]);
    expect(resolveModels({ replay: "pass,fail" }, { ANTHROPIC_API_KEY: "k" }).map((m) => m.id)).toEqual([
      "replay:pass",
      "replay:fail",
    ]);
    expect(resolveModels({}, { ANTHROPIC_API_KEY: "sk-a", BOSUN_AGENT_MODEL: "claude-opus-5" })).toEqual([
      { id: "claude-opus-5", provider: "anthropic", model: "claude-opus-5", apiKey: "sk-a", baseUrl: undefined },
    ]);
    // Several models; an OpenAI-compatible local server needs no key.
    const env = { ANTHROPIC_API_KEY: "sk-a", BOSUN_OPENAI_BASE_URL: "http://127.0.0.1:11434/v1" };
    expect(
      resolveModels({ model: ["claude-sonnet-5-5", "openai:qwen3"] }, env).map((m) => [m.provider, m.model, m.baseUrl]),
    ).toEqual([
      ["anthropic", "claude-sonnet-5-5", undefined],
      ["openai", "qwen3", "http://127.0.0.1:11434/v1"],
    ]);
    expect(() => resolveModels({ model: ["openai:gpt-6-sol"] }, {})).toThrow(/OPENAI_API_KEY/);
  });

  it("--compare prints what changed between two result dirs", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bosun-cmp-"));
    const summary = (pass: number, cost: number) => ({
      model: "m",
      scenario: null,
      sources: ["live"],
      trials: 2,
      passes: pass * 2,
      passAt1: pass,
      passHat: { 1: pass },
      meanSteps: 3,
      meanInputTokens: 1,
      meanOutputTokens: 1,
      meanCostMicros: cost,
      totalCostMicros: cost * 2,
      meanWallMs: 1,
    });
    const write = (name: string, pass: number) => {
      fs.mkdirSync(path.join(dir, name));
      fs.writeFileSync(
        path.join(dir, name, "results.json"),
        JSON.stringify({
          results: [],
          summary: { models: [summary(pass, 100)], scenarios: [{ ...summary(pass, 100), scenario: "s" }] },
        }),
      );
    };
    write("a", 1);
    write("b", 0.5);
    const out = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    try {
      await evalCommand({ compare: [path.join(dir, "a"), path.join(dir, "b", "results.json")] });
      const text = out.mock.calls.map((c) => String(c[0])).join("");
      expect(text).toContain("| m | s | worse | 100% → 50% |");
      expect(text).toContain("2 worse, 0 better");
    } finally {
      out.mockRestore();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
