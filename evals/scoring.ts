// Scores, as tau-bench defines them: pass^k is the chance that k trials of a scenario, drawn from the n run,
// all pass — C(c,k)/C(n,k) for c passes of n — averaged over scenarios. pass^1 is the plain pass rate;
// pass^k falls as k grows unless an agent is consistent, which is what a customer relies on.
import type { TrialResult } from "./trial.ts";

/** C(c,k)/C(n,k), computed as a product so it stays exact-ish for any n. */
export function passHatKOne(n: number, c: number, k: number): number {
  if (k < 1 || k > n) throw new RangeError(`pass^${k} needs at least ${k} trials (have ${n})`);
  if (c < 0 || c > n) throw new RangeError(`passes (${c}) must be between 0 and the trials (${n})`);
  let p = 1;
  for (let i = 0; i < k; i++) p *= (c - i) / (n - i);
  return Math.max(0, p);
}

/** Mean over scenarios of C(c,k)/C(n,k). */
export function passHatK(counts: { n: number; c: number }[], k: number): number {
  if (!counts.length) return 0;
  return counts.reduce((s, x) => s + passHatKOne(x.n, x.c, k), 0) / counts.length;
}

export interface Summary {
  model: string;
  /** Null: per model, over all scenarios. */
  scenario: string | null;
  /** Where the results came from (live, scripted, recorded — more than one when mixed). */
  sources: string[];
  trials: number;
  passes: number;
  passAt1: number;
  /** pass^k for k = 1 … the fewest trials any scenario had. */
  passHat: Record<number, number>;
  meanSteps: number;
  meanInputTokens: number;
  meanOutputTokens: number;
  meanCostMicros: number;
  totalCostMicros: number;
  meanWallMs: number;
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

function summarise(model: string, scenario: string | null, results: TrialResult[]): Summary {
  const byScenario = new Map<string, TrialResult[]>();
  for (const r of results) byScenario.set(r.scenario, [...(byScenario.get(r.scenario) ?? []), r]);
  const counts = [...byScenario.values()].map((rs) => ({ n: rs.length, c: rs.filter((r) => r.pass).length }));
  const kMax = Math.min(...counts.map((x) => x.n));
  const passHat: Record<number, number> = {};
  for (let k = 1; k <= kMax; k++) passHat[k] = passHatK(counts, k);
  return {
    model,
    scenario,
    sources: [...new Set(results.map((r) => r.source))].sort(),
    trials: results.length,
    passes: results.filter((r) => r.pass).length,
    passAt1: passHat[1] ?? 0,
    passHat,
    meanSteps: mean(results.map((r) => r.steps)),
    meanInputTokens: mean(results.map((r) => r.inputTokens)),
    meanOutputTokens: mean(results.map((r) => r.outputTokens)),
    meanCostMicros: mean(results.map((r) => r.costMicros)),
    totalCostMicros: results.reduce((s, r) => s + r.costMicros, 0),
    meanWallMs: mean(results.map((r) => r.wallMs)),
  };
}

/** One summary per model (over its scenarios) and one per model and scenario. */
export function summarize(results: TrialResult[]): { models: Summary[]; scenarios: Summary[] } {
  const models = [...new Set(results.map((r) => r.model))];
  const out = { models: [] as Summary[], scenarios: [] as Summary[] };
  for (const model of models) {
    const mine = results.filter((r) => r.model === model);
    out.models.push(summarise(model, null, mine));
    for (const scenario of [...new Set(mine.map((r) => r.scenario))])
      out.scenarios.push(
        summarise(
          model,
          scenario,
          mine.filter((r) => r.scenario === scenario),
        ),
      );
  }
  return out;
}
