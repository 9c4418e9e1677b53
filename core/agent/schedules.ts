// Scheduled agent runs: a cron expression in an IANA timezone, a prompt for the agent of an instance or a site,
// a mode (read_only by default), a budget per run and where the report goes (a linked Telegram chat, the
// creator's email, or a webhook). The operations only record the schedule; the scheduler (scheduler.ts) starts
// its runs, once per due time across every process.
import crypto from "node:crypto";
import { sql } from "kysely";
import { z } from "zod";
import type { ReportChannel } from "../../schema/database.ts";
import { Micros, microsNumber, toMicros } from "../billing/money.ts";
import { agentUnavailable } from "../config.ts";
import { cronOf, nextDue } from "../jobs/cron.ts";
import { iso, isoOrNull, ProjectRef, Timestamp } from "../kernel/common.ts";
import { BosunError, conflict, isUniqueViolation, notFound, validationError } from "../kernel/errors.ts";
import { defineOperation, type ProjectContext } from "../kernel/operation.ts";
import { Cursor, decodeCursor, decodeTimeIdCursor, encodeCursor, Limit, pageOf } from "../kernel/pagination.ts";
import { Message, Mode } from "./conversations.ts";
import { agentKinds, narrowScopes } from "./kinds.ts";

/** Each run costs the owner a model's worth of credit: more often than this is almost surely a mistake. */
export const MIN_INTERVAL_MS = 5 * 60_000;

const ScheduleId = z.uuid().meta({ description: "The schedule's id" });
const Name = z.string().trim().min(1).max(100).meta({ description: "A name, unique in the project" });
const CronExpr = z.string().trim().min(1).max(100).meta({
  description: "Cron expression (5 fields: minute hour day-of-month month day-of-week), e.g. `0 9 * * 1-5`",
  example: "0 9 * * 1-5",
});
const TimeZone = z.string().trim().min(1).max(64).meta({
  description: "IANA timezone the expression is read in, e.g. `Europe/Berlin` (default UTC)",
  example: "Europe/Berlin",
});
const Channel = z.enum(["none", "email", "telegram", "webhook"]).meta({
  description:
    "Where the report goes (and, in `ask` mode, the approvals): `telegram` — a chat you linked to the schedule's " +
    "instance (`telegram_chat_id`); `email` — your account's address; `webhook` — the account's webhook endpoints; `none`",
});
const TelegramChatId = z
  .number()
  .int()
  .meta({ description: "With `report_channel: telegram`: a chat you linked to this instance" });

const Schedule = z
  .object({
    id: z.string(),
    name: z.string(),
    cron: z.string(),
    timezone: z.string(),
    instance: z.string().nullable(),
    prompt: z.string(),
    mode: Mode,
    allow_publish: z.boolean(),
    max_cost_micros: z.number().int().nullable(),
    report_channel: Channel,
    telegram_chat_id: z.number().int().nullable(),
    enabled: z.boolean(),
    next_run_at: Timestamp.nullable(),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .meta({ id: "AgentSchedule" });

const ScheduleRun = z
  .object({
    id: z.string(),
    slot_at: Timestamp.meta({ description: "The due time this run is for" }),
    missed: z.number().int().meta({ description: "Due times missed while Bosun was down, folded into this run" }),
    status: z.string().meta({
      description:
        "pending, queued, running, awaiting_approval, done, failed, cancelled, or skipped (the previous run was still active)",
    }),
    run_id: z.string().nullable(),
    conversation_id: z.string().nullable(),
    cost_micros: z.number().int(),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
    started_at: Timestamp.nullable(),
    finished_at: Timestamp.nullable(),
  })
  .meta({ id: "AgentScheduleRun" });

// ---- time ----------------------------------------------------------------------------------------------------

/** Refuses an expression that never comes due or comes due more often than MIN_INTERVAL_MS. */
function checkCron(expr: string, timezone: string, now: Date): void {
  const runs = cronOf(expr, timezone).nextRuns(6, now);
  if (!runs.length) throw validationError([{ path: "cron", message: "never comes due" }]);
  for (const [i, at] of runs.entries())
    if (i > 0 && at.getTime() - (runs[i - 1] as Date).getTime() < MIN_INTERVAL_MS)
      throw validationError([{ path: "cron", message: "comes due more often than every five minutes" }]);
}

// ---- the rows ------------------------------------------------------------------------------------------------

type Row = {
  id: string;
  name: string;
  cron: string;
  timezone: string;
  instance: string | null;
  prompt: string;
  mode: "ask" | "auto" | "read_only";
  allow_publish: boolean;
  max_cost_micros: string | null;
  report_channel: ReportChannel;
  chat_id: string | null;
  enabled: boolean;
  next_run_at: Date | null;
  created_at: Date;
  updated_at: Date;
};
const view = (r: Row): z.input<typeof Schedule> => ({
  id: r.id,
  name: r.name,
  cron: r.cron,
  timezone: r.timezone,
  instance: r.instance,
  prompt: r.prompt,
  mode: r.mode,
  allow_publish: r.allow_publish,
  max_cost_micros: r.max_cost_micros === null ? null : microsNumber(r.max_cost_micros),
  report_channel: r.report_channel,
  telegram_chat_id: r.chat_id === null ? null : Number(r.chat_id),
  enabled: r.enabled,
  next_run_at: isoOrNull(r.next_run_at),
  created_at: iso(r.created_at),
  updated_at: iso(r.updated_at),
});

const selectSchedules = (ctx: ProjectContext) =>
  ctx.db
    .selectFrom("agent_schedules as s")
    .leftJoin("telegram_links as l", "l.id", "s.report_telegram_link_id")
    .selectAll("s")
    .select("l.chat_id")
    .where("s.project_id", "=", ctx.project.id);

async function loadSchedule(ctx: ProjectContext, id: string): Promise<Row> {
  const row = await selectSchedules(ctx).where("s.id", "=", id).executeTakeFirst();
  if (!row) throw notFound("schedule", id);
  return row;
}

/** Schedules act for a person: an agent run or a chat link may not make one. */
function assertPerson(ctx: ProjectContext) {
  const kind = ctx.principal.credential.kind;
  if (kind !== "token" && kind !== "session")
    throw new BosunError("forbidden", "only a person's token or session can schedule agent runs");
  const why = agentUnavailable(ctx.platform.config.agent);
  if (why) throw new BosunError("not_configured", why);
}

/**
 * The caller's own Telegram link for this chat and instance (or, for a site schedule, the site): a schedule reports
 * only into the acting person's chat.
 */
async function telegramLinkOf(ctx: ProjectContext, instance: string | null, chatId: number | undefined) {
  if (chatId === undefined)
    throw validationError([{ path: "telegram_chat_id", message: "required with report_channel telegram" }]);
  let q = ctx.db
    .selectFrom("telegram_links as l")
    .leftJoin("instances as i", "i.id", "l.instance_id")
    .select("l.id")
    .where("l.project_id", "=", ctx.project.id)
    .where("l.chat_id", "=", String(chatId))
    .where("l.account_id", "=", ctx.principal.account.id);
  q = instance ? q.where("i.name", "=", instance) : q.where("l.instance_id", "is", null);
  const link = await q.executeTakeFirst();
  if (!link)
    throw validationError([
      {
        path: "telegram_chat_id",
        message: instance
          ? `no chat of yours is linked to instance '${instance}' with this id`
          : "no chat of yours is linked to this site with this id",
      },
    ]);
  return link.id;
}

// ---- operations ----------------------------------------------------------------------------------------------

export const createAgentSchedule = defineOperation({
  id: "create_agent_schedule",
  summary: "Schedule an agent run",
  description:
    "Runs the agent of an instance (name the `instance`) or of a site project on a cron schedule in a timezone. Each run " +
    "starts a new conversation with `prompt`, acts as you (the credential you call with, narrowed to the agent's scopes), " +
    "is charged to the project owner's AI credit and stops at `max_cost_micros`. `mode` is `read_only` unless you say " +
    "otherwise; in `ask` mode approvals go to the report channel. A due time missed while Bosun was down runs once.",
  tags: ["agent", "schedules"],
  scope: "agent:write",
  effect: "write",
  errors: ["not_configured", "conflict"],
  http: { method: "post", path: "/projects/{project}/agent/schedules", status: 201 },
  input: z.object({
    project: ProjectRef,
    name: Name,
    cron: CronExpr,
    timezone: TimeZone.default("UTC"),
    instance: z.string().min(1).max(100).optional().meta({ description: "The instance's name (instance projects)" }),
    prompt: Message,
    mode: Mode.default("read_only"),
    allow_publish: z.boolean().default(false).meta({ description: "Site editor: may publish the site" }),
    max_cost_micros: Micros.optional().meta({ description: "Budget per run; at most the operator's per-run limit" }),
    report_channel: Channel.default("none"),
    telegram_chat_id: TelegramChatId.optional(),
  }),
  output: Schedule,
  handler: async (ctx, input) => {
    assertPerson(ctx);
    const kind = ctx.project.kind === "instance" ? agentKinds.instance_operator : agentKinds.site_editor;
    if (kind.projectKind === "instance") {
      if (!input.instance) throw validationError([{ path: "instance", message: "required on an instance project" }]);
      const exists = await ctx.db
        .selectFrom("instances")
        .select("id")
        .where("project_id", "=", ctx.project.id)
        .where("name", "=", input.instance)
        .executeTakeFirst();
      if (!exists) throw notFound("instance", input.instance);
    } else if (input.instance) {
      throw validationError([{ path: "instance", message: "only on instance projects" }]);
    }
    const now = new Date();
    checkCron(input.cron, input.timezone, now);
    const instance = input.instance ?? null;
    const linkId =
      input.report_channel === "telegram" ? await telegramLinkOf(ctx, instance, input.telegram_chat_id) : null;
    if (input.report_channel !== "telegram" && input.telegram_chat_id !== undefined)
      throw validationError([{ path: "telegram_chat_id", message: "only with report_channel telegram" }]);
    const cred = ctx.principal.credential;
    const id = crypto.randomUUID();
    try {
      await ctx.db
        .insertInto("agent_schedules")
        .values({
          id,
          project_id: ctx.project.id,
          account_id: ctx.principal.account.id,
          name: input.name,
          cron: input.cron,
          timezone: input.timezone,
          instance,
          prompt: input.prompt,
          mode: input.mode,
          allow_publish: input.allow_publish,
          max_cost_micros: input.max_cost_micros === undefined ? null : toMicros(input.max_cost_micros),
          report_channel: input.report_channel,
          report_telegram_link_id: linkId,
          credential_kind: cred.kind,
          credential_id: cred.id,
          scopes: narrowScopes(kind, ctx.principal.scopes, input.allow_publish),
          next_run_at: nextDue(input.cron, input.timezone, now),
        })
        .execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw conflict(`a schedule named '${input.name}' already exists in this project`);
      throw err;
    }
    return view(await loadSchedule(ctx, id));
  },
});

export const listAgentSchedules = defineOperation({
  id: "list_agent_schedules",
  summary: "List a project's agent schedules",
  tags: ["agent", "schedules"],
  scope: "agent:read",
  effect: "read",
  http: { method: "get", path: "/projects/{project}/agent/schedules" },
  input: z.object({ project: ProjectRef, limit: Limit, cursor: Cursor }),
  output: z.object({ schedules: z.array(Schedule), next_cursor: z.string().nullable() }),
  handler: async (ctx, input) => {
    let q = selectSchedules(ctx)
      .orderBy("s.created_at")
      .orderBy("s.id")
      .limit(input.limit + 1);
    if (input.cursor) {
      const { at: when, id } = decodeTimeIdCursor(input.cursor);
      q = q.where((eb) =>
        eb.or([eb("s.created_at", ">", when), eb.and([eb("s.created_at", "=", when), eb("s.id", ">", id)])]),
      );
    }
    const { page, next_cursor } = pageOf(await q.execute(), input.limit, (last) =>
      encodeCursor(iso(last.created_at), last.id),
    );
    return { schedules: page.map(view), next_cursor };
  },
});

export const getAgentSchedule = defineOperation({
  id: "get_agent_schedule",
  summary: "Get an agent schedule",
  tags: ["agent", "schedules"],
  scope: "agent:read",
  effect: "read",
  http: { method: "get", path: "/projects/{project}/agent/schedules/{schedule_id}" },
  input: z.object({ project: ProjectRef, schedule_id: ScheduleId }),
  output: Schedule,
  handler: async (ctx, input) => view(await loadSchedule(ctx, input.schedule_id)),
});

export const updateAgentSchedule = defineOperation({
  id: "update_agent_schedule",
  summary: "Change an agent schedule",
  description:
    "Omitted fields stay as they are. The schedule then acts as you: your credential, narrowed to the agent's scopes, " +
    "your email and your Telegram chat (name `telegram_chat_id` again when you take over someone else's schedule). " +
    "Changing the expression, timezone or `enabled` recomputes the next due time from now.",
  tags: ["agent", "schedules"],
  scope: "agent:write",
  effect: "write",
  errors: ["not_configured", "conflict"],
  http: { method: "patch", path: "/projects/{project}/agent/schedules/{schedule_id}" },
  input: z.object({
    project: ProjectRef,
    schedule_id: ScheduleId,
    name: Name.optional(),
    cron: CronExpr.optional(),
    timezone: TimeZone.optional(),
    prompt: Message.optional(),
    mode: Mode.optional(),
    allow_publish: z.boolean().optional(),
    max_cost_micros: Micros.nullable().optional().meta({ description: "null: the operator's per-run limit" }),
    report_channel: Channel.optional(),
    telegram_chat_id: TelegramChatId.optional(),
    enabled: z.boolean().optional(),
  }),
  output: Schedule,
  handler: async (ctx, input) => {
    assertPerson(ctx);
    const cur = await loadSchedule(ctx, input.schedule_id);
    const kind = cur.instance ? agentKinds.instance_operator : agentKinds.site_editor;
    const cron = input.cron ?? cur.cron;
    const timezone = input.timezone ?? cur.timezone;
    const enabled = input.enabled ?? cur.enabled;
    const allowPublish = input.allow_publish ?? cur.allow_publish;
    const channel = input.report_channel ?? cur.report_channel;
    const now = new Date();
    if (input.cron !== undefined || input.timezone !== undefined) checkCron(cron, timezone, now);
    if (channel !== "telegram" && input.telegram_chat_id !== undefined)
      throw validationError([{ path: "telegram_chat_id", message: "only with report_channel telegram" }]);
    // A chat is the acting person's own: keep the current one only when it is theirs.
    let linkId: string | null = null;
    if (channel === "telegram") {
      const chatId = input.telegram_chat_id ?? (cur.chat_id === null ? undefined : Number(cur.chat_id));
      linkId = await telegramLinkOf(ctx, cur.instance, chatId);
    }
    const retime = input.cron !== undefined || input.timezone !== undefined || input.enabled !== undefined;
    const cred = ctx.principal.credential;
    try {
      await ctx.db
        .updateTable("agent_schedules")
        .set({
          ...(input.name !== undefined ? { name: input.name } : {}),
          ...(input.prompt !== undefined ? { prompt: input.prompt } : {}),
          ...(input.mode !== undefined ? { mode: input.mode } : {}),
          ...(input.max_cost_micros !== undefined
            ? { max_cost_micros: input.max_cost_micros === null ? null : toMicros(input.max_cost_micros) }
            : {}),
          ...(retime ? { next_run_at: enabled ? nextDue(cron, timezone, now) : null } : {}),
          cron,
          timezone,
          enabled,
          allow_publish: allowPublish,
          report_channel: channel,
          report_telegram_link_id: linkId,
          account_id: ctx.principal.account.id,
          credential_kind: cred.kind,
          credential_id: cred.id,
          scopes: narrowScopes(kind, ctx.principal.scopes, allowPublish),
          updated_at: sql`now()`,
        })
        .where("id", "=", cur.id)
        .execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw conflict(`a schedule named '${input.name}' already exists in this project`);
      throw err;
    }
    return view(await loadSchedule(ctx, cur.id));
  },
});

export const deleteAgentSchedule = defineOperation({
  id: "delete_agent_schedule",
  summary: "Delete an agent schedule",
  description: "Its history goes with it; a run it already started carries on in its conversation.",
  tags: ["agent", "schedules"],
  scope: "agent:write",
  effect: "destructive",
  http: { method: "delete", path: "/projects/{project}/agent/schedules/{schedule_id}" },
  input: z.object({ project: ProjectRef, schedule_id: ScheduleId }),
  output: z.object({ deleted: z.literal(true) }),
  handler: async (ctx, input) => {
    const cur = await loadSchedule(ctx, input.schedule_id);
    await ctx.db.deleteFrom("agent_schedules").where("id", "=", cur.id).execute();
    return { deleted: true as const };
  },
});

export const listAgentScheduleRuns = defineOperation({
  id: "list_agent_schedule_runs",
  summary: "List a schedule's runs",
  description:
    "Newest first: each due time, its status, the run and conversation it started, what it cost and when it started and " +
    "finished. Follow a run with list_agent_run_events, read it with get_agent_conversation.",
  tags: ["agent", "schedules"],
  scope: "agent:read",
  effect: "read",
  http: { method: "get", path: "/projects/{project}/agent/schedules/{schedule_id}/runs" },
  input: z.object({ project: ProjectRef, schedule_id: ScheduleId, limit: Limit, cursor: Cursor }),
  output: z.object({ runs: z.array(ScheduleRun), next_cursor: z.string().nullable() }),
  handler: async (ctx, input) => {
    const cur = await loadSchedule(ctx, input.schedule_id);
    let q = ctx.db
      .selectFrom("agent_schedule_runs as sr")
      .leftJoin("agent_runs as r", "r.id", "sr.run_id")
      .selectAll("sr")
      .select(["r.status as run_status", "r.cost_micros as run_cost"])
      .where("sr.schedule_id", "=", cur.id)
      .orderBy("sr.slot_at", "desc")
      .limit(input.limit + 1);
    if (input.cursor) {
      const [at = ""] = decodeCursor(input.cursor, 1);
      const when = new Date(at);
      if (Number.isNaN(when.getTime()))
        throw validationError([{ path: "cursor", message: "invalid cursor" }], "not a cursor from this list");
      q = q.where("sr.slot_at", "<", when);
    }
    // slot_at is unique per schedule, so it alone orders and pages.
    const { page, next_cursor } = pageOf(await q.execute(), input.limit, (last) => encodeCursor(iso(last.slot_at)));
    return {
      runs: page.map((r) => ({
        id: r.id,
        slot_at: iso(r.slot_at),
        missed: r.missed,
        // While its run is active, the run's own status (queued, running, awaiting_approval) says more.
        status: r.status === "started" && r.run_status ? r.run_status : r.status,
        run_id: r.run_id,
        conversation_id: r.conversation_id,
        cost_micros: microsNumber(r.run_cost ?? r.cost_micros),
        error: (r.error as { code: string; message: string } | null) ?? null,
        started_at: isoOrNull(r.started_at),
        finished_at: isoOrNull(r.finished_at),
      })),
      next_cursor,
    };
  },
});

export const scheduleOperations = [
  createAgentSchedule,
  listAgentSchedules,
  getAgentSchedule,
  updateAgentSchedule,
  deleteAgentSchedule,
  listAgentScheduleRuns,
];
