import { type Kysely, sql } from "kysely";

// Workers' usage is charged from the invocation rows (not from memory, which a hard crash loses): a row is
// `charged` once its ledger entry is written, in the same transaction. Rows from before were charged (or lost) by
// the in-memory meter: they start charged; new rows start uncharged.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE worker_invocations ADD COLUMN charged boolean NOT NULL DEFAULT true`.execute(db);
  await sql`ALTER TABLE worker_invocations ALTER COLUMN charged SET DEFAULT false`.execute(db);
  await db.schema
    .createIndex("worker_invocations_uncharged_idx")
    .on("worker_invocations")
    .column("id")
    .where(sql.ref("charged"), "=", false)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex("worker_invocations_uncharged_idx").execute();
  await db.schema.alterTable("worker_invocations").dropColumn("charged").execute();
}
