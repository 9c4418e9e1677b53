// Whether a statement's commit waits for the disk. Postgres loses an asynchronous commit only when the database
// server itself crashes (not Bosun's process: the record is already in the server's WAL buffers), and only as a
// suffix of the WAL, since any later durable commit flushes every record before it. So after any crash the
// database is a consistent earlier state, and only what was done outside it can be ahead of it. A commit waits for
// the disk when it moves money or records that a side effect which must not happen twice has started; the rest
// need not (docs/agent.md#durability, docs/billing.md).
import { sql } from "kysely";
import type { DB } from "./operation.ts";

/**
 * The CTE `commit_mode (synchronous_commit)`: the statement's own transaction commits without waiting for the
 * WAL flush unless `durable`. Inside a caller's transaction the caller's setting stands: its commit may carry
 * what must be durable. Postgres runs a SELECT CTE only when the statement reads it, so the statement must
 * (its `synchronous_commit`, as the statement saw it, is what `isDurable` reads). The text is the same either
 * way, so a prepared statement keeps one text.
 */
export const commitModeCte = (db: DB, durable: boolean) =>
  sql`commit_mode AS (SELECT set_config('synchronous_commit',
      CASE WHEN ${durable || db.isTransaction} THEN current_setting('synchronous_commit') ELSE 'off' END, true)
      AS synchronous_commit)`;

/** Whether a commit under this `synchronous_commit` waits for the WAL flush (`local`, `remote_*` and `on` do). */
export const isDurable = (synchronousCommit: string) => synchronousCommit !== "off";
