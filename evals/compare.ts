// `bosun eval --compare A B`: what got better or worse from run A to run B, per model and scenario — pass rate
// first (a drop is a regression whatever it saves), then cost and steps.
import type { EvalRun } from "./run.ts";
import type { Summary } from "./scoring.ts";

export interface Change {
  model: string;
  scenario: string | null;
  verdict: "better" | "worse" | "same" | "only in A" | "only in B";
  passA: number | null;
  passB: number | null;
  costA: number | null;
  costB: number | null;
  stepsA: number | null;
  stepsB: number | null;
}

const key = (s: Summary) => `${s.model}\u0000${s.scenario ?? ""}`;

export function compareRuns(a: EvalRun, b: EvalRun): Change[] {
  const left = new Map([...a.summary.models, ...a.summary.scenarios].map((s) => [key(s), s]));
  const right = new Map([...b.summary.models, ...b.summary.scenarios].map((s) => [key(s), s]));
  const keys = [...new Set([...left.keys(), ...right.keys()])];
  return keys.map((k) => {
    const x = left.get(k);
    const y = right.get(k);
    const s = (x ?? y)!;
    let verdict: Change["verdict"];
    if (!x) verdict = "only in B";
    else if (!y) verdict = "only in A";
    else if (Math.abs(y.passAt1 - x.passAt1) > 1e-9) verdict = y.passAt1 > x.passAt1 ? "better" : "worse";
    // Same pass rate: cheaper by more than 5% is better, dearer by more than 5% is worse.
    else if (y.meanCostMicros < x.meanCostMicros * 0.95) verdict = "better";
    else if (y.meanCostMicros > x.meanCostMicros * 1.05) verdict = "worse";
    else verdict = "same";
    return {
      model: s.model,
      scenario: s.scenario,
      verdict,
      passA: x?.passAt1 ?? null,
      passB: y?.passAt1 ?? null,
      costA: x?.meanCostMicros ?? null,
      costB: y?.meanCostMicros ?? null,
      stepsA: x?.meanSteps ?? null,
      stepsB: y?.meanSteps ?? null,
    };
  });
}

export function formatComparison(changes: Change[], a: string, b: string): string {
  const pct = (x: number | null) => (x === null ? "–" : `${(x * 100).toFixed(0)}%`);
  const usd = (x: number | null) => (x === null ? "–" : `$${(x / 1e6).toFixed(4)}`);
  const steps = (x: number | null) => (x === null ? "–" : x.toFixed(1));
  const lines = [
    `A: ${a}`,
    `B: ${b}`,
    "",
    "| model | scenario | verdict | pass^1 A → B | mean cost A → B | mean steps A → B |",
    "| --- | --- | --- | --- | --- | --- |",
  ];
  const order = { worse: 0, "only in A": 1, better: 2, "only in B": 3, same: 4 };
  for (const c of [...changes].sort((x, y) => order[x.verdict] - order[y.verdict] || x.model.localeCompare(y.model))) {
    lines.push(
      `| ${c.model} | ${c.scenario ?? "(all)"} | ${c.verdict} | ${pct(c.passA)} → ${pct(c.passB)} | ${usd(c.costA)} → ${usd(c.costB)} | ${steps(c.stepsA)} → ${steps(c.stepsB)} |`,
    );
  }
  const worse = changes.filter((c) => c.verdict === "worse").length;
  const better = changes.filter((c) => c.verdict === "better").length;
  lines.push("", `${worse} worse, ${better} better, ${changes.length - worse - better} other.`);
  return lines.join("\n");
}
