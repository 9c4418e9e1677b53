// One trial: a fresh world, the real runner workers with the model under test (a real provider, or a stored
// transcript served by the fake model server), the customer's message, approvals answered per the scenario's
// policy through approve_tool_call / deny_tool_call, the budget enforced, then the verifier on the final world.
// What it cost comes from the real meter: the run's steps, and the ledger rows it wrote.
import fs from "node:fs";
import path from "node:path";
import pino from "pino";
import { createWebSearch } from "../agent-runner/bridges/web-search.ts";
import { createAnthropicProvider } from "../agent-runner/providers/anthropic.ts";
import { providerFromAgentConfig } from "../agent-runner/providers/index.ts";
import { createOpenAIProvider } from "../agent-runner/providers/openai.ts";
import type { ModelProvider } from "../agent-runner/providers/provider.ts";
import { RunWorkers } from "../agent-runner/worker.ts";
import { ledgerMismatches } from "../core/billing/ledger.ts";
import type { MeteredHold } from "../core/billing/meter.ts";
import type { AgentConfig } from "../core/config.ts";
import { BosunError } from "../core/kernel/errors.ts";
import { startFakeAnthropic } from "../testkit/fake-anthropic.ts";
import type { FakeModelServer } from "../testkit/fake-model.ts";
import { startFakeOpenAI } from "../testkit/fake-openai.ts";
import { type FakeTavily, startFakeTavily } from "../testkit/fake-tavily.ts";
import type { Conversation, Scenario, Verdict } from "./scenario.ts";
import {
  loadTranscript,
  recordingProvider,
  saveTranscript,
  scriptOf,
  type Transcript,
  type TranscriptReply,
  transcriptPath,
} from "./transcript.ts";
import { createWorld, type Host, startHost, type World } from "./world.ts";

/** A model under test: a real provider, or replay of each scenario's transcript of that name. */
export interface ModelSpec {
  /** How reports name it: the model id, or `replay:<transcript>`. */
  id: string;
  provider: "anthropic" | "openai";
  /** The model the runner asks for, and prices by. */
  model: string;
  apiKey?: string;
  baseUrl?: string;
  /** Replay: which transcript of each scenario to serve (`pass`, `fail`, `recorded-…`). */
  replay?: string;
}

export type ResultSource = "live" | "scripted" | "recorded";

export interface TrialResult {
  scenario: string;
  model: string;
  /** live: a real provider answered; scripted / recorded: a stored transcript was replayed. */
  source: ResultSource;
  trial: number;
  pass: boolean;
  /** Why it failed, in one line (null when it passed). */
  reason: string | null;
  /** Set when the budget ran out: which part. */
  budgetExceeded: string | null;
  /** The verifier's findings. */
  messages: string[];
  runStatus: string;
  runError: { code: string; message: string } | null;
  steps: number;
  inputTokens: number;
  outputTokens: number;
  costMicros: number;
  /** What the ledger was charged for the trial (equals costMicros when metering is sound). */
  ledgerMicros: number;
  wallMs: number;
  approvals: { tool: string; input: string; decision: "approved" | "denied" }[];
  /** Holds still active when the run ended (the harness releases them; anything but 0 is a runner bug). */
  holdsLeftActive: number;
  /** The transcript replayed, or the one recorded from the live run. */
  transcript: string | null;
}

export interface TrialOptions {
  trial?: number;
  /** A shared host (tests); without one the trial starts and closes its own platform. */
  host?: Host;
  /** Where a live run's transcript is written (`…/transcripts`); none: not written. */
  transcriptsDir?: string;
  /** Also save a live run's transcript next to the scenario as `recorded-<model>.json`, for later replay. */
  record?: boolean;
  /** Where scenarios' transcripts live (default evals/scenarios). */
  scenariosDir?: string;
  /** How often the harness looks at the run (ms). */
  pollMs?: number;
}

const usd = (micros: number) => `$${(micros / 1e6).toFixed(4)}`;
const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9.-]+/g, "-");

/** The agent configuration a host for this model needs. The harness's budget guard is what binds a trial;
 *  the runner's own limits stay above it as a backstop. */
export function agentConfigFor(model: ModelSpec, budget = { steps: 40, costUsd: 2, wallSeconds: 600 }): AgentConfig {
  return {
    provider: model.provider,
    model: model.model,
    apiKey: model.apiKey ?? (model.replay ? "replay" : undefined),
    baseUrl: model.baseUrl,
    maxOutputTokens: 4096,
    workers: 0,
    maxSteps: budget.steps + 10,
    maxWallSeconds: budget.wallSeconds * 2,
    maxCostMicros: Math.round(budget.costUsd * 2e6),
  };
}

export async function runTrial(scenario: Scenario, model: ModelSpec, opts: TrialOptions = {}): Promise<TrialResult> {
  // The runner asks for (and prices by) its platform's configured model, so a shared host serves one model.
  if (opts.host && opts.host.t.platform.config.agent.model !== model.model) {
    throw new Error(`this host runs ${opts.host.t.platform.config.agent.model}, not ${model.model}`);
  }
  const host = opts.host ?? (await startHost(agentConfigFor(model, scenario.budget)));
  try {
    return await host.exclusive(() => trialIn(host, scenario, model, opts));
  } finally {
    if (!opts.host) await host.close();
  }
}

async function trialIn(host: Host, scenario: Scenario, model: ModelSpec, opts: TrialOptions): Promise<TrialResult> {
  const trial = opts.trial ?? 1;
  const base = { scenario: scenario.name, model: model.id, trial };
  let transcript: Transcript | null = null;
  let transcriptFile: string | null = null;
  if (model.replay) {
    transcriptFile = transcriptPath(scenario.name, model.replay, opts.scenariosDir);
    if (!fs.existsSync(transcriptFile))
      return { ...emptyResult(base, "scripted"), reason: `no transcript ${transcriptFile}` };
    transcript = loadTranscript(transcriptFile);
  }
  const source: ResultSource = transcript ? transcript.label : "live";
  const budgetMicros = Math.round(scenario.budget.costUsd * 1e6);
  const world = await createWorld(scenario, host, Math.max(5_000_000, budgetMicros * 4));
  let fakeModel: FakeModelServer | null = null;
  let tavily: FakeTavily | null = null;
  let workers: RunWorkers | null = null;
  try {
    tavily = await startFakeTavily();
    tavily.script([...(scenario.search ?? []), ...Array.from({ length: 30 }, () => ({ results: [] }))]);

    let provider: ModelProvider;
    if (transcript) {
      fakeModel = model.provider === "openai" ? await startFakeOpenAI() : await startFakeAnthropic();
      fakeModel.script(scriptOf(transcript, world.placeholders));
      const options = { apiKey: "replay", baseURL: fakeModel.baseURL, maxRetries: 0 };
      provider = model.provider === "openai" ? createOpenAIProvider(options) : createAnthropicProvider(options);
    } else {
      provider = providerFromAgentConfig(agentConfigFor(model), { maxRetries: 2 });
    }
    const recorded: TranscriptReply[] = [];
    if (!transcript) provider = recordingProvider(provider, recorded, world.placeholders);
    const started = Date.now();
    const deadline = started + scenario.budget.wallSeconds * 1000;
    let budgetExceeded: string | null = null;
    provider = budgetGuard(provider, world, scenario, deadline, (why) => (budgetExceeded ??= why));

    workers = new RunWorkers(
      {
        platform: host.t.platform,
        provider,
        bridges: [createWebSearch({ apiKey: "tvly-eval", baseURL: tavily.baseURL })],
        log: pino({ level: "silent" }),
      },
      { concurrency: 1, pollMs: opts.pollMs ?? 20 },
    ).start();

    const chat = await world.apiOk("POST", `/v1/projects/${world.project}/agent/conversations`, {
      project: world.project,
      ...(world.instance ? { instance: world.instance } : {}),
      message: scenario.instruction,
      mode: scenario.mode ?? "ask",
      allow_publish: scenario.allowPublish ?? false,
    });
    const runId: string = chat.run_id;
    const conversationId: string = chat.conversation.id;
    const approvals: TrialResult["approvals"] = [];
    let status = "queued";
    for (;;) {
      const run = await host.t.platform.db
        .selectFrom("agent_runs")
        .select("status")
        .where("id", "=", runId)
        .executeTakeFirstOrThrow();
      status = run.status;
      if (status === "done" || status === "failed" || status === "cancelled") break;
      if (Date.now() > deadline) {
        budgetExceeded ??= `wall time: the run took longer than ${scenario.budget.wallSeconds}s`;
        await world.api("POST", `/v1/projects/${world.project}/agent/conversations/${conversationId}/cancel`, {});
        continue;
      }
      if (status === "awaiting_approval") await answerApprovals(world, scenario, runId, approvals);
      await sleep(opts.pollMs ?? 20);
    }
    const wallMs = Date.now() - started;
    await workers.stop();
    workers = null;

    const db = host.t.platform.db;
    const active = await db
      .selectFrom("holds")
      .select("id")
      .where("account_id", "=", world.owner.id)
      .where("state", "=", "active")
      .execute();
    for (const h of active) await host.t.platform.meter.release({ id: h.id } as MeteredHold);
    const ledger = await db
      .selectFrom("ledger_entries")
      .select("amount")
      .where("account_id", "=", world.owner.id)
      .where("reason", "=", "ai_usage")
      .execute();
    const ledgerMicros = -ledger.reduce((s, r) => s + Number(r.amount), 0);
    const conversation = (await world.apiOk(
      "GET",
      `/v1/projects/${world.project}/agent/conversations/${conversationId}`,
    )) as Conversation;
    const run = conversation.runs.find((r) => r.id === runId)!;
    if (!budgetExceeded && run.cost_micros > budgetMicros)
      budgetExceeded = `cost: ${usd(run.cost_micros)} is over the budget of ${usd(budgetMicros)}`;

    // A site run in `ask` mode proposes its changes: the customer applies them (as they would after reviewing
    // get_proposal), so the verifier judges the draft the run made.
    if (!world.instance) {
      const pending = (await world.apiOk("GET", `/v1/projects/${world.project}/proposals?status=pending`)) as {
        proposals: { id: string; run_id: string }[];
      };
      for (const p of pending.proposals.filter((x) => x.run_id === runId))
        await world.api("POST", `/v1/projects/${world.project}/proposals/${p.id}/apply`, { force: true });
    }

    let verdict: Verdict;
    try {
      verdict = await scenario.verify(world, {
        conversation,
        finalText: finalText(conversation),
        searches: tavily.requests.map((r) => String(r.body?.query ?? "")),
      });
    } catch (err) {
      verdict = { pass: false, messages: [`FAIL: the verifier could not check the world: ${(err as Error).message}`] };
    }
    const mismatches = await ledgerMismatches(db, world.owner.id);
    const messages = [...verdict.messages];
    if (mismatches.length) messages.push(`FAIL: the ledger and the balance disagree: ${JSON.stringify(mismatches)}`);
    if (active.length)
      messages.push(`FAIL: ${active.length} hold(s) were left active after the run (released by the harness)`);

    const reason = budgetExceeded
      ? `budget exceeded: ${budgetExceeded}`
      : status !== "done"
        ? `the run ended ${status}${run.error ? `: ${run.error.code}: ${run.error.message}` : ""}`
        : !verdict.pass
          ? (verdict.messages.find((m) => m.startsWith("FAIL")) ?? "the verifier failed")
          : mismatches.length || active.length
            ? "metering: the ledger or the holds are inconsistent"
            : null;

    if (!transcript && (opts.transcriptsDir || opts.record)) {
      const saved: Transcript = {
        label: "recorded",
        scenario: scenario.name,
        model: model.model,
        note: `recorded ${new Date().toISOString()}`,
        replies: recorded,
      };
      const name = `recorded-${slug(model.model)}${trial > 1 ? `-${trial}` : ""}`;
      if (opts.transcriptsDir) {
        transcriptFile = path.join(opts.transcriptsDir, scenario.name, `${slug(model.id)}-${trial}.json`);
        saveTranscript(transcriptFile, saved);
      }
      if (opts.record) {
        const file = transcriptPath(scenario.name, name, opts.scenariosDir);
        saveTranscript(file, saved);
        transcriptFile ??= file;
      }
    }

    return {
      ...base,
      source,
      pass: reason === null,
      reason,
      budgetExceeded,
      messages,
      runStatus: status,
      runError: run.error,
      steps: run.steps,
      inputTokens: run.input_tokens,
      outputTokens: run.output_tokens,
      costMicros: run.cost_micros,
      ledgerMicros,
      wallMs,
      approvals,
      holdsLeftActive: active.length,
      transcript: transcriptFile,
    };
  } finally {
    await workers?.stop();
    await fakeModel?.close();
    await tavily?.close();
    await world.close();
  }
}

/** Answers each pending approval of this run as the customer would, by the scenario's policy. */
async function answerApprovals(world: World, scenario: Scenario, runId: string, log: TrialResult["approvals"]) {
  const pending = (await world.apiOk("GET", `/v1/projects/${world.project}/agent/approvals`)) as {
    approvals: { id: string; run_id: string; tool: string; input: Record<string, unknown> }[];
  };
  for (const a of pending.approvals.filter((x) => x.run_id === runId)) {
    const subject = `${a.tool} ${JSON.stringify(a.input)}`;
    const deny = scenario.approvals.deny.some((re) => re.test(subject));
    const res = await world.api(
      "POST",
      `/v1/projects/${world.project}/agent/approvals/${a.id}/${deny ? "deny" : "approve"}`,
      deny ? { note: "no, do not do that" } : {},
    );
    // 409: decided already (by an earlier pass of this loop); anything else is the harness's own failure.
    if (res.status >= 300 && res.status !== 409)
      throw new Error(`answering approval ${a.id}: ${res.status} ${JSON.stringify(res.body)}`);
    if (res.status < 300)
      log.push({ tool: a.tool, input: JSON.stringify(a.input).slice(0, 300), decision: deny ? "denied" : "approved" });
  }
}

/**
 * Refuses a model call once the trial's budget is spent (steps, metered cost, wall time), before the call is
 * made, so an overrun costs nothing more. The runner then fails the run and gives back the call's hold.
 */
function budgetGuard(
  inner: ModelProvider,
  world: World,
  scenario: Scenario,
  deadline: number,
  exceeded: (why: string) => void,
): ModelProvider {
  const { steps, costUsd, wallSeconds } = scenario.budget;
  const costMicros = Math.round(costUsd * 1e6);
  return {
    name: inner.name,
    async complete(request) {
      const spent = await world.host.t.platform.db
        .selectFrom("agent_runs")
        .innerJoin("agent_conversations", "agent_conversations.id", "agent_runs.conversation_id")
        .innerJoin("projects", "projects.id", "agent_conversations.project_id")
        .select((eb) => [
          eb.fn.sum<string>("agent_runs.steps").as("steps"),
          eb.fn.sum<string>("agent_runs.cost_micros").as("cost"),
        ])
        .where("projects.slug", "=", world.project)
        .executeTakeFirstOrThrow();
      const why =
        Number(spent.steps ?? 0) >= steps
          ? `steps: all ${steps} model steps were used and the agent had not finished`
          : Number(spent.cost ?? 0) >= costMicros
            ? `cost: ${usd(Number(spent.cost))} spent of a budget of ${usd(costMicros)}`
            : Date.now() > deadline
              ? `wall time: the run took longer than ${wallSeconds}s`
              : null;
      if (why) {
        exceeded(why);
        throw new BosunError("unprocessable", `eval budget exceeded: ${why}`);
      }
      return inner.complete(request);
    },
  };
}

function finalText(c: Conversation): string {
  const last = c.messages.filter((m) => m.role === "assistant").at(-1);
  return (last?.content ?? [])
    .filter((b) => b.type === "text")
    .map((b) => b.text ?? "")
    .join("\n");
}

/** A trial that never ran far enough to measure anything. */
export function emptyResult(
  base: { scenario: string; model: string; trial: number },
  source: ResultSource,
): TrialResult {
  return {
    ...base,
    source,
    pass: false,
    reason: null,
    budgetExceeded: null,
    messages: [],
    runStatus: "not_started",
    runError: null,
    steps: 0,
    inputTokens: 0,
    outputTokens: 0,
    costMicros: 0,
    ledgerMicros: 0,
    wallMs: 0,
    approvals: [],
    holdsLeftActive: 0,
    transcript: null,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
