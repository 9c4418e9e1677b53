// One run, step by step. Every step is checkpointed in Postgres before the next begins: a model call's usage,
// cost and reply; a tool call as `started` before it is made and `done` after. So a run picked up by another
// worker after a crash resumes from its last checkpoint, never makes a tool call twice (a call caught
// `started` is reported to the model as interrupted), and parks on an approval without holding a process.
import crypto from "node:crypto";
import { sql } from "kysely";
import type { Logger } from "pino";
import { agentKinds } from "../core/agent/kinds.ts";
import { decide, type CommandRules } from "../core/agent/policy.ts";
import { runPrincipal } from "../core/agent/principal.ts";
import { applyTrifecta, conversationTaint, markUntrusted } from "../core/agent/trifecta.ts";
import { appendRunEvent, finishRun, transition } from "../core/agent/runs.ts";
import { capOutput, redact } from "../core/agent/safety.ts";
import { releaseHold } from "../core/billing/holds.ts";
import { microsNumber, toMicros } from "../core/billing/money.ts";
import type { MeteredHold } from "../core/billing/meter.ts";
import { TOKEN_PREFIX } from "../core/identity/authenticate.ts";
import { toBosunError } from "../core/kernel/errors.ts";
import type { Platform } from "../core/platform.ts";
import { inputTokenBound, type ChatMessage, type ContentBlock, type ModelProvider } from "./providers/provider.ts";
import { toolsForRun, type AgentTool, type Bridge } from "./tools.ts";

export interface RunnerDeps {
  platform: Platform;
  provider: ModelProvider;
  bridges: Bridge[];
  log: Logger;
}

type ToolUse = Extract<ContentBlock, { type: "tool_use" }>;
type ToolResult = Extract<ContentBlock, { type: "tool_result" }>;

const SECRET_PATTERNS = [new RegExp(`${TOKEN_PREFIX}[A-Za-z0-9_-]{20,}`, "g"), /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g];

/**
 * Advances a run until it finishes, parks on an approval, or the lease is lost (`stillLeased` false).
 * Returns what became of it.
 */
export async function executeRun(deps: RunnerDeps, runId: string, stillLeased: () => boolean, signal: AbortSignal): Promise<string> {
  const { platform } = deps;
  const db = platform.db;
  if (!(await transition(db, runId, ["queued", "running"], "running"))) return "not runnable";
  // A hold still active for this run belongs to an attempt that crashed mid-call: give it back.
  const stale = await db.selectFrom("holds").select("id").where("state", "=", "active").where(({ eb, ref }) => eb(ref("metadata", "->>").key("run_id" as never), "=", runId)).execute();
  for (const h of stale) await releaseHold(db, h.id);
  await appendRunEvent(platform, runId, "run_started", {});

  const secrets = [platform.config.agent.apiKey].filter((s): s is string => !!s);
  const clean = (text: string) => capOutput(redact(text, secrets, SECRET_PATTERNS));

  const fail = async (error: { code: string; message: string }) => {
    await finishRun(platform, runId, ["running"], "failed", error);
    return "failed";
  };

  for (;;) {
    if (!stillLeased() || signal.aborted) return "lease lost";
    const run = await db.selectFrom("agent_runs").selectAll().where("id", "=", runId).executeTakeFirstOrThrow();
    if (run.status !== "running") return run.status;
    const limits = platform.config.agent;
    if (run.steps >= limits.maxSteps) return fail({ code: "limit_reached", message: `the run reached its limit of ${limits.maxSteps} model steps` });
    if (Date.now() > run.deadline.getTime()) return fail({ code: "limit_reached", message: "the run reached its wall-time limit" });
    if (toMicros(run.cost_micros) >= BigInt(limits.maxCostMicros)) return fail({ code: "limit_reached", message: `the run reached its cost limit of $${(limits.maxCostMicros / 1e6).toFixed(2)}` });

    let principal;
    try {
      principal = await runPrincipal(platform, runId);
      await platform.credentialCheckers.get("agent_run")!(principal);
    } catch (err) {
      const e = toBosunError(err);
      return fail({ code: e.code, message: `the run's credential no longer holds: ${e.message}` });
    }
    const conv = await db.selectFrom("agent_conversations").selectAll().where("id", "=", run.conversation_id).executeTakeFirstOrThrow();
    const tools = toolsForRun(platform, conv.kind, principal, deps.bridges);
    const messages = (await db.selectFrom("agent_messages").select(["role", "content"]).where("conversation_id", "=", conv.id).orderBy("id").execute()).map(
      (m) => ({ role: m.role, content: m.content as ContentBlock[] }) as ChatMessage,
    );
    const last = messages.at(-1)!;
    const pending = last.role === "assistant" ? last.content.filter((b): b is ToolUse => b.type === "tool_use") : [];

    if (pending.length) {
      const rules = await commandRules(db, conv.project_id, conv.instance);
      const results: ToolResult[] = [];
      for (const use of pending) {
        const result = await toolStep(deps, runId, conv, rules, tools, use, clean);
        if (result === "parked") return "awaiting_approval";
        if (result === "stopped") return "stopped";
        results.push(result);
      }
      await db.insertInto("agent_messages").values({ conversation_id: conv.id, run_id: runId, role: "user", content: JSON.stringify(results) }).execute();
      continue;
    }
    if (last.role === "assistant") {
      // The model answered without tool calls: the turn is over.
      await finishRun(platform, runId, ["running"], "done");
      return "done";
    }

    // A model step: hold the most it can cost, call, settle the actual usage, checkpoint the reply.
    const request = { model: limits.model, system: agentKinds[conv.kind].system + instanceNote(conv.instance), messages, tools: [...tools.values()].map((t) => t.spec), maxTokens: limits.maxOutputTokens };
    let hold: MeteredHold;
    try {
      hold = await platform.meter.hold({
        accountId: principal.billedAccount!,
        model: request.model,
        inputTokens: inputTokenBound(request),
        maxOutputTokens: request.maxTokens,
        metadata: { run_id: runId, conversation_id: conv.id },
      });
    } catch (err) {
      const e = toBosunError(err);
      return fail({ code: e.code, message: e.code === "payment_required" || e.code === "spend_cap_reached" ? `stopped: ${e.message}` : e.message });
    }
    const started = performance.now();
    let response;
    try {
      response = await deps.provider.complete({ ...request, signal });
    } catch (err) {
      await platform.meter.release(hold);
      if (signal.aborted) return "lease lost";
      const e = toBosunError(err);
      return fail({ code: e.code, message: `the model call failed: ${e.message}` });
    }
    const settled = await platform.meter.settle(hold, response.usage, { conversationId: conv.id, runId, project: principal.pins.project });
    const usage = {
      input_tokens: response.usage.inputTokens,
      output_tokens: response.usage.outputTokens,
      cache_write_tokens: response.usage.cacheWriteTokens ?? 0,
      cache_read_tokens: response.usage.cacheReadTokens ?? 0,
      reasoning_tokens: response.usage.reasoningTokens ?? 0,
    };
    // An empty reply still closes the turn; the APIs refuse an assistant message with no content.
    const content = response.content.length ? response.content : [{ type: "text" as const, text: "" }];
    await db.transaction().execute(async (trx) => {
      await trx
        .insertInto("agent_steps")
        .values({ run_id: runId, kind: "model", state: "done", model: response.model, usage: JSON.stringify(usage), cost_micros: settled.charged, duration_ms: Math.round(performance.now() - started) })
        .execute();
      await trx.insertInto("agent_messages").values({ conversation_id: conv.id, run_id: runId, role: "assistant", content: JSON.stringify(content) }).execute();
      await trx
        .updateTable("agent_runs")
        .set((eb) => ({
          steps: eb("steps", "+", 1),
          cost_micros: sql<string>`cost_micros + ${settled.charged}`,
          input_tokens: sql<string>`input_tokens + ${usage.input_tokens + usage.cache_write_tokens + usage.cache_read_tokens}`,
          output_tokens: sql<string>`output_tokens + ${usage.output_tokens}`,
        }))
        .where("id", "=", runId)
        .execute();
    });
    // A bounded amount (what one call charged), so a safe JSON number.
    await appendRunEvent(platform, runId, "model_step", { model: response.model, usage, cost_micros: microsNumber(settled.charged) });
    for (const block of content) if (block.type === "text" && block.text) await appendRunEvent(platform, runId, "text", { text: block.text });
    if (settled.shortfall > 0n) return fail({ code: "payment_required", message: "stopped: the AI credit ran out during the last model call" });
  }
}

/** The owner's command rules of the conversation's instance (none for a site). */
async function commandRules(db: Platform["db"], projectId: string, instance: string | null): Promise<CommandRules> {
  if (!instance) return { allow: [], deny: [] };
  const row = await db.selectFrom("instances").select("agent_command_rules").where("project_id", "=", projectId).where("name", "=", instance).executeTakeFirst();
  return row?.agent_command_rules ?? { allow: [], deny: [] };
}

const instanceNote = (instance: string | null) => (instance ? `\n\nThe server you operate is the instance '${instance}'.` : "");

/** One tool call: its checkpoint, the approval policy, the call itself. */
async function toolStep(
  deps: RunnerDeps,
  runId: string,
  conv: { id: string; mode: "ask" | "auto" | "read_only" },
  rules: CommandRules,
  tools: Map<string, AgentTool>,
  use: ToolUse,
  clean: (text: string) => string,
): Promise<ToolResult | "parked" | "stopped"> {
  const { platform } = deps;
  const db = platform.db;
  const result = (content: string, isError = false): ToolResult => ({ type: "tool_result", toolUseId: use.id, content, ...(isError ? { isError } : {}) });

  const step = await db.selectFrom("agent_steps").selectAll().where("run_id", "=", runId).where("tool_use_id", "=", use.id).executeTakeFirst();
  if (step?.state === "done") return result(step.output ?? "", step.is_error);
  if (step) {
    // Started and never finished: the worker died during the call. Its effect is unknown, so it is not repeated.
    const message = "interrupted: the runner restarted during this call, so whether it took effect is unknown; check before repeating it";
    await db.updateTable("agent_steps").set({ state: "interrupted", output: message, is_error: true }).where("id", "=", step.id).execute();
    return result(message, true);
  }

  const tool = tools.get(use.name);
  if (!tool) return recordRefusal(deps, runId, use, `no tool '${use.name}' is available to this agent`, result);
  let decision = decide(conv.mode, { tool: use.name, effect: tool.effect, tags: tool.tags, input: use.input }, rules);
  // The lethal trifecta: after untrusted input, an outbound tool needs a person (or is refused in read_only).
  if (tool.traits.outbound) decision = applyTrifecta(conv.mode, decision, use.name, tool.traits, await conversationTaint(db, conv.id));
  if (decision.action === "deny") return recordRefusal(deps, runId, use, `refused by policy: ${decision.reason}`, result);
  if (decision.action === "ask") {
    const approval = await db.selectFrom("agent_approvals").selectAll().where("run_id", "=", runId).where("tool_use_id", "=", use.id).executeTakeFirst();
    if (!approval) {
      const id = crypto.randomUUID();
      const parked = await db.transaction().execute(async (trx) => {
        if (!(await transition(trx, runId, ["running"], "awaiting_approval"))) return false;
        await trx
          .insertInto("agent_approvals")
          .values({ id, run_id: runId, conversation_id: conv.id, tool_use_id: use.id, tool: use.name, input: JSON.stringify(use.input), reason: decision.reason })
          .execute();
        await appendRunEvent(platform, runId, "approval_requested", { approval_id: id, tool: use.name, input: use.input, reason: decision.reason }, trx);
        return true;
      });
      return parked ? "parked" : "stopped";
    }
    if (approval.status === "pending") return "parked";
    if (approval.status === "cancelled") return "stopped";
    if (approval.status === "denied") {
      return recordRefusal(deps, runId, use, `the user denied this call${approval.note ? `: ${approval.note}` : ""}`, result);
    }
  }

  // Least privilege by the OS: outside `auto`, a call that runs with no person's approval and no owner's rule
  // (a command the classifier judged read-only, or an instance read tool) reaches the server as the instance's
  // observer login when it has one (core/instances/runtime.ts reach()), so a classifier mistake meets the OS's
  // "permission denied" instead of the operator's rights. Pinned here, from the decision: the model cannot
  // choose the login, and a call a person approved (decision "ask", then approved) keeps the operator login.
  const serverLogin =
    decision.action === "run" && (decision.readOnly === true || (conv.mode !== "auto" && tool.effect === "read" && tool.tags.includes("instances")))
      ? ("observer" as const)
      : undefined;

  // Tainted before the call, so a crash mid-call cannot leave a run that read untrusted content untainted.
  if (tool.traits.untrusted) await markUntrusted(db, runId, use.name);
  const inserted = await db
    .insertInto("agent_steps")
    .values({ run_id: runId, kind: "tool", state: "started", tool_use_id: use.id, tool: use.name, input: JSON.stringify(use.input) })
    .returning("id")
    .executeTakeFirstOrThrow();
  await appendRunEvent(platform, runId, "tool_call", { tool: use.name, input: use.input });
  const started = performance.now();
  let output: string;
  let isError = false;
  try {
    output = clean(await tool.execute(use.input, { requestId: `run-${runId}-${use.id}`.slice(0, 128), signal: new AbortController().signal, serverLogin }));
  } catch (err) {
    const e = toBosunError(err);
    if (e.code === "internal") deps.log.error({ err, tool: use.name, runId }, "agent tool failed");
    output = clean(JSON.stringify({ error: e.toJSON() }));
    isError = true;
  }
  const durationMs = Math.round(performance.now() - started);
  await db.updateTable("agent_steps").set({ state: "done", output, is_error: isError, duration_ms: durationMs }).where("id", "=", inserted.id).execute();
  await appendRunEvent(platform, runId, "tool_result", { tool: use.name, is_error: isError, duration_ms: durationMs, bytes: output.length, ...exitCodeOf(output) });
  return result(output, isError);
}

/** A command's exit code, for surfaces that show it (Telegram's `$ cmd → exit 0`); nothing for other tools. */
function exitCodeOf(output: string): { exit_code?: number | null } {
  const m = /^\{"exit_code":(-?\d+|null)[,}]/.exec(output);
  return m ? { exit_code: m[1] === "null" ? null : Number(m[1]) } : {};
}

async function recordRefusal(deps: RunnerDeps, runId: string, use: ToolUse, message: string, result: (c: string, e?: boolean) => ToolResult): Promise<ToolResult> {
  await deps.platform.db
    .insertInto("agent_steps")
    .values({ run_id: runId, kind: "tool", state: "done", tool_use_id: use.id, tool: use.name, input: JSON.stringify(use.input), output: message, is_error: true, duration_ms: 0 })
    .execute();
  await appendRunEvent(deps.platform, runId, "tool_refused", { tool: use.name, reason: message });
  return result(message, true);
}
