// A run's life as functions: everything the runner (agent-runner/) records while it executes a run — its steps,
// messages, refusals, taint and holds — is written here, so core owns the run's state and the runner holds none
// of its SQL. Each write that a reader must see together with its event commits with that event.
import { sql } from "kysely";
import { releaseHold, type Settlement } from "../billing/holds.ts";
import { microsNumber } from "../billing/money.ts";
import { finish, heartbeat, type Job, lease } from "../jobs/queue.ts";
import type { DB } from "../kernel/operation.ts";
import type { Platform } from "../platform.ts";
import type { CommandRules } from "./policy.ts";
import { appendRunEvent, insertRunEvents, RUN_EVENT_TOPIC, RUN_QUEUE, transition, wakeRunReaders } from "./runs.ts";

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

/**
 * Checkpoints a model call in one transaction (one commit per step, not one per write): `settle` charges it
 * (the meter, in this transaction), then its step, the reply in the transcript, the run's totals and its
 * model_step event and one text event per text block. So a crash leaves the call either charged and recorded,
 * or neither (its hold then expires, and the resumed run makes the call again). Returns the settlement.
 */
export async function completeModelStep(
  platform: P,
  runId: string,
  conversationId: string,
  step: ModelStep,
  settle: (db: DB) => Promise<Settlement>,
): Promise<Settlement> {
  const { usage } = step;
  const { settled, lastEvent } = await platform.db.transaction().execute(async (trx) => {
    const settled = await settle(trx);
    await trx
      .insertInto("agent_steps")
      .values({
        run_id: runId,
        kind: "model",
        state: "done",
        model: step.model,
        usage: JSON.stringify(usage),
        cost_micros: settled.charged,
        duration_ms: step.durationMs,
      })
      .execute();
    await trx
      .insertInto("agent_messages")
      .values({
        conversation_id: conversationId,
        run_id: runId,
        role: "assistant",
        content: JSON.stringify(step.content),
      })
      .execute();
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
    const lastEvent = await insertRunEvents(trx, platform.notifier, runId, [
      // A bounded amount (what one call charged), so a safe JSON number.
      ["model_step", { model: step.model, usage, cost_micros: microsNumber(settled.charged) }],
      ...step.content
        .filter((block) => block.type === "text" && block.text)
        .map((block): [string, Record<string, unknown>] => ["text", { text: block.text }]),
    ]);
    return { settled, lastEvent };
  });
  wakeRunReaders(platform, runId, lastEvent);
  return settled;
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

/** Checkpoints a tool call as `started` before it is made (and tells the run's readers). Returns the step's id. */
export async function beginToolStep(platform: P, runId: string, use: ToolCallRef): Promise<string> {
  // One statement, so no transaction of its own: the step and its event commit together, announced at commit.
  const notify = platform.notifier.notifySql(RUN_EVENT_TOPIC, sql<string>`${runId}::text || ':' || max(ev.id)`);
  const row = await platform.db
    .with("step", (q) =>
      q
        .insertInto("agent_steps")
        .values({
          run_id: runId,
          kind: "tool",
          state: "started",
          tool_use_id: use.id,
          tool: use.name,
          input: JSON.stringify(use.input),
        })
        .returning("id"),
    )
    .with("ev", (q) =>
      q
        .insertInto("agent_run_events")
        .values({ run_id: runId, type: "tool_call", data: JSON.stringify({ tool: use.name, input: use.input }) })
        .returning("id"),
    )
    .selectFrom(["step", "ev"])
    .select((eb) => ["step.id", eb.fn.max("ev.id").as("event_id"), (notify ?? sql<string>`null`).as("notified")])
    .groupBy("step.id")
    .executeTakeFirstOrThrow();
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
): Promise<void> {
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
    .selectFrom("ev")
    .select((eb) => [eb.fn.max("ev.id").as("event_id"), (notify ?? sql<string>`null`).as("notified")])
    .executeTakeFirstOrThrow();
  wakeRunReaders(platform, runId, String(row.event_id));
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
