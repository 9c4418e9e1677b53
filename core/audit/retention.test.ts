// Audit retention on the real database (PGlite, or Postgres with DATABASE_URL), and the writer's insert.
import crypto from "node:crypto";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../../testkit/harness.ts";
import { loadConfig } from "../config.ts";
import { pruneAuditEvents } from "./retention.ts";

let t: TestPlatform;
beforeAll(async () => {
  t = await startTestPlatform();
});
afterAll(() => t?.close());

const DAY = 86_400_000;
// Past every record the harness and other tests wrote, so those are all expired here: only ours are counted.
const NOW = Date.now() + 400 * DAY;
const tag = () => `ret-${crypto.randomUUID()}`;
async function write(op: string, ages: number[], now: number) {
  await t.platform.db
    .insertInto("audit_events")
    .values(
      ages.map((age) => ({
        request_id: crypto.randomUUID(),
        at: new Date(now - age),
        operation: op,
        surface: "rest",
        outcome: "ok",
        duration_ms: 1,
      })),
    )
    .execute();
}
const ages = async (op: string, now: number) =>
  (await t.platform.db.selectFrom("audit_events").select("at").where("operation", "=", op).execute())
    .map((r) => Math.round((now - new Date(r.at).getTime()) / DAY))
    .sort((a, b) => a - b);

describe("audit retention", () => {
  it("deletes records past the window in batches and keeps the rest", async () => {
    const op = tag();
    const now = NOW;
    await write(
      op,
      [1, 29, 31, 45, 60, 90, 365].map((d) => d * DAY),
      now,
    );
    const others = await t.platform.db.selectFrom("audit_events").select("id").where("operation", "!=", op).execute();
    const gone = await pruneAuditEvents(t.platform.db, 30, { batch: 2, now: new Date(now) });
    expect(gone).toBe(5 + others.length);
    expect(await ages(op, now)).toEqual([1, 29]);
  });

  it("stops after maxBatches and finishes on the next sweep", async () => {
    const op = tag();
    const now = NOW; // what the test before kept is inside the window
    await write(
      op,
      [40, 50, 60, 70, 80].map((d) => d * DAY),
      now,
    );
    expect(await pruneAuditEvents(t.platform.db, 30, { batch: 2, maxBatches: 1, now: new Date(now) })).toBe(2);
    expect(await ages(op, now)).toEqual([40, 50, 60]); // the oldest went first
    expect(await pruneAuditEvents(t.platform.db, 30, { batch: 2, now: new Date(now) })).toBe(3);
    expect(await ages(op, now)).toEqual([]);
  });

  it("keeps everything when retention is 0 (the default)", async () => {
    const op = tag();
    await write(op, [3650 * DAY], Date.now());
    expect(loadConfig({}).auditRetentionDays).toBe(0);
    expect(await pruneAuditEvents(t.platform.db, 0)).toBe(0);
    expect(await ages(op, Date.now())).toEqual([3650]);
    expect(loadConfig({ BOSUN_AUDIT_RETENTION_DAYS: "90" }).auditRetentionDays).toBe(90);
    expect(loadConfig({ BOSUN_AUDIT_RETENTION_DAYS: "-3" }).auditRetentionDays).toBe(0);
  });

  it("finds each batch through the index on at, not a scan of the table", async () => {
    // A test table is small enough that a scan is cheaper: take scans off the menu to see the index is usable.
    const plan = await t.platform.db.transaction().execute(async (trx) => {
      await sql`SET LOCAL enable_seqscan = off`.execute(trx);
      return sql<{ "QUERY PLAN": string }>`
        EXPLAIN SELECT id FROM audit_events WHERE at < now() ORDER BY at LIMIT 5000`.execute(trx);
    });
    const text = plan.rows.map((r) => r["QUERY PLAN"]).join("\n");
    expect(text).toContain("audit_events_at_idx");
  });
});
