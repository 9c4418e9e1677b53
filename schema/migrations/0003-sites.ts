// Sites: content-addressed blobs, a draft (path → blob) per site, and releases stored as a temporal table:
// a release-file row is valid from the release that introduced it until the one that replaced or deleted it
// (to_release, exclusive; null while still in the newest release). Publishing one changed file therefore
// writes one or two rows, whatever the size of the site, and no file body is ever copied.
import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("site_blobs")
    .addColumn("sha256", "text", (c) => c.primaryKey())
    .addColumn("data", "bytea", (c) => c.notNull())
    .addColumn("bytes", "integer", (c) => c.notNull())
    // Image dimensions are a property of the bytes, so they live with them (computed once, at upload).
    .addColumn("width", "integer")
    .addColumn("height", "integer")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable("sites")
    .addColumn("project_id", "uuid", (c) => c.primaryKey().references("projects.id").onDelete("cascade"))
    .addColumn("live_release", "integer")
    .addColumn("head_release", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("settings", "jsonb", (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn("password_hash", "text")
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable("site_draft_files")
    .addColumn("project_id", "uuid", (c) => c.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("path", "text", (c) => c.notNull())
    .addColumn("sha256", "text", (c) => c.notNull())
    .addColumn("bytes", "integer", (c) => c.notNull())
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint("site_draft_files_pk", ["project_id", "path"])
    .execute();
  await db.schema.createIndex("site_draft_files_sha_idx").on("site_draft_files").column("sha256").execute();

  // Paths the draft may have changed since the newest release: what publishing has to look at.
  await db.schema
    .createTable("site_dirty_paths")
    .addColumn("project_id", "uuid", (c) => c.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("path", "text", (c) => c.notNull())
    .addPrimaryKeyConstraint("site_dirty_paths_pk", ["project_id", "path"])
    .execute();

  await db.schema
    .createTable("site_releases")
    .addColumn("project_id", "uuid", (c) => c.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("number", "integer", (c) => c.notNull())
    .addColumn("files", "integer", (c) => c.notNull())
    .addColumn("bytes", "bigint", (c) => c.notNull())
    .addColumn("changed", "integer", (c) => c.notNull())
    .addColumn("published_by", "uuid")
    .addColumn("published_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint("site_releases_pk", ["project_id", "number"])
    .execute();

  await db.schema
    .createTable("site_release_files")
    .addColumn("project_id", "uuid", (c) => c.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("path", "text", (c) => c.notNull())
    .addColumn("from_release", "integer", (c) => c.notNull())
    .addColumn("to_release", "integer")
    .addColumn("sha256", "text", (c) => c.notNull())
    .addColumn("bytes", "integer", (c) => c.notNull())
    .addPrimaryKeyConstraint("site_release_files_pk", ["project_id", "path", "from_release"])
    .execute();
  await db.schema.createIndex("site_release_files_sha_idx").on("site_release_files").column("sha256").execute();
  // The newest release's rows (to_release is null): what publishing compares the dirty paths against.
  await db.schema
    .createIndex("site_release_files_head_idx")
    .on("site_release_files")
    .columns(["project_id", "path"])
    .where(sql.ref("to_release"), "is", null)
    .execute();

  await db.schema
    .createTable("site_submissions")
    .addColumn("id", "bigserial", (c) => c.primaryKey())
    .addColumn("project_id", "uuid", (c) => c.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("form_id", "text", (c) => c.notNull())
    .addColumn("data", "jsonb", (c) => c.notNull())
    .addColumn("status", "text", (c) => c.notNull().defaultTo("new").check(sql`status in ('new', 'read', 'archived')`))
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex("site_submissions_project_idx")
    .on("site_submissions")
    .columns(["project_id", "id"])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of [
    "site_submissions",
    "site_release_files",
    "site_releases",
    "site_dirty_paths",
    "site_draft_files",
    "sites",
    "site_blobs",
  ]) {
    await db.schema.dropTable(t).execute();
  }
}
