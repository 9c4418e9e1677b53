// Audit retention (BOSUN_AUDIT_RETENTION_DAYS): records older than the window are deleted in bounded batches,
// each its own short statement, so a backlog of millions never holds one long transaction or lock; the hourly
// sweeper (core/platform.ts) runs it in every process (the batches are idempotent). A batched DELETE rather
// than dropping time partitions: converting audit_events to a partitioned table changes its primary key to
// (id, at) and rewrites the table in a migration; see docs/architecture.md.
import { sql } from "kysely";
import type { DB } from "../kernel/operation.ts";

export interface PruneOptions {
  /** Rows per DELETE statement. */
  batch?: number;
  /** Stops after this many batches (the next sweep goes on), so one sweep's work is bounded. */
  maxBatches?: number;
  now?: Date;
}

/** Deletes audit records older than `days` days (none when days is 0); resolves to how many went. */
export async function pruneAuditEvents(db: DB, days: number, opts: PruneOptions = {}): Promise<number> {
  if (!(days > 0)) return 0;
  const batch = opts.batch ?? 5000;
  const maxBatches = opts.maxBatches ?? 200;
  const cutoff = new Date((opts.now ?? new Date()).getTime() - days * 86_400_000);
  let total = 0;
  for (let i = 0; i < maxBatches; i++) {
    // The oldest first, through audit_events_at_idx; SKIP LOCKED lets another process's sweep take other rows.
    const res = await sql`
      DELETE FROM audit_events WHERE id IN (
        SELECT id FROM audit_events WHERE at < ${cutoff} ORDER BY at LIMIT ${batch} FOR UPDATE SKIP LOCKED)`.execute(
      db,
    );
    const n = Number(res.numAffectedRows ?? 0);
    total += n;
    if (n < batch) break;
  }
  return total;
}
