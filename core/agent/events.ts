// A run's event log, for polling (MCP, scripts) and for the SSE stream the HTTP app serves from it.
import { z } from "zod";
import { iso, ProjectRef, Timestamp } from "../kernel/common.ts";
import { notFound } from "../kernel/errors.ts";
import { type DB, defineOperation } from "../kernel/operation.ts";
import type { Platform } from "../platform.ts";
import { runView } from "./conversations.ts";
import { agentKinds } from "./kinds.ts";
import { eventCutoff, readerOf, redactEvents } from "./redaction.ts";
import { RUN_EVENT_TOPIC } from "./runs.ts";

export const RunEvent = z.object({
  id: z.string(),
  type: z.string(),
  data: z.record(z.string(), z.unknown()),
  created_at: Timestamp,
});

/** list_agent_run_events' page size: a full page may have more behind it. */
export const RUN_EVENTS_PAGE = 500;

/**
 * Events of a run after `after` (an event id), oldest first. Bounded below by the run's creation, so only the
 * months since are read (agent_run_events is partitioned by month, migration 0022); a day early, since an
 * event's time is its transaction's start, which may precede the run's commit.
 */
export async function runEventsAfter(
  db: DB,
  run: { id: string; created_at: Date | string },
  after: string | undefined,
  limit = RUN_EVENTS_PAGE,
) {
  const since = new Date(new Date(run.created_at).getTime() - 86_400_000);
  let q = db
    .selectFrom("agent_run_events")
    .selectAll()
    .where("run_id", "=", run.id)
    .where("created_at", ">=", since)
    .orderBy("id")
    .limit(limit);
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
    wait_seconds: z.number().int().min(0).max(300).default(0).meta({
      description:
        "Wait up to this long for the run to end or await approval, collecting its events (each also sent as progress)",
    }),
  }),
  output: z.object({ run: z.object({ id: z.string(), status: z.string() }).passthrough(), events: z.array(RunEvent) }),
  handler: async (ctx, input) => {
    const loadRun = async () => {
      const run = await ctx.db
        .selectFrom("agent_runs")
        .innerJoin("agent_conversations as c", "c.id", "agent_runs.conversation_id")
        .selectAll("agent_runs")
        .select("c.kind")
        .where("agent_runs.id", "=", input.run_id)
        .where("c.project_id", "=", ctx.project.id)
        .executeTakeFirst();
      if (!run) throw notFound("run", input.run_id);
      return run;
    };
    const reader = readerOf(ctx.principal.scopes, ctx.project.role);
    const deadline = Date.now() + input.wait_seconds * 1000;
    const events: z.infer<typeof RunEvent>[] = [];
    let after = input.after;
    for (;;) {
      // The run first, then its events: a run's end and its last event commit together, so a finished run
      // read here has all its events in the page read next.
      const run = await loadRun();
      const raw = await runEventsAfter(ctx.db, run, after, RUN_EVENTS_PAGE - events.length);
      // The cutoff after the page: read before it, a hidden result and the model's next words committed in
      // between would both be in the page with no cutoff to hide them. The first hidden result never moves,
      // so one read after the page covers every event in it.
      const cutoff = await eventCutoff(ctx.platform, reader, run.conversation_id, agentKinds[run.kind].tools);
      const page = redactEvents(raw, cutoff);
      for (const e of page) {
        events.push(e);
        after = e.id;
        ctx.progress({ progress: events.length, message: e.type });
      }
      const parked = run.status !== "queued" && run.status !== "running";
      if (parked || events.length >= RUN_EVENTS_PAGE || Date.now() >= deadline || ctx.signal.aborted)
        return { run: runView(run), events };
      await nextEvent(ctx.platform, run.id, Math.min(FOLLOW_POLL_MS, deadline - Date.now()), ctx.signal);
    }
  },
});

/** A poll even without a wake-up (a NOTIFY can be missed while a connection is re-established). */
const FOLLOW_POLL_MS = 2_000;

/** Resolves when the run records an event (any node: Postgres NOTIFY), after `ms`, or when the call is aborted. */
function nextEvent(platform: Platform, runId: string, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      platform.notifier.off(RUN_EVENT_TOPIC, onEvent);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const onEvent = (payload: string) => {
      if (payload.startsWith(`${runId}:`)) done();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    platform.notifier.on(RUN_EVENT_TOPIC, onEvent);
    signal.addEventListener("abort", done, { once: true });
  });
}
