import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<any>): Promise<void> {
  // AI proposals: what a site-editor run changed, as a changeset over the draft that a person applies or
  // discards (an `auto` run's changes are recorded here too, already applied). One per run.
  await db.schema
    .createTable("site_proposals")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("project_id", "uuid", (c) => c.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("run_id", "uuid", (c) => c.notNull().unique().references("agent_runs.id").onDelete("cascade"))
    .addColumn("conversation_id", "uuid", (c) => c.notNull())
    // The person's message the run answered.
    .addColumn("message_id", "bigint")
    // pending | applied | discarded
    .addColumn("status", "text", (c) => c.notNull().defaultTo("pending"))
    // The proposed draft settings (business data included) and password hash, with what they were based on;
    // settings_changed false: the proposal leaves settings alone.
    .addColumn("settings_changed", "boolean", (c) => c.notNull().defaultTo(false))
    .addColumn("settings", "jsonb")
    .addColumn("password_hash", "text")
    .addColumn("base_settings", "jsonb")
    .addColumn("base_password_hash", "text")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("decided_at", "timestamptz")
    .addColumn("decided_by", "uuid")
    .execute();
  await db.schema
    .createIndex("site_proposals_project_idx")
    .on("site_proposals")
    .columns(["project_id", "status", "created_at"])
    .execute();

  // One row per path: sha256 null deletes it; base_sha256 is the draft's hash when the change was first
  // proposed (null: the path did not exist), so applying over a file the person changed since is a conflict.
  await db.schema
    .createTable("site_proposal_files")
    .addColumn("proposal_id", "uuid", (c) => c.notNull().references("site_proposals.id").onDelete("cascade"))
    .addColumn("path", "text", (c) => c.notNull())
    .addColumn("sha256", "text")
    .addColumn("bytes", "integer")
    .addColumn("base_sha256", "text")
    .addPrimaryKeyConstraint("site_proposal_files_pk", ["proposal_id", "path"])
    .execute();
  // The orphan-blob sweep asks whether any proposal still holds a blob.
  await db.schema.createIndex("site_proposal_files_sha_idx").on("site_proposal_files").column("sha256").execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("site_proposal_files").execute();
  await db.schema.dropTable("site_proposals").execute();
}
