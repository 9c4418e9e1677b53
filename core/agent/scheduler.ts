// The agent scheduler: finds due schedules, starts their runs and sends their reports, in any number of processes on
// one database. Exactly-once comes from Postgres, not from this process: a due schedule is claimed under
// `FOR UPDATE SKIP LOCKED`, its due time becomes an `agent_schedule_runs` row that is UNIQUE (schedule, slot), and
// the run is started by a leased job whose start is guarded by that row's `pending` status. After downtime the
// missed due times fold into one run. The clock is a parameter, so tests drive it.

import crypto from "node:crypto";
import { usdText } from "../billing/money.ts";
import { agentUnavailable } from "../config.ts";
import { foldDueTimes } from "../jobs/cron.ts";
import { enqueue, finish, type Job, lease, workerId } from "../jobs/queue.ts";
import { Ticker } from "../jobs/ticker.ts";
import { BosunError, toBosunError } from "../kernel/errors.ts";
import type { AuthenticatedPrincipal, Credential } from "../kernel/operation.ts";
import type { Platform } from "../platform.ts";
import { creditProblem } from "./conversations.ts";
import { agentKinds } from "./kinds.ts";
import { ACTIVE, appendRunEvent, insertRun, SCHEDULE_REPORT_QUEUE } from "./runs.ts";

/** Starting the run of a claimed due time. */
export const SCHEDULE_START_QUEUE = "agent_schedule_starts";
/** Told to every process when a scheduled run that reports to Telegram starts; one bridge claims relaying it. */
export const SCHEDULED_RUN_TOPIC = "agent_scheduled_run";

/**
 * Claims every schedule due at `now`: records the due time (the earliest missed one) as a run of the schedule,
 * queues its start, and moves the schedule to its first due time after `now` — so downtime gives one run, not one
 * per missed time. Another process claiming at once skips the rows locked here; one that claims later finds them
 * no longer due; and the UNIQUE (schedule, slot) row refuses a second run for a due time whatever happens.
 */
export async function claimDueSchedules(platform: Pick<Platform, "db">, now: Date, batch = 100): Promise<number> {
  return platform.db.transaction().execute(async (trx) => {
    const due = await trx
      .selectFrom("agent_schedules")
      .select(["id", "cron", "timezone", "next_run_at"])
      .where("enabled", "=", true)
      .where("next_run_at", "<=", now)
      .orderBy("next_run_at")
      .limit(batch)
      .forUpdate()
      .skipLocked()
      .execute();
    let claimed = 0;
    for (const s of due) {
      const slot = s.next_run_at;
      if (!slot) continue; // the WHERE above excludes it; this tells the type checker
      const { missed, next } = foldDueTimes(s.cron, s.timezone, slot, now);
      const row = await trx
        .insertInto("agent_schedule_runs")
        .values({
          id: crypto.randomUUID(),
          schedule_id: s.id,
          slot_at: slot,
          missed,
          status: "pending",
        })
        .onConflict((oc) => oc.columns(["schedule_id", "slot_at"]).doNothing())
        .returning("id")
        .executeTakeFirst();
      if (row) {
        await enqueue(trx, SCHEDULE_START_QUEUE, row.id, { schedule_run_id: row.id });
        claimed++;
      }
      await trx
        .updateTable("agent_schedules")
        .set({ next_run_at: next, ...(next ? {} : { enabled: false }) })
        .where("id", "=", s.id)
        .execute();
    }
    return claimed;
  });
}

type Outcome = "started" | "skipped" | "failed" | "gone";

/**
 * Starts the run of one claimed due time, as the schedule's person, once: the conversation, run, message and run job
 * are written in one transaction with the row's move from `pending` to `started`, so a second worker holding the
 * same job (an expired lease) writes nothing. A due time that cannot run is recorded as skipped or failed, with why,
 * and reported like a finished run.
 */
export async function startScheduledRun(platform: Platform, scheduleRunId: string): Promise<Outcome> {
  const row = await platform.db
    .selectFrom("agent_schedule_runs as sr")
    .innerJoin("agent_schedules as s", "s.id", "sr.schedule_id")
    .innerJoin("projects as p", "p.id", "s.project_id")
    .innerJoin("accounts as a", "a.id", "s.account_id")
    .selectAll("s")
    .select(["sr.status", "p.slug", "p.owner_account_id", "a.email", "a.is_operator"])
    .where("sr.id", "=", scheduleRunId)
    .executeTakeFirst();
  if (row?.status !== "pending") return "gone";

  // Another starter may have moved the row on meanwhile (its run then reads as "busy" here): that is "gone", not ours.
  const end = async (status: "skipped" | "failed", error: { code: string; message: string }): Promise<Outcome> =>
    platform.db.transaction().execute(async (trx) => {
      const done = await trx
        .updateTable("agent_schedule_runs")
        .set({ status, error: JSON.stringify(error), finished_at: new Date() })
        .where("id", "=", scheduleRunId)
        .where("status", "=", "pending")
        .returning("id")
        .executeTakeFirst();
      if (!done) return "gone";
      await enqueue(trx, SCHEDULE_REPORT_QUEUE, `${scheduleRunId}:finished`, {
        schedule_run_id: scheduleRunId,
        kind: "finished",
      });
      return status;
    });

  const why = agentUnavailable(platform.config.agent);
  if (why) return end("failed", { code: "not_configured", message: why });
  // The person must still hold their credential and their place in the project (the runner re-checks at every step).
  const principal: AuthenticatedPrincipal = {
    account: { id: row.account_id, email: row.email, isOperator: row.is_operator },
    billedAccount: row.owner_account_id,
    credential: { kind: row.credential_kind, id: row.credential_id } as Credential,
    scopes: row.scopes,
    projects: [row.slug],
    pins: { project: row.slug },
    surface: "agent",
    clientIp: null,
  };
  try {
    const check = platform.credentialCheckers.get(principal.credential.kind);
    if (!check) throw new BosunError("unauthorized", `credential kind '${row.credential_kind}' is not accepted`);
    await check(principal);
    const member = await platform.db
      .selectFrom("project_members")
      .select("role")
      .where("project_id", "=", row.project_id)
      .where("account_id", "=", row.account_id)
      .executeTakeFirst();
    if (!member) throw new BosunError("unauthorized", "the schedule's person is no longer a member of the project");
  } catch (err) {
    const e = toBosunError(err);
    return end("failed", { code: e.code, message: `the schedule's credential no longer holds: ${e.message}` });
  }
  const noCredit = await creditProblem(platform.db, row.owner_account_id);
  if (noCredit) return end("failed", { code: noCredit.code, message: noCredit.message });
  if (row.instance) {
    const inst = await platform.db
      .selectFrom("instances")
      .select("id")
      .where("project_id", "=", row.project_id)
      .where("name", "=", row.instance)
      .executeTakeFirst();
    if (!inst) return end("failed", { code: "not_found", message: `instance '${row.instance}' no longer exists` });
  }
  // Runs of one schedule never overlap: a due time that finds the last run still going is skipped.
  const busy = await platform.db
    .selectFrom("agent_schedule_runs as sr")
    .innerJoin("agent_runs as r", "r.id", "sr.run_id")
    .select("r.id")
    .where("sr.schedule_id", "=", row.id)
    .where("r.status", "in", ACTIVE)
    .executeTakeFirst();
  if (busy) return end("skipped", { code: "conflict", message: `the previous run (${busy.id}) is still active` });

  const kind = row.instance ? agentKinds.instance_operator : agentKinds.site_editor;
  const conversationId = crypto.randomUUID();
  const runId = crypto.randomUUID();
  const agent = platform.config.agent;
  const started = await platform.db
    .transaction()
    .execute(async (trx) => {
      await trx
        .insertInto("agent_conversations")
        .values({
          id: conversationId,
          project_id: row.project_id,
          account_id: row.account_id,
          kind: kind.kind,
          instance: row.instance,
          title: `Scheduled: ${row.name}`.slice(0, 80),
          mode: row.mode,
          allow_publish: row.allow_publish,
          credential_kind: row.credential_kind,
          credential_id: row.credential_id,
          scopes: row.scopes,
        })
        .execute();
      await insertRun(trx, runId, conversationId, row.prompt, {
        maxSteps: agent.maxSteps,
        maxWallSeconds: agent.maxWallSeconds,
        maxCostMicros: agent.maxCostMicros,
        ownCostCap: row.max_cost_micros === null ? null : BigInt(row.max_cost_micros),
      });
      // Last, once the run it names exists; a second starter finds the row no longer pending and rolls all back.
      const claimed = await trx
        .updateTable("agent_schedule_runs")
        .set({ status: "started", run_id: runId, conversation_id: conversationId, started_at: new Date() })
        .where("id", "=", scheduleRunId)
        .where("status", "=", "pending")
        .returning("id")
        .executeTakeFirst();
      if (!claimed) throw new Rollback();
      return true;
    })
    .catch((err) => {
      if (err instanceof Rollback) return false;
      throw err;
    });
  if (!started) return "gone";
  await appendRunEvent(platform, runId, "run_queued", { schedule_id: row.id });
  if (row.report_channel === "telegram")
    await platform.notifier.publish(SCHEDULED_RUN_TOPIC, scheduleRunId).catch(() => {});
  return "started";
}

class Rollback extends Error {}

// ---- reports -------------------------------------------------------------------------------------------------

export interface ScheduledRunReport {
  kind: "finished" | "approval";
  scheduleRunId: string;
  schedule: { id: string; name: string; project: string; instance: string | null };
  channel: "none" | "email" | "telegram" | "webhook";
  /** The acting person: their address is where an email report goes. */
  account: { id: string; email: string };
  run: {
    slotAt: string;
    missed: number;
    status: string;
    runId: string | null;
    conversationId: string | null;
    costMicros: bigint;
    error: { code: string; message: string } | null;
    /** The agent's last words (its report), clipped. */
    summary: string | null;
  };
  approval?: { id: string; tool: string; input: Record<string, unknown>; reason: string; status: string };
}

const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/** Everything a report says, read fresh (a retried report says what is true when it is sent). */
export async function loadReport(
  platform: Pick<Platform, "db">,
  scheduleRunId: string,
  kind: "finished" | "approval",
  approvalId?: string,
): Promise<ScheduledRunReport | null> {
  const r = await platform.db
    .selectFrom("agent_schedule_runs as sr")
    .innerJoin("agent_schedules as s", "s.id", "sr.schedule_id")
    .innerJoin("projects as p", "p.id", "s.project_id")
    .innerJoin("accounts as a", "a.id", "s.account_id")
    .leftJoin("agent_runs as r", "r.id", "sr.run_id")
    .select([
      "sr.slot_at",
      "sr.missed",
      "sr.status",
      "sr.run_id",
      "sr.conversation_id",
      "sr.cost_micros",
      "sr.error",
      "s.id as schedule_id",
      "s.name",
      "s.instance",
      "s.report_channel",
      "p.slug",
      "a.id as account_id",
      "a.email",
      "r.status as run_status",
      "r.cost_micros as run_cost",
    ])
    .where("sr.id", "=", scheduleRunId)
    .executeTakeFirst();
  if (!r) return null;
  let summary: string | null = null;
  if (r.run_id && kind === "finished") {
    const last = await platform.db
      .selectFrom("agent_messages")
      .select("content")
      .where("run_id", "=", r.run_id)
      .where("role", "=", "assistant")
      .orderBy("id", "desc")
      .executeTakeFirst();
    const text = ((last?.content ?? []) as { type: string; text?: string }[])
      .filter((b) => b.type === "text" && b.text)
      .map((b) => b.text)
      .join("\n\n");
    summary = text ? clip(text, 4000) : null;
  }
  let approval: ScheduledRunReport["approval"];
  if (kind === "approval" && approvalId) {
    const a = await platform.db
      .selectFrom("agent_approvals")
      .select(["id", "tool", "input", "reason", "status"])
      .where("id", "=", approvalId)
      .executeTakeFirst();
    if (a) approval = { ...a, input: a.input as Record<string, unknown> };
  }
  return {
    kind,
    scheduleRunId,
    schedule: { id: r.schedule_id, name: r.name, project: r.slug, instance: r.instance },
    channel: r.report_channel,
    account: { id: r.account_id, email: r.email },
    run: {
      slotAt: new Date(r.slot_at).toISOString(),
      missed: r.missed,
      status: r.status === "started" && r.run_status ? r.run_status : r.status,
      runId: r.run_id,
      conversationId: r.conversation_id,
      costMicros: BigInt(r.run_cost ?? r.cost_micros),
      error: (r.error as { code: string; message: string } | null) ?? null,
      summary,
    },
    ...(approval ? { approval } : {}),
  };
}

/** The report as plain text (email): what ran, how it ended, what the agent said, and how to act on an approval. */
export function reportText(rep: ScheduledRunReport): { subject: string; text: string } {
  const where = `${rep.schedule.project}${rep.schedule.instance ? `/${rep.schedule.instance}` : ""}`;
  const lines = [
    `Schedule: ${rep.schedule.name} (${where})`,
    `Due at: ${rep.run.slotAt}${rep.run.missed ? ` (and ${rep.run.missed} earlier due times missed while Bosun was down)` : ""}`,
    `Status: ${rep.run.status}`,
    `Cost: ${usdText(rep.run.costMicros)}`,
  ];
  if (rep.run.error) lines.push(`Error: ${rep.run.error.code}: ${rep.run.error.message}`);
  if (rep.run.conversationId)
    lines.push(
      `Transcript: bosun call get_agent_conversation --project ${rep.schedule.project} --conversation_id ${rep.run.conversationId}`,
    );
  if (rep.kind === "approval" && rep.approval) {
    const detail = clip(JSON.stringify(rep.approval.input, null, 2), 3000);
    lines.push(
      "",
      `The agent asks to run ${rep.approval.tool}:`,
      detail,
      rep.approval.reason ? `Why approval is needed: ${rep.approval.reason}` : "",
      "",
      `Approve: bosun call approve_tool_call --project ${rep.schedule.project} --approval_id ${rep.approval.id}`,
      `Deny:    bosun call deny_tool_call --project ${rep.schedule.project} --approval_id ${rep.approval.id}`,
      `(or POST /v1/projects/${rep.schedule.project}/agent/approvals/${rep.approval.id}/approve)`,
    );
    return { subject: `Approval needed: scheduled run ${clip(rep.schedule.name, 60)}`, text: lines.join("\n") };
  }
  if (rep.run.summary)
    lines.push("", "The agent's report (written by the model from what it read: treat as data):", rep.run.summary);
  return { subject: `Scheduled run ${clip(rep.schedule.name, 60)}: ${rep.run.status}`, text: lines.join("\n") };
}

/**
 * THE call site of every scheduled-run report: a run finished (or was skipped or failed to start), or asks for an
 * approval. Email is sent here; Telegram reports are relayed by the bridge from the run's events (it claims the run
 * on SCHEDULED_RUN_TOPIC), so only a due time that started no run is announced from here. Webhook reports are the run's
 * own events (core/events), published for every run.
 */
export async function reportScheduledRun(platform: Platform, report: ScheduledRunReport): Promise<void> {
  switch (report.channel) {
    case "email": {
      const { subject, text } = reportText(report);
      await platform.mail.send({ to: report.account.email, subject, text });
      return;
    }
    case "webhook":
      // Every run, scheduled or not, publishes agent_run.finished / agent_run.failed and approval.requested in the
      // transaction that causes them (core/events): the account's webhook endpoints already receive those. A due
      // time that started no run is in list_agent_schedule_runs only.
      return;
    case "telegram":
      // A run is relayed from its own events by the bridge; a due time that started no run is told as a note.
      if (report.kind === "finished" && !report.run.runId)
        await platform.notifier.publish(SCHEDULED_RUN_TOPIC, report.scheduleRunId);
      return;
    case "none":
      return;
  }
}

// ---- the worker ----------------------------------------------------------------------------------------------

export interface SchedulerOptions {
  /** The clock the scheduler reads due times against (tests move it). */
  clock?: () => Date;
  leaseMs?: number;
  /** Attempts to send a report before it is given up (email down for longer than the backoff). */
  maxReportAttempts?: number;
}

/** One process's scheduler: `tick()` claims due schedules, starts runs and sends reports; `start()` ticks on a timer. */
export class AgentScheduler {
  readonly id = workerId("scheduler");
  private readonly ticker = new Ticker(
    () => this.tick(),
    (err) => this.platform.log.warn({ err }, "agent scheduler tick failed"),
  );

  constructor(
    private readonly platform: Platform,
    private readonly options: SchedulerOptions = {},
  ) {}

  start(intervalMs: number): this {
    this.ticker.start(intervalMs);
    return this;
  }

  async stop(): Promise<void> {
    await this.ticker.stop();
  }

  async tick(
    now = (this.options.clock ?? (() => new Date()))(),
  ): Promise<{ claimed: number; started: number; reported: number }> {
    const claimed = await claimDueSchedules(this.platform, now);
    let started = 0;
    let reported = 0;
    // Bounded: what is left waits for the next tick.
    for (let i = 0; i < 100; i++) {
      const job = await lease(this.platform.db, SCHEDULE_START_QUEUE, this.id, this.options.leaseMs ?? 60_000);
      if (!job) break;
      if ((await this.runStart(job)) === "started") started++;
    }
    for (let i = 0; i < 100; i++) {
      const job = await lease(this.platform.db, SCHEDULE_REPORT_QUEUE, this.id, this.options.leaseMs ?? 60_000);
      if (!job) break;
      if (await this.runReport(job)) reported++;
    }
    return { claimed, started, reported };
  }

  private async runStart(job: Job): Promise<Outcome | null> {
    try {
      const outcome = await startScheduledRun(this.platform, String(job.payload.schedule_run_id));
      await finish(this.platform.db, job, { state: "done" });
      return outcome;
    } catch (err) {
      this.platform.log.warn({ err, job: job.key }, "starting a scheduled run failed");
      await finish(
        this.platform.db,
        job,
        job.attempts >= 5
          ? { state: "failed", error: String((err as Error).message) }
          : { state: "retry", afterMs: 1000 * 2 ** job.attempts, error: String((err as Error).message) },
      );
      return null;
    }
  }

  private async runReport(job: Job): Promise<boolean> {
    const p = job.payload as { schedule_run_id: string; kind: "finished" | "approval"; approval_id?: string };
    try {
      const report = await loadReport(this.platform, p.schedule_run_id, p.kind, p.approval_id);
      if (report) await reportScheduledRun(this.platform, report);
      await finish(this.platform.db, job, { state: "done" });
      return !!report;
    } catch (err) {
      const e = toBosunError(err);
      // Email not configured will not fix itself with a retry.
      const final = e.code === "not_configured" || job.attempts >= (this.options.maxReportAttempts ?? 8);
      this.platform.log.warn({ code: e.code, job: job.key, final }, "sending a scheduled run's report failed");
      await finish(
        this.platform.db,
        job,
        final
          ? { state: "failed", error: e.message }
          : { state: "retry", afterMs: Math.min(3600_000, 5000 * 2 ** job.attempts), error: e.message },
      );
      return false;
    }
  }
}
