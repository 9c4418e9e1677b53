// Tool calls waiting for a person: the runner parks a run on one, and whoever decides first — REST, MCP or
// Telegram — wins; the decision re-queues the run. A denied call reaches the model as a refused tool result.
import crypto from "node:crypto";
import { z } from "zod";
import { publishEvent } from "../events/publish.ts";
import { enqueue } from "../jobs/queue.ts";
import { iso, ProjectRef, Timestamp } from "../kernel/common.ts";
import { conflict, insufficientScope, notFound } from "../kernel/errors.ts";
import { type Context, defineOperation, type ProjectContext } from "../kernel/operation.ts";
import { hasScope, roleCaps } from "../kernel/scopes.ts";
import type { Platform } from "../platform.ts";
import { agentKinds } from "./kinds.ts";
import { derivedHidden, eventCutoff, type Hidden, readerOf } from "./redaction.ts";
import { appendRunEvent, queueScheduleReport, RUN_QUEUE, transition } from "./runs.ts";

const Approval = z
  .object({
    id: z.string(),
    conversation_id: z.string(),
    run_id: z.string(),
    tool: z.string(),
    input: z.record(z.string(), z.unknown()),
    reason: z.string().meta({ description: "Why it needs approval" }),
    status: z.enum(["pending", "approved", "denied", "cancelled"]),
    created_at: Timestamp,
    hidden: z.object({ required_scope: z.string(), reason: z.string() }).optional().meta({
      description:
        "Present when input and reason are hidden from you: the agent wrote them after reading a result you may not read",
    }),
  })
  .meta({ id: "AgentApproval" });

export const listPendingApprovals = defineOperation({
  id: "list_pending_approvals",
  summary: "List tool calls waiting for approval",
  description: "Agent tool calls in this project that wait for a person to approve or deny them, oldest first.",
  tags: ["agent"],
  scope: "agent:read",
  effect: "read",
  http: { method: "get", path: "/projects/{project}/agent/approvals" },
  input: z.object({ project: ProjectRef }),
  output: z.object({ approvals: z.array(Approval) }),
  handler: async (ctx) => {
    const rows = await ctx.db
      .selectFrom("agent_approvals")
      .innerJoin("agent_conversations", "agent_conversations.id", "agent_approvals.conversation_id")
      .selectAll("agent_approvals")
      .select("agent_conversations.kind")
      .where("agent_conversations.project_id", "=", ctx.project.id)
      .where("agent_approvals.status", "=", "pending")
      .orderBy("agent_approvals.created_at")
      .limit(200)
      .execute();
    const hidden = await hiddenApprovals(ctx, rows);
    return {
      approvals: rows.map(({ kind: _kind, tool_use_id: _use, ...a }) => {
        const h = hidden.get(a.id);
        return {
          ...a,
          input: h ? {} : (a.input as Record<string, unknown>),
          reason: h ? `[hidden: ${h.reason}]` : a.reason,
          created_at: iso(a.created_at),
          ...(h ? { hidden: h } : {}),
        };
      }),
    };
  },
});

/**
 * Approvals whose input the reader may not see: asked for after the conversation took in a result they may not
 * read (the same rule as transcripts, redaction.ts), so the input may repeat it.
 */
async function hiddenApprovals(
  ctx: ProjectContext,
  rows: { id: string; run_id: string; conversation_id: string; kind: keyof typeof agentKinds }[],
) {
  const out = new Map<string, Hidden>();
  if (!rows.length) return out;
  const reader = readerOf(ctx.principal.scopes, ctx.project.role);
  const cutoffs = new Map<string, Awaited<ReturnType<typeof eventCutoff>>>();
  for (const r of rows) {
    if (!cutoffs.has(r.conversation_id))
      cutoffs.set(
        r.conversation_id,
        await eventCutoff(ctx.platform, reader, r.conversation_id, agentKinds[r.kind].tools),
      );
  }
  if (![...cutoffs.values()].some(Boolean)) return out;
  const asked = await ctx.db
    .selectFrom("agent_run_events")
    .select(["id", "data"])
    .where("type", "=", "approval_requested")
    .where("run_id", "in", [...new Set(rows.map((r) => r.run_id))])
    .execute();
  const askedAt = new Map(asked.map((e) => [String((e.data as { approval_id?: string }).approval_id), BigInt(e.id)]));
  for (const r of rows) {
    const cutoff = cutoffs.get(r.conversation_id);
    const at = askedAt.get(r.id);
    if (cutoff && (at === undefined || at > BigInt(cutoff.id))) out.set(r.id, derivedHidden(cutoff));
  }
  return out;
}

/**
 * The scope a tool call itself needs, from the operation registry (run_command → instances:exec, publish_site →
 * publish:trigger). The runner's bridges (web search, fetch) are not operations and need none beyond agent:write.
 */
export function toolScope(ctx: Pick<Context, "platform">, tool: string): string | null {
  return ctx.platform.operations.has(tool) ? (ctx.platform.operations.get(tool).scope ?? null) : null;
}

/**
 * Deciding on a call is wielding its power: approving `run_command` is running it. So the decider must hold the
 * tool's own scope — in their credential's scopes and under their role in the project — besides agent:write;
 * otherwise anyone who may talk to agents could approve what they could never do themselves. Denying needs it
 * too: a viewer-grade token must not steer an operator's run either way.
 */
function assertHoldsToolScope(ctx: ProjectContext, tool: string) {
  const needed = toolScope(ctx, tool);
  if (!needed) return;
  if (!hasScope(ctx.principal.scopes, needed))
    throw insufficientScope(needed, `deciding on a ${tool} call needs the scope the call itself needs`);
  if (!hasScope(roleCaps[ctx.project.role], needed)) {
    throw insufficientScope(
      needed,
      `deciding on a ${tool} call needs it, and your role in project '${ctx.project.slug}' is ${ctx.project.role}`,
    );
  }
}

async function decide(
  ctx: ProjectContext,
  approvalId: string,
  status: "approved" | "denied",
  note: string | undefined,
) {
  const mine = ctx.db
    .selectFrom("agent_approvals")
    .innerJoin("agent_conversations", "agent_conversations.id", "agent_approvals.conversation_id")
    .select(["agent_approvals.id", "agent_approvals.status", "agent_approvals.decided_via", "agent_approvals.tool"])
    .where("agent_approvals.id", "=", approvalId)
    .where("agent_conversations.project_id", "=", ctx.project.id);
  const existing = await mine.executeTakeFirst();
  if (!existing) throw notFound("approval", approvalId);
  assertHoldsToolScope(ctx, existing.tool);
  // Guarded on `pending`: of two deciders racing (a web page and a Telegram chat), exactly one wins.
  const decided = await ctx.tx(async (trx) => {
    const row = await trx
      .updateTable("agent_approvals")
      .set({
        status,
        decided_by: ctx.principal.account.id,
        decided_via: ctx.principal.surface,
        decided_at: new Date(),
        note: note ?? null,
      })
      .where("id", "=", approvalId)
      .where("status", "=", "pending")
      .returning(["run_id", "tool", "conversation_id"])
      .executeTakeFirst();
    if (row) {
      const conv = await trx
        .selectFrom("agent_conversations")
        .select("account_id")
        .where("id", "=", row.conversation_id)
        .executeTakeFirstOrThrow();
      await publishEvent(trx, {
        type: "approval.decided",
        account: conv.account_id,
        project: { id: ctx.project.id, slug: ctx.project.slug },
        data: { approval_id: approvalId, run_id: row.run_id, decision: status },
      });
    }
    return row;
  });
  if (!decided) {
    const now = await mine.executeTakeFirstOrThrow();
    throw conflict(`this tool call was already ${now.status}${now.decided_via ? ` (via ${now.decided_via})` : ""}`, {
      status: now.status,
    });
  }
  await appendRunEvent(ctx.platform, decided.run_id, "approval_decided", {
    approval_id: approvalId,
    tool: decided.tool,
    status,
    via: ctx.principal.surface,
  });
  if (await transition(ctx.db, decided.run_id, ["awaiting_approval"], "queued")) {
    await enqueue(ctx.db, RUN_QUEUE, decided.run_id, { run_id: decided.run_id });
  }
  return { id: approvalId, status, run_id: decided.run_id };
}

/**
 * Parks a running run on a tool call that needs a person: the run goes to awaiting_approval, the approval is
 * created and approval_requested told, in one transaction. False when the run was no longer running (cancelled).
 */
export async function requestApproval(
  platform: Pick<Platform, "db" | "notifier">,
  runId: string,
  conversationId: string,
  use: { id: string; name: string; input: Record<string, unknown> },
  reason: string,
): Promise<boolean> {
  const id = crypto.randomUUID();
  return platform.db.transaction().execute(async (trx) => {
    if (!(await transition(trx, runId, ["running"], "awaiting_approval"))) return false;
    await trx
      .insertInto("agent_approvals")
      .values({
        id,
        run_id: runId,
        conversation_id: conversationId,
        tool_use_id: use.id,
        tool: use.name,
        input: JSON.stringify(use.input),
        reason,
      })
      .execute();
    const conv = await trx
      .selectFrom("agent_conversations")
      .innerJoin("projects", "projects.id", "agent_conversations.project_id")
      .select(["agent_conversations.account_id", "projects.id", "projects.slug"])
      .where("agent_conversations.id", "=", conversationId)
      .executeTakeFirstOrThrow();
    // The tool's input stays out, and so does the reason, which quotes it (run_command's reason ends with the
    // command line): either may repeat what the model was shown (a file, a secret it read), and an event goes
    // to webhook endpoints and linked chats whose scopes no one checks against the tool's. The details are in
    // list_pending_approvals, which redacts them for each reader.
    await publishEvent(trx, {
      type: "approval.requested",
      account: conv.account_id,
      project: { id: conv.id, slug: conv.slug },
      data: {
        approval_id: id,
        run_id: runId,
        conversation_id: conversationId,
        tool: use.name,
        summary: `the agent asks to use ${use.name}; see list_pending_approvals for the call`,
      },
    });
    await appendRunEvent(
      platform,
      runId,
      "approval_requested",
      { approval_id: id, tool: use.name, input: use.input, reason },
      trx,
    );
    // A scheduled run asks on its schedule's report channel.
    await queueScheduleReport(trx, runId, { kind: "approval", approvalId: id });
    return true;
  });
}

/** The approval a run asked for on one tool call, if it asked: its status and the decider's note. */
export async function approvalOf(platform: Pick<Platform, "db">, runId: string, toolUseId: string) {
  return platform.db
    .selectFrom("agent_approvals")
    .select(["id", "status", "note"])
    .where("run_id", "=", runId)
    .where("tool_use_id", "=", toolUseId)
    .executeTakeFirst();
}

const DecideInput = z.object({
  project: ProjectRef,
  approval_id: z.uuid(),
  note: z
    .string()
    .max(2000)
    .optional()
    .meta({ description: "Told to the agent (on deny: why, or what to do instead)" }),
});
const Decided = z.object({ id: z.string(), status: z.enum(["approved", "denied"]), run_id: z.string() });

export const approveToolCall = defineOperation({
  id: "approve_tool_call",
  summary: "Approve an agent's pending tool call",
  description:
    "The run resumes and makes the call. Needs, besides agent:write, the scope the tool itself needs (run_command: instances:exec; publish_site: publish:trigger).",
  tags: ["agent"],
  scope: "agent:write",
  effect: "write",
  http: { method: "post", path: "/projects/{project}/agent/approvals/{approval_id}/approve" },
  input: DecideInput,
  output: Decided,
  handler: (ctx, input) => decide(ctx, input.approval_id, "approved", input.note),
});

export const denyToolCall = defineOperation({
  id: "deny_tool_call",
  summary: "Deny an agent's pending tool call",
  description:
    "The call is not made; the agent is told it was denied (with your note) and carries on without it. Needs, besides agent:write, the scope the tool itself needs.",
  tags: ["agent"],
  scope: "agent:write",
  effect: "write",
  http: { method: "post", path: "/projects/{project}/agent/approvals/{approval_id}/deny" },
  input: DecideInput,
  output: Decided,
  handler: (ctx, input) => decide(ctx, input.approval_id, "denied", input.note),
});
