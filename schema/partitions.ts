// Monthly range partitions of the two append-only logs, audit_events (by `at`) and agent_run_events (by
// `created_at`): migration 0022 makes them, core/partitions.ts keeps them ahead of the clock and drops expired
// ones. Monthly, not daily: most reads (the audit list, a run's events) carry no time bound, so every query
// plans and opens every partition; with the default retention (forever) daily partitions would grow by 365 a
// year, and 400 of them measured ~100 ms of planning per read against ~0.5 ms for 14 monthly ones.
import { type Kysely, sql } from "kysely";

/** Each partitioned table and the column it is partitioned by. */
export const PARTITIONED = { audit_events: "at", agent_run_events: "created_at" } as const;
export type PartitionedTable = keyof typeof PARTITIONED;

/** Months made ahead of the clock (by the migration, then hourly by core/partitions.ts). */
export const MONTHS_AHEAD = 2;

/** The first instant (UTC) of the month `offset` months after the one holding `at`. */
export function monthStart(at: Date, offset = 0): Date {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + offset, 1));
}

/** `audit_events_p202611` for November 2026. */
export function partitionName(table: PartitionedTable, month: Date): string {
  return `${table}_p${month.getUTCFullYear()}${String(month.getUTCMonth() + 1).padStart(2, "0")}`;
}

/** The month a partition's name stands for, or null for the DEFAULT partition and any other name. */
export function partitionMonth(table: PartitionedTable, name: string): Date | null {
  const m = new RegExp(`^${table}_p(\\d{4})(\\d{2})$`).exec(name);
  return m ? new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, 1)) : null;
}

export const defaultPartition = (table: PartitionedTable) => `${table}_default`;

/** The partitions of `table` by name (the DEFAULT one included). */
export async function listPartitions(db: Kysely<any>, table: PartitionedTable): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
    where i.inhparent = ${table}::regclass order by c.relname`.execute(db);
  return rows.map((r) => r.name);
}

/**
 * Creates the partition of `table` for the month starting at `month` unless it exists; true when it made it.
 * Made detached, filled with the rows of that month the DEFAULT partition caught, then attached: ATTACH takes
 * the parent only against other DDL, where CREATE … PARTITION OF would block every read and write of it. The
 * caller serialises (migration transaction, or core's advisory lock).
 */
export async function createMonthPartition(db: Kysely<any>, table: PartitionedTable, month: Date): Promise<boolean> {
  const name = partitionName(table, month);
  const { rows } = await sql<{ found: boolean }>`select to_regclass(${name}) is not null as found`.execute(db);
  if (rows[0]?.found) return false;
  const column = sql.ref(PARTITIONED[table]);
  const from = month.toISOString();
  const to = monthStart(month, 1).toISOString();
  await sql`create table ${sql.id(name)} (like ${sql.id(table)} including defaults)`.execute(db);
  await sql`with moved as (
      delete from ${sql.id(defaultPartition(table))} where ${column} >= ${from} and ${column} < ${to} returning *)
    insert into ${sql.id(name)} select * from moved`.execute(db);
  await sql`alter table ${sql.id(table)} attach partition ${sql.id(name)}
    for values from (${sql.lit(from)}) to (${sql.lit(to)})`.execute(db);
  return true;
}
