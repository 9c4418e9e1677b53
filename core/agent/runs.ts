// Runs as data: a run is a persisted state machine (queued → running → awaiting_approval → running → done |
// failed | cancelled) that runner workers lease from the job queue. This module owns its transitions and
// its event log; the runner (agent-runner/) executes the steps.

import crypto from "node:crypto";
import { sql } from "kysely";
import type { RunStatus } from "../../schema/database.ts";
import { publishEvent } from "../events/publish.ts";
import { enqueue } from "../jobs/queue.ts";
import type { DB } from "../kernel/operation.ts";
import type { Platform } from "../platform.ts";
import { announceProposal } from "../sites/proposals.ts";

export const RUN_QUEUE = "agent_runs";
export const RUN_EVENT_TOPIC = "agent_run_event";
export const ACTIVE: RunStatus[] = ["queued", "running", "awaiting_approval"];
/** Reports of scheduled runs (finished, or asking for approval), sent by the scheduler (scheduler.ts). */
export const SCHEDULE_REPORT_QUEUE = "agent_schedule_reports";

/**
 * If the run was started by a schedule, queues its report in the caller's transaction, so a report is never lost
 * to a crash between the change and the report. `finished` also records the outcome in the schedule's history.
 */
export async function queueScheduleReport(
  trx: DB,
  runId: string,
  report:
    | { kind: "finished"; status: "done" | "failed" | "cancelled"; error?: { code: string; message: string } }
    | { kind: "approval"; approvalId: string },
): Promise<void> {
  const row =
    report.kind === "finished"
      ? await trx
          .updateTable("agent_schedule_runs")
          .set({
            status: report.status,
            finished_at: new Date(),
            error: report.error ? JSON.stringify(report.error) : null,
            cost_micros: sql<string>`(SELECT cost_micros FROM agent_runs WHERE id = ${runId})`,
          })
          .where("run_id", "=", runId)
          .returning("id")
          .executeTakeFirst()
      : await trx.selectFrom("agent_schedule_runs").select("id").where("run_id", "=", runId).executeTakeFirst();
  if (!row) return;
  const key = report.kind === "finished" ? `${row.id}:finished` : `${row.id}:approval:${report.approvalId}`;
  await enqueue(trx, SCHEDULE_REPORT_QUEUE, key, {
    schedule_run_id: row.id,
    kind: report.kind,
    ...(report.kind === "approval" ? { approval_id: report.approvalId } : {}),
  });
}

/** Default limits per run; the operator may lower or raise them (config). */
export interface RunLimits {
  maxSteps: number;
  maxWallSeconds: number;
  maxCostMicros: number;
}

/** Records a user message, creates its run and enqueues the run's job, in one transaction. */
export async function startRun(
  platform: Platform,
  conversationId: string,
  message: string,
  limits: RunLimits,
): Promise<string> {
  const runId = crypto.randomUUID();
  await platform.db.transaction().execute((trx) => insertRun(trx, runId, conversationId, message, limits));
  await appendRunEvent(platform, runId, "run_queued", {});
  return runId;
}

/**
 * startRun's writes, inside the caller's transaction (a scheduled run commits them with its claim); the caller
 * appends the run_queued event after commit. `limits.ownCostCap`: a cap of this run's own, below the operator's.
 */
export async function insertRun(
  trx: DB,
  runId: string,
  conversationId: string,
  message: string,
  limits: RunLimits & { ownCostCap?: bigint | null },
): Promise<void> {
  await trx
    .insertInto("agent_runs")
    .values({
      id: runId,
      conversation_id: conversationId,
      status: "queued",
      deadline: new Date(Date.now() + limits.maxWallSeconds * 1000),
      max_cost_micros: limits.ownCostCap ?? null,
    })
    .execute();
  await trx
    .insertInto("agent_messages")
    .values({
      conversation_id: conversationId,
      run_id: runId,
      role: "user",
      content: JSON.stringify([{ type: "text", text: message }]),
    })
    .execute();
  await trx
    .updateTable("agent_conversations")
    .set({ updated_at: new Date() })
    .where("id", "=", conversationId)
    .execute();
  await enqueue(trx, RUN_QUEUE, runId, { run_id: runId });
}

/** Moves a run between states; `from` guards the transition so concurrent deciders cannot both win. */
export async function transition(
  db: DB,
  runId: string,
  from: RunStatus[],
  to: RunStatus,
  error?: { code: string; message: string },
): Promise<boolean> {
  const done = to === "done" || to === "failed" || to === "cancelled";
  const res = await db
    .updateTable("agent_runs")
    .set({
      status: to,
      ...(error ? { error: JSON.stringify(error) } : {}),
      ...(done ? { finished_at: new Date() } : {}),
    })
    .where("id", "=", runId)
    .where("status", "in", from)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/**
 * Appends to the run's event log and wakes streams on every node: other processes by a NOTIFY in the same statement,
 * delivered at commit (no round trip of its own, and no reader woken before the event is there to read). Pass `db`
 * to write it in the transaction that made the change it reports, so no reader sees the change without its event.
 */
export async function appendRunEvent(
  platform: Pick<Platform, "db" | "notifier">,
  runId: string,
  type: string,
  data: Record<string, unknown>,
  db: DB = platform.db,
): Promise<void> {
  const notify = platform.notifier.notifySql(
    RUN_EVENT_TOPIC,
    sql<string>`${runId}::text || ':' || agent_run_events.id`,
  );
  const row = await db
    .insertInto("agent_run_events")
    .values({ run_id: runId, type, data: JSON.stringify(data) })
    .returning(notify ? ["id", notify.as("notified")] : ["id"])
    .executeTakeFirstOrThrow();
  wakeRunReaders(platform, runId, String(row.id));
}

/**
 * Wakes this process's readers of a run (streams, Telegram) after a checkpoint with its events committed: one wake-up per
 * batch, since readers re-read from their last id. Other processes were woken by the commit itself.
 */
export function wakeRunReaders(platform: Pick<Platform, "notifier">, runId: string, lastId: string | null) {
  if (lastId) platform.notifier.emitLocal(RUN_EVENT_TOPIC, `${runId}:${lastId}`);
}

/** Ends a run still in one of `from`, with its run_finished event in the same transaction. */
export async function finishRun(
  platform: Platform,
  runId: string,
  from: RunStatus[],
  status: "done" | "failed" | "cancelled",
  error?: { code: string; message: string },
): Promise<boolean> {
  return platform.db.transaction().execute(async (trx) => {
    if (!(await transition(trx, runId, from, status, error))) return false;
    const run = await trx
      .selectFrom("agent_runs")
      .innerJoin("agent_conversations as c", "c.id", "agent_runs.conversation_id")
      .innerJoin("projects", "projects.id", "c.project_id")
      .select(["c.id as conversation_id", "c.account_id", "projects.id", "projects.slug"])
      .where("agent_runs.id", "=", runId)
      .executeTakeFirstOrThrow();
    const common = { account: run.account_id, project: { id: run.id, slug: run.slug } };
    // A site run's changes, before the end: a chat shows them with Apply / Discard, an event announces them.
    const proposal = await announceProposal(trx, runId, common);
    if (proposal) await appendRunEvent(platform, runId, "proposal", proposal, trx);
    await appendRunEvent(platform, runId, "run_finished", { status, ...(error ? { error } : {}) }, trx);
    await queueScheduleReport(trx, runId, { kind: "finished", status, ...(error ? { error } : {}) });
    await publishEvent(
      trx,
      status === "failed"
        ? {
            ...common,
            type: "agent_run.failed",
            data: {
              run_id: runId,
              conversation_id: run.conversation_id,
              error: (error?.message ?? "failed").slice(0, 500),
            },
          }
        : {
            ...common,
            type: "agent_run.finished",
            data: { run_id: runId, conversation_id: run.conversation_id, status },
          },
    );
    return true;
  });
}

/** Cancels a conversation's active run and its pending approvals; the worker stops at its next step. */
export async function cancelActiveRun(platform: Platform, conversationId: string): Promise<string | null> {
  const run = await platform.db
    .selectFrom("agent_runs")
    .select("id")
    .where("conversation_id", "=", conversationId)
    .where("status", "in", ACTIVE)
    .executeTakeFirst();
  if (!run) return null;
  if (
    !(await finishRun(platform, run.id, ACTIVE, "cancelled", { code: "cancelled", message: "cancelled by the user" }))
  )
    return null;
  await platform.db
    .updateTable("agent_approvals")
    .set({ status: "cancelled" })
    .where("run_id", "=", run.id)
    .where("status", "=", "pending")
    .execute();
  return run.id;
}
