// `npm run bench agent`: the agent runner's own cost per step — leasing, checkpoints, the billing hold and
// settle, the transcript, the tool call through the invoker, events — against a fake Anthropic server that
// answers at once, reported beside the raw round trip of the same SDK call to that server. Each step of the
// scripted run is one model call answered with one cheap tool call (list_files), then a final text.
// Env: BENCH_AGENT_STEPS (30), BENCH_ROUNDS (10, after 3 warm-up runs).

import pino from "pino";
import { createAnthropicProvider } from "../agent-runner/providers/anthropic.ts";
import { RunWorkers } from "../agent-runner/worker.ts";
import { credit } from "../core/billing/ledger.ts";
import { loadConfig } from "../core/config.ts";
import { startFakeAnthropic } from "../testkit/fake-anthropic.ts";
import { startTestPlatform } from "../testkit/harness.ts";
import { type QueryRows, tapQueries } from "../testkit/tap-queries.ts";

const steps = Number(process.env.BENCH_AGENT_STEPS ?? 30);
const rounds = Number(process.env.BENCH_ROUNDS ?? 10);
const WARMUP_RUNS = 3;
const MODEL = "claude-sonnet-5-5";
const GOAL_OVERHEAD_MS = 5; // issue 19: the runner's own cost per step

/**
 * Counts what the runner sends the database while `on`: statements, and commits among them (a COMMIT, or a write
 * outside a transaction: autocommit). A commit that does not wait for the disk is counted apart: the hold, and
 * the checkpoints that report `synchronous_commit` 'off' as their statement saw it (core/kernel/commit-mode.ts).
 * The bench's own polling of the run is left out. BENCH_STATEMENTS=1 lists them by text, with the time spent
 * waiting on each.
 */
function countStatements() {
  const c = {
    on: false,
    statements: 0,
    commits: 0,
    asyncCommits: 0,
    byText: new Map<string, { n: number; ms: number }>(),
  };
  const inTx = new WeakSet<object>();
  const byText = !!process.env.BENCH_STATEMENTS;
  tapQueries((text, client) => {
    if (!c.on || text.includes('"status", "error" from "agent_runs"')) return undefined;
    // A leading comment (`/* prepare:name */`) is not the statement's head.
    const head = text
      .replace(/^\s*\/\*.*?\*\/\s*/s, "")
      .slice(0, 6)
      .toLowerCase();
    c.statements++;
    let commitMode: ((answer: QueryRows) => void) | undefined;
    if (head === "begin") inTx.add(client);
    else if (head === "commit" || head === "rollba") {
      inTx.delete(client);
      if (head === "commit") c.commits++;
    } else if (!inTx.has(client) && head !== "select") {
      if (text.includes("prepare:billing_hold")) c.asyncCommits++;
      // Known only from its answer: the statement reports the setting it committed under.
      else if (text.includes("commit_mode AS"))
        commitMode = (answer) => (answer.rows?.[0]?.synchronous_commit === "off" ? c.asyncCommits++ : c.commits++);
      else c.commits++;
    }
    if (!byText) return commitMode; // the listing's own string work would weigh on the step it measures
    const key = text.replace(/\s+/g, " ").trim().slice(0, 100);
    const entry = c.byText.get(key) ?? { n: 0, ms: 0 };
    c.byText.set(key, entry);
    entry.n++;
    const t0 = performance.now();
    return (answer) => {
      entry.ms += performance.now() - t0;
      commitMode?.(answer);
    };
  });
  return c;
}

export default async function main() {
  const counts = countStatements();
  const fake = await startFakeAnthropic();
  const agent = { ...loadConfig({}).agent, apiKey: "sk-bench", model: MODEL, maxSteps: steps + 5, workers: 0 };
  const t = await startTestPlatform({ config: { agent } });
  const provider = createAnthropicProvider({
    apiKey: "sk-bench",
    baseURL: fake.baseURL,
    maxRetries: 0,
    promptCaching: true,
  });
  const workers = new RunWorkers(
    { platform: t.platform, provider, bridges: [], log: pino({ level: "warn" }) },
    { concurrency: 1, pollMs: 5 },
  ).start();
  try {
    const user = await t.account();
    const token = await user.token(["*"]);
    await credit(t.platform.db, { accountId: user.id, pool: "ai_credits", amount: 1e12, reason: "top_up" });
    await t.request("POST", "/v1/projects", { token, body: { slug: "bench-site", name: "Bench", kind: "site" } });

    process.stdout.write(
      `Bosun bench: agent runner overhead per step, ${steps} tool-calling steps per run, ${rounds} runs after ${WARMUP_RUNS} warm-up runs\n` +
        `  database: ${t.platform.dbKind === "postgres" ? "Postgres (fresh database)" : "embedded PGlite"}; model: fake Anthropic server on loopback, answering at once\n\n`,
    );
    let runnerMs = 0;
    let rawMs = 0;
    // CPU time of this process (runner, SDK and the fake model alike), which load on a shared machine inflates less
    // than wall-clock time (no waiting for a core or the disk): the runner's own is the difference from the raw calls'.
    let runnerCpuUs = 0;
    let rawCpuUs = 0;
    const cpu = () => {
      const u = process.cpuUsage();
      return u.user + u.system;
    };
    let rawRequest: Parameters<typeof provider.complete>[0] | null = null;
    // The first runs warm up and are not counted: the JIT's tiers (a step's time settles after about 100 steps), and
    // each pooled connection's first plans of the prepared checkpoints (Postgres plans a statement for its values
    // five times before it settles on a generic plan), are costs of a process's first minutes, not of its steps.
    for (let r = -WARMUP_RUNS; r < rounds; r++) {
      const counted = r >= 0;
      fake.script([
        ...Array.from({ length: steps }, () => ({ toolUse: { name: "list_files", input: {} } })),
        { text: "done" },
      ]);
      const started = performance.now();
      const startedCpu = cpu();
      counts.on = counted;
      const res = await t.request("POST", "/v1/projects/bench-site/agent/conversations", {
        token,
        body: { project: "bench-site", message: "look", mode: "auto" },
      });
      const { run_id: runId } = res.body as { run_id: string };
      for (;;) {
        // No query of the bench's own while the model still has replies to give: its CPU and round trips are not
        // the runner's.
        if (fake.pending() > 0) {
          await new Promise((res) => setTimeout(res, 5));
          continue;
        }
        const run = await t.platform.db
          .selectFrom("agent_runs")
          .select(["status", "error"])
          .where("id", "=", runId)
          .executeTakeFirstOrThrow();
        if (run.status === "done") break;
        if (run.status === "failed") throw new Error(`bench run failed: ${JSON.stringify(run.error)}`);
        await new Promise((res) => setTimeout(res, 1));
      }
      if (counted) {
        runnerMs += performance.now() - started;
        runnerCpuUs += cpu() - startedCpu;
      }
      counts.on = false;

      // The same number of model calls, straight through the SDK, with a request the size of the run's last one.
      if (!rawRequest) {
        const last = JSON.parse(fake.requests.at(-1)!.rawBody) as {
          system: { text: string }[];
          messages: unknown[];
          tools: { name: string; description: string; input_schema: Record<string, unknown> }[];
        };
        rawRequest = {
          model: MODEL,
          system: last.system.map((s) => s.text).join(""),
          messages: [{ role: "user", content: [{ type: "text", text: JSON.stringify(last.messages) }] }],
          tools: last.tools.map((x) => ({ name: x.name, description: x.description, inputSchema: x.input_schema })),
          maxTokens: 1024,
        };
      }
      fake.script(Array.from({ length: steps + 1 }, () => ({ text: "ok" })));
      const rawStart = performance.now();
      const rawCpu = cpu();
      for (let i = 0; i <= steps; i++) await provider.complete(rawRequest);
      if (counted) {
        rawMs += performance.now() - rawStart;
        rawCpuUs += cpu() - rawCpu;
      }
    }
    const perStep = runnerMs / (rounds * (steps + 1));
    const rawPerCall = rawMs / (rounds * (steps + 1));
    const overhead = perStep - rawPerCall;
    const rows = [
      ["case", "ms per step", "goal", ""],
      ["raw SDK round trip to the fake model", rawPerCall.toFixed(2), "", ""],
      ["runner step (model call + tool call + checkpoints)", perStep.toFixed(2), "", ""],
      [
        "runner overhead (the difference)",
        overhead.toFixed(2),
        `< ${GOAL_OVERHEAD_MS}`,
        overhead < GOAL_OVERHEAD_MS ? "ok" : "MISSED",
      ],
    ];
    const w = Math.max(...rows.map((r) => r[0]!.length));
    for (const [a, b, goal, verdict] of rows)
      process.stdout.write(`${`${a!.padEnd(w)}  ${b!.padStart(11)}  ${goal!.padEnd(5)}  ${verdict}`.trimEnd()}\n`);
    process.stdout.write(`ratio runner step / raw round trip: ${(perStep / rawPerCall).toFixed(1)}\n`);
    const cpuPer = (us: number) => us / 1000 / (rounds * (steps + 1));
    process.stdout.write(
      `CPU of this process per step: runner ${cpuPer(runnerCpuUs).toFixed(2)} ms, raw round trip ${cpuPer(rawCpuUs).toFixed(2)} ms, ` +
        `the runner's own ${(cpuPer(runnerCpuUs) - cpuPer(rawCpuUs)).toFixed(2)} ms (less sensitive to load than wall time)\n`,
    );
    // A step here is a model call and its tool call (a run of N steps makes N+1 model calls).
    const per = (n: number) => (n / (rounds * steps)).toFixed(1);
    process.stdout.write(
      `per step: ${per(counts.statements)} SQL statements, ${per(counts.commits)} durable commits + ${per(counts.asyncCommits)} asynchronous\n`,
    );
    if (process.env.BENCH_STATEMENTS)
      for (const [text, { n, ms }] of [...counts.byText].sort((a, b) => b[1].ms - a[1].ms))
        process.stdout.write(`  ${per(n).padStart(5)} × ${(ms / n).toFixed(2).padStart(6)} ms  ${text}\n`);
  } finally {
    await workers.stop();
    await t.close();
    await fake.close();
  }
}
