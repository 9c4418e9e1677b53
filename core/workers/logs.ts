// What workers did: one record per invocation (console output and uncaught exceptions from workerd's tail
// events, timings from the proxy), the last N per worker; followed live with tail_worker_logs; and metrics
// (requests, errors, CPU and wall time percentiles) over a period.
import { sql } from "kysely";
import { z } from "zod";
import { iso, ProjectRef, Timestamp } from "../kernel/common.ts";
import { defineOperation, type ProjectContext } from "../kernel/operation.ts";
import { findWorker, WorkerName } from "./workers.ts";

const Invocation = z
  .object({
    id: z.string(),
    at: Timestamp,
    kind: z.string().meta({ description: "fetch or scheduled" }),
    outcome: z.string().meta({ description: "ok, exception, exceededCpu, exceededWallTime, …" }),
    status: z.number().int().nullable(),
    method: z.string().nullable(),
    url: z.string().nullable().meta({ description: "Path and query (a cron expression for scheduled runs)" }),
    wall_ms: z.number(),
    cpu_ms: z.number(),
    logs: z.array(z.object({ level: z.string(), message: z.array(z.unknown()), at: z.string() })),
    exceptions: z.array(z.object({ name: z.string(), message: z.string(), stack: z.string().optional() })),
  })
  .meta({ id: "WorkerInvocation" });

type Row = {
  id: string;
  at: Date;
  kind: string;
  outcome: string;
  status: number | null;
  method: string | null;
  url: string | null;
  wall_ms: number;
  cpu_ms: number;
  logs: unknown;
  exceptions: unknown;
};

const toInvocation = (r: Row): z.infer<typeof Invocation> => ({
  id: String(r.id),
  at: iso(r.at),
  kind: r.kind,
  outcome: r.outcome,
  status: r.status,
  method: r.method,
  url: r.url,
  wall_ms: Math.round(Number(r.wall_ms) * 100) / 100,
  cpu_ms: Math.round(Number(r.cpu_ms) * 100) / 100,
  logs: r.logs as z.infer<typeof Invocation>["logs"],
  exceptions: r.exceptions as z.infer<typeof Invocation>["exceptions"],
});

async function invocationsAfter(ctx: ProjectContext, workerId: string, afterId: string | undefined, limit: number) {
  let q = ctx.db.selectFrom("worker_invocations").selectAll().where("worker_id", "=", workerId);
  if (afterId) q = q.where("id", ">", afterId);
  const rows = await q
    .orderBy("id", afterId ? "asc" : "desc")
    .limit(limit)
    .execute();
  return (afterId ? rows : rows.reverse()).map(toInvocation);
}

export const listWorkerLogs = defineOperation({
  id: "list_worker_logs",
  summary: "A worker's recent invocations with their console output and exceptions",
  tags: ["workers"],
  scope: "workers:read",
  effect: "read",
  untrustedOutput: true, // console output of a worker echoes what its visitors sent
  http: { method: "get", path: "/projects/{project}/workers/{worker}/logs" },
  input: z.object({
    project: ProjectRef,
    worker: WorkerName,
    limit: z.coerce.number().int().min(1).max(200).default(50),
    outcome: z.string().max(40).optional().meta({ description: "Only this outcome, e.g. exception" }),
  }),
  output: z.object({ items: z.array(Invocation) }),
  handler: async (ctx, input) => {
    const w = await findWorker(ctx, input.worker);
    await ctx.platform.workers.flush();
    let q = ctx.db.selectFrom("worker_invocations").selectAll().where("worker_id", "=", w.id);
    if (input.outcome) q = q.where("outcome", "=", input.outcome);
    const rows = await q.orderBy("id", "desc").limit(input.limit).execute();
    return { items: rows.map(toInvocation) };
  },
});

export const tailWorkerLogs = defineOperation({
  id: "tail_worker_logs",
  summary: "Follow a worker's logs: invocations after a cursor, waiting up to wait_seconds for new ones",
  description:
    "REST also streams them as server-sent events at …/logs/stream. Pass the returned cursor back to continue.",
  tags: ["workers"],
  scope: "workers:read",
  effect: "read",
  untrustedOutput: true, // console output of a worker echoes what its visitors sent
  http: { method: "get", path: "/projects/{project}/workers/{worker}/logs/tail" },
  input: z.object({
    project: ProjectRef,
    worker: WorkerName,
    cursor: z.string().regex(/^\d+$/).optional().meta({ description: "The cursor of the previous call" }),
    wait_seconds: z.coerce.number().int().min(0).max(25).default(0),
  }),
  output: z.object({ items: z.array(Invocation), cursor: z.string().nullable() }),
  handler: async (ctx, input) => {
    const w = await findWorker(ctx, input.worker);
    const runtime = ctx.platform.workers;
    const deadline = Date.now() + input.wait_seconds * 1000;
    for (;;) {
      await runtime.flush();
      const items = await invocationsAfter(ctx, w.id, input.cursor, 100);
      if (items.length || Date.now() >= deadline || ctx.signal.aborted) {
        return { items, cursor: items.at(-1)?.id ?? input.cursor ?? null };
      }
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          runtime.events.off(`invocation:${w.id}`, done);
          resolve();
        };
        const timer = setTimeout(done, Math.max(0, deadline - Date.now()));
        runtime.events.on(`invocation:${w.id}`, done);
      });
      // Give the batch writer its turn: the invocation is written by the next flush.
    }
  },
});

const Stat = z.object({ p50: z.number(), p99: z.number() });

export const getWorkerMetrics = defineOperation({
  id: "get_worker_metrics",
  summary: "A worker's requests, errors, CPU and wall time (p50/p99) over a period",
  tags: ["workers"],
  scope: "workers:read",
  effect: "read",
  http: { method: "get", path: "/projects/{project}/workers/{worker}/metrics" },
  input: z.object({
    project: ProjectRef,
    worker: WorkerName,
    period: z.enum(["1h", "24h", "7d"]).default("24h"),
  }),
  output: z.object({
    period: z.string(),
    requests: z.number().int(),
    errors: z.number().int(),
    cpu_ms: Stat,
    wall_ms: Stat,
    note: z.string(),
  }),
  handler: async (ctx, input) => {
    const w = await findWorker(ctx, input.worker);
    await ctx.platform.workers.flush();
    const hours = { "1h": 1, "24h": 24, "7d": 168 }[input.period];
    const r = await sql<{
      requests: string;
      errors: string;
      cpu50: number | null;
      cpu99: number | null;
      wall50: number | null;
      wall99: number | null;
    }>`select count(*) as requests,
        count(*) filter (where outcome <> 'ok' or status >= 500) as errors,
        percentile_cont(0.5) within group (order by cpu_ms) as cpu50,
        percentile_cont(0.99) within group (order by cpu_ms) as cpu99,
        percentile_cont(0.5) within group (order by wall_ms) as wall50,
        percentile_cont(0.99) within group (order by wall_ms) as wall99
      from worker_invocations
      where worker_id = ${w.id} and kind = 'fetch' and at > now() - make_interval(hours => ${hours})`.execute(ctx.db);
    const row = r.rows[0];
    const round = (v: number | null | undefined) => Math.round(Number(v ?? 0) * 100) / 100;
    return {
      period: input.period,
      requests: Number(row?.requests ?? 0),
      errors: Number(row?.errors ?? 0),
      cpu_ms: { p50: round(row?.cpu50), p99: round(row?.cpu99) },
      wall_ms: { p50: round(row?.wall50), p99: round(row?.wall99) },
      note: `computed from the retained invocations (the last ${ctx.platform.config.workersLogRetention} per worker)`,
    };
  },
});

export const workerLogOperations = [listWorkerLogs, tailWorkerLogs, getWorkerMetrics];
