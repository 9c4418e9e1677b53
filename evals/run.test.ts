// A whole evaluation in replay: scenarios × models × trials, scored, reported in three files, compared.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compareRuns, formatComparison } from "./compare.ts";
import { Progress } from "./progress.ts";
import { htmlReport, markdownReport, readRun, writeReports } from "./report.ts";
import { type EvalRun, runEval } from "./run.ts";
import { scenarios } from "./scenarios/index.ts";
import { agentConfigFor, type ModelSpec } from "./trial.ts";
import { type Host, startHost } from "./world.ts";

const replay = (name: string): ModelSpec => ({
  id: `replay:${name}`,
  provider: "anthropic",
  model: "claude-sonnet-5-5",
  replay: name,
});
let host: Host;
let run: EvalRun;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bosun-eval-run-"));

beforeAll(async () => {
  host = await startHost(agentConfigFor(replay("pass")));
  const picked = scenarios.filter((s) => s.name === "change-site-name" || s.name === "publish-only-when-asked");
  const lines: string[] = [];
  const progress = new Progress(8, { isTTY: false, write: (s: string) => lines.push(s) > 0 });
  run = await runEval({
    scenarios: picked,
    models: [replay("pass"), replay("fail")],
    trials: 2,
    concurrency: 2,
    host,
    onTrial: (r) => progress.tick(r),
  });
  expect(lines).toHaveLength(8);
  expect(lines.at(-1)).toMatch(/^\[#{24}\] 8\/8 trials · 4 passed · \$0\.\d{4} spent/);
}, 120_000);
afterAll(async () => {
  await host?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("an evaluation", () => {
  it("runs every scenario × model × trial and scores each model", () => {
    expect(run.results).toHaveLength(8);
    const pass = run.summary.models.find((m) => m.model === "replay:pass")!;
    const fail = run.summary.models.find((m) => m.model === "replay:fail")!;
    expect([pass.passAt1, pass.passHat[2], pass.trials, pass.sources]).toEqual([1, 1, 4, ["scripted"]]);
    expect([fail.passAt1, fail.passHat[2]]).toEqual([0, 0]);
    expect(pass.totalCostMicros).toBe(
      run.results.filter((r) => r.model === "replay:pass").reduce((s, r) => s + r.costMicros, 0),
    );
    expect(pass.meanSteps).toBeGreaterThan(1);
    expect(run.summary.scenarios.filter((s) => s.model === "replay:pass").map((s) => s.scenario)).toEqual([
      "change-site-name",
      "publish-only-when-asked",
    ]);
  });

  it("writes results.json, report.md (a table per model) and an offline report.html with the bar charts", () => {
    const files = writeReports(run, dir);
    expect(readRun(dir).results).toHaveLength(8);
    const md = fs.readFileSync(files.md, "utf8");
    expect(md).toContain("says nothing about any model's quality");
    expect(md).toMatch(/## replay:pass\n\n\| scenario \| source \| passed \| pass\^1 \| pass\^2 \|/);
    expect(md).toMatch(/\| change-site-name \| scripted \| 2\/2 \| 100% \| 100% \|/);
    expect(md).toMatch(/- \*\*replay:fail\*\* change-site-name #1 \(scripted\): FAIL: site_name/);
    const html = fs.readFileSync(files.html, "utf8");
    expect(html.match(/<svg /g)).toHaveLength(2);
    expect(html).toContain("Pass rate (pass^1) per scenario");
    expect(html).toContain("Mean cost per trial");
    // Offline: no script, stylesheet, image or font is fetched from anywhere.
    expect(html).not.toMatch(/<(script|link|img)\b|@import|url\(/i);
    expect(html).not.toMatch(/(src|href)="https?:/);
    expect(htmlReport(run)).toBe(html);
    expect(markdownReport(run)).toBe(md);
  });

  it("compares two runs: a drop in pass rate is worse, the same pass rate for less money is better", () => {
    const cheaper: EvalRun = structuredClone(run);
    for (const s of [...cheaper.summary.models, ...cheaper.summary.scenarios])
      if (s.model === "replay:pass") s.meanCostMicros /= 2;
    const fail = cheaper.summary.scenarios.find((s) => s.model === "replay:fail" && s.scenario === "change-site-name")!;
    fail.passAt1 = 0.5;
    const changes = compareRuns(run, cheaper);
    expect(changes.find((c) => c.model === "replay:pass" && c.scenario === null)!.verdict).toBe("better");
    expect(changes.find((c) => c.model === "replay:fail" && c.scenario === "change-site-name")!.verdict).toBe("better");
    const back = compareRuns(cheaper, run);
    expect(back.find((c) => c.model === "replay:fail" && c.scenario === "change-site-name")!.verdict).toBe("worse");
    expect(back.find((c) => c.model === "replay:fail" && c.scenario === "publish-only-when-asked")!.verdict).toBe(
      "same",
    );
    const text = formatComparison(back, "A", "B");
    expect(text.split("\n")[5]).toMatch(/^\| replay:fail \| change-site-name \| worse \| 50% → 0% \|/); // worst first
  });
});
