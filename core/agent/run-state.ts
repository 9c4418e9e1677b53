// A run's life as functions: everything the runner (agent-runner/) records while it executes a run — its steps,
// messages, refusals, taint and holds — is written here, so core owns the run's state and the runner holds none
// of its SQL. Each write that a reader must see together with its event commits with that event.
import { type Selectable, sql } from "kysely";
import type { AgentRunsTable } from "../../schema/database.ts";
import {
  type Charge,
  releaseHold,
  type SettledRow,
  type Settlement,
  settleCtes,
  settlementOf,
} from "../billing/holds.ts";
import { finish, heartbeat, type Job, lease } from "../jobs/queue.ts";
import type { Platform } from "../platform.ts";
import type { CommandRules } from "./policy.ts";
import { appendRunEvent, RUN_EVENT_TOPIC, RUN_QUEUE, transition, wakeRunReaders } from "./runs.ts";

export type { Job };

type P = Pick<Platform, "db" | "notifier">;

/** A tool call as the model made it. */
export interface ToolCallRef {
  id: string;
  name: string;
  input: Record<string, unknown>;
}

// ---- the run's job -----------------------------------------------------------------------------------------

/** The next run job to execute, leased to `owner` for `leaseMs`. */
export const leaseRunJob = (platform: Pick<Platform, "db">, owner: string, leaseMs: number) =>
  lease(platform.db, RUN_QUEUE, owner, leaseMs);
/** Extends a run job's lease; false when it was lost to another worker. */
export const heartbeatRunJob = (platform: Pick<Platform, "db">, job: Job, leaseMs: number) =>
  heartbeat(platform.db, job, leaseMs);
/** Lets go of a run job: done, failed, or back in the queue after `afterMs`. */
export const finishRunJob = (platform: Pick<Platform, "db">, job: Job, outcome: Parameters<typeof finish>[2]) =>
  finish(platform.db, job, outcome);

// ---- the run -----------------------------------------------------------------------------------------------

/**
 * Takes a queued (or crashed, still `running`) run into `running`. A hold still active for it belongs to an
 * attempt that crashed mid-call: it is given back. False when the run is not runnable.
 */
export async function beginRun(platform: P, runId: string): Promise<boolean> {
  if (!(await transition(platform.db, runId, ["queued", "running"], "running"))) return false;
  const stale = await platform.db
    .selectFrom("holds")
    .select("id")
    .where("state", "=", "active")
    .where(({ eb, ref }) => eb(ref("metadata", "->>").key("run_id" as never), "=", runId))
    .execute();
  for (const h of stale) await releaseHold(platform.db, h.id);
  await appendRunEvent(platform, runId, "run_started", {});
  return true;
}

/** The run as it stands (status, steps so far, cost, deadline). */
export async function loadRun(platform: Pick<Platform, "db">, runId: string) {
  return platform.db.selectFrom("agent_runs").selectAll().where("id", "=", runId).executeTakeFirstOrThrow();
}

/** The conversation a run belongs to: its kind, mode, project and instance. */
export async function loadConversation(platform: Pick<Platform, "db">, conversationId: string) {
  return platform.db
    .selectFrom("agent_conversations")
    .selectAll()
    .where("id", "=", conversationId)
    .executeTakeFirstOrThrow();
}

/** The conversation's transcript, oldest first: what the model reads. */
export async function loadTranscript(
  platform: Pick<Platform, "db">,
  conversationId: string,
): Promise<{ role: "user" | "assistant"; content: unknown[] }[]> {
  const rows = await platform.db
    .selectFrom("agent_messages")
    .select(["role", "content"])
    .where("conversation_id", "=", conversationId)
    .orderBy("id")
    .execute();
  return rows.map((m) => ({ role: m.role, content: m.content as unknown[] }));
}

/** Appends a message of the run to its conversation (tool results go back as a `user` message). */
export async function recordMessage(
  platform: Pick<Platform, "db">,
  runId: string,
  conversationId: string,
  role: "user" | "assistant",
  content: unknown[],
): Promise<void> {
  await platform.db
    .insertInto("agent_messages")
    .values({ conversation_id: conversationId, run_id: runId, role, content: JSON.stringify(content) })
    .execute();
}

/** The owner's command rules of the conversation's instance (none for a site). */
export async function commandRulesOf(
  platform: Pick<Platform, "db">,
  projectId: string,
  instance: string | null,
): Promise<CommandRules> {
  if (!instance) return { allow: [], deny: [] };
  const row = await platform.db
    .selectFrom("instances")
    .select("agent_command_rules")
    .where("project_id", "=", projectId)
    .where("name", "=", instance)
    .executeTakeFirst();
  return row?.agent_command_rules ?? { allow: [], deny: [] };
}

// ---- model steps -------------------------------------------------------------------------------------------

export interface ModelStep {
  model: string;
  usage: {
    input_tokens: number;
    output_tokens: number;
    cache_write_tokens: number;
    cache_read_tokens: number;
    reasoning_tokens: number;
  };
  durationMs: number;
  /** The model's reply, as it goes into the transcript. */
  content: { type: string; text?: string }[];
}

/** What the loop knows of its run between steps: each checkpoint returns it, so no step re-reads the run. */
export type RunState = Pick<
  Selectable<AgentRunsTable>,
  "status" | "steps" | "cost_micros" | "max_cost_micros" | "deadline"
>;

/**
 * Checkpoints a model call in one statement (one round trip, one commit): the settle of its hold (settleCtes),
 * its step, the reply in the transcript, the run's totals, its model_step event and one text event per text
 * block, and the NOTIFY that wakes the run's readers in other processes at commit. So a crash leaves the call
 * either charged and recorded, or neither (its hold then expires, and the resumed run makes the call again). A
 * hold settled before (a retry) records the call at that first charge. Returns the settlement and the run as the
 * update left it (its latest status: a cancel that committed first is seen here).
 */
export async function completeModelStep(
  platform: P,
  runId: string,
  conversationId: string,
  step: ModelStep,
  charge: Charge,
): Promise<{ settled: Settlement; run: RunState }> {
  const { usage } = step;
  // The step's events as one array (model_step first, its cost filled in by the statement): the statement's text
  // is the same for any number of text blocks, so it is prepared once.
  const events = [
    { type: "model_step", data: { model: step.model, usage } },
    ...step.content
      .filter((block) => block.type === "text" && block.text)
      .map((block) => ({ type: "text", data: { text: block.text } })),
  ];
  const notify = platform.notifier.notifySql(RUN_EVENT_TOPIC, sql<string>`${runId}::text || ':' || ev.last`);
  const { rows } = await sql<
    Partial<SettledRow> & {
      run_status: RunState["status"];
      run_steps: number;
      run_cost_micros: string;
      run_max_cost_micros: string | null;
      run_deadline: Date;
      event_id: string;
    }
  >`/* prepare:agent_model_step${sql.raw(notify ? "_notify" : "")} */
    WITH ${settleCtes(charge)},
    charged AS (
      SELECT -amount AS micros FROM settled
      UNION ALL
      SELECT charged FROM holds WHERE id = ${charge.holdId} AND state = 'settled' AND NOT EXISTS (SELECT 1 FROM settled)),
    st AS (
      INSERT INTO agent_steps (run_id, kind, state, model, usage, cost_micros, duration_ms)
      SELECT ${runId}, 'model', 'done', ${step.model}, ${JSON.stringify(usage)}::jsonb, charged.micros, ${step.durationMs}::int
      FROM charged),
    msg AS (
      INSERT INTO agent_messages (conversation_id, run_id, role, content)
      SELECT ${conversationId}, ${runId}, 'assistant', ${JSON.stringify(step.content)}::jsonb FROM charged),
    r AS (
      UPDATE agent_runs SET steps = steps + 1, cost_micros = cost_micros + charged.micros,
        input_tokens = input_tokens + ${usage.input_tokens + usage.cache_write_tokens + usage.cache_read_tokens}::bigint,
        output_tokens = output_tokens + ${usage.output_tokens}::bigint
      FROM charged WHERE agent_runs.id = ${runId}
      RETURNING agent_runs.status AS run_status, agent_runs.steps AS run_steps,
        agent_runs.cost_micros AS run_cost_micros, agent_runs.max_cost_micros AS run_max_cost_micros,
        agent_runs.deadline AS run_deadline),
    ins AS (
      INSERT INTO agent_run_events (run_id, type, data)
      SELECT ${runId}, x.e->>'type',
        CASE WHEN x.n = 1 THEN (x.e->'data') || jsonb_build_object('cost_micros', charged.micros) ELSE x.e->'data' END
      FROM charged, jsonb_array_elements(${JSON.stringify(events)}::jsonb) WITH ORDINALITY AS x(e, n)
      ORDER BY x.n
      RETURNING id),
    ev AS (SELECT max(id) AS last FROM ins)
    SELECT r.*, ev.last AS event_id, s.*${notify ? sql`, ${notify} AS notified` : sql``}
    FROM r CROSS JOIN ev LEFT JOIN settled s ON true`.execute(platform.db);
  const row = rows[0];
  // No row: no hold to charge (or a concurrent settle of it): nothing was recorded; the run retries the step.
  if (!row) {
    await settlementOf(platform.db, charge, undefined);
    throw new Error(`the model step of run ${runId} was not recorded: its hold ${charge.holdId} was settled meanwhile`);
  }
  const settled = await settlementOf(platform.db, charge, row.id == null ? undefined : (row as SettledRow));
  wakeRunReaders(platform, runId, String(row.event_id));
  return {
    settled,
    run: {
      status: row.run_status,
      steps: row.run_steps,
      cost_micros: row.run_cost_micros,
      max_cost_micros: row.run_max_cost_micros,
      deadline: row.run_deadline,
    },
  };
}

// ---- tool steps --------------------------------------------------------------------------------------------

const INTERRUPTED =
  "interrupted: the runner restarted during this call, so whether it took effect is unknown; check before repeating it";

/**
 * What became of a tool call this run already made: its result when done; when it was started and never finished
 * (the worker died during the call) its effect is unknown, so it is marked interrupted, not repeated. Null: not
 * made yet.
 */
export async function priorToolStep(
  platform: Pick<Platform, "db">,
  runId: string,
  toolUseId: string,
): Promise<{ output: string; isError: boolean } | null> {
  const step = await platform.db
    .selectFrom("agent_steps")
    .selectAll()
    .where("run_id", "=", runId)
    .where("tool_use_id", "=", toolUseId)
    .executeTakeFirst();
  if (!step) return null;
  if (step.state === "done") return { output: step.output ?? "", isError: step.is_error };
  await platform.db
    .updateTable("agent_steps")
    .set({ state: "interrupted", output: INTERRUPTED, is_error: true })
    .where("id", "=", step.id)
    .execute();
  return { output: INTERRUPTED, isError: true };
}

/**
 * Checkpoints a tool call as `started` before it is made (and tells the run's readers). Returns the step's id, or
 * null when the run is no longer running (cancelled meanwhile): then the call is not made.
 */
export async function beginToolStep(platform: P, runId: string, use: ToolCallRef): Promise<string | null> {
  // One statement, so no transaction of its own: the step and its event commit together, announced at commit.
  const notify = platform.notifier.notifySql(RUN_EVENT_TOPIC, sql<string>`${runId}::text || ':' || max(ev.id)`);
  const row = await platform.db
    .with("step", (q) =>
      q
        .insertInto("agent_steps")
        .columns(["run_id", "kind", "state", "tool_use_id", "tool", "input"])
        .expression(
          sql`select ${runId}::uuid, 'tool', 'started', ${use.id}, ${use.name}, ${JSON.stringify(use.input)}::jsonb
            where exists (select 1 from agent_runs where id = ${runId} and status = 'running')`,
        )
        .returning("id"),
    )
    .with("ev", (q) =>
      q
        .insertInto("agent_run_events")
        .columns(["run_id", "type", "data"])
        .expression(
          sql`select ${runId}::uuid, 'tool_call', ${JSON.stringify({ tool: use.name, input: use.input })}::jsonb
            from step`,
        )
        .returning("id"),
    )
    .selectFrom(["step", "ev"])
    .select((eb) => ["step.id", eb.fn.max("ev.id").as("event_id"), (notify ?? sql<string>`null`).as("notified")])
    .groupBy("step.id")
    .executeTakeFirst();
  if (!row) return null;
  wakeRunReaders(platform, runId, String(row.event_id));
  return row.id;
}

/**
 * Checkpoints a tool call's result, with its event; `message` (the tool results of the step, when this was its
 * last call) goes into the transcript in the same statement.
 */
export async function completeToolStep(
  platform: P,
  runId: string,
  stepId: string,
  tool: string,
  result: { output: string; isError: boolean; durationMs: number },
  message?: { conversationId: string; content: unknown[] },
): Promise<RunState> {
  const { output, isError, durationMs } = result;
  const event = { tool, is_error: isError, duration_ms: durationMs, bytes: output.length, ...exitCodeOf(output) };
  // One statement, so no transaction of its own: the step's result, the step's tool results in the transcript
  // (when this was its last call) and the event commit together, announced at commit.
  const notify = platform.notifier.notifySql(RUN_EVENT_TOPIC, sql<string>`${runId}::text || ':' || max(ev.id)`);
  const row = await platform.db
    .with("step", (q) =>
      q
        .updateTable("agent_steps")
        .set({ state: "done", output, is_error: isError, duration_ms: durationMs })
        .where("id", "=", stepId)
        .returning("id"),
    )
    .with("message", (q) =>
      q
        .insertInto("agent_messages")
        .columns(["conversation_id", "run_id", "role", "content"])
        // A row only when there is a message: one statement for both cases.
        .expression(
          sql`select ${message?.conversationId ?? null}::uuid, ${runId}::uuid, 'user',
            ${JSON.stringify(message?.content ?? null)}::jsonb where ${message !== undefined}`,
        )
        .returning("id"),
    )
    .with("ev", (q) =>
      q
        .insertInto("agent_run_events")
        .values({ run_id: runId, type: "tool_result", data: JSON.stringify(event) })
        .returning("id"),
    )
    // The run as it stands, for the loop's next step (a snapshot read: no lock, no round trip of its own).
    .selectFrom(["ev", "agent_runs as r"])
    .where("r.id", "=", runId)
    .select((eb) => [
      eb.fn.max("ev.id").as("event_id"),
      (notify ?? sql<string>`null`).as("notified"),
      "r.status",
      "r.steps",
      "r.cost_micros",
      "r.max_cost_micros",
      "r.deadline",
    ])
    .groupBy(["r.status", "r.steps", "r.cost_micros", "r.max_cost_micros", "r.deadline"])
    .executeTakeFirstOrThrow();
  wakeRunReaders(platform, runId, String(row.event_id));
  const { status, steps, cost_micros, max_cost_micros, deadline } = row;
  return { status, steps, cost_micros, max_cost_micros, deadline };
}

/** A command's exit code, for surfaces that show it (Telegram's `$ cmd → exit 0`); nothing for other tools. */
function exitCodeOf(output: string): { exit_code?: number | null } {
  const m = /^\{"exit_code":(-?\d+|null)[,}]/.exec(output);
  return m ? { exit_code: m[1] === "null" ? null : Number(m[1]) } : {};
}

/** A tool call refused without being made (no such tool, policy, a person's denial): a done step with the reason. */
export async function recordRefusal(platform: P, runId: string, use: ToolCallRef, message: string): Promise<void> {
  await platform.db
    .insertInto("agent_steps")
    .values({
      run_id: runId,
      kind: "tool",
      state: "done",
      tool_use_id: use.id,
      tool: use.name,
      input: JSON.stringify(use.input),
      output: message,
      is_error: true,
      duration_ms: 0,
    })
    .execute();
  await appendRunEvent(platform, runId, "tool_refused", { tool: use.name, reason: message });
}
