// One run, step by step. Every step is checkpointed (by core/agent/run-state.ts) before the next begins: a model call's usage,
// cost and reply; a tool call as `started` before it is made and `done` after. So a run picked up by another
// worker after a crash resumes from its last checkpoint, never makes a tool call twice (a call caught
// `started` is reported to the model as interrupted), and parks on an approval without holding a process.
// Only the model step (money) and the start of a call with an effect wait for the disk; a read's start (but one made
// with the model step) and every result commit asynchronously, which a crash of the database server alone can lose,
// and only with everything after them: the resumed run then reads again, or finds the call `started` (interrupted),
// as after a crash during the call (docs/agent.md#durability). A crash of this process loses nothing committed.
import type { Logger } from "pino";
import { approvalOf, requestApproval } from "../core/agent/approvals.ts";
import { agentKinds } from "../core/agent/kinds.ts";
import { type CommandRules, decide } from "../core/agent/policy.ts";
import { runPrincipal } from "../core/agent/principal.ts";
import {
  abandonToolStep,
  beginRun,
  beginToolStep,
  commandRulesOf,
  completeModelStep,
  completeToolStep,
  loadConversation,
  loadRun,
  loadTranscript,
  priorToolStep,
  type RunState,
  recordMessage,
  recordRefusal,
  type StartedTool,
} from "../core/agent/run-state.ts";
import { finishRun } from "../core/agent/runs.ts";
import { capOutput, redact } from "../core/agent/safety.ts";
import { applyTrifecta, conversationTaint } from "../core/agent/trifecta.ts";
import type { HoldRequest } from "../core/billing/holds.ts";
import type { HoldFor, MeteredHold } from "../core/billing/meter.ts";
import { minMicros, toMicros, usdText } from "../core/billing/money.ts";
import { TOKEN_PREFIX } from "../core/identity/authenticate.ts";
import { toBosunError, unauthorized } from "../core/kernel/errors.ts";
import type { Credential, Operation } from "../core/kernel/operation.ts";
import type { Platform } from "../core/platform.ts";
import { lands, proposalAround } from "../core/sites/proposals.ts";
import { type ChatMessage, type ContentBlock, inputTokenBound, type ModelProvider } from "./providers/provider.ts";
import { type AgentTool, type Bridge, toolsForRun } from "./tools.ts";

export interface RunnerDeps {
  platform: Platform;
  provider: ModelProvider;
  bridges: Bridge[];
  log: Logger;
}

type ToolUse = Extract<ContentBlock, { type: "tool_use" }>;
type ToolResult = Extract<ContentBlock, { type: "tool_result" }>;
/** The checkpoint of a step's last tool call, with the step's results and the next model call's hold. */
type RecordResults = (hold?: HoldRequest) => Promise<{ run: RunState; held: boolean }>;

const SECRET_PATTERNS = [
  new RegExp(`${TOKEN_PREFIX}[A-Za-z0-9_-]{20,}`, "g"),
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g,
];

/**
 * Advances a run until it finishes, parks on an approval, or the lease is lost (`stillLeased` false).
 * Returns what became of it.
 */
export async function executeRun(
  deps: RunnerDeps,
  runId: string,
  stillLeased: () => boolean,
  signal: AbortSignal,
): Promise<string> {
  const { platform } = deps;
  if (!(await beginRun(platform, runId))) return "not runnable";

  const secrets = [platform.config.agent.apiKey].filter((s): s is string => !!s);
  const clean = (text: string) => capOutput(redact(text, secrets, SECRET_PATTERNS));

  const fail = async (error: { code: string; message: string }) => {
    await finishRun(platform, runId, ["running"], "failed", error);
    return "failed";
  };

  // What does not change during a run is read once: the run's principal and conversation (a new message, which
  // could change them, starts a new run only after this one ends) and the transcript, which only this run
  // appends to while it runs (the loop adds what it records). The run's status and limits come back from each
  // checkpoint (`run` below), so a step reads the run only after a write that did not return it; each step still
  // re-checks its credential.
  let principal: Awaited<ReturnType<typeof runPrincipal>>;
  try {
    principal = await runPrincipal(platform, runId);
  } catch (err) {
    const e = toBosunError(err);
    return fail({ code: e.code, message: `the run's credential no longer holds: ${e.message}` });
  }
  const conv = await loadConversation(platform, (await loadRun(platform, runId)).conversation_id);
  // A site run in `ask` mode proposes its draft changes; in `auto` it writes them and records them (proposals.ts).
  const run0 = { runId, conversationId: conv.id, accountId: principal.account.id };
  const sandbox =
    conv.kind === "site_editor" && conv.mode !== "read_only"
      ? {
          around: (op: Operation) =>
            proposalAround(platform, { ...run0, mode: conv.mode === "auto" ? "auto" : "ask" }, op),
          lands: (op: Operation) => lands(conv.mode, op),
        }
      : undefined;
  const tools = toolsForRun(platform, conv.kind, principal, deps.bridges, sandbox);
  const messages = (await loadTranscript(platform, conv.id)).map(
    (m) => ({ role: m.role, content: m.content as ContentBlock[] }) as ChatMessage,
  );
  const rules = await commandRulesOf(platform, conv.project_id, conv.instance);
  // Tool calls the model made in this process: no earlier attempt can have started them, so no checkpoint to look up.
  const fresh = new Set<string>();
  // The run as the last checkpoint left it (its latest status: a cancel that committed before it is seen); null:
  // read it.
  let known: RunState | null = null;
  const limits = platform.config.agent;
  const specs = [...tools.values()].map((t) => t.spec);
  const modelRequest = () => ({
    model: limits.model,
    system: agentKinds[conv.kind].system + instanceNote(conv.instance),
    messages,
    tools: specs,
    maxTokens: limits.maxOutputTokens,
  });
  // The hold for a model call: the most it can cost.
  const holdOf = (request: ReturnType<typeof modelRequest>): HoldFor => ({
    accountId: principal.billedAccount,
    model: request.model,
    inputTokens: inputTokenBound(request),
    maxOutputTokens: request.maxTokens,
    metadata: { run_id: runId, conversation_id: conv.id },
  });
  // The next model call's hold, placed with the checkpoint of the tool results before it (or why it was refused).
  let placed: { hold: MeteredHold } | { refused: unknown } | null = null;
  // The reply's first tool call when the model step's statement started it (startWith).
  let preStarted: { useId: string; step: StartedTool } | null = null;

  // Whether the run goes on to its next step: null, or what became of it.
  const stopped = async (): Promise<string | null> => {
    if (!stillLeased() || signal.aborted) return "lease lost";
    const run = known ?? (await loadRun(platform, runId));
    known = null;
    if (run.status !== "running") return run.status;
    if (run.steps >= limits.maxSteps)
      return fail({ code: "limit_reached", message: `the run reached its limit of ${limits.maxSteps} model steps` });
    if (Date.now() > run.deadline.getTime())
      return fail({ code: "limit_reached", message: "the run reached its wall-time limit" });
    // A run may carry a cap of its own (a schedule's budget), never above the operator's.
    const costCap =
      run.max_cost_micros === null
        ? BigInt(limits.maxCostMicros)
        : minMicros(toMicros(run.max_cost_micros), BigInt(limits.maxCostMicros));
    if (toMicros(run.cost_micros) >= costCap)
      return fail({ code: "limit_reached", message: `the run reached its cost limit of ${usdText(costCap)}` });

    // The run's own check (agentRunChecker) without its query: the run's status was just read above, and the
    // conversation's credential is fixed while this run lives. The person's credential is re-checked (cached,
    // evicted on revocation in every process); the tool calls' invocations still run the full check.
    try {
      const underlying = platform.credentialCheckers.get(conv.credential_kind as Credential["kind"]);
      if (!underlying) throw unauthorized(`the run's credential kind '${conv.credential_kind}' is not accepted`);
      await underlying({
        ...principal,
        credential: { kind: conv.credential_kind, id: conv.credential_id } as Credential,
      });
    } catch (err) {
      const e = toBosunError(err);
      return fail({ code: e.code, message: `the run's credential no longer holds: ${e.message}` });
    }
    return null;
  };

  for (;;) {
    const held = placed;
    placed = null;
    const stop = await stopped();
    if (stop !== null) {
      if (held && "hold" in held) await platform.meter.release(held.hold);
      // A call the model step started and the run will not make: recorded as not made (unless another worker now
      // holds the run: then it is that worker's, as after a crash).
      if (preStarted && stop !== "lease lost") await abandonToolStep(platform, runId, preStarted.step.id);
      return stop;
    }
    const last = messages.at(-1)!;
    const pending = last.role === "assistant" ? last.content.filter((b): b is ToolUse => b.type === "tool_use") : [];

    if (pending.length) {
      const pre = preStarted;
      preStarted = null;
      const results: ToolResult[] = [];
      let record: RecordResults | undefined;
      for (const [i, use] of pending.entries()) {
        // The step's last call records the tool results in the transcript with its own checkpoint.
        const tail = i === pending.length - 1 ? results : undefined;
        const started = pre?.useId === use.id ? pre.step : undefined;
        const result = await toolStep(deps, runId, conv, rules, tools, use, clean, {
          resumed: !fresh.has(use.id),
          tail,
          started,
        });
        if (result === "parked") return "awaiting_approval";
        if (result === "stopped") return "stopped";
        results.push(result.result);
        record = result.record;
      }
      messages.push({ role: "user", content: results });
      // The next model call's hold goes with the results' checkpoint, in its statement (both commit asynchronously).
      // Refused there, or with no such checkpoint (the last call was refused or made before), the meter places it
      // (or says why not: the model step fails the run with that). The top of the loop gives it back if the run
      // stops there.
      const next = modelRequest();
      const request = platform.meter.holdRequest(holdOf(next));
      let withResults = false;
      if (record) ({ run: known, held: withResults } = await record(request ?? undefined));
      else await recordMessage(platform, runId, conv.id, "user", results);
      placed =
        withResults && request
          ? { hold: platform.meter.placed(request) }
          : await platform.meter.hold(holdOf(next)).then(
              (hold) => ({ hold }),
              (refused: unknown) => ({ refused }),
            );
      continue;
    }
    if (last.role === "assistant") {
      // The model answered without tool calls: the turn is over.
      await finishRun(platform, runId, ["running"], "done");
      return "done";
    }

    // A model step: hold the most it can cost (unless placed already), call, settle the actual usage, checkpoint
    // the reply.
    const request = modelRequest();
    let hold: MeteredHold;
    try {
      if (held && "refused" in held) throw held.refused;
      hold = held ? held.hold : await platform.meter.hold(holdOf(request));
    } catch (err) {
      const e = toBosunError(err);
      return fail({
        code: e.code,
        message: e.code === "payment_required" || e.code === "spend_cap_reached" ? `stopped: ${e.message}` : e.message,
      });
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
    const usage = {
      input_tokens: response.usage.inputTokens,
      output_tokens: response.usage.outputTokens,
      cache_write_tokens: response.usage.cacheWriteTokens ?? 0,
      cache_read_tokens: response.usage.cacheReadTokens ?? 0,
      reasoning_tokens: response.usage.reasoningTokens ?? 0,
    };
    // An empty reply still closes the turn; the APIs refuse an assistant message with no content.
    const content = response.content.length ? response.content : [{ type: "text" as const, text: "" }];
    const start = startWith(conv, rules, tools, content);
    const {
      settled,
      run: after,
      started: made,
    } = await completeModelStep(
      platform,
      runId,
      conv.id,
      { model: response.model, usage, durationMs: Math.round(performance.now() - started), content },
      platform.meter.charge(hold, response.usage, { conversationId: conv.id, runId, project: principal.pins.project }),
      start,
    );
    known = after;
    preStarted = start && made ? { useId: start.use.id, step: made } : null;
    messages.push({ role: "assistant", content });
    for (const block of content) if (block.type === "tool_use") fresh.add(block.id);
    if (settled.shortfall > 0n)
      return fail({ code: "payment_required", message: "stopped: the AI credit ran out during the last model call" });
  }
}

const instanceNote = (instance: string | null) =>
  instance ? `\n\nThe server you operate is the instance '${instance}'.` : "";

type Conv = Parameters<typeof toolStep>[2];

/** The approval policy's decision for a call, before the trifecta (which needs the run's taint: outbound tools). */
const policyOf = (mode: Conv["mode"], rules: CommandRules, tool: AgentTool, use: ToolUse) =>
  decide(
    mode,
    { tool: use.name, effect: tool.effect, tags: tool.tags, input: use.input, proposed: tool.proposes },
    rules,
  );

/** Whose access to the project a tool call's start reads for the invoker: the person the run acts for. */
const callerOf = (conv: Conv) => ({ projectId: conv.project_id, accountId: conv.account_id });

/**
 * The start the model step's statement makes with the reply (one round trip fewer a step): its first tool call,
 * when it is fresh and the policy lets it run with no person and no read of the run (an outbound tool's trifecta
 * reads the taint first); otherwise none, and toolStep makes it.
 */
function startWith(conv: Conv, rules: CommandRules, tools: Map<string, AgentTool>, content: ContentBlock[]) {
  const use = content.find((b): b is ToolUse => b.type === "tool_use");
  const tool = use && tools.get(use.name);
  if (!use || !tool || tool.traits.outbound || policyOf(conv.mode, rules, tool, use).action !== "run") return undefined;
  return { use, tool: { effect: tool.effect, untrusted: tool.traits.untrusted }, caller: callerOf(conv) };
}

/** One tool call: its checkpoint, the approval policy, the call itself. */
async function toolStep(
  deps: RunnerDeps,
  runId: string,
  conv: {
    id: string;
    project_id: string;
    account_id: string;
    mode: "ask" | "auto" | "read_only";
    credential_kind: string;
    credential_id: string;
  },
  rules: CommandRules,
  tools: Map<string, AgentTool>,
  use: ToolUse,
  clean: (text: string) => string,
  at: {
    /** Whether an earlier attempt of the run may have made this call already (a resumed run). */
    resumed: boolean;
    /** The step's results before this call, when it is the step's last: recorded with its checkpoint (`record`). */
    tail?: ToolResult[];
    /** Its start, when the model step's statement made it (the reply's first call: `startWith`). */
    started?: StartedTool;
  },
): Promise<{ result: ToolResult; record?: RecordResults } | "parked" | "stopped"> {
  const { resumed, tail } = at;
  const { platform } = deps;
  const result = (content: string, isError = false): ToolResult => ({
    type: "tool_result",
    toolUseId: use.id,
    content,
    ...(isError ? { isError } : {}),
  });
  const refuse = async (message: string) => {
    await recordRefusal(platform, runId, use, message);
    return { result: result(message, true) };
  };

  // Made before (done), or started and never finished (interrupted: not repeated): its checkpointed result.
  const prior = resumed ? await priorToolStep(platform, runId, use.id) : null;
  if (prior) return { result: result(prior.output, prior.isError) };

  const tool = tools.get(use.name);
  if (!tool) return refuse(`no tool '${use.name}' is available to this agent`);
  let decision = policyOf(conv.mode, rules, tool, use);
  // The lethal trifecta: after untrusted input, an outbound tool needs a person (or is refused in read_only).
  if (tool.traits.outbound)
    decision = applyTrifecta(conv.mode, decision, use.name, tool.traits, await conversationTaint(platform, conv.id));
  if (decision.action === "deny") return refuse(`refused by policy: ${decision.reason}`);
  if (decision.action === "ask") {
    const approval = await approvalOf(platform, runId, use.id);
    if (!approval)
      return (await requestApproval(platform, runId, conv.id, use, decision.reason)) ? "parked" : "stopped";
    if (approval.status === "pending") return "parked";
    if (approval.status === "cancelled") return "stopped";
    if (approval.status === "denied") {
      return refuse(`the user denied this call${approval.note ? `: ${approval.note}` : ""}`);
    }
  }

  // Least privilege by the OS: outside `auto`, a call that runs with no person's approval and no owner's rule
  // (a command the classifier judged read-only, or an instance read tool) reaches the server as the instance's
  // observer login when it has one (core/instances/runtime.ts reach()), so a classifier mistake meets the OS's
  // "permission denied" instead of the operator's rights. Pinned here, from the decision: the model cannot
  // choose the login, and a call a person approved (decision "ask", then approved) keeps the operator login.
  const serverLogin =
    decision.action === "run" &&
    (decision.readOnly === true || (conv.mode !== "auto" && tool.effect === "read" && tool.tags.includes("instances")))
      ? ("observer" as const)
      : undefined;

  // Started (and, for an untrusted result, the run tainted) before the call: so a crash mid-call cannot leave a run
  // that read untrusted content untainted, nor one that made a call with an effect without its `started` record.
  const step =
    at.started ??
    (await beginToolStep(
      platform,
      runId,
      use,
      { effect: tool.effect, untrusted: tool.traits.untrusted },
      callerOf(conv),
    ));
  if (!step) return "stopped"; // the run was cancelled meanwhile: the call is not made
  const started = performance.now();
  let output: string;
  let isError = false;
  try {
    output = clean(
      await tool.execute(use.input, {
        requestId: `run-${runId}-${use.id}`.slice(0, 128),
        signal: new AbortController().signal,
        serverLogin,
        // The start checkpoint just saw the run running and read the person's access: the invoker need not read
        // either again (principal.ts).
        seen: {
          credential: { kind: conv.credential_kind, id: conv.credential_id } as Credential,
          project: step.project,
        },
      }),
    );
  } catch (err) {
    const e = toBosunError(err);
    if (e.code === "internal") deps.log.error({ err, tool: use.name, runId }, "agent tool failed");
    output = clean(JSON.stringify({ error: e.toJSON() }));
    isError = true;
  }
  const durationMs = Math.round(performance.now() - started);
  const done = result(output, isError);
  const checkpoint = (hold?: HoldRequest) =>
    completeToolStep(
      platform,
      runId,
      step.id,
      use.name,
      { output, isError, durationMs },
      tail && { conversationId: conv.id, content: [...tail, done], hold },
    );
  // The step's last call leaves its checkpoint (with the step's results message) to the caller, to place the next
  // model call's hold with.
  if (tail) return { result: done, record: checkpoint };
  await checkpoint();
  return { result: done };
}
