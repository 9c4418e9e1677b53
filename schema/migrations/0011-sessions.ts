import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<any>): Promise<void> {
  // Login sessions as stored credentials: the session token (a signed JWT) names its row by `jti`, and every
  // call re-checks the row, so a session can be listed, ended at once (logout, revoke, password or two-factor
  // change) and stops working on every process. Sessions issued before this table existed are not in it and
  // are refused: their holders log in again.
  await db.schema
    .createTable("sessions")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("account_id", "uuid", (c) => c.notNull().references("accounts.id").onDelete("cascade"))
    .addColumn("surface", "text", (c) => c.notNull())
    .addColumn("client_ip", "text")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("expires_at", "timestamptz", (c) => c.notNull())
    .addColumn("last_used_at", "timestamptz")
    .addColumn("ended_at", "timestamptz")
    // logout | revoked | password_changed | password_reset | two_factor_changed
    .addColumn("end_reason", "text")
    .execute();
  await db.schema.createIndex("sessions_account_idx").on("sessions").columns(["account_id", "created_at"]).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("sessions").execute();
}
