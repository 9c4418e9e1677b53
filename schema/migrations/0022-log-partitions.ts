import { type Kysely, sql } from "kysely";
import {
  createMonthPartition,
  defaultPartition,
  MONTHS_AHEAD,
  monthStart,
  PARTITIONED,
  type PartitionedTable,
} from "../partitions.ts";

// audit_events and agent_run_events become tables partitioned by month of their timestamp, so retention drops a
// month instead of DELETEing rows (schema/partitions.ts says why monthly). The primary key must include the
// partition key: (id, at). Ids still come from the same sequence, so ids stay unique and ordered across
// partitions, cursors and `after` ids held by clients stay valid, and a lookup by id alone uses each
// partition's primary key index. Existing rows are copied; the old tables are dropped.

const COLUMNS: Record<PartitionedTable, string> = {
  audit_events: `request_id text not null, at timestamptz not null, account_id uuid, token_prefix text,
    operation text not null, surface text not null, project text, outcome text not null,
    duration_ms integer not null, client_ip text, input jsonb`,
  agent_run_events: `run_id uuid not null references agent_runs(id) on delete cascade, type text not null,
    data jsonb not null, created_at timestamptz not null default now()`,
};
const NAMES: Record<PartitionedTable, string> = {
  audit_events:
    "request_id, at, account_id, token_prefix, operation, surface, project, outcome, duration_ms, client_ip, input",
  agent_run_events: "run_id, type, data, created_at",
};
// Read paths: the audit list by account or project, newest first by id; a run's events in id order. The old
// index on audit_events.at (0017) served only the DELETE retention no longer does.
const INDEXES: Record<PartitionedTable, [string, string][]> = {
  audit_events: [
    ["audit_events_account_idx", "account_id, id"],
    ["audit_events_project_idx", "project, id"],
  ],
  agent_run_events: [["agent_run_events_run_idx", "run_id, id"]],
};
const OLD_INDEXES: Record<PartitionedTable, string[]> = {
  audit_events: ["audit_events_account_idx", "audit_events_project_idx", "audit_events_at_idx"],
  agent_run_events: ["agent_run_events_run_idx"],
};

export async function up(db: Kysely<any>): Promise<void> {
  for (const table of Object.keys(PARTITIONED) as PartitionedTable[]) {
    const column = PARTITIONED[table];
    const old = `${table}_unpartitioned`;
    const seq = `${table}_id_seq`;
    await sql`alter table ${sql.id(table)} rename to ${sql.id(old)}`.execute(db);
    await sql`alter table ${sql.id(old)} rename constraint ${sql.id(`${table}_pkey`)} to ${sql.id(`${old}_pkey`)}`.execute(
      db,
    );
    for (const index of OLD_INDEXES[table]) await sql`drop index if exists ${sql.id(index)}`.execute(db);
    // The new table takes over the sequence, so ids go on from where they were.
    await sql`alter sequence ${sql.id(seq)} owned by none`.execute(db);
    await sql`alter table ${sql.id(old)} alter column id drop default`.execute(db);
    await sql`create table ${sql.id(table)} (
        id bigint not null default nextval(${sql.lit(seq)}::regclass), ${sql.raw(COLUMNS[table])},
        primary key (id, ${sql.ref(column)})
      ) partition by range (${sql.ref(column)})`.execute(db);
    await sql`alter sequence ${sql.id(seq)} owned by ${sql.id(table)}.id`.execute(db);
    for (const [name, cols] of INDEXES[table])
      await sql`create index ${sql.id(name)} on ${sql.id(table)} (${sql.raw(cols)})`.execute(db);
    // Rows outside every month partition (far past or future) land here, so an insert never fails.
    await sql`create table ${sql.id(defaultPartition(table))} partition of ${sql.id(table)} default`.execute(db);
    const { rows } = await sql<{ month: Date }>`
      select distinct date_trunc('month', ${sql.ref(column)}, 'UTC') as month from ${sql.id(old)}`.execute(db);
    const now = new Date();
    const months = [...rows.map((r) => new Date(r.month))];
    for (let i = 0; i <= MONTHS_AHEAD; i++) months.push(monthStart(now, i));
    for (const month of months) await createMonthPartition(db, table, month);
    await sql`insert into ${sql.id(table)} (id, ${sql.raw(NAMES[table])})
      select id, ${sql.raw(NAMES[table])} from ${sql.id(old)}`.execute(db);
    await sql`drop table ${sql.id(old)}`.execute(db);
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of Object.keys(PARTITIONED) as PartitionedTable[]) {
    const column = PARTITIONED[table];
    const part = `${table}_partitioned`;
    const seq = `${table}_id_seq`;
    await sql`alter table ${sql.id(table)} rename to ${sql.id(part)}`.execute(db);
    await sql`alter table ${sql.id(part)} rename constraint ${sql.id(`${table}_pkey`)} to ${sql.id(`${part}_pkey`)}`.execute(
      db,
    );
    for (const [name] of INDEXES[table]) await sql`drop index if exists ${sql.id(name)}`.execute(db);
    await sql`alter sequence ${sql.id(seq)} owned by none`.execute(db);
    await sql`create table ${sql.id(table)} (
        id bigint primary key default nextval(${sql.lit(seq)}::regclass), ${sql.raw(COLUMNS[table])})`.execute(db);
    await sql`alter sequence ${sql.id(seq)} owned by ${sql.id(table)}.id`.execute(db);
    await sql`insert into ${sql.id(table)} (id, ${sql.raw(NAMES[table])})
      select id, ${sql.raw(NAMES[table])} from ${sql.id(part)}`.execute(db);
    await sql`drop table ${sql.id(part)}`.execute(db);
    for (const index of OLD_INDEXES[table]) {
      const cols = INDEXES[table].find(([n]) => n === index)?.[1] ?? column;
      await sql`create index ${sql.id(index)} on ${sql.id(table)} (${sql.raw(cols)})`.execute(db);
    }
  }
}
