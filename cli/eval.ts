// `bosun eval`: runs the scenarios in evals/ against the configured model(s), or replays their stored
// transcripts when no model is configured, and writes results.json, report.md and report.html. `--compare A B`
// prints what got better or worse between two runs. Progress goes to stderr; the report paths to stdout.
import path from "node:path";
import { loadConfig } from "../core/config.ts";
import { requireProgram } from "../core/programs.ts";
import { compareRuns, formatComparison } from "../evals/compare.ts";
import { Progress } from "../evals/progress.ts";
import { readRun, writeReports } from "../evals/report.ts";
import { runEval } from "../evals/run.ts";
import type { Scenario } from "../evals/scenario.ts";
import { scenarios as allScenarios } from "../evals/scenarios/index.ts";
import type { ModelSpec } from "../evals/trial.ts";

export interface EvalCliOptions {
  scenario?: string[];
  model?: string[];
  replay?: string;
  trials?: string;
  concurrency?: string;
  out?: string;
  record?: boolean;
  compare?: string[];
  list?: boolean;
}

/** `*` and `?` globs over scenario names. */
export function selectScenarios(globs: string[] | undefined, from: Scenario[] = allScenarios): Scenario[] {
  if (!globs?.length) return from;
  const res = globs.map(
    (g) =>
      new RegExp(
        `^${g
          .replace(/[.+^${}()|[\]\\]/g, "\\$&")
          .replace(/\*/g, ".*")
          .replace(/\?/g, ".")}$`,
      ),
  );
  return from.filter((s) => res.some((re) => re.test(s.name)));
}

/**
 * The models to run. `--model provider:id` or `--model id` (provider from BOSUN_AGENT_PROVIDER, else guessed from
 * the id) uses the keys and base URLs of the environment, as `bosun serve` does. With no --model: the configured
 * model when a key is set, else replay. `--replay pass,fail` always replays those transcripts.
 */
export function resolveModels(
  opts: Pick<EvalCliOptions, "model" | "replay">,
  env: NodeJS.ProcessEnv = process.env,
): ModelSpec[] {
  const base = loadConfig(env).agent;
  if (opts.replay) {
    return opts.replay
      .split(",")
      .map((name) => name.trim())
      .filter(Boolean)
      .map((name) => ({
        id: `replay:${name}`,
        provider: "anthropic" as const,
        model: base.provider === "anthropic" ? base.model : "claude-sonnet-5-5",
        replay: name,
      }));
  }
  const named = opts.model?.length
    ? opts.model
    : base.apiKey || (base.provider === "openai" && base.baseUrl)
      ? [`${base.provider}:${base.model}`]
      : [];
  if (!named.length) return resolveModels({ replay: "pass" }, env);
  return named.map((spec) => {
    const m = /^(anthropic|openai):(.+)$/.exec(spec);
    const provider = (m?.[1] ??
      (env.BOSUN_AGENT_PROVIDER === "openai" || env.BOSUN_AGENT_PROVIDER === "anthropic"
        ? env.BOSUN_AGENT_PROVIDER
        : /^claude/.test(spec)
          ? "anthropic"
          : "openai")) as "anthropic" | "openai";
    const model = m?.[2] ?? spec;
    const agent = loadConfig({ ...env, BOSUN_AGENT_PROVIDER: provider, BOSUN_AGENT_MODEL: model }).agent;
    if (!agent.apiKey && !(provider === "openai" && agent.baseUrl)) {
      throw new Error(
        `no key for ${provider}: set ${provider === "openai" ? "OPENAI_API_KEY (or BOSUN_OPENAI_BASE_URL for a local server)" : "ANTHROPIC_API_KEY"}, or use --replay`,
      );
    }
    return { id: model, provider, model, apiKey: agent.apiKey, baseUrl: agent.baseUrl };
  });
}

export async function evalCommand(opts: EvalCliOptions): Promise<void> {
  if (opts.compare) {
    const [a, b] = opts.compare;
    if (!a || !b) throw new Error("--compare needs two runs: bosun eval --compare A B");
    process.stdout.write(`${formatComparison(compareRuns(readRun(a), readRun(b)), a, b)}\n`);
    return;
  }
  const scenarios = selectScenarios(opts.scenario);
  if (opts.list) {
    for (const s of scenarios) process.stdout.write(`${s.name}\t${s.kind}\t${s.instruction}\n`);
    return;
  }
  if (!scenarios.length) throw new Error(`no scenario matches ${opts.scenario?.join(", ")}; see bosun eval --list`);
  // Checked up front: otherwise every instance trial would fail on its own with the same cause.
  if (scenarios.some((s) => s.kind === "instance_operator")) {
    requireProgram("sshd", "bosun eval (its instance scenarios run a throwaway OpenSSH server)");
    requireProgram("ssh-keygen", "bosun eval (its instance scenarios run a throwaway OpenSSH server)");
  }
  const models = resolveModels(opts);
  const trials = Math.max(1, Number(opts.trials ?? 1) || 1);
  const concurrency = Math.max(1, Number(opts.concurrency ?? 2) || 1);
  const out = path.resolve(opts.out ?? path.join("evals", "results", new Date().toISOString().replace(/[:.]/g, "-")));
  process.stderr.write(
    `${scenarios.length} scenario(s) × ${models.length} model(s) × ${trials} trial(s): ${models.map((m) => m.id).join(", ")}\n`,
  );
  if (models.every((m) => m.replay))
    process.stderr.write("replay mode: results come from stored transcripts, not from a model\n");
  const progress = new Progress(scenarios.length * models.length * trials);
  progress.start();
  const run = await runEval({
    scenarios,
    models,
    trials,
    concurrency,
    transcriptsDir: path.join(out, "transcripts"),
    record: opts.record,
    onTrial: (r) => progress.tick(r),
  });
  progress.stop();
  const files = writeReports(run, out);
  for (const m of run.summary.models) {
    process.stderr.write(
      `${m.model} (${m.sources.join(", ")}): pass^1 ${(m.passAt1 * 100).toFixed(0)}%, ${m.passes}/${m.trials} trials, $${(m.totalCostMicros / 1e6).toFixed(4)}\n`,
    );
  }
  process.stdout.write(`${files.md}\n${files.html}\n${files.json}\n`);
}
