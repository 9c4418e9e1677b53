// A run's life as functions: everything the runner (agent-runner/) records while it executes a run — its steps,
// messages, refusals, taint and holds — is written here, so core owns the run's state and the runner holds none
// of its SQL. Each write that a reader must see together with its event commits with that event.
import { type Selectable, sql } from "kysely";
import type { AgentRunsTable } from "../../schema/database.ts";
import {
  type Charge,
  type HoldRequest,
  holdCtes,
  releaseHold,
  type SettledRow,
  type Settlement,
  settleCtes,
  settlementOf,
} from "../billing/holds.ts";
import { finish, heartbeat, type Job, lease } from "../jobs/queue.ts";
import { commitModeCte, isDurable } from "../kernel/commit-mode.ts";
import type { Effect, ProjectAccess } from "../kernel/operation.ts";
import { runSql } from "../kernel/prepared.ts";
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
 * hold settled before (a retry) records the call at that first charge. It carries money, so its commit waits for
 * the disk (and so flushes every asynchronous checkpoint before it). Returns the settlement, the run as the update
 * left it (its latest status: a cancel that committed first is seen here) and whether the commit was durable.
 *
 * With `start` (the reply's first tool call, which the policy lets run without a person), the statement is also
 * that call's start (beginToolStep): made only while the run is `running` and when the call was paid for in full
 * (no shortfall: the run stops there), its `tool_call` event after the reply's, the taint with the run's totals;
 * `started` is the step, or null when it was not made.
 */
export async function completeModelStep(
  platform: P,
  runId: string,
  conversationId: string,
  step: ModelStep,
  charge: Charge,
  start?: ToolStart,
): Promise<{ settled: Settlement; run: RunState; durable: boolean; started: StartedTool | null }> {
  const { usage } = step;
  // The step's events as one array (model_step first, its cost filled in by the statement; a start's tool_call
  // last, kept only when the start is made): the statement's text is the same for any number of text blocks, so it
  // is prepared once.
  const events = [
    { type: "model_step", data: { model: step.model, usage } },
    ...step.content
      .filter((block) => block.type === "text" && block.text)
      .map((block) => ({ type: "text", data: { text: block.text } })),
    ...(start ? [{ type: "tool_call", data: { tool: start.use.name, input: start.use.input } }] : []),
  ];
  const notify = platform.notifier.notifySql(RUN_EVENT_TOPIC, sql<string>`${runId}::text || ':' || ev.last`);
  const name = `agent_model_step${start ? "_start" : ""}${notify ? "_notify" : ""}`;
  const { rows } = await runSql(
    platform.db,
    sql<
      Partial<SettledRow> &
        Partial<AccessRow> & {
          run_status: RunState["status"];
          run_steps: number;
          run_cost_micros: string;
          run_max_cost_micros: string | null;
          run_deadline: Date;
          event_id: string;
          synchronous_commit: string;
          started_id?: string | null;
        }
    >`/* prepare:${sql.raw(name)} */
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
        output_tokens = output_tokens + ${usage.output_tokens}::bigint${
          start
            ? sql`,
        untrusted_input = coalesce(agent_runs.untrusted_input, ${taintOf(start)}::jsonb)`
            : sql``
        }
      FROM charged WHERE agent_runs.id = ${runId}
      RETURNING agent_runs.status AS run_status, agent_runs.steps AS run_steps,
        agent_runs.cost_micros AS run_cost_micros, agent_runs.max_cost_micros AS run_max_cost_micros,
        agent_runs.deadline AS run_deadline),${
          start
            ? sql`
    call AS (
      INSERT INTO agent_steps (run_id, kind, state, tool_use_id, tool, input)
      SELECT ${runId}::uuid, 'tool', 'started', ${start.use.id}, ${start.use.name}, ${JSON.stringify(start.use.input)}::jsonb
      FROM r WHERE r.run_status = 'running' AND NOT EXISTS (SELECT 1 FROM settled WHERE shortfall_added > 0)
      RETURNING id),
    ${accessCte(start.caller)},`
            : sql``
        }
    ins AS (
      INSERT INTO agent_run_events (run_id, type, data)
      SELECT ${runId}, x.e->>'type',
        CASE WHEN x.n = 1 THEN (x.e->'data') || jsonb_build_object('cost_micros', charged.micros) ELSE x.e->'data' END
      FROM charged, jsonb_array_elements(${JSON.stringify(events)}::jsonb) WITH ORDINALITY AS x(e, n)
      ${start ? sql`WHERE x.e->>'type' <> 'tool_call' OR EXISTS (SELECT 1 FROM call)` : sql``}
      ORDER BY x.n
      RETURNING id),
    ev AS (SELECT max(id) AS last FROM ins)
    SELECT r.*, ev.last AS event_id, current_setting('synchronous_commit') AS synchronous_commit, s.*${
      start ? sql`, (SELECT id FROM call) AS started_id, ${accessColumns}` : sql``
    }${notify ? sql`, ${notify} AS notified` : sql``}
    FROM r CROSS JOIN ev LEFT JOIN settled s ON true${start ? sql` LEFT JOIN access a ON true` : sql``}`,
  );
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
    durable: isDurable(row.synchronous_commit),
    started: row.started_id ? { id: row.started_id, project: accessOf(row as AccessRow) } : null,
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

// ---- a tool call's start, in a statement of its own or in the model step's -------------------------------

/** A tool call to checkpoint as `started`: the call, its tool's effect and trust, and whose access it needs. */
export interface ToolStart {
  use: ToolCallRef;
  tool: { effect: Effect; untrusted: boolean };
  /** The person whose access to the run's project the invoker's check needs (read with the start). */
  caller?: { projectId: string; accountId: string };
}

/** The run's taint for a start (trifecta.ts), or null: its tool's result is trusted. */
const taintOf = ({ use, tool }: ToolStart) =>
  tool.untrusted ? JSON.stringify({ tool: use.name, at: new Date().toISOString() }) : null;

/** The CTE `access`: the caller's project row and role (no row once they are no longer a member). */
const accessCte = (caller: ToolStart["caller"]) => sql`access AS (
      SELECT p.id, p.slug, p.name, p.kind, p.owner_account_id, p.created_at, p.updated_at, pm.role
      FROM projects p JOIN project_members pm ON pm.project_id = p.id
      WHERE p.id = ${caller?.projectId ?? null}::uuid AND pm.account_id = ${caller?.accountId ?? null}::uuid)`;

/** The access columns a start's statement selects from `access a`, prefixed `project_`. */
const accessColumns = sql`a.id AS project_id, a.slug AS project_slug, a.name AS project_name, a.kind AS project_kind,
      a.owner_account_id AS project_owner_account_id, a.created_at AS project_created_at,
      a.updated_at AS project_updated_at, a.role AS project_role`;

type AccessRow = { project_id: string | null } & {
  // Null with project_id only.
  [K in Exclude<keyof ProjectAccess, "id"> as `project_${K}`]: ProjectAccess[K];
};

const accessOf = (row: AccessRow): ProjectAccess | null =>
  row.project_id
    ? {
        id: row.project_id,
        slug: row.project_slug,
        name: row.project_name,
        kind: row.project_kind,
        owner_account_id: row.project_owner_account_id,
        created_at: row.project_created_at,
        updated_at: row.project_updated_at,
        role: row.project_role,
      }
    : null;

/** A tool call checkpointed `started`: its step, and the caller's access read with it. */
export interface StartedTool {
  id: string;
  project: ProjectAccess | null;
}

/**
 * Checkpoints a tool call as `started` before it is made, with its `tool_call` event and, for a tool whose result
 * is untrusted, the run's taint (trifecta.ts: stored before the reading call, so a resumed run keeps it), in one
 * statement announced at commit. Returns the step's id, or null when the run is no longer running (cancelled
 * meanwhile): then the call is not made. The taint is written either way: it only ever makes a run stricter.
 *
 * The commit waits for the disk only for a call with an effect (`write`, `destructive`): that record is what keeps
 * a resumed run from making it twice, so it must survive a crash of the database server before the call is made.
 * A read's start commits asynchronously: lost in such a crash (with everything after it, never alone), the resumed
 * run finds no step and reads again, which is harmless. `durable` is what the statement's commit did.
 *
 * With `caller`, the statement also reads the caller's access to the run's project (its row and their role, null
 * once they are no longer a member): the invoker's project check for the call, made here so the call needs no
 * query of its own for it (core/projects/access.ts presentAccess).
 */
export async function beginToolStep(
  platform: P,
  runId: string,
  use: ToolCallRef,
  tool: ToolStart["tool"],
  caller?: ToolStart["caller"],
): Promise<(StartedTool & { durable: boolean }) | null> {
  const { db } = platform;
  const start = { use, tool, caller };
  const taint = taintOf(start);
  const notify = platform.notifier.notifySql(RUN_EVENT_TOPIC, sql<string>`${runId}::text || ':' || ev.id`);
  const { rows } = await runSql(
    db,
    sql<{ id: string | null; event_id: string | null; synchronous_commit: string } & AccessRow>`
    /* prepare:agent_tool_start${sql.raw(notify ? "_notify" : "")} */
    WITH ${commitModeCte(db, tool.effect !== "read")},
    taint AS (
      UPDATE agent_runs SET untrusted_input = ${taint}::jsonb
      WHERE id = ${runId} AND untrusted_input IS NULL AND ${taint}::jsonb IS NOT NULL),
    step AS (
      INSERT INTO agent_steps (run_id, kind, state, tool_use_id, tool, input)
      SELECT ${runId}::uuid, 'tool', 'started', ${use.id}, ${use.name}, ${JSON.stringify(use.input)}::jsonb
      WHERE EXISTS (SELECT 1 FROM agent_runs WHERE id = ${runId} AND status = 'running')
      RETURNING id),
    ev AS (
      INSERT INTO agent_run_events (run_id, type, data)
      SELECT ${runId}::uuid, 'tool_call', ${JSON.stringify({ tool: use.name, input: use.input })}::jsonb FROM step
      RETURNING id),
    ${accessCte(start.caller)}
    SELECT step.id, ev.id AS event_id, m.synchronous_commit, ${accessColumns}${notify ? sql`, CASE WHEN ev.id IS NOT NULL THEN ${notify} END AS notified` : sql``}
    FROM commit_mode m LEFT JOIN step ON true LEFT JOIN ev ON true LEFT JOIN access a ON true`,
  );
  const row = rows[0];
  if (!row?.id) return null;
  wakeRunReaders(platform, runId, String(row.event_id));
  return { id: row.id, durable: isDurable(row.synchronous_commit), project: accessOf(row) };
}

/**
 * Checkpoints a tool call's result, with its event; `message` (the tool results of the step, when this was its
 * last call) goes into the transcript in the same statement, announced at commit, and with it, when given, the
 * next model call's hold (holdCtes; `held` says whether it was placed). Its commit does not wait for the disk:
 * lost in a crash of the database server (only with everything after it), the resumed run finds the step
 * `started` and reports it interrupted, or, for a read whose start went with it, reads again — what a crash during
 * the call does; a hold lost with it reserved nothing that was spent. The next model step's durable commit flushes
 * it. Returns the run as it stands (a snapshot read: no lock, no round trip of its own) and what the commit did.
 */
export async function completeToolStep(
  platform: P,
  runId: string,
  stepId: string,
  tool: string,
  result: { output: string; isError: boolean; durationMs: number },
  message?: { conversationId: string; content: unknown[]; hold?: HoldRequest },
): Promise<{ run: RunState; durable: boolean; held: boolean }> {
  const { db } = platform;
  const { output, isError, durationMs } = result;
  const event = { tool, is_error: isError, duration_ms: durationMs, bytes: output.length, ...exitCodeOf(output) };
  const notify = platform.notifier.notifySql(RUN_EVENT_TOPIC, sql<string>`${runId}::text || ':' || ev.id`);
  const hold = message?.hold;
  const { rows } = await runSql(
    db,
    sql<RunState & { event_id: string; synchronous_commit: string; hold_id: string | null }>`
    /* prepare:agent_tool_result${sql.raw(hold ? "_hold" : "")}${sql.raw(notify ? "_notify" : "")} */
    WITH ${commitModeCte(db, false)},${hold ? sql` ${holdCtes(hold)},` : sql``}
    step AS (
      UPDATE agent_steps SET state = 'done', output = ${output}, is_error = ${isError}, duration_ms = ${durationMs}::int
      WHERE id = ${stepId}),
    message AS (
      INSERT INTO agent_messages (conversation_id, run_id, role, content)
      SELECT ${message?.conversationId ?? null}::uuid, ${runId}::uuid, 'user', ${JSON.stringify(message?.content ?? null)}::jsonb
      WHERE ${message !== undefined}::boolean),
    ev AS (
      INSERT INTO agent_run_events (run_id, type, data)
      VALUES (${runId}::uuid, 'tool_result', ${JSON.stringify(event)}::jsonb)
      RETURNING id)
    SELECT r.status, r.steps, r.cost_micros, r.max_cost_micros, r.deadline, ev.id AS event_id,
      m.synchronous_commit${hold ? sql`, (SELECT id FROM placed) AS hold_id` : sql``}${notify ? sql`, ${notify} AS notified` : sql``}
    FROM commit_mode m, ev, agent_runs r WHERE r.id = ${runId}`,
  );
  const row = rows[0];
  if (!row) throw new Error(`the tool result of run ${runId} was not recorded: the run does not exist`);
  wakeRunReaders(platform, runId, String(row.event_id));
  const { status, steps, cost_micros, max_cost_micros, deadline } = row;
  return {
    run: { status, steps, cost_micros, max_cost_micros, deadline },
    durable: isDurable(row.synchronous_commit),
    held: !!hold && row.hold_id != null,
  };
}

/**
 * A call the model step started (completeModelStep's `start`) that the run then did not make, because it stopped
 * first (a limit, its credential): done, as an error saying so, so the transcript does not show it in progress.
 */
export async function abandonToolStep(platform: Pick<Platform, "db">, runId: string, stepId: string): Promise<void> {
  await platform.db
    .updateTable("agent_steps")
    .set({ state: "done", output: "not made: the run stopped before this call", is_error: true })
    .where("id", "=", stepId)
    .where("run_id", "=", runId)
    .where("state", "=", "started")
    .execute();
}

/** A command's exit code, for surfaces that show it (Telegram's `$ cmd → exit 0`); nothing for other tools. */
function exitCodeOf(output: string): { exit_code?: number | null } {
  const m = /^\{"exit_code":(-?\d+|null)[,}]/.exec(output);
  return m ? { exit_code: m[1] === "null" ? null : Number(m[1]) } : {};
}

/**
 * A tool call refused without being made (no such tool, policy, a person's denial): a done step with the reason and
 * its event, in one statement announced at commit. Asynchronous: nothing was done outside the database, and a
 * resumed run that lost it refuses again (the policy is the same; a person's decision is stored with the approval).
 */
export async function recordRefusal(platform: P, runId: string, use: ToolCallRef, message: string): Promise<void> {
  const { db } = platform;
  const notify = platform.notifier.notifySql(RUN_EVENT_TOPIC, sql<string>`${runId}::text || ':' || ev.id`);
  const { rows } = await runSql(
    db,
    sql<{ event_id: string }>`/* prepare:agent_tool_refused${sql.raw(notify ? "_notify" : "")} */
    WITH ${commitModeCte(db, false)},
    step AS (
      INSERT INTO agent_steps (run_id, kind, state, tool_use_id, tool, input, output, is_error, duration_ms)
      VALUES (${runId}::uuid, 'tool', 'done', ${use.id}, ${use.name}, ${JSON.stringify(use.input)}::jsonb, ${message}, true, 0)),
    ev AS (
      INSERT INTO agent_run_events (run_id, type, data)
      VALUES (${runId}::uuid, 'tool_refused', ${JSON.stringify({ tool: use.name, reason: message })}::jsonb)
      RETURNING id)
    SELECT ev.id AS event_id, m.synchronous_commit${notify ? sql`, ${notify} AS notified` : sql``}
    FROM commit_mode m, ev`,
  );
  wakeRunReaders(platform, runId, rows[0] ? String(rows[0].event_id) : null);
}
