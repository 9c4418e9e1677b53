import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<any>): Promise<void> {
  // A worker is a name in a project; what it runs is its active version (null until the first deploy).
  await db.schema
    .createTable("workers")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("project_id", "uuid", (c) => c.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("active_version_id", "uuid")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint("workers_project_name_uq", ["project_id", "name"])
    .execute();
  // Versions are immutable and content-addressed: the same bundle deployed twice is one version.
  await db.schema
    .createTable("worker_versions")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("worker_id", "uuid", (c) => c.notNull().references("workers.id").onDelete("cascade"))
    .addColumn("hash", "text", (c) => c.notNull())
    .addColumn("bundle", "jsonb", (c) => c.notNull())
    .addColumn("size_bytes", "integer", (c) => c.notNull())
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint("worker_versions_hash_uq", ["worker_id", "hash"])
    .execute();
  // Vars are readable; secrets only sealed (core/secrets.ts) and never read back out by an operation.
  await db.schema
    .createTable("worker_vars")
    .addColumn("worker_id", "uuid", (c) => c.notNull().references("workers.id").onDelete("cascade"))
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("value", "text", (c) => c.notNull())
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint("worker_vars_pk", ["worker_id", "name"])
    .execute();
  await db.schema
    .createTable("worker_secrets")
    .addColumn("worker_id", "uuid", (c) => c.notNull().references("workers.id").onDelete("cascade"))
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("value_enc", "text", (c) => c.notNull())
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint("worker_secrets_pk", ["worker_id", "name"])
    .execute();
  // One row per invocation: its console output and exceptions (the last N per worker are kept) and the
  // timings the metrics are computed from.
  await db.schema
    .createTable("worker_invocations")
    .addColumn("id", "bigserial", (c) => c.primaryKey())
    .addColumn("worker_id", "uuid", (c) => c.notNull().references("workers.id").onDelete("cascade"))
    .addColumn("at", "timestamptz", (c) => c.notNull())
    .addColumn("kind", "text", (c) => c.notNull())
    .addColumn("outcome", "text", (c) => c.notNull())
    .addColumn("status", "integer")
    .addColumn("method", "text")
    .addColumn("url", "text")
    .addColumn("wall_ms", "real", (c) => c.notNull())
    .addColumn("cpu_ms", "real", (c) => c.notNull())
    .addColumn("logs", "jsonb", (c) => c.notNull())
    .addColumn("exceptions", "jsonb", (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex("worker_invocations_worker_idx")
    .on("worker_invocations")
    .columns(["worker_id", "id"])
    .execute();
  // SQL databases (the D1 API): the rows live in workerd's SQLite-backed Durable Objects, keyed by this id.
  await db.schema
    .createTable("sql_databases")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("project_id", "uuid", (c) => c.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint("sql_databases_project_name_uq", ["project_id", "name"])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of [
    "sql_databases",
    "worker_invocations",
    "worker_secrets",
    "worker_vars",
    "worker_versions",
    "workers",
  ])
    await db.schema.dropTable(t).execute();
}
