// Conversations with an agent: start one (on an instance or a site), send further messages, read the full
// transcript, list, cancel and delete. Operations only record and enqueue; runner workers do the work.
import crypto from "node:crypto";
import { z } from "zod";
import type { AgentMode } from "../../schema/database.ts";
import { spendableMicros } from "../billing/ledger.ts";
import { microsNumber } from "../billing/money.ts";
import { agentUnavailable } from "../config.ts";
import { iso, isoOrNull, ProjectRef, Timestamp } from "../kernel/common.ts";
import { BosunError, conflict, isUniqueViolation, notFound, validationError } from "../kernel/errors.ts";
import { type DB, defineOperation, type ProjectContext } from "../kernel/operation.ts";
import { Cursor, decodeTimeIdCursor, encodeCursor, Limit, pageOf } from "../kernel/pagination.ts";
import { agentKinds, narrowScopes } from "./kinds.ts";
import { hiddenResult, readerOf, redactMessages } from "./redaction.ts";
import { cancelActiveRun, startRun } from "./runs.ts";

const ConversationId = z.uuid().meta({ description: "The conversation's id" });
export const Message = z.string().trim().min(1).max(20_000);
export const Mode = z.enum(["ask", "auto", "read_only"]).meta({
  description:
    "ask (default): reads and read-only commands run at once, everything else waits for approval; auto: everything " +
    "except denied commands runs; read_only: nothing that changes anything",
});

const RunSummary = z.object({
  id: z.string(),
  status: z.string(),
  steps: z.number().int(),
  cost_micros: z.number().int(),
  input_tokens: z.number().int(),
  output_tokens: z.number().int(),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
  created_at: Timestamp,
  finished_at: Timestamp.nullable(),
});

const HiddenNote = z.object({ required_scope: z.string(), reason: z.string() }).meta({
  id: "AgentTranscriptHidden",
  description: "Present where the transcript hides something from you: why, and the scope that would show it",
});

const ConversationSummary = z
  .object({
    id: z.string(),
    kind: z.enum(["instance_operator", "site_editor"]),
    instance: z.string().nullable(),
    title: z.string(),
    mode: Mode,
    allow_publish: z.boolean(),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .meta({ id: "AgentConversation" });

type ConversationRow = {
  id: string;
  kind: "instance_operator" | "site_editor";
  instance: string | null;
  title: string;
  mode: AgentMode;
  allow_publish: boolean;
  created_at: Date;
  updated_at: Date;
};
const summary = (c: ConversationRow) => ({ ...c, created_at: iso(c.created_at), updated_at: iso(c.updated_at) });

/** The conversation, in the project the invoker resolved; another project's is not found. */
export async function loadConversation(ctx: ProjectContext, id: string) {
  const row = await ctx.db
    .selectFrom("agent_conversations")
    .selectAll()
    .where("id", "=", id)
    .where("project_id", "=", ctx.project.id)
    .executeTakeFirst();
  if (!row) throw notFound("conversation", id);
  return row;
}

/** What must hold before any run is started: a configured model, AI credit, and a person behind the call. */
async function assertCanRun(ctx: ProjectContext) {
  const why = agentUnavailable(ctx.platform.config.agent);
  if (why) throw new BosunError("not_configured", why);
  const cred = ctx.principal.credential;
  if (cred.kind === "agent_run") throw new BosunError("forbidden", "an agent cannot start or message agents");
  const billed = ctx.project.owner_account_id;
  const noCredit = await creditProblem(ctx.db, billed);
  if (noCredit) throw noCredit;
}

/** Why no run may start on this billed account's credit (402), or null. */
export async function creditProblem(db: DB, billed: string): Promise<BosunError | null> {
  // The operator's own projects are metered but never refused for credit (Meter.operatorTopUp).
  const owner = await db.selectFrom("accounts").select("is_operator").where("id", "=", billed).executeTakeFirst();
  if (!owner?.is_operator && (await spendableMicros(db, billed, "ai_credits")) <= 0n) {
    return new BosunError(
      "payment_required",
      "no AI credit left on the project owner's account; add credit to use the agent",
      { pool: "ai_credits" },
    );
  }
  return null;
}

export const limitsOf = (ctx: Pick<ProjectContext, "platform">) => ({
  maxSteps: ctx.platform.config.agent.maxSteps,
  maxWallSeconds: ctx.platform.config.agent.maxWallSeconds,
  maxCostMicros: ctx.platform.config.agent.maxCostMicros,
});

export const startAgentChat = defineOperation({
  id: "start_agent_chat",
  summary: "Start a conversation with an agent",
  description:
    "On an instance project, the instance operator (name the `instance`); on a site project, the site editor. Records " +
    "the message and queues a run; follow it with get_agent_conversation. Charged per token to the project owner's AI credit.",
  tags: ["agent"],
  scope: "agent:write",
  effect: "write",
  errors: ["payment_required", "not_configured"],
  http: { method: "post", path: "/projects/{project}/agent/conversations", status: 201 },
  input: z.object({
    project: ProjectRef,
    instance: z.string().min(1).max(100).optional().meta({ description: "The instance's name (instance projects)" }),
    message: Message,
    mode: Mode.default("ask"),
    allow_publish: z.boolean().default(false).meta({ description: "Site editor: may publish the site" }),
  }),
  output: z.object({ conversation: ConversationSummary, run_id: z.string() }),
  handler: async (ctx, input) => {
    const project = ctx.project;
    const kind = project.kind === "instance" ? agentKinds.instance_operator : agentKinds.site_editor;
    if (kind.projectKind === "instance") {
      if (!input.instance)
        throw validationError(
          [{ path: "instance", message: "required on an instance project" }],
          "name the instance the agent works on",
        );
      const exists = await ctx.db
        .selectFrom("instances")
        .select("id")
        .where("project_id", "=", project.id)
        .where("name", "=", input.instance)
        .executeTakeFirst();
      if (!exists) throw notFound("instance", input.instance);
    } else if (input.instance) {
      throw validationError(
        [{ path: "instance", message: "only on instance projects" }],
        "a site project has no instances",
      );
    }
    await assertCanRun(ctx);
    const cred = ctx.principal.credential;
    const scopes = narrowScopes(kind, ctx.principal.scopes, input.allow_publish);
    const id = crypto.randomUUID();
    const row = await ctx.db
      .insertInto("agent_conversations")
      .values({
        id,
        project_id: project.id,
        account_id: ctx.principal.account.id,
        kind: kind.kind,
        instance: input.instance ?? null,
        title: input.message.slice(0, 80),
        mode: input.mode,
        allow_publish: input.allow_publish,
        credential_kind: cred.kind,
        credential_id: cred.id,
        scopes,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    const runId = await startRun(ctx.platform, id, input.message, limitsOf(ctx));
    return { conversation: summary(row), run_id: runId };
  },
});

export const sendAgentMessage = defineOperation({
  id: "send_agent_message",
  summary: "Send a message in an agent conversation",
  description: "Appends to the conversation and queues a run. While a run is still active, cancel it or wait (409).",
  tags: ["agent"],
  scope: "agent:write",
  effect: "write",
  errors: ["payment_required", "not_configured"],
  http: { method: "post", path: "/projects/{project}/agent/conversations/{conversation_id}/messages", status: 201 },
  input: z.object({ project: ProjectRef, conversation_id: ConversationId, message: Message }),
  output: z.object({ run_id: z.string() }),
  handler: async (ctx, input) => {
    const conv = await loadConversation(ctx, input.conversation_id);
    await assertCanRun(ctx);
    // The run acts under the credential that sends the newest message.
    const cred = ctx.principal.credential;
    const scopes = narrowScopes(agentKinds[conv.kind], ctx.principal.scopes, conv.allow_publish);
    await ctx.db
      .updateTable("agent_conversations")
      .set({ credential_kind: cred.kind, credential_id: cred.id, scopes })
      .where("id", "=", conv.id)
      .execute();
    try {
      return { run_id: await startRun(ctx.platform, conv.id, input.message, limitsOf(ctx)) };
    } catch (err) {
      if (isUniqueViolation(err))
        throw conflict("a run is still active in this conversation; wait for it or cancel_agent_run");
      throw err;
    }
  },
});

export const getAgentConversation = defineOperation({
  id: "get_agent_conversation",
  summary: "Get an agent conversation's full transcript",
  description:
    "Messages, steps (model calls with tokens and cost; tool calls with input, output, duration), runs and approvals. A tool result shows only to a reader holding the scope that reads it (instance tools: instances:files), and what follows a hidden result is hidden too, with `hidden` saying why.",
  tags: ["agent"],
  scope: "agent:read",
  effect: "read",
  http: { method: "get", path: "/projects/{project}/agent/conversations/{conversation_id}" },
  input: z.object({ project: ProjectRef, conversation_id: ConversationId }),
  output: z.object({
    conversation: ConversationSummary,
    messages: z.array(
      z.object({
        role: z.enum(["user", "assistant"]),
        content: z.array(z.record(z.string(), z.unknown())),
        run_id: z.string().nullable(),
        created_at: Timestamp,
      }),
    ),
    runs: z.array(
      RunSummary.extend({
        steps_detail: z.array(
          z.object({
            kind: z.enum(["model", "tool"]),
            state: z.string(),
            tool: z.string().nullable(),
            input: z.record(z.string(), z.unknown()).nullable(),
            output: z.string().nullable(),
            is_error: z.boolean(),
            model: z.string().nullable(),
            usage: z.record(z.string(), z.number()).nullable(),
            cost_micros: z.number().int(),
            duration_ms: z.number().int().nullable(),
            created_at: Timestamp,
            hidden: z.object({ input: HiddenNote.optional(), output: HiddenNote.optional() }).optional(),
          }),
        ),
      }),
    ),
    approvals: z.array(
      z.object({
        id: z.string(),
        run_id: z.string(),
        tool: z.string(),
        input: z.record(z.string(), z.unknown()),
        reason: z.string(),
        status: z.string(),
        decided_via: z.string().nullable(),
        created_at: Timestamp,
        decided_at: Timestamp.nullable(),
        hidden: HiddenNote.optional(),
      }),
    ),
  }),
  handler: async (ctx, input) => {
    const conv = await loadConversation(ctx, input.conversation_id);
    const db = ctx.db;
    const messages = await db
      .selectFrom("agent_messages")
      .selectAll()
      .where("conversation_id", "=", conv.id)
      .orderBy("id")
      .execute();
    const runs = await db
      .selectFrom("agent_runs")
      .selectAll()
      .where("conversation_id", "=", conv.id)
      .orderBy("created_at")
      .execute();
    const steps = runs.length
      ? await db
          .selectFrom("agent_steps")
          .selectAll()
          .where(
            "run_id",
            "in",
            runs.map((r) => r.id),
          )
          .orderBy("id")
          .execute()
      : [];
    const approvals = await db
      .selectFrom("agent_approvals")
      .selectAll()
      .where("conversation_id", "=", conv.id)
      .orderBy("created_at")
      .execute();
    // Redacted for this reader: their credential's scopes under their role here (redaction.ts).
    const reader = readerOf(ctx.principal.scopes, ctx.project.role);
    const redacted = redactMessages(
      ctx.platform,
      reader,
      messages.map((m) => ({
        role: m.role,
        content: m.content as Record<string, unknown>[],
        run_id: m.run_id,
        created_at: iso(m.created_at),
      })),
    );
    return {
      conversation: summary(conv),
      messages: redacted.messages,
      runs: runs.map((r) => ({
        ...runView(r),
        steps_detail: steps
          .filter((s) => s.run_id === r.id)
          .map((s) => {
            const hiddenInput = s.tool_use_id ? redacted.inputs.get(s.tool_use_id) : undefined;
            // By the step's own tool too, not only through the messages: a step's output is stored before its
            // result joins the transcript (a step with several calls records them with its last one, and a
            // call parked on an approval holds that back), so a finished sibling's output would otherwise show.
            const hiddenOutput =
              (s.tool_use_id ? redacted.results.get(s.tool_use_id) : undefined) ??
              (s.tool ? (hiddenResult(ctx.platform, reader, s.tool) ?? undefined) : undefined);
            return {
              kind: s.kind,
              state: s.state,
              tool: s.tool,
              input: hiddenInput ? {} : (s.input as Record<string, unknown> | null),
              output: hiddenOutput ? `[hidden: ${hiddenOutput.reason}]` : s.output,
              is_error: s.is_error,
              model: s.model,
              usage: s.usage as Record<string, number> | null,
              cost_micros: microsNumber(s.cost_micros),
              duration_ms: s.duration_ms,
              created_at: iso(s.created_at),
              ...(hiddenInput || hiddenOutput
                ? {
                    hidden: {
                      ...(hiddenInput ? { input: hiddenInput } : {}),
                      ...(hiddenOutput ? { output: hiddenOutput } : {}),
                    },
                  }
                : {}),
            };
          }),
      })),
      approvals: approvals.map((a) => {
        const hidden = redacted.inputs.get(a.tool_use_id);
        return {
          id: a.id,
          run_id: a.run_id,
          tool: a.tool,
          input: hidden ? {} : (a.input as Record<string, unknown>),
          reason: hidden ? `[hidden: ${hidden.reason}]` : a.reason,
          status: a.status,
          decided_via: a.decided_via,
          created_at: iso(a.created_at),
          decided_at: isoOrNull(a.decided_at),
          ...(hidden ? { hidden } : {}),
        };
      }),
    };
  },
});

type RunRow = {
  id: string;
  status: string;
  steps: number;
  cost_micros: string;
  input_tokens: string;
  output_tokens: string;
  error: unknown;
  created_at: Date;
  finished_at: Date | null;
};
export const runView = (r: RunRow) => ({
  id: r.id,
  status: r.status,
  steps: r.steps,
  cost_micros: microsNumber(r.cost_micros),
  input_tokens: Number(r.input_tokens),
  output_tokens: Number(r.output_tokens),
  error: (r.error as { code: string; message: string } | null) ?? null,
  created_at: iso(r.created_at),
  finished_at: isoOrNull(r.finished_at),
});

export const listAgentConversations = defineOperation({
  id: "list_agent_conversations",
  summary: "List agent conversations in a project",
  description: "Most recently active first, each with its latest run.",
  tags: ["agent"],
  scope: "agent:read",
  effect: "read",
  http: { method: "get", path: "/projects/{project}/agent/conversations" },
  input: z.object({ project: ProjectRef, limit: Limit, cursor: Cursor }),
  output: z.object({
    conversations: z.array(ConversationSummary.extend({ latest_run: RunSummary.nullable() })),
    next_cursor: z.string().nullable(),
  }),
  handler: async (ctx, input) => {
    let q = ctx.db
      .selectFrom("agent_conversations")
      .selectAll()
      .where("project_id", "=", ctx.project.id)
      .orderBy("updated_at", "desc")
      .orderBy("id", "desc")
      .limit(input.limit + 1);
    if (input.cursor) {
      const { at: when, id } = decodeTimeIdCursor(input.cursor);
      q = q.where((eb) =>
        eb.or([eb("updated_at", "<", when), eb.and([eb("updated_at", "=", when), eb("id", "<", id)])]),
      );
    }
    const { page, next_cursor } = pageOf(await q.execute(), input.limit, (last) =>
      encodeCursor(iso(last.updated_at), last.id),
    );
    const runs = page.length
      ? await ctx.db
          .selectFrom("agent_runs")
          .selectAll()
          .distinctOn("conversation_id")
          .where(
            "conversation_id",
            "in",
            page.map((c) => c.id),
          )
          .orderBy("conversation_id")
          .orderBy("created_at", "desc")
          .execute()
      : [];
    return {
      conversations: page.map((c) => {
        const run = runs.find((r) => r.conversation_id === c.id);
        return { ...summary(c), latest_run: run ? runView(run) : null };
      }),
      next_cursor,
    };
  },
});

export const cancelAgentRun = defineOperation({
  id: "cancel_agent_run",
  summary: "Cancel a conversation's active run",
  description: "The run stops at its next step; pending approvals are cancelled. Work already done stays done.",
  tags: ["agent"],
  scope: "agent:write",
  effect: "write",
  http: { method: "post", path: "/projects/{project}/agent/conversations/{conversation_id}/cancel" },
  input: z.object({ project: ProjectRef, conversation_id: ConversationId }),
  output: z.object({ cancelled_run_id: z.string().nullable() }),
  handler: async (ctx, input) => {
    const conv = await loadConversation(ctx, input.conversation_id);
    return { cancelled_run_id: await cancelActiveRun(ctx.platform, conv.id) };
  },
});

export const deleteAgentConversation = defineOperation({
  id: "delete_agent_conversation",
  summary: "Delete an agent conversation",
  description: "Cancels its active run first. Ledger entries of what it cost stay.",
  tags: ["agent"],
  scope: "agent:write",
  effect: "destructive",
  http: { method: "delete", path: "/projects/{project}/agent/conversations/{conversation_id}" },
  input: z.object({ project: ProjectRef, conversation_id: ConversationId }),
  output: z.object({ deleted: z.literal(true) }),
  handler: async (ctx, input) => {
    const conv = await loadConversation(ctx, input.conversation_id);
    await cancelActiveRun(ctx.platform, conv.id);
    await ctx.db.deleteFrom("agent_conversations").where("id", "=", conv.id).execute();
    return { deleted: true as const };
  },
});
