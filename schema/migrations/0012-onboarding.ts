import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<any>): Promise<void> {
  // Set when the person proved they read this mailbox (a verification, set-password, reset or invitation link).
  // Accounts that existed before this migration keep working as they did: they count as verified.
  await db.schema.alterTable("accounts").addColumn("email_verified_at", "timestamptz").execute();
  await sql`UPDATE accounts SET email_verified_at = created_at`.execute(db);

  // Invitations to a project: pending until the invited mailbox's owner accepts with the link's token.
  await db.schema
    .createTable("project_invitations")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("project_id", "uuid", (c) => c.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("email", "text", (c) => c.notNull())
    .addColumn("role", "text", (c) => c.notNull())
    .addColumn("invited_by", "uuid", (c) => c.references("accounts.id").onDelete("set null"))
    .addColumn("expires_at", "timestamptz", (c) => c.notNull())
    .addColumn("accepted_at", "timestamptz")
    .addColumn("accepted_by", "uuid", (c) => c.references("accounts.id").onDelete("set null"))
    .addColumn("revoked_at", "timestamptz")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex("project_invitations_project_idx")
    .on("project_invitations")
    .column("project_id")
    .execute();

  // One-time links (set password, verify email, reset password, accept an invitation): only the SHA-256 of the
  // token is stored; a token is single-use (used_at) and expires.
  await db.schema
    .createTable("one_time_tokens")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("purpose", "text", (c) => c.notNull())
    .addColumn("token_hash", "text", (c) => c.notNull().unique())
    .addColumn("email", "text", (c) => c.notNull())
    .addColumn("account_id", "uuid", (c) => c.references("accounts.id").onDelete("cascade"))
    .addColumn("invitation_id", "uuid", (c) => c.references("project_invitations.id").onDelete("cascade"))
    .addColumn("expires_at", "timestamptz", (c) => c.notNull())
    .addColumn("used_at", "timestamptz")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex("one_time_tokens_account_idx")
    .on("one_time_tokens")
    .columns(["account_id", "purpose"])
    .execute();
}
