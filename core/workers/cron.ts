// Cron triggers: a worker's `scheduled` handler on a cron expression in an IANA timezone, with a run history
// (status, duration, logs, error). The scheduler works like the agent's (core/agent/scheduler.ts) in any number of
// processes on one database: a due trigger is claimed under FOR UPDATE SKIP LOCKED, its due time becomes a
// worker_cron_runs row UNIQUE (trigger, scheduled_at), and a leased job (core/jobs) runs it. After downtime the
// missed due times fold into one run. At most one run of a trigger is `running` at once, which a partial unique index
// enforces whatever process runs it: a due time that finds the last run still going is recorded as skipped. A running
// run holds a lease it renews; one whose process died is recorded as failed when its lease runs out. The clock is a
// parameter, so tests drive it.

import crypto from "node:crypto";
import { sql } from "kysely";
import { z } from "zod";
import { cronOf, foldDueTimes } from "../jobs/cron.ts";
import { enqueue, finish, type Job, lease, workerId } from "../jobs/queue.ts";
import { Ticker } from "../jobs/ticker.ts";
import { iso, isoOrNull, ProjectRef, Timestamp } from "../kernel/common.ts";
import { conflict, isUniqueViolation, notFound, validationError } from "../kernel/errors.ts";
import { type DB, defineOperation, type ProjectContext } from "../kernel/operation.ts";
import { Cursor, decodeCursor, encodeCursor, Limit, pageOf } from "../kernel/pagination.ts";
import type { Platform } from "../platform.ts";
import type { ScheduledResult, WorkerLogLine } from "./runtime-port.ts";

/** Running a claimed due time. */
export const CRON_RUN_QUEUE = "worker_cron_runs";
/** A run's lease, renewed while it runs: a run whose process died is failed this long after its last renewal. */
const RUN_LEASE_MS = 60_000;
/** Runs kept per trigger (the newest); older ones are pruned as new ones finish. */
export const KEEP_RUNS = 100;
const MAX_LOG_LINES = 200;
const MAX_LOG_CHARS = 2000;

const WorkerName = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/, "lowercase letters, digits and hyphens")
  .meta({ description: "The worker's name" });
const TriggerId = z.uuid().meta({ description: "The cron trigger's id" });
const CronExpr = z.string().trim().min(1).max(100).meta({
  description: "Cron expression (5 fields: minute hour day-of-month month day-of-week), e.g. `*/5 * * * *`",
  example: "*/5 * * * *",
});
const TimeZone = z.string().trim().min(1).max(64).meta({
  description: "IANA timezone the expression is read in, e.g. `Europe/Berlin` (default UTC)",
  example: "UTC",
});
const RunStatus = z.enum(["queued", "running", "succeeded", "failed", "skipped"]);

const CronTrigger = z
  .object({
    id: z.string(),
    worker: z.string(),
    cron: z.string(),
    timezone: z.string(),
    enabled: z.boolean(),
    next_run_at: Timestamp.nullable(),
    created_at: Timestamp,
  })
  .meta({ id: "CronTrigger" });

const LogLine = z.object({ level: z.string(), message: z.string(), at: z.string().optional() });
const CronRun = z
  .object({
    id: z.string(),
    scheduled_at: Timestamp.meta({ description: "The due time this run is for" }),
    missed: z.number().int().meta({ description: "Earlier due times missed while Bosun was down, folded into this" }),
    status: RunStatus.meta({ description: "skipped: the previous run was still running" }),
    started_at: Timestamp.nullable(),
    finished_at: Timestamp.nullable(),
    duration_ms: z.number().int().nullable(),
    logs: z.array(LogLine),
    error: z.string().nullable(),
  })
  .meta({ id: "CronRun" });

// ---- the scheduler -------------------------------------------------------------------------------------------

/**
 * Claims every trigger due at `now`: records its due time (the earliest missed one) as a queued run, queues the
 * run's job, and moves the trigger to its first due time after `now`, so downtime gives one run, not one per
 * missed time. A concurrent claimer skips the rows locked here; UNIQUE (trigger, scheduled_at) refuses a second
 * run of a due time whatever happens.
 */
export async function claimDueTriggers(db: DB, now: Date, batch = 100): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const due = await trx
      .selectFrom("worker_cron_triggers")
      .select(["id", "cron", "timezone", "next_run_at"])
      .where("enabled", "=", true)
      .where("next_run_at", "<=", now)
      .orderBy("next_run_at")
      .limit(batch)
      .forUpdate()
      .skipLocked()
      .execute();
    let claimed = 0;
    for (const t of due) {
      const slot = t.next_run_at;
      if (!slot) continue; // excluded by the WHERE; this tells the type checker
      const { missed, next } = foldDueTimes(t.cron, t.timezone, slot, now);
      const row = await trx
        .insertInto("worker_cron_runs")
        .values({
          id: crypto.randomUUID(),
          trigger_id: t.id,
          scheduled_at: slot,
          missed,
          status: "queued",
        })
        .onConflict((oc) => oc.columns(["trigger_id", "scheduled_at"]).doNothing())
        .returning("id")
        .executeTakeFirst();
      if (row) {
        await enqueue(trx, CRON_RUN_QUEUE, row.id, { cron_run_id: row.id });
        claimed++;
      }
      await trx
        .updateTable("worker_cron_triggers")
        .set({ next_run_at: next, ...(next ? {} : { enabled: false }) })
        .where("id", "=", t.id)
        .execute();
    }
    return claimed;
  });
}

type Outcome = "succeeded" | "failed" | "skipped" | "gone";

const clipLogs = (logs: WorkerLogLine[]): WorkerLogLine[] =>
  logs.slice(-MAX_LOG_LINES).map((l) => ({
    level: String(l.level).slice(0, 20),
    message: String(l.message).slice(0, MAX_LOG_CHARS),
    ...(l.at ? { at: String(l.at).slice(0, 40) } : {}),
  }));

/**
 * Runs one claimed due time through the platform's workers runtime, once, and records how it went. Answers
 * `skipped` when another run of the trigger is still running (the partial unique index decides, across processes),
 * `gone` when the run was already taken or finished.
 */
export async function executeCronRun(platform: Pick<Platform, "db" | "log" | "workersRuntime">, runId: string) {
  const { db } = platform;
  const row = await db
    .selectFrom("worker_cron_runs as r")
    .innerJoin("worker_cron_triggers as t", "t.id", "r.trigger_id")
    .select(["r.status", "r.trigger_id", "r.scheduled_at", "t.project_id", "t.worker_name", "t.cron"])
    .where("r.id", "=", runId)
    .executeTakeFirst();
  if (!row) return "gone" as Outcome;
  // A run whose process died (its lease ran out) is over: record it, so it no longer blocks the trigger (this may be
  // the very run, leased again after its first process died).
  await db
    .updateTable("worker_cron_runs")
    .set({ status: "failed", error: "the process running it stopped before it finished", finished_at: sql`now()` })
    .where("trigger_id", "=", row.trigger_id)
    .where("status", "=", "running")
    .where("lease_expires_at", "<", sql<Date>`now()`)
    .execute();
  if (row.status !== "queued") return "gone" as Outcome;
  const leaseFor = sql<Date>`now() + ${`${RUN_LEASE_MS} milliseconds`}::interval`;
  let started = false;
  try {
    started = !!(await db
      .updateTable("worker_cron_runs")
      .set({ status: "running", started_at: sql`now()`, lease_expires_at: leaseFor })
      .where("id", "=", runId)
      .where("status", "=", "queued")
      .returning("id")
      .executeTakeFirst());
  } catch (err) {
    if (!isUniqueViolation(err)) throw err; // another run of this trigger is running
  }
  if (!started) {
    const busy = await db
      .selectFrom("worker_cron_runs")
      .select("id")
      .where("trigger_id", "=", row.trigger_id)
      .where("status", "=", "running")
      .executeTakeFirst();
    const skipped = await db
      .updateTable("worker_cron_runs")
      .set({
        status: "skipped",
        error: `the previous run${busy ? ` (${busy.id})` : ""} was still running`,
        finished_at: sql`now()`,
      })
      .where("id", "=", runId)
      .where("status", "=", "queued")
      .returning("id")
      .executeTakeFirst();
    return (skipped ? "skipped" : "gone") as Outcome;
  }

  const renew = setInterval(() => {
    db.updateTable("worker_cron_runs")
      .set({ lease_expires_at: leaseFor })
      .where("id", "=", runId)
      .where("status", "=", "running")
      .execute()
      .catch((err) => platform.log.warn({ err, runId }, "renewing a cron run's lease failed"));
  }, RUN_LEASE_MS / 3);
  const began = Date.now();
  let result: ScheduledResult;
  try {
    const runtime = platform.workersRuntime;
    result = runtime
      ? await runtime.runScheduled({
          projectId: row.project_id,
          workerName: row.worker_name,
          cron: row.cron,
          scheduledTime: new Date(row.scheduled_at),
        })
      : {
          ok: false,
          durationMs: 0,
          logs: [],
          error: "no workers runtime is running in this process; the run could not start",
        };
  } catch (err) {
    platform.log.warn({ err, runId }, "the workers runtime failed a scheduled run");
    result = {
      ok: false,
      durationMs: Date.now() - began,
      logs: [],
      error: `the workers runtime failed: ${err instanceof Error ? err.message : String(err)}`.slice(0, 2000),
    };
  } finally {
    clearInterval(renew);
  }
  const status = result.ok ? "succeeded" : "failed";
  await db
    .updateTable("worker_cron_runs")
    .set({
      status,
      finished_at: sql`now()`,
      duration_ms: Math.max(0, Math.round(result.durationMs)),
      logs: JSON.stringify(clipLogs(result.logs ?? [])),
      error: result.ok ? null : (result.error ?? "failed").slice(0, 4000),
      lease_expires_at: null,
    })
    .where("id", "=", runId)
    .where("status", "=", "running")
    .execute();
  await pruneRuns(db, row.trigger_id);
  return status as Outcome;
}

/** Keeps the newest KEEP_RUNS finished runs of a trigger. */
async function pruneRuns(db: DB, triggerId: string) {
  await sql`
    delete from worker_cron_runs
    where trigger_id = ${triggerId} and status in ('succeeded', 'failed', 'skipped')
      and scheduled_at < (select scheduled_at from worker_cron_runs where trigger_id = ${triggerId}
                          order by scheduled_at desc offset ${KEEP_RUNS - 1} limit 1)`.execute(db);
}

/**
 * Deletes the cron queue's jobs that finished more than `olderThanMs` ago (a minutely trigger leaves 1,440 a day);
 * the runs themselves are the history. Answers how many.
 */
export async function sweepFinishedCronJobs(db: DB, olderThanMs = 86400_000): Promise<number> {
  const res = await db
    .deleteFrom("jobs")
    .where("queue", "=", CRON_RUN_QUEUE)
    .where("state", "in", ["done", "failed"])
    .where("updated_at", "<", new Date(Date.now() - olderThanMs))
    .executeTakeFirst();
  return Number(res.numDeletedRows);
}

export interface CronSchedulerOptions {
  /** The clock due times are read against (tests move it). */
  clock?: () => Date;
  /** Runs this process executes at once. */
  concurrency?: number;
  leaseMs?: number;
}

/**
 * One process's cron scheduler: `tick()` claims due triggers and starts their runs (up to `concurrency` at once,
 * without waiting for them); `idle()` waits for the runs started here; `start()` ticks on a timer.
 */
export class WorkerCronScheduler {
  readonly id = workerId("cron");
  private readonly ticker = new Ticker(
    () => this.tick(),
    (err) => this.platform.log.warn({ err }, "cron scheduler tick failed"),
  );
  private readonly running = new Set<Promise<void>>();
  private sweptAt = 0;

  constructor(
    private readonly platform: Platform,
    private readonly options: CronSchedulerOptions = {},
  ) {}

  start(intervalMs: number): this {
    this.ticker.start(intervalMs);
    return this;
  }

  async stop(): Promise<void> {
    await this.ticker.stop();
    await this.idle();
  }

  /** Waits for every run this scheduler started. */
  async idle(): Promise<void> {
    while (this.running.size) await Promise.all([...this.running]);
  }

  async tick(now = (this.options.clock ?? (() => new Date()))()): Promise<{ claimed: number; started: number }> {
    if (Date.now() - this.sweptAt > 3600_000) {
      this.sweptAt = Date.now();
      await sweepFinishedCronJobs(this.platform.db).catch((err) =>
        this.platform.log.warn({ err }, "sweeping finished cron jobs failed"),
      );
    }
    const claimed = await claimDueTriggers(this.platform.db, now);
    let started = 0;
    const room = (this.options.concurrency ?? 8) - this.running.size;
    for (let i = 0; i < room; i++) {
      const job = await lease(this.platform.db, CRON_RUN_QUEUE, this.id, this.options.leaseMs ?? 60_000);
      if (!job) break;
      const p = this.runJob(job).finally(() => this.running.delete(p));
      this.running.add(p);
      started++;
    }
    return { claimed, started };
  }

  private async runJob(job: Job): Promise<void> {
    try {
      await executeCronRun(this.platform, String(job.payload.cron_run_id));
      await finish(this.platform.db, job, { state: "done" });
    } catch (err) {
      this.platform.log.warn({ err, job: job.key }, "running a cron trigger failed");
      await finish(
        this.platform.db,
        job,
        job.attempts >= 5
          ? { state: "failed", error: String((err as Error).message) }
          : { state: "retry", afterMs: 1000 * 2 ** job.attempts, error: String((err as Error).message) },
      ).catch(() => {});
    }
  }
}

// ---- operations ----------------------------------------------------------------------------------------------

type TriggerRow = {
  id: string;
  worker_name: string;
  cron: string;
  timezone: string;
  enabled: boolean;
  next_run_at: Date | null;
  created_at: Date;
};
const triggerView = (r: TriggerRow): z.input<typeof CronTrigger> => ({
  id: r.id,
  worker: r.worker_name,
  cron: r.cron,
  timezone: r.timezone,
  enabled: r.enabled,
  next_run_at: isoOrNull(r.next_run_at),
  created_at: iso(r.created_at),
});
const triggerColumns = ["id", "worker_name", "cron", "timezone", "enabled", "next_run_at", "created_at"] as const;

async function loadTrigger(ctx: ProjectContext, id: string): Promise<TriggerRow> {
  const row = await ctx.db
    .selectFrom("worker_cron_triggers")
    .select(triggerColumns)
    .where("project_id", "=", ctx.project.id)
    .where("id", "=", id)
    .executeTakeFirst();
  if (!row) throw notFound("cron_trigger", id);
  return row;
}

export const createCronTrigger = defineOperation({
  id: "create_cron_trigger",
  summary: "Run a worker on a cron schedule",
  description:
    "Calls the worker's `scheduled` handler at each due time of `cron` in `timezone`. At most one run at a time " +
    "(a due time that finds the last run still going is skipped); due times missed while Bosun was down run once.",
  tags: ["workers"],
  scope: "workers:write",
  effect: "write",
  errors: ["conflict"],
  http: { method: "post", path: "/projects/{project}/cron-triggers", status: 201 },
  input: z.object({ project: ProjectRef, worker: WorkerName, cron: CronExpr, timezone: TimeZone.default("UTC") }),
  output: CronTrigger,
  handler: async (ctx, input) => {
    const now = new Date();
    const next = cronOf(input.cron, input.timezone).nextRun(now);
    if (!next) throw validationError([{ path: "cron", message: "never comes due" }]);
    try {
      const row = await ctx.db
        .insertInto("worker_cron_triggers")
        .values({
          id: crypto.randomUUID(),
          project_id: ctx.project.id,
          worker_name: input.worker,
          cron: input.cron,
          timezone: input.timezone,
          next_run_at: next,
        })
        .returning(triggerColumns)
        .executeTakeFirstOrThrow();
      return triggerView(row);
    } catch (err) {
      if (isUniqueViolation(err))
        throw conflict(`worker '${input.worker}' already has the trigger '${input.cron}' (${input.timezone})`);
      throw err;
    }
  },
});

export const listCronTriggers = defineOperation({
  id: "list_cron_triggers",
  summary: "List cron triggers",
  tags: ["workers"],
  scope: "workers:read",
  effect: "read",
  http: { method: "get", path: "/projects/{project}/cron-triggers" },
  input: z.object({ project: ProjectRef, worker: WorkerName.optional().meta({ description: "Only this worker's" }) }),
  output: z.object({ triggers: z.array(CronTrigger) }),
  handler: async (ctx, input) => {
    let q = ctx.db
      .selectFrom("worker_cron_triggers")
      .select(triggerColumns)
      .where("project_id", "=", ctx.project.id)
      .orderBy("worker_name")
      .orderBy("created_at")
      .limit(1000);
    if (input.worker) q = q.where("worker_name", "=", input.worker);
    return { triggers: (await q.execute()).map(triggerView) };
  },
});

export const deleteCronTrigger = defineOperation({
  id: "delete_cron_trigger",
  summary: "Delete a cron trigger and its run history",
  description: "A run already going finishes; none starts after.",
  tags: ["workers"],
  scope: "workers:write",
  effect: "destructive",
  http: { method: "delete", path: "/projects/{project}/cron-triggers/{trigger_id}" },
  input: z.object({ project: ProjectRef, trigger_id: TriggerId }),
  output: z.object({ deleted: z.literal(true) }),
  handler: async (ctx, input) => {
    const t = await loadTrigger(ctx, input.trigger_id);
    await ctx.db.deleteFrom("worker_cron_triggers").where("id", "=", t.id).execute();
    return { deleted: true as const };
  },
});

export const listCronRuns = defineOperation({
  id: "list_cron_runs",
  summary: "List a cron trigger's runs",
  description: `Newest first: due time, status, duration, the worker's logs and error. The last ${KEEP_RUNS} are kept.`,
  tags: ["workers"],
  scope: "workers:read",
  effect: "read",
  http: { method: "get", path: "/projects/{project}/cron-triggers/{trigger_id}/runs" },
  input: z.object({
    project: ProjectRef,
    trigger_id: TriggerId,
    status: RunStatus.optional(),
    limit: Limit,
    cursor: Cursor,
  }),
  output: z.object({ runs: z.array(CronRun), next_cursor: z.string().nullable() }),
  handler: async (ctx, input) => {
    const t = await loadTrigger(ctx, input.trigger_id);
    let q = ctx.db
      .selectFrom("worker_cron_runs")
      .selectAll()
      .where("trigger_id", "=", t.id)
      .orderBy("scheduled_at", "desc")
      .limit(input.limit + 1);
    if (input.status) q = q.where("status", "=", input.status);
    if (input.cursor) {
      const [at = ""] = decodeCursor(input.cursor, 1);
      const when = new Date(at);
      if (Number.isNaN(when.getTime())) throw validationError([{ path: "cursor", message: "invalid cursor" }]);
      q = q.where("scheduled_at", "<", when);
    }
    // scheduled_at is unique per trigger, so it alone orders and pages.
    const { page, next_cursor } = pageOf(await q.execute(), input.limit, (last) =>
      encodeCursor(iso(last.scheduled_at)),
    );
    return {
      runs: page.map((r) => ({
        id: r.id,
        scheduled_at: iso(r.scheduled_at),
        missed: r.missed,
        status: r.status,
        started_at: isoOrNull(r.started_at),
        finished_at: isoOrNull(r.finished_at),
        duration_ms: r.duration_ms,
        logs: (r.logs ?? []) as WorkerLogLine[],
        error: r.error,
      })),
      next_cursor,
    };
  },
});

export const cronOperations = [createCronTrigger, listCronTriggers, deleteCronTrigger, listCronRuns];
