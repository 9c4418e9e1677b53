// The 0017 migration on data written before it: every audit record stays, and the retention index exists.
import crypto from "node:crypto";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openBareTestDatabase } from "../../testkit/harness.ts";
import { migrateTo } from "../migrations.ts";
import type { OpenedDatabase } from "../open-database.ts";

let opened: OpenedDatabase;
beforeAll(async () => {
  opened = await openBareTestDatabase();
});
afterAll(() => opened?.close());

describe("0017-audit-retention", () => {
  it("keeps every audit record and adds the index retention deletes through", async () => {
    const db = opened.db;
    await migrateTo(db, "0016-events");
    const ids = Array.from({ length: 3 }, () => crypto.randomUUID());
    for (const [i, id] of ids.entries()) {
      await sql`insert into audit_events (request_id, at, operation, surface, outcome, duration_ms)
                values (${id}, ${new Date(Date.now() - i * 86_400_000)}, 'old_op', 'rest', 'ok', 1)`.execute(db);
    }
    await migrateTo(db, "0017-audit-retention");
    const rows = await sql<{ request_id: string }>`select request_id from audit_events order by id`.execute(db);
    expect(rows.rows.map((r) => r.request_id)).toEqual(ids);
    const idx = await sql<{ indexname: string }>`
      select indexname from pg_indexes where tablename = 'audit_events' and indexname = 'audit_events_at_idx'`.execute(
      db,
    );
    expect(idx.rows).toHaveLength(1);
  });
});
