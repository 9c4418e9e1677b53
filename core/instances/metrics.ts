// Metrics of an instance — CPU %, load, memory, disk, network counters, uptime — read from /proc and df in one
// round trip (CPU % from two /proc/stat readings a quarter second apart). A sampler records them in Postgres
// every BOSUN_METRICS_INTERVAL_SECONDS for instances that have connected at least once; get_instance_metrics
// returns a live sample and the history of a period.
import { sql } from "kysely";
import { z } from "zod";
import { Timestamp } from "../kernel/common.ts";
import { BosunError } from "../kernel/errors.ts";
import { type DB, defineOperation } from "../kernel/operation.ts";
import { runRemote } from "./commands.ts";
import type { SshPool, SshTarget } from "./pool.ts";
import { type InstanceRow, loadInstance, targetFor, targetOf } from "./reach.ts";
import { InstanceRef } from "./ref.ts";

const SCRIPT = [
  "head -n 1 /proc/stat",
  "sleep 0.25",
  "head -n 1 /proc/stat",
  "echo @@load; cat /proc/loadavg",
  "echo @@mem; cat /proc/meminfo",
  "echo @@uptime; cat /proc/uptime",
  "echo @@net; cat /proc/net/dev",
  "echo @@cpus; nproc 2>/dev/null || getconf _NPROCESSORS_ONLN",
  "echo @@df; df -P -k / | tail -n 1",
].join("\n");

export const Sample = z
  .object({
    at: Timestamp,
    cpu_percent: z.number(),
    cpus: z.number().int(),
    load: z.object({ "1m": z.number(), "5m": z.number(), "15m": z.number() }),
    memory: z.object({
      total_bytes: z.number(),
      available_bytes: z.number(),
      used_percent: z.number(),
      swap_total_bytes: z.number(),
      swap_used_bytes: z.number(),
    }),
    disk: z.object({
      mount: z.string(),
      total_bytes: z.number(),
      used_bytes: z.number(),
      available_bytes: z.number(),
      used_percent: z.number(),
    }),
    network: z.object({
      rx_bytes: z.number().meta({ description: "Received since boot, all interfaces but loopback" }),
      tx_bytes: z.number(),
      interfaces: z.array(z.object({ name: z.string(), rx_bytes: z.number(), tx_bytes: z.number() })),
    }),
    uptime_seconds: z.number(),
  })
  .meta({ id: "InstanceMetrics" });
export type Sample = z.infer<typeof Sample>;

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

/** Parses the script's output; throws on anything unexpected (a server without /proc, say). */
export function parseMetrics(out: string, at = new Date()): Sample {
  const sections = new Map<string, string[]>();
  let current = "cpu";
  for (const line of out.split("\n")) {
    if (line.startsWith("@@")) current = line.slice(2).trim();
    else if (line.trim()) sections.set(current, [...(sections.get(current) ?? []), line]);
  }
  // A section's lines, at least one (the output is the server's: a missing section is an error, not a crash).
  const section = (name: string): [string, ...string[]] => {
    const [first, ...more] = sections.get(name) ?? [];
    if (first === undefined) throw new Error(`no ${name} readings`);
    return [first, ...more];
  };
  const [a, b] = section("cpu").map((l) => l.trim().split(/\s+/).slice(1, 9).map(Number));
  if (!a || !b) throw new Error("no cpu readings");
  const total = (t: number[]) => t.reduce((s, x) => s + x, 0);
  const idle = (t: number[]) => Number(t[3]) + (t[4] ?? 0);
  const dt = total(b) - total(a);
  const cpu = dt > 0 ? (100 * (dt - (idle(b) - idle(a)))) / dt : 0;

  const load = section("load")[0].split(/\s+/).map(Number);
  const mem = new Map(
    section("mem").map((l) => {
      const [key = "", value = ""] = l.split(":");
      return [key, Number(value.trim().split(/\s+/)[0]) * 1024];
    }),
  );
  const memTotal = mem.get("MemTotal") ?? 0;
  const memAvailable = mem.get("MemAvailable") ?? mem.get("MemFree") ?? 0;
  const interfaces = section("net")
    .filter((l) => l.includes(":"))
    .map((l) => {
      const [name = "", rest = ""] = l.split(":");
      const f = rest.trim().split(/\s+/).map(Number);
      // A missing field is NaN: the sample then fails its schema, as a garbled reading should.
      return { name: name.trim(), rx_bytes: f[0] ?? Number.NaN, tx_bytes: f[8] ?? Number.NaN };
    });
  const external = interfaces.filter((i) => i.name !== "lo");
  const df = section("df")[0].trim().split(/\s+/);
  const [diskTotal, diskUsed, diskAvail] = [Number(df[1]) * 1024, Number(df[2]) * 1024, Number(df[3]) * 1024];
  const sample: Sample = {
    at: at.toISOString(),
    cpu_percent: round(Math.max(0, Math.min(100, cpu))),
    cpus: Number(section("cpus")[0]) || 1,
    load: { "1m": load[0] ?? Number.NaN, "5m": load[1] ?? Number.NaN, "15m": load[2] ?? Number.NaN },
    memory: {
      total_bytes: memTotal,
      available_bytes: memAvailable,
      used_percent: memTotal ? round((100 * (memTotal - memAvailable)) / memTotal) : 0,
      swap_total_bytes: mem.get("SwapTotal") ?? 0,
      swap_used_bytes: (mem.get("SwapTotal") ?? 0) - (mem.get("SwapFree") ?? 0),
    },
    disk: {
      mount: df[5] ?? "/",
      total_bytes: diskTotal,
      used_bytes: diskUsed,
      available_bytes: diskAvail,
      used_percent: diskUsed + diskAvail ? round((100 * diskUsed) / (diskUsed + diskAvail)) : 0,
    },
    network: {
      rx_bytes: external.reduce((s, i) => s + i.rx_bytes, 0),
      tx_bytes: external.reduce((s, i) => s + i.tx_bytes, 0),
      interfaces,
    },
    uptime_seconds: Math.floor(Number(section("uptime")[0].split(/\s+/)[0])),
  };
  return Sample.parse(sample);
}

export async function sampleMetrics(pool: SshPool, target: SshTarget, signal?: AbortSignal): Promise<Sample> {
  const res = await runRemote(pool, target, { command: SCRIPT, timeoutMs: 15_000, signal });
  try {
    return parseMetrics(res.stdout);
  } catch (err) {
    throw new BosunError(
      "unprocessable",
      `could not read metrics on the instance (${(err as Error).message}); it needs Linux /proc and df. ${res.stderr.trim().slice(0, 300)}`,
    );
  }
}

const PERIODS = { "5m": 300, "30m": 1800, "1h": 3600, "6h": 21_600, "12h": 43_200, "24h": 86_400 } as const;
const MAX_POINTS = 300;
/** Samples older than the longest period are not kept. */
const RETENTION_SECONDS = PERIODS["24h"] + 3600;

const Point = z.object({
  at: Timestamp,
  cpu_percent: z.number(),
  load_1m: z.number(),
  memory_used_percent: z.number(),
  disk_used_percent: z.number(),
  rx_bytes: z.number(),
  tx_bytes: z.number(),
});

const point = (s: Sample): z.infer<typeof Point> => ({
  at: s.at,
  cpu_percent: s.cpu_percent,
  load_1m: s.load["1m"],
  memory_used_percent: s.memory.used_percent,
  disk_used_percent: s.disk.used_percent,
  rx_bytes: s.network.rx_bytes,
  tx_bytes: s.network.tx_bytes,
});

export async function recordSample(db: DB, instanceId: string, sample: Sample) {
  await db
    .insertInto("instance_metrics")
    .values({ instance_id: instanceId, at: sample.at, sample: JSON.stringify(sample) })
    .execute();
}

export const getInstanceMetrics = defineOperation({
  id: "get_instance_metrics",
  summary: "Get an instance's CPU, memory, disk, network and uptime",
  description:
    "A live sample read over SSH (`live: false` skips it), and with `period` the recorded history of that period " +
    `(at most ${MAX_POINTS} points, evenly thinned).`,
  tags: ["instances"],
  scope: "instances:files",
  effect: "read",
  openWorld: true,
  http: { method: "get", path: "/projects/{project}/instances/{instance}/metrics" },
  input: z.object({
    ...InstanceRef,
    period: z.enum(Object.keys(PERIODS) as [keyof typeof PERIODS, ...(keyof typeof PERIODS)[]]).optional(),
    live: z.boolean().default(true),
  }),
  output: z.object({
    current: Sample.nullable(),
    period: z.string().nullable(),
    interval_seconds: z
      .number()
      .int()
      .meta({ description: "How often history is recorded; 0: not recorded on this Bosun" }),
    history: z.array(Point),
  }),
  handler: async (ctx, input) => {
    const row = await loadInstance(ctx, input.instance);
    const current = input.live
      ? await sampleMetrics(ctx.platform.instances.pool, targetFor(ctx, row), ctx.signal)
      : null;
    let history: z.infer<typeof Point>[] = [];
    if (input.period) {
      const since = new Date(Date.now() - PERIODS[input.period] * 1000);
      const rows = await ctx.db
        .selectFrom("instance_metrics")
        .select(["sample"])
        .where("instance_id", "=", row.id)
        .where("at", ">=", since)
        .orderBy("at")
        .execute();
      const step = Math.ceil(rows.length / MAX_POINTS) || 1;
      history = rows.filter((_, i) => i % step === 0 || i === rows.length - 1).map((r) => point(r.sample as Sample));
    }
    return {
      current,
      period: input.period ?? null,
      interval_seconds: ctx.platform.config.metricsIntervalSeconds,
      history,
    };
  },
});

/**
 * One sampler pass: claims instances whose sample is due (SKIP LOCKED, so processes sharing a database split
 * the work), samples each over SSH outside any transaction, records it, and drops expired samples.
 */
export async function sampleDueInstances(
  deps: {
    db: DB;
    pool: SshPool;
    target: (row: InstanceRow) => SshTarget;
    intervalSeconds: number;
    log: { debug(o: object, m: string): void };
  },
  batch = 20,
): Promise<number> {
  const { db, intervalSeconds } = deps;
  const due = await db
    .updateTable("instances")
    .set({ metrics_due_at: sql<Date>`now() + make_interval(secs => ${intervalSeconds})` })
    .where("id", "in", (eb) =>
      eb
        .selectFrom("instances")
        .select("id")
        .where("host_key_fingerprint", "is not", null)
        .where((w) => w.or([w("metrics_due_at", "is", null), w("metrics_due_at", "<=", sql<Date>`now()`)]))
        .orderBy("metrics_due_at")
        .limit(batch)
        .forUpdate()
        .skipLocked(),
    )
    .returningAll()
    .execute();
  await Promise.all(
    due.map(async (row) => {
      try {
        await recordSample(db, row.id, await sampleMetrics(deps.pool, deps.target(row)));
      } catch (err) {
        deps.log.debug({ err, instance: row.id }, "metrics sample failed");
      }
    }),
  );
  await db
    .deleteFrom("instance_metrics")
    .where("at", "<", new Date(Date.now() - RETENTION_SECONDS * 1000))
    .execute();
  return due.length;
}
