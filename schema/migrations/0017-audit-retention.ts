import type { Kysely } from "kysely";

export async function up(db: Kysely<any>): Promise<void> {
  // Retention (BOSUN_AUDIT_RETENTION_DAYS) deletes the oldest records in batches by time: this index finds
  // each batch without scanning the table.
  await db.schema.createIndex("audit_events_at_idx").on("audit_events").column("at").execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex("audit_events_at_idx").execute();
}
