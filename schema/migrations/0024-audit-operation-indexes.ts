import { type Kysely, sql } from "kysely";

// list_audit_events filtered by operation walked (account_id, id) or (project, id) newest first and fetched each
// record to test the filter: with 1 call in 50 matching, a page read ~2,500 records (issue 19's bench, 5M rows:
// ~3,000 buffers vs ~100 unfiltered). With the operation in the index, the walk visits only matching entries,
// still newest first. Created on the partitioned parent, so every month's partition (and each one made later,
// when attached) gets it. On a big existing table the build holds writes to audit_events until it is done.
const INDEXES: [string, string][] = [
  ["audit_events_account_operation_idx", "account_id, operation, id"],
  ["audit_events_project_operation_idx", "project, operation, id"],
];

export async function up(db: Kysely<any>): Promise<void> {
  for (const [name, cols] of INDEXES)
    await sql`create index ${sql.id(name)} on audit_events (${sql.raw(cols)})`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const [name] of INDEXES) await sql`drop index if exists ${sql.id(name)}`.execute(db);
}
