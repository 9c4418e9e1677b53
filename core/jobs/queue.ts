// Background work on Postgres, leased by workers in any process. A lease is a row update, never a held lock
// or transaction: the worker heartbeats while it works, and a lease that expires (its worker crashed or
// hung) makes the job available again. `key` names the work (e.g. a run id), so enqueueing it twice is a no-op.
import crypto from "node:crypto";
import { sql } from "kysely";
import type { DB } from "../kernel/operation.ts";

export interface Job {
  id: string;
  queue: string;
  key: string;
  payload: Record<string, unknown>;
  attempts: number;
  leaseOwner: string;
}

/** Adds work unless the same key is already waiting or leased; returns whether it was added. */
export async function enqueue(
  db: DB,
  queue: string,
  key: string,
  payload: Record<string, unknown> = {},
  runAfter?: Date,
): Promise<boolean> {
  const rows = await sql`
    INSERT INTO jobs (queue, key, payload, run_after)
    VALUES (${queue}, ${key}, ${JSON.stringify(payload)}::jsonb, ${runAfter ?? new Date()})
    ON CONFLICT (queue, key) WHERE state in ('ready', 'leased') DO NOTHING
    RETURNING id`.execute(db);
  return rows.rows.length > 0;
}

/**
 * Takes the oldest due job (or one whose lease expired) for `owner`, for `leaseMs`. SKIP LOCKED lets many
 * workers lease at once without waiting on each other.
 */
export async function lease(db: DB, queue: string, owner: string, leaseMs: number): Promise<Job | null> {
  const res = await sql<{ id: string; queue: string; key: string; payload: Record<string, unknown>; attempts: number }>`
    UPDATE jobs SET state = 'leased', lease_owner = ${owner}, attempts = attempts + 1, updated_at = now(),
      lease_expires_at = now() + ${`${leaseMs} milliseconds`}::interval
    WHERE id = (
      SELECT id FROM jobs
      WHERE queue = ${queue}
        AND ((state = 'ready' AND run_after <= now()) OR (state = 'leased' AND lease_expires_at < now()))
      ORDER BY run_after, id
      FOR UPDATE SKIP LOCKED
      LIMIT 1)
    RETURNING id, queue, key, payload, attempts`.execute(db);
  const row = res.rows[0];
  return row ? { ...row, id: String(row.id), leaseOwner: owner } : null;
}

/** Extends a lease still held by its owner; false means it was lost (expired and taken by another worker). */
export async function heartbeat(db: DB, job: Job, leaseMs: number): Promise<boolean> {
  const res = await db
    .updateTable("jobs")
    .set({ lease_expires_at: sql`now() + ${`${leaseMs} milliseconds`}::interval`, updated_at: new Date() })
    .where("id", "=", job.id)
    .where("state", "=", "leased")
    .where("lease_owner", "=", job.leaseOwner)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/** Ends a leased job: done, failed (with the error), or back to ready after a delay (retry). */
export async function finish(
  db: DB,
  job: Job,
  outcome: { state: "done" } | { state: "failed"; error: string } | { state: "retry"; afterMs: number; error?: string },
) {
  const set =
    outcome.state === "retry"
      ? {
          state: "ready" as const,
          run_after: new Date(Date.now() + outcome.afterMs),
          last_error: outcome.error ?? null,
          lease_owner: null,
          lease_expires_at: null,
        }
      : { state: outcome.state, last_error: outcome.state === "failed" ? outcome.error : null };
  await db
    .updateTable("jobs")
    .set({ ...set, updated_at: new Date() })
    .where("id", "=", job.id)
    .where("lease_owner", "=", job.leaseOwner)
    .execute();
}

export const workerId = (label: string) => `${label}:${process.pid}:${crypto.randomBytes(4).toString("hex")}`;
