// A whole evaluation: every scenario × model × trial, a few at a time, each trial in its own world. A trial the
// harness itself fails on (a world that would not start) is recorded as a failure with the reason, so one bad
// trial never loses the others' results.
import type { Scenario } from "./scenario.ts";
import { type Summary, summarize } from "./scoring.ts";
import { emptyResult, type ModelSpec, runTrial, type TrialResult } from "./trial.ts";
import type { Host } from "./world.ts";

export interface EvalOptions {
  scenarios: Scenario[];
  models: ModelSpec[];
  trials: number;
  concurrency: number;
  /** Where live runs' transcripts are written. */
  transcriptsDir?: string;
  record?: boolean;
  scenariosDir?: string;
  /** Tests: run every trial on this host (one at a time). */
  host?: Host;
  onTrial?: (result: TrialResult) => void;
}

export interface EvalRun {
  startedAt: string;
  finishedAt: string;
  trialsPerScenario: number;
  models: { id: string; provider: string; model: string; replay: string | null }[];
  results: TrialResult[];
  summary: { models: Summary[]; scenarios: Summary[] };
}

export async function runEval(opts: EvalOptions): Promise<EvalRun> {
  const startedAt = new Date().toISOString();
  const jobs: { scenario: Scenario; model: ModelSpec; trial: number }[] = [];
  for (const model of opts.models)
    for (const scenario of opts.scenarios)
      for (let trial = 1; trial <= opts.trials; trial++) jobs.push({ scenario, model, trial });
  const results: TrialResult[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      const { scenario, model, trial } = jobs[i]!;
      let result: TrialResult;
      try {
        result = await runTrial(scenario, model, {
          trial,
          host: opts.host,
          transcriptsDir: opts.transcriptsDir,
          record: opts.record,
          scenariosDir: opts.scenariosDir,
        });
      } catch (err) {
        result = harnessFailure(scenario.name, model, trial, err as Error);
      }
      results[i] = result;
      opts.onTrial?.(result);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency, jobs.length)) }, worker));
  return {
    startedAt,
    finishedAt: new Date().toISOString(),
    trialsPerScenario: opts.trials,
    models: opts.models.map((m) => ({ id: m.id, provider: m.provider, model: m.model, replay: m.replay ?? null })),
    results,
    summary: summarize(results),
  };
}

function harnessFailure(scenario: string, model: ModelSpec, trial: number, err: Error): TrialResult {
  return {
    ...emptyResult({ scenario, model: model.id, trial }, model.replay ? "scripted" : "live"),
    reason: `harness error: ${err.message}`,
  };
}
