// A run's event log, for polling (MCP, scripts) and for the SSE stream the HTTP app serves from it.
import { z } from "zod";
import { iso, ProjectRef, Timestamp } from "../kernel/common.ts";
import { notFound } from "../kernel/errors.ts";
import { type DB, defineOperation } from "../kernel/operation.ts";
import { runView } from "./conversations.ts";
import { agentKinds } from "./kinds.ts";
import { eventCutoff, readerOf, redactEvents } from "./redaction.ts";

export const RunEvent = z.object({
  id: z.string(),
  type: z.string(),
  data: z.record(z.string(), z.unknown()),
  created_at: Timestamp,
});

/** list_agent_run_events' page size: a full page may have more behind it. */
export const RUN_EVENTS_PAGE = 500;

/** Events of a run after `after` (an event id), oldest first. */
export async function runEventsAfter(db: DB, runId: string, after: string | undefined, limit = RUN_EVENTS_PAGE) {
  let q = db.selectFrom("agent_run_events").selectAll().where("run_id", "=", runId).orderBy("id").limit(limit);
  if (after) q = q.where("id", ">", after);
  const rows = await q.execute();
  return rows.map((e) => ({
    id: String(e.id),
    type: e.type,
    data: e.data as Record<string, unknown>,
    created_at: iso(e.created_at),
  }));
}

export const listAgentRunEvents = defineOperation({
  id: "list_agent_run_events",
  summary: "List a run's events",
  description:
    "What a run did, in order (model steps, text, tool calls and results, approvals, the end). Poll with `after` set to the last id seen until the run is done, failed or cancelled (REST can stream …/events/stream). What follows a tool result you may not read is hidden, with `hidden` saying why.",
  tags: ["agent"],
  scope: "agent:read",
  effect: "read",
  http: { method: "get", path: "/projects/{project}/agent/runs/{run_id}/events" },
  input: z.object({
    project: ProjectRef,
    run_id: z.uuid(),
    after: z.string().regex(/^\d+$/).optional().meta({ description: "Last event id seen" }),
  }),
  output: z.object({ run: z.object({ id: z.string(), status: z.string() }).passthrough(), events: z.array(RunEvent) }),
  handler: async (ctx, input) => {
    const run = await ctx.db
      .selectFrom("agent_runs")
      .innerJoin("agent_conversations as c", "c.id", "agent_runs.conversation_id")
      .selectAll("agent_runs")
      .select("c.kind")
      .where("agent_runs.id", "=", input.run_id)
      .where("c.project_id", "=", ctx.project.id)
      .executeTakeFirst();
    if (!run) throw notFound("run", input.run_id);
    const events = await runEventsAfter(ctx.db, run.id, input.after);
    const reader = readerOf(ctx.principal.scopes, ctx.project.role);
    const cutoff = await eventCutoff(ctx.platform, reader, run.conversation_id, agentKinds[run.kind].tools);
    return { run: runView(run), events: redactEvents(events, cutoff) };
  },
});
