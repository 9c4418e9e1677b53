// The 0022 migration on data written before it: every audit record and run event stays with its id, lands in
// its month's partition, ids go on from the same sequence, and the run-event INSERT's NOTIFY still works.
import crypto from "node:crypto";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openBareTestDatabase } from "../../testkit/harness.ts";
import { migrateTo, migrateToLatest } from "../migrations.ts";
import type { OpenedDatabase } from "../open-database.ts";
import { monthStart, partitionName } from "../partitions.ts";

let opened: OpenedDatabase;
beforeAll(async () => {
  opened = await openBareTestDatabase();
});
afterAll(() => opened?.close());

const DAY = 86_400_000;

describe("0022-log-partitions", () => {
  it("copies every audit record and run event into monthly partitions, keeping ids", async () => {
    const db = opened.db;
    await migrateTo(db, "0021-telegram-site-links");
    const ats = [new Date("2019-05-06T07:08:09Z"), new Date(Date.now() - 40 * DAY), new Date()];
    for (const at of ats) {
      await sql`insert into audit_events (request_id, at, operation, surface, outcome, duration_ms, input)
        values (${crypto.randomUUID()}, ${at}, 'old_op', 'rest', 'ok', 1, '{"a":1}')`.execute(db);
    }
    const account = crypto.randomUUID();
    const project = crypto.randomUUID();
    const conversation = crypto.randomUUID();
    const run = crypto.randomUUID();
    await sql`insert into accounts (id, email, name, password_hash) values (${account}, 'm@example.test', 'm', 'x')`.execute(
      db,
    );
    await sql`insert into projects (id, slug, name, kind, owner_account_id)
      values (${project}, 'mig', 'p', 'site', ${account})`.execute(db);
    await sql`insert into agent_conversations (id, project_id, account_id, kind, title, mode, credential_kind,
        credential_id, scopes)
      values (${conversation}, ${project}, ${account}, 'site_editor', 't', 'auto', 'token', 'x', '{}')`.execute(db);
    await sql`insert into agent_runs (id, conversation_id, status, deadline)
      values (${run}, ${conversation}, 'done', now())`.execute(db);
    for (const at of ats)
      await sql`insert into agent_run_events (run_id, type, data, created_at) values (${run}, 't', '{}', ${at})`.execute(
        db,
      );
    const before = await sql<{ id: string; at: Date }>`select id, at from audit_events order by id`.execute(db);
    const eventsBefore = await sql<{ id: string }>`select id from agent_run_events order by id`.execute(db);

    await migrateToLatest(db);

    const after = await sql<{ id: string; at: Date; input: unknown; part: string }>`
      select id, at, input, tableoid::regclass::text as part from audit_events order by id`.execute(db);
    expect(after.rows.map((r) => [r.id, new Date(r.at).getTime()])).toEqual(
      before.rows.map((r) => [r.id, new Date(r.at).getTime()]),
    );
    expect(after.rows[0]?.input).toEqual({ a: 1 });
    expect(after.rows.map((r) => r.part)).toEqual(ats.map((at) => partitionName("audit_events", monthStart(at))));
    const events = await sql<{ id: string; part: string }>`
      select id, tableoid::regclass::text as part from agent_run_events order by id`.execute(db);
    expect(events.rows.map((r) => r.id)).toEqual(eventsBefore.rows.map((r) => r.id));
    expect(events.rows.map((r) => r.part)).toEqual(ats.map((at) => partitionName("agent_run_events", monthStart(at))));

    // Ids go on from the same sequence; the run-event INSERT with its NOTIFY (core/agent/runs.ts) still works.
    const next = await sql<{ id: string }>`
      insert into audit_events (request_id, at, operation, surface, outcome, duration_ms)
      values ('n', now(), 'new_op', 'rest', 'ok', 1) returning id`.execute(db);
    expect(BigInt(next.rows[0]!.id)).toBeGreaterThan(BigInt(before.rows.at(-1)!.id));
    const ev = await sql<{ id: string }>`
      with ins as (insert into agent_run_events (run_id, type, data) values (${run}, 'n', '{}') returning id)
      select max(ins.id) as id, pg_notify('bosun_test', max(ins.id)::text) from ins`.execute(db);
    expect(BigInt(ev.rows[0]!.id)).toBeGreaterThan(BigInt(eventsBefore.rows.at(-1)!.id));
    // Deleting a run still takes its events with it (the foreign key on the partitioned table).
    await sql`delete from agent_runs where id = ${run}`.execute(db);
    expect((await sql`select 1 from agent_run_events`.execute(db)).rows).toHaveLength(0);
    const kind = await sql<{ relkind: string }>`select relkind from pg_class where relname = 'audit_events'`.execute(
      db,
    );
    expect(kind.rows[0]?.relkind).toBe("p");
  });

  it("goes back down to plain tables with every row, and up again", async () => {
    const db = opened.db;
    await sql`insert into audit_events (request_id, at, operation, surface, outcome, duration_ms)
      values ('d', '2020-01-02T00:00:00Z', 'down_op', 'rest', 'ok', 1)`.execute(db);
    const ids = async () => (await sql<{ id: string }>`select id from audit_events order by id`.execute(db)).rows;
    const before = await ids();
    await migrateTo(db, "0021-telegram-site-links");
    const kind = async () =>
      (await sql<{ relkind: string }>`select relkind from pg_class where relname = 'audit_events'`.execute(db)).rows[0]
        ?.relkind;
    expect(await kind()).toBe("r");
    expect(await ids()).toEqual(before);
    await migrateToLatest(db);
    expect(await kind()).toBe("p");
    expect(await ids()).toEqual(before);
  });
});
