// Upkeep of the monthly partitions of audit_events and agent_run_events (schema/partitions.ts): the months ahead
// are made at start and on the hourly sweep, and retention drops whole months, never DELETEs row by row. A month
// goes once all of it is past the window: a record is kept at least the retention and at most a month longer
// (the month holding the cutoff, the boundary, is left whole). Every process runs this; an advisory lock makes
// one do each change, and a change re-checks what it changes under the lock.
import { sql } from "kysely";
import {
  createMonthPartition,
  defaultPartition,
  listPartitions,
  MONTHS_AHEAD,
  monthStart,
  PARTITIONED,
  type PartitionedTable,
  partitionMonth,
  partitionName,
} from "../schema/partitions.ts";
import { ACTIVE } from "./agent/runs.ts";
import type { DB } from "./kernel/operation.ts";

const TABLES = Object.keys(PARTITIONED) as PartitionedTable[];
const DAY = 86_400_000;
/** pg_advisory_xact_lock key of partition changes ("bosunprt"). */
const LOCK = 0x626f73756e707274n;
/** Rows of the DEFAULT partition deleted per sweep (it holds only strays; see pruneDefault). */
const DEFAULT_BATCH = 10_000;

export interface Retention {
  /** BOSUN_AUDIT_RETENTION_DAYS; 0 keeps forever. */
  auditDays: number;
  /** BOSUN_RUN_EVENT_RETENTION_DAYS; 0 keeps forever. */
  runEventDays: number;
}

/** One change at a time across processes, in its own short transaction. */
function locked<T>(db: DB, change: (trx: DB) => Promise<T>): Promise<T> {
  return db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(${LOCK})`.execute(trx);
    // ATTACH and DROP wait for the table's readers; bounded, so one stuck behind a long read does not make every
    // read after it queue too. The next sweep tries again.
    await sql`set local lock_timeout = '5s'`.execute(trx);
    return change(trx);
  });
}

/** Makes this month's partition and the next MONTHS_AHEAD months' where missing; resolves to those made. */
export async function ensurePartitions(db: DB, now = new Date()): Promise<string[]> {
  const made: string[] = [];
  for (const table of TABLES) {
    const have = new Set(await listPartitions(db, table));
    for (let i = 0; i <= MONTHS_AHEAD; i++) {
      const month = monthStart(now, i);
      if (have.has(partitionName(table, month))) continue;
      if (await locked(db, (trx) => createMonthPartition(trx, table, month))) made.push(partitionName(table, month));
    }
  }
  return made;
}

/** Whether a run-event partition holds events of a run not yet finished (queued, running, awaiting approval). */
async function holdsActiveRun(db: DB, partition: string): Promise<boolean> {
  const { rows } = await sql<{ held: boolean }>`
    select exists (select 1 from agent_runs r where r.status in (${sql.join(ACTIVE)})
      and exists (select 1 from ${sql.id(partition)} e where e.run_id = r.id)) as held`.execute(db);
  return rows[0]?.held === true;
}

/**
 * Drops the month partitions of `table` wholly older than `days` days (none when days is 0); resolves to those
 * dropped. A run-event month holding an event of a run still active stays until that run ends.
 */
export async function dropExpiredPartitions(
  db: DB,
  table: PartitionedTable,
  days: number,
  now = new Date(),
): Promise<string[]> {
  if (!(days > 0)) return [];
  const cutoff = now.getTime() - days * DAY;
  const dropped: string[] = [];
  for (const name of await listPartitions(db, table)) {
    const month = partitionMonth(table, name);
    if (!month || monthStart(month, 1).getTime() > cutoff) continue;
    const gone = await locked(db, async (trx) => {
      if (table === "agent_run_events" && (await holdsActiveRun(trx, name))) return false;
      await sql`drop table if exists ${sql.id(name)}`.execute(trx);
      return true;
    });
    if (gone) dropped.push(name);
  }
  await pruneDefault(db, table, cutoff);
  return dropped;
}

/**
 * The DEFAULT partition only catches rows outside every month partition (written with a timestamp far in the
 * past or future, or into a month already dropped), so it is small: its expired rows go by a bounded DELETE.
 */
async function pruneDefault(db: DB, table: PartitionedTable, cutoff: number): Promise<void> {
  const target = sql.id(defaultPartition(table));
  const column = sql.ref(PARTITIONED[table]);
  const keep =
    table === "agent_run_events"
      ? sql`and run_id not in (select id from agent_runs where status in (${sql.join(ACTIVE)}))`
      : sql``;
  await sql`delete from ${target} where ctid = any(array(
      select ctid from ${target} where ${column} < ${new Date(cutoff)} ${keep} limit ${DEFAULT_BATCH}))`.execute(db);
}

/** The hourly upkeep (and the one at start): months ahead made, expired months dropped. */
export async function maintainPartitions(db: DB, retention: Retention, now = new Date()) {
  const created = await ensurePartitions(db, now);
  const dropped = [
    ...(await dropExpiredPartitions(db, "audit_events", retention.auditDays, now)),
    ...(await dropExpiredPartitions(db, "agent_run_events", retention.runEventDays, now)),
  ];
  return { created, dropped };
}
