// The 0024 migration: a page of the audit list filtered by operation walks only the matching entries.
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openBareTestDatabase } from "../../testkit/harness.ts";
import { migrateToLatest } from "../migrations.ts";
import type { OpenedDatabase } from "../open-database.ts";
import { createMonthPartition, monthStart, partitionName } from "../partitions.ts";

let opened: OpenedDatabase;
beforeAll(async () => {
  opened = await openBareTestDatabase();
  await migrateToLatest(opened.db);
});
afterAll(() => opened?.close());

describe("0024-audit-operation-indexes", () => {
  it("indexes each month's partition, one made later too, by (account_id | project, operation, id)", async () => {
    const db = opened.db;
    const later = monthStart(new Date(), 30);
    expect(await createMonthPartition(db, "audit_events", later)).toBe(true);
    const defs = await sql<{ indexdef: string }>`select indexdef from pg_indexes
      where tablename = ${partitionName("audit_events", later)}`.execute(db);
    const columns = defs.rows.map((r) => /\((.*)\)$/.exec(r.indexdef)?.[1]);
    expect(columns).toEqual(expect.arrayContaining(["account_id, operation, id", "project, operation, id"]));
  });

  it("serve the own-calls branch filtered by operation from the index, newest first", async () => {
    const db = opened.db;
    const me = "11111111-1111-4111-8111-111111111111";
    await sql`insert into audit_events (request_id, at, account_id, operation, surface, outcome, duration_ms)
      select 'r' || g, now(), ${me}::uuid, 'op_' || (g % 50), 'rest', 'ok', 1 from generate_series(1, 2000) g`.execute(
      db,
    );
    await sql`analyze audit_events`.execute(db);
    const plan = await db.transaction().execute(async (trx) => {
      await sql`set local enable_seqscan = off`.execute(trx);
      await sql`set local enable_bitmapscan = off`.execute(trx);
      return sql<{ "QUERY PLAN": string }>`explain select * from audit_events
        where account_id = ${me}::uuid and operation = 'op_7' order by id desc limit 51`.execute(trx);
    });
    const text = plan.rows.map((r) => r["QUERY PLAN"]).join("\n");
    // Both columns in the index condition: no record is fetched only to be dropped by a filter.
    expect(text).toMatch(/Index Cond: \(\(account_id = '[^']+'::uuid\) AND \(operation = 'op_7'::text\)\)/);
    expect(text).not.toMatch(/Filter: \(operation/);
  });
});
