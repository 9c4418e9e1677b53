import { type Kysely, sql } from "kysely";

// Workers' resources (KV stores and buckets) and cron triggers with their run history. Worker names are plain text
// here, not a reference: the workers table is the runtime's (0018-workers), and a trigger of a worker that is gone
// records its runs as failed rather than vanishing silently.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("worker_kv_stores")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("project_id", "uuid", (c) => c.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint("worker_kv_stores_name_uq", ["project_id", "name"])
    .execute();
  // Keys collate "C" (byte order, as Cloudflare lists them) so ordering and cursors do not depend on the locale.
  await db.schema
    .createTable("worker_kv_entries")
    .addColumn("store_id", "uuid", (c) => c.notNull().references("worker_kv_stores.id").onDelete("cascade"))
    .addColumn("key", sql`text collate "C"`, (c) => c.notNull())
    .addColumn("value", "bytea", (c) => c.notNull())
    .addColumn("metadata", "jsonb")
    .addColumn("expires_at", "timestamptz")
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint("worker_kv_entries_pk", ["store_id", "key"])
    .execute();
  await sql`CREATE INDEX worker_kv_entries_expiry_idx ON worker_kv_entries (expires_at) WHERE expires_at IS NOT NULL`.execute(
    db,
  );

  await db.schema
    .createTable("worker_buckets")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("project_id", "uuid", (c) => c.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint("worker_buckets_name_uq", ["project_id", "name"])
    .execute();
  // Bodies live in site_blobs by SHA-256 (content-addressed, shared); the orphan sweep keeps what an object names.
  await db.schema
    .createTable("worker_bucket_objects")
    .addColumn("bucket_id", "uuid", (c) => c.notNull().references("worker_buckets.id").onDelete("cascade"))
    .addColumn("key", sql`text collate "C"`, (c) => c.notNull())
    .addColumn("sha256", "text", (c) => c.notNull())
    .addColumn("size", "bigint", (c) => c.notNull())
    .addColumn("version", "uuid", (c) => c.notNull())
    .addColumn("http_metadata", "jsonb", (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn("custom_metadata", "jsonb", (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn("uploaded_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint("worker_bucket_objects_pk", ["bucket_id", "key"])
    .execute();
  await db.schema.createIndex("worker_bucket_objects_sha_idx").on("worker_bucket_objects").column("sha256").execute();

  await db.schema
    .createTable("worker_cron_triggers")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("project_id", "uuid", (c) => c.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("worker_name", "text", (c) => c.notNull())
    .addColumn("cron", "text", (c) => c.notNull())
    .addColumn("timezone", "text", (c) => c.notNull())
    .addColumn("enabled", "boolean", (c) => c.notNull().defaultTo(true))
    .addColumn("next_run_at", "timestamptz")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint("worker_cron_triggers_uq", ["project_id", "worker_name", "cron", "timezone"])
    .execute();
  await sql`CREATE INDEX worker_cron_triggers_due_idx ON worker_cron_triggers (next_run_at) WHERE enabled`.execute(db);

  // One row per due time: UNIQUE (trigger, scheduled_at) makes concurrent schedulers claim it once, and the partial
  // unique index lets at most one run of a trigger be `running` at any moment, whatever process runs it.
  await db.schema
    .createTable("worker_cron_runs")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("trigger_id", "uuid", (c) => c.notNull().references("worker_cron_triggers.id").onDelete("cascade"))
    .addColumn("scheduled_at", "timestamptz", (c) => c.notNull())
    .addColumn("missed", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("status", "text", (c) =>
      c.notNull().check(sql`status in ('queued', 'running', 'succeeded', 'failed', 'skipped')`),
    )
    .addColumn("lease_expires_at", "timestamptz")
    .addColumn("started_at", "timestamptz")
    .addColumn("finished_at", "timestamptz")
    .addColumn("duration_ms", "integer")
    .addColumn("logs", "jsonb", (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn("error", "text")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint("worker_cron_runs_slot_uq", ["trigger_id", "scheduled_at"])
    .execute();
  await sql`CREATE UNIQUE INDEX worker_cron_runs_running_uq ON worker_cron_runs (trigger_id) WHERE status = 'running'`.execute(
    db,
  );
}
