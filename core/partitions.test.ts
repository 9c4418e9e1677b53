// Partition upkeep and retention of the log tables on the real database (PGlite, or Postgres with DATABASE_URL).
import crypto from "node:crypto";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listPartitions, monthStart, partitionName } from "../schema/partitions.ts";
import { startTestPlatform, type TestPlatform } from "../testkit/harness.ts";
import { loadConfig } from "./config.ts";
import { dropExpiredPartitions, ensurePartitions, maintainPartitions } from "./partitions.ts";

let t: TestPlatform;
beforeAll(async () => {
  t = await startTestPlatform();
});
afterAll(() => t?.close());

const DAY = 86_400_000;
const db = () => t.platform.db;

async function audit(op: string, at: Date) {
  await db()
    .insertInto("audit_events")
    .values({ request_id: crypto.randomUUID(), at, operation: op, surface: "rest", outcome: "ok", duration_ms: 1 })
    .execute();
}
/** Where each of `op`'s records is stored, oldest first. */
const placed = async (op: string) =>
  (
    await sql<{ part: string }>`select tableoid::regclass::text as part from audit_events
      where operation = ${op} order by at`.execute(db())
  ).rows.map((r) => r.part);

/** A run in `status` (with its project and conversation), for run-event retention. */
async function seedRun(status: string): Promise<string> {
  const account = await t.account();
  const project = crypto.randomUUID();
  const conversation = crypto.randomUUID();
  const run = crypto.randomUUID();
  await sql`insert into projects (id, slug, name, kind, owner_account_id)
    values (${project}, ${`p-${project.slice(0, 8)}`}, 'p', 'site', ${account.id})`.execute(db());
  await sql`insert into agent_conversations (id, project_id, account_id, kind, title, mode, credential_kind,
      credential_id, scopes)
    values (${conversation}, ${project}, ${account.id}, 'site_editor', 't', 'auto', 'token', 'x', '{}')`.execute(db());
  await sql`insert into agent_runs (id, conversation_id, status, deadline)
    values (${run}, ${conversation}, ${status}, now())`.execute(db());
  return run;
}
async function runEvent(run: string, at: Date) {
  await sql`insert into agent_run_events (run_id, type, data, created_at) values (${run}, 'x', '{}', ${at})`.execute(
    db(),
  );
}

describe("log partitions", () => {
  it("has this month and the next two at start, and makes the months ahead as the clock moves on", async () => {
    const now = new Date();
    for (const table of ["audit_events", "agent_run_events"] as const) {
      const have = await listPartitions(db(), table);
      for (let i = 0; i <= 2; i++) expect(have).toContain(partitionName(table, monthStart(now, i)));
      expect(have).toContain(`${table}_default`);
    }
    const later = monthStart(now, 7);
    const made = await ensurePartitions(db(), later);
    expect(made).toContain(partitionName("audit_events", monthStart(now, 9)));
    expect(made).toContain(partitionName("agent_run_events", monthStart(now, 7)));
    expect(await ensurePartitions(db(), later)).toEqual([]); // idempotent
    // Two processes at once: each month is made once, neither fails.
    const both = await Promise.all([
      ensurePartitions(db(), monthStart(now, 12)),
      ensurePartitions(db(), monthStart(now, 12)),
    ]);
    expect(both.flat().filter((n) => n === partitionName("audit_events", monthStart(now, 12)))).toHaveLength(1);
  });

  it("stores a record far in the past or future in the DEFAULT partition, and moves it when its month is made", async () => {
    const op = `far-${crypto.randomUUID()}`;
    await audit(op, new Date("1990-03-04T00:00:00Z"));
    await audit(op, new Date(Date.now() + 3000 * DAY));
    await audit(op, new Date());
    expect(await placed(op)).toEqual([
      "audit_events_default",
      partitionName("audit_events", monthStart(new Date())),
      "audit_events_default",
    ]);
    const future = new Date(Date.now() + 3000 * DAY);
    await ensurePartitions(db(), future);
    expect((await placed(op))[2]).toBe(partitionName("audit_events", monthStart(future)));
  });

  it("reads a record by id alone through each partition's primary key", async () => {
    const plan = await db()
      .transaction()
      .execute(async (trx) => {
        await sql`SET LOCAL enable_seqscan = off`.execute(trx);
        return sql<{ "QUERY PLAN": string }>`EXPLAIN SELECT * FROM audit_events WHERE id = 42`.execute(trx);
      });
    const text = plan.rows.map((r) => r["QUERY PLAN"]).join("\n");
    expect(text).toMatch(/Index (Only )?Scan using audit_events_p\d{6}_pkey/);
    expect(text).not.toContain("Seq Scan");
  });

  it("drops the months wholly past the retention, keeps the boundary month and newer records", async () => {
    const now = new Date();
    const op = `ret-${crypto.randomUUID()}`;
    // Months back to five ago, as a server running that long would have.
    for (let i = 1; i <= 5; i++) await ensurePartitions(db(), monthStart(now, -i));
    const days = 62;
    const cutoff = now.getTime() - days * DAY;
    const old = new Date(monthStart(now, -5).getTime() + DAY);
    const boundary = new Date(cutoff - DAY); // past the window, in the month holding the cutoff
    await audit(op, new Date("1990-03-04T00:00:00Z")); // DEFAULT partition, expired
    await audit(op, old);
    await audit(op, boundary);
    await audit(op, new Date(cutoff + DAY));
    await audit(op, now);
    const far = new Date(now.getTime() + 20_000 * DAY);
    await audit(op, far); // DEFAULT partition, not expired
    const dropped = await dropExpiredPartitions(db(), "audit_events", days, now);
    expect(dropped).toContain(partitionName("audit_events", monthStart(now, -5)));
    expect(dropped).not.toContain(partitionName("audit_events", monthStart(new Date(cutoff))));
    const at = (
      await db().selectFrom("audit_events").select("at").where("operation", "=", op).orderBy("at").execute()
    ).map((r) => new Date(r.at).getTime());
    expect(at).toEqual([boundary.getTime(), cutoff + DAY, now.getTime(), far.getTime()]);
    expect(await listPartitions(db(), "audit_events")).not.toContain(
      partitionName("audit_events", monthStart(now, -5)),
    );
    // New records go on being written and read.
    await audit(op, new Date());
    expect(await db().selectFrom("audit_events").select("id").where("operation", "=", op).execute()).toHaveLength(5);
  });

  it("keeps everything when retention is 0 (the default)", async () => {
    expect(loadConfig({}).auditRetentionDays).toBe(0);
    expect(loadConfig({}).runEventRetentionDays).toBe(0);
    expect(loadConfig({ BOSUN_RUN_EVENT_RETENTION_DAYS: "30" }).runEventRetentionDays).toBe(30);
    expect(loadConfig({ BOSUN_AUDIT_RETENTION_DAYS: "-3" }).auditRetentionDays).toBe(0);
    const before = await listPartitions(db(), "audit_events");
    expect(await maintainPartitions(db(), { auditDays: 0, runEventDays: 0 })).toEqual({ created: [], dropped: [] });
    expect(await listPartitions(db(), "audit_events")).toEqual(before);
  });

  it("never drops the events of a run still active; drops the month once it has ended", async () => {
    const now = new Date();
    for (let i = 1; i <= 4; i++) await ensurePartitions(db(), monthStart(now, -i));
    const month = monthStart(now, -4);
    const name = partitionName("agent_run_events", month);
    const waiting = await seedRun("awaiting_approval");
    const finished = await seedRun("done");
    await runEvent(waiting, new Date(month.getTime() + DAY));
    await runEvent(finished, new Date(month.getTime() + 2 * DAY));
    await runEvent(waiting, now);
    const events = (run: string) =>
      db().selectFrom("agent_run_events").select("id").where("run_id", "=", run).execute();
    expect(await dropExpiredPartitions(db(), "agent_run_events", 40, now)).not.toContain(name);
    expect(await events(waiting)).toHaveLength(2);
    expect(await events(finished)).toHaveLength(1);
    await db().updateTable("agent_runs").set({ status: "done" }).where("id", "=", waiting).execute();
    expect(await dropExpiredPartitions(db(), "agent_run_events", 40, now)).toContain(name);
    expect(await events(waiting)).toHaveLength(1);
    expect(await events(finished)).toHaveLength(0);
  });
});
